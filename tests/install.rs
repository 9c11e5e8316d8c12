//! `session-lock install` and `uninstall` on temporary homes and projects.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;
#[path = "support/sandbox.rs"]
mod sandbox;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use events::*;
use sandbox::*;
use serde_json::{Value, json};

/// A temporary home and git project, and `session-lock` run from the project.
struct Setup {
    sandbox: Sandbox,
    home: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let sandbox = Sandbox::new();
        let home = sandbox.root().join("home");
        fs::create_dir_all(&home).unwrap();
        Setup { sandbox, home }
    }

    fn project(&self) -> &Path {
        &self.sandbox.workspace
    }

    fn run(&self, args: &[&str]) -> Output {
        self.sandbox
            .command(args)
            .env("HOME", &self.home)
            .current_dir(self.project())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            stderr_text(&output)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// The command `install` registers for `agent`: this binary, `hook`, and the agent's name.
fn our_command(agent: &str) -> String {
    format!(
        "{} hook --agent {agent}",
        Path::new(BINARY).canonicalize().unwrap().display()
    )
}

#[test]
fn a_fresh_project_gets_the_six_claude_code_hooks() {
    let setup = Setup::new();
    setup.ok(&["install", "--scope", "project"]);
    let settings = read_json(&setup.project().join(".claude/settings.json"));
    let handler = json!([{"type": "command", "command": our_command("claude"), "timeout": 3}]);
    let matcher = "Edit|Write|MultiEdit|NotebookEdit|Bash";
    assert_eq!(
        settings,
        json!({"hooks": {
            "PreToolUse": [{"matcher": matcher, "hooks": handler}],
            "PostToolUse": [{"matcher": matcher, "hooks": handler}],
            "PostToolUseFailure": [{"matcher": matcher, "hooks": handler}],
            "Stop": [{"hooks": handler}],
            "StopFailure": [{"hooks": handler}],
            "SessionEnd": [{"hooks": handler}],
        }})
    );
}

#[test]
fn existing_settings_are_kept_install_is_idempotent_and_uninstall_restores_them() {
    let setup = Setup::new();
    let path = setup.project().join(".claude/settings.json");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let original = r#"{
  "model": "opus",
  "permissions": {"allow": ["Bash(npm test)"]},
  "hooks": {
    "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./audit.sh"}]}],
    "Notification": [{"hooks": [{"type": "command", "command": "notify-send hi"}]}]
  },
  "zzz_last_key": true
}"#;
    fs::write(&path, original).unwrap();

    setup.ok(&["install", "--scope", "project"]);
    let installed = fs::read_to_string(&path).unwrap();
    let settings: Value = serde_json::from_str(&installed).unwrap();
    let keys: Vec<&String> = settings.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["model", "permissions", "hooks", "zzz_last_key"],
        "key order kept"
    );
    let pre = settings["hooks"]["PreToolUse"].as_array().unwrap();
    assert_eq!(pre.len(), 2);
    assert_eq!(
        pre[0]["hooks"][0]["command"], "./audit.sh",
        "the user's hook comes first, kept"
    );
    assert_eq!(pre[1]["hooks"][0]["command"], our_command("claude"));
    assert_eq!(
        settings["hooks"]["Notification"][0]["hooks"][0]["command"],
        "notify-send hi"
    );

    let again = setup.ok(&["install", "--scope", "project"]);
    assert!(again.contains("already installed"), "{again}");
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        installed,
        "twice changes nothing"
    );

    setup.ok(&["uninstall", "--scope", "project"]);
    let original: Value = serde_json::from_str(original).unwrap();
    assert_eq!(read_json(&path), original);
}

#[test]
fn a_settings_file_that_is_not_json_is_refused_and_left_untouched() {
    let setup = Setup::new();
    let path = setup.project().join(".claude/settings.json");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let broken = b"{\"hooks\": {\"PreToolUse\": [ oops\n";
    fs::write(&path, broken).unwrap();
    for command in ["install", "uninstall"] {
        let output = setup.run(&[command, "--scope", "project"]);
        assert!(!output.status.success(), "{command} must refuse");
        let err = stderr_text(&output);
        assert!(
            err.contains("not valid JSON") && err.contains("left untouched"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_eq!(fs::read(&path).unwrap(), broken, "byte for byte untouched");
    }
}

#[test]
fn scopes_choose_the_user_project_or_local_file() {
    let setup = Setup::new();
    setup.ok(&["install", "--scope", "user"]);
    assert!(setup.home.join(".claude/settings.json").exists());
    setup.ok(&["install", "--scope", "local"]);
    assert!(setup.project().join(".claude/settings.local.json").exists());
    assert!(!setup.project().join(".claude/settings.json").exists());
}

#[test]
fn dry_run_prints_the_file_and_writes_nothing() {
    let setup = Setup::new();
    let printed = setup.ok(&["install", "--scope", "project", "--dry-run"]);
    let printed: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(
        printed["hooks"]["Stop"][0]["hooks"][0]["command"],
        our_command("claude")
    );
    assert!(!setup.project().join(".claude").exists());
}

#[test]
fn each_agent_gets_its_own_file_and_shape() {
    let setup = Setup::new();
    let cases = [
        (
            "codex",
            ".codex/hooks.json",
            "PreToolUse",
            "apply_patch",
            "Stop",
        ),
        (
            "gemini",
            ".gemini/settings.json",
            "BeforeTool",
            "write_file",
            "AfterAgent",
        ),
    ];
    for (agent, file, before, tool, stop) in cases {
        setup.ok(&["install", "--scope", "project", "--agent", agent]);
        let settings = read_json(&setup.project().join(file));
        let entry = &settings["hooks"][before][0];
        assert!(
            entry["matcher"]
                .as_str()
                .unwrap()
                .split('|')
                .any(|t| t == tool),
            "{settings}"
        );
        let command = entry["hooks"][0]["command"].as_str().unwrap();
        assert_eq!(command, our_command(agent));
        assert!(settings["hooks"][stop].is_array(), "{settings}");
    }
    let gemini = read_json(&setup.project().join(".gemini/settings.json"));
    assert_eq!(
        gemini["hooks"]["BeforeTool"][0]["hooks"][0]["timeout"], 3000,
        "milliseconds"
    );

    setup.ok(&["install", "--scope", "project", "--agent", "cursor"]);
    let cursor = read_json(&setup.project().join(".cursor/hooks.json"));
    assert_eq!(cursor["version"], 1);
    assert_eq!(
        cursor["hooks"]["beforeShellExecution"],
        json!([{"command": our_command("cursor")}])
    );
    setup.ok(&["uninstall", "--scope", "project", "--agent", "cursor"]);
    assert_eq!(
        read_json(&setup.project().join(".cursor/hooks.json")),
        json!({"version": 1})
    );
}

#[test]
fn installed_hooks_run_the_binary_that_protects_the_workspace() {
    let setup = Setup::new();
    setup.ok(&["install", "--scope", "project"]);
    let settings = read_json(&setup.project().join(".claude/settings.json"));
    let command = settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap();
    let ws = setup.project();
    for (session, expect_deny) in [("A", false), ("B", true)] {
        // The agent runs the command through `sh -c`.
        let mut child = std::process::Command::new("sh")
            .args(["-c", command])
            .env("SESSION_LOCK_DIR", &setup.sandbox.lock_dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let event = claude_event("PreToolUse", session, Some("Write"), ws);
        feed(&mut child, event.to_string().as_bytes());
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            deny_reason(&output).is_some(),
            expect_deny,
            "{session}: {}",
            stderr_text(&output)
        );
    }
}
