//! The real `session-lock` binary against a temporary workspace and lock directory: an
//! [`Arena`] whose hook is `session-lock hook`, plus the binary's other commands, run in the
//! caller's environment (`install` needs `HOME`, the real Claude Code client `PATH`) with only
//! the variables that would steer the binary taken out. Users declare [`crate::arena`] and
//! [`crate::events`] too.

#![allow(
    dead_code,
    reason = "each test file uses its own part of the shared helpers"
)]

use std::fs;
use std::ops::Deref;
use std::process::{Child, Command, Output};

use serde_json::Value;

use crate::arena::Arena;
use crate::events::feed;

/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_session-lock");

/// Variables of the calling environment that would change what the binary does (the tests may
/// themselves run inside an agent session).
const AMBIENT: &[&str] = &[
    "CLAUDE_PROJECT_DIR",
    "CLAUDE_PID",
    "CODEX_HOME",
    "GEMINI_CLI_HOME",
    "GEMINI_PROJECT_DIR",
    "SESSION_LOCK_DIR",
    "SESSION_LOCK_TTL_MS",
    "SESSION_LOCK_MODE",
    "SESSION_LOCK_WAIT_MS",
    "SESSION_LOCK_STORE",
    "SESSION_LOCK_IDENTITY",
    "SESSION_LOCK_ETCD_ENDPOINTS",
    "SESSION_LOCK_ETCD_PREFIX",
    "XDG_DATA_HOME",
];

/// A temporary git workspace and lock directory for the real binary: the arena's workspace,
/// lock directory and paths through [`Deref`].
pub struct Sandbox {
    arena: Arena,
}

impl Deref for Sandbox {
    type Target = Arena;

    fn deref(&self) -> &Arena {
        &self.arena
    }
}

impl Sandbox {
    /// A fresh sandbox.
    pub fn new() -> Sandbox {
        Sandbox {
            arena: Arena::new(BINARY, &["hook"]),
        }
    }

    /// `session-lock ARGS` with the caller's environment but for [`AMBIENT`], pointing at this
    /// sandbox's lock directory. (Unlike [`Arena::command`], which empties the environment.)
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
        self.spawn_command(self.command(&["hook"]).envs(env.iter().copied()))
    }

    /// Runs `session-lock hook` on `event` with `env`.
    pub fn hook(&self, event: &Value, env: &[(&str, &str)]) -> Output {
        let mut child = self.spawn_hook(env);
        feed(&mut child, event.to_string().as_bytes());
        child.wait_with_output().unwrap()
    }

    /// The lock record in the lock directory, if any; asserts there is at most one.
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

    /// The holder named by the lock record, if any. (Unlike [`Arena::holder`], it does not
    /// check the rest of the record.)
    pub fn holder(&self) -> Option<String> {
        Some(self.lock_record()?["session_id"].as_str()?.to_owned())
    }
}
