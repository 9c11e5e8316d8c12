//! The `doctor` check of the decision log: the calls let through without the lock on this
//! machine in the last day, with their reasons, since each was a time the lock did not
//! protect the workspace.

use crate::decision_log::LogFile;
use crate::doctor::Check;
use crate::settings;

/// How far back the check looks.
pub const RECENT_MS: u64 = 24 * 3600 * 1000;

/// How many reasons the check lists (the newest).
const SHOWN: usize = 3;

/// Passes when the decision log shows no fail-open in the last day; else fails, naming how
/// many there were and the newest reasons.
pub fn fail_open_check() -> Check {
    let name = "recent fail-opens".to_owned();
    let log = match LogFile::from_env() {
        Ok(log) => log,
        Err(why) => {
            return Check {
                name,
                ok: true,
                detail: format!("no decision log to read: {why}"),
                fix: None,
            };
        }
    };
    let entries = match log.entries() {
        Ok(entries) => entries,
        Err(why) => {
            return Check {
                name,
                ok: false,
                detail: format!("cannot read the decision log: {why}"),
                fix: Some(format!(
                    "make {} readable by you (mode 0600)",
                    log.path().display()
                )),
            };
        }
    };
    let since = settings::now_ms().saturating_sub(RECENT_MS);
    let recent: Vec<_> = entries
        .iter()
        .filter(|e| e["decision"] == "fail-open" && e["at"].as_u64().unwrap_or(0) >= since)
        .collect();
    if recent.is_empty() {
        return Check {
            name,
            ok: true,
            detail: "no call was let through without the lock in the last 24h".to_owned(),
            fix: None,
        };
    }
    let reasons: Vec<String> = recent
        .iter()
        .rev()
        .take(SHOWN)
        .map(|e| {
            format!(
                "{} {}",
                e["time"].as_str().unwrap_or("?"),
                e["why"].as_str().unwrap_or("no reason given")
            )
        })
        .collect();
    Check {
        name,
        ok: false,
        detail: format!(
            "{} call(s) let through without the lock in the last 24h; newest: {}",
            recent.len(),
            reasons.join("; ")
        ),
        fix: Some(
            "the reasons say what failed; `session-lock log --since 24h` shows every decision"
                .to_owned(),
        ),
    }
}
