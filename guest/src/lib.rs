//! The session-lock policy: every decision of the lock, and no I/O.
//!
//! Built for `wasm32-unknown-unknown`, this crate becomes the policy component (see
//! [`component`], the only wasm-specific part): its one import is the `lock-store` interface of
//! `wit/`, so time, pids and the workspace arrive as arguments. Built natively, the same code is
//! the benchmark's native baseline.
//!
//! - [`record`]: the stored lock record and the staleness rule.
//! - [`store`]: the lock store the policy runs against (the WIT import, as a trait).
//! - [`lock`]: acquire, refresh, release: compare-and-swap loops over the store.
//! - [`decision`]: block or allow, and the message a blocked session reads.
//! - [`workspace`]: which directory names a workspace, and its lock key.
//! - [`protocol`]: the agents' hook events and answers.
//! - [`hook`]: one hook event in, one answer out.

pub mod decision;
pub mod hook;
pub mod lock;
pub mod protocol;
pub mod record;
pub mod shell;
pub mod store;
pub mod workspace;

#[cfg(target_arch = "wasm32")]
mod component;
