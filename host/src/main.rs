//! The `session-lock` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use session_lock::component::{Agent, COMPONENT, Policy};
use session_lock::fs_store::FsLockStore;
use session_lock::{demo, hook, workspace};

/// Keeps parallel AI coding agent sessions from mutating one workspace at once.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Handle one agent hook event from stdin (what the agent's settings run).
    Hook {
        /// The agent sending the event; recognised from the event when not given.
        #[arg(long, value_enum)]
        agent: Option<AgentName>,
    },
    /// Print the 12-character lock hash of a workspace (default: the current directory).
    Hash {
        /// A directory in the workspace.
        dir: Option<PathBuf>,
    },
    /// Run two simulated sessions against each other on a temporary workspace.
    Demo,
    /// Write the policy component (WebAssembly) that this binary embeds, for other hosts.
    Component {
        /// Where to write it; stdout when not given.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Agent names on the command line.
#[derive(Clone, Copy, ValueEnum)]
enum AgentName {
    Claude,
    Codex,
    Gemini,
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

fn main() -> ExitCode {
    // SAFETY: no other thread exists yet. An error must not capture a backtrace when the user
    // has RUST_BACKTRACE=1 set (hooks inherit the agent's environment): that costs ~100 ms.
    unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hook { agent } => return hook::run(agent.map(Agent::from)),
        Command::Hash { dir } => print_hash(dir),
        Command::Demo => demo::run(),
        Command::Component { output } => write_component(output),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("session-lock: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_hash(dir: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = match dir {
        Some(dir) => dir,
        None => std::env::current_dir()?,
    };
    let resolved = workspace::resolve(&dir).map_err(anyhow::Error::msg)?;
    let mut policy = Policy::load(FsLockStore::new("."))?;
    println!("{}", policy.workspace_hash(&workspace::as_text(&resolved))?);
    Ok(())
}

fn write_component(output: Option<PathBuf>) -> anyhow::Result<()> {
    match output {
        Some(path) => std::fs::write(&path, COMPONENT)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display())),
        None => Ok(std::io::Write::write_all(
            &mut std::io::stdout(),
            COMPONENT,
        )?),
    }
}
