//! Real agent sessions on one git workspace against a [`ScriptedModel`]: start one, keep it
//! inside its turn holding the lock, run others beside it and read what their model was told.
//! Shared by the real-client tests of Codex CLI and Gemini CLI; users declare
//! [`crate::sandbox`], [`crate::arena`], [`crate::events`], [`crate::claude_client`],
//! [`crate::loopback_http`] and [`crate::scripted_model`] too.

#![allow(
    dead_code,
    reason = "each test file uses its own part of the shared helpers"
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::claude_client::{Exited, Process};
use crate::sandbox::Sandbox;
use crate::scripted_model::{Call, Conversation, ScriptedModel, Wire};

/// A real session takes a few seconds here; this bounds a hung one.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(120);

/// The words every refusal opens its reason with, up to the holder's id.
pub const HELD_BY: &str = "parallel session lock held by ";

/// A git workspace and a home for the client, before any session.
pub struct Ground {
    /// The workspace, lock directory and binary.
    pub sandbox: Sandbox,
    /// The client's `HOME`.
    pub home: PathBuf,
}

impl Ground {
    /// A fresh git repository and an empty home.
    pub fn new() -> Ground {
        let sandbox = Sandbox::new();
        let home = sandbox.root().join("home");
        fs::create_dir_all(sandbox.root().join("tmp")).unwrap();
        fs::create_dir_all(&home).unwrap();
        let init = Command::new("git")
            .args(["init", "-q", "-b", "main"])
            .current_dir(&sandbox.workspace)
            .env("HOME", &home)
            .status()
            .expect("git runs");
        assert!(init.success(), "git init: {init}");
        Ground { sandbox, home }
    }

    /// The workspace as the kernel names it (clients record trust under this path).
    pub fn workspace(&self) -> PathBuf {
        fs::canonicalize(&self.sandbox.workspace).unwrap()
    }

    /// `session-lock ARGS` run in the workspace with the client's home, asserted to succeed;
    /// its stdout.
    pub fn session_lock(&self, args: &[&str], env: &[(&str, &Path)]) -> String {
        let mut command = self.sandbox.command(args);
        command
            .current_dir(&self.sandbox.workspace)
            .env("HOME", &self.home);
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "session-lock {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// How a test starts its client: the command for one session, given the ground, the prompt
/// and the stand-in's URL.
pub type Launch = Box<dyn Fn(&Ground, &str, &str) -> Command>;

/// Sessions of one client on one ground.
pub struct Sessions<W: Wire> {
    /// Where they run.
    pub ground: Ground,
    /// Their model.
    pub model: ScriptedModel<W>,
    launch: Launch,
}

impl<W: Wire> Sessions<W> {
    /// Sessions on `ground`, each started by `launch`, against a stand-in speaking `wire`.
    pub fn new(ground: Ground, wire: W, launch: Launch) -> Sessions<W> {
        Sessions {
            ground,
            model: ScriptedModel::start(wire),
            launch,
        }
    }

    /// Starts a session named `marker`, asked to make `call`; with `hold`, its turn does not
    /// end until released.
    pub fn start(&self, marker: &str, call: Call, hold: bool) -> Running<'_, W> {
        let marker = format!("[session-lock-e2e:{marker}]");
        let prompt = format!("{marker} {}", describe(&call));
        let call_id = self.model.add(Conversation {
            marker: marker.clone(),
            call,
            hold_final_answer: hold,
        });
        let mut command = (self.launch)(&self.ground, &prompt, &self.model.base_url());
        command
            .env("TMPDIR", self.ground.sandbox.root().join("tmp"))
            .env("SESSION_LOCK_DIR", &self.ground.sandbox.lock_dir);
        let process = Process::spawn(command).expect("start the client");
        Running {
            sessions: self,
            marker,
            call_id,
            process,
        }
    }

    /// Runs a session named `marker` to its end; what its model was told of `call`.
    pub fn ask(&self, marker: &str, call: Call) -> String {
        let running = self.start(marker, call, false);
        let call_id = running.call_id.clone();
        running.finish();
        self.model
            .tool_output(&call_id)
            .unwrap_or_else(|| panic!("the client sent back no result of its call {call_id}"))
    }

    /// A session named `marker` that makes `call` (one that takes the lock) and then stays
    /// inside its turn: it holds the lock. Checks that its call was not refused and that the
    /// record names a session.
    pub fn hold(&self, marker: &str, call: Call) -> Holding<'_, W> {
        let running = self.start(marker, call, true);
        let output = self
            .model
            .wait_for_tool_output(&running.call_id, SESSION_TIMEOUT)
            .unwrap_or_else(|| {
                panic!(
                    "the holder never sent its call's result; requests: {:?}",
                    self.model.request_lines()
                )
            });
        assert!(!output.contains(HELD_BY), "the holder ran: {output}");
        let id = self
            .ground
            .sandbox
            .holder()
            .expect("the holder's call took the lock");
        Holding {
            running,
            id,
            output,
        }
    }
}

/// What a session is asked to do, in words (the stand-in does not read them).
fn describe(call: &Call) -> String {
    match call {
        Call::Shell(command) => format!("Run `{command}`."),
        Call::ShellIn { command, dir } => format!("Run `{command}` in {}.", dir.display()),
        Call::Patch(_) => "Apply the patch.".into(),
        Call::WriteFile { path, .. } => format!("Write {}.", path.display()),
        Call::Replace { path, .. } => format!("Edit {}.", path.display()),
    }
}

/// A running client.
pub struct Running<'s, W: Wire> {
    sessions: &'s Sessions<W>,
    marker: String,
    /// The id of the call its model asks for.
    pub call_id: String,
    process: Process,
}

impl<W: Wire> Running<'_, W> {
    /// Lets a session started with `hold` end its turn, and waits for it (see [`finish`]).
    ///
    /// [`finish`]: Running::finish
    pub fn end_turn(self) -> Exited {
        self.sessions.model.release(&self.marker);
        self.finish()
    }

    /// Waits for the client to exit (killing it after [`SESSION_TIMEOUT`]), however it exits.
    pub fn exited(self) -> Exited {
        self.process
            .wait(SESSION_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}; requests: {:?}", self.sessions.model.request_lines()))
    }

    /// Waits for the client to exit (killing it after [`SESSION_TIMEOUT`]) and checks that it
    /// succeeded.
    pub fn finish(self) -> Exited {
        let done = self.exited();
        assert!(
            done.status.success(),
            "the client exited with {}: {}\n{}",
            done.status,
            done.stdout,
            done.stderr
        );
        done
    }
}

/// A real session holding the lock inside its turn.
pub struct Holding<'s, W: Wire> {
    running: Running<'s, W>,
    /// Its session id, as the record names it.
    pub id: String,
    /// What its model was told of its call.
    pub output: String,
}

impl<W: Wire> Holding<'_, W> {
    /// Lets the holder's turn end (its turn-end hook releases the lock) and waits for it.
    pub fn end_turn(self) -> Exited {
        self.running.end_turn()
    }

    /// Asserts that `told` (what a second session's model read) is the refusal naming this
    /// holder.
    pub fn assert_refused(&self, told: &str) {
        // The model reads a short holder id (8 characters of a longer one), never the whole.
        let short = crate::events::short_holder_id(&self.id);
        let names = format!("{HELD_BY}{short} (pid ");
        for part in [
            names.as_str(),
            "Read-only commands",
            "ask the person to release it",
        ] {
            assert!(told.contains(part), "{part:?} in {told:?}");
        }
    }
}
