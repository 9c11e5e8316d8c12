//! `session-lock-native hook`: the benchmark's native baseline. It answers every hook event
//! exactly as `session-lock hook` does, in the same frame (`session_lock::hook::serve`: event,
//! settings, deadline, printing) with the same host I/O (`hook::context`, the filesystem lock
//! store), but runs the policy (`session-lock-policy`, the crate the component is built from)
//! compiled natively instead of in wasmtime. The difference between the two is what the
//! WebAssembly sandbox costs.
//!
//! Built with the benchmark; see `bench/benches/hook_latency.rs`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use session_lock::agent_name::AgentName;
use session_lock::component::{self, HookResponse};
use session_lock::fs_store::FsLockStore;
use session_lock::{hook, settings};
use session_lock_bench::{NativeStore, native_context};

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
        #[arg(long, value_enum)]
        agent: Option<AgentName>,
    },
}

fn main() -> ExitCode {
    // SAFETY: no other thread exists yet. As in `session-lock`, so that both start up alike.
    unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    let Command::Hook { agent } = Cli::parse().command;
    let agent = agent.map(component::Agent::from);
    // `session_lock::hook::run`, step for step, with the policy called natively.
    hook::serve(|event, settings| {
        let mut store = NativeStore(FsLockStore::new(&settings.lock_dir));
        let project_dir = settings::project_dir();
        let dir = session_lock_policy::workspace::workspace_dir(
            event,
            project_dir.as_deref(),
            &hook::process_cwd(),
        );
        let context = native_context(&hook::context(settings, &dir, agent)?);
        let answer = session_lock_policy::hook::handle(&mut store, event, &context);
        Ok(HookResponse {
            stdout: answer.stdout,
            stderr: answer.stderr,
            exit_code: answer.exit_code,
        })
    })
}
