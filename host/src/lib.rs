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
//! - [`fs_store`]: the `lock-store` import on the real filesystem, in the directory
//!   [`lock_dir`] opened and checked; [`etcd_store`]: on an etcd cluster (over [`etcd_tls`]
//!   and [`etcd_auth`]); [`stores`]: the one `SESSION_LOCK_STORE` chooses.
//! - [`processes`]: the `processes` import on `/proc`.
//! - [`workspace`]: resolving paths (symlinks, git work tree).
//! - [`visible`]: the one filter for text shown to people (shared with the component).
//! - [`settings`]: what the environment says (the lock directory; the rest is passed on raw).
//! - [`hook`], [`demo`]: the commands that run events through the component.
//! - [`status`], [`release`] (over [`lock_at`]), [`install`] (with [`install_guard`]),
//!   [`doctor`] (reading the clients' own files in [`agent_trust`], [`claude_plugin`],
//!   [`gemini_extension`] and [`launcher`]): the commands a person runs; [`status_all`], [`log_command`], [`statusline`]
//!   and [`doctor_log`] over [`decision_log`] (the log the hook keeps of its decisions).
//!
//! The benchmark and its native baseline are the workspace member `bench/`, so that this crate
//! ships none of their code.

pub mod agent_trust;
pub mod artifact;
pub mod claude_plugin;
pub mod component;
pub mod decision_log;
pub mod demo;
pub mod doctor;
pub mod doctor_log;
pub mod engine;
pub mod etcd_auth;
pub mod etcd_store;
pub mod etcd_tls;
pub mod fs_store;
pub mod gemini_extension;
pub mod hook;
pub mod install;
pub mod install_guard;
pub mod launcher;
pub mod lock_at;
pub mod lock_dir;
pub mod log_command;
pub mod processes;
pub mod registered;
pub mod release;
pub mod settings;
pub mod status;
pub mod status_all;
pub mod statusline;
pub mod stores;
/// Text from a repository, an event or a record, made safe to show a person: the component's
/// own filter (`guest/src/visible.rs`), compiled into the host from the same file so both
/// print through one implementation.
#[path = "../../guest/src/visible.rs"]
pub mod visible;
pub mod workspace;
