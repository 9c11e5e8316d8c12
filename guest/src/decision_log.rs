//! The decision log: what the hook decided that a person may later ask about, one JSON line
//! per decision. The component says what to log and in which words; the host only appends the
//! line (the WIT `decision-log` import) beside its store and reads it back for people.
//!
//! Logged: a lock taken, taken over (and why: stale, or its holder proven gone), a call
//! refused (who, and who held the lock), a lock released, and every fail-open with its reason
//! (the host's, after a trap or an unreadable event, through `hook.fault-entry`; not its
//! deadline's, which a signal handler answers). Refreshes and calls that need no lock are not: they are most calls, and say nothing new.
//!
//! Each line is one object with the fields `at` (milliseconds since the epoch), `time` (UTC,
//! RFC 3339), `decision` (`taken`, `taken-over`, `refused`, `released`, `fail-open`),
//! `session`, `agent`, `pid`, `event`, `tool`, `workspace`, `key`, `holder` (for `taken-over`
//! and `refused`: `{session, pid, acquired_at}`), `why`, `observe` (set when the decision was
//! only observed) and `message`, one sentence for people. Absent facts are omitted. A line is
//! at most [`MAX_LINE_BYTES`] with its newline, so that a host can append it in one write that
//! no concurrent writer can tear.

use serde::Serialize;

use crate::message::{cut, duration, printable};
use crate::record::LockRecord;

/// The most bytes of one line, newline included: long texts in it are cut to fit.
pub const MAX_LINE_BYTES: usize = 4096;

/// The longest workspace path or reason kept in a line, in characters.
const MAX_TEXT_CHARS: usize = 512;

/// Where decisions go: the WIT `decision-log` import in the component.
pub trait DecisionLog {
    /// Appends one line (JSON, no newline). A failure is the host's to swallow: logging never
    /// changes an answer.
    fn append(&mut self, line: &str);
}

/// A log that keeps nothing (the native baseline, and callers that log nothing).
pub struct NoLog;

impl DecisionLog for NoLog {
    fn append(&mut self, _line: &str) {}
}

/// What was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A free lock was taken.
    Taken,
    /// A stale lock, or one whose holder was proven gone, was taken over.
    TakenOver {
        /// The holder was proven gone (else: the lock was stale).
        holder_gone: bool,
    },
    /// A call was refused: another session holds the lock fresh.
    Refused,
    /// The session let its lock go.
    Released,
    /// The call was let through without the lock.
    FailOpen,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Taken => "taken",
            Kind::TakenOver { .. } => "taken-over",
            Kind::Refused => "refused",
            Kind::Released => "released",
            Kind::FailOpen => "fail-open",
        }
    }
}

/// The facts of the event a decision was made on.
#[derive(Debug, Clone, Default)]
pub struct About<'a> {
    /// The deciding session's id.
    pub session: Option<&'a str>,
    /// Its agent (`claude`, …).
    pub agent: Option<&'a str>,
    /// Its process.
    pub pid: Option<u32>,
    /// The agent's event name.
    pub event: Option<&'a str>,
    /// The tool the event is about.
    pub tool: Option<&'a str>,
    /// Whether the decision was only observed (`SESSION_LOCK_MODE=observe`).
    pub observe: bool,
}

/// One decision on one lock.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    /// What was decided.
    pub kind: Kind,
    /// The workspace, when known.
    pub workspace: Option<&'a str>,
    /// Its lock key, when known.
    pub key: Option<&'a str>,
    /// The other session's record: the one taken over, or the one that refused.
    pub holder: Option<&'a LockRecord>,
    /// Why, for a fail-open.
    pub why: Option<&'a str>,
}

#[derive(Serialize)]
struct Line<'a> {
    at: u64,
    time: String,
    decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workspace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    holder: Option<Holder>,
    #[serde(skip_serializing_if = "Option::is_none")]
    why: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    observe: bool,
    message: String,
}

#[derive(Serialize)]
struct Holder {
    session: String,
    pid: u32,
    acquired_at: u64,
}

/// The line for `decision`, made at `now` on the event `about` describes.
pub fn line(about: &About, decision: &Decision, now: u64) -> String {
    let cut = |text: &str| cut(text, MAX_TEXT_CHARS);
    let why = match decision.kind {
        Kind::TakenOver { holder_gone: true } => Some("holder-gone".to_owned()),
        Kind::TakenOver { holder_gone: false } => Some("stale".to_owned()),
        _ => decision.why.map(cut),
    };
    let entry = Line {
        at: now,
        time: utc_time(now),
        decision: decision.kind.name(),
        session: about.session.map(printable),
        agent: about.agent,
        pid: about.pid,
        event: about.event.map(printable),
        tool: about.tool.map(printable),
        workspace: decision.workspace.map(cut),
        key: decision.key,
        holder: decision.holder.map(|h| Holder {
            session: printable(&h.session_id),
            pid: h.pid,
            acquired_at: h.acquired_at,
        }),
        why,
        observe: about.observe,
        message: message(about, decision, now),
    };
    let text = serde_json::to_string(&entry).expect("a log line always serializes");
    // Every text in it is cut, so this holds; the guard keeps the promise if that changes.
    if text.len() < MAX_LINE_BYTES {
        text
    } else {
        serde_json::json!({"at": now, "time": utc_time(now), "decision": decision.kind.name(),
            "message": "a decision too long to log"})
        .to_string()
    }
}

/// The sentence for people.
fn message(about: &About, decision: &Decision, now: u64) -> String {
    let who = about
        .session
        .map_or_else(|| "a session".to_owned(), printable);
    let agent = about.agent.map(|a| format!(" ({a})")).unwrap_or_default();
    let place = decision
        .workspace
        .map(|w| printable(&cut(w, MAX_TEXT_CHARS)))
        .or_else(|| decision.key.map(|k| format!("lock {k}")))
        .unwrap_or_else(|| "its workspace".to_owned());
    let holder = |h: &LockRecord| format!("{} (pid {})", printable(&h.session_id), h.pid);
    let refused = if about.observe {
        "would have been refused"
    } else {
        "was refused"
    };
    match decision.kind {
        Kind::Taken => format!("{who}{agent} took the lock of {place}"),
        Kind::TakenOver { holder_gone } => {
            let why = match (holder_gone, decision.holder) {
                (true, _) => "its process was gone".to_owned(),
                (false, Some(h)) => format!(
                    "it was stale for {}",
                    duration(h.expires_in_ms(now).unsigned_abs())
                ),
                (false, None) => "it was stale".to_owned(),
            };
            let from = decision.holder.map(holder).unwrap_or_default();
            format!("{who}{agent} took over the lock of {place} from {from}: {why}")
        }
        Kind::Refused => {
            let tool = about
                .tool
                .map(|t| format!(" {}", printable(t)))
                .unwrap_or_default();
            let by = decision.holder.map_or_else(String::new, |h| {
                format!(
                    ": held by {} for {}",
                    holder(h),
                    duration(h.held_for_ms(now))
                )
            });
            format!("{who}{agent} {refused}{tool} in {place}{by}")
        }
        Kind::Released => format!("{who}{agent} released the lock of {place}"),
        Kind::FailOpen => format!(
            "{who}{agent} was let through without the lock: {}",
            printable(&cut(
                decision.why.unwrap_or("no reason given"),
                MAX_TEXT_CHARS
            ))
        ),
    }
}

/// `2026-12-02T04:30:05Z` for milliseconds since the epoch.
pub fn utc_time(ms: u64) -> String {
    let seconds = ms / 1000;
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about() -> About<'static> {
        About {
            session: Some("B"),
            agent: Some("claude"),
            pid: Some(7),
            event: Some("PreToolUse"),
            tool: Some("Write"),
            observe: false,
        }
    }

    fn parsed(line: &str) -> serde_json::Value {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(utc_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_time(1_764_649_805_000), "2025-12-02T04:30:05Z");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn a_refusal_names_who_and_who_held_it() {
        let holder = LockRecord::new("A", 4101, 1_000, 300_000, None);
        let decision = Decision {
            kind: Kind::Refused,
            workspace: Some("/r"),
            key: Some("0123456789ab"),
            holder: Some(&holder),
            why: None,
        };
        let line = parsed(&line(&about(), &decision, 61_000));
        assert_eq!(line["decision"], "refused");
        assert_eq!(line["holder"]["session"], "A");
        assert_eq!(line["session"], "B");
        assert_eq!(
            line["message"],
            "B (claude) was refused Write in /r: held by A (pid 4101) for 1m 00s"
        );
    }

    #[test]
    fn a_takeover_says_why() {
        let holder = LockRecord::new("A", 1, 1_000, 1_000, None);
        let mut decision = Decision {
            kind: Kind::TakenOver { holder_gone: false },
            workspace: Some("/r"),
            key: None,
            holder: Some(&holder),
            why: None,
        };
        let stale = parsed(&line(&about(), &decision, 62_000));
        assert_eq!(stale["why"], "stale");
        assert!(
            stale["message"]
                .as_str()
                .unwrap()
                .ends_with("from A (pid 1): it was stale for 1m 00s")
        );
        decision.kind = Kind::TakenOver { holder_gone: true };
        assert_eq!(
            parsed(&line(&about(), &decision, 1_500))["why"],
            "holder-gone"
        );
    }

    #[test]
    fn a_line_is_one_line_within_the_cap_whatever_it_carries() {
        let long = "x\n".repeat(5_000);
        let decision = Decision {
            kind: Kind::FailOpen,
            workspace: Some(&long),
            key: None,
            holder: None,
            why: Some(&long),
        };
        let about = About {
            session: Some(&long),
            ..about()
        };
        let text = line(&about, &decision, 0);
        assert!(text.len() < MAX_LINE_BYTES, "{}", text.len());
        assert!(!text.contains('\n'));
        assert_eq!(parsed(&text)["decision"], "fail-open");
    }
}
