//! The policy component's interface: its bindings, and [`Policy`], one instance of it called
//! with fuel and memory caps so that no policy bug can hang the hook or eat the machine's
//! memory. Loading it is [`crate::artifact`]'s job.

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, StoreContextMut, StoreLimits, StoreLimitsBuilder};

use crate::decision_log::DecisionSink;
use crate::engine;
use crate::processes::LocalProcesses;

/// Where the loading functions lived before [`crate::artifact`] held them; tests still name
/// them here.
pub use crate::artifact::{load_copied, runtime};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "session-lock",
    additional_derives: [PartialEq, Eq],
});

pub use self::exports::session_lock::policy::hook::{
    Agent, CommandVerdict, HookContext, HookResponse, Invocation, Registration, ResolvedPath,
};
pub use self::exports::session_lock::policy::overview::{LockEntry, LockFound};
pub use self::exports::session_lock::policy::policy as policy_types;
pub use self::exports::session_lock::policy::setup::Scope;
pub use self::session_lock::policy::{decision_log, lock_store, processes};

/// The most linear memory the component may use: room for the largest event the host reads
/// ([`crate::hook::MAX_EVENT_BYTES`]) several times over.
pub const MEMORY_LIMIT_BYTES: usize = 96 << 20;

/// The lock store's interface, without its version, among the component's imports.
const LOCK_STORE: &str = "session-lock:policy/lock-store@";

/// The full name (`session-lock:policy/lock-store@<version>`) under which `component` imports
/// the lock store: read from the component, so that a new WIT version can never leave the
/// per-key fuel on a name nothing imports.
fn lock_store_import(engine: &Engine, component: &Component) -> wasmtime::Result<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name)
        .find(|name| name.starts_with(LOCK_STORE))
        .map(str::to_owned)
        .ok_or_else(|| wasmtime::format_err!("the policy component imports no {LOCK_STORE}*"))
}

/// What a store holds: the component's imports (a lock store, process facts), and the caps.
pub struct State<S, P> {
    lock_store: S,
    processes: P,
    limits: StoreLimits,
    /// Where the component's decision lines go; `None`: they are dropped.
    decision_log: Option<Box<dyn DecisionSink>>,
    /// The fuel given to the call under way (or the last one).
    fuel_given: u64,
    /// Whether the call under way has had its fuel for listed keys
    /// ([`engine::FUEL_PER_KEY`]).
    keys_funded: bool,
}

impl<S, P> decision_log::Host for State<S, P> {
    fn append(&mut self, entry: String) -> Result<(), String> {
        match &mut self.decision_log {
            Some(log) => log.append(&entry),
            None => Ok(()),
        }
    }
}

impl From<String> for lock_store::StoreError {
    /// A fault: every store error that does not say it is contention.
    fn from(why: String) -> Self {
        lock_store::StoreError::Failed(why)
    }
}

impl lock_store::StoreError {
    /// The line for people, whichever kind the error is.
    pub fn message(&self) -> &str {
        match self {
            lock_store::StoreError::Busy(why) | lock_store::StoreError::Failed(why) => why,
        }
    }
}

impl<S: lock_store::Host, P> lock_store::Host for State<S, P> {
    fn read(&mut self, key: String) -> Result<Option<Vec<u8>>, lock_store::StoreError> {
        self.lock_store.read(key)
    }

    fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        replacement: Option<Vec<u8>>,
    ) -> Result<lock_store::SwapOutcome, lock_store::StoreError> {
        self.lock_store.compare_and_swap(key, expected, replacement)
    }

    fn keys(&mut self) -> Result<Vec<String>, lock_store::StoreError> {
        self.lock_store.keys()
    }
}

impl<S, P: processes::Host> processes::Host for State<S, P> {
    fn status(&mut self, pid: u32) -> processes::ProcessStatus {
        self.processes.status(pid)
    }

    fn is_ancestor(&mut self, pid: u32) -> Option<bool> {
        self.processes.is_ancestor(pid)
    }
}

/// A loaded, instantiated policy component whose imports are the lock store `S` and the
/// process facts `P` (this machine's, unless a test gives others).
pub struct Policy<S: 'static, P: 'static = LocalProcesses> {
    store: Store<State<S, P>>,
    bindings: SessionLock,
}

impl<S: lock_store::Host + Send + 'static> Policy<S> {
    /// Instantiates the component over `lock_store` and this machine's processes (loading it
    /// first, once per process).
    pub fn load(lock_store: S) -> wasmtime::Result<Self> {
        Policy::with_processes(lock_store, LocalProcesses)
    }
}

impl<S, P> Policy<S, P>
where
    S: lock_store::Host + Send + 'static,
    P: processes::Host + Send + 'static,
{
    /// Instantiates the component over `lock_store` and `processes` (loading it first, once
    /// per process).
    pub fn with_processes(lock_store: S, processes: P) -> wasmtime::Result<Self> {
        let (engine, component) = runtime()?;
        Self::instantiate(engine, component, lock_store, processes)
    }

    /// Instantiates `component`, loaded into `engine` (see [`crate::artifact`]), over
    /// `lock_store` and `processes`: the step of [`Policy::load`] after loading, public so
    /// that the benchmark can time it apart from loading.
    pub fn instantiate(
        engine: &Engine,
        component: &Component,
        lock_store: S,
        processes: P,
    ) -> wasmtime::Result<Self> {
        let mut linker = Linker::<State<S, P>>::new(engine);
        SessionLock::add_to_linker::<_, HasSelf<State<S, P>>>(&mut linker, |state| state)?;
        // `keys` again, with the store at hand: the first listing of a call brings fuel for
        // each key listed, so the component's work on every lock is budgeted per lock.
        linker.allow_shadowing(true);
        linker
            .instance(&lock_store_import(engine, component)?)?
            .func_wrap(
                "keys",
                |mut store: StoreContextMut<'_, State<S, P>>, (): ()| {
                    let keys = store.data_mut().lock_store.keys();
                    if let Ok(listed) = &keys
                        && !store.data().keys_funded
                    {
                        let extra = engine::FUEL_PER_KEY.saturating_mul(listed.len() as u64);
                        let fuel = store.get_fuel()?.saturating_add(extra);
                        store.set_fuel(fuel)?;
                        let state = store.data_mut();
                        state.keys_funded = true;
                        state.fuel_given = state.fuel_given.saturating_add(extra);
                    }
                    Ok((keys,))
                },
            )?;
        let limits = StoreLimitsBuilder::new()
            .memory_size(MEMORY_LIMIT_BYTES)
            .instances(4)
            .build();
        let state = State {
            lock_store,
            processes,
            limits,
            decision_log: None,
            fuel_given: engine::FUEL_PER_CALL,
            keys_funded: false,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limits);
        store.set_fuel(engine::FUEL_PER_CALL)?;
        let bindings = SessionLock::instantiate(&mut store, component, &linker)?;
        Ok(Policy { store, bindings })
    }

    /// The lock store, to inspect what the component did with it.
    pub fn lock_store(&mut self) -> &mut S {
        &mut self.store.data_mut().lock_store
    }

    /// Sends the component's decision lines to `log` from now on (by default they are
    /// dropped).
    pub fn set_decision_log(&mut self, log: impl DecisionSink + 'static) {
        self.store.data_mut().decision_log = Some(Box::new(log));
    }

    /// `overview.all-locks`.
    pub fn all_locks(&mut self, now_ms: u64) -> wasmtime::Result<Result<Vec<LockEntry>, String>> {
        self.call(|b, s| b.session_lock_policy_overview().call_all_locks(s, now_ms))
    }

    /// `overview.status-line-directory`.
    pub fn status_line_directory(&mut self, input: &[u8]) -> wasmtime::Result<Option<String>> {
        self.call(|b, s| {
            b.session_lock_policy_overview()
                .call_status_line_directory(s, input)
        })
    }

    /// `overview.status-line`.
    pub fn status_line(
        &mut self,
        input: &[u8],
        key: &str,
        now_ms: u64,
    ) -> wasmtime::Result<String> {
        self.call(|b, s| {
            b.session_lock_policy_overview()
                .call_status_line(s, input, key, now_ms)
        })
    }

    /// The process facts the component is given, to change them between calls.
    pub fn processes(&mut self) -> &mut P {
        &mut self.store.data_mut().processes
    }

    /// Calls into the component with a full tank of fuel.
    fn call<R>(
        &mut self,
        f: impl FnOnce(&SessionLock, &mut Store<State<S, P>>) -> wasmtime::Result<R>,
    ) -> wasmtime::Result<R> {
        self.call_with_fuel(engine::FUEL_PER_CALL, f)
    }

    /// Calls into the component with `fuel`.
    fn call_with_fuel<R>(
        &mut self,
        fuel: u64,
        f: impl FnOnce(&SessionLock, &mut Store<State<S, P>>) -> wasmtime::Result<R>,
    ) -> wasmtime::Result<R> {
        self.store.set_fuel(fuel)?;
        let state = self.store.data_mut();
        state.fuel_given = fuel;
        state.keys_funded = false;
        f(&self.bindings, &mut self.store)
    }

    /// The fuel the last call into the component burned, and the fuel it was given: to measure
    /// the budget's headroom (see [`crate::engine`]).
    pub fn last_call_fuel(&self) -> (u64, u64) {
        let given = self.store.data().fuel_given;
        let left = self.store.get_fuel().unwrap_or(0);
        (given.saturating_sub(left), given)
    }

    /// `hook.agent-named`.
    pub fn agent_named(&mut self, name: &str) -> wasmtime::Result<Result<Agent, String>> {
        self.call(|b, s| b.session_lock_policy_hook().call_agent_named(s, name))
    }

    /// `hook.environment-variables`.
    pub fn environment_variables(&mut self) -> wasmtime::Result<Vec<String>> {
        self.call(|b, s| b.session_lock_policy_hook().call_environment_variables(s))
    }

    /// `hook.registrations`.
    pub fn registrations(&mut self, agent: Agent) -> wasmtime::Result<Vec<Registration>> {
        self.call(|b, s| b.session_lock_policy_hook().call_registrations(s, agent))
    }

    /// `hook.targets`.
    pub fn targets(
        &mut self,
        event: &[u8],
        invocation: &Invocation,
    ) -> wasmtime::Result<Vec<String>> {
        self.call_with_fuel(engine::fuel_for_event(event.len()), |b, s| {
            b.session_lock_policy_hook()
                .call_targets(s, event, invocation)
        })
    }

    /// `hook.handle`.
    pub fn handle(
        &mut self,
        event: &[u8],
        context: &HookContext,
    ) -> wasmtime::Result<HookResponse> {
        self.call_with_fuel(engine::fuel_for_event(event.len()), |b, s| {
            b.session_lock_policy_hook().call_handle(s, event, context)
        })
    }

    /// `hook.fault-answer`.
    pub fn fault_answer(
        &mut self,
        agent: Option<Agent>,
        reason: &str,
    ) -> wasmtime::Result<HookResponse> {
        self.call(|b, s| {
            b.session_lock_policy_hook()
                .call_fault_answer(s, agent, reason)
        })
    }

    /// `hook.fault-entry`.
    pub fn fault_entry(
        &mut self,
        agent: Option<Agent>,
        reason: &str,
        now_ms: u64,
    ) -> wasmtime::Result<String> {
        self.call(|b, s| {
            b.session_lock_policy_hook()
                .call_fault_entry(s, agent, reason, now_ms)
        })
    }

    /// `hook.workspace-key`.
    pub fn workspace_key(&mut self, directory: &ResolvedPath) -> wasmtime::Result<String> {
        self.call(|b, s| {
            b.session_lock_policy_hook()
                .call_workspace_key(s, directory)
        })
    }

    /// `hook.explain`.
    pub fn explain(&mut self, command: &str) -> wasmtime::Result<CommandVerdict> {
        self.call(|b, s| b.session_lock_policy_hook().call_explain(s, command))
    }

    /// `setup.settings-file`, in this process's environment.
    pub fn settings_file(
        &mut self,
        agent: Agent,
        scope: Scope,
    ) -> wasmtime::Result<Result<String, String>> {
        let environment = crate::settings::environment(&self.environment_variables()?);
        self.call(|b, s| {
            b.session_lock_policy_setup()
                .call_settings_file(s, agent, scope, &environment)
        })
    }

    /// `setup.next-steps`.
    pub fn next_steps(&mut self, agent: Agent, scope: Scope) -> wasmtime::Result<Vec<String>> {
        self.call(|b, s| {
            b.session_lock_policy_setup()
                .call_next_steps(s, agent, scope)
        })
    }

    /// `setup.install`.
    pub fn install(
        &mut self,
        agent: Agent,
        settings: &str,
        binary: &str,
        wait_ms: u64,
    ) -> wasmtime::Result<Result<String, String>> {
        self.call(|b, s| {
            b.session_lock_policy_setup()
                .call_install(s, agent, settings, binary, wait_ms)
        })
    }

    /// `setup.uninstall`.
    pub fn uninstall(
        &mut self,
        agent: Agent,
        settings: &str,
    ) -> wasmtime::Result<Result<String, String>> {
        self.call(|b, s| {
            b.session_lock_policy_setup()
                .call_uninstall(s, agent, settings)
        })
    }

    /// `policy.workspace-hash`.
    pub fn workspace_hash(&mut self, path: &str) -> wasmtime::Result<String> {
        self.call(|b, s| b.session_lock_policy_policy().call_workspace_hash(s, path))
    }

    /// `policy.is-stale`.
    pub fn is_stale(
        &mut self,
        record: &policy_types::LockRecord,
        now_ms: u64,
    ) -> wasmtime::Result<bool> {
        self.call(|b, s| {
            b.session_lock_policy_policy()
                .call_is_stale(s, record, now_ms)
        })
    }

    /// `policy.acquire`.
    pub fn acquire(
        &mut self,
        key: &str,
        session: &policy_types::Session,
        now_ms: u64,
        ttl_ms: u64,
    ) -> wasmtime::Result<Result<policy_types::AcquireResult, policy_types::PolicyError>> {
        self.call(|b, s| {
            b.session_lock_policy_policy()
                .call_acquire(s, key, session, now_ms, ttl_ms)
        })
    }

    /// `policy.refresh`.
    pub fn refresh(
        &mut self,
        key: &str,
        session: &policy_types::Session,
        now_ms: u64,
        ttl_ms: u64,
    ) -> wasmtime::Result<Result<policy_types::RefreshResult, policy_types::PolicyError>> {
        self.call(|b, s| {
            b.session_lock_policy_policy()
                .call_refresh(s, key, session, now_ms, ttl_ms)
        })
    }

    /// `policy.release`.
    pub fn release(
        &mut self,
        key: &str,
        session_id: &str,
    ) -> wasmtime::Result<Result<policy_types::ReleaseResult, policy_types::PolicyError>> {
        self.call(|b, s| {
            b.session_lock_policy_policy()
                .call_release(s, key, session_id)
        })
    }

    /// `policy.inspect`.
    pub fn inspect(
        &mut self,
        key: &str,
        now_ms: u64,
    ) -> wasmtime::Result<Result<Option<policy_types::LockState>, policy_types::PolicyError>> {
        self.call(|b, s| b.session_lock_policy_policy().call_inspect(s, key, now_ms))
    }

    /// `policy.force-release`.
    pub fn force_release(
        &mut self,
        key: &str,
    ) -> wasmtime::Result<Result<policy_types::ForceReleaseResult, policy_types::PolicyError>> {
        self.call(|b, s| b.session_lock_policy_policy().call_force_release(s, key))
    }

    /// `policy.decide`.
    pub fn decide(
        &mut self,
        outcome: Option<&policy_types::AcquireResult>,
        session_id: &str,
        now_ms: u64,
    ) -> wasmtime::Result<policy_types::Decision> {
        self.call(|b, s| {
            b.session_lock_policy_policy()
                .call_decide(s, outcome, session_id, now_ms)
        })
    }
}
