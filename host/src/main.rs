//! The `session-lock` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use session_lock::artifact::COMPONENT;
use session_lock::component::{Policy, Scope};
use session_lock::fs_store::FsLockStore;
use session_lock::install::Change;
use session_lock::{demo, hook, install, release, status, workspace};

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
        /// The agent sending the event (claude, codex, gemini, cursor); recognised from the
        /// event when not given.
        #[arg(long, value_name = "NAME")]
        agent: Option<String>,
    },
    /// Say whether a shell command is read-only (needs no lock), and why.
    Explain {
        /// The command line, as the agent would run it (quote it, or give it after `--`).
        #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Print the 12-character lock hash of a workspace (default: the current directory).
    Hash {
        /// A directory in the workspace.
        dir: Option<PathBuf>,
    },
    /// Run two simulated sessions against each other on a temporary workspace.
    Demo,
    /// Register the hooks in an agent's settings file.
    Install {
        #[command(flatten)]
        target: SettingsTarget,
    },
    /// Remove exactly the hooks `install` registered.
    Uninstall {
        #[command(flatten)]
        target: SettingsTarget,
    },
    /// Show who holds a workspace's lock (exit 1 when another session holds it fresh).
    Status {
        /// A directory in the workspace (default: the current directory).
        #[arg(long)]
        workspace: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a workspace's lock whoever holds it (needs --force).
    Release {
        /// Really remove it, whoever holds it.
        #[arg(long)]
        force: bool,
        /// A directory in the workspace (default: the current directory).
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// Write the policy component (WebAssembly) that this binary embeds, for other hosts.
    Component {
        /// Where to write it; stdout when not given.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Which settings file `install` and `uninstall` change.
#[derive(clap::Args)]
struct SettingsTarget {
    /// user: the agent's settings for every project; project: the project's shared settings;
    /// local: the project's personal settings (Claude Code only). `--dry-run` names the file.
    #[arg(long, value_enum, default_value = "user")]
    scope: ScopeName,
    /// The agent whose settings to change: claude, codex, gemini or cursor.
    #[arg(long, value_name = "NAME", default_value = "claude")]
    agent: String,
    /// Let a blocked call wait up to this many seconds for the lock before it is refused
    /// (install only; the registered timeout grows to cover it).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    wait: u64,
    /// Print the resulting file instead of writing it.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScopeName {
    User,
    Project,
    Local,
}

impl From<ScopeName> for Scope {
    fn from(name: ScopeName) -> Scope {
        match name {
            ScopeName::User => Scope::User,
            ScopeName::Project => Scope::Project,
            ScopeName::Local => Scope::Local,
        }
    }
}

fn main() -> ExitCode {
    // SAFETY: no other thread exists yet. An error must not capture a backtrace when the user
    // has RUST_BACKTRACE=1 set (hooks inherit the agent's environment): that costs ~100 ms.
    unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hook { agent } => return hook::run(agent.as_deref()),
        Command::Explain { command } => explain(&command.join(" ")),
        Command::Hash { dir } => print_hash(dir),
        Command::Demo => demo::run(),
        Command::Component { output } => write_component(output),
        Command::Install { target } => target.run(Change::Install),
        Command::Uninstall { target } => target.run(Change::Uninstall),
        Command::Status { workspace, json } => match status::run(workspace.as_deref(), json) {
            Ok(true) => return ExitCode::from(1),
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        },
        Command::Release { force, workspace } => release::run(workspace.as_deref(), force),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("session-lock: {error:#}");
            ExitCode::FAILURE
        }
    }
}

impl SettingsTarget {
    fn run(&self, change: Change) -> anyhow::Result<()> {
        let target = install::Target {
            agent: self.agent.clone(),
            scope: self.scope.into(),
            wait_ms: self.wait.saturating_mul(1000),
            dry_run: self.dry_run,
        };
        install::run(change, &target)
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

fn explain(command: &str) -> anyhow::Result<()> {
    let mut policy = Policy::load(FsLockStore::new("."))?;
    let verdict = policy.explain(command)?;
    let class = if verdict.read_only {
        "read-only: runs without the lock"
    } else {
        "needs the lock"
    };
    println!("{class}\n{}", verdict.why);
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
