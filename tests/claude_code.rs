//! The real Claude Code client with session-lock's hooks installed, against a scripted
//! stand-in for the Messages API on loopback.
//!
//! The client is the npm package pinned in `tests/claude-code/` (`npm ci --ignore-scripts
//! --prefix tests/claude-code`; with or without its install script). Where it is not installed
//! or cannot run here, each test prints `skipping: …` and returns. Each session runs as
//! `claude -p PROMPT --allowedTools TOOL` with a fresh home, the API on loopback and no other
//! traffic. The stand-in (`support/messages_api.rs`) asks each session for one tool call (a
//! `Write` of one file, or a `Bash` command) and records the `tool_result` the client sends
//! back: that is where a refusal by the hook shows, as the model would see it.
//!
//! The hooks reach the client as a user would put them there ([`Hooks`]): `session-lock
//! install` into the project's or the user's settings, or this repository's plugin, installed
//! with `claude plugin marketplace add` and `claude plugin install` with `session-lock` on
//! `PATH`.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/claude_client.rs"]
mod claude_client;
#[path = "support/events.rs"]
mod events;
#[path = "support/loopback_http.rs"]
mod loopback_http;
#[path = "support/messages_api.rs"]
mod messages_api;
#[path = "support/sandbox.rs"]
mod sandbox;

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use arena::now_ms;
use claude_client::{Process, client, client_command, install_plugin};
use events::{claude_event, deny_reason, short_holder_id};
use messages_api::{Conversation, MessagesApi, ToolCall, ToolResult};
use sandbox::{BINARY, Sandbox};
use serde_json::Value;

/// One `claude -p` run takes about a second here; this bounds a hung one.
const SESSION_TIMEOUT: Duration = Duration::from_secs(45);

/// The message every session is refused with, up to the holder's id.
const HELD_BY: &str = "parallel session lock held by ";

#[test]
fn a_write_is_refused_while_another_session_holds_the_lock() {
    let Some(client) = client() else { return };
    let world = World::new(client, Hooks::ProjectSettings);
    let other_pid = another_session_holds_the_lock(&world);
    assert_eq!(world.sandbox.holder().as_deref(), Some("other-session"));

    let refused = world.writer("refused", "refused.txt");
    let run = world.run(&refused).finish();

    let result = run
        .tool_result
        .expect("the client sent the Write's result back");
    assert!(result.is_error, "a refusal is an error result: {result:?}");
    assert!(
        result
            .text
            .contains(&format!("{HELD_BY}…-session (pid {other_pid})")),
        "the refusal names the holder: {result:?}"
    );
    assert!(!refused.file().exists(), "the refused Write wrote nothing");
    assert_eq!(
        run.outcome["permission_denials"][0]["tool_name"], "Write",
        "the client reports the denial: {}",
        run.outcome
    );
    assert_eq!(
        world.sandbox.holder().as_deref(),
        Some("other-session"),
        "the refused session's Stop leaves the holder's lock"
    );
}

#[test]
fn with_the_lock_free_the_write_happens() {
    let Some(client) = client() else { return };
    let world = World::new(client, Hooks::ProjectSettings);
    let control = world.writer("control", "control.txt");
    let run = world.run(&control).finish();

    let result = run
        .tool_result
        .expect("the client sent the Write's result back");
    assert!(!result.is_error, "the Write succeeded: {result:?}");
    assert!(!result.text.contains(HELD_BY), "{result:?}");
    assert_eq!(
        fs::read_to_string(control.file()).expect("the file was written"),
        control.content()
    );
    assert_eq!(
        world.sandbox.holder(),
        None,
        "the session's Stop released the lock it took"
    );
}

#[test]
fn two_real_sessions_the_second_is_refused_until_the_first_stops() {
    second_is_refused_until_the_first_stops(Hooks::ProjectSettings);
}

#[test]
fn two_real_sessions_through_the_plugin_the_second_is_refused_until_the_first_stops() {
    second_is_refused_until_the_first_stops(Hooks::Plugin);
}

/// `doctor` reports the plugin the client installed (no settings file registers the hook
/// then) as the registered hook, naming the binary its launcher runs; with the hook in the
/// user's settings too, that it runs twice; once the person turns the plugin off through the
/// client, doctor says so and how to turn it on.
#[test]
fn doctor_reports_the_plugin_the_client_installed_and_whether_it_is_on() {
    let Some(client) = client() else { return };
    let world = World::new(client, Hooks::Plugin);
    let doctor = || {
        let output = world
            .sandbox
            .command(&["doctor"])
            .current_dir(&world.sandbox.workspace)
            .env("HOME", &world.home)
            .env("PATH", &world.path)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.success(), said)
    };
    let plugin_line = |said: &str| {
        said.lines()
            .find(|l| l.contains("(claude-code plugin session-lock@session-lock)"))
            .unwrap_or_else(|| panic!("doctor names the plugin: {said}"))
            .to_owned()
    };
    let (passed, said) = doctor();
    let line = plugin_line(&said);
    assert!(line.starts_with("ok "), "{line}");
    assert!(line.contains("bin/session-lock-hook runs "), "{line}");
    assert!(passed, "{said}");
    assert!(!said.contains("no agent's settings register"), "{said}");

    // Registered in the user's settings as well, the hook would run twice for every event.
    let settings = |command: &str| {
        let output = world
            .sandbox
            .command(&[command])
            .current_dir(&world.sandbox.workspace)
            .env("HOME", &world.home)
            .output()
            .unwrap();
        assert!(output.status.success(), "{command}: {output:?}");
    };
    settings("install");
    let (passed, said) = doctor();
    let twice = said
        .lines()
        .find(|l| l.contains("hook registered twice (claude-code)"))
        .unwrap_or_else(|| panic!("doctor sees the hook registered twice: {said}"));
    assert!(!passed && twice.starts_with("FAIL "), "{said}");
    assert!(
        twice.contains("the plugin session-lock@session-lock and ")
            && twice.contains(".claude/settings.json"),
        "{twice}"
    );
    settings("uninstall");
    let (passed, said) = doctor();
    assert!(passed && !said.contains("registered twice"), "{said}");

    let mut disable = client_command(&world.client, &world.home, Some(&world.path));
    disable
        .args(["plugin", "disable", claude_client::PLUGIN])
        .current_dir(world.sandbox.root());
    claude_client::run_ok(disable, Duration::from_secs(45));
    let (passed, said) = doctor();
    let line = plugin_line(&said);
    assert!(!passed, "{said}");
    assert!(line.contains("not turned on here"), "{line}");
    assert!(
        said.contains("claude plugin enable session-lock@session-lock"),
        "{said}"
    );
}

/// Two real sessions on one workspace, the hooks registered by `hooks`: while the first holds
/// the lock inside its turn, the second's Write is refused with the whole message; after the
/// first's Stop, the second writes.
fn second_is_refused_until_the_first_stops(hooks: Hooks) {
    let Some(client) = client() else { return };
    let world = World::new(client, hooks);
    let holding = world.hold("holder", "holder.txt");

    // A second session on the same workspace, while the first holds it.
    let second = world.writer("second", "second.txt");
    let refused = world.run(&second).finish();
    let result = refused
        .tool_result
        .expect("the second client sent its Write's result back");
    holding.assert_refused(&result);
    assert!(!second.file().exists(), "the refused Write wrote nothing");
    assert_eq!(
        world.sandbox.holder(),
        Some(holding.id.clone()),
        "the second session's Stop leaves the holder's lock"
    );

    // The holder's turn ends: its Stop releases the lock.
    let holder_id = holding.id.clone();
    let held = holding.end_turn();
    assert_eq!(
        held.outcome["session_id"], holder_id,
        "the lock was the holder's own session id"
    );
    assert_eq!(
        world.sandbox.holder(),
        None,
        "the holder's Stop released it"
    );

    // And the second session's Write, asked again, now goes through.
    let retry = world.writer("retry", "second.txt");
    let retried = world.run(&retry).finish();
    let result = retried.tool_result.expect("the retry's result was sent");
    assert!(!result.is_error, "the retried Write succeeded: {result:?}");
    assert_eq!(fs::read_to_string(second.file()).unwrap(), retry.content());
}

#[test]
fn while_one_session_holds_the_lock_another_runs_git_status_but_cannot_write() {
    let Some(client) = client() else { return };
    let world = World::new(client, Hooks::ProjectSettings);
    let holding = world.hold("holder", "holder.txt");

    // `git status` is read-only: it needs no lock, and runs.
    let status = world.shell("status", "git status");
    let ran = world.run(&status).finish();
    let result = ran
        .tool_result
        .expect("the client sent the Bash call's result back");
    assert!(
        !result.is_error && !result.text.contains(HELD_BY),
        "git status ran: {result:?}"
    );
    assert!(
        result.text.contains("holder.txt"),
        "the result is git's own output (the holder's new file is untracked): {result:?}"
    );
    assert!(
        ran.outcome["permission_denials"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "nothing was denied: {}",
        ran.outcome
    );

    // A Write is refused, with the whole message.
    let write = world.writer("write", "second.txt");
    let refused = world.run(&write).finish();
    let result = refused.tool_result.expect("the Write's result was sent");
    holding.assert_refused(&result);
    assert!(!write.file().exists(), "the refused Write wrote nothing");
    assert_eq!(world.sandbox.holder(), Some(holding.id.clone()));
    holding.end_turn();
}

#[test]
fn a_write_from_a_session_launched_outside_the_repository_is_refused() {
    let Some(client) = client() else { return };
    // A session launched outside the project reads no project settings: the hooks are the
    // user's.
    let world = World::new(client, Hooks::UserSettings);
    let holding = world.hold("holder", "holder.txt");

    // The second session starts in the repository's parent and writes into the repository:
    // the lock covers the work tree the Write touches, not the one the session started in.
    let parent = world.sandbox.workspace.parent().unwrap().to_path_buf();
    let outside = world
        .writer("outside", "from-outside.txt")
        .launched_in(&parent);
    let refused = world.run(&outside).finish();
    let result = refused
        .tool_result
        .expect("the outside session's Write result was sent");
    holding.assert_refused(&result);
    assert!(!outside.file().exists(), "the refused Write wrote nothing");
    assert_eq!(world.sandbox.holder(), Some(holding.id.clone()));
    holding.end_turn();
}

#[test]
fn a_holder_killed_with_sigkill_frees_the_workspace_at_once() {
    let Some(client) = client() else { return };
    let world = World::new(client, Hooks::ProjectSettings);
    let holding = world.hold("holder", "holder.txt");
    // `hold` checked that the record names the holder's process (Claude Code gives its hooks
    // CLAUDE_PID, its own pid), so its end proves the holder gone.
    let record = world.sandbox.lock_record().unwrap();
    let fresh_until = record["refreshed_at"].as_u64().unwrap() + record["ttl_ms"].as_u64().unwrap();

    holding.kill();

    let after = world.writer("after", "after.txt");
    let run = world.run(&after).finish();
    let result = run.tool_result.expect("the Write's result was sent");
    assert!(
        !result.is_error,
        "the dead holder's lock was taken over: {result:?}"
    );
    assert_eq!(fs::read_to_string(after.file()).unwrap(), after.content());
    let now = now_ms();
    assert!(
        now < fresh_until,
        "taken over while the dead holder's lock was fresh by its ttl ({} ms left)",
        fresh_until.saturating_sub(now)
    );
    assert_eq!(
        world.sandbox.holder(),
        None,
        "the new session's Stop released the lock it took over"
    );
}

/// How the hooks reach the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hooks {
    /// `session-lock install --scope project`, run in the workspace.
    ProjectSettings,
    /// `session-lock install` (user scope), with the client's home as `HOME`.
    UserSettings,
    /// This repository's plugin: `claude plugin marketplace add <repository>` and `claude
    /// plugin install`, no hooks in any settings, and `session-lock` on `PATH`.
    Plugin,
}

/// One workspace with the hooks installed, a home for the client, and the stand-in API.
struct World {
    client: PathBuf,
    sandbox: Sandbox,
    home: PathBuf,
    /// The client's `PATH`.
    path: OsString,
    api: MessagesApi,
}

/// A scripted session: its prompt marker, the tool call it is asked for, where it starts.
struct Session {
    marker: String,
    call: ToolCall,
    hold: bool,
    cwd: PathBuf,
}

impl Session {
    /// The same session, with its final answer held until released.
    fn held(mut self) -> Session {
        self.hold = true;
        self
    }

    /// The same session, started in `dir`.
    fn launched_in(mut self, dir: &Path) -> Session {
        self.cwd = dir.to_path_buf();
        self
    }

    /// The file its Write creates.
    fn file(&self) -> &Path {
        match &self.call {
            ToolCall::Write { file_path, .. } => file_path,
            other => panic!("not a Write: {other:?}"),
        }
    }

    /// What its Write writes.
    fn content(&self) -> &str {
        match &self.call {
            ToolCall::Write { content, .. } => content,
            other => panic!("not a Write: {other:?}"),
        }
    }

    fn prompt(&self) -> String {
        match &self.call {
            ToolCall::Write { file_path, content } => format!(
                "{} Create {} containing {content:?}.",
                self.marker,
                file_path.display()
            ),
            ToolCall::Bash { command } => format!("{} Run `{command}`.", self.marker),
            ToolCall::ToolSearch { query } => format!("{} Search tools for {query}.", self.marker),
            ToolCall::EnterWorktree { name } => {
                format!("{} Enter a worktree named {name}.", self.marker)
            }
        }
    }
}

impl World {
    fn new(client: PathBuf, hooks: Hooks) -> World {
        let sandbox = Sandbox::new();
        let home = sandbox.root().join("home");
        fs::create_dir_all(sandbox.root().join("tmp")).unwrap();
        fs::create_dir_all(&home).unwrap();
        // A real repository, so that git commands run in it.
        let init = Command::new("git")
            .args(["init", "-q", "-b", "main"])
            .current_dir(&sandbox.workspace)
            .env("HOME", &home)
            .status()
            .expect("git runs");
        assert!(init.success(), "git init: {init}");
        let mut path = std::env::var_os("PATH").unwrap_or("/usr/bin:/bin".into());
        match hooks {
            Hooks::ProjectSettings | Hooks::UserSettings => {
                install_hooks(&sandbox, &home, hooks);
            }
            Hooks::Plugin => {
                // `session-lock` on PATH, as a user who installed the binary has it.
                let bin = sandbox.root().join("bin");
                fs::create_dir_all(&bin).unwrap();
                symlink(BINARY, bin.join("session-lock")).unwrap();
                let mut with_bin = bin.into_os_string();
                with_bin.push(":");
                with_bin.push(&path);
                path = with_bin;
                install_plugin(&client, &home, &path, sandbox.root());
                assert!(
                    !sandbox.workspace.join(".claude").exists(),
                    "no project settings"
                );
            }
        }
        World {
            client,
            sandbox,
            home,
            path,
            api: MessagesApi::start(),
        }
    }

    fn session(&self, marker: &str, call: ToolCall) -> Session {
        Session {
            marker: format!("[session-lock-e2e:{marker}]"),
            call,
            hold: false,
            cwd: self.sandbox.workspace.clone(),
        }
    }

    /// A session named `marker` that writes `file_name` in the workspace.
    fn writer(&self, marker: &str, file_name: &str) -> Session {
        let call = ToolCall::Write {
            file_path: self.sandbox.workspace.join(file_name),
            content: format!("written by {marker}\n"),
        };
        self.session(marker, call)
    }

    /// A session named `marker` that runs `command` with Bash in the workspace.
    fn shell(&self, marker: &str, command: &str) -> Session {
        let call = ToolCall::Bash {
            command: command.to_owned(),
        };
        self.session(marker, call)
    }

    /// Starts `claude -p` for `session` in its directory.
    fn run(&self, session: &Session) -> Running<'_> {
        let tool_use_id = self.api.add(Conversation {
            marker: session.marker.clone(),
            call: session.call.clone(),
            hold_final_answer: session.hold,
        });
        let mut command = client_command(&self.client, &self.home, Some(&self.path));
        command
            .args([
                "-p",
                &session.prompt(),
                "--allowedTools",
                session.call.name(),
            ])
            .args(["--output-format", "json"])
            .env("TMPDIR", self.sandbox.root().join("tmp"))
            .env("ANTHROPIC_BASE_URL", self.api.base_url())
            .env("ANTHROPIC_API_KEY", "sk-ant-stand-in")
            .env("SESSION_LOCK_DIR", &self.sandbox.lock_dir)
            .current_dir(&session.cwd);
        let process = Process::spawn(command).expect("start the client");
        Running {
            world: self,
            tool_use_id,
            process,
        }
    }

    /// A real session that writes `file_name` and then stays inside its turn (the stand-in
    /// holds its final answer, so its Stop, which releases the lock, has not run): it holds
    /// the lock. Checks that its Write went through and that the record names it and its
    /// process.
    fn hold(&self, marker: &str, file_name: &str) -> Holding<'_> {
        let session = self.writer(marker, file_name).held();
        let running = self.run(&session);
        let result = self
            .api
            .wait_for_tool_result(&running.tool_use_id, SESSION_TIMEOUT)
            .unwrap_or_else(|| {
                panic!(
                    "the holder never sent its Write's result; requests: {:?}",
                    self.api.request_lines()
                )
            });
        assert!(!result.is_error, "the holder's Write succeeded: {result:?}");
        assert_eq!(
            fs::read_to_string(session.file()).expect("the holder wrote its file"),
            session.content()
        );
        let record = self
            .sandbox
            .lock_record()
            .expect("the holder took the lock");
        let id = record["session_id"].as_str().unwrap().to_owned();
        let pid = running.pid();
        assert_eq!(
            record["pid"], pid,
            "the record names the client's pid (CLAUDE_PID): {record}"
        );
        assert!(
            record["holder"].is_object(),
            "the record names the holder's process, since its pid is the session's own \
             (Claude Code gives hooks CLAUDE_PID): {record}"
        );
        Holding {
            session,
            running,
            id,
            pid,
        }
    }
}

/// Registers the hooks as a user would: `session-lock install --scope project` run in the
/// workspace, or `session-lock install` (user scope).
fn install_hooks(sandbox: &Sandbox, home: &Path, hooks: Hooks) {
    let (args, settings): (&[&str], PathBuf) = match hooks {
        Hooks::ProjectSettings => (
            &["install", "--scope", "project"],
            sandbox.workspace.join(".claude/settings.json"),
        ),
        Hooks::UserSettings => (&["install"], home.join(".claude/settings.json")),
        Hooks::Plugin => unreachable!("the plugin is installed by the client"),
    };
    let output = sandbox
        .command(args)
        .current_dir(&sandbox.workspace)
        .env("HOME", home)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "session-lock install: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let settings = fs::read_to_string(&settings).expect("install wrote the settings");
    let settings: Value = serde_json::from_str(&settings).unwrap();
    let command = settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap_or_default();
    // install registers its copy of the binary at the stable location (through `$HOME` in a
    // project's shared settings, and quoted for `sh -c` then).
    let stable = home.join(".local/share/session-lock/bin/session-lock");
    assert!(
        command.contains(".local/share/session-lock/bin/session-lock")
            && command.ends_with(" hook --agent claude"),
        "the hook runs the stable copy: {settings}"
    );
    assert_eq!(
        fs::read(&stable).expect("install copied the binary"),
        fs::read(BINARY).unwrap(),
        "the stable copy is this binary"
    );
}

/// A real session holding the lock inside its turn.
struct Holding<'w> {
    session: Session,
    running: Running<'w>,
    /// Its session id, as the record names it.
    id: String,
    /// The client's pid.
    pid: u32,
}

impl Holding<'_> {
    /// Asserts that `result` is the refusal naming this holder, whole: who holds the lock, what
    /// still works, and how to go on now.
    fn assert_refused(&self, result: &ToolResult) {
        assert!(result.is_error, "the Write was refused: {result:?}");
        // The model reads a short holder id: enough to tell holders apart, not to forge one.
        let short_id = short_holder_id(&self.id);
        let opening = format!(
            "{HELD_BY}{short_id} (pid {}) — wait or close that session first (held for ",
            self.pid
        );
        for part in [
            opening.as_str(),
            "it frees when that session's turn ends, at the latest in ",
            "Read-only commands",
            "ask the person to release it by force",
        ] {
            assert!(result.text.contains(part), "{part:?} in {result:?}");
        }
    }

    /// Lets the holder's turn end (its Stop releases the lock) and waits for the client.
    fn end_turn(self) -> Finished {
        self.running.world.api.release(&self.session.marker);
        self.running.finish()
    }

    /// Kills the holder's client (and all its process group) with SIGKILL, and reaps it: no
    /// hook of its runs again.
    fn kill(self) {
        let mut process = self.running.process;
        process.kill();
    }
}

/// A running client.
struct Running<'w> {
    world: &'w World,
    tool_use_id: String,
    process: Process,
}

/// A finished client: its result and the `tool_result` it sent the stand-in.
struct Finished {
    /// The client's `--output-format json` result.
    outcome: Value,
    tool_result: Option<ToolResult>,
}

impl Running<'_> {
    fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// Waits for the client to exit (killing it after [`SESSION_TIMEOUT`]) and checks that
    /// it finished its turn.
    fn finish(self) -> Finished {
        self.finish_with(|| {})
    }

    fn finish_with(self, before: impl FnOnce()) -> Finished {
        let requests = || self.world.api.request_lines();
        let done = self
            .process
            .wait(SESSION_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}; requests: {:?}", requests()));
        assert!(
            done.status.success(),
            "claude exited with {}: {}\n{}",
            done.status,
            done.stdout,
            done.stderr
        );
        before();
        let outcome: Value = serde_json::from_str(&done.stdout)
            .unwrap_or_else(|e| panic!("claude's result is not JSON ({e}): {}", done.stdout));
        assert_eq!(
            (outcome["is_error"].as_bool(), outcome["result"].as_str()),
            (Some(false), Some("Done.")),
            "the turn ended with the stand-in's answer: {outcome}"
        );
        Finished {
            tool_result: self.world.api.tool_result(&self.tool_use_id),
            outcome,
        }
    }
}

/// Another session takes the lock the way its hook would: a PreToolUse event through
/// `session-lock hook`. Its pid is this test's, so it is a live process; returned.
fn another_session_holds_the_lock(world: &World) -> String {
    let other_pid = std::process::id().to_string();
    let other = world.sandbox.hook(
        &claude_event(
            "PreToolUse",
            "other-session",
            Some("Write"),
            &world.sandbox.workspace,
        ),
        &[("CLAUDE_PID", &other_pid)],
    );
    assert_eq!(deny_reason(&other), None, "the lock was free");
    other_pid
}

/// Whether any request the client sent the model carries `text` (in its system prompt,
/// messages or reminders).
fn model_was_told(world: &World, text: &str) -> bool {
    world.api.requests().iter().any(|r| {
        r.body
            .as_ref()
            .is_some_and(|b| b.to_string().contains(text))
    })
}

#[test]
fn a_session_starting_in_a_held_workspace_is_told_before_it_plans() {
    let Some(client) = client() else { return };
    let world = World::new(client, Hooks::ProjectSettings);
    let other_pid = another_session_holds_the_lock(&world);

    let told = world.writer("told", "told.txt");
    let run = world.run(&told).finish();

    assert!(
        model_was_told(
            &world,
            &format!(
                "this workspace is locked by another session, other-session (pid {other_pid})"
            )
        ),
        "the model's context names the holder before its first tool call: {:?}",
        world.api.request_lines()
    );
    assert!(model_was_told(
        &world,
        "To change files now, call the EnterWorktree tool"
    ));
    assert!(run.tool_result.expect("the Write's result").is_error);
    assert_eq!(
        world.sandbox.holder().as_deref(),
        Some("other-session"),
        "being told takes no lock"
    );
}

#[test]
fn a_session_starting_in_a_free_workspace_is_told_nothing() {
    let Some(client) = client() else { return };
    let world = World::new(client, Hooks::ProjectSettings);
    let control = world.writer("untold", "untold.txt");
    let run = world.run(&control).finish();
    assert!(!run.tool_result.expect("the Write's result").is_error);
    assert!(
        !model_was_told(&world, "session-lock:"),
        "nothing of session-lock reaches the model: {:?}",
        world.api.request_lines()
    );
}

/// The refusal names Claude Code's own way on (issue 19): a refused session's model calls
/// `EnterWorktree`, which moves the session into a git worktree of its own inside the main
/// checkout's folder (its `.git` a file with a `gitdir:` line), and its next Write, relative,
/// lands there and is allowed, with a lock of its own, while the holder still holds the main
/// checkout's.
#[test]
fn a_refused_session_enters_its_own_worktree_and_writes_there() {
    let Some(client) = client() else { return };
    let world = World::new(client, Hooks::ProjectSettings);
    // A worktree needs a commit to start from.
    let commit = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q"])
        .args(["--allow-empty", "-m", "start"])
        .current_dir(&world.sandbox.workspace)
        .env("HOME", &world.home)
        .status()
        .expect("git runs");
    assert!(commit.success(), "git commit: {commit}");
    let holding = world.hold("holder", "holder.txt");

    let marker = "[session-lock-e2e:worktree]";
    let calls = vec![
        ToolCall::Write {
            file_path: world.sandbox.workspace.join("refused.txt"),
            content: "refused\n".into(),
        },
        // The client offers EnterWorktree by name only: the model loads it first.
        ToolCall::ToolSearch {
            query: "select:EnterWorktree".into(),
        },
        ToolCall::EnterWorktree {
            name: "b-work".into(),
        },
        ToolCall::Write {
            file_path: PathBuf::from("in-worktree.txt"),
            content: "written in the worktree\n".into(),
        },
    ];
    let ids = world.api.add_calls(marker, calls);
    let prompt = format!("{marker} Create refused.txt; if refused, go on in a worktree.");
    let mut command = client_command(&world.client, &world.home, Some(&world.path));
    command
        .args(["-p", &prompt, "--allowedTools", "Write,EnterWorktree"])
        .args(["--output-format", "json"])
        .env("TMPDIR", world.sandbox.root().join("tmp"))
        .env("ANTHROPIC_BASE_URL", world.api.base_url())
        .env("ANTHROPIC_API_KEY", "sk-ant-stand-in")
        .env("SESSION_LOCK_DIR", &world.sandbox.lock_dir)
        .current_dir(&world.sandbox.workspace);
    let running = Running {
        world: &world,
        tool_use_id: ids[3].clone(),
        process: Process::spawn(command).expect("start the client"),
    };
    let finished = running.finish();
    let result = |id: &str| {
        world
            .api
            .tool_result(id)
            .unwrap_or_else(|| panic!("no result for {id}: {:?}", world.api.request_lines()))
    };

    let refused = result(&ids[0]);
    holding.assert_refused(&refused);
    assert!(
        refused
            .text
            .contains("To go on now: call the EnterWorktree tool"),
        "the refusal names the agent's own way on: {refused:?}"
    );
    assert!(!world.sandbox.workspace.join("refused.txt").exists());

    // This client version sends back `[Tool result missing due to internal error]` for every
    // tool call after the first in a scripted `-p` turn (ToolSearch, EnterWorktree, Write
    // alike, though each ran): what they did is read from the filesystem and from the
    // client's own list of the calls a hook refused.
    for id in &ids[1..] {
        let _ = result(id);
    }
    let worktree = world.sandbox.workspace.join(".claude/worktrees/b-work");
    let dot_git = fs::read_to_string(worktree.join(".git")).expect("the worktree's .git file");
    assert!(
        dot_git.starts_with("gitdir:"),
        "EnterWorktree made a worktree: {dot_git:?}"
    );
    assert!(
        model_was_told(&world, "Primary working directory: ")
            && model_was_told(&world, ".claude/worktrees/b-work (was "),
        "the client moved the session into the worktree"
    );
    assert_eq!(
        fs::read_to_string(worktree.join("in-worktree.txt")).expect("written in the worktree"),
        "written in the worktree\n",
        "the relative Write landed in the worktree"
    );
    assert!(!world.sandbox.workspace.join("in-worktree.txt").exists());
    let denials = finished.outcome["permission_denials"]
        .as_array()
        .expect("the client lists the refused calls");
    assert_eq!(
        denials.len(),
        1,
        "only the first Write was refused: {}",
        finished.outcome
    );
    assert_eq!(denials[0]["tool_use_id"], ids[0].as_str());
    // The worktree has a lock of its own: the refused session took it for its Write there, and
    // released it at its Stop (the decision log says so).
    let log = fs::read_to_string(world.sandbox.lock_dir.join("session-lock-decisions.jsonl"))
        .expect("the decision log");
    let worktree_text = worktree.to_string_lossy();
    let of_worktree = |decision: &str| {
        log.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .any(|line| {
                line["decision"] == decision
                    && line["workspace"] == worktree_text.as_ref()
                    && line["session"] != holding.id.as_str()
            })
    };
    assert!(
        of_worktree("taken"),
        "the worktree's own lock was taken: {log}"
    );
    assert!(of_worktree("released"), "and released at Stop: {log}");
    assert_eq!(
        world.sandbox.holder().as_deref(),
        Some(holding.id.as_str()),
        "the holder still holds the main checkout: {}",
        finished.outcome
    );
    holding.end_turn();
}
