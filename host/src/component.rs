//! The policy component's interface: its bindings, and [`Policy`], one instance of it called
//! with fuel and memory caps so that no policy bug can hang the hook or eat the machine's
//! memory. Loading it is [`crate::artifact`]'s job.

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};

use crate::engine;

/// Where the loading functions lived before [`crate::artifact`] held them; tests still name
/// them here.
pub use crate::artifact::{load_copied, runtime};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "session-lock",
    additional_derives: [PartialEq, Eq],
});

pub use self::exports::session_lock::policy::hook::{
    Agent, HookContext, HookResponse, Mode, Registration,
};
pub use self::exports::session_lock::policy::policy as policy_types;
pub use self::session_lock::policy::lock_store;

/// The most linear memory the component may use: room for the largest event the host reads
/// ([`crate::hook::MAX_EVENT_BYTES`]) several times over.
pub const MEMORY_LIMIT_BYTES: usize = 96 << 20;

/// What a store holds: the lock store the component imports, and the caps.
pub struct State<S> {
    lock_store: S,
    limits: StoreLimits,
}

/// A loaded, instantiated policy component whose `lock-store` import is `S`.
pub struct Policy<S: 'static> {
    store: Store<State<S>>,
    bindings: SessionLock,
}

impl<S: lock_store::Host + Send + 'static> Policy<S> {
    /// Instantiates the component over `lock_store` (loading it first, once per process).
    pub fn load(lock_store: S) -> wasmtime::Result<Self> {
        let (engine, component) = runtime()?;
        Self::instantiate(engine, component, lock_store)
    }

    /// Instantiates `component`, loaded into `engine` (see [`crate::artifact`]), over
    /// `lock_store`: the step of [`Policy::load`] after loading, public so that the
    /// benchmark can time it apart from loading.
    pub fn instantiate(
        engine: &Engine,
        component: &Component,
        lock_store: S,
    ) -> wasmtime::Result<Self> {
        let mut linker = Linker::<State<S>>::new(engine);
        SessionLock::add_to_linker::<_, HasSelf<S>>(&mut linker, |state| &mut state.lock_store)?;
        let limits = StoreLimitsBuilder::new()
            .memory_size(MEMORY_LIMIT_BYTES)
            .instances(4)
            .build();
        let mut store = Store::new(engine, State { lock_store, limits });
        store.limiter(|state| &mut state.limits);
        store.set_fuel(crate::engine::FUEL_PER_CALL)?;
        let bindings = SessionLock::instantiate(&mut store, component, &linker)?;
        Ok(Policy { store, bindings })
    }

    /// The lock store, to inspect what the component did with it.
    pub fn lock_store(&mut self) -> &mut S {
        &mut self.store.data_mut().lock_store
    }

    /// Calls into the component with a full tank of fuel.
    fn call<R>(
        &mut self,
        f: impl FnOnce(&SessionLock, &mut Store<State<S>>) -> wasmtime::Result<R>,
    ) -> wasmtime::Result<R> {
        self.call_with_fuel(engine::FUEL_PER_CALL, f)
    }

    /// Calls into the component with `fuel`.
    fn call_with_fuel<R>(
        &mut self,
        fuel: u64,
        f: impl FnOnce(&SessionLock, &mut Store<State<S>>) -> wasmtime::Result<R>,
    ) -> wasmtime::Result<R> {
        self.store.set_fuel(fuel)?;
        f(&self.bindings, &mut self.store)
    }

    /// `hook.workspace-dir`.
    pub fn workspace_dir(
        &mut self,
        event: &[u8],
        project_dir: Option<&str>,
        process_cwd: &str,
    ) -> wasmtime::Result<String> {
        self.call_with_fuel(engine::fuel_for_event(event.len()), |b, s| {
            b.session_lock_policy_hook()
                .call_workspace_dir(s, event, project_dir, process_cwd)
        })
    }

    /// `hook.registrations`.
    pub fn registrations(&mut self, agent: Agent) -> wasmtime::Result<Vec<Registration>> {
        self.call(|b, s| b.session_lock_policy_hook().call_registrations(s, agent))
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
    ) -> wasmtime::Result<Result<policy_types::RefreshResult, policy_types::PolicyError>> {
        self.call(|b, s| {
            b.session_lock_policy_policy()
                .call_refresh(s, key, session, now_ms)
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
