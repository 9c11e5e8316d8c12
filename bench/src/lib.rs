//! The benchmark's native baseline: the policy crate (`session-lock-policy`) linked natively,
//! over the host library's I/O. `session-lock-native` is built from it, and the benchmark calls
//! it in-process to time the policy without wasmtime.

use session_lock::component::{self, lock_store};
use session_lock::fs_store::FsLockStore;
use session_lock_policy::hook::{HookContext, Mode};
use session_lock_policy::protocol::Agent;
use session_lock_policy::store::{LockStore, SwapOutcome};

/// The host's filesystem store, called directly where the component would import it.
pub struct NativeStore(pub FsLockStore);

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
pub fn native_context(context: &component::HookContext) -> HookContext {
    HookContext {
        workspace: context.workspace.clone(),
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
