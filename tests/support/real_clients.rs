//! The real Codex CLI and Gemini CLI clients, as the npm packages pinned in `tests/codex-cli/`
//! and `tests/gemini-cli/` install them (`npm ci --ignore-scripts --prefix tests/<client>`),
//! each found once per test binary. Where one is not installed or cannot run, its tests say
//! `skipping: …` and pass, except under CI (`CI=true`), where they fail: CI installs both, so a
//! skip there would only hide a broken set-up.

#![allow(
    dead_code,
    reason = "each test file uses its own part of the shared helpers"
)]

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::claude_client::Process;

/// A client ready to run: a program, the arguments that come before the client's own, and the
/// version it reported.
#[derive(Debug, Clone)]
pub struct Client {
    /// The executable.
    pub program: PathBuf,
    /// Arguments before the client's own (the script, for a Node client).
    pub leading: Vec<OsString>,
    /// What `--version` printed.
    pub version: String,
}

impl Client {
    /// `client ARGS…` with an empty environment but `PATH` and `HOME`: the caller may itself
    /// be an agent session, and nothing of it may reach the client under test.
    pub fn command(&self, home: &Path) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.leading)
            .env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or("/usr/bin:/bin".into()),
            )
            .env("HOME", home);
        command
    }
}

/// The repository's `tests/<name>/` folder, where a client is pinned.
fn pinned_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("tests")
        .join(name)
}

/// Codex CLI, found once for all tests; `None` (after saying why, once) to skip.
pub fn codex() -> Option<Client> {
    static CLIENT: OnceLock<Option<Client>> = OnceLock::new();
    CLIENT
        .get_or_init(|| settle("codex-cli", find_codex()))
        .clone()
}

/// Gemini CLI, found once for all tests; `None` (after saying why, once) to skip.
pub fn gemini() -> Option<Client> {
    static CLIENT: OnceLock<Option<Client>> = OnceLock::new();
    CLIENT
        .get_or_init(|| settle("gemini-cli", find_gemini()))
        .clone()
}

/// Says which client runs, or why its tests skip; under CI a missing client fails the test.
fn settle(name: &str, found: Result<Client, String>) -> Option<Client> {
    let line = match &found {
        Ok(client) => format!("{name}: {} at {}", client.version, client.program.display()),
        Err(why) => {
            let line = format!(
                "skipping: {why} (install it with `npm ci --ignore-scripts --prefix tests/{name}`)"
            );
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true and the real client is missing, so its tests would not run: {line}"
            );
            line
        }
    };
    // Straight to stderr: the harness captures `eprintln!` of passing tests, and a skip must
    // show in CI's log.
    let _ = writeln!(std::io::stderr(), "{line}");
    found.ok()
}

/// The binary of the platform package (`@openai/codex-<platform>`): npm's `bin` entry is a
/// Node launcher that only looks for it.
fn find_codex() -> Result<Client, String> {
    let modules = pinned_dir("codex-cli").join("node_modules/@openai");
    let mut candidates = Vec::new();
    for package in fs::read_dir(&modules).into_iter().flatten().flatten() {
        let vendor = package.path().join("vendor");
        for triple in fs::read_dir(&vendor).into_iter().flatten().flatten() {
            candidates.push(triple.path().join("bin/codex"));
        }
    }
    candidates.sort();
    let client = |program: &PathBuf| Client {
        program: program.clone(),
        leading: Vec::new(),
        version: String::new(),
    };
    probe(
        "Codex CLI",
        &modules,
        candidates.iter().map(client).collect(),
        "codex-cli ",
    )
}

/// The bundle, run with the `node` on `PATH`.
fn find_gemini() -> Result<Client, String> {
    let package = pinned_dir("gemini-cli").join("node_modules/@google/gemini-cli");
    let script = package.join("bundle/gemini.js");
    let candidates = if script.exists() {
        vec![Client {
            program: "node".into(),
            leading: vec![script.into_os_string()],
            version: String::new(),
        }]
    } else {
        Vec::new()
    };
    probe("Gemini CLI", &package, candidates, "")
}

/// The first candidate whose `--version` succeeds and starts with `prefix`.
fn probe(
    label: &str,
    location: &Path,
    candidates: Vec<Client>,
    prefix: &str,
) -> Result<Client, String> {
    let mut tried = Vec::new();
    for mut client in candidates {
        let mut command = Command::new(&client.program);
        command.args(&client.leading).arg("--version");
        let run = Process::spawn(command)
            .map_err(|e| e.to_string())
            .and_then(|p| p.wait(Duration::from_secs(30)));
        match run {
            Ok(done) if done.status.success() && done.stdout.starts_with(prefix) => {
                client.version = done.stdout.trim().to_owned();
                return Ok(client);
            }
            Ok(done) => tried.push(format!(
                "{} --version: {} {}",
                client.program.display(),
                done.status,
                done.stderr.lines().next().unwrap_or_default()
            )),
            Err(e) => tried.push(format!("{}: {e}", client.program.display())),
        }
    }
    if tried.is_empty() {
        Err(format!(
            "{label} is not installed in {}",
            location.display()
        ))
    } else {
        Err(format!("{label} cannot run here: {}", tried.join("; ")))
    }
}
