//! Builds the policy component and compiles it ahead of time, so the binary never compiles
//! WebAssembly at hook time and ships without a compiler.
//!
//! 1. `cargo build` the `guest` crate for `wasm32-unknown-unknown` (profile `guest`).
//! 2. Turn the core module into a component with `wit-component`; it imports only what the WIT
//!    says (no WASI).
//! 3. Precompile it with the engine configuration in `src/engine.rs`, for the baseline ISA of
//!    the target (no optional CPU features), so that it loads on any CPU the binary runs on.
//!
//! Both the component (`session-lock-policy.wasm`, for other hosts) and the precompiled artifact
//! (`session-lock-policy.cwasm`) land in `OUT_DIR` for `include_bytes!`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

#[path = "src/engine.rs"]
#[allow(dead_code, reason = "the run-time constants are not needed to compile")]
mod engine;

const GUEST_TARGET: &str = "wasm32-unknown-unknown";

fn main() -> Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir.parent().context("host/ has a parent")?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    for watched in [
        "guest/src",
        "guest/Cargo.toml",
        "wit",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-changed=src/engine.rs");

    let core_module = build_guest(root, &out_dir)?;
    let module = std::fs::read(&core_module)
        .with_context(|| format!("reading {}", core_module.display()))?;
    let component = wit_component::ComponentEncoder::default()
        .module(&module)?
        .validate(true)
        .encode()
        .context("turning the guest module into a component")?;
    let component = without_custom_sections(&component, &["component-name", "producers"])?;
    std::fs::write(out_dir.join("session-lock-policy.wasm"), &component)?;

    // Compile for the target's baseline ISA, not for this machine's CPU: with the host's
    // triple left implicit, wasmtime would enable every feature this CPU has (AVX-512 ...), and
    // the binary, copied to a machine without them, could not load its own component. An
    // explicit target turns that inference off, and every optional x86-64 (or aarch64)
    // feature is off by default, so the artifact needs none and loads on any CPU of the
    // architecture. `TARGET` is what cargo builds the binary for (a musl or cross build gets
    // its own).
    let target = env::var("TARGET").context("cargo sets TARGET for build scripts")?;
    let mut config = engine::config();
    config
        .target(&target)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("wasmtime cannot compile for {target}"))?;
    let engine = wasmtime::Engine::new(&config).map_err(anyhow::Error::from)?;
    let precompiled = engine
        .precompile_component(&component)
        .map_err(anyhow::Error::from)
        .context("precompiling the policy component")?;
    std::fs::write(out_dir.join("session-lock-policy.cwasm"), precompiled)?;
    Ok(())
}

/// `wasm` (a component) without its top-level custom sections of these names. The component's
/// names only serve debugging tools, and the binary carries every byte of it.
fn without_custom_sections(wasm: &[u8], names: &[&str]) -> Result<Vec<u8>> {
    use wasmparser::Payload;
    let mut kept = wasm_encoder::Component::new();
    // Each module or component, the outer one included, opens with a version and closes with
    // an end; only the outer one's sections are copied (nested ones travel inside them).
    let mut depth = 0;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        match &payload {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth -= 1,
            Payload::CustomSection(custom) if names.contains(&custom.name()) => {}
            _ if depth == 1 => {
                if let Some((id, range)) = payload.as_section() {
                    kept.section(&wasm_encoder::RawSection {
                        id,
                        data: &wasm[range],
                    });
                }
            }
            _ => {}
        }
    }
    Ok(kept.finish())
}

/// Builds the guest's core module in a target directory of its own (the outer cargo holds the
/// workspace's) and returns its path.
fn build_guest(root: &Path, out_dir: &Path) -> Result<PathBuf> {
    let target_dir = out_dir.join("guest-target");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(root)
        // The guest is an rlib (the native baseline links it); only this build makes it a
        // cdylib, so the two never share an output file name.
        .args([
            "rustc",
            "--package",
            "session-lock-policy",
            "--lib",
            "--crate-type",
            "cdylib",
        ])
        .args(["--target", GUEST_TARGET, "--profile", "guest"])
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's flags and wrappers (clippy, coverage, a native target-cpu) are for
        // the host, not for the wasm guest.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .context("running cargo to build the guest")?;
    if !status.success() {
        bail!(
            "building the policy component failed; if the target is missing, run \
             `rustup target add {GUEST_TARGET}`"
        );
    }
    Ok(target_dir
        .join(GUEST_TARGET)
        .join("guest")
        .join("session_lock_policy.wasm"))
}
