//! Running the real `session-lock` binary against a temporary workspace and lock directory.

#![allow(
    dead_code,
    reason = "each test file uses its own part of the shared helpers"
)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};
use tempfile::TempDir;

/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_session-lock");

/// Variables of the calling environment that would change what the binary does (the tests may
/// themselves run inside an agent session).
const AMBIENT: &[&str] = &[
    "CLAUDE_PROJECT_DIR",
    "CLAUDE_PID",
    "SESSION_LOCK_DIR",
    "SESSION_LOCK_TTL_MS",
    "SESSION_LOCK_MODE",
];

/// A temporary git workspace and lock directory.
pub struct Sandbox {
    _root: TempDir,
    /// The workspace (holds `.git`), resolved.
    pub workspace: PathBuf,
    /// The lock directory (not created in advance).
    pub lock_dir: PathBuf,
}

impl Sandbox {
    /// A fresh sandbox.
    pub fn new() -> Sandbox {
        let root = tempfile::tempdir().unwrap();
        let workspace = root.path().canonicalize().unwrap().join("repo");
        fs::create_dir_all(workspace.join(".git")).unwrap();
        let lock_dir = root.path().join("locks");
        Sandbox {
            _root: root,
            workspace,
            lock_dir,
        }
    }

    /// The root folder, for extra directories.
    pub fn root(&self) -> &Path {
        self._root.path()
    }

    /// `session-lock ARGS` with a clean environment pointing at this sandbox's lock directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BINARY);
        for name in AMBIENT {
            command.env_remove(name);
        }
        command.args(args).env("SESSION_LOCK_DIR", &self.lock_dir);
        command
    }

    /// Starts `session-lock hook` with `env`, its stdin open, so that many can be released
    /// together.
    pub fn spawn_hook(&self, env: &[(&str, &str)]) -> Child {
        let mut command = self.command(&["hook"]);
        command.envs(env.iter().copied());
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Runs `session-lock hook` on `event` with `env`.
    pub fn hook(&self, event: &Value, env: &[(&str, &str)]) -> Output {
        let mut child = self.spawn_hook(env);
        feed(&mut child, event);
        child.wait_with_output().unwrap()
    }

    /// The lock record of this sandbox's workspace, if any.
    pub fn lock_record(&self) -> Option<Value> {
        let mut files = fs::read_dir(&self.lock_dir).ok()?.filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?.to_owned();
            (name.starts_with("session-lock-") && name.ends_with(".json")).then_some(path)
        });
        let path = files.next()?;
        assert!(files.next().is_none(), "one workspace, one lock file");
        Some(serde_json::from_slice(&fs::read(path).unwrap()).unwrap())
    }

    /// The holder named by the lock record, if any.
    pub fn holder(&self) -> Option<String> {
        Some(self.lock_record()?["session_id"].as_str()?.to_owned())
    }
}

/// Writes `event` to the child's stdin and closes it.
pub fn feed(child: &mut Child, event: &Value) {
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(event.to_string().as_bytes()).unwrap();
}

/// A Claude Code hook event in `cwd`.
pub fn claude_event(name: &str, session_id: &str, tool: Option<&str>, cwd: &Path) -> Value {
    let mut event = json!({
        "session_id": session_id,
        "transcript_path": format!("/home/u/.claude/projects/p/{session_id}.jsonl"),
        "cwd": cwd,
        "permission_mode": "default",
        "hook_event_name": name,
    });
    if let Some(tool) = tool {
        event["tool_name"] = json!(tool);
        event["tool_input"] = json!({"file_path": cwd.join("notes.md"), "content": "hello"});
        event["tool_use_id"] = json!("toolu_01ABC");
    }
    event
}

/// The deny reason in a Claude Code answer, or `None` when the answer allows.
pub fn deny_reason(output: &Output) -> Option<String> {
    assert!(
        output.status.success(),
        "hook exit code: {:?}",
        output.status
    );
    if output.stdout.is_empty() {
        return None;
    }
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    let specific = &answer["hookSpecificOutput"];
    assert_eq!(specific["permissionDecision"], "deny", "{answer}");
    Some(specific["permissionDecisionReason"].as_str()?.to_owned())
}

/// stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
