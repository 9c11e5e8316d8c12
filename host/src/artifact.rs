//! The policy component as the binary carries it: the component itself, and the artifact
//! `build.rs` compiled from it ahead of time, loaded without a compiler and, where the system
//! allows, run in place from the binary's own pages.
//!
//! Nothing here knows the component's interface: [`crate::component`] instantiates and calls
//! what this module loads.

use std::sync::OnceLock;

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::engine;

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

/// Aligns its contents to a page, the unit `mprotect` works in.
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

/// An engine of [`engine::config`] and the component deserialized into memory of its own (a
/// copy of the embedded artifact): the fallback of [`runtime`].
pub fn load_copied() -> wasmtime::Result<(Engine, Component)> {
    let engine = Engine::new(&engine::config())?;
    // SAFETY: as in `load_component`; `deserialize` copies the bytes.
    let component = unsafe { Component::deserialize(&engine, &PRECOMPILED.0) }?;
    Ok((engine, component))
}

/// The process's engine and loaded component, made on first use and shared by every
/// [`crate::component::Policy`] (each has a store and an instance of its own). Where the
/// system refuses to make the binary's data executable, the component is loaded from a copy
/// instead: slower, same policy.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A CPU with no optional feature at all: every ISA flag the artifact was compiled with is
    /// checked against this instead of the machine running the test.
    fn no_optional_cpu_features(_feature: &str) -> Option<bool> {
        Some(false)
    }

    /// The artifact needs no CPU feature beyond the architecture's baseline (`build.rs`
    /// compiles it for the target, not for the build machine's CPU), so a binary built on an
    /// AVX-512 machine loads its component on any x86-64. wasmtime refuses an artifact with
    /// an enabled ISA flag (`has_avx`, `has_sse41`, ...) that the host's probe denies.
    #[test]
    fn the_artifact_loads_on_a_cpu_without_optional_features() {
        let mut config = engine::config();
        // SAFETY: the component is only deserialized, never run, in this engine, so a probe
        // that denies features the CPU has cannot make it execute what the CPU lacks.
        unsafe { config.detect_host_feature(no_optional_cpu_features) };
        let engine = Engine::new(&config).unwrap();
        // SAFETY: as in `load_copied`; this engine's configuration differs only in its probe.
        let loaded = unsafe { Component::deserialize(&engine, &PRECOMPILED.0) };
        if let Err(error) = loaded {
            panic!("the artifact needs an optional CPU feature: {error:?}");
        }
    }
}
