//! Cursor (from third-party pages only): hooks before shell and MCP calls, after edits, and at
//! `stop`; its events carry a `conversation_id` and `workspace_roots`, and it wants JSON on
//! every path. It has no hook before a file edit, so only shell and MCP calls can be refused:
//! edits can only keep the session's lock fresh.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::answer::Answer;
use super::{Action, Agent, Event, Protocol, Registration, Scope, Touches, folder_settings};

static REGISTRATIONS: [Registration; 7] = [
    Registration::always("beforeShellExecution"),
    Registration::always("beforeMCPExecution"),
    Registration::always("afterFileEdit"),
    Registration::always("afterShellExecution"),
    Registration::always("afterMCPExecution"),
    Registration::always("stop"),
    // Told before it plans that another session holds the workspace.
    Registration::always("sessionStart"),
];

/// Cursor's answer to its `before…` events.
#[derive(Serialize)]
struct Permission<'a> {
    permission: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_message: Option<&'a str>,
}

/// Cursor's answer to `sessionStart`: go on, with context for the agent.
#[derive(Serialize)]
struct Started<'a> {
    #[serde(rename = "continue")]
    go_on: bool,
    additional_context: &'a str,
}

/// Cursor's protocol.
pub struct Cursor;

impl Cursor {
    fn shell(event: &Event) -> Touches {
        Touches::Shell {
            line: event.command.clone().unwrap_or_default(),
            workdir: None,
            time_limit_ms: None,
        }
    }

    fn edited(event: &Event) -> Touches {
        match event.file_path.as_ref().filter(|p| !p.is_empty()) {
            Some(path) => Touches::Files(vec![path.clone()]),
            None => Touches::Workspace,
        }
    }

    /// Whether the event is one that waits for a permission.
    fn asks(event: &Event) -> bool {
        event.name().starts_with("before")
    }
}

impl Protocol for Cursor {
    fn agent(&self) -> Agent {
        Agent::Cursor
    }

    fn name(&self) -> &'static str {
        "cursor"
    }

    fn sent(&self, event: &Event) -> bool {
        event.conversation_id.is_some() || event.workspace_roots.is_some()
    }

    fn session_id<'e>(&self, event: &'e Event) -> Option<&'e str> {
        event
            .conversation_id
            .as_deref()
            .or(event.session_id.as_deref())
            .filter(|id| !id.is_empty())
    }

    fn directory<'e>(&self, event: &'e Event) -> Option<&'e str> {
        let cwd = event.cwd.as_deref().filter(|d| !d.is_empty());
        let root = || event.workspace_roots.as_ref()?.first().map(String::as_str);
        cwd.or_else(root).filter(|d| !d.is_empty())
    }

    fn action(&self, event: &Event) -> Action {
        match event.name() {
            "beforeShellExecution" => Action::Acquire(Self::shell(event)),
            "beforeMCPExecution" => Action::Acquire(Touches::Workspace),
            "afterFileEdit" => Action::Refresh(Self::edited(event)),
            "afterShellExecution" => Action::Refresh(Self::shell(event)),
            "afterMCPExecution" => Action::Refresh(Touches::Workspace),
            "stop" => Action::Release,
            "sessionStart" => Action::Inform,
            _ => Action::Nothing,
        }
    }

    fn registrations(&self) -> &'static [Registration] {
        &REGISTRATIONS
    }

    fn allow(&self, event: &Event) -> Answer {
        if Self::asks(event) {
            Answer::json(&Permission {
                permission: "allow",
                user_message: None,
                agent_message: None,
            })
        } else {
            Answer {
                stdout: "{}".to_owned(),
                ..Answer::default()
            }
        }
    }

    fn deny(&self, _event: &Event, reason: &str) -> Answer {
        Answer::json(&Permission {
            permission: "deny",
            user_message: Some(reason),
            agent_message: Some(reason),
        })
    }

    fn warn(&self, event: &Event, warning: &str) -> Answer {
        if Self::asks(event) {
            Answer::json(&Permission {
                permission: "allow",
                user_message: Some(warning),
                agent_message: None,
            })
        } else {
            self.allow(event)
        }
    }

    /// `sessionStart` takes `additional_context` for the agent (as third-party hooks use it);
    /// no field of it is known to reach the person, so `line` is not shown.
    fn inform(&self, _event: &Event, context: &str, _line: &str) -> Answer {
        Answer::json(&Started {
            go_on: true,
            additional_context: context,
        })
    }

    /// Cursor's `before…` form: its other events ignore what a hook prints.
    fn warn_undecided(&self, warning: &str) -> Answer {
        Answer::json(&Permission {
            permission: "allow",
            user_message: Some(warning),
            agent_message: None,
        })
    }

    fn settings_file(&self, scope: Scope) -> Result<&'static str, String> {
        folder_settings(scope, ".cursor/hooks.json", "Cursor")
    }

    /// Cursor's entries take no timeout that its pages document.
    fn settings_entry(
        &self,
        _registration: &Registration,
        command: &str,
        _timeout_ms: u64,
    ) -> Value {
        json!({ "command": command })
    }

    fn prepare_settings(&self, settings: &mut Map<String, Value>) {
        if !settings.contains_key("version") {
            settings.insert("version".into(), json!(1));
        }
    }
}
