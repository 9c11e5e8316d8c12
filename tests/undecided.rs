//! A guarded call the hook cannot decide is never silent: the deadline (even when the parent
//! started the hook with `SIGALRM` blocked), an event too large to read, and a store the
//! settings name wrongly are answered in the agent's own form with the warning the person sees
//! (`hook.fault-answer`, or the component's store-fault answer), not with an exit-0 answer
//! whose only word is on stderr.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use arena::{Arena, wait_within};
use events::{Answer, answer, stderr_text};
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_session-lock");

fn arena(agent: &str) -> Arena {
    Arena::new(BINARY, &["hook", "--agent", agent])
}

/// The deadline's warning, as the person sees it.
const DEADLINE_WARNING: &str = "session-lock: no answer within 1s; allowing without the lock";

#[test]
fn the_deadline_answers_in_the_agents_form_even_with_sigalrm_blocked_by_the_parent() {
    let arena = arena("claude");
    let mut command = arena.command();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let mut alarm: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut alarm);
            libc::sigaddset(&mut alarm, libc::SIGALRM);
            libc::sigprocmask(libc::SIG_BLOCK, &alarm, std::ptr::null_mut());
            Ok(())
        });
    }
    let started = Instant::now();
    // Stdin is left open: only the deadline can answer.
    let child = arena.spawn_command(&mut command);
    let output = wait_within(child, Duration::from_secs(5));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(
        answer(&output),
        Answer::FailedOpen(DEADLINE_WARNING.into()),
        "{}",
        stderr_text(&output)
    );
    assert_eq!(stderr_text(&output), format!("{DEADLINE_WARNING}\n"));
    println!("deadline with SIGALRM blocked: answered in {took:?}");
}

#[test]
fn the_deadline_answers_cursor_in_cursors_form() {
    let arena = arena("cursor");
    let child = arena.spawn(&[]);
    let output = wait_within(child, Duration::from_secs(5));
    let stdout: Value = serde_json::from_slice(&output.stdout).expect("a JSON answer");
    assert_eq!(
        stdout,
        serde_json::json!({"permission": "allow", "user_message": DEADLINE_WARNING})
    );
}

#[test]
fn an_event_over_16_mib_is_answered_with_the_visible_warning() {
    let arena = arena("claude");
    let mut child = arena
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // A Write event of 17 MiB; the hook stops reading past 16 MiB, so the rest may fail.
        let head = br#"{"session_id":"A","hook_event_name":"PreToolUse","tool_name":"Write","tool_input":{"file_path":"/tmp/x","content":""#;
        let _ = stdin.write_all(head);
        let _ = stdin.write_all(&vec![b'a'; 17 << 20]);
        let _ = stdin.write_all(br#""}}"#);
    });
    let output = wait_within(child, Duration::from_secs(10));
    let _ = writer.join();
    match answer(&output) {
        Answer::FailedOpen(warning) => assert!(
            warning.contains("hook event is larger than 16777216 bytes")
                || warning == DEADLINE_WARNING,
            "{warning}"
        ),
        other => panic!("not a visible warning: {other:?}; {}", stderr_text(&output)),
    }
}

#[test]
fn a_call_the_hook_could_not_read_is_a_fail_open_in_the_decision_log() {
    let arena = arena("gemini");
    // A directory as stdin: reading it fails at once (`EISDIR`), so the fresh instance answers.
    let output = arena
        .command()
        .stdin(std::fs::File::open("/").unwrap())
        .output()
        .unwrap();
    let why = "cannot read the hook event from stdin: Is a directory (os error 21)";
    assert_eq!(
        answer(&output),
        Answer::FailedOpen(format!("session-lock: {why}; allowing without the lock")),
        "{}",
        stderr_text(&output)
    );
    let log = std::fs::read_to_string(arena.lock_dir.join("session-lock-decisions.jsonl"))
        .expect("the fail-open was logged");
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    let line = &lines[0];
    assert_eq!(line["decision"], "fail-open");
    assert_eq!(line["agent"], "gemini");
    assert_eq!(line["why"], why);
    assert_eq!(
        line["message"],
        format!("a session (gemini) was let through without the lock: {why}")
    );
    assert!(
        line.get("session").is_none(),
        "no event was decided: {line}"
    );
}

/// A store the environment names wrongly (a misspelt `SESSION_LOCK_STORE`, etcd without its
/// endpoints) turns the lock off for every session: each guarded call fails open as for an
/// unreachable store, in the agent's answer and in the decision log, not on stderr alone.
/// Reading still goes through without a word.
#[test]
fn a_store_the_environment_names_wrongly_fails_open_where_the_person_sees_it() {
    let arena = arena("claude");
    let cases = [
        (
            "etcdd",
            r#"SESSION_LOCK_STORE="etcdd" is not a lock store (files or etcd)"#,
        ),
        (
            "etcd",
            "SESSION_LOCK_STORE=etcd needs SESSION_LOCK_ETCD_ENDPOINTS",
        ),
    ];
    for (store, why) in cases {
        let env = [("SESSION_LOCK_STORE", store)];
        let output = arena.run(&arena.pre_tool_use("A"), &env);
        match answer(&output) {
            Answer::FailedOpen(warning) => assert!(
                warning.starts_with(&format!("session-lock: lock store failed: {why}"))
                    && warning.ends_with("; allowing without the lock"),
                "{warning}"
            ),
            other => panic!(
                "{store}: not a visible warning: {other:?}; {}",
                stderr_text(&output)
            ),
        }
        let read = arena.claude_event("PreToolUse", "A", Some("Read"));
        let output = arena.run(&read, &env);
        assert_eq!(answer(&output), Answer::Allow, "{}", stderr_text(&output));
    }
    let log = std::fs::read_to_string(arena.lock_dir.join("session-lock-decisions.jsonl"))
        .expect("the fail-opens were logged");
    let decisions: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["decision"].clone())
        .collect();
    assert_eq!(decisions, ["fail-open", "fail-open"], "{log}");
    assert!(arena.lock_dir_names().iter().all(|n| !n.ends_with(".json")));
}

/// Settings edited by hand with `--agent` misspelt name no agent the component knows: each
/// event, a read too, is a fail-open said where the person sees it (Claude Code's form, which
/// Codex and Gemini CLI share), and logged without guessing which agent asked.
#[test]
fn an_agent_name_no_agent_has_is_said_on_every_event_where_the_person_sees_it() {
    let arena = arena("cursr");
    let why = r#"unknown agent "cursr": expected one of "#;
    for tool in ["Write", "Read"] {
        let event = arena.claude_event("PreToolUse", "A", Some(tool));
        let output = arena.run(&event, &[]);
        match answer(&output) {
            Answer::FailedOpen(warning) => assert!(
                warning.starts_with(&format!("session-lock: {why}")),
                "{tool}: {warning}"
            ),
            other => panic!("{tool}: not a visible warning: {other:?}"),
        }
    }
    assert_eq!(arena.holder(), None, "no lock was taken");
    let log = std::fs::read_to_string(arena.lock_dir.join("session-lock-decisions.jsonl"))
        .expect("the fail-opens were logged");
    for line in log.lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        assert_eq!(line["decision"], "fail-open");
        assert!(line.get("agent").is_none(), "no agent guessed: {line}");
        let message = line["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!(
                "a session was let through without the lock: {why}"
            )),
            "{message}"
        );
    }
    assert_eq!(log.lines().count(), 2, "{log}");
}
