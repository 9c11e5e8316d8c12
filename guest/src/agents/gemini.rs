//! Google Gemini CLI: `BeforeTool`/`AfterTool` around its file and shell tools, `AfterAgent`
//! at the end of a turn; its events carry a `timestamp`.

use serde::Serialize;
use serde_json::{Value, json};

use super::answer::{self, Answer};
use super::{Action, Agent, Event, Protocol, Registration, Scope, Touches, folder_settings};
use super::{grouped_entry, on_tools};
use crate::message::WayOut;

/// Where Gemini CLI makes a worktree of its own (`--worktree NAME`: `.gemini/worktrees/NAME`
/// on the branch `worktree-NAME`): inside the workspace, the only place its file tools write.
pub const WORKTREE_FOLDER: &str = ".gemini/worktrees";

/// Tools that change the workspace.
const TOOLS: &str = "write_file|replace|run_shell_command";

/// Event names only Gemini CLI sends.
const OWN_EVENTS: &[&str] = &[
    "BeforeTool",
    "AfterTool",
    "BeforeAgent",
    "AfterAgent",
    "BeforeModel",
    "AfterModel",
    "BeforeToolSelection",
    "PreCompress",
];

static REGISTRATIONS: [Registration; 6] = [
    Registration::on_tools("BeforeTool", TOOLS),
    Registration::on_tools("AfterTool", TOOLS),
    Registration::always("AfterAgent"),
    Registration::always("SessionEnd"),
    // Told before it plans that another session holds the workspace: at the start, and after
    // each prompt (`BeforeAgent`).
    Registration::always("SessionStart"),
    Registration::always("BeforeAgent"),
];

/// Gemini CLI's refusal.
#[derive(Serialize)]
struct Decision<'a> {
    decision: &'a str,
    reason: &'a str,
}

/// Gemini CLI's protocol.
pub struct Gemini;

impl Gemini {
    fn touches(event: &Event) -> Touches {
        let input = &event.tool_input;
        match event.tool() {
            "run_shell_command" => Touches::Shell {
                line: input.command.as_ref().map(|c| c.line()).unwrap_or_default(),
                workdir: input.dir_path.clone(),
                time_limit_ms: None,
            },
            _ => match input.file_path.as_ref().filter(|p| !p.is_empty()) {
                Some(path) => Touches::Files(vec![path.clone()]),
                None => Touches::Workspace,
            },
        }
    }

    fn on_tools(event: &Event, action: fn(Touches) -> Action) -> Action {
        on_tools(event, TOOLS, action, Self::touches)
    }
}

impl Protocol for Gemini {
    fn agent(&self) -> Agent {
        Agent::Gemini
    }

    fn name(&self) -> &'static str {
        "gemini"
    }

    fn sent(&self, event: &Event) -> bool {
        OWN_EVENTS.contains(&event.name()) || event.timestamp.is_some()
    }

    fn action(&self, event: &Event) -> Action {
        match event.name() {
            "BeforeTool" => Self::on_tools(event, Action::Acquire),
            "AfterTool" => Self::on_tools(event, Action::Refresh),
            "AfterAgent" | "SessionEnd" => Action::Release,
            "SessionStart" | "BeforeAgent" => Action::Inform,
            _ => Action::Nothing,
        }
    }

    fn registrations(&self) -> &'static [Registration] {
        &REGISTRATIONS
    }

    /// A worktree beside the workspace would be out of reach: Gemini CLI's file tools refuse a
    /// path outside the workspace, and its shell asks before working there. So the worktree
    /// goes where Gemini CLI puts its own.
    fn way_out(&self) -> WayOut {
        WayOut::GitWorktreeAdd(Some(WORKTREE_FOLDER))
    }

    fn deny(&self, _event: &Event, reason: &str) -> Answer {
        Answer::json(&Decision {
            decision: "deny",
            reason,
        })
    }

    /// Gemini CLI reads `hookSpecificOutput.additionalContext` of `SessionStart` (the first
    /// turn of the history; in a headless run, put before the prompt) and of `BeforeAgent`
    /// (added to that turn's prompt), and shows `systemMessage` to the person.
    fn inform(&self, event: &Event, context: &str, line: &str) -> Answer {
        answer::added_context(event.name(), context, line)
    }

    fn project_dir_variable(&self) -> Option<&'static str> {
        Some("GEMINI_PROJECT_DIR")
    }

    fn settings_file(&self, scope: Scope) -> Result<&'static str, String> {
        folder_settings(scope, ".gemini/settings.json", "Gemini CLI")
    }

    /// Gemini CLI takes `$GEMINI_CLI_HOME` for the home its `.gemini` folder is in.
    fn user_folder_variable(&self) -> Option<(&'static str, &'static str)> {
        Some(("GEMINI_CLI_HOME", ".gemini/settings.json"))
    }

    /// Gemini CLI runs settings hooks only in trusted folders, and may hide the hook's
    /// environment.
    fn next_steps(&self, _scope: Scope) -> Vec<&'static str> {
        vec![
            "next: Gemini CLI runs these hooks only in trusted folders: trust each project \
             folder when Gemini CLI asks (or with `/permissions`; headless runs: \
             GEMINI_CLI_TRUST_WORKSPACE=true).",
            "next: where Gemini CLI redacts the hook's environment (under GitHub Actions, or \
             with security.environmentVariableRedaction), list the SESSION_LOCK_* variables \
             you set in security.environmentVariableRedaction.allowed.",
            "next: `session-lock doctor` tells whether Gemini CLI will run them.",
        ]
    }

    /// Its `timeout` is in milliseconds.
    fn settings_entry(&self, registration: &Registration, command: &str, timeout_ms: u64) -> Value {
        let handler = json!({"type": "command", "command": command, "timeout": timeout_ms});
        grouped_entry(registration, handler)
    }
}
