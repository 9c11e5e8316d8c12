//! Read-only coverage against the real Claude Code client: of the shell commands Claude Code
//! itself runs without asking, how many session-lock lets run without the lock.
//!
//! ```console
//! $ npm ci --ignore-scripts --no-audit --no-fund --prefix tests/claude-code
//! $ cargo run --release -p session-lock --example claude_code_coverage [-- --record]
//! ```
//!
//! Every command of `tests/shell-conformance/claude-code.json` is sent to the pinned client
//! (`claude -p`, its default permission mode, no tool allowed beforehand) by a stand-in for the
//! Messages API as a `Bash` tool call, many calls per session. A call Claude Code deems
//! read-only runs; any other is listed in the result's `permission_denials`. The same command
//! goes through the component's `hook.explain`, as the hook would classify it. The run prints
//! every disagreement, the commands whose recorded verdict is not what the client said now,
//! the coverage figure, and how many commands that change the workspace session-lock passed.
//! `--record` writes the client's verdicts into the corpus, where the ordinary tests check the
//! classifier against them without the client.

#[path = "../../tests/support/claude_client.rs"]
mod claude_client;
#[path = "../../tests/support/loopback_http.rs"]
mod loopback_http;
#[path = "../../tests/support/messages_api.rs"]
mod messages_api;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use claude_client::{Process, client_command, find_client, repository};
use messages_api::{MessagesApi, ToolCall};
use serde_json::{Map, Value, json};
use session_lock::component::Policy;
use session_lock::fs_store::FsLockStore;

/// The corpus, from the repository root.
const CORPUS: &str = "tests/shell-conformance/claude-code.json";

/// Commands per client session: each is one turn, so a session stays well inside its timeout.
const BATCH: usize = 40;

/// A whole session of [`BATCH`] turns; the commands that run are quick (and cut after
/// [`COMMAND_TIMEOUT_MS`]).
const SESSION_TIMEOUT: Duration = Duration::from_secs(600);

/// Claude Code's own cut for one command (`BASH_DEFAULT_TIMEOUT_MS`), for `tail -f` and the
/// like.
const COMMAND_TIMEOUT_MS: &str = "3000";

/// What Claude Code did with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClaudeVerdict {
    /// Ran it without asking: its read-only validation accepted it.
    Runs,
    /// Would have asked (`-p` mode: refused and listed in `permission_denials`).
    Asks,
}

impl ClaudeVerdict {
    fn as_str(self) -> &'static str {
        match self {
            ClaudeVerdict::Runs => "runs",
            ClaudeVerdict::Asks => "asks",
        }
    }

    fn parse(text: &str) -> Option<ClaudeVerdict> {
        match text {
            "runs" => Some(ClaudeVerdict::Runs),
            "asks" => Some(ClaudeVerdict::Asks),
            _ => None,
        }
    }
}

fn main() -> anyhow::Result<()> {
    let record = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--record") => true,
        Some(other) => bail!("unknown argument {other:?} (only --record)"),
    };
    let corpus_path = repository().join(CORPUS);
    let mut corpus: Value = serde_json::from_str(
        &fs::read_to_string(&corpus_path)
            .with_context(|| format!("reading {}", corpus_path.display()))?,
    )
    .with_context(|| format!("{CORPUS} is not JSON"))?;
    let commands: Vec<String> = corpus["commands"]
        .as_array()
        .context("`commands` is a list")?
        .iter()
        .map(|e| e["command"].as_str().map(str::to_owned))
        .collect::<Option<_>>()
        .context("every entry has a `command` string")?;

    let (client, version) = find_client().map_err(anyhow::Error::msg)?;
    eprintln!("{version} at {}", client.display());
    let workspace = Workspace::new()?;
    let measured = measure(&client, &workspace, &commands)?;

    let mut policy = Policy::load(FsLockStore::new(workspace.root.join("locks")))?;
    let mut report = Report::default();
    for (entry, command) in corpus["commands"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(&commands)
    {
        let claude = measured[command];
        let verdict = policy.explain(command)?;
        let recorded = entry["claude_code"].as_str().and_then(ClaudeVerdict::parse);
        if recorded != Some(claude) {
            report.stale.push(format!(
                "{command:?}: recorded {}, measured {}",
                recorded.map_or("nothing", ClaudeVerdict::as_str),
                claude.as_str()
            ));
        }
        let writes = entry["writes"].as_bool().unwrap_or(false);
        report.add(command, claude, verdict.read_only, &verdict.why, writes);
        if record {
            entry
                .as_object_mut()
                .context("an entry is an object")?
                .insert("claude_code".into(), claude.as_str().into());
        }
    }
    report.print(&version);
    if record {
        fs::write(&corpus_path, render(&corpus)?)?;
        eprintln!("recorded the client's verdicts in {CORPUS}");
    }
    Ok(())
}

/// A git repository holding the files the corpus's commands name, so that the commands the
/// client runs do what they would in a real project.
struct Workspace {
    root: PathBuf,
    repo: PathBuf,
    home: PathBuf,
}

impl Workspace {
    fn new() -> anyhow::Result<Workspace> {
        let root = std::env::temp_dir().join(format!("claude-coverage-{}", std::process::id()));
        let repo = root.join("project");
        let home = root.join("home");
        for dir in [&repo, &home, &repo.join("src"), &repo.join("tests")] {
            fs::create_dir_all(dir)?;
        }
        let files: &[(&str, &str)] = &[
            ("README.md", "# project\nTODO: write more\n"),
            ("Cargo.toml", "[package]\nname = \"project\"\n"),
            (
                "src/main.rs",
                "fn main() {\n    let x: Option<u8> = None;\n    x.unwrap();\n}\n",
            ),
            ("tests/it.rs", "#[test]\nfn works() {}\n"),
            (
                "app.log",
                "start\nwarning: slow\nerror: failed\nWARNING: again\n",
            ),
            ("names.txt", "carol\nalice\nbob\nalice\n"),
            ("numbers.txt", "3\n1\n2\n"),
            ("data.csv", "a,1\nb,2\n"),
            ("a.txt", "one\ntwo\n"),
            ("b.txt", "one\nthree\n"),
            (
                "package.json",
                "{\"name\": \"project\", \"version\": \"1.0.0\", \"scripts\": {}, \
                 \"dependencies\": {\"x\": \"1\"}}\n",
            ),
            ("data.json", "[{\"name\": \"a\"}, {\"name\": \"b\"}]\n"),
            ("run.sh", "#!/bin/sh\necho run\n"),
        ];
        for (name, text) in files {
            fs::write(repo.join(name), text)?;
        }
        for args in [
            &["init", "-q", "-b", "main"][..],
            &["add", "."],
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@e",
                "commit",
                "-qm",
                "first",
            ],
        ] {
            let status = Command::new("git")
                .args(args)
                .current_dir(&repo)
                .env("HOME", &home)
                .status()?;
            if !status.success() {
                bail!("git {args:?}: {status}");
            }
        }
        Ok(Workspace { root, repo, home })
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Claude Code's verdict on every command, from sessions of [`BATCH`] calls each.
fn measure(
    client: &Path,
    workspace: &Workspace,
    commands: &[String],
) -> anyhow::Result<HashMap<String, ClaudeVerdict>> {
    let api = MessagesApi::start();
    let mut verdicts = HashMap::new();
    for (n, batch) in commands.chunks(BATCH).enumerate() {
        let marker = format!("[claude-code-coverage:{n}]");
        let calls = batch
            .iter()
            .map(|command| ToolCall::Bash {
                command: command.clone(),
            })
            .collect();
        let ids = api.add_calls(&marker, calls);
        let mut command = client_command(client, &workspace.home, None);
        command
            .args(["-p", &format!("{marker} Run the commands I give you.")])
            .args(["--output-format", "json"])
            .env("ANTHROPIC_BASE_URL", api.base_url())
            .env("ANTHROPIC_API_KEY", "sk-ant-stand-in")
            .env("BASH_DEFAULT_TIMEOUT_MS", COMMAND_TIMEOUT_MS)
            .env("TMPDIR", &workspace.root)
            .current_dir(&workspace.repo);
        let done = Process::spawn(command)?
            .wait(SESSION_TIMEOUT)
            .map_err(anyhow::Error::msg)?;
        let outcome: Value = serde_json::from_str(&done.stdout).with_context(|| {
            format!(
                "the client's result is not JSON: {}\n{}",
                done.stdout, done.stderr
            )
        })?;
        let denied: Vec<&str> = outcome["permission_denials"]
            .as_array()
            .map(|d| d.iter().filter_map(|d| d["tool_use_id"].as_str()).collect())
            .unwrap_or_default();
        for (command, id) in batch.iter().zip(&ids) {
            let result = api.tool_result(id).with_context(|| {
                format!("session {n}: no tool_result for {command:?}; the client said {outcome}")
            })?;
            let verdict = if denied.contains(&id.as_str()) {
                ClaudeVerdict::Asks
            } else if result.is_error && is_permission_error(&result.text) {
                // Refused without a denial entry: still not run without asking.
                ClaudeVerdict::Asks
            } else {
                ClaudeVerdict::Runs
            };
            verdicts.insert(command.clone(), verdict);
        }
        eprintln!(
            "session {n}: {} commands, {} denied",
            batch.len(),
            denied.len()
        );
    }
    Ok(verdicts)
}

/// Whether a tool result is the client's refusal rather than the command's own failure.
fn is_permission_error(text: &str) -> bool {
    text.contains("requested permissions") || text.contains("haven't granted")
}

/// The comparison, as it is printed.
#[derive(Default)]
struct Report {
    runs: usize,
    runs_and_passes: usize,
    writes: usize,
    writes_passed: Vec<String>,
    /// Claude Code runs it; session-lock needs the lock.
    refused: Vec<String>,
    /// Claude Code asks; session-lock passes it.
    passed: Vec<String>,
    /// Recorded verdicts the client no longer gives.
    stale: Vec<String>,
}

impl Report {
    fn add(&mut self, command: &str, claude: ClaudeVerdict, read_only: bool, why: &str, w: bool) {
        if claude == ClaudeVerdict::Runs {
            self.runs += 1;
            if read_only {
                self.runs_and_passes += 1;
            } else {
                self.refused.push(format!("{command:?}: {why}"));
            }
        } else if read_only {
            self.passed.push(format!("{command:?}: {why}"));
        }
        if w {
            self.writes += 1;
            if read_only {
                self.writes_passed.push(format!("{command:?}: {why}"));
            }
        }
    }

    fn print(&self, version: &str) {
        let list = |title: &str, lines: &[String]| {
            println!("{title}: {}", lines.len());
            for line in lines {
                println!("  {line}");
            }
        };
        list(
            "Claude Code runs without asking, session-lock needs the lock",
            &self.refused,
        );
        list(
            "Claude Code asks, session-lock runs without the lock",
            &self.passed,
        );
        list("recorded verdicts that changed", &self.stale);
        list(
            "commands that change the workspace passed",
            &self.writes_passed,
        );
        println!(
            "coverage: {} of the {} commands {version} runs without asking pass without the \
             lock ({:.1}%); {} of {} commands that change the workspace pass",
            self.runs_and_passes,
            self.runs,
            100.0 * self.runs_and_passes as f64 / self.runs.max(1) as f64,
            self.writes_passed.len(),
            self.writes,
        );
    }
}

/// The corpus as JSON with one entry per line, as it is kept in the repository.
fn render(corpus: &Value) -> anyhow::Result<String> {
    let mut out = String::from("{");
    let object = corpus.as_object().context("the corpus is an object")?;
    for (i, (key, value)) in object.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n ");
        }
        out.push_str(&json!(key).to_string());
        out.push_str(": ");
        match (key.as_str(), value) {
            ("commands", Value::Array(entries)) => {
                out.push_str("[\n");
                let lines: Vec<String> = entries
                    .iter()
                    .map(|e| format!("  {}", entry_line(e)))
                    .collect();
                out.push_str(&lines.join(",\n"));
                out.push_str("\n]");
            }
            _ => out.push_str(&value.to_string()),
        }
    }
    out.push_str("}\n");
    Ok(out)
}

/// One entry on one line, `{"command": …, "claude_code": …, …}`.
fn entry_line(entry: &Value) -> String {
    let fields: Vec<String> = ordered(entry)
        .iter()
        .map(|(key, value)| format!("{}: {value}", json!(key)))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

/// An entry's fields in the corpus's order: the command first, the reason for a kept
/// disagreement last.
fn ordered(entry: &Value) -> Map<String, Value> {
    let mut fields = Map::new();
    for key in ["command", "claude_code", "writes", "differs"] {
        if let Some(value) = entry.get(key) {
            fields.insert(key.into(), value.clone());
        }
    }
    if let Some(object) = entry.as_object() {
        for (key, value) in object {
            if !fields.contains_key(key) {
                fields.insert(key.clone(), value.clone());
            }
        }
    }
    fields
}
