//! The command line a person uses: `--help`, a closed stdout, and `doctor` finding each broken
//! state it checks.
//!
//! Not faked here: a policy component that cannot load (the component is embedded in the
//! binary), and a filesystem whose `flock` does not exclude (it needs such a filesystem);
//! `doctor` checks both, these tests only see them pass.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;
#[path = "support/sandbox.rs"]
mod sandbox;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use events::*;
use sandbox::*;
use serde_json::Value;

/// SIGPIPE's number on Linux.
const SIGPIPE: i32 = 13;

/// A temporary home, git project and lock directory (mode 0700), and `session-lock` run in the
/// project with that home.
struct Setup {
    sandbox: Sandbox,
    home: PathBuf,
    locks: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let sandbox = Sandbox::new();
        let home = sandbox.root().join("home");
        fs::create_dir_all(&home).unwrap();
        let locks = sandbox.root().join("doctor-locks");
        fs::create_dir_all(&locks).unwrap();
        fs::set_permissions(&locks, fs::Permissions::from_mode(0o700)).unwrap();
        Setup {
            sandbox,
            home,
            locks,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = self.sandbox.command(args);
        for name in [
            "XDG_DATA_HOME",
            "SESSION_LOCK_STORE",
            "SESSION_LOCK_IDENTITY",
            "SESSION_LOCK_WAIT_MS",
        ] {
            command.env_remove(name);
        }
        command
            .env("HOME", &self.home)
            .env("SESSION_LOCK_DIR", &self.locks)
            .current_dir(&self.sandbox.workspace);
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn stable(&self) -> PathBuf {
        self.home.join(".local/share/session-lock/bin/session-lock")
    }

    fn install(&self, args: &[&str]) {
        let output = self.run(&[&["install"], args].concat());
        assert!(output.status.success(), "{}", stderr_text(&output));
    }

    /// `doctor --json`: its exit code and report.
    fn doctor(&self) -> (Option<i32>, Value) {
        let output = self.run(&["doctor", "--json"]);
        let report = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
        (output.status.code(), report)
    }
}

/// The checks of a `doctor --json` report whose name starts with `name`.
fn checks<'r>(report: &'r Value, name: &str) -> Vec<&'r Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with(name))
        .collect()
}

/// Runs `session-lock ARGS` with a stdout whose reading end is already closed.
fn with_closed_stdout(setup: &Setup, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    setup
        .command(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let setup = Setup::new();
    for args in [
        &["demo"][..],
        &["status"],
        &["status", "--json"],
        &["--help"],
        &["explain", "ls", "-la"],
        &["hash"],
        &["doctor"],
    ] {
        let output = with_closed_stdout(&setup, args);
        let err = stderr_text(&output);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            output.status.code() == Some(0) || output.status.signal() == Some(SIGPIPE),
            "{args:?}: {:?}: {err}",
            output.status
        );
    }
}

#[test]
fn help_lists_the_environment_and_what_observe_mode_does() {
    let setup = Setup::new();
    let output = setup.run(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for (variable, default) in [
        ("SESSION_LOCK_DIR", "~/.claude/runtime"),
        ("SESSION_LOCK_TTL_MS", "300000"),
        ("SESSION_LOCK_MODE", "enforce"),
        ("SESSION_LOCK_WAIT_MS", "[default: 0]"),
        ("SESSION_LOCK_STORE", "files"),
        ("SESSION_LOCK_ETCD_ENDPOINTS", "http://host:port"),
        ("SESSION_LOCK_IDENTITY", "checkout"),
    ] {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(variable))
            .unwrap_or_else(|| panic!("{variable} is missing: {help}"));
        assert!(line.contains(default), "{line}");
    }
    assert!(help.contains("observe"), "{help}");
    assert!(help.contains("refuses nothing"), "{help}");
    assert!(help.contains("/session-lock/bin/session-lock"), "{help}");
}

#[test]
fn doctor_passes_where_everything_works() {
    let setup = Setup::new();
    setup.install(&[]);
    // Claude Code runs registered hooks without a trust step (Codex's and Gemini CLI's trust
    // are checked by the tests of their own doctor lines).
    setup.install(&["--scope", "project"]);
    let (code, report) = setup.doctor();
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["ok"], true);
    for name in ["component", "workspace", "lock", "lock directory", "flock"] {
        let found = checks(&report, name);
        assert!(
            found.iter().all(|c| c["ok"] == true && c["fix"].is_null()),
            "{report:#}"
        );
        assert!(!found.is_empty(), "{name}: {report:#}");
    }
    let hooks = checks(&report, "hook in");
    assert_eq!(
        hooks.len(),
        2,
        "the user's and the project's Claude Code files"
    );
    assert!(
        hooks
            .iter()
            .all(|c| c["detail"].as_str().unwrap().contains("runs session-lock ")),
        "{report:#}"
    );

    let output = setup.run(&["doctor"]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.lines().all(|l| l.starts_with("ok   ")), "{text}");
}

#[test]
fn doctor_finds_a_registered_binary_that_is_gone() {
    let setup = Setup::new();
    setup.install(&[]);
    fs::remove_file(setup.stable()).unwrap();
    let (code, report) = setup.doctor();
    assert_eq!(code, Some(1));
    assert_eq!(report["ok"], false);
    let hook = checks(&report, "hook in")[0];
    assert_eq!(hook["ok"], false, "{report:#}");
    assert!(
        hook["detail"].as_str().unwrap().contains("does not exist"),
        "{hook}"
    );
    assert!(
        hook["fix"]
            .as_str()
            .unwrap()
            .contains("session-lock install"),
        "{hook}"
    );

    let output = setup.run(&["doctor"]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("FAIL hook in"))
        .unwrap();
    assert!(line.contains(": fix: run `session-lock install"), "{line}");
}

#[test]
fn doctor_finds_a_registered_binary_of_another_version() {
    let setup = Setup::new();
    setup.install(&["--scope", "project"]);
    fs::write(setup.stable(), "#!/bin/sh\necho session-lock 0.0.1\n").unwrap();
    let (code, report) = setup.doctor();
    assert_eq!(code, Some(1));
    let hook = checks(&report, "hook in")[0];
    assert_eq!(hook["ok"], false, "{report:#}");
    assert!(
        hook["detail"]
            .as_str()
            .unwrap()
            .contains("session-lock 0.0.1"),
        "{hook}"
    );
    assert!(
        hook["fix"].as_str().unwrap().contains("--scope project"),
        "{hook}"
    );
}

#[test]
fn doctor_finds_a_lock_directory_others_can_read() {
    let setup = Setup::new();
    setup.install(&[]);
    fs::set_permissions(&setup.locks, fs::Permissions::from_mode(0o755)).unwrap();
    let (code, report) = setup.doctor();
    assert_eq!(code, Some(1));
    let dir = checks(&report, "lock directory")[0];
    assert_eq!(dir["ok"], false, "{report:#}");
    assert!(dir["detail"].as_str().unwrap().contains("0755"), "{dir}");
    assert_eq!(
        dir["fix"],
        format!("chmod 700 {}", setup.locks.display()),
        "{dir}"
    );
    let others: Vec<_> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .collect();
    assert_eq!(others.len(), 1, "only that fails: {report:#}");
}

#[test]
fn doctor_finds_no_hook_registered() {
    let setup = Setup::new();
    let (code, report) = setup.doctor();
    assert_eq!(code, Some(1));
    let hooks = checks(&report, "hooks")[0];
    assert_eq!(hooks["ok"], false);
    assert!(
        hooks["fix"]
            .as_str()
            .unwrap()
            .contains("session-lock install"),
        "{hooks}"
    );
}

#[test]
fn doctor_finds_an_unreadable_lock_record() {
    let setup = Setup::new();
    let hash = setup.run(&["hash"]);
    let hash = String::from_utf8(hash.stdout).unwrap();
    let file = setup
        .locks
        .join(format!("session-lock-{}.json", hash.trim()));
    fs::write(&file, "garbage").unwrap();
    let (_, report) = setup.doctor();
    let lock = checks(&report, "lock")
        .into_iter()
        .find(|c| c["name"] == "lock")
        .unwrap();
    assert_eq!(lock["ok"], false, "{report:#}");
    assert!(
        lock["fix"].as_str().unwrap().contains("release --force"),
        "{lock}"
    );
    assert!(Path::new(&file).exists(), "doctor only looks");
}

/// Writes the project's Claude Code settings registering each of `commands` on PreToolUse.
fn register_in_project(setup: &Setup, commands: &[&str]) {
    let groups: Vec<Value> = commands
        .iter()
        .map(|command| {
            serde_json::json!({"matcher": "Bash", "hooks": [{"type": "command", "command": command}]})
        })
        .collect();
    let settings = serde_json::json!({"hooks": {"PreToolUse": groups}});
    let dir = setup.sandbox.workspace.join(".claude");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("settings.json"), settings.to_string()).unwrap();
}

#[test]
fn doctor_never_runs_what_a_cloned_repositorys_settings_register() {
    let setup = Setup::new();
    setup.install(&[]);
    let marker = |name: &str| setup.sandbox.root().join(name);
    // A program of the repository's own, named `session-lock`, at an absolute path and a
    // relative one: a plain command, but not this binary.
    let script = setup.sandbox.workspace.join("tools/session-lock");
    fs::create_dir_all(script.parent().unwrap()).unwrap();
    fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch {}\necho session-lock 0.1.0\n",
            marker("ran-script").display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let stable = setup.stable();
    let commands = [
        format!(
            "id > {}; {} hook --agent claude",
            marker("ran-id").display(),
            stable.display()
        ),
        format!(
            "touch {} && {} hook --agent claude",
            marker("ran-and").display(),
            stable.display()
        ),
        format!(
            "$(touch {}){} hook",
            marker("ran-subst").display(),
            stable.display()
        ),
        format!("{} hook --agent claude", script.display()),
        "tools/session-lock hook --agent claude".to_owned(),
    ];
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    register_in_project(&setup, &commands);

    let (code, report) = setup.doctor();
    let text = String::from_utf8(setup.run(&["doctor"]).stdout).unwrap();
    for name in ["ran-id", "ran-and", "ran-subst", "ran-script"] {
        assert!(
            !marker(name).exists(),
            "doctor ran a settings command ({name}): {text}"
        );
    }
    assert_eq!(code, Some(1), "{report:#}");
    let project: Vec<_> = checks(&report, "hook in")
        .into_iter()
        .filter(|c| {
            c["name"]
                .as_str()
                .unwrap()
                .contains(".claude/settings.json (claude)")
        })
        .filter(|c| c["ok"] == false)
        .collect();
    let user_file = setup.home.join(".claude/settings.json");
    let project: Vec<_> = project
        .into_iter()
        .filter(|c| {
            !c["name"]
                .as_str()
                .unwrap()
                .contains(user_file.to_str().unwrap())
        })
        .collect();
    assert_eq!(project.len(), commands.len(), "{report:#}");
    let detail_of = |command: &str| {
        let check = project
            .iter()
            .find(|c| {
                c["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("`{command}`"))
            })
            .unwrap_or_else(|| panic!("no check of {command}: {report:#}"));
        check["detail"].as_str().unwrap().to_owned()
    };
    for command in &commands[..3] {
        let detail = detail_of(command);
        assert!(
            detail.contains("not a command `session-lock install` writes"),
            "{detail}"
        );
    }
    assert!(detail_of(commands[3]).contains("does not run a program"));
    assert!(detail_of(commands[4]).contains("not an absolute path"));
}

#[test]
fn doctor_recognises_this_binary_and_the_stable_copy_without_running_what_is_named() {
    let setup = Setup::new();
    setup.install(&["--scope", "project"]);
    let (code, report) = setup.doctor();
    assert_eq!(code, Some(0), "{report:#}");
    let hook = checks(&report, "hook in")[0];
    let detail = hook["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("`\"$HOME/.local/share/session-lock/bin/session-lock\" hook"),
        "{detail}"
    );
    assert!(
        detail.contains(&format!("session-lock {}", env!("CARGO_PKG_VERSION"))),
        "{detail}"
    );
}

#[test]
fn doctor_shows_escape_sequences_and_bidi_controls_as_text() {
    let setup = Setup::new();
    let hostile = "/x/\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}kcol\u{2028}\u{200b}/session-lock hook";
    register_in_project(&setup, &[hostile]);
    let output = setup.run(&["doctor"]);
    let text = String::from_utf8(output.stdout).unwrap();
    let shown = r"/x/\x1b]0;pwned\x07\x1b[2J\u{202e}kcol\u{2028}\u{200b}/session-lock hook";
    assert!(text.contains(shown), "{text}");
    assert!(
        !text
            .chars()
            .any(|c| c.is_control() && c != '\n'
                || matches!(c, '\u{202e}' | '\u{2028}' | '\u{200b}')),
        "{text:?}"
    );
    let (_, report) = setup.doctor();
    let failing: Vec<_> = checks(&report, "hook in")
        .into_iter()
        .filter(|c| c["detail"].as_str().unwrap().contains(shown))
        .collect();
    assert_eq!(failing.len(), 1, "{report:#}");
    assert_eq!(failing[0]["ok"], false);
}

#[test]
fn doctor_names_each_lock_directory_the_hook_refuses_with_its_fix() {
    let setup = Setup::new();
    setup.install(&[]);
    let root = setup.sandbox.root();
    let at = |name: &str, mode: u32| {
        let dir = root.join(name);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
        dir
    };
    let everyone = at("everyone", 0o777);
    let under_open = {
        let open = at("open", 0o777);
        let dir = open.join("locks");
        fs::create_dir(&dir).unwrap();
        dir
    };
    let link = root.join("link");
    std::os::unix::fs::symlink(&setup.locks, &link).unwrap();
    let mut cases: Vec<(PathBuf, &str, String)> = vec![
        (
            everyone.clone(),
            "mode 0777",
            format!("chmod 700 {}", everyone.display()),
        ),
        (
            under_open.clone(),
            "above the lock directory",
            format!("`chmod go-w {}`", root.join("open").display()),
        ),
        (link.clone(), "is a symlink", "not the link".to_owned()),
        (
            PathBuf::from("relative/locks"),
            "relative path",
            "absolute path".to_owned(),
        ),
    ];
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        let theirs = at("theirs", 0o700);
        std::os::unix::fs::chown(&theirs, Some(1234), Some(1234)).unwrap();
        cases.push((
            theirs.clone(),
            "belongs to uid 1234",
            format!("chown 0 {}", theirs.display()),
        ));
    }
    for (dir, why, fix) in cases {
        let output = setup
            .command(&["doctor", "--json"])
            .env("SESSION_LOCK_DIR", &dir)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", dir.display());
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        let check = checks(&report, "lock directory")[0];
        assert_eq!(check["ok"], false, "{report:#}");
        let detail = check["detail"].as_str().unwrap();
        assert!(detail.contains(why), "{why:?}: {detail}");
        assert!(detail.contains("does not use it"), "{detail}");
        assert!(
            check["fix"].as_str().unwrap().contains(&fix),
            "{fix:?}: {check}"
        );
    }
}
