//! The real Claude Code client with session-lock's hooks installed, against a scripted
//! stand-in for the Messages API on loopback.
//!
//! The client is the npm package pinned in `tests/claude-code/` (`npm ci --ignore-scripts
//! --prefix tests/claude-code`; with or without its install script). Where it is not installed
//! or cannot run here, each test prints `skipping: …` and returns. Each session runs as
//! `claude -p PROMPT --allowedTools Write` with a fresh home, the API on loopback and no other
//! traffic. The stand-in (`support/messages_api.rs`) asks each session to
//! `Write` one file, and records the `tool_result` the client sends back: that is where a
//! refusal by the hook shows, as the model would see it.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;
#[path = "support/messages_api.rs"]
mod messages_api;
#[path = "support/sandbox.rs"]
mod sandbox;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use events::{claude_event, deny_reason};
use messages_api::{Conversation, MessagesApi, ToolResult};
use sandbox::{BINARY, Sandbox};
use serde_json::Value;

/// The pinned npm install of the client, `tests/claude-code/` beside `host/`.
fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("tests/claude-code")
}

/// One `claude -p` run takes about a second here; this bounds a hung one.
const SESSION_TIMEOUT: Duration = Duration::from_secs(45);

/// The message every session is refused with, up to the holder's id.
const HELD_BY: &str = "parallel session lock held by ";

#[test]
fn a_write_is_refused_while_another_session_holds_the_lock() {
    let Some(client) = client() else { return };
    let world = World::new(client);
    // Another session takes the lock the way its hook would: a PreToolUse event through
    // `session-lock hook`. Its pid is this test's, so it is a live process.
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
    assert_eq!(world.sandbox.holder().as_deref(), Some("other-session"));

    let refused = world.conversation("refused", "refused.txt");
    let run = world.run(&refused).finish();

    let result = run
        .tool_result
        .expect("the client sent the Write's result back");
    assert!(result.is_error, "a refusal is an error result: {result:?}");
    assert!(
        result
            .text
            .contains(&format!("{HELD_BY}other-session (pid {other_pid})")),
        "the refusal names the holder: {result:?}"
    );
    assert!(!refused.file.exists(), "the refused Write wrote nothing");
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
    let world = World::new(client);
    let control = world.conversation("control", "control.txt");
    let run = world.run(&control).finish();

    let result = run
        .tool_result
        .expect("the client sent the Write's result back");
    assert!(!result.is_error, "the Write succeeded: {result:?}");
    assert!(!result.text.contains(HELD_BY), "{result:?}");
    assert_eq!(
        fs::read_to_string(&control.file).expect("the file was written"),
        control.content
    );
    assert_eq!(
        world.sandbox.holder(),
        None,
        "the session's Stop released the lock it took"
    );
}

#[test]
fn two_real_sessions_the_second_is_refused_until_the_first_stops() {
    let Some(client) = client() else { return };
    let world = World::new(client);

    // The holder writes its file, then waits inside its turn: the stand-in holds its final
    // answer, so its Stop (which releases the lock) has not run yet.
    let holder = world.conversation("holder", "holder.txt").held();
    let holding = world.run(&holder);
    let holder_result = world
        .api
        .wait_for_tool_result(&holding.tool_use_id, SESSION_TIMEOUT)
        .unwrap_or_else(|| {
            panic!(
                "the holder never sent its Write's result; requests: {:?}",
                world.api.request_lines()
            )
        });
    assert!(
        !holder_result.is_error,
        "the holder's Write succeeded: {holder_result:?}"
    );
    assert_eq!(
        fs::read_to_string(&holder.file).expect("the holder wrote its file"),
        holder.content
    );
    let record = world
        .sandbox
        .lock_record()
        .expect("the holder took the lock");
    let holder_id = record["session_id"].as_str().unwrap().to_owned();
    assert_eq!(
        record["pid"],
        holding.pid(),
        "the record names the client's pid (CLAUDE_PID)"
    );

    // A second session on the same workspace, while the first holds it.
    let second = world.conversation("second", "second.txt");
    let refused = world.run(&second).finish();
    let result = refused
        .tool_result
        .expect("the second client sent its Write's result back");
    assert!(result.is_error, "the second Write was refused: {result:?}");
    assert!(
        result
            .text
            .contains(&format!("{HELD_BY}{holder_id} (pid {})", holding.pid())),
        "the refusal names the holder's session: {result:?}"
    );
    assert!(!second.file.exists(), "the refused Write wrote nothing");
    assert_eq!(
        world.sandbox.holder(),
        Some(holder_id.clone()),
        "the second session's Stop leaves the holder's lock"
    );

    // The holder's turn ends: its Stop releases the lock.
    world.api.release(&holder.marker);
    let held = holding.finish();
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
    let retry = world.conversation("retry", "second.txt");
    let retried = world.run(&retry).finish();
    let result = retried.tool_result.expect("the retry's result was sent");
    assert!(!result.is_error, "the retried Write succeeded: {result:?}");
    assert_eq!(fs::read_to_string(&second.file).unwrap(), retry.content);
}

/// The client to run, found once for all tests; `None` (after saying why, once) to skip.
fn client() -> Option<PathBuf> {
    static CLIENT: OnceLock<Option<PathBuf>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let found = find_client();
            // Straight to stderr: the test harness captures `eprintln!` of passing tests, and
            // a skip must show in CI's log.
            let line = match &found {
                Ok((path, version)) => format!("claude_code: {version} at {}", path.display()),
                Err(why) => format!(
                    "skipping: {why} (install it with \
                     `npm ci --ignore-scripts --prefix tests/claude-code`)"
                ),
            };
            let _ = writeln!(std::io::stderr(), "{line}");
            found.ok().map(|(path, _)| path)
        })
        .clone()
}

/// The installed client and its version: `node_modules/.bin/claude` when npm's postinstall
/// put the native binary there, else the platform package's binary itself (as after
/// `npm ci --ignore-scripts`, where `.bin/claude` is a stub that only prints an error).
fn find_client() -> Result<(PathBuf, String), String> {
    let modules = client_dir().join("node_modules");
    let mut candidates = vec![modules.join(".bin/claude")];
    if let Ok(entries) = fs::read_dir(modules.join("@anthropic-ai")) {
        let mut platform: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("claude-code-"))
            })
            .map(|p| p.join("claude"))
            .collect();
        platform.sort();
        candidates.extend(platform);
    }
    let mut tried = Vec::new();
    for candidate in candidates.iter().filter(|c| c.exists()) {
        let mut command = Command::new(candidate);
        command.arg("--version");
        let run = Process::spawn(command)
            .map_err(|e| e.to_string())
            .and_then(|p| p.wait(Duration::from_secs(20)));
        match run {
            Ok(done) if done.status.success() && done.stdout.contains("Claude Code") => {
                return Ok((candidate.clone(), done.stdout.trim().to_owned()));
            }
            Ok(done) => tried.push(format!(
                "{} --version: {} {}",
                candidate.display(),
                done.status,
                done.stderr.lines().next().unwrap_or_default()
            )),
            Err(e) => tried.push(format!("{}: {e}", candidate.display())),
        }
    }
    if tried.is_empty() {
        Err(format!(
            "Claude Code is not installed in {}",
            modules.display()
        ))
    } else {
        Err(format!("Claude Code cannot run here: {}", tried.join("; ")))
    }
}

/// One workspace with the hooks installed, a home for the client, and the stand-in API.
struct World {
    client: PathBuf,
    sandbox: Sandbox,
    home: PathBuf,
    api: MessagesApi,
}

/// A scripted session: its prompt marker and the file it writes.
struct Session {
    marker: String,
    file: PathBuf,
    content: String,
    hold: bool,
}

impl Session {
    /// The same session, with its final answer held until released.
    fn held(mut self) -> Session {
        self.hold = true;
        self
    }
}

impl World {
    fn new(client: PathBuf) -> World {
        let sandbox = Sandbox::new();
        let home = sandbox.root().join("home");
        fs::create_dir_all(sandbox.root().join("tmp")).unwrap();
        fs::create_dir_all(&home).unwrap();
        install_hooks(&sandbox, &home);
        World {
            client,
            sandbox,
            home,
            api: MessagesApi::start(),
        }
    }

    /// A session named `marker` that writes `file_name` in the workspace.
    fn conversation(&self, marker: &str, file_name: &str) -> Session {
        Session {
            marker: format!("[session-lock-e2e:{marker}]"),
            file: self.sandbox.workspace.join(file_name),
            content: format!("written by {marker}\n"),
            hold: false,
        }
    }

    /// Starts `claude -p` for `session` in the workspace.
    fn run(&self, session: &Session) -> Running<'_> {
        let tool_use_id = self.api.add(Conversation {
            marker: session.marker.clone(),
            file_path: session.file.clone(),
            content: session.content.clone(),
            hold_final_answer: session.hold,
        });
        let prompt = format!(
            "{} Create {} containing {:?}.",
            session.marker,
            session.file.display(),
            session.content
        );
        let mut command = Command::new(&self.client);
        command
            .args(["-p", &prompt, "--allowedTools", "Write"])
            .args(["--output-format", "json"])
            // Only what the client needs: the caller's environment may be a Claude Code
            // session itself, and its proxies must not see loopback traffic.
            .env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or("/usr/bin:/bin".into()),
            )
            .env("HOME", &self.home)
            .env("CLAUDE_CONFIG_DIR", self.home.join(".claude"))
            .env("TMPDIR", self.sandbox.root().join("tmp"))
            .env("ANTHROPIC_BASE_URL", self.api.base_url())
            .env("ANTHROPIC_API_KEY", "sk-ant-stand-in")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("SESSION_LOCK_DIR", &self.sandbox.lock_dir)
            .current_dir(&self.sandbox.workspace);
        let process = Process::spawn(command).expect("start the client");
        Running {
            world: self,
            tool_use_id,
            process,
        }
    }
}

/// Registers the hooks in the workspace's project settings as a user would:
/// `session-lock install --scope project`, run in the workspace.
fn install_hooks(sandbox: &Sandbox, home: &Path) {
    let output = sandbox
        .command(&["install", "--scope", "project"])
        .current_dir(&sandbox.workspace)
        .env("HOME", home)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "session-lock install: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let settings = fs::read_to_string(sandbox.workspace.join(".claude/settings.json"))
        .expect("install wrote the project settings");
    let settings: Value = serde_json::from_str(&settings).unwrap();
    let command = settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap_or_default();
    // The binary's path may come quoted for `sh -c`.
    assert!(
        command.contains(BINARY.trim_end_matches("session-lock"))
            && command.ends_with(" hook --agent claude"),
        "the hook runs this binary: {settings}"
    );
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

/// A child in its own process group, killed with the group when dropped unfinished (a failed
/// assertion, a timeout), so no client or hook outlives the test.
struct Process {
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// What a finished process printed.
struct Exited {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Process {
    fn spawn(mut command: Command) -> std::io::Result<Process> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command.spawn()?;
        let drain = |mut pipe: Box<dyn Read + Send>| {
            thread::spawn(move || {
                let mut text = Vec::new();
                let _ = pipe.read_to_end(&mut text);
                String::from_utf8_lossy(&text).into_owned()
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        Ok(Process {
            child,
            stdout: Some(stdout),
            stderr: Some(stderr),
        })
    }

    /// Waits up to `timeout` for the exit; an error (the group killed) past it.
    fn wait(mut self, timeout: Duration) -> Result<Exited, String> {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                Ok(None) => {
                    self.kill();
                    return Err(format!("no exit within {timeout:?}; killed"));
                }
                Err(e) => return Err(format!("wait: {e}")),
            }
        };
        // Anything the client left running in its group may hold the pipes open: give it a
        // moment (hooks have their own 1 s deadline), then end it.
        let grace = Instant::now() + Duration::from_secs(5);
        let drained = |p: &Option<JoinHandle<String>>| p.as_ref().is_none_or(|p| p.is_finished());
        while !(drained(&self.stdout) && drained(&self.stderr)) && Instant::now() < grace {
            thread::sleep(Duration::from_millis(20));
        }
        if !(drained(&self.stdout) && drained(&self.stderr)) {
            self.kill_group();
        }
        let stdout = self.stdout.take().unwrap().join().unwrap_or_default();
        let stderr = self.stderr.take().unwrap().join().unwrap_or_default();
        Ok(Exited {
            status,
            stdout,
            stderr,
        })
    }

    fn kill(&mut self) {
        self.kill_group();
        let _ = self.child.wait();
    }

    fn kill_group(&self) {
        // SAFETY: kill(2) on the group this child leads; no memory is involved. The group
        // outlives its leader only while other members remain, so once the leader is reaped
        // this ends only leftovers of this child.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}
