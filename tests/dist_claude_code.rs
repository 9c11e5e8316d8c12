//! The Claude Code plugin for a person who has Node.js and no Rust, end to end with the real
//! client and the npm packages `cargo xtask dist` wrote, published to a real registry on
//! loopback (verdaccio):
//!
//! 1. in a fresh `HOME` whose `PATH` is npm's global `bin`, node's folder, `/usr/bin` and
//!    `/bin` (no `cargo`, no `rustc`, no `session-lock`), `claude plugin marketplace add` and
//!    `claude plugin install`;
//! 2. the first session: the plugin's hook answers with its message naming
//!    `npm install -g session-lock`, which the client shows the person (its `informational`
//!    events in `--output-format stream-json`), and nothing is locked;
//! 3. that command, exactly, against the registry (named in the home's `.npmrc`);
//! 4. two sessions: the first holds the lock inside its turn, the second's Write is refused by
//!    the plugin's hook, which ran the platform package's native binary, never the package's
//!    Node.js launcher (a `node` on `PATH` that notes each start is the witness).
//!
//! Without the dist artifacts or verdaccio, it prints "skipping: ..." and passes, except under
//! CI (`CI=true`), where it fails; without the Claude Code client it skips even there, as
//! tests/claude_code.rs does (`.ci/run` goes on when the registry refuses the client).

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
#[path = "support/npm_registry.rs"]
mod npm_registry;
#[path = "support/sandbox.rs"]
mod sandbox;

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use claude_client::{Exited, Process, client_command, find_client, install_plugin};
use messages_api::{Conversation, MessagesApi, ToolCall, ToolResult};
use npm_registry::{Registry, dist, path_without_rust, succeed, which};
use sandbox::Sandbox;
use serde_json::Value;

/// One `claude -p` run takes a few seconds here; this bounds a hung one.
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);

/// The command the plugin's message names, as the person types it.
const NPM_INSTALL: &str = "npm install -g session-lock";

/// The message every refused session gets, up to the holder's id.
const HELD_BY: &str = "parallel session lock held by ";

/// The person's machine: a fresh home, npm's global prefix, the `PATH`, the registry and the
/// stand-in model API.
struct Person {
    client: PathBuf,
    sandbox: Sandbox,
    home: PathBuf,
    prefix: PathBuf,
    path: String,
    /// Where the witness `node` notes each of its starts, one line of arguments each.
    node_starts: PathBuf,
    api: MessagesApi,
}

/// A `claude -p` session started on one Write.
struct Started {
    process: Process,
    tool_use_id: String,
    marker: String,
    file: PathBuf,
}

/// A finished session: its `stream-json` events and the Write's result.
struct Finished {
    events: Vec<Value>,
    tool_result: Option<ToolResult>,
}

impl Person {
    /// `claude -p` on a Write of `file_name` in the workspace, hook events in its stream; with
    /// `hold`, the stand-in keeps its final answer (so its Stop, which releases the lock, waits).
    fn start(&self, marker: &str, file_name: &str, hold: bool) -> Started {
        let marker = format!("[session-lock-dist:{marker}]");
        let file = self.sandbox.workspace.join(file_name);
        let tool_use_id = self.api.add(Conversation {
            marker: marker.clone(),
            call: ToolCall::Write {
                file_path: file.clone(),
                content: format!("written by {marker}\n"),
            },
            hold_final_answer: hold,
        });
        let prompt = format!("{marker} Create {}.", file.display());
        let mut command = client_command(&self.client, &self.home, Some(self.path.as_ref()));
        command
            .args(["-p", &prompt, "--allowedTools", "Write"])
            .args(["--output-format", "stream-json", "--verbose"])
            .arg("--include-hook-events")
            .env("TMPDIR", self.sandbox.root().join("tmp"))
            .env("ANTHROPIC_BASE_URL", self.api.base_url())
            .env("ANTHROPIC_API_KEY", "sk-ant-stand-in")
            .env("SESSION_LOCK_DIR", &self.sandbox.lock_dir)
            .current_dir(&self.sandbox.workspace);
        Started {
            process: Process::spawn(command).expect("start the client"),
            tool_use_id,
            marker,
            file,
        }
    }

    /// Waits for `started` to end its turn.
    fn finish(&self, started: Started) -> Finished {
        let done: Exited = started
            .process
            .wait(SESSION_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}; requests: {:?}", self.api.request_lines()));
        assert!(
            done.status.success(),
            "claude exited with {}: {}\n{}",
            done.status,
            done.stdout,
            done.stderr
        );
        let events: Vec<Value> = done
            .stdout
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        let result = events
            .iter()
            .find(|e| e["type"] == "result")
            .unwrap_or_else(|| panic!("no result event: {}", done.stdout));
        assert_eq!(
            (result["is_error"].as_bool(), result["result"].as_str()),
            (Some(false), Some("Done.")),
            "the turn ended with the stand-in's answer: {result}"
        );
        Finished {
            tool_result: self.api.tool_result(&started.tool_use_id),
            events,
        }
    }

    /// What the witness `node` was started for, so far.
    fn node_starts(&self) -> String {
        fs::read_to_string(&self.node_starts).unwrap_or_default()
    }
}

/// The stdout of each hook the client ran, in order, as its `hook_response` events say.
fn hook_answers(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["type"] == "system" && e["subtype"] == "hook_response")
        .map(|e| {
            (
                e["hook_event"].as_str().unwrap_or_default().to_owned(),
                e["stdout"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// What the client showed the person from the hooks' `systemMessage`s, in order.
fn shown_to_the_person(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "system" && e["subtype"] == "informational")
        .filter_map(|e| e["content"].as_str().map(str::to_owned))
        .collect()
}

/// A directory holding a `node` that notes its arguments in `log`, then runs the real node: the
/// npm launcher (`#!/usr/bin/env node`) cannot start without it showing.
fn witness_node(dir: &Path, log: &Path, real: &Path) -> PathBuf {
    let bin = dir.join("witness");
    fs::create_dir_all(&bin).unwrap();
    let node = bin.join("node");
    fs::write(
        &node,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&node, fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn with_node_and_no_rust_the_plugin_names_npm_install_and_after_it_the_second_session_is_refused() {
    let Some(dist) = dist() else { return };
    let client = match find_client() {
        Ok((client, _)) => client,
        // As in tests/claude_code.rs, even under CI=true: `.ci/run` goes on when the registry
        // refuses the client, and says so.
        Err(why) => {
            let _ = writeln!(
                std::io::stderr(),
                "skipping: {why} (`npm ci --ignore-scripts --prefix tests/claude-code`)"
            );
            return;
        }
    };
    let sandbox = Sandbox::new();
    let Some(registry) = Registry::start(sandbox.root()) else {
        return;
    };
    let root = sandbox.root().to_path_buf();
    let home = root.join("home");
    let prefix = root.join("npm-global");
    fs::create_dir_all(&home).unwrap();
    fs::create_dir_all(root.join("tmp")).unwrap();
    fs::create_dir_all(prefix.join("bin")).unwrap();

    // The release: every npm package of `dist` published, from a home of the publisher's own.
    let publisher = root.join("publisher");
    fs::create_dir_all(&publisher).unwrap();
    let publish_path = path_without_rust(&publisher);
    registry.publish(
        &dist,
        &publisher,
        &root.join("publisher-global"),
        &publish_path,
    );

    // The person: npm's global prefix and this registry in their `.npmrc`, its `bin` on PATH.
    fs::write(
        home.join(".npmrc"),
        format!(
            "registry={}\nprefix={}\nfund=false\naudit=false\nupdate-notifier=false\n",
            registry.url,
            prefix.display()
        ),
    )
    .unwrap();
    let node_starts = root.join("node-starts");
    let real_node = which("node").and_then(|p| p.canonicalize().ok()).unwrap();
    let witness = witness_node(&root, &node_starts, &real_node);
    let path = format!(
        "{}:{}",
        witness.display(),
        path_without_rust(&prefix.join("bin"))
    );
    for dir in std::env::split_paths(&OsString::from(&path)) {
        assert!(
            !dir.join("session-lock").exists(),
            "{} holds session-lock",
            dir.display()
        );
    }
    install_plugin(&client, &home, path.as_ref(), &root);
    let person = Person {
        client,
        sandbox,
        home,
        prefix,
        path,
        node_starts,
        api: MessagesApi::start(),
    };

    // The first session, before any install: each hook answers with the plugin's message,
    // which names the one command to run, and the Write goes on unlocked.
    let first = person.start("first", "first.txt", false);
    let first = person.finish(first);
    let answers = hook_answers(&first.events);
    let (event, stdout) = answers.first().unwrap_or_else(|| {
        panic!(
            "the client reported no hook: {}",
            serde_json::to_string(&first.events).unwrap()
        )
    });
    let shown: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("the {event} hook's answer is not JSON ({e}): {stdout}"));
    let message = shown["systemMessage"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("session-lock is not installed") && message.contains(NPM_INSTALL),
        "the {event} hook tells the person to run `{NPM_INSTALL}`: {shown}"
    );
    eprintln!("the {event} hook said: {message}");
    // And the client shows it to the person (`system`/`informational`: "<hook> says: ...").
    let seen = shown_to_the_person(&first.events);
    assert!(
        seen.iter().any(
            |line| line.contains("session-lock is not installed") && line.contains(NPM_INSTALL)
        ),
        "the client shows the message: {seen:?}"
    );
    let result = first.tool_result.expect("the Write's result was sent");
    assert!(!result.is_error, "the Write went on: {result:?}");
    assert!(
        person.sandbox.lock_record().is_none(),
        "nothing is locked before the install"
    );
    fs::remove_file(person.sandbox.workspace.join("first.txt")).unwrap();

    // Exactly the command the message names, with only the person's HOME and PATH.
    let said = succeed(
        Command::new("sh")
            .args(["-c", NPM_INSTALL])
            .env_clear()
            .env("HOME", &person.home)
            .env("PATH", &person.path)
            .current_dir(&person.home),
    );
    eprintln!(
        "{NPM_INSTALL}: {}",
        String::from_utf8_lossy(&said.stdout).trim()
    );
    let native = person
        .prefix
        .join("lib/node_modules/session-lock/node_modules/session-lock-linux-x64/bin/session-lock");
    assert!(native.is_file(), "npm installed the platform package");
    assert!(person.prefix.join("bin/session-lock").exists());
    let starts_before = person.node_starts();

    // Two sessions: the holder stays inside its turn, the second's Write is refused.
    let holder = person.start("holder", "holder.txt", true);
    let held = person
        .api
        .wait_for_tool_result(&holder.tool_use_id, SESSION_TIMEOUT)
        .unwrap_or_else(|| panic!("no holder result: {:?}", person.api.request_lines()));
    assert!(!held.is_error, "the holder's Write went through: {held:?}");
    assert!(holder.file.is_file(), "the holder wrote its file");
    let record = person
        .sandbox
        .lock_record()
        .expect("the holder's hook took the lock");
    let holder_id = record["session_id"].as_str().unwrap().to_owned();
    assert_eq!(record["pid"], holder.process.child.id(), "{record}");

    let second = person.start("second", "second.txt", false);
    let second_file = second.file.clone();
    let second = person.finish(second);
    let refused = second
        .tool_result
        .expect("the second Write's result was sent");
    assert!(
        refused.is_error && refused.text.contains(HELD_BY),
        "the plugin's hook refused the second Write: {refused:?}"
    );
    assert!(!second_file.exists(), "the refused Write wrote nothing");
    assert_eq!(person.sandbox.holder().as_deref(), Some(holder_id.as_str()));
    assert!(
        hook_answers(&second.events)
            .iter()
            .all(|(_, stdout)| !stdout.contains("not installed")),
        "no hook says it is missing any more"
    );
    assert!(
        shown_to_the_person(&second.events)
            .iter()
            .all(|line| !line.contains("not installed")),
        "nor does the client show it"
    );

    // Every hook ran the native binary: the witness `node` never started for session-lock.
    let starts = person.node_starts();
    let during = &starts[starts_before.len()..];
    assert!(
        !during.contains("session-lock"),
        "a hook started the Node.js launcher: {during}"
    );
    // And the witness would have seen it: the launcher on PATH does start it.
    succeed(
        Command::new("sh")
            .args(["-c", "session-lock --version"])
            .env_clear()
            .env("HOME", &person.home)
            .env("PATH", &person.path),
    );
    assert!(
        person.node_starts()[starts.len()..].contains("session-lock"),
        "the witness notes the launcher: {}",
        person.node_starts()
    );

    // The holder's turn ends; its Stop releases the lock.
    person.api.release(&holder.marker);
    person.finish(holder);
    assert_eq!(
        person.sandbox.lock_record(),
        None,
        "the holder's Stop released it"
    );
}
