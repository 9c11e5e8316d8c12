//! Claude Code: `PreToolUse`/`PostToolUse` around its file and shell tools, `Stop` at the end
//! of every turn. The primary agent: events carry no mark of their own, so an event nobody
//! else claims is Claude Code's.

use serde_json::{Value, json};

use super::answer::{self, Answer};
use super::{
    Action, Agent, Event, Protocol, Registration, Scope, Touches, grouped_entry, mcp, on_tools,
};
use crate::message::WayOut;

/// Where `EnterWorktree` makes the session's new worktree (`.claude/worktrees/<name>`).
pub const WORKTREE_FOLDER: &str = ".claude/worktrees";

/// Tools that change the workspace (`MultiEdit` is legacy but harmless). [`MATCHER`], what
/// `install` writes, names each of them (a test keeps the two in step) and MCP tools.
const TOOLS: &str = "Edit|Write|MultiEdit|NotebookEdit|Bash";

/// The shell on Windows without Git Bash: acted on, but left out of the matcher, since this
/// tool does not run there.
const WINDOWS_SHELL: &str = "PowerShell";

/// `Bash`'s time limit when the call gives none (its `timeout`, in milliseconds; at most ten
/// minutes).
const BASH_DEFAULT_TIMEOUT_MS: u64 = 120_000;

/// The matcher the settings get: [`TOOLS`] and every MCP tool. Claude Code reads a matcher
/// with anything but names and `|` as an unanchored regular expression, so it is anchored
/// (`Write` alone would also match `TodoWrite`).
const MATCHER: &str = "^(Edit|Write|MultiEdit|NotebookEdit|Bash|mcp__.*)$";

static REGISTRATIONS: [Registration; 8] = [
    Registration::on_tools("PreToolUse", MATCHER),
    Registration::on_tools("PostToolUse", MATCHER),
    // Esc during a tool ends the turn here, with no `Stop` after it.
    Registration::on_tools("PostToolUseFailure", MATCHER),
    Registration::always("Stop"),
    // An API error ends the turn here instead of at `Stop`.
    Registration::always("StopFailure"),
    Registration::always("SessionEnd"),
    // Told before it plans that another session holds the workspace.
    Registration::always("SessionStart"),
    Registration::always("UserPromptSubmit"),
];

/// Claude Code's protocol.
pub struct ClaudeCode;

impl ClaudeCode {
    fn touches(event: &Event) -> Touches {
        let input = &event.tool_input;
        match event.tool() {
            "Bash" => Touches::Shell {
                line: input.command.as_ref().map(|c| c.line()).unwrap_or_default(),
                workdir: None,
                time_limit_ms: Some(input.timeout.unwrap_or(BASH_DEFAULT_TIMEOUT_MS)),
            },
            "NotebookEdit" => files(input.notebook_path.as_ref()),
            "Edit" | "Write" | "MultiEdit" => files(input.file_path.as_ref()),
            // PowerShell is not POSIX shell: nothing it runs is proven read-only.
            _ => Touches::Workspace,
        }
    }

    fn on_tools(event: &Event, action: fn(Touches) -> Action) -> Action {
        // An MCP tool reads, or works in the session's workspace (`mcp`).
        if mcp::is_mcp(event.tool()) {
            return match mcp::reads_only(event.tool()) {
                true => Action::Nothing,
                false => action(Touches::Workspace),
            };
        }
        // The matcher's tools, and the Windows shell the matcher leaves out.
        let tools = if event.tool() == WINDOWS_SHELL {
            WINDOWS_SHELL
        } else {
            TOOLS
        };
        on_tools(event, tools, action, Self::touches)
    }
}

/// The file a file tool names, or the workspace when it names none.
fn files(path: Option<&String>) -> Touches {
    match path {
        Some(path) if !path.is_empty() => Touches::Files(vec![path.clone()]),
        _ => Touches::Workspace,
    }
}

impl Protocol for ClaudeCode {
    fn agent(&self) -> Agent {
        Agent::ClaudeCode
    }

    fn name(&self) -> &'static str {
        "claude"
    }

    fn sent(&self, _event: &Event) -> bool {
        true
    }

    fn action(&self, event: &Event) -> Action {
        match event.name() {
            "PreToolUse" => Self::on_tools(event, Action::Acquire),
            "PostToolUse" => Self::on_tools(event, Action::Refresh),
            "PostToolUseFailure" if event.is_interrupt == Some(true) => Action::Release,
            "PostToolUseFailure" => Self::on_tools(event, Action::Refresh),
            // A subagent or shell still running in the background works on after the turn.
            "Stop" if event.background_tasks.as_ref().is_some_and(|t| t.count > 0) => Action::Hold,
            "Stop" | "StopFailure" | "SessionEnd" => Action::Release,
            "SessionStart" | "UserPromptSubmit" => Action::Inform,
            _ => Action::Nothing,
        }
    }

    fn registrations(&self) -> &'static [Registration] {
        &REGISTRATIONS
    }

    fn deny(&self, _event: &Event, reason: &str) -> Answer {
        answer::pre_tool_use_deny(reason)
    }

    /// Claude Code gives its model `EnterWorktree`, which moves the session into a new git
    /// worktree ([`WORKTREE_FOLDER`]`/<name>`) and works there.
    fn way_out(&self) -> WayOut {
        WayOut::EnterWorktreeTool
    }

    fn inform(&self, event: &Event, context: &str, line: &str) -> Answer {
        answer::added_context(event.name(), context, line)
    }

    fn project_dir_variable(&self) -> Option<&'static str> {
        Some("CLAUDE_PROJECT_DIR")
    }

    fn session_pid_variable(&self) -> Option<&'static str> {
        Some("CLAUDE_PID")
    }

    fn settings_file(&self, scope: Scope) -> Result<&'static str, String> {
        Ok(match scope {
            Scope::User | Scope::Project => ".claude/settings.json",
            Scope::Local => ".claude/settings.local.json",
        })
    }

    /// Its `timeout` is in seconds.
    fn settings_entry(&self, registration: &Registration, command: &str, timeout_ms: u64) -> Value {
        let timeout = timeout_ms.div_ceil(1000);
        let handler = json!({"type": "command", "command": command, "timeout": timeout});
        grouped_entry(registration, handler)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matcher_names_every_tool_acted_on_and_every_mcp_tool() {
        let inner = MATCHER
            .strip_prefix("^(")
            .and_then(|m| m.strip_suffix(")$"))
            .unwrap();
        assert_eq!(inner, format!("{TOOLS}|mcp__.*"));
    }

    fn action(json: &str) -> Action {
        ClaudeCode.action(&Event::parse(json.as_bytes()).unwrap())
    }

    #[test]
    fn only_changing_tools_take_the_lock() {
        let write = action(
            r#"{"hook_event_name":"PreToolUse","tool_name":"Write","tool_input":{"file_path":"/r/a"}}"#,
        );
        assert_eq!(write, Action::Acquire(Touches::Files(vec!["/r/a".into()])));
        assert_eq!(
            action(r#"{"hook_event_name":"PreToolUse","tool_name":"Read"}"#),
            Action::Nothing
        );
    }

    #[test]
    fn a_bash_call_keeps_the_lock_for_its_time_limit() {
        let bash = |input: &str| {
            action(&format!(
                r#"{{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{input}}}"#
            ))
        };
        let limit = |a: Action| match a {
            Action::Acquire(Touches::Shell { time_limit_ms, .. }) => time_limit_ms,
            other => panic!("{other:?}"),
        };
        assert_eq!(limit(bash(r#"{"command":"make"}"#)), Some(120_000));
        assert_eq!(
            limit(bash(r#"{"command":"make","timeout":600000}"#)),
            Some(600_000)
        );
    }

    #[test]
    fn turns_that_end_without_stop_release() {
        assert_eq!(
            action(r#"{"hook_event_name":"StopFailure"}"#),
            Action::Release
        );
        assert_eq!(
            action(
                r#"{"hook_event_name":"PostToolUseFailure","tool_name":"Bash","is_interrupt":true}"#
            ),
            Action::Release
        );
        assert_eq!(
            action(r#"{"hook_event_name":"Stop","background_tasks":[{"id":"t1"}]}"#),
            Action::Hold
        );
        assert_eq!(
            action(r#"{"hook_event_name":"Stop","background_tasks":[]}"#),
            Action::Release
        );
    }
}
