//! OpenAI Codex CLI: Claude-like hooks around its shell and `apply_patch`; its events carry a
//! `turn_id` (all but `SessionStart`, which is why `install` names the agent).

use serde_json::{Value, json};

use super::answer::{self, Answer};
use super::{Action, Agent, Event, Protocol, Registration, Scope, Touches, folder_settings};
use super::{grouped_entry, on_tools};

/// Tools that change the workspace: its shells and `apply_patch` (which the matchers `Edit` and
/// `Write` also name).
const TOOLS: &str = "Bash|apply_patch|Edit|Write|shell|local_shell|exec_command";

/// The shell tools among [`TOOLS`].
const SHELL_TOOLS: &str = "Bash|shell|local_shell|exec_command";

static REGISTRATIONS: [Registration; 6] = [
    Registration::on_tools("PreToolUse", TOOLS),
    Registration::on_tools("PostToolUse", TOOLS),
    Registration::always("Stop"),
    Registration::always("SessionEnd"),
    // Told before it plans that another session holds the workspace.
    Registration::always("SessionStart"),
    Registration::always("UserPromptSubmit"),
];

/// Codex's protocol.
pub struct Codex;

impl Codex {
    fn touches(event: &Event) -> Touches {
        let input = &event.tool_input;
        if event.tool_in(SHELL_TOOLS) {
            return Touches::Shell {
                line: input.command.as_ref().map(|c| c.line()).unwrap_or_default(),
                workdir: input.workdir.clone(),
                time_limit_ms: input.timeout_ms,
            };
        }
        if let Some(path) = input.file_path.as_ref().filter(|p| !p.is_empty()) {
            return Touches::Files(vec![path.clone()]);
        }
        let patch = input
            .input
            .clone()
            .or_else(|| input.command.as_ref().map(|c| c.line()))
            .unwrap_or_default();
        let paths = patch_paths(&patch);
        if paths.is_empty() {
            Touches::Workspace
        } else {
            Touches::Files(paths)
        }
    }

    fn on_tools(event: &Event, action: fn(Touches) -> Action) -> Action {
        on_tools(event, TOOLS, action, Self::touches)
    }
}

/// `reason` without its closing full stop, which Codex writes itself before what it appends.
fn without_full_stop(reason: &str) -> &str {
    let reason = reason.trim_end();
    reason.strip_suffix('.').unwrap_or(reason)
}

/// The files an `apply_patch` patch adds, updates, deletes or moves to.
fn patch_paths(patch: &str) -> Vec<String> {
    const HEADERS: [&str; 4] = [
        "*** Add File: ",
        "*** Update File: ",
        "*** Delete File: ",
        "*** Move to: ",
    ];
    patch
        .lines()
        .filter_map(|line| HEADERS.iter().find_map(|h| line.strip_prefix(h)))
        .map(|path| path.trim().to_owned())
        .filter(|path| !path.is_empty())
        .collect()
}

impl Protocol for Codex {
    fn agent(&self) -> Agent {
        Agent::Codex
    }

    fn name(&self) -> &'static str {
        "codex"
    }

    fn sent(&self, event: &Event) -> bool {
        event.turn_id.is_some()
    }

    fn action(&self, event: &Event) -> Action {
        match event.name() {
            "PreToolUse" => Self::on_tools(event, Action::Acquire),
            "PostToolUse" => Self::on_tools(event, Action::Refresh),
            "Stop" | "SessionEnd" => Action::Release,
            "SessionStart" | "UserPromptSubmit" => Action::Inform,
            _ => Action::Nothing,
        }
    }

    fn registrations(&self) -> &'static [Registration] {
        &REGISTRATIONS
    }

    /// Codex counts a PreToolUse answer carrying `continue`, `stopReason` or `suppressOutput`
    /// as a failed hook, so none of them is sent. Codex itself appends `. Command: <cmd>` (for
    /// `apply_patch`, the whole patch) to the reason the model reads, so the reason ends
    /// without a full stop of its own and names no command or patch.
    fn deny(&self, _event: &Event, reason: &str) -> Answer {
        answer::pre_tool_use_deny(without_full_stop(reason))
    }

    /// Codex's `SessionStart` and `UserPromptSubmit` answers take Claude Code's form:
    /// `hookSpecificOutput.additionalContext` goes to the model, `systemMessage` to the person
    /// (its `session-start` and `user-prompt-submit` output schemas, which allow nothing else
    /// there but `env` and a block).
    fn inform(&self, event: &Event, context: &str, line: &str) -> Answer {
        answer::added_context(event.name(), context, line)
    }

    fn settings_file(&self, scope: Scope) -> Result<&'static str, String> {
        folder_settings(scope, ".codex/hooks.json", "Codex")
    }

    /// Codex reads its user files from `$CODEX_HOME` (by default `~/.codex`).
    fn user_folder_variable(&self) -> Option<(&'static str, &'static str)> {
        Some(("CODEX_HOME", "hooks.json"))
    }

    /// Codex runs a hook only once the person has trusted it, and a project's hooks only in a
    /// trusted project; `codex exec` skips untrusted hooks without a word.
    fn next_steps(&self, scope: Scope) -> Vec<&'static str> {
        let mut steps = vec![
            "next: Codex runs these hooks only once you trust them: start `codex`, open \
             `/hooks` and trust each session-lock hook (again after any change to them, such \
             as another `--wait`).",
            "next: `codex exec` never asks and skips untrusted hooks without a word: trust \
             them in `/hooks` first (or pass `--dangerously-bypass-hook-trust` if you have \
             vetted them).",
        ];
        if scope != Scope::User {
            steps.push(
                "next: Codex loads a project's hooks only in a trusted project: trust this \
                 project when Codex asks (or run `codex exec --trust` in it once).",
            );
        }
        steps.push("next: `session-lock doctor` tells whether Codex will run them.");
        steps
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
    fn a_patch_touches_every_file_it_names() {
        let patch = "*** Begin Patch\n*** Update File: src/a.rs\n@@\n*** Add File: /r/b.rs\n\
                     *** Update File: c.rs\n*** Move to: d.rs\n*** End Patch";
        assert_eq!(patch_paths(patch), ["src/a.rs", "/r/b.rs", "c.rs", "d.rs"]);
        assert!(patch_paths("*** Begin Patch\n*** End Patch").is_empty());
    }

    #[test]
    fn a_refusal_leaves_the_full_stop_to_what_codex_appends() {
        assert_eq!(
            without_full_stop("held by A. Try later."),
            "held by A. Try later"
        );
        assert_eq!(without_full_stop("held by A"), "held by A");
        assert_eq!(without_full_stop("ends in `x`.\n"), "ends in `x`");
    }
}
