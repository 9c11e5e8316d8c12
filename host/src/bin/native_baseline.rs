//! `session-lock-native hook`: the benchmark's native baseline. It answers every hook event
//! exactly as `session-lock hook` does, in the same frame (`session_lock::hook::serve`: event,
//! settings, deadline, printing) with the same host I/O (`hook::context`, the filesystem lock
//! store), but runs the policy (`session-lock-policy`, the crate the component is built from)
//! compiled natively instead of in wasmtime. The difference between the two is what the
//! WebAssembly sandbox costs.
//!
//! Built only with `--features native-baseline`; see `host/benches/hook_latency.rs`.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use session_lock::component::{self, HookResponse, lock_store};
use session_lock::fs_store::FsLockStore;
use session_lock::hook;
use session_lock::settings;
use session_lock_policy::hook::{HookContext, Mode};
use session_lock_policy::protocol::Agent;
use session_lock_policy::store::{LockStore, SwapOutcome};

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

/// Agent names on the command line (the same as `session-lock hook --agent`).
#[derive(Clone, Copy, ValueEnum)]
enum AgentName {
    Claude,
    Codex,
    Gemini,
    Cursor,
}

impl From<AgentName> for component::Agent {
    fn from(name: AgentName) -> component::Agent {
        match name {
            AgentName::Claude => component::Agent::ClaudeCode,
            AgentName::Codex => component::Agent::Codex,
            AgentName::Gemini => component::Agent::Gemini,
            AgentName::Cursor => component::Agent::Cursor,
        }
    }
}

/// The host's filesystem store, called directly where the component would import it.
struct NativeStore(FsLockStore);

impl LockStore for NativeStore {
    fn read(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        FsLockStore::read(&self.0, key)
    }

    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        replacement: Option<&[u8]>,
    ) -> Result<SwapOutcome, String> {
        Ok(
            match FsLockStore::compare_and_swap(&self.0, key, expected, replacement)? {
                lock_store::SwapOutcome::Swapped => SwapOutcome::Swapped,
                lock_store::SwapOutcome::Conflict(found) => SwapOutcome::Conflict(found),
            },
        )
    }
}

/// The host's context (WIT types) as the native policy's.
fn native_context(context: component::HookContext) -> HookContext {
    HookContext {
        workspace: context.workspace,
        pid: context.pid,
        now_ms: context.now_ms,
        ttl_ms: context.ttl_ms,
        agent: context.agent.map(|agent| match agent {
            component::Agent::ClaudeCode => Agent::ClaudeCode,
            component::Agent::Codex => Agent::Codex,
            component::Agent::Gemini => Agent::Gemini,
            component::Agent::Cursor => Agent::Cursor,
        }),
        mode: match context.mode {
            component::Mode::Enforce => Mode::Enforce,
            component::Mode::Observe => Mode::Observe,
        },
    }
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
        let context = native_context(hook::context(settings, &dir, agent)?);
        let answer = session_lock_policy::hook::handle(&mut store, event, &context);
        Ok(HookResponse {
            stdout: answer.stdout,
            stderr: answer.stderr,
            exit_code: answer.exit_code,
        })
    })
}
