//! What the real binary counts as a work tree and where it resolves a path, on a real
//! filesystem: a path resolves as the kernel will write it (the missing part applied with
//! `..`, a dangling symlink followed), only a real `.git` starts a work tree, and nothing
//! planted under a name this tool reads (`.git`, the checkout id) hangs a hook or a command.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;
#[path = "support/sandbox.rs"]
mod sandbox;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use events::{Answer, answer, claude_event, stderr_text};
use sandbox::Sandbox;

/// How long a command may take before the test calls it hung.
const HUNG: Duration = Duration::from_secs(5);

/// A second work tree beside the sandbox's workspace, as `git init` makes it.
fn other_repo(sandbox: &Sandbox) -> std::path::PathBuf {
    let other = sandbox.root().join("other");
    fs::create_dir_all(other.join(".git")).unwrap();
    fs::write(other.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    other
}

/// A PreToolUse Write of `file` by `session`, working in `cwd`.
fn write_of(session: &str, cwd: &Path, file: &Path) -> serde_json::Value {
    let mut event = claude_event("PreToolUse", session, Some("Write"), cwd);
    event["tool_input"]["file_path"] = serde_json::json!(file);
    event
}

/// Session A takes the lock of `repo` (a Write in it).
fn hold(sandbox: &Sandbox, repo: &Path) {
    let taken = sandbox.hook(&write_of("A", repo, &repo.join("a.txt")), &[]);
    assert_eq!(answer(&taken), Answer::Allow, "{}", stderr_text(&taken));
}

/// The hook refused the call, naming A as the holder.
fn assert_refused_by_a(output: std::process::Output) {
    assert_eq!(
        answer(&output),
        Answer::Deny("A".into()),
        "{}",
        stderr_text(&output)
    );
}

#[test]
fn a_path_that_climbs_out_of_a_directory_not_yet_made_lands_in_the_locked_repository() {
    let sandbox = Sandbox::new();
    let other = other_repo(&sandbox);
    hold(&sandbox, &other);
    let climbing = sandbox.workspace.join("newdir/../../other/x.txt");
    assert_refused_by_a(sandbox.hook(&write_of("B", &sandbox.workspace, &climbing), &[]));
}

#[test]
fn a_dangling_symlink_takes_the_lock_of_where_the_write_lands() {
    let sandbox = Sandbox::new();
    let other = other_repo(&sandbox);
    hold(&sandbox, &other);
    symlink("../other/planted.txt", sandbox.workspace.join("link.txt")).unwrap();
    let through = sandbox.workspace.join("link.txt");
    assert_refused_by_a(sandbox.hook(&write_of("B", &sandbox.workspace, &through), &[]));
}

#[test]
fn an_empty_file_named_dot_git_splits_off_no_lock_free_zone() {
    let sandbox = Sandbox::new();
    hold(&sandbox, &sandbox.workspace);
    let zone = sandbox.workspace.join("zone");
    fs::create_dir_all(&zone).unwrap();
    fs::write(zone.join(".git"), "").unwrap();
    assert_refused_by_a(sandbox.hook(&write_of("B", &zone, &zone.join("x.txt")), &[]));
}

/// Runs `command`, killing it if it has not finished after [`HUNG`]; how long it took.
fn timed(command: &mut Command) -> Duration {
    let started = Instant::now();
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            return started.elapsed();
        }
        if started.elapsed() > HUNG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_fifo_named_dot_git_or_checkout_id_hangs_neither_the_hook_nor_a_command() {
    let sandbox = Sandbox::new();
    let zone = sandbox.workspace.join("zone");
    fs::create_dir_all(&zone).unwrap();
    let mkfifo = |path: &Path| {
        let status = Command::new("mkfifo").arg(path).status().unwrap();
        assert!(status.success());
    };
    mkfifo(&zone.join(".git"));
    mkfifo(&sandbox.workspace.join(".git/session-lock-id"));
    let checkout = [("SESSION_LOCK_IDENTITY", "checkout")];
    let zone_text = zone.to_str().unwrap();
    for args in [
        vec!["status", "--workspace", zone_text],
        vec!["hash", zone_text],
        vec!["release", "--force", "--workspace", zone_text],
    ] {
        let took = timed(sandbox.command(&args).envs(checkout));
        assert!(took < Duration::from_secs(2), "{args:?} took {took:?}");
    }
    let started = Instant::now();
    let event = write_of("B", &zone, &zone.join("x.txt"));
    let output = sandbox.hook(&event, &checkout);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // The id cannot be read (a FIFO is not an id): the hook says so and fails open.
    assert!(
        matches!(answer(&output), Answer::FailedOpen(_)),
        "{:?} {}",
        answer(&output),
        stderr_text(&output)
    );
}
