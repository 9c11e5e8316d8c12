//! The `session-lock` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use session_lock::artifact::COMPONENT;
use session_lock::component::{Policy, Scope};
use session_lock::fs_store::FsLockStore;
use session_lock::install::Change;
use session_lock::visible::visible;
use session_lock::{demo, doctor, hook, install, release, status, workspace};
use session_lock::{log_command, status_all, statusline};

/// What `--help` ends with: the environment the commands and the hooks read.
const ENVIRONMENT_HELP: &str = "\
Environment (set it where the agent runs; its hooks inherit it):
  SESSION_LOCK_DIR             where lock records live [default: ~/.claude/runtime, created 0700]
  SESSION_LOCK_TTL_MS          how long a lock stays fresh without a refresh [default: 300000]
  SESSION_LOCK_MODE            enforce, or observe [default: enforce]
  SESSION_LOCK_WAIT_MS         how long a blocked call waits for the lock [default: 0]
  SESSION_LOCK_STORE           files, or etcd [default: files]
  SESSION_LOCK_ETCD_ENDPOINTS  etcd's comma-separated http://host:port (SESSION_LOCK_STORE=etcd)
  SESSION_LOCK_IDENTITY        name a git checkout by its path, or by an id kept in its git
                               directory (checkout) [default: path; checkout with etcd]

Observe mode (SESSION_LOCK_MODE=observe) makes every decision and keeps the lock as usual, but
refuses nothing: each would-be refusal goes to stderr instead.

`install` copies this binary to ${XDG_DATA_HOME:-$HOME/.local/share}/session-lock/bin/session-lock
and registers that copy. A closed stdout ends any command quietly, by SIGPIPE.";

/// Keeps parallel AI coding agent sessions from mutating one workspace at once.
#[derive(Parser)]
#[command(version, about, after_help = ENVIRONMENT_HELP)]
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
        /// Show every lock in the store instead (exit 1 when one cannot be read).
        #[arg(long, conflicts_with = "workspace")]
        all: bool,
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
    /// Check that the lock can work here, each failure with its fix (exit 1 on any).
    ///
    /// The checks: the policy component loads; the current workspace's lock can be named and
    /// read; the lock directory is usable and mode 0700; flock excludes on its filesystem; and
    /// each settings file that registers the hook runs a binary that exists and is this one
    /// (never running a settings file's command).
    Doctor {
        /// Print one JSON object: {"ok": bool, "checks": [{"name", "ok", "detail", "fix"}]}.
        #[arg(long)]
        json: bool,
    },
    /// Show what the hook decided on this machine: locks taken, taken over, refused,
    /// released, and calls let through without the lock, with the reason.
    Log {
        /// Keep printing decisions as they are made.
        #[arg(long)]
        follow: bool,
        /// Print the log's JSON lines.
        #[arg(long)]
        json: bool,
        /// Only decisions this recent: 30s, 15m, 2h, 1d, 1h30m.
        #[arg(long, value_name = "DURATION", value_parser = log_command::parse_duration)]
        since: Option<std::time::Duration>,
    },
    /// Print one line for an agent's status line from its status line JSON on stdin: who
    /// holds this session's workspace, and when it frees.
    Statusline,
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
    /// Change a settings file even when it is another user's or read-only (keeping its owner
    /// and mode).
    #[arg(long)]
    force: bool,
    /// Uninstall only: also remove the stable copy of the binary (kept by default, since
    /// another project's hooks may still run it).
    #[arg(long)]
    remove_binary: bool,
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
    // The hot path, before any parser: what the agents' settings run, `hook` or `hook --agent
    // NAME`, read by hand (building clap's command costs start-up time on every tool call).
    // Anything else, `hook --help` included, goes through clap.
    if let Some(agent) = bare_hook_args(std::env::args_os().skip(1)) {
        return hook::run(agent.as_deref());
    }
    /// `Some(agent)` when the arguments are exactly `hook`, `hook --agent NAME` or `hook
    /// --agent=NAME` (NAME valid UTF-8, not starting with `-`); `None` for anything else.
    fn bare_hook_args(
        mut args: impl Iterator<Item = std::ffi::OsString>,
    ) -> Option<Option<String>> {
        if args.next()? != "hook" {
            return None;
        }
        let agent = match args.next() {
            None => return Some(None),
            Some(flag) if flag == "--agent" => args.next()?.into_string().ok()?,
            Some(flag) => flag
                .into_string()
                .ok()?
                .strip_prefix("--agent=")?
                .to_owned(),
        };
        if args.next().is_some() || agent.is_empty() || agent.starts_with('-') {
            return None;
        }
        Some(Some(agent))
    }
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Hook { .. }) {
        end_quietly_on_closed_stdout();
    }
    let result = match cli.command {
        Command::Hook { agent } => return hook::run(agent.as_deref()),
        Command::Explain { command } => explain(&command.join(" ")),
        Command::Hash { dir } => print_hash(dir),
        Command::Demo => demo::run(),
        Command::Component { output } => write_component(output),
        Command::Install { target } => target.run(Change::Install),
        Command::Uninstall { target } => target.run(Change::Uninstall),
        Command::Status {
            all: true, json, ..
        } => match status_all::run(json) {
            Ok(true) => return ExitCode::from(1),
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        },
        Command::Log {
            follow,
            json,
            since,
        } => log_command::run(&log_command::Options {
            follow,
            json,
            since,
        }),
        Command::Statusline => statusline::run(),
        Command::Status {
            workspace, json, ..
        } => match status::run(workspace.as_deref(), json) {
            Ok(true) => return ExitCode::from(1),
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        },
        Command::Release { force, workspace } => release::run(workspace.as_deref(), force),
        Command::Doctor { json } => match doctor::run(json) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // An error can name a path or quote a file: shown through the one filter.
            eprintln!("session-lock: {}", visible(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}

/// Lets a closed stdout (`session-lock demo | head -1`) end the command as it ends `cat`: by
/// SIGPIPE, the shell's exit status 141, with nothing printed, where Rust's default (SIGPIPE
/// ignored) makes `println!` panic. Not for `hook`, which reports its own write errors.
fn end_quietly_on_closed_stdout() {
    // SAFETY: restoring a signal's default disposition; no handler runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

impl SettingsTarget {
    fn run(&self, change: Change) -> anyhow::Result<()> {
        let target = install::Target {
            agent: self.agent.clone(),
            scope: self.scope.into(),
            wait_ms: self.wait.saturating_mul(1000),
            dry_run: self.dry_run,
            force: self.force,
            remove_binary: self.remove_binary,
        };
        install::run(change, &target)
    }
}

fn print_hash(dir: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = match dir {
        Some(dir) => dir,
        None => std::env::current_dir()?,
    };
    // Named as the hook names it (by checkout id under SESSION_LOCK_IDENTITY=checkout).
    let (_, resolved) = workspace::resolve_directory(&dir).map_err(anyhow::Error::msg)?;
    let mut policy = Policy::load(FsLockStore::new("."))?;
    println!("{}", policy.workspace_key(&resolved)?);
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
    println!("{class}\n{}", visible(&verdict.why));
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
