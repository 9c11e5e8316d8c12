//! Codex CLI, Gemini CLI and Cursor events (shapes from shared/reference/agent-hooks.md):
//! through the component with a mocked store, and through the binary contending with Claude
//! Code for one workspace.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;
#[path = "support/mock_store.rs"]
mod mock_store;
#[path = "support/sandbox.rs"]
mod sandbox;
#[path = "support/virtual_host.rs"]
mod virtual_host;

use events::*;
use mock_store::*;
use sandbox::*;
use serde_json::{Value, json};
use session_lock::component::{Agent, HookResponse};
use virtual_host::VirtualHost;

const WS: &str = "/home/u/repo";

/// Whether decisions are enforced (`SESSION_LOCK_MODE`).
#[derive(Clone, Copy)]
enum Mode {
    Enforce,
    Observe,
}

/// Codex: `turn_id` and `model` on every event; `apply_patch` edits files.
fn codex_event(name: &str, session: &str, tool: Option<&str>, cwd: &str) -> Value {
    let mut event = json!({"session_id": session, "turn_id": "turn-1", "model": "gpt-5-codex",
        "transcript_path": "/tmp/t.jsonl", "cwd": cwd, "hook_event_name": name});
    if let Some(tool) = tool {
        event["tool_name"] = json!(tool);
        event["tool_input"] = json!({"patch": "*** Begin Patch\n*** End Patch"});
    }
    event
}

/// Gemini CLI: its own event names and a `timestamp`.
fn gemini_event(name: &str, session: &str, tool: Option<&str>, cwd: &str) -> Value {
    let mut event = json!({"session_id": session, "transcript_path": "/tmp/g.json", "cwd": cwd,
        "hook_event_name": name, "timestamp": "2026-11-26T16:00:00Z"});
    if let Some(tool) = tool {
        event["tool_name"] = json!(tool);
        event["tool_input"] = json!({"file_path": "a.txt", "content": "x"});
    }
    event
}

/// Cursor: `conversation_id` and `workspace_roots`, camelCase event names.
fn cursor_event(name: &str, conversation: &str, root: &str) -> Value {
    json!({"conversation_id": conversation, "generation_id": "g-1", "hook_event_name": name,
        "workspace_roots": [root], "command": "git push", "cwd": root})
}

/// The host of the component cases: one work tree, [`WS`], the session's parent pid 1.
fn host(mode: Mode) -> VirtualHost {
    let mut host = VirtualHost::in_workspace(WS);
    host.parent_pid = 1;
    match mode {
        Mode::Enforce => host,
        Mode::Observe => host.with_env("SESSION_LOCK_MODE", "observe"),
    }
}

fn handle(policy: &mut MockPolicy, event: &Value, mode: Mode) -> HookResponse {
    host(mode).handle(policy, event.to_string().as_bytes())
}

fn stdout_json(response: &HookResponse) -> Value {
    serde_json::from_str(&response.stdout).unwrap()
}

fn holder(policy: &mut MockPolicy) -> Option<String> {
    let key = policy.workspace_hash(WS).unwrap();
    policy
        .lock_store()
        .json(&key)
        .map(|r| r["session_id"].as_str().unwrap().to_owned())
}

#[test]
fn codex_apply_patch_acquires_and_a_deny_carries_only_what_codex_accepts() {
    let mut policy = empty_policy();
    let first = handle(
        &mut policy,
        &codex_event("PreToolUse", "cx-1", Some("apply_patch"), WS),
        Mode::Enforce,
    );
    assert_eq!(first.stdout, "");
    assert_eq!(holder(&mut policy).as_deref(), Some("cx-1"));
    let denied = handle(
        &mut policy,
        &codex_event("PreToolUse", "cx-2", Some("Bash"), WS),
        Mode::Enforce,
    );
    let answer = stdout_json(&denied);
    assert_eq!(answer["hookSpecificOutput"]["permissionDecision"], "deny");
    let reason = answer["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("held by cx-1"), "{reason}");
    for forbidden in ["continue", "stopReason", "suppressOutput"] {
        assert!(
            answer.get(forbidden).is_none(),
            "Codex fails a hook that sends {forbidden}"
        );
    }
    handle(
        &mut policy,
        &codex_event("Stop", "cx-1", None, WS),
        Mode::Enforce,
    );
    assert_eq!(holder(&mut policy), None);
}

#[test]
fn gemini_before_tool_acquires_denies_in_its_form_and_after_agent_releases() {
    let mut policy = empty_policy();
    for tool in ["write_file", "replace", "run_shell_command"] {
        let mut fresh = empty_policy();
        handle(
            &mut fresh,
            &gemini_event("BeforeTool", "gm-1", Some(tool), WS),
            Mode::Enforce,
        );
        assert_eq!(holder(&mut fresh).as_deref(), Some("gm-1"), "{tool}");
    }
    let read = handle(
        &mut policy,
        &gemini_event("BeforeTool", "gm-1", Some("read_file"), WS),
        Mode::Enforce,
    );
    assert_eq!(
        (read.stdout.as_str(), holder(&mut policy)),
        ("", None),
        "reads take no lock"
    );
    handle(
        &mut policy,
        &gemini_event("BeforeTool", "gm-1", Some("write_file"), WS),
        Mode::Enforce,
    );
    let denied = handle(
        &mut policy,
        &gemini_event("BeforeTool", "gm-2", Some("replace"), WS),
        Mode::Enforce,
    );
    let answer = stdout_json(&denied);
    assert_eq!(answer["decision"], "deny");
    assert!(answer["reason"].as_str().unwrap().contains("held by gm-1"));
    handle(
        &mut policy,
        &gemini_event("AfterAgent", "gm-1", None, WS),
        Mode::Enforce,
    );
    assert_eq!(holder(&mut policy), None);
}

#[test]
fn cursor_gets_json_on_every_path() {
    let mut policy = empty_policy();
    let allowed = handle(
        &mut policy,
        &cursor_event("beforeShellExecution", "cur-1", WS),
        Mode::Enforce,
    );
    assert_eq!(stdout_json(&allowed), json!({"permission": "allow"}));
    assert_eq!(holder(&mut policy).as_deref(), Some("cur-1"));
    let denied = handle(
        &mut policy,
        &cursor_event("beforeShellExecution", "cur-2", WS),
        Mode::Enforce,
    );
    let answer = stdout_json(&denied);
    assert_eq!(answer["permission"], "deny");
    assert!(
        answer["user_message"]
            .as_str()
            .unwrap()
            .contains("held by cur-1")
    );
    assert_eq!(answer["agent_message"], answer["user_message"]);
    let edited = handle(
        &mut policy,
        &cursor_event("afterFileEdit", "cur-1", WS),
        Mode::Enforce,
    );
    assert_eq!(stdout_json(&edited), json!({}));
    handle(
        &mut policy,
        &cursor_event("stop", "cur-1", WS),
        Mode::Enforce,
    );
    assert_eq!(holder(&mut policy), None);
    let mut broken = policy_holding(b"garbage".to_vec());
    let key = broken.workspace_hash(WS).unwrap();
    broken.lock_store().records.insert(key, b"garbage".to_vec());
    let failed_open = handle(
        &mut broken,
        &cursor_event("beforeShellExecution", "cur-3", WS),
        Mode::Enforce,
    );
    // Allowed, and the person is told why the lock could not be checked.
    let answer = stdout_json(&failed_open);
    assert_eq!(answer["permission"], "allow");
    let shown = answer["user_message"].as_str().unwrap();
    assert!(shown.starts_with("session-lock: ") && shown.ends_with("allowing without the lock"));
    assert!(failed_open.stderr.starts_with("session-lock: "));
}

#[test]
fn a_forced_agent_overrides_recognition() {
    let mut policy = empty_policy();
    let mut gemini = host(Mode::Enforce);
    gemini.agent = Some(Agent::Gemini);
    // A Gemini tool name in an event that carries no Gemini marker.
    let event = json!({"session_id": "s", "cwd": WS, "hook_event_name": "BeforeTool", "tool_name": "write_file"});
    gemini.handle(&mut policy, event.to_string().as_bytes());
    assert_eq!(holder(&mut policy).as_deref(), Some("s"));
}

#[test]
fn observe_mode_keeps_the_lock_but_never_denies() {
    let mut policy = empty_policy();
    let first = handle(
        &mut policy,
        &gemini_event("BeforeTool", "gm-1", Some("write_file"), WS),
        Mode::Observe,
    );
    assert!(
        first
            .stderr
            .starts_with("session-lock: observe: gm-1 acquired"),
        "{}",
        first.stderr
    );
    let second = handle(
        &mut policy,
        &gemini_event("BeforeTool", "gm-2", Some("write_file"), WS),
        Mode::Observe,
    );
    assert_eq!(second.stdout, "", "never blocks");
    assert!(
        second.stderr.starts_with(
            "session-lock: observe: would deny gm-2: parallel session lock held by gm-1"
        ),
        "{}",
        second.stderr
    );
    assert_eq!(holder(&mut policy).as_deref(), Some("gm-1"));
}

/// Runs one event through the binary in the sandbox.
fn run(sandbox: &Sandbox, event: &Value) -> std::process::Output {
    sandbox.hook(event, &[])
}

#[test]
fn claude_code_and_codex_and_gemini_share_one_lock() {
    let sandbox = Sandbox::new();
    let ws = sandbox.workspace.to_str().unwrap();
    let claude = claude_event("PreToolUse", "claude-1", Some("Write"), &sandbox.workspace);
    assert_eq!(deny_reason(&run(&sandbox, &claude)), None);

    let codex = run(
        &sandbox,
        &codex_event("PreToolUse", "codex-1", Some("apply_patch"), ws),
    );
    let reason = deny_reason(&codex).expect("Codex is refused while Claude Code holds the lock");
    assert!(reason.contains("held by claude-1"), "{reason}");

    let gemini = run(
        &sandbox,
        &gemini_event("BeforeTool", "gemini-1", Some("write_file"), ws),
    );
    let answer: Value = serde_json::from_slice(&gemini.stdout).unwrap();
    assert_eq!(answer["decision"], "deny", "Gemini is refused too");

    run(
        &sandbox,
        &claude_event("Stop", "claude-1", None, &sandbox.workspace),
    );
    assert_eq!(
        deny_reason(&run(
            &sandbox,
            &codex_event("PreToolUse", "codex-1", Some("Bash"), ws)
        )),
        None
    );
    let claude_again = run(&sandbox, &claude);
    let reason = deny_reason(&claude_again).expect("and the other way round");
    assert!(reason.contains("held by codex-1"), "{reason}");
}

#[test]
fn the_agent_flag_forces_the_protocol_and_observe_mode_never_blocks() {
    let sandbox = Sandbox::new();
    let ws = sandbox.workspace.to_str().unwrap();
    run(
        &sandbox,
        &claude_event("PreToolUse", "claude-1", Some("Write"), &sandbox.workspace),
    );
    let mut command = sandbox.command(&["hook", "--agent", "cursor"]);
    let event =
        json!({"session_id": "cursor-1", "hook_event_name": "beforeShellExecution", "cwd": ws});
    let output = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            feed(&mut child, event.to_string().as_bytes());
            child.wait_with_output()
        })
        .unwrap();
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["permission"], "deny", "{answer}");

    let observed = sandbox.hook(
        &claude_event("PreToolUse", "claude-2", Some("Bash"), &sandbox.workspace),
        &[("SESSION_LOCK_MODE", "observe")],
    );
    assert_eq!(deny_reason(&observed), None);
    assert!(
        stderr_text(&observed).contains("would deny claude-2"),
        "{}",
        stderr_text(&observed)
    );
}
