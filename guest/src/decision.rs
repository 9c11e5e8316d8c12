//! Block or allow: the decision a session gets before it mutates the workspace.

use crate::lock::AcquireResult;
use crate::message::{self, WayOut};

/// What a session is told before it mutates the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether to refuse the mutation.
    pub block: bool,
    /// Why; set when `block` is.
    pub reason: Option<String>,
}

impl Decision {
    /// Go on.
    pub const ALLOW: Decision = Decision {
        block: false,
        reason: None,
    };
}

/// Blocks only when another session holds a fresh lock (`Blocked`: another id, or the same id
/// held by another live process); with no result (the policy could not decide) it fails open.
/// The refusal names a worktree as the way out in general terms ([`WayOut::AnyWorktree`]):
/// [`decide_with`] names it in an agent's.
pub fn decide(result: Option<&AcquireResult>, _session_id: &str, now: u64) -> Decision {
    decide_with(result, now, &WayOut::AnyWorktree.says("", ""))
}

/// [`decide`], the refusal naming `way_out` (the agent's way to go on now, [`WayOut::says`]).
pub fn decide_with(result: Option<&AcquireResult>, now: u64, way_out: &str) -> Decision {
    match result {
        Some(AcquireResult::Blocked(holder)) => Decision {
            block: true,
            reason: Some(message::block_reason(holder, now, way_out)),
        },
        _ => Decision::ALLOW,
    }
}
