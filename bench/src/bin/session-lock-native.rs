//! `session-lock-native hook`: the benchmark's native baseline. It answers every hook event
//! exactly as `session-lock hook` does, in the same frame (`session_lock::hook::serve`: event,
//! deadline, printing) with the same host I/O (the environment, path resolution, the
//! filesystem lock store, `/proc`), but runs the policy (`session-lock-policy`, the crate the
//! component is built from) compiled natively instead of in wasmtime. The difference between
//! the two is what the WebAssembly sandbox costs.
//!
//! Built with the benchmark; see `bench/benches/hook_latency.rs`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use session_lock::{hook, settings};

/// The native build of the session-lock hook (benchmark baseline).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Handle one agent hook event from stdin, as `session-lock hook` does.
    Hook {
        /// The agent sending the event; recognised from the event when not given.
        #[arg(long)]
        agent: Option<String>,
    },
}

fn main() -> ExitCode {
    // SAFETY: no other thread exists yet. As in `session-lock`, so that both start up alike.
    unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    // As `session-lock` does: `hook` and `hook --agent NAME` by hand, anything else by clap.
    let mut args = std::env::args().skip(1);
    let agent = match (
        args.next().as_deref(),
        args.next(),
        args.next(),
        args.next(),
    ) {
        (Some("hook"), None, _, _) => Some(None),
        (Some("hook"), Some(flag), Some(name), None) if flag == "--agent" => Some(Some(name)),
        _ => None,
    };
    let agent = match agent {
        Some(agent) => agent,
        None => {
            let Command::Hook { agent } = Cli::parse().command;
            agent
        }
    };
    hook::serve(|event| session_lock_bench::respond(event, agent.as_deref(), settings::now_ms()))
}
