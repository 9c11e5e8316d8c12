//! An answer to an agent, and the JSON shapes the agents share.

use serde::Serialize;

/// What to print and the exit code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer {
    /// Printed on stdout.
    pub stdout: String,
    /// Printed on stderr.
    pub stderr: String,
    /// The exit code.
    pub exit_code: u8,
    /// Ask again after this long instead of answering (the session waits for the lock).
    pub retry_after_ms: Option<u64>,
}

impl Answer {
    /// An answer printing `shape` as JSON on stdout, exit 0.
    pub fn json(shape: &impl Serialize) -> Answer {
        Answer {
            stdout: serde_json::to_string(shape).expect("answers always serialize"),
            ..Answer::default()
        }
    }
}

/// `{"systemMessage": …}`: a line the agent shows the person (Claude Code, Codex, Gemini CLI).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemMessage<'a> {
    /// The line.
    pub system_message: &'a str,
}

/// Claude Code's and Codex's PreToolUse refusal.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookSpecific<'a> {
    /// The decision.
    pub hook_specific_output: PermissionDecision<'a>,
}

/// The decision inside [`HookSpecific`].
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionDecision<'a> {
    /// Always `PreToolUse`: only that event refuses.
    pub hook_event_name: &'a str,
    /// `deny`.
    pub permission_decision: &'a str,
    /// Shown to the model.
    pub permission_decision_reason: &'a str,
}

/// Claude Code's and Codex's refusal of a tool call.
pub fn pre_tool_use_deny(reason: &str) -> Answer {
    Answer::json(&HookSpecific {
        hook_specific_output: PermissionDecision {
            hook_event_name: "PreToolUse",
            permission_decision: "deny",
            permission_decision_reason: reason,
        },
    })
}

/// Context for the model and a line for the person, in the answer to a session-start or prompt
/// event: Claude Code's `SessionStart`/`UserPromptSubmit` form
/// (`hookSpecificOutput.additionalContext`, which goes into the model's context, and
/// `systemMessage`, shown to the person), which Codex and Gemini CLI (`BeforeAgent` for the
/// prompt) read too.
pub fn added_context(event_name: &str, context: &str, line: &str) -> Answer {
    Answer::json(&AddedContext {
        system_message: line,
        hook_specific_output: ContextOutput {
            hook_event_name: event_name,
            additional_context: context,
        },
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AddedContext<'a> {
    system_message: &'a str,
    hook_specific_output: ContextOutput<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContextOutput<'a> {
    hook_event_name: &'a str,
    additional_context: &'a str,
}
