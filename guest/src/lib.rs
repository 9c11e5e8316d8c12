//! The session-lock policy: every decision of the lock, and no I/O.
//!
//! Built for `wasm32-unknown-unknown`, this crate becomes the policy component (see
//! [`component`], the only wasm-specific part): its imports are the `lock-store` and
//! `processes` interfaces of `wit/`, so time, paths and process facts arrive as arguments.
//! Built natively, the same code is the benchmark's native baseline.
//!
//! - [`record`]: the stored lock record and the staleness rule.
//! - [`store`], [`processes`]: what the policy asks of its host (the WIT imports, as traits).
//! - [`lock`]: acquire, refresh, release: compare-and-swap loops over the store.
//! - [`message`]: the words people read; [`decision`]: block or allow.
//! - [`decision_log`]: the line logged for each decision; [`overview`]: every lock, and the
//!   status line, for people.
//! - [`workspace`]: which workspace a path belongs to, and its lock key.
//! - [`shell`]: whether a shell command is read-only, and where it works.
//! - [`agents`]: each agent's hook protocol, one module each.
//! - [`settings`]: what the environment says.
//! - [`hook`]: one hook event in, one answer out.
//! - [`install`]: an agent's settings text with the hooks added or removed.

pub mod agents;
pub mod decision;
pub mod decision_log;
pub mod hook;
pub mod install;
pub mod lock;
pub mod message;
pub mod overview;
pub mod processes;
pub mod record;
pub mod settings;
pub mod shell;
pub mod store;
pub mod visible;
pub mod workspace;

#[cfg(target_arch = "wasm32")]
mod component;
