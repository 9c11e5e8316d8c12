//! What a person sees of the locks: `status --all` (every lock in the store), `statusline`
//! (the agent's status line), and the decision log (`log`, `doctor`), each for a free
//! workspace, the session's own lock, another session's, a stale one and an unreadable record;
//! and the log under many concurrent hooks.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;
#[path = "support/sandbox.rs"]
mod sandbox;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Output, Stdio};
use std::thread;
use std::time::Duration;

use events::*;
use sandbox::*;
use serde_json::{Value, json};

/// Takes the sandbox's lock for `session` (a Write in its workspace); asserts it was allowed.
fn hold(sandbox: &Sandbox, session: &str, env: &[(&str, &str)]) {
    let event = claude_event("PreToolUse", session, Some("Write"), &sandbox.workspace);
    let output = sandbox.hook(&event, env);
    assert_eq!(deny_reason(&output), None, "{}", stderr_text(&output));
}

/// `session` ends its turn.
fn stop(sandbox: &Sandbox, session: &str) {
    let event = claude_event("Stop", session, None, &sandbox.workspace);
    assert!(sandbox.hook(&event, &[]).status.success());
}

fn text(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn status_all(sandbox: &Sandbox) -> (Output, Value) {
    let shown = sandbox.command(&["status", "--all"]).output().unwrap();
    let json = sandbox
        .command(&["status", "--all", "--json"])
        .output()
        .unwrap();
    let parsed: Value = serde_json::from_slice(&json.stdout).expect("one JSON object");
    assert_eq!(json.status.code(), shown.status.code());
    (shown, parsed)
}

/// `session-lock statusline` for `session`, given Claude Code's status line input naming
/// `dir`.
fn statusline(sandbox: &Sandbox, session: &str, dir: &std::path::Path) -> String {
    let input = json!({
        "hook_event_name": "Status",
        "session_id": session,
        "cwd": dir,
        "model": {"id": "claude-opus-4-1", "display_name": "Opus"},
        "workspace": {"current_dir": dir, "project_dir": dir},
        "version": "2.1.0",
    });
    let mut child = sandbox
        .command(&["statusline"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    feed(&mut child, input.to_string().as_bytes());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr_text(&output));
    text(&output)
}

/// The decision log's entries, as `log --json` prints them.
fn log_entries(sandbox: &Sandbox, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["log", "--json"];
    full.extend(args);
    let output = sandbox.command(&full).output().unwrap();
    assert!(output.status.success(), "{}", stderr_text(&output));
    text(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect()
}

fn decisions(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["decision"].as_str().unwrap())
        .collect()
}

/// `doctor`'s check of the decision log.
fn fail_open_check(sandbox: &Sandbox) -> Value {
    let doctor = sandbox.command(&["doctor", "--json"]).output().unwrap();
    let report: Value = serde_json::from_slice(&doctor.stdout).unwrap();
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "recent fail-opens")
        .expect("doctor reads the log")
        .clone()
}

fn log_path(sandbox: &Sandbox) -> std::path::PathBuf {
    sandbox.lock_dir.join("session-lock-decisions.jsonl")
}

#[test]
fn status_all_of_an_empty_store_lists_nothing() {
    let sandbox = Sandbox::new();
    let (shown, json) = status_all(&sandbox);
    assert_eq!(shown.status.code(), Some(0));
    assert!(text(&shown).starts_with("no locks in "), "{}", text(&shown));
    assert_eq!(json["locks"], json!([]));
    assert_eq!(json["error"], Value::Null);
}

#[test]
fn status_all_names_each_lock_its_workspace_holder_agent_and_timing() {
    let sandbox = Sandbox::new();
    hold(&sandbox, "session-A", &[("CLAUDE_PID", "4101")]);
    let (shown, json) = status_all(&sandbox);
    assert_eq!(shown.status.code(), Some(0));
    let line = text(&shown);
    let workspace = sandbox.workspace.to_str().unwrap();
    assert!(
        line.starts_with(&format!(
            "{workspace}: session-A (pid 4101, claude), held for "
        )),
        "{line}"
    );
    assert!(line.contains("fresh, frees in 4m"), "{line}");
    let lock = &json["locks"][0];
    assert_eq!(json["locks"].as_array().unwrap().len(), 1);
    assert_eq!(lock["key"], sandbox.key.as_str());
    assert_eq!(lock["workspace"], workspace);
    assert_eq!(lock["state"], "fresh");
    assert_eq!(lock["holder"]["session_id"], "session-A");
    assert_eq!(lock["holder"]["agent"], "claude");
    assert_eq!(lock["holder"]["pid"], 4101);
    assert!(lock["holder"]["expires_in_ms"].as_i64().unwrap() > 200_000);
}

#[test]
fn status_all_shows_a_stale_lock_and_an_older_record_by_its_key() {
    let sandbox = Sandbox::new();
    // A record as older versions wrote it: no workspace, no agent; and stale.
    sandbox.write_record("session-old", arena::now_ms() - 10_000, 1_000);
    let (shown, json) = status_all(&sandbox);
    assert_eq!(shown.status.code(), Some(0));
    let line = text(&shown);
    assert!(
        line.starts_with(&format!("lock {}: session-old", sandbox.key)),
        "{line}"
    );
    assert!(
        line.contains("stale for ") && line.contains("the next session takes it over"),
        "{line}"
    );
    let lock = &json["locks"][0];
    assert_eq!(lock["state"], "stale");
    assert_eq!(lock["workspace"], Value::Null);
    assert_eq!(lock["holder"]["agent"], Value::Null);
}

#[test]
fn status_all_shows_an_unreadable_record_as_such_and_exits_1() {
    let sandbox = Sandbox::new();
    hold(&sandbox, "session-A", &[]);
    let other = sandbox.lock_dir.join("session-lock-0123456789ab.json");
    fs::write(&other, b"{\"schema_version\":1,\"sess").unwrap();
    let (shown, json) = status_all(&sandbox);
    assert_eq!(shown.status.code(), Some(1));
    let out = text(&shown);
    assert!(
        out.contains("lock 0123456789ab: unreadable") && out.contains("release --force"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    let states: Vec<&str> = json["locks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["state"].as_str().unwrap())
        .collect();
    assert!(
        states.contains(&"unreadable") && states.contains(&"fresh"),
        "{states:?}"
    );
}

#[test]
fn status_all_with_a_workspace_is_refused() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .command(&["status", "--all", "--workspace", "/tmp"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn the_status_line_says_nothing_when_free() {
    let sandbox = Sandbox::new();
    assert_eq!(statusline(&sandbox, "session-A", &sandbox.workspace), "");
}

#[test]
fn the_status_line_tells_the_holder_it_holds_the_lock() {
    let sandbox = Sandbox::new();
    hold(&sandbox, "session-A", &[]);
    let line = statusline(&sandbox, "session-A", &sandbox.workspace);
    assert!(
        line.starts_with("🔒 lock: held by this session for "),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1);
}

#[test]
fn the_status_line_names_another_holder_and_when_it_frees() {
    let sandbox = Sandbox::new();
    hold(&sandbox, "0123456789abcdef-A", &[("CLAUDE_PID", "4101")]);
    // From a subdirectory of the workspace: the same lock.
    let sub = sandbox.workspace.join("src");
    fs::create_dir_all(&sub).unwrap();
    let line = statusline(&sandbox, "session-B", &sub);
    assert!(
        line.starts_with("⛔ lock: held by 01234567 (claude, pid 4101), frees in 4m"),
        "{line}"
    );
    assert!(line.trim_end().ends_with("at the latest"), "{line}");
}

#[test]
fn the_status_line_says_nothing_of_a_stale_lock() {
    let sandbox = Sandbox::new();
    sandbox.write_record("session-A", arena::now_ms() - 10_000, 1_000);
    assert_eq!(statusline(&sandbox, "session-B", &sandbox.workspace), "");
}

#[test]
fn the_status_line_warns_of_an_unreadable_record() {
    let sandbox = Sandbox::new();
    fs::create_dir_all(&sandbox.lock_dir).unwrap();
    fs::write(sandbox.record_path(), b"garbage").unwrap();
    let line = statusline(&sandbox, "session-B", &sandbox.workspace);
    assert!(line.contains("unreadable"), "{line}");
}

#[test]
fn the_log_keeps_taken_refused_and_released_but_no_refresh() {
    let sandbox = Sandbox::new();
    assert_eq!(log_entries(&sandbox, &[]), Vec::<Value>::new());
    hold(&sandbox, "session-A", &[("CLAUDE_PID", "4101")]);
    // The holder writing again: a refresh, not logged.
    hold(&sandbox, "session-A", &[("CLAUDE_PID", "4101")]);
    let post = claude_event(
        "PostToolUse",
        "session-A",
        Some("Write"),
        &sandbox.workspace,
    );
    assert!(
        sandbox
            .hook(&post, &[("CLAUDE_PID", "4101")])
            .status
            .success()
    );
    let event = claude_event("PreToolUse", "session-B", Some("Write"), &sandbox.workspace);
    assert!(deny_reason(&sandbox.hook(&event, &[])).is_some());
    stop(&sandbox, "session-A");
    let entries = log_entries(&sandbox, &[]);
    assert_eq!(decisions(&entries), ["taken", "refused", "released"]);
    let workspace = sandbox.workspace.to_str().unwrap();
    assert!(
        entries.iter().all(|e| e["workspace"] == workspace),
        "{entries:?}"
    );
    let refused = &entries[1];
    assert_eq!(refused["session"], "session-B");
    assert_eq!(refused["holder"]["session"], "session-A");
    assert_eq!(refused["holder"]["pid"], 4101);
    assert_eq!(refused["tool"], "Write");
    let shown = text(&sandbox.command(&["log"]).output().unwrap());
    assert!(
        shown.contains("session-B (claude) was refused Write in "),
        "{shown}"
    );
    let mode = fs::metadata(log_path(&sandbox))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn the_log_says_why_a_lock_was_taken_over() {
    let sandbox = Sandbox::new();
    sandbox.write_record("session-A", arena::now_ms() - 10_000, 1_000);
    hold(&sandbox, "session-B", &[]);
    let entries = log_entries(&sandbox, &[]);
    assert_eq!(decisions(&entries), ["taken-over"]);
    assert_eq!(entries[0]["why"], "stale");
    assert_eq!(entries[0]["holder"]["session"], "session-A");
}

#[test]
fn the_log_keeps_each_fail_open_with_its_reason_and_doctor_reports_it() {
    let sandbox = Sandbox::new();
    fs::create_dir_all(&sandbox.lock_dir).unwrap();
    fs::write(sandbox.record_path(), b"garbage").unwrap();
    let event = claude_event("PreToolUse", "session-B", Some("Write"), &sandbox.workspace);
    let output = sandbox.hook(&event, &[]);
    assert_eq!(deny_reason(&output), None);
    let entries = log_entries(&sandbox, &[]);
    assert_eq!(decisions(&entries), ["fail-open"]);
    let why = entries[0]["why"].as_str().unwrap();
    assert!(why.contains("not valid schema-1 JSON"), "{why}");
    let check = fail_open_check(&sandbox);
    assert_eq!(check["ok"], false);
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("1 call(s) let through") && detail.contains("schema-1"),
        "{detail}"
    );
}

#[test]
fn doctor_passes_the_log_check_without_fail_opens() {
    let sandbox = Sandbox::new();
    hold(&sandbox, "session-A", &[]);
    let check = fail_open_check(&sandbox);
    assert_eq!(check["ok"], true, "{check}");
}

#[test]
fn since_keeps_only_recent_decisions() {
    let sandbox = Sandbox::new();
    fs::create_dir_all(&sandbox.lock_dir).unwrap();
    let old = json!({"at": 1_000, "time": "1970-01-01T00:00:01Z", "decision": "taken",
        "message": "an old decision"});
    fs::write(log_path(&sandbox), format!("{old}\n")).unwrap();
    hold(&sandbox, "session-A", &[]);
    assert_eq!(decisions(&log_entries(&sandbox, &[])), ["taken", "taken"]);
    assert_eq!(
        decisions(&log_entries(&sandbox, &["--since", "1h"])),
        ["taken"]
    );
    let bad = sandbox
        .command(&["log", "--since", "soon"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn follow_prints_decisions_as_they_are_made() {
    let sandbox = Sandbox::new();
    hold(&sandbox, "session-A", &[]);
    let mut follower = sandbox
        .command(&["log", "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(500));
    let event = claude_event("PreToolUse", "session-B", Some("Write"), &sandbox.workspace);
    assert!(deny_reason(&sandbox.hook(&event, &[])).is_some());
    thread::sleep(Duration::from_millis(800));
    follower.kill().unwrap();
    let output = follower.wait_with_output().unwrap();
    let shown = text(&output);
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 2, "{shown}");
    assert!(
        lines[0].contains("session-A (claude) took the lock"),
        "{shown}"
    );
    assert!(
        lines[1].contains("session-B (claude) was refused"),
        "{shown}"
    );
}

/// Many hooks refused at once, each appending a line: every line arrives whole, and every
/// refusal a hook answered is in the log. (A hook the 1 s deadline cut short under this
/// machine's load answered nothing of the component's, so it logged nothing.)
#[test]
fn concurrent_hooks_never_tear_or_lose_a_line() {
    const WAVES: usize = 3;
    const AT_ONCE: usize = 16;
    let sandbox = Sandbox::new();
    hold(&sandbox, "session-A", &[]);
    // Long session ids make long lines, so a torn or mixed write would show.
    let mut refused_by_answer = Vec::new();
    for wave in 0..WAVES {
        let mut children: Vec<_> = (0..AT_ONCE)
            .map(|i| {
                let session = format!("session-{wave}-{i:02}-{}", "x".repeat(100));
                let event = claude_event("PreToolUse", &session, Some("Write"), &sandbox.workspace);
                (sandbox.spawn_hook(&[]), event, session)
            })
            .collect();
        for (child, event, _) in &mut children {
            feed(child, event.to_string().as_bytes());
        }
        for (child, _, session) in children {
            let output = child.wait_with_output().unwrap();
            if deny_reason(&output).is_some() {
                refused_by_answer.push(session);
            }
        }
    }
    assert!(
        refused_by_answer.len() >= WAVES * AT_ONCE / 2,
        "too few hooks answered in time to test anything: {}",
        refused_by_answer.len()
    );
    let raw = fs::read_to_string(log_path(&sandbox)).unwrap();
    let lines: Vec<Value> = raw
        .lines()
        .map(|line| serde_json::from_str(line).expect("no torn line"))
        .collect();
    assert_eq!(lines[0]["decision"], "taken");
    let mut refused: Vec<String> = lines[1..]
        .iter()
        .map(|l| {
            assert_eq!(l["decision"], "refused");
            l["session"].as_str().unwrap().to_owned()
        })
        .collect();
    refused.sort();
    refused_by_answer.sort();
    assert_eq!(refused, refused_by_answer);
}

/// A full log is rotated to one older file; nothing written meanwhile is lost.
#[test]
fn a_full_log_rotates_and_stays_bounded() {
    let sandbox = Sandbox::new();
    fs::create_dir_all(&sandbox.lock_dir).unwrap();
    let filler = json!({"at": 1, "time": "t", "decision": "taken", "message": "x".repeat(1000)});
    let big = format!("{filler}\n").repeat(1100);
    fs::write(log_path(&sandbox), &big).unwrap();
    hold(&sandbox, "session-A", &[]);
    let rotated = sandbox.lock_dir.join("session-lock-decisions.1.jsonl");
    assert_eq!(fs::read_to_string(&rotated).unwrap(), big);
    let current = fs::read_to_string(log_path(&sandbox)).unwrap();
    assert_eq!(current.lines().count(), 1, "{current}");
    // Both files are read, oldest first.
    let entries = log_entries(&sandbox, &[]);
    assert_eq!(entries.len(), 1101);
    assert_eq!(entries[1100]["session"], "session-A");
}

/// A log that cannot be written changes no answer.
#[test]
fn a_log_that_cannot_be_written_changes_no_answer() {
    let sandbox = Sandbox::new();
    fs::create_dir_all(log_path(&sandbox)).unwrap();
    hold(&sandbox, "session-A", &[]);
    let event = claude_event("PreToolUse", "session-B", Some("Write"), &sandbox.workspace);
    let output = sandbox.hook(&event, &[]);
    assert!(deny_reason(&output).is_some());
    assert_eq!(stderr_text(&output), "");
}
