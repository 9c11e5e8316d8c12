//! `session-lock status` and `session-lock release --force`: what a blocked person uses.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;
#[path = "support/sandbox.rs"]
mod sandbox;

use std::fs;
use std::process::Output;

use events::*;
use sandbox::*;
use serde_json::Value;

fn run(sandbox: &Sandbox, args: &[&str]) -> Output {
    let mut full = args.to_vec();
    let ws = sandbox.workspace.to_str().unwrap();
    full.extend(["--workspace", ws]);
    sandbox.command(&full).output().unwrap()
}

fn run_with(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut full = args.to_vec();
    let ws = sandbox.workspace.to_str().unwrap();
    full.extend(["--workspace", ws]);
    sandbox
        .command(&full)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn hold(sandbox: &Sandbox, session: &str, env: &[(&str, &str)]) {
    let event = claude_event("PreToolUse", session, Some("Write"), &sandbox.workspace);
    let output = sandbox.hook(&event, env);
    assert_eq!(deny_reason(&output), None, "{}", stderr_text(&output));
}

#[test]
fn status_of_a_free_workspace_exits_0() {
    let sandbox = Sandbox::new();
    let output = run(&sandbox, &["status"]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains(sandbox.workspace.to_str().unwrap()), "{text}");
    assert!(text.contains("free"), "{text}");
    let json: Value = serde_json::from_slice(&run(&sandbox, &["status", "--json"]).stdout).unwrap();
    assert_eq!(json["state"], "free");
    assert_eq!(json["hash"].as_str().unwrap().len(), 12);
}

#[test]
fn status_names_a_fresh_holder_and_exits_1() {
    let sandbox = Sandbox::new();
    hold(&sandbox, "session-A", &[("CLAUDE_PID", "4101")]);
    let output = run(&sandbox, &["status"]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("session-A (pid 4101), held for"), "{text}");
    assert!(
        text.contains("expires in") && text.contains("fresh"),
        "{text}"
    );

    let output = run(&sandbox, &["status", "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["state"], "fresh", "the text's word");
    assert_eq!(json["holder"]["session_id"], "session-A");
    assert_eq!(json["holder"]["pid"], 4101);
    assert_eq!(json["holder"]["stale"], false);
    assert!(json["lock_file"].as_str().unwrap().ends_with(".json"));
}

#[test]
fn status_of_a_stale_lock_exits_0_and_says_stale() {
    let sandbox = Sandbox::new();
    hold(&sandbox, "session-A", &[("SESSION_LOCK_TTL_MS", "1")]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let output = run(&sandbox, &["status", "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (json["state"].as_str(), json["holder"]["stale"].as_bool()),
        (Some("stale"), Some(true))
    );
}

#[test]
fn release_without_force_refuses_and_keeps_the_lock() {
    let sandbox = Sandbox::new();
    hold(&sandbox, "session-A", &[]);
    let output = run(&sandbox, &["release"]);
    assert!(!output.status.success());
    let err = stderr_text(&output);
    assert!(
        err.contains("--force") && err.contains("session-A"),
        "{err}"
    );
    assert_eq!(sandbox.holder().as_deref(), Some("session-A"));
}

#[test]
fn release_force_removes_any_holders_lock_and_says_whose() {
    let sandbox = Sandbox::new();
    hold(&sandbox, "session-A", &[("CLAUDE_PID", "77")]);
    let output = run(&sandbox, &["release", "--force"]);
    assert!(output.status.success(), "{}", stderr_text(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("session-A (pid 77)"), "{text}");
    assert_eq!(sandbox.holder(), None);
    let again = run(&sandbox, &["release", "--force"]);
    assert!(
        String::from_utf8(again.stdout)
            .unwrap()
            .contains("was not locked")
    );
}

#[test]
fn release_force_clears_an_unreadable_lock_file() {
    let sandbox = Sandbox::new();
    hold(&sandbox, "session-A", &[]);
    let file = fs::read_dir(&sandbox.lock_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    fs::write(&file, "not a record").unwrap();
    let blocked = sandbox.hook(
        &claude_event("PreToolUse", "B", Some("Bash"), &sandbox.workspace),
        &[],
    );
    assert_eq!(deny_reason(&blocked), None, "an unreadable lock fails open");
    assert!(
        stderr_text(&blocked).contains("release --force"),
        "{}",
        stderr_text(&blocked)
    );
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "not a record",
        "and is never overwritten"
    );
    let output = run(&sandbox, &["release", "--force"]);
    assert!(
        String::from_utf8(output.stdout)
            .unwrap()
            .contains("unreadable")
    );
    assert!(!file.exists());
}

/// The lock file of the sandbox's workspace, made to hold bytes that are no lock record.
fn spoil_the_lock(sandbox: &Sandbox) {
    hold(sandbox, "session-A", &[]);
    let file = fs::read_dir(&sandbox.lock_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    fs::write(&file, "not a record").unwrap();
}

#[test]
fn status_of_an_unreadable_lock_says_so_in_a_sentence_and_exits_1() {
    let sandbox = Sandbox::new();
    spoil_the_lock(&sandbox);
    let output = run(&sandbox, &["status"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr_text(&output);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        !text.contains("UnreadableRecord") && !err.contains("UnreadableRecord"),
        "no Rust debug formatting: {text}{err}"
    );
    assert!(text.contains(sandbox.workspace.to_str().unwrap()), "{text}");
    assert!(
        text.contains("state      unreadable: the lock file is not a lock record"),
        "{text}"
    );
    assert!(text.contains("release --force"), "{text}");
}

#[test]
fn status_json_is_one_object_even_for_an_unreadable_lock() {
    let sandbox = Sandbox::new();
    spoil_the_lock(&sandbox);
    let output = run(&sandbox, &["status", "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["state"], "unreadable");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("not a lock record"),
        "{json}"
    );
    assert_eq!(json["holder"], Value::Null);
    assert_eq!(json["hash"].as_str().unwrap().len(), 12);
    assert_eq!(stderr_text(&output), "");
}

#[test]
fn status_json_is_one_object_even_when_the_lock_cannot_be_named() {
    let sandbox = Sandbox::new();
    let output = run_with(
        &sandbox,
        &["status", "--json"],
        &[("SESSION_LOCK_STORE", "nope")],
    );
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["state"], "error");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("SESSION_LOCK_STORE"),
        "{json}"
    );
}

#[test]
fn status_text_and_json_name_the_same_states() {
    let sandbox = Sandbox::new();
    let state_of = |sandbox: &Sandbox| {
        let text = String::from_utf8(run(sandbox, &["status"]).stdout).unwrap();
        let json: Value =
            serde_json::from_slice(&run(sandbox, &["status", "--json"]).stdout).unwrap();
        let word = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("state      ")
                    .or(l.strip_prefix("lock       "))
            })
            .unwrap()
            .split(|c: char| !c.is_alphabetic())
            .next()
            .unwrap()
            .to_owned();
        (word, json["state"].as_str().unwrap().to_owned())
    };
    let (text, json) = state_of(&sandbox);
    assert_eq!((text.as_str(), json.as_str()), ("free", "free"));
    hold(&sandbox, "session-A", &[]);
    let (text, json) = state_of(&sandbox);
    assert_eq!((text.as_str(), json.as_str()), ("fresh", "fresh"));
    let stale = Sandbox::new();
    hold(&stale, "session-A", &[("SESSION_LOCK_TTL_MS", "1")]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let (text, json) = state_of(&stale);
    assert_eq!((text.as_str(), json.as_str()), ("stale", "stale"));
    let spoilt = Sandbox::new();
    spoil_the_lock(&spoilt);
    let (text, json) = state_of(&spoilt);
    assert_eq!((text.as_str(), json.as_str()), ("unreadable", "unreadable"));
}

#[test]
fn release_force_never_prints_the_holders_control_characters() {
    let sandbox = Sandbox::new();
    let hostile = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\nsession";
    hold(&sandbox, hostile, &[("CLAUDE_PID", "77")]);
    assert_eq!(sandbox.holder().as_deref(), Some(hostile));
    let refused = run(&sandbox, &["release"]);
    assert!(!stderr_text(&refused).contains('\u{1b}'));
    let output = run(&sandbox, &["release", "--force"]);
    assert!(output.status.success(), "{}", stderr_text(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
    assert_eq!(text.lines().count(), 1, "{text:?}");
    assert!(
        text.contains(r"evil\x1b]0;pwned\x07\x1b[2J\nsession (pid 77)"),
        "{text:?}"
    );
    assert_eq!(sandbox.holder(), None);
}

/// Whether `text` holds anything a terminal would act on rather than show (newlines between
/// lines aside).
fn acts_on_terminal(text: &str) -> bool {
    text.chars().any(|c| {
        c.is_control() && c != '\n'
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}'..='\u{200f}' | '\u{2028}' | '\u{2029}')
    })
}

#[test]
fn a_holders_bidi_controls_and_line_separators_are_shown_as_text() {
    let sandbox = Sandbox::new();
    let hostile = "evil\u{202e}dis\u{2028}line\u{200b}\u{2066}x";
    hold(&sandbox, hostile, &[("CLAUDE_PID", "77")]);
    let status = String::from_utf8(run(&sandbox, &["status"]).stdout).unwrap();
    assert!(!acts_on_terminal(&status), "{status:?}");
    assert!(
        status.contains(r"evil\u{202e}dis\u{2028}line\u{200b}\u{2066}x (pid 77)"),
        "{status:?}"
    );
    let refused = run(&sandbox, &["release"]);
    assert!(!acts_on_terminal(&stderr_text(&refused)), "{refused:?}");
    let released = String::from_utf8(run(&sandbox, &["release", "--force"]).stdout).unwrap();
    assert!(!acts_on_terminal(&released), "{released:?}");
    assert!(released.contains(r"evil\u{202e}dis"), "{released:?}");
}

#[test]
fn a_workspace_path_with_escape_sequences_and_bidi_is_shown_as_text() {
    let sandbox = Sandbox::new();
    let name = "repo\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}gpj";
    let workspace = sandbox.root().join(name);
    fs::create_dir_all(workspace.join(".git")).unwrap();
    fs::write(workspace.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    let shown = r"repo\x1b]0;pwned\x07\x1b[2J\u{202e}gpj";
    let at = |args: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["--workspace", workspace.to_str().unwrap()]);
        sandbox.command(&full).output().unwrap()
    };
    for args in [&["status"][..], &["release"], &["release", "--force"]] {
        let output = at(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            stderr_text(&output)
        );
        assert!(!acts_on_terminal(&text), "{args:?}: {text:?}");
        assert!(text.contains(shown), "{args:?}: {text:?}");
    }
}
