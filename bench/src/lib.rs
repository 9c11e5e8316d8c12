//! The benchmark's native baseline: the policy crate (`session-lock-policy`) linked natively,
//! over the host library's I/O. `session-lock-native` is built from it, and the benchmark calls
//! it in-process to time the policy without wasmtime.

use session_lock::component::{HookResponse, lock_store, processes};
use session_lock::fs_store::FsLockStore;
use session_lock::processes::LocalProcesses;
use session_lock::{hook, settings, workspace};
use session_lock_policy::agents::Agent;
use session_lock_policy::hook::{HookContext, Invocation};
use session_lock_policy::processes::{ProcessIdentity, ProcessStatus, Processes};
use session_lock_policy::store::{LockStore, StoreError, SwapOutcome};
use session_lock_policy::workspace::Resolved;

/// The host's filesystem store, called directly where the component would import it.
pub struct NativeStore(pub FsLockStore);

impl LockStore for NativeStore {
    fn read(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(FsLockStore::read(&self.0, key)?)
    }

    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        replacement: Option<&[u8]>,
    ) -> Result<SwapOutcome, StoreError> {
        let swapped = FsLockStore::compare_and_swap(&self.0, key, expected, replacement);
        Ok(
            match swapped.map_err(|e| match e {
                lock_store::StoreError::Busy(why) => StoreError::Busy(why),
                lock_store::StoreError::Failed(why) => StoreError::Failed(why),
            })? {
                lock_store::SwapOutcome::Swapped => SwapOutcome::Swapped,
                lock_store::SwapOutcome::Conflict(found) => SwapOutcome::Conflict(found),
            },
        )
    }

    fn keys(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(FsLockStore::keys(&self.0)?)
    }
}

/// The host's `/proc` facts, called directly where the component would import them.
pub struct NativeProcesses;

impl Processes for NativeProcesses {
    fn status(&mut self, pid: u32) -> ProcessStatus {
        let identity = |id: processes::ProcessIdentity| ProcessIdentity {
            boot_id: id.boot_id,
            pid_namespace: id.pid_namespace,
            start_time: id.start_time,
        };
        match processes::Host::status(&mut LocalProcesses, pid) {
            processes::ProcessStatus::Running(id) => ProcessStatus::Running(identity(id)),
            processes::ProcessStatus::Gone(id) => ProcessStatus::Gone(identity(id)),
            processes::ProcessStatus::Unknown => ProcessStatus::Unknown,
        }
    }

    fn is_ancestor(&mut self, pid: u32) -> Option<bool> {
        processes::Host::is_ancestor(&mut LocalProcesses, pid)
    }
}

/// `session_lock::hook::run`'s answer, step for step, with the policy called natively: the
/// invocation from the environment, the targets, each resolved on this filesystem, and the
/// event handled at `now_ms`.
pub fn respond(event: &[u8], agent: Option<&str>, now_ms: u64) -> Result<HookResponse, String> {
    let mut store = NativeStore(FsLockStore::new(settings::lock_dir()?));
    let agent = agent.map(Agent::named).transpose()?;
    let names: Vec<String> = session_lock_policy::settings::variables()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let invocation = Invocation {
        agent,
        environment: settings::environment(&names),
        process_cwd: hook::process_cwd(),
        parent_pid: std::os::unix::process::parent_id(),
    };
    let context = context(event, invocation, now_ms);
    let answer =
        session_lock_policy::hook::handle(&mut store, &mut NativeProcesses, event, &context);
    Ok(HookResponse {
        stdout: answer.stdout,
        stderr: answer.stderr,
        exit_code: answer.exit_code,
        retry_after_ms: answer.retry_after_ms,
    })
}

/// The native policy's context for `event`: its targets resolved as the host resolves them.
pub fn context(event: &[u8], invocation: Invocation, now_ms: u64) -> HookContext {
    let resolved = session_lock_policy::hook::targets(event, &invocation)
        .iter()
        .map(|target| {
            workspace::resolve_path(target).map(|r| Resolved {
                real_path: r.real_path,
                git_top: r.git_top,
                checkout_id: r.checkout_id,
            })
        })
        .collect();
    HookContext {
        invocation,
        resolved,
        now_ms,
        waited_ms: 0,
    }
}
