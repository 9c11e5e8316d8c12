//! Block or allow, and the one wording of the message a blocked session reads.

use crate::lock::AcquireResult;
use crate::record::LockRecord;

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

/// Blocks only when another session holds a fresh lock; with no result (the policy could not
/// decide) it fails open.
pub fn decide(result: Option<&AcquireResult>, session_id: &str, now: u64) -> Decision {
    match result {
        Some(AcquireResult::Blocked(holder)) if holder.session_id != session_id => Decision {
            block: true,
            reason: Some(block_reason(holder, now)),
        },
        _ => Decision::ALLOW,
    }
}

/// The reason a session is refused, naming the holder.
pub fn block_reason(holder: &LockRecord, now: u64) -> String {
    format!(
        "parallel session lock held by {} — wait or close that session first ({})",
        holder_name(holder),
        timing(holder, now),
    )
}

/// A lock for people: `session-A (pid 4101), held for 2m 05s, expires in 2m 55s`.
pub fn summary(holder: &LockRecord, now: u64) -> String {
    format!("{}, {}", holder_name(holder), timing(holder, now))
}

fn holder_name(holder: &LockRecord) -> String {
    format!("{} (pid {})", printable(&holder.session_id), holder.pid)
}

fn timing(holder: &LockRecord, now: u64) -> String {
    let held = duration(holder.held_for_ms(now));
    let left = holder.expires_in_ms(now);
    if holder.is_stale(now) {
        format!(
            "held for {held}, stale for {}",
            duration(left.unsigned_abs())
        )
    } else {
        format!(
            "held for {held}, expires in {}",
            duration(left.max(0) as u64)
        )
    }
}

/// A session id as shown to people: control characters replaced, long ids cut, so a hostile
/// record cannot break the one-line answer or flood the agent.
pub fn printable(session_id: &str) -> String {
    const MAX_CHARS: usize = 128;
    let mut shown: String = session_id
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if session_id.chars().nth(MAX_CHARS).is_some() {
        shown.push('…');
    }
    shown
}

/// A duration for people: `45s`, `4m 05s`, `2h 03m`.
pub fn duration(ms: u64) -> String {
    let seconds = ms / 1000;
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m {:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h {:02}m", seconds / 3600, seconds / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(999), "0s");
        assert_eq!(duration(45_000), "45s");
        assert_eq!(duration(245_000), "4m 05s");
        assert_eq!(duration(7_380_000), "2h 03m");
    }

    #[test]
    fn printable_ids_are_one_short_line() {
        assert_eq!(printable("a\nb"), "a?b");
        let long = "x".repeat(500);
        assert_eq!(printable(&long).chars().count(), 129);
    }
}
