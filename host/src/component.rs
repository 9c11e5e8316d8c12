//! The policy component: embedded precompiled, loaded without a compiler, called with fuel and
//! memory caps so that no policy bug can hang the hook or eat the machine's memory.

use std::sync::OnceLock;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};

use crate::engine;

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

/// The component as built from `guest/` (what other hosts embed; `session-lock component`
/// writes it out).
pub const COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/session-lock-policy.wasm"));

/// The component compiled ahead of time by `build.rs` with [`engine::config`], page aligned
/// so that its code can run where it lies in the binary instead of from a copy (copying the
/// artifact into fresh pages was the largest cost of a hook run).
static PRECOMPILED: &PageAligned<[u8]> = &PageAligned(*include_bytes!(concat!(
    env!("OUT_DIR"),
    "/session-lock-policy.cwasm"
)));

#[repr(C, align(4096))]
struct PageAligned<T: ?Sized>(T);

/// Makes the embedded artifact's code executable in place.
struct InPlace;

impl wasmtime::CustomCodeMemory for InPlace {
    fn required_alignment(&self) -> usize {
        4096
    }

    fn publish_executable(&self, ptr: *const u8, len: usize) -> wasmtime::Result<()> {
        // SAFETY: wasmtime passes a page-aligned range of PRECOMPILED, a static that lives as
        // long as the process; it stays readable, and becomes executable.
        let status = unsafe {
            libc::mprotect(
                ptr.cast_mut().cast(),
                len,
                libc::PROT_READ | libc::PROT_EXEC,
            )
        };
        if status != 0 {
            let error = std::io::Error::last_os_error();
            return Err(wasmtime::format_err!(
                "cannot make the policy's code executable: {error}"
            ));
        }
        Ok(())
    }

    fn unpublish_executable(&self, _ptr: *const u8, _len: usize) -> wasmtime::Result<()> {
        // Every engine in the process runs this same code: one engine's drop must not take it
        // away from another's (tests load many at once), so it stays executable.
        Ok(())
    }
}

/// The run-time engine: [`engine::config`], with the embedded code run in place.
pub fn engine() -> wasmtime::Result<Engine> {
    let mut config = engine::config();
    config.with_custom_code_memory(Some(std::sync::Arc::new(InPlace)));
    Engine::new(&config)
}

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

/// Loads the embedded precompiled component into `engine` (made by [`engine()`]).
///
/// The code runs in place, and wasmtime registers code by address, so a process may hold only
/// one loaded copy at a time: use [`runtime`], which loads it once for the whole process.
pub fn load_component(engine: &Engine) -> wasmtime::Result<Component> {
    // SAFETY: `PRECOMPILED` was produced by `Engine::precompile_component` in this crate's build
    // script, with the same `engine::config()`, for this target (wasmtime checks both), and it
    // is a static: it outlives every engine.
    unsafe { Component::deserialize_raw(engine, std::ptr::NonNull::from(&PRECOMPILED.0)) }
}

/// The process's engine and loaded component, made on first use and shared by every
/// [`Policy`] (each has a store and an instance of its own). Where the system refuses to make
/// the binary's data executable, the component is loaded from a copy instead: slower, same
/// policy.
pub fn runtime() -> wasmtime::Result<&'static (Engine, Component)> {
    static RUNTIME: OnceLock<Result<(Engine, Component), String>> = OnceLock::new();
    let loaded = RUNTIME.get_or_init(|| {
        let in_place = engine().and_then(|engine| Ok((load_component(&engine)?, engine)));
        match in_place {
            Ok((component, engine)) => Ok((engine, component)),
            Err(_) => load_copied().map_err(|e| e.to_string()),
        }
    });
    loaded
        .as_ref()
        .map_err(|why| wasmtime::format_err!("cannot load the policy component: {why}"))
}

/// An engine of [`engine::config`] and the component deserialized into memory of its own (a
/// copy of the embedded artifact): the fallback of [`runtime`].
pub fn load_copied() -> wasmtime::Result<(Engine, Component)> {
    let engine = Engine::new(&engine::config())?;
    // SAFETY: as in `load_component`; `deserialize` copies the bytes.
    let component = unsafe { Component::deserialize(&engine, &PRECOMPILED.0) }?;
    Ok((engine, component))
}

impl<S: lock_store::Host + Send + 'static> Policy<S> {
    /// Instantiates the component over `lock_store` (loading it first, once per process).
    pub fn load(lock_store: S) -> wasmtime::Result<Self> {
        let (shared_engine, component) = runtime()?;
        let mut linker = Linker::<State<S>>::new(shared_engine);
        SessionLock::add_to_linker::<_, HasSelf<S>>(&mut linker, |state| &mut state.lock_store)?;
        let limits = StoreLimitsBuilder::new()
            .memory_size(MEMORY_LIMIT_BYTES)
            .instances(4)
            .build();
        let mut store = Store::new(shared_engine, State { lock_store, limits });
        store.limiter(|state| &mut state.limits);
        store.set_fuel(engine::FUEL_PER_CALL)?;
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
