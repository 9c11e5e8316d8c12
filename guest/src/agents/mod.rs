//! The agents: each one's hook protocol in one module behind one trait, [`Protocol`]. A module
//! knows how to recognise its agent's events, what each event asks of the lock, what its tools
//! touch, how to answer, which hooks to register, and the shape of its settings.
//!
//! Sources: `shared/reference/agent-hooks.md` (the Claude Code hooks reference, the Codex CLI
//! hooks page, the Gemini CLI hooks reference; Cursor from third-party pages).

mod answer;
mod claude_code;
mod codex;
mod cursor;
mod event;
mod gemini;
mod mcp;

use crate::message::WayOut;
use serde_json::{Map, Value};

pub use answer::Answer;
pub use event::{Command, Event, Tasks, ToolInput};

/// The folders, inside a work tree, where agents make worktrees of their own. A `git worktree
/// add` of a new work tree there changes none of the enclosing work tree's files, as the
/// agents' own worktree tools do (see [`crate::workspace::of_target`]).
pub const WORKTREE_FOLDERS: [&str; 2] = [claude_code::WORKTREE_FOLDER, gemini::WORKTREE_FOLDER];

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

impl Agent {
    /// Every agent, in the order they are recognised: the agent whose marks an event carries
    /// first wins, and Claude Code, which has none of its own, comes last.
    pub const ALL: [Agent; 4] = [
        Agent::Cursor,
        Agent::Gemini,
        Agent::Codex,
        Agent::ClaudeCode,
    ];

    /// The agent's protocol.
    pub fn protocol(self) -> &'static dyn Protocol {
        match self {
            Agent::ClaudeCode => &claude_code::ClaudeCode,
            Agent::Codex => &codex::Codex,
            Agent::Gemini => &gemini::Gemini,
            Agent::Cursor => &cursor::Cursor,
        }
    }

    /// The agent a person names on a command line.
    pub fn named(name: &str) -> Result<Agent, String> {
        Agent::ALL
            .into_iter()
            .find(|agent| agent.protocol().name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Agent::ALL.iter().map(|a| a.protocol().name()).collect();
                format!(
                    "unknown agent {name:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }

    /// The agent that sent `event`, recognised from fields and names only it sends.
    pub fn recognise(event: &Event) -> Agent {
        Agent::ALL
            .into_iter()
            .find(|agent| agent.protocol().sent(event))
            .unwrap_or(Agent::ClaudeCode)
    }
}

/// What an event asks of the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The session is about to change what the tool touches: take those locks or be refused.
    Acquire(Touches),
    /// The session finished a tool: keep its locks on what the tool touched fresh.
    Refresh(Touches),
    /// The turn ended while work goes on in the background: keep every lock the session holds.
    Hold,
    /// The session stopped working: let every lock it holds go.
    Release,
    /// The session starts, or the person sent a prompt: tell the model and the person when
    /// another session holds the session's workspace fresh. Takes no lock and writes nothing.
    Inform,
    /// The event does not concern the lock.
    Nothing,
}

/// What a tool touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touches {
    /// Files a file tool changes, as the event names them (absolute, or relative to its `cwd`).
    Files(Vec<String>),
    /// A shell command line: it touches its working directories, unless it is read-only.
    Shell {
        /// The command line.
        line: String,
        /// The directory it starts in, when the tool names one other than the event's `cwd`.
        workdir: Option<String>,
        /// The tool's own time limit in milliseconds: the lock stays fresh at least that long.
        time_limit_ms: Option<u64>,
    },
    /// Something that works in the session's workspace as a whole (an MCP tool, say).
    Workspace,
}

/// Which settings file of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The user's own settings, for every project.
    User,
    /// The project's shared settings (committed).
    Project,
    /// The project's personal settings (not committed).
    Local,
}

/// One hook an agent must run `session-lock hook` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The agent's event name.
    pub event: &'static str,
    /// The agent's tool matcher, for events that take one.
    pub matcher: Option<&'static str>,
}

impl Registration {
    /// A hook on `event` for the tools of `matcher`.
    pub const fn on_tools(event: &'static str, matcher: &'static str) -> Self {
        Registration {
            event,
            matcher: Some(matcher),
        }
    }

    /// A hook on every `event`.
    pub const fn always(event: &'static str) -> Self {
        Registration {
            event,
            matcher: None,
        }
    }
}

/// One agent's hook protocol.
pub trait Protocol: Sync {
    /// The agent.
    fn agent(&self) -> Agent;

    /// The name a person types: `claude`, `codex`, `gemini`, `cursor`.
    fn name(&self) -> &'static str;

    /// Whether `event` carries a field or name only this agent sends.
    fn sent(&self, event: &Event) -> bool;

    /// The session the event belongs to.
    fn session_id<'e>(&self, event: &'e Event) -> Option<&'e str> {
        event.session_id.as_deref().filter(|id| !id.is_empty())
    }

    /// The directory the event says the agent works in now.
    fn directory<'e>(&self, event: &'e Event) -> Option<&'e str> {
        event.cwd.as_deref().filter(|d| !d.is_empty())
    }

    /// What the event asks of the lock.
    fn action(&self, event: &Event) -> Action;

    /// The hooks to register: every event [`Protocol::action`] acts on.
    fn registrations(&self) -> &'static [Registration];

    /// "Go on": by default an empty, successful answer, which every agent but Cursor reads as
    /// no objection.
    fn allow(&self, _event: &Event) -> Answer {
        Answer::default()
    }

    /// "Refused, because `reason`".
    fn deny(&self, event: &Event, reason: &str) -> Answer;

    /// How a refused session of this agent can keep working now, in a worktree of its own: by
    /// default the model runs `git worktree add` itself.
    fn way_out(&self) -> WayOut {
        WayOut::GitWorktreeAdd(None)
    }

    /// "Go on", adding `context` to what the model reads before it plans and showing `line` to
    /// the person: for [`Action::Inform`] events. By default nothing is added (an agent whose
    /// answer to these events is not known to carry context).
    fn inform(&self, event: &Event, _context: &str, _line: &str) -> Answer {
        self.allow(event)
    }

    /// "Go on", with `warning` shown to the person where the agent can show one: by default
    /// `{"systemMessage": …}`, which Claude Code, Codex and Gemini CLI show.
    fn warn(&self, _event: &Event, warning: &str) -> Answer {
        Answer::json(&answer::SystemMessage {
            system_message: warning,
        })
    }

    /// "Go on", with `warning` shown to the person, for an event the host could not get
    /// decided and could not read (a trap, an exhausted budget, an event too large, the
    /// deadline): answered as to a guarded call, since it may have been one. By default
    /// [`Protocol::warn`]'s form, which every event of Claude Code, Codex and Gemini CLI
    /// accepts.
    fn warn_undecided(&self, warning: &str) -> Answer {
        self.warn(&Event::default(), warning)
    }

    /// The variable naming the project the agent was started in, if it sets one.
    fn project_dir_variable(&self) -> Option<&'static str> {
        None
    }

    /// The variable naming the agent's own process, if it sets one.
    fn session_pid_variable(&self) -> Option<&'static str> {
        None
    }

    /// The settings file of `scope`, relative to the home (user) or project (project, local)
    /// directory.
    fn settings_file(&self, scope: Scope) -> Result<&'static str, String>;

    /// The variable that, when set to an absolute path, is the folder of the agent's user
    /// settings, and the file's path in it (Codex: `CODEX_HOME`, `hooks.json`; Gemini CLI:
    /// `GEMINI_CLI_HOME`, `.gemini/settings.json`).
    fn user_folder_variable(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    /// What the person must still do after an install at `scope` before the agent runs the
    /// hooks, one line each.
    fn next_steps(&self, _scope: Scope) -> Vec<&'static str> {
        Vec::new()
    }

    /// One entry of an event's hook list, running `command`, which the agent must give
    /// `timeout_ms` before it gives up on it.
    fn settings_entry(&self, registration: &Registration, command: &str, timeout_ms: u64) -> Value;

    /// Keys the settings file needs besides the hooks (Cursor's `version`).
    fn prepare_settings(&self, _settings: &mut Map<String, Value>) {}
}

/// `action` on what the event's tool touches (`touches`), when the tool is one of `tools`
/// (names joined by `|`, as a matcher lists them); nothing for any other tool.
fn on_tools(
    event: &Event,
    tools: &str,
    action: fn(Touches) -> Action,
    touches: fn(&Event) -> Touches,
) -> Action {
    if event.tool_in(tools) {
        action(touches(event))
    } else {
        Action::Nothing
    }
}

/// The claude-like settings entry: `{"matcher": …, "hooks": [handler]}`, the matcher only for
/// events that take one.
fn grouped_entry(registration: &Registration, handler: Value) -> Value {
    let mut entry = Map::new();
    if let Some(matcher) = registration.matcher {
        entry.insert("matcher".into(), Value::from(matcher));
    }
    entry.insert("hooks".into(), Value::Array(vec![handler]));
    Value::Object(entry)
}

/// Settings files for the agents that keep user and project settings under one folder name
/// and have no local scope.
fn folder_settings(scope: Scope, file: &'static str, agent: &str) -> Result<&'static str, String> {
    match scope {
        Scope::User | Scope::Project => Ok(file),
        Scope::Local => Err(format!(
            "{agent} has no local settings file; use --scope project"
        )),
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
        let recognise = |json| Agent::recognise(&event(json));
        assert_eq!(
            recognise(r#"{"hook_event_name":"PreToolUse"}"#),
            Agent::ClaudeCode
        );
        assert_eq!(
            recognise(r#"{"hook_event_name":"PreToolUse","turn_id":"t"}"#),
            Agent::Codex
        );
        assert_eq!(
            recognise(r#"{"hook_event_name":"BeforeTool"}"#),
            Agent::Gemini
        );
        assert_eq!(
            recognise(r#"{"hook_event_name":"SessionEnd","timestamp":"2026-01-01T00:00:00Z"}"#),
            Agent::Gemini
        );
        assert_eq!(recognise(r#"{"conversation_id":"c"}"#), Agent::Cursor);
    }

    #[test]
    fn agents_are_named_as_people_type_them() {
        assert_eq!(Agent::named("claude"), Ok(Agent::ClaudeCode));
        assert_eq!(Agent::named("cursor"), Ok(Agent::Cursor));
        assert!(
            Agent::named("vim")
                .unwrap_err()
                .contains("claude, codex, gemini, cursor")
                || Agent::named("vim")
                    .unwrap_err()
                    .contains("cursor, gemini, codex, claude")
        );
    }

    #[test]
    fn every_agent_registers_what_it_acts_on() {
        for agent in Agent::ALL {
            let protocol = agent.protocol();
            assert!(!protocol.registrations().is_empty(), "{agent:?}");
            assert_eq!(protocol.agent(), agent);
        }
    }
}
