//! The real Claude Code client, as the npm package pinned in `tests/claude-code/` installs it
//! (`npm ci --ignore-scripts --prefix tests/claude-code`), found once per test binary, and a
//! child process that never outlives its test. Shared by `tests/claude_code.rs` and
//! `tests/plugin.rs`; the other real clients' tests use its [`Process`].

#![allow(
    dead_code,
    reason = "each test file uses its own part of the shared helpers"
)]

use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The pinned npm install of the client, `tests/claude-code/` beside `host/`.
pub fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("tests/claude-code")
}

/// The repository under test: the root of this checkout (`host/`'s parent), where the
/// marketplace lies.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The plugin as this repository's marketplace lists it (`.claude-plugin/marketplace.json`).
pub const PLUGIN: &str = "session-lock@session-lock";

/// Installs this repository's plugin in the client's fresh `home` as a user would, run in
/// `cwd` with `path` as `PATH`: the repository as a marketplace, then the plugin from it.
/// Asserts that the plugin is enabled and that no settings file of the user registers a hook.
pub fn install_plugin(client: &Path, home: &Path, path: &std::ffi::OsStr, cwd: &Path) {
    let step = |args: &[&str]| {
        let mut command = client_command(client, home, Some(path));
        command.args(["plugin"]).args(args).current_dir(cwd);
        run_ok(command, Duration::from_secs(45))
    };
    step(&["marketplace", "add", repository().to_str().unwrap()]);
    step(&["install", PLUGIN]);
    let settings: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(home.join(".claude/settings.json")).unwrap())
            .unwrap();
    assert_eq!(
        settings["enabledPlugins"][PLUGIN], true,
        "the plugin is enabled: {settings}"
    );
    assert!(
        settings.get("hooks").is_none(),
        "no hook in the user's settings: {settings}"
    );
}

/// `client ARGS…` with only what the client needs in its environment, a fresh `home` as its
/// home and configuration folder, and no traffic but what a test points it at. (The caller's
/// environment may be a Claude Code session itself, and its proxies must not see loopback
/// traffic.) `PATH` is the caller's unless `path` is given.
pub fn client_command(client: &Path, home: &Path, path: Option<&std::ffi::OsStr>) -> Command {
    let mut command = Command::new(client);
    let path = path
        .map(ToOwned::to_owned)
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or("/usr/bin:/bin".into());
    command
        .env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("CLAUDE_CONFIG_DIR", home.join(".claude"))
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1");
    command
}

/// Runs `command` to its end (killed after `timeout`) and asserts that it succeeded; its
/// stdout.
pub fn run_ok(command: Command, timeout: Duration) -> String {
    let shown = format!("{command:?}");
    let done = Process::spawn(command)
        .and_then(|p| p.wait(timeout).map_err(std::io::Error::other))
        .unwrap_or_else(|e| panic!("{shown}: {e}"));
    assert!(
        done.status.success(),
        "{shown}: {}\n{}\n{}",
        done.status,
        done.stdout,
        done.stderr
    );
    done.stdout
}

/// The client to run, found once for all tests; `None` (after saying why, once) to skip.
pub fn client() -> Option<PathBuf> {
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
pub fn find_client() -> Result<(PathBuf, String), String> {
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

/// A child in its own process group, killed with the group when dropped unfinished (a failed
/// assertion, a timeout), so no client or hook outlives the test.
pub struct Process {
    pub child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// What a finished process printed.
pub struct Exited {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Process {
    pub fn spawn(mut command: Command) -> std::io::Result<Process> {
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
    pub fn wait(mut self, timeout: Duration) -> Result<Exited, String> {
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

    pub fn kill(&mut self) {
        self.kill_group();
        let _ = self.child.wait();
    }

    pub fn kill_group(&self) {
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
