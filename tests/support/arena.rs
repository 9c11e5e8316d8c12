//! A temporary git workspace and lock directory driven through a `session-lock hook` program,
//! with the lock's file names known: the ground the race, crash and filesystem tests and the
//! soak example stand on. It names no binary itself, so the soak example can bring its own
//! ([`crate::sandbox::Sandbox`] is this arena over the real binary). Events and answers are in
//! [`crate::events`], which every user of this file declares too.

// Each test binary and the soak example use a different part of this file.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use session_lock::component::Policy;
use session_lock::fs_store::FsLockStore;
use tempfile::TempDir;

use crate::events::{claude_event, feed};

/// A workspace (`repo/`, holding `.git`) and a lock directory (`locks/`) in a temporary folder.
pub struct Arena {
    root: TempDir,
    /// The workspace, resolved (as the hook resolves it).
    pub workspace: PathBuf,
    /// The lock directory (not created in advance).
    pub lock_dir: PathBuf,
    /// The workspace's lock key (12 hex characters).
    pub key: String,
    program: PathBuf,
    args: Vec<String>,
}

impl Arena {
    /// An arena whose hook runs `program args…` (for the binary: `session-lock hook`).
    pub fn new(program: impl Into<PathBuf>, args: &[&str]) -> Arena {
        let root = tempfile::tempdir().expect("a temporary directory");
        let workspace = root.path().canonicalize().unwrap().join("repo");
        fs::create_dir_all(workspace.join(".git")).unwrap();
        // A work tree is a `.git` directory holding `HEAD`, as `git init` makes it.
        fs::write(workspace.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        let lock_dir = root.path().join("locks");
        let mut policy = Policy::load(FsLockStore::new(&lock_dir)).expect("the component loads");
        let key = policy
            .workspace_hash(workspace.to_str().unwrap())
            .expect("the component hashes");
        Arena {
            root,
            workspace,
            lock_dir,
            key,
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// The temporary folder holding the workspace and the lock directory.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `<lock dir>/session-lock-<key>.json`.
    pub fn record_path(&self) -> PathBuf {
        self.lock_dir
            .join(format!("session-lock-{}.json", self.key))
    }

    /// `<lock dir>/session-lock-<key>.mutex`.
    pub fn mutex_path(&self) -> PathBuf {
        self.lock_dir
            .join(format!("session-lock-{}.mutex", self.key))
    }

    /// `<lock dir>/.session-lock-<key>.tmp`.
    pub fn temp_path(&self) -> PathBuf {
        self.lock_dir
            .join(format!(".session-lock-{}.tmp", self.key))
    }

    /// The hook command, in an empty environment but for the lock directory, so that nothing
    /// of the calling environment (the tests may run inside an agent session) changes it.
    pub fn command(&self) -> Command {
        self.command_of(&self.program)
    }

    /// [`Arena::command`] with another copy of the program.
    pub fn command_of(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .args(&self.args)
            .env_clear()
            .env("SESSION_LOCK_DIR", &self.lock_dir);
        command
    }

    /// Starts the hook with `env`, stdin, stdout and stderr piped: it waits for its event.
    pub fn spawn(&self, env: &[(&str, &str)]) -> Child {
        self.spawn_command(self.command().envs(env.iter().copied()))
    }

    /// Starts `command` with stdin, stdout and stderr piped.
    pub fn spawn_command(&self, command: &mut Command) -> Child {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the hook starts")
    }

    /// Runs the hook on `event` with `env`.
    pub fn run(&self, event: &[u8], env: &[(&str, &str)]) -> Output {
        let mut child = self.spawn(env);
        feed(&mut child, event);
        child.wait_with_output().unwrap()
    }

    /// Runs the hook on `event` with `env`, killing it if it has not answered after `limit`
    /// (so a hang fails the test instead of stalling it); also returns how long it took.
    pub fn run_within(
        &self,
        command: &mut Command,
        event: &[u8],
        limit: Duration,
    ) -> (Output, Duration) {
        let started = Instant::now();
        let mut child = self.spawn_command(command);
        feed(&mut child, event);
        let output = wait_within(child, limit);
        (output, started.elapsed())
    }

    /// [`claude_event`] in the workspace, as the bytes a hook reads.
    pub fn claude_event(&self, name: &str, session: &str, tool: Option<&str>) -> Vec<u8> {
        claude_event(name, session, tool, &self.workspace)
            .to_string()
            .into_bytes()
    }

    /// A PreToolUse of `Write` by `session` in the workspace.
    pub fn pre_tool_use(&self, session: &str) -> Vec<u8> {
        self.claude_event("PreToolUse", session, Some("Write"))
    }

    /// Writes a schema-1 record directly (as a setup step, with no hook running).
    pub fn write_record(&self, session: &str, refreshed_at: u64, ttl_ms: u64) {
        fs::create_dir_all(&self.lock_dir).unwrap();
        fs::write(
            self.record_path(),
            record_bytes(session, refreshed_at, ttl_ms),
        )
        .unwrap();
    }

    /// Removes the record, if any.
    pub fn clear_record(&self) {
        match fs::remove_file(self.record_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{e}"),
            _ => {}
        }
    }

    /// The raw bytes of the record, if there is one.
    pub fn record_bytes(&self) -> Option<Vec<u8>> {
        match fs::read(self.record_path()) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => panic!("cannot read {}: {e}", self.record_path().display()),
        }
    }

    /// The holder the record names; panics when the record is not a complete valid record.
    pub fn holder(&self) -> Option<String> {
        let bytes = self.record_bytes()?;
        match check_record(&bytes) {
            Ok(session) => Some(session),
            Err(why) => panic!("{why}: {:?}", String::from_utf8_lossy(&bytes)),
        }
    }

    /// The names in the lock directory, sorted (none when it does not exist).
    pub fn lock_dir_names(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.lock_dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// Milliseconds since the Unix epoch, as the hook counts them.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A schema-1 record in the form the policy writes.
pub fn record_bytes(session: &str, refreshed_at: u64, ttl_ms: u64) -> Vec<u8> {
    let record = json!({
        "schema_version": 1,
        "session_id": session,
        "pid": 4242,
        "acquired_at": refreshed_at,
        "refreshed_at": refreshed_at,
        "ttl_ms": ttl_ms,
    });
    let mut bytes = serde_json::to_vec(&record).unwrap();
    bytes.push(b'\n');
    bytes
}

/// The session a complete, valid schema-1 record names, or why the bytes are not one. Written
/// from the README's description of the record, independently of the policy's own decoder.
pub fn check_record(bytes: &[u8]) -> Result<String, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("lock record is not JSON ({e})"))?;
    let field = |name: &str| value.get(name).and_then(Value::as_u64);
    if field("schema_version") != Some(1) {
        return Err("lock record has no schema_version 1".into());
    }
    let pid_ok = field("pid").is_some_and(|pid| pid <= u64::from(u32::MAX));
    let times_ok = field("acquired_at").is_some() && field("ttl_ms").is_some();
    let refreshed_ok = value
        .get("refreshed_at")
        .is_none_or(|r| r.as_u64().is_some());
    if !(pid_ok && times_ok && refreshed_ok) {
        return Err("lock record lacks a pid, a time or a ttl".into());
    }
    match value.get("session_id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => Ok(id.to_owned()),
        _ => Err("lock record names no session".into()),
    }
}

/// Waits for `child`, killing it once `limit` has passed.
pub fn wait_within(mut child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "no answer within {limit:?}; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.wait_with_output().unwrap()
}
