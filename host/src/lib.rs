//! The session-lock host: every piece of I/O, and no policy.
//!
//! The policy (which events do what, staleness, the block message, the answer's form) lives in
//! the WebAssembly component built from `guest/`; this crate loads it and gives it the world:
//!
//! - [`engine`]: the one wasmtime configuration and the fuel (shared with `build.rs`).
//! - [`artifact`]: the embedded component and its precompiled artifact, loaded once per
//!   process and run in place.
//! - [`component`]: the component's bindings, and [`component::Policy`], one instance of it
//!   called within the memory and fuel caps.
//! - [`fs_store`]: the `lock-store` import on the real filesystem; [`etcd_store`]: on an etcd
//!   cluster; [`stores`]: the one `SESSION_LOCK_STORE` chooses.
//! - [`processes`]: the `processes` import on `/proc`.
//! - [`workspace`]: resolving paths (symlinks, git work tree).
//! - [`settings`]: what the environment says (the lock directory; the rest is passed on raw).
//! - [`hook`], [`demo`]: the commands that run events through the component.
//! - [`status`], [`release`] (over [`lock_at`]), [`install`], [`doctor`]: the commands a
//!   person runs; [`status_all`], [`log_command`], [`statusline`] and [`doctor_log`] over
//!   [`decision_log`] (the log the hook keeps of its decisions).
//!
//! The benchmark and its native baseline are the workspace member `bench/`, so that this crate
//! ships none of their code.

pub mod artifact;
pub mod component;
pub mod decision_log;
pub mod demo;
pub mod doctor;
pub mod doctor_log;
pub mod engine;
pub mod etcd_store;
pub mod fs_store;
pub mod hook;
pub mod install;
pub mod lock_at;
pub mod log_command;
pub mod processes;
pub mod release;
pub mod settings;
pub mod status;
pub mod status_all;
pub mod statusline;
pub mod stores;
pub mod workspace;
