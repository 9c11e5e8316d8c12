//! The component's face: the WIT exports wired to the policy, and the imports wrapped as the
//! policy's [`LockStore`] and [`Processes`]. Only conversions live here; every decision is in
//! the modules.

use crate::agents::{Agent, Answer, Scope};
use crate::decision::{self, Decision};
use crate::decision_log::DecisionLog;
use crate::hook::{self, HookContext, Invocation};
use crate::lock::{self, AcquireResult, ForceReleaseResult, LockState, PolicyError, Session};
use crate::lock::{RefreshResult, ReleaseResult};
use crate::overview::{self, Found};
use crate::processes::{ProcessIdentity, ProcessStatus, Processes};
use crate::record::LockRecord;
use crate::store::{LockStore, StoreError, SwapOutcome};
use crate::workspace::Resolved;
use crate::{install, settings, shell, workspace};

/// The allocator: talc instead of the default dlmalloc, for size. The component is
/// single-threaded.
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

wit_bindgen::generate!({
    path: "../wit",
    world: "session-lock",
});

use exports::session_lock::policy::hook as wit_hook;
use exports::session_lock::policy::overview as wit_overview;
use exports::session_lock::policy::policy as wit;
use exports::session_lock::policy::setup as wit_setup;
use session_lock::policy::{decision_log, lock_store, processes as wit_processes};

/// The imported `lock-store`, as the policy's store.
struct ImportedStore;

impl LockStore for ImportedStore {
    fn read(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        lock_store::read(key).map_err(Into::into)
    }

    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        replacement: Option<&[u8]>,
    ) -> Result<SwapOutcome, StoreError> {
        Ok(
            match lock_store::compare_and_swap(key, expected, replacement)? {
                lock_store::SwapOutcome::Swapped => SwapOutcome::Swapped,
                lock_store::SwapOutcome::Conflict(found) => SwapOutcome::Conflict(found),
            },
        )
    }

    fn keys(&mut self) -> Result<Vec<String>, StoreError> {
        lock_store::keys().map_err(Into::into)
    }
}

impl From<lock_store::StoreError> for StoreError {
    fn from(error: lock_store::StoreError) -> Self {
        match error {
            lock_store::StoreError::Busy(why) => StoreError::Busy(why),
            lock_store::StoreError::Failed(why) => StoreError::Failed(why),
        }
    }
}

/// The imported `decision-log`.
struct ImportedLog;

impl DecisionLog for ImportedLog {
    fn append(&mut self, line: &str) {
        // A line the host could not append is lost, never a reason to change the answer.
        let _ = decision_log::append(line);
    }
}

/// The imported `processes`, as the policy's view of them.
struct ImportedProcesses;

impl Processes for ImportedProcesses {
    fn status(&mut self, pid: u32) -> ProcessStatus {
        match wit_processes::status(pid) {
            wit_processes::ProcessStatus::Running(id) => ProcessStatus::Running(id.into()),
            wit_processes::ProcessStatus::Gone(id) => ProcessStatus::Gone(id.into()),
            wit_processes::ProcessStatus::Unknown => ProcessStatus::Unknown,
        }
    }

    fn is_ancestor(&mut self, pid: u32) -> Option<bool> {
        wit_processes::is_ancestor(pid)
    }
}

struct Component;

export!(Component);

impl wit::Guest for Component {
    fn workspace_hash(path: String) -> String {
        workspace::workspace_hash(&path)
    }

    fn is_stale(record: wit::LockRecord, now_ms: u64) -> bool {
        LockRecord::from(record).is_stale(now_ms)
    }

    fn acquire(
        key: String,
        session: wit::Session,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<wit::AcquireResult, wit::PolicyError> {
        let session = Session::from(session);
        lock::acquire(
            &mut ImportedStore,
            &mut ImportedProcesses,
            &key,
            &session,
            now_ms,
            ttl_ms,
        )
        .map(Into::into)
        .map_err(Into::into)
    }

    fn refresh(
        key: String,
        session: wit::Session,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<wit::RefreshResult, wit::PolicyError> {
        let session = Session::from(session);
        lock::refresh(
            &mut ImportedStore,
            &mut ImportedProcesses,
            &key,
            &session,
            now_ms,
            ttl_ms,
        )
        .map(Into::into)
        .map_err(Into::into)
    }

    fn release(key: String, session_id: String) -> Result<wit::ReleaseResult, wit::PolicyError> {
        lock::release(&mut ImportedStore, &key, &session_id)
            .map(Into::into)
            .map_err(Into::into)
    }

    fn inspect(key: String, now_ms: u64) -> Result<Option<wit::LockState>, wit::PolicyError> {
        lock::inspect(&mut ImportedStore, &key, now_ms)
            .map(|state| state.map(Into::into))
            .map_err(Into::into)
    }

    fn force_release(key: String) -> Result<wit::ForceReleaseResult, wit::PolicyError> {
        lock::force_release(&mut ImportedStore, &key)
            .map(Into::into)
            .map_err(Into::into)
    }

    fn decide(
        outcome: Option<wit::AcquireResult>,
        session_id: String,
        now_ms: u64,
    ) -> wit::Decision {
        let outcome = outcome.map(AcquireResult::from);
        let Decision { block, reason } = decision::decide(outcome.as_ref(), &session_id, now_ms);
        wit::Decision { block, reason }
    }
}

impl wit_hook::Guest for Component {
    fn agent_named(name: String) -> Result<wit_hook::Agent, String> {
        Agent::named(&name).map(Into::into)
    }

    fn environment_variables() -> Vec<String> {
        settings::variables()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    fn registrations(agent: wit_hook::Agent) -> Vec<wit_hook::Registration> {
        Agent::from(agent)
            .protocol()
            .registrations()
            .iter()
            .map(|r| wit_hook::Registration {
                event: r.event.to_owned(),
                matcher: r.matcher.map(str::to_owned),
            })
            .collect()
    }

    fn targets(event: Vec<u8>, invocation: wit_hook::Invocation) -> Vec<String> {
        hook::targets(&event, &invocation.into())
    }

    fn handle(event: Vec<u8>, context: wit_hook::HookContext) -> wit_hook::HookResponse {
        let context = HookContext {
            invocation: context.invocation.into(),
            resolved: context
                .resolved
                .into_iter()
                .map(|r| r.map(Resolved::from))
                .collect(),
            now_ms: context.now_ms,
            waited_ms: context.waited_ms,
        };
        let Answer {
            stdout,
            stderr,
            exit_code,
            retry_after_ms,
        } = hook::handle_logged(
            &mut ImportedStore,
            &mut ImportedProcesses,
            &mut ImportedLog,
            &event,
            &context,
        );
        wit_hook::HookResponse {
            stdout,
            stderr,
            exit_code,
            retry_after_ms,
        }
    }

    fn fault_answer(agent: Option<wit_hook::Agent>, reason: String) -> wit_hook::HookResponse {
        let Answer {
            stdout,
            stderr,
            exit_code,
            retry_after_ms,
        } = hook::fault_answer(agent.map(Agent::from), &reason);
        wit_hook::HookResponse {
            stdout,
            stderr,
            exit_code,
            retry_after_ms,
        }
    }

    fn fault_entry(agent: Option<wit_hook::Agent>, reason: String, now_ms: u64) -> String {
        hook::fault_entry(agent.map(Agent::from), &reason, now_ms)
    }

    fn workspace_key(directory: wit_hook::ResolvedPath) -> String {
        workspace::workspace_hash(&workspace::of_session(&directory.into()))
    }

    fn explain(command: String) -> wit_hook::CommandVerdict {
        let verdict = shell::classify(&command);
        wit_hook::CommandVerdict {
            read_only: verdict.read_only,
            why: verdict.why,
        }
    }
}

impl wit_overview::Guest for Component {
    fn all_locks(now_ms: u64) -> Result<Vec<wit_overview::LockEntry>, String> {
        let entries = overview::all_locks(&mut ImportedStore, now_ms)?;
        Ok(entries
            .into_iter()
            .map(|entry| {
                let (workspace, agent) = match &entry.found {
                    Found::Held(state) => {
                        (state.record.workspace.clone(), state.record.agent.clone())
                    }
                    _ => (None, None),
                };
                let found = match entry.found {
                    Found::Held(state) => wit_overview::LockFound::Held(state.into()),
                    Found::Unreadable(why) => wit_overview::LockFound::Unreadable(why),
                    Found::Vanished => wit_overview::LockFound::Vanished,
                    Found::Error(why) => wit_overview::LockFound::Error(why),
                };
                wit_overview::LockEntry {
                    key: entry.key,
                    found,
                    workspace,
                    agent,
                    line: entry.line,
                }
            })
            .collect())
    }

    fn status_line_directory(input: Vec<u8>) -> Option<String> {
        overview::status_line_directory(&input)
    }

    fn status_line(input: Vec<u8>, key: String, now_ms: u64) -> String {
        overview::status_line(&mut ImportedStore, &input, &key, now_ms)
    }
}

impl wit_setup::Guest for Component {
    fn settings_file(
        agent: wit_hook::Agent,
        scope: wit_setup::Scope,
        environment: Vec<(String, String)>,
    ) -> Result<String, String> {
        install::settings_file(agent.into(), scope.into(), &environment)
    }

    fn next_steps(agent: wit_hook::Agent, scope: wit_setup::Scope) -> Vec<String> {
        install::next_steps(agent.into(), scope.into())
    }

    fn install(
        agent: wit_hook::Agent,
        settings: String,
        binary: String,
        wait_ms: u64,
    ) -> Result<String, String> {
        install::install(agent.into(), &settings, &binary, wait_ms)
    }

    fn uninstall(_agent: wit_hook::Agent, settings: String) -> Result<String, String> {
        install::uninstall(&settings)
    }
}

impl From<wit_setup::Scope> for Scope {
    fn from(scope: wit_setup::Scope) -> Self {
        match scope {
            wit_setup::Scope::User => Scope::User,
            wit_setup::Scope::Project => Scope::Project,
            wit_setup::Scope::Local => Scope::Local,
        }
    }
}

impl From<wit_hook::Invocation> for Invocation {
    fn from(i: wit_hook::Invocation) -> Self {
        Invocation {
            agent: i.agent.map(Agent::from),
            environment: i.environment,
            process_cwd: i.process_cwd,
            parent_pid: i.parent_pid,
        }
    }
}

impl From<wit_hook::ResolvedPath> for Resolved {
    fn from(r: wit_hook::ResolvedPath) -> Self {
        Resolved {
            real_path: r.real_path,
            git_top: r.git_top,
            checkout_id: r.checkout_id,
        }
    }
}

impl From<wit_hook::Agent> for Agent {
    fn from(agent: wit_hook::Agent) -> Self {
        match agent {
            wit_hook::Agent::ClaudeCode => Agent::ClaudeCode,
            wit_hook::Agent::Codex => Agent::Codex,
            wit_hook::Agent::Gemini => Agent::Gemini,
            wit_hook::Agent::Cursor => Agent::Cursor,
        }
    }
}

impl From<Agent> for wit_hook::Agent {
    fn from(agent: Agent) -> Self {
        match agent {
            Agent::ClaudeCode => wit_hook::Agent::ClaudeCode,
            Agent::Codex => wit_hook::Agent::Codex,
            Agent::Gemini => wit_hook::Agent::Gemini,
            Agent::Cursor => wit_hook::Agent::Cursor,
        }
    }
}

impl From<wit_processes::ProcessIdentity> for ProcessIdentity {
    fn from(p: wit_processes::ProcessIdentity) -> Self {
        ProcessIdentity {
            boot_id: p.boot_id,
            pid_namespace: p.pid_namespace,
            start_time: p.start_time,
        }
    }
}

impl From<ProcessIdentity> for wit_processes::ProcessIdentity {
    fn from(p: ProcessIdentity) -> Self {
        wit_processes::ProcessIdentity {
            boot_id: p.boot_id,
            pid_namespace: p.pid_namespace,
            start_time: p.start_time,
        }
    }
}

impl From<wit::Session> for Session {
    fn from(s: wit::Session) -> Self {
        Session::new(&s.id, s.pid, s.pid_is_session)
    }
}

impl From<wit::LockRecord> for LockRecord {
    fn from(r: wit::LockRecord) -> Self {
        LockRecord {
            session_id: r.session_id,
            pid: r.pid,
            acquired_at: r.acquired_at,
            refreshed_at: r.refreshed_at,
            ttl_ms: r.ttl_ms,
            holder: r.holder.map(Into::into),
            workspace: None,
            agent: None,
        }
    }
}

impl From<LockRecord> for wit::LockRecord {
    fn from(r: LockRecord) -> Self {
        wit::LockRecord {
            session_id: r.session_id,
            pid: r.pid,
            acquired_at: r.acquired_at,
            refreshed_at: r.refreshed_at,
            ttl_ms: r.ttl_ms,
            holder: r.holder.map(Into::into),
        }
    }
}

impl From<wit::AcquireResult> for AcquireResult {
    fn from(r: wit::AcquireResult) -> Self {
        match r {
            wit::AcquireResult::Acquired(r) => AcquireResult::Acquired(r.into()),
            wit::AcquireResult::TakenOver(t) => AcquireResult::TakenOver {
                taken: t.taken.into(),
                previous: t.previous.into(),
                holder_gone: t.holder_gone,
            },
            wit::AcquireResult::Reacquired(r) => AcquireResult::Reacquired(r.into()),
            wit::AcquireResult::Blocked(r) => AcquireResult::Blocked(r.into()),
        }
    }
}

impl From<AcquireResult> for wit::AcquireResult {
    fn from(r: AcquireResult) -> Self {
        match r {
            AcquireResult::Acquired(r) => wit::AcquireResult::Acquired(r.into()),
            AcquireResult::TakenOver {
                taken,
                previous,
                holder_gone,
            } => wit::AcquireResult::TakenOver(wit::Takeover {
                taken: taken.into(),
                previous: previous.into(),
                holder_gone,
            }),
            AcquireResult::Reacquired(r) => wit::AcquireResult::Reacquired(r.into()),
            AcquireResult::Blocked(r) => wit::AcquireResult::Blocked(r.into()),
        }
    }
}

impl From<RefreshResult> for wit::RefreshResult {
    fn from(r: RefreshResult) -> Self {
        match r {
            RefreshResult::Refreshed(r) => wit::RefreshResult::Refreshed(r.into()),
            RefreshResult::NotHeld(r) => wit::RefreshResult::NotHeld(r.map(Into::into)),
        }
    }
}

impl From<ReleaseResult> for wit::ReleaseResult {
    fn from(r: ReleaseResult) -> Self {
        match r {
            ReleaseResult::Released(r) => wit::ReleaseResult::Released(r.into()),
            ReleaseResult::NotHeld(r) => wit::ReleaseResult::NotHeld(r.map(Into::into)),
        }
    }
}

impl From<ForceReleaseResult> for wit::ForceReleaseResult {
    fn from(r: ForceReleaseResult) -> Self {
        match r {
            ForceReleaseResult::Free => wit::ForceReleaseResult::Free,
            ForceReleaseResult::Released(r) => wit::ForceReleaseResult::Released(r.into()),
            ForceReleaseResult::ClearedUnreadable => wit::ForceReleaseResult::ClearedUnreadable,
        }
    }
}

impl From<LockState> for wit::LockState {
    fn from(s: LockState) -> Self {
        wit::LockState {
            record: s.record.into(),
            stale: s.stale,
            held_for_ms: s.held_for_ms,
            expires_in_ms: s.expires_in_ms,
            summary: s.summary,
        }
    }
}

impl From<PolicyError> for wit::PolicyError {
    fn from(e: PolicyError) -> Self {
        match e {
            PolicyError::Store(why) => wit::PolicyError::Store(why),
            PolicyError::Busy(why) => wit::PolicyError::Busy(why),
            PolicyError::UnreadableRecord(why) => wit::PolicyError::UnreadableRecord(why),
            PolicyError::Contended(n) => wit::PolicyError::Contended(n),
        }
    }
}
