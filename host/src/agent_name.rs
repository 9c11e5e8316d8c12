//! Agent names on the command line (`--agent claude|codex|gemini|cursor`).

use clap::ValueEnum;

use crate::component::Agent;

/// An agent, as a person names it on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AgentName {
    /// Claude Code.
    Claude,
    /// OpenAI Codex CLI.
    Codex,
    /// Google Gemini CLI.
    Gemini,
    /// Cursor.
    Cursor,
}

impl From<AgentName> for Agent {
    fn from(name: AgentName) -> Agent {
        match name {
            AgentName::Claude => Agent::ClaudeCode,
            AgentName::Codex => Agent::Codex,
            AgentName::Gemini => Agent::Gemini,
            AgentName::Cursor => Agent::Cursor,
        }
    }
}
