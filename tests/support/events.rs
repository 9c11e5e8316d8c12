//! Hook events as the tests build them, handed to a hook process, and its answers as they read
//! them: one copy for every test file and the soak example.

#![allow(
    dead_code,
    reason = "each test file uses its own part of the shared helpers"
)]

use std::io::Write;
use std::path::Path;
use std::process::{Child, Output};

use serde_json::{Value, json};

/// A Claude Code hook event in `cwd`; with a `tool`, a `Write` of `notes.md` as its input.
pub fn claude_event(name: &str, session: &str, tool: Option<&str>, cwd: &Path) -> Value {
    let mut event = json!({
        "session_id": session,
        "transcript_path": format!("/home/u/.claude/projects/p/{session}.jsonl"),
        "cwd": cwd,
        "permission_mode": "default",
        "hook_event_name": name,
    });
    if let Some(tool) = tool {
        event["tool_name"] = json!(tool);
        event["tool_input"] = json!({"file_path": cwd.join("notes.md"), "content": "hello"});
        event["tool_use_id"] = json!("toolu_01ABC");
    }
    event
}

/// Writes `event` to the child's stdin and closes it. A child that already exited is not an
/// error here: its output tells what happened.
pub fn feed(child: &mut Child, event: &[u8]) {
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let _ = stdin.write_all(event);
}

/// stderr as text.
pub fn stderr_text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The deny reason in a Claude Code answer, or `None` when the answer allows; asserts that the
/// hook exited 0 and that any answer is a deny.
pub fn deny_reason(output: &Output) -> Option<String> {
    assert!(
        output.status.success(),
        "hook exit code: {:?}",
        output.status
    );
    if output.stdout.is_empty() {
        return None;
    }
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    // Allowed without the lock, with a warning for the person.
    if answer["systemMessage"].is_string() {
        return None;
    }
    let specific = &answer["hookSpecificOutput"];
    assert_eq!(specific["permissionDecision"], "deny", "{answer}");
    Some(specific["permissionDecisionReason"].as_str()?.to_owned())
}

/// How a Claude Code hook answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Exit 0, nothing on stdout.
    Allow,
    /// Exit 0, allowed without the lock, with this warning shown to the person.
    FailedOpen(String),
    /// Exit 0, a PreToolUse deny naming this holder.
    Deny(String),
    /// Exit 0, a PreToolUse deny saying the lock is being taken right now: retry (the store
    /// was busy).
    Busy,
    /// Anything else (a failed process, an answer that is not the Claude Code form).
    Invalid(String),
}

/// Reads a Claude Code hook's answer, never panicking (the race and crash tests tally them).
pub fn answer(output: &Output) -> Answer {
    if !output.status.success() {
        return Answer::Invalid(format!("exit status {:?}", output.status));
    }
    if output.stdout.is_empty() {
        return Answer::Allow;
    }
    let parsed: Option<Value> = serde_json::from_slice(&output.stdout).ok();
    if let Some(warning) = parsed.as_ref().and_then(|v| v["systemMessage"].as_str()) {
        return Answer::FailedOpen(warning.to_owned());
    }
    let specific = parsed.as_ref().map(|v| &v["hookSpecificOutput"]);
    let reason = specific
        .filter(|s| s["permissionDecision"] == "deny")
        .and_then(|s| s["permissionDecisionReason"].as_str());
    if reason.is_some_and(|r| r.starts_with("parallel session lock is being taken")) {
        return Answer::Busy;
    }
    let holder = reason
        .and_then(|r| r.strip_prefix("parallel session lock held by "))
        .and_then(|r| r.split(" (pid ").next());
    match holder {
        Some(holder) => Answer::Deny(holder.to_owned()),
        None => Answer::Invalid(String::from_utf8_lossy(&output.stdout).into_owned()),
    }
}

/// A holder's session id as the refused session's model reads it: an id longer than 12
/// characters by its last 8 after `…`, a shorter one whole (`guest/src/message.rs`).
pub fn short_holder_id(id: &str) -> String {
    let count = id.chars().count();
    match count > 12 {
        true => format!("…{}", id.chars().skip(count - 8).collect::<String>()),
        false => id.to_owned(),
    }
}
