//! The `session-lock` binary, run as an agent runs it: real processes, real hook event JSON,
//! a real lock directory.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;
#[path = "support/sandbox.rs"]
mod sandbox;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};

use events::*;
use sandbox::*;
use serde_json::Value;

#[test]
fn two_sessions_take_turns_on_one_workspace() {
    let sandbox = Sandbox::new();
    let ws = &sandbox.workspace;
    let a_env = [("CLAUDE_PID", "4101")];
    let b_env = [("CLAUDE_PID", "4202")];

    let a_pre = sandbox.hook(
        &claude_event("PreToolUse", "session-A", Some("Write"), ws),
        &a_env,
    );
    assert_eq!(
        deny_reason(&a_pre),
        None,
        "A takes the free lock: {}",
        stderr_text(&a_pre)
    );
    assert_eq!(sandbox.lock_record().unwrap()["pid"], 4101);

    let b_pre = sandbox.hook(
        &claude_event("PreToolUse", "session-B", Some("Edit"), ws),
        &b_env,
    );
    let reason = deny_reason(&b_pre).expect("B is refused");
    assert!(
        reason.starts_with(
            "parallel session lock held by session-A (pid 4101) — wait or close that session first"
        ),
        "{reason}"
    );

    let b_stop = sandbox.hook(&claude_event("Stop", "session-B", None, ws), &b_env);
    assert_eq!(deny_reason(&b_stop), None);
    assert_eq!(
        sandbox.holder().as_deref(),
        Some("session-A"),
        "B's Stop leaves A's lock"
    );

    let a_stop = sandbox.hook(&claude_event("Stop", "session-A", None, ws), &a_env);
    assert_eq!(deny_reason(&a_stop), None);
    assert_eq!(sandbox.holder(), None, "A's Stop releases");

    let b_again = sandbox.hook(
        &claude_event("PreToolUse", "session-B", Some("Edit"), ws),
        &b_env,
    );
    assert_eq!(deny_reason(&b_again), None);
    assert_eq!(sandbox.holder().as_deref(), Some("session-B"));
}

#[test]
fn exactly_one_of_many_simultaneous_sessions_wins_a_free_lock() {
    const SESSIONS: usize = 24;
    let sandbox = Sandbox::new();
    // Every process is started and waiting on stdin before any gets its event.
    let mut children: Vec<_> = (0..SESSIONS).map(|_| sandbox.spawn_hook(&[])).collect();
    for (n, child) in children.iter_mut().enumerate() {
        let event = claude_event(
            "PreToolUse",
            &format!("racer-{n}"),
            Some("Bash"),
            &sandbox.workspace,
        );
        feed(child, event.to_string().as_bytes());
    }
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let winners: Vec<usize> = (0..SESSIONS)
        .filter(|n| deny_reason(&outputs[*n]).is_none())
        .collect();
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    for output in &outputs {
        assert!(
            output.stderr.is_empty(),
            "no process errs: {}",
            stderr_text(output)
        );
    }
    assert_eq!(sandbox.holder(), Some(format!("racer-{}", winners[0])));
}

#[test]
fn a_stale_lock_is_taken_over_and_the_ttl_comes_from_the_environment() {
    let sandbox = Sandbox::new();
    let ws = &sandbox.workspace;
    let short = [("SESSION_LOCK_TTL_MS", "1")];
    // A file tool: a shell command would keep the lock for its time limit too.
    sandbox.hook(&claude_event("PreToolUse", "A", Some("Write"), ws), &short);
    assert_eq!(sandbox.lock_record().unwrap()["ttl_ms"], 1);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let b = sandbox.hook(&claude_event("PreToolUse", "B", Some("Write"), ws), &[]);
    assert_eq!(deny_reason(&b), None, "{}", stderr_text(&b));
    let record = sandbox.lock_record().unwrap();
    assert_eq!(
        (record["session_id"].as_str(), record["ttl_ms"].as_u64()),
        (Some("B"), Some(300_000))
    );
}

#[test]
fn a_subdirectory_shares_the_workspace_lock_and_another_worktree_does_not() {
    let sandbox = Sandbox::new();
    let sub = sandbox.workspace.join("src/deep");
    fs::create_dir_all(&sub).unwrap();
    let worktree = sandbox.root().join("linked-worktree");
    fs::create_dir_all(&worktree).unwrap();
    fs::write(worktree.join(".git"), "gitdir: ../repo/.git/worktrees/x\n").unwrap();

    sandbox.hook(
        &claude_event("PreToolUse", "A", Some("Write"), &sandbox.workspace),
        &[],
    );
    let from_sub = sandbox.hook(&claude_event("PreToolUse", "B", Some("Write"), &sub), &[]);
    assert!(
        deny_reason(&from_sub).is_some(),
        "repo/src/deep is the same workspace"
    );
    let elsewhere = sandbox.hook(
        &claude_event("PreToolUse", "B", Some("Write"), &worktree),
        &[],
    );
    assert_eq!(
        deny_reason(&elsewhere),
        None,
        "a separate worktree has its own lock"
    );
}

/// Where checkouts are named by identity (`SESSION_LOCK_IDENTITY=checkout`, for containers
/// that mount one checkout at several paths), the worktree a refusal offers is still a
/// directory beside the workspace, not one named after its identity.
#[test]
fn with_checkout_identity_the_way_on_names_a_directory_beside_the_workspace() {
    let sandbox = Sandbox::new();
    let checkout = [("SESSION_LOCK_IDENTITY", "checkout")];
    let a = claude_event("PreToolUse", "A", Some("Write"), &sandbox.workspace);
    assert_eq!(deny_reason(&sandbox.hook(&a, &checkout)), None);
    // A Codex session (its events carry a turn id): its way on is a `git worktree add`.
    let mut b = claude_event("PreToolUse", "B", Some("Write"), &sandbox.workspace);
    b["turn_id"] = "t1".into();
    let reason = deny_reason(&sandbox.hook(&b, &checkout)).expect("B is refused");
    let workspace = fs::canonicalize(&sandbox.workspace).unwrap();
    let way_on = format!(
        "git worktree add {}-B -b session-lock/B",
        workspace.display()
    );
    assert!(reason.contains(&way_on), "{reason}");
}

#[test]
fn a_write_locks_the_workspace_its_target_resolves_to_wherever_the_session_was_launched() {
    let sandbox = Sandbox::new();
    let link = sandbox.root().join("link-to-repo");
    symlink(&sandbox.workspace, &link).unwrap();
    let elsewhere = sandbox.root().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let project = [("CLAUDE_PROJECT_DIR", elsewhere.to_str().unwrap())];

    // A works in `elsewhere` and writes into the repository through a symlink.
    let mut write = claude_event("PreToolUse", "A", Some("Write"), &elsewhere);
    write["tool_input"]["file_path"] = link.join("src/new.rs").to_str().unwrap().into();
    sandbox.hook(&write, &project);
    let b = sandbox.hook(
        &claude_event("PreToolUse", "B", Some("Write"), &sandbox.workspace),
        &[],
    );
    assert!(
        deny_reason(&b).is_some(),
        "A's target, through a symlink, is B's workspace"
    );
}

#[test]
fn faults_fail_open_with_one_line_on_stderr() {
    let sandbox = Sandbox::new();
    let event = claude_event("PreToolUse", "A", Some("Write"), &sandbox.workspace);
    let cases: Vec<(&str, std::process::Output)> = vec![
        ("garbage input", {
            let mut child = sandbox.spawn_hook(&[]);
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"\x00garbage{")
                .unwrap();
            child.wait_with_output().unwrap()
        }),
        ("lock directory is a file", {
            let file = sandbox.root().join("not-a-dir");
            fs::write(&file, "x").unwrap();
            sandbox.hook(&event, &[("SESSION_LOCK_DIR", file.to_str().unwrap())])
        }),
    ];
    for (name, output) in cases {
        assert!(output.status.success(), "{name}: {:?}", output.status);
        // Allowed, and the person is told why (Claude Code shows `systemMessage`).
        let shown: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{name}: stdout is not JSON: {e}"));
        let message = shown["systemMessage"].as_str().unwrap_or_default();
        assert!(message.starts_with("session-lock: "), "{name}: {shown}");
        let err = stderr_text(&output);
        assert!(err.starts_with("session-lock: "), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
    }
}

#[test]
fn the_lock_directory_is_private_and_records_are_0600() {
    let sandbox = Sandbox::new();
    sandbox.hook(
        &claude_event("PreToolUse", "A", Some("Write"), &sandbox.workspace),
        &[],
    );
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&sandbox.lock_dir), 0o700);
    for entry in fs::read_dir(&sandbox.lock_dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}

#[test]
fn hash_names_the_workspace_not_the_subdirectory() {
    let sandbox = Sandbox::new();
    let sub = sandbox.workspace.join("sub");
    fs::create_dir_all(&sub).unwrap();
    let hash = |dir: &std::path::Path| {
        let output = sandbox
            .command(&["hash", dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr_text(&output));
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    let top = hash(&sandbox.workspace);
    assert_eq!(top.len(), 12);
    assert!(top.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(hash(&sub), top);
    sandbox.hook(&claude_event("PreToolUse", "A", Some("Write"), &sub), &[]);
    assert!(
        sandbox
            .lock_dir
            .join(format!("session-lock-{top}.json"))
            .exists()
    );
}

#[test]
fn demo_shows_a_block_and_a_handover() {
    let sandbox = Sandbox::new();
    let output = sandbox.command(&["demo"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr_text(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    // The demo replays the first scenario of tests/conformance/claude-code.json: B is refused
    // while A holds the lock, and gets it once A's turn has ended.
    assert!(
        text.contains("answered {\"hookSpecificOutput\"")
            && text.contains("parallel session lock held by A (pid 4101)"),
        "{text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    let last_step = lines
        .iter()
        .rposition(|l| l.ends_with("session B edits notes.md"))
        .unwrap();
    assert!(lines[last_step + 1].contains("allowed"), "{text}");
    assert!(
        lines[last_step + 2].contains("held by B (pid 4202)"),
        "{text}"
    );
}
