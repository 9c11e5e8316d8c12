//! The one wasmtime configuration: used by `build.rs` to precompile the component and by the
//! binary to load it. A precompiled component loads only into an engine configured exactly as
//! the one that compiled it, and the build script's wasmtime (with Cranelift) and the binary's
//! (without) have different cargo features, so every setting whose default depends on them is
//! set here explicitly.

use wasmtime::{Config, WasmFeatures};

/// Fuel for one call into the component: far above what a small hook event needs (a few hundred
/// thousand units), low enough that a runaway loop ends in a fraction of a second.
pub const FUEL_PER_CALL: u64 = 200_000_000;

/// Extra fuel per byte of event: skipping a large `tool_input` (a `Write` carries the whole
/// file) costs up to ~70 units a byte for dense JSON escapes or arrays, so the budget grows with
/// the event instead of refusing large, ordinary events.
pub const FUEL_PER_EVENT_BYTE: u64 = 128;

/// The fuel for a call that reads an event of `event_bytes`.
pub fn fuel_for_event(event_bytes: usize) -> u64 {
    FUEL_PER_CALL.saturating_add(FUEL_PER_EVENT_BYTE.saturating_mul(event_bytes as u64))
}

/// Wasm features the component does not use and the slim runtime does not have.
fn unused_features() -> WasmFeatures {
    WasmFeatures::GC
        | WasmFeatures::GC_TYPES
        | WasmFeatures::EXCEPTIONS
        | WasmFeatures::LEGACY_EXCEPTIONS
        | WasmFeatures::FUNCTION_REFERENCES
        | WasmFeatures::THREADS
        | WasmFeatures::SHARED_EVERYTHING_THREADS
        | WasmFeatures::STACK_SWITCHING
        | WasmFeatures::CM_ASYNC
        | WasmFeatures::CM_ASYNC_STACKFUL
        | WasmFeatures::CM_MORE_ASYNC_BUILTINS
        | WasmFeatures::CM_THREADING
        | WasmFeatures::CM_ERROR_CONTEXT
        | WasmFeatures::CM_GC
}

/// The engine configuration shared by compile time and run time.
pub fn config() -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .wasm_features(unused_features(), false)
        .gc_support(false)
        .concurrency_support(false)
        // Fuel bounds every call, so a policy bug can never hang the hook.
        .consume_fuel(true)
        .epoch_interruption(false)
        .signals_based_traps(true)
        // A trap fails open either way; capturing a backtrace only costs time.
        .wasm_backtrace_max_frames(None)
        .native_unwind_info(true);
    config
}
