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

/// Extra fuel for a call that reads an event: enough to classify the event's shell command
/// line, whatever else the event carries. The component reads a line of up to 64 KiB
/// (`shell::MAX_LINE_BYTES` in the guest; a longer one needs every lock without being read);
/// the costliest lines measured just under that cost about 2,800 units a byte (simple
/// commands nested three deep in `bash -c`, read twice: whether they only read, and what they
/// may change; 4,200 before the component was built at opt-level 3), so this is 8,192 units
/// for each of its bytes, more than twice that.
///
/// Re-measure with `cargo test -p session-lock --test budget -- --nocapture`: it prints the
/// fuel and time of every shape just under the bound, alone and in a 15 MiB event, and fails
/// when one alone needs more than half of this and [`FUEL_PER_CALL`] together.
pub const FUEL_FOR_SHELL_LINE: u64 = (64 << 10) * 8_192;

/// The fuel for a call that reads an event of `event_bytes`: the call's own, the shell line's,
/// and the event's bytes'.
pub fn fuel_for_event(event_bytes: usize) -> u64 {
    FUEL_PER_CALL
        .saturating_add(FUEL_FOR_SHELL_LINE)
        .saturating_add(FUEL_PER_EVENT_BYTE.saturating_mul(event_bytes as u64))
}

/// Extra fuel for each key the store lists, the first time in a call that it lists them, so
/// that a session can let go of its locks however many others the store holds. What the
/// component does with one listed lock costs about 9,700 units at `Stop` (read its record,
/// judge it) and about 56,500 for a command that needs every lock (take a stale one over);
/// this leaves room for records longer than this tool writes. A call that lists again gets
/// nothing more, so a runaway loop of listings still runs out. Measured by
/// `cargo test -p session-lock --test budget -- --nocapture` (`BUDGET_RECORDS=…` for other
/// counts), which fails when a lock needs more than half of this.
pub const FUEL_PER_KEY: u64 = 250_000;

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
        // No unwinder ever walks the component's frames: the release binary aborts on panic,
        // and wasmtime catches a host function's panic before it would cross them. With the
        // unwind tables on, loading registered every function's FDE with the static musl
        // build's libunwind (`__register_frame`, one call each) and dropped them again at exit;
        // off, the shipped hook runs 3-9% faster (`bench/compare_builds.py`, docs/performance.md).
        // Windows alone requires them, and wasmtime refuses this setting there; this tool ships
        // no Windows build.
        .native_unwind_info(false);
    config
}
