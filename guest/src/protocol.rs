//! The agents' hook protocols: reading an event, mapping it to a lock action, and answering in
//! the agent's own form. Sources: `shared/reference/agent-hooks.md` (Claude Code hooks
//! reference, Codex CLI hooks page, Gemini CLI hooks reference; Cursor from third-party pages).

use serde::Deserialize;
use serde::de::IgnoredAny;

/// The agents whose hook protocols the policy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    /// Claude Code.
    ClaudeCode,
    /// OpenAI Codex CLI.
    Codex,
    /// Google Gemini CLI.
    Gemini,
    /// Cursor.
    Cursor,
}

/// What an event asks of the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The session is about to mutate the workspace: take the lock or be refused.
    Acquire,
    /// The session just worked: keep its lock fresh.
    Refresh,
    /// The session stopped working: let the lock go.
    Release,
    /// The event does not concern the lock.
    Nothing,
}

/// The fields of a hook event the policy reads; every other field is ignored (agents add new
/// ones), and large ones such as `tool_input` are skipped without being kept.
#[derive(Debug, Default, Deserialize)]
pub struct Event {
    hook_event_name: Option<String>,
    session_id: Option<String>,
    /// Cursor names its session so.
    conversation_id: Option<String>,
    cwd: Option<String>,
    /// Cursor's open folders.
    workspace_roots: Option<Vec<String>>,
    tool_name: Option<String>,
    /// Present on Codex events only.
    turn_id: Option<IgnoredAny>,
    /// Present on Gemini CLI events only.
    timestamp: Option<IgnoredAny>,
}

/// Claude Code tools that mutate the workspace, as its settings' matcher names them
/// (`MultiEdit` is legacy but harmless). Each tool list below is also the matcher `install`
/// writes, so the two can never disagree.
const CLAUDE_TOOLS: &str = "Edit|Write|MultiEdit|NotebookEdit|Bash";
/// Claude Code's shell on Windows without Git Bash: acted on, but not in the matcher, since
/// this tool does not run there.
const CLAUDE_WINDOWS_SHELL: &str = "PowerShell";
/// Codex tools that mutate the workspace: its shell and `apply_patch`.
const CODEX_TOOLS: &str = "Bash|apply_patch|Edit|Write|shell|local_shell|exec_command";
/// Gemini CLI tools that mutate the workspace.
const GEMINI_TOOLS: &str = "write_file|replace|run_shell_command";
/// Event names only Gemini CLI sends.
const GEMINI_ONLY_EVENTS: &[&str] = &[
    "BeforeTool",
    "AfterTool",
    "BeforeAgent",
    "AfterAgent",
    "BeforeModel",
    "AfterModel",
    "BeforeToolSelection",
    "PreCompress",
];

impl Event {
    /// Reads an event: a JSON object. The error says why the bytes are not one.
    pub fn parse(bytes: &[u8]) -> Result<Event, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("hook input is not a hook event: {e}"))
    }

    /// The event's name, such as `PreToolUse`.
    pub fn name(&self) -> &str {
        self.hook_event_name.as_deref().unwrap_or("")
    }

    /// The directory the event says it happened in.
    pub fn directory(&self) -> Option<&str> {
        let cwd = self.cwd.as_deref().filter(|d| !d.is_empty());
        let root = || self.workspace_roots.as_ref()?.first().map(String::as_str);
        cwd.or_else(root).filter(|d| !d.is_empty())
    }

    /// The agent that sent the event, recognised from fields only it sends.
    pub fn agent(&self) -> Agent {
        if self.conversation_id.is_some() || self.workspace_roots.is_some() {
            Agent::Cursor
        } else if GEMINI_ONLY_EVENTS.contains(&self.name()) || self.timestamp.is_some() {
            Agent::Gemini
        } else if self.turn_id.is_some() {
            Agent::Codex
        } else {
            Agent::ClaudeCode
        }
    }

    /// The session the event belongs to, if it names one.
    pub fn session_id(&self, agent: Agent) -> Option<&str> {
        let id = match agent {
            Agent::Cursor => self
                .conversation_id
                .as_deref()
                .or(self.session_id.as_deref()),
            _ => self.session_id.as_deref(),
        };
        id.filter(|id| !id.is_empty())
    }

    /// What the event asks of the lock, in `agent`'s protocol.
    pub fn action(&self, agent: Agent) -> Action {
        let tool = self.tool_name.as_deref().unwrap_or("");
        let on_tool = |tools: &str, action| {
            if tools.split('|').any(|t| t == tool) {
                action
            } else {
                Action::Nothing
            }
        };
        let claude_tools = if tool == CLAUDE_WINDOWS_SHELL {
            CLAUDE_WINDOWS_SHELL
        } else {
            CLAUDE_TOOLS
        };
        match (agent, self.name()) {
            (Agent::ClaudeCode, "PreToolUse") => on_tool(claude_tools, Action::Acquire),
            (Agent::ClaudeCode, "PostToolUse" | "PostToolUseFailure") => {
                on_tool(claude_tools, Action::Refresh)
            }
            (Agent::Codex, "PreToolUse") => on_tool(CODEX_TOOLS, Action::Acquire),
            (Agent::Codex, "PostToolUse") => on_tool(CODEX_TOOLS, Action::Refresh),
            (Agent::ClaudeCode | Agent::Codex, "Stop" | "SessionEnd") => Action::Release,
            (Agent::Gemini, "BeforeTool") => on_tool(GEMINI_TOOLS, Action::Acquire),
            (Agent::Gemini, "AfterTool") => on_tool(GEMINI_TOOLS, Action::Refresh),
            (Agent::Gemini, "AfterAgent" | "SessionEnd") => Action::Release,
            // Cursor has no hook before a file edit, only after it: shell and MCP calls can be
            // refused, edits can only keep the session's lock fresh.
            (Agent::Cursor, "beforeShellExecution" | "beforeMCPExecution") => Action::Acquire,
            (Agent::Cursor, "afterFileEdit" | "afterShellExecution" | "afterMCPExecution") => {
                Action::Refresh
            }
            (Agent::Cursor, "stop") => Action::Release,
            _ => Action::Nothing,
        }
    }
}

/// One hook an agent must run `session-lock hook` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The agent's event name.
    pub event: &'static str,
    /// The agent's tool matcher, for events that take one.
    pub matcher: Option<String>,
}

/// The hooks `agent` must run for the lock to work: every event [`Event::action`] acts on.
pub fn registrations(agent: Agent) -> Vec<Registration> {
    let on_tools = |event, matcher: &str| Registration {
        event,
        matcher: Some(matcher.to_owned()),
    };
    let always = |event| Registration {
        event,
        matcher: None,
    };
    match agent {
        Agent::ClaudeCode => vec![
            on_tools("PreToolUse", CLAUDE_TOOLS),
            on_tools("PostToolUse", CLAUDE_TOOLS),
            always("Stop"),
            always("SessionEnd"),
        ],
        Agent::Codex => vec![
            on_tools("PreToolUse", CODEX_TOOLS),
            on_tools("PostToolUse", CODEX_TOOLS),
            always("Stop"),
            always("SessionEnd"),
        ],
        Agent::Gemini => vec![
            on_tools("BeforeTool", GEMINI_TOOLS),
            on_tools("AfterTool", GEMINI_TOOLS),
            always("AfterAgent"),
            always("SessionEnd"),
        ],
        Agent::Cursor => [
            "beforeShellExecution",
            "beforeMCPExecution",
            "afterFileEdit",
            "afterShellExecution",
            "afterMCPExecution",
            "stop",
        ]
        .into_iter()
        .map(always)
        .collect(),
    }
}

/// An answer to the agent: what to print and the exit code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer {
    /// Printed on stdout.
    pub stdout: String,
    /// Printed on stderr.
    pub stderr: String,
    /// The exit code.
    pub exit_code: u8,
}

/// The answers' JSON shapes, typed: leaner in the component than `serde_json::Value`.
mod shapes {
    use serde::Serialize;

    /// Claude Code's and Codex's PreToolUse answer.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct HookSpecific<'a> {
        pub hook_specific_output: PermissionDecision<'a>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct PermissionDecision<'a> {
        pub hook_event_name: &'a str,
        pub permission_decision: &'a str,
        pub permission_decision_reason: &'a str,
    }

    /// Gemini CLI's answer.
    #[derive(Serialize)]
    pub struct Decision<'a> {
        pub decision: &'a str,
        pub reason: &'a str,
    }

    /// Cursor's answer.
    #[derive(Serialize)]
    pub struct Permission<'a> {
        pub permission: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub user_message: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub agent_message: Option<&'a str>,
    }
}

fn answer(stdout: &impl serde::Serialize) -> Answer {
    Answer {
        stdout: serde_json::to_string(stdout).expect("answers always serialize"),
        ..Answer::default()
    }
}

/// "Go on", in `agent`'s form. Cursor wants JSON on every path; the others read an empty,
/// successful answer as no objection.
pub fn allow(agent: Agent, event_name: &str) -> Answer {
    match agent {
        Agent::Cursor if event_name.starts_with("before") => answer(&shapes::Permission {
            permission: "allow",
            user_message: None,
            agent_message: None,
        }),
        Agent::Cursor => Answer {
            stdout: "{}".to_owned(),
            ..Answer::default()
        },
        _ => Answer::default(),
    }
}

/// "Refused, because `reason`", in `agent`'s form. Codex counts a PreToolUse answer carrying
/// `continue`, `stopReason` or `suppressOutput` as a failed hook, so none of them is sent.
pub fn deny(agent: Agent, reason: &str) -> Answer {
    match agent {
        Agent::ClaudeCode | Agent::Codex => answer(&shapes::HookSpecific {
            hook_specific_output: shapes::PermissionDecision {
                hook_event_name: "PreToolUse",
                permission_decision: "deny",
                permission_decision_reason: reason,
            },
        }),
        Agent::Gemini => answer(&shapes::Decision {
            decision: "deny",
            reason,
        }),
        Agent::Cursor => answer(&shapes::Permission {
            permission: "deny",
            user_message: Some(reason),
            agent_message: Some(reason),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> Event {
        Event::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn agents_are_recognised_by_their_own_fields() {
        assert_eq!(
            event(r#"{"hook_event_name":"PreToolUse"}"#).agent(),
            Agent::ClaudeCode
        );
        assert_eq!(
            event(r#"{"hook_event_name":"PreToolUse","turn_id":"t"}"#).agent(),
            Agent::Codex
        );
        assert_eq!(
            event(r#"{"hook_event_name":"BeforeTool"}"#).agent(),
            Agent::Gemini
        );
        assert_eq!(
            event(r#"{"hook_event_name":"SessionEnd","timestamp":"2026-01-01T00:00:00Z"}"#).agent(),
            Agent::Gemini
        );
        assert_eq!(event(r#"{"conversation_id":"c"}"#).agent(), Agent::Cursor);
    }

    #[test]
    fn only_mutating_tools_take_the_lock() {
        let pre = |tool: &str| {
            event(&format!(
                r#"{{"hook_event_name":"PreToolUse","tool_name":"{tool}"}}"#
            ))
            .action(Agent::ClaudeCode)
        };
        assert_eq!(pre("Write"), Action::Acquire);
        assert_eq!(pre("Read"), Action::Nothing);
    }
}
