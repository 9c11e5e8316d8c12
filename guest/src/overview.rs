//! Views of the locks for the commands a person runs: every lock in the store (`status
//! --all`), and the one short line an agent's status line shows (`statusline`). Reading only:
//! nothing here writes.

use serde::Deserialize;

use crate::lock::{self, LockState, PolicyError};
use crate::message::{duration, printable};
use crate::store::LockStore;

/// What one key of the store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A lock record, fresh or stale.
    Held(LockState),
    /// Bytes that are not a lock record; carries why.
    Unreadable(String),
    /// The record was gone by the time it was read (released meanwhile).
    Vanished,
    /// The record could not be read; carries why.
    Error(String),
}

/// One lock of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its key.
    pub key: String,
    /// What it holds.
    pub found: Found,
    /// The lock for people, one line: the workspace it guards (its key, for records that do
    /// not name it), the holder, how long it is held and when it frees, fresh or stale.
    pub line: String,
}

/// Every lock in the store at `now`, sorted by the workspace each guards; `Err` when the
/// store cannot list its keys.
pub fn all_locks(store: &mut impl LockStore, now: u64) -> Result<Vec<Entry>, String> {
    let mut keys: Vec<String> = store.keys().map_err(|e| PolicyError::from(e).to_string())?;
    keys.sort_unstable();
    keys.dedup();
    let mut entries: Vec<Entry> = keys
        .into_iter()
        .map(|key| {
            let found = match lock::inspect(store, &key, now) {
                Ok(Some(state)) => Found::Held(state),
                Ok(None) => Found::Vanished,
                Err(PolicyError::UnreadableRecord(why)) => Found::Unreadable(why),
                Err(error) => Found::Error(error.to_string()),
            };
            let line = entry_line(&key, &found, now);
            Entry { key, found, line }
        })
        .collect();
    entries.sort_by(|a, b| guarded(a).cmp(guarded(b)).then(a.key.cmp(&b.key)));
    Ok(entries)
}

/// What an entry guards, for sorting: its workspace, else its key.
fn guarded(entry: &Entry) -> &str {
    match &entry.found {
        Found::Held(state) => state.record.workspace.as_deref().unwrap_or(&entry.key),
        _ => &entry.key,
    }
}

fn entry_line(key: &str, found: &Found, now: u64) -> String {
    match found {
        Found::Held(state) => {
            let record = &state.record;
            let place = record
                .workspace
                .as_deref()
                .map_or_else(|| format!("lock {key}"), printable);
            let agent = record
                .agent
                .as_deref()
                .map(|a| format!(", {}", printable(a)))
                .unwrap_or_default();
            let timing = if state.stale {
                format!(
                    "stale for {}: the next session takes it over",
                    duration(state.expires_in_ms.unsigned_abs())
                )
            } else {
                format!(
                    "fresh, frees in {} at the latest",
                    duration(state.expires_in_ms.max(0) as u64)
                )
            };
            format!(
                "{place}: {} (pid {}{agent}), held for {}, {timing}",
                printable(&record.session_id),
                record.pid,
                duration(record.held_for_ms(now)),
            )
        }
        Found::Unreadable(why) => format!(
            "lock {key}: unreadable ({}); sessions are let through while it is there, \
             `session-lock release --force` in its workspace removes it",
            printable(why)
        ),
        Found::Vanished => format!("lock {key}: released while being read"),
        Found::Error(why) => format!("lock {key}: cannot be read: {}", printable(why)),
    }
}

/// The fields of Claude Code's status line input that name the session and its directory.
#[derive(Deserialize, Default)]
struct StatusInput {
    session_id: Option<String>,
    cwd: Option<String>,
    workspace: Option<StatusWorkspace>,
}

#[derive(Deserialize, Default)]
struct StatusWorkspace {
    current_dir: Option<String>,
    project_dir: Option<String>,
}

impl StatusInput {
    fn read(input: &[u8]) -> StatusInput {
        serde_json::from_slice(input).unwrap_or_default()
    }
}

/// The directory whose lock the status line shows, from Claude Code's status line input:
/// where the session works now (`workspace.current_dir`, else `cwd`), else its project.
/// `None` for input that names none.
pub fn status_line_directory(input: &[u8]) -> Option<String> {
    let input = StatusInput::read(input);
    let workspace = input.workspace.unwrap_or_default();
    [workspace.current_dir, input.cwd, workspace.project_dir]
        .into_iter()
        .flatten()
        .find(|dir| !dir.is_empty())
}

/// How many characters of a session id the status line shows.
const SHORT_ID_CHARS: usize = 8;

/// The status line for the session of `input`, on lock `key` at `now`: that this session
/// holds the lock, or who else holds it and when it frees at the latest, or nothing (an empty
/// string) when it is free or stale. A lock that cannot be checked says so: protection that is
/// off is never silent.
pub fn status_line(store: &mut impl LockStore, input: &[u8], key: &str, now: u64) -> String {
    let session = StatusInput::read(input).session_id.unwrap_or_default();
    match lock::inspect(store, key, now) {
        Ok(None) => String::new(),
        Ok(Some(state)) if state.record.session_id == session && !session.is_empty() => {
            format!(
                "🔒 lock: held by this session for {}",
                duration(state.record.held_for_ms(now))
            )
        }
        Ok(Some(state)) if state.stale => String::new(),
        Ok(Some(state)) => {
            let record = &state.record;
            let short: String = record.session_id.chars().take(SHORT_ID_CHARS).collect();
            let agent = record
                .agent
                .as_deref()
                .map(|a| format!("{}, ", printable(a)))
                .unwrap_or_default();
            format!(
                "⛔ lock: held by {} ({agent}pid {}), frees in {} at the latest",
                printable(&short),
                record.pid,
                duration(state.expires_in_ms.max(0) as u64)
            )
        }
        Err(PolicyError::UnreadableRecord(_)) => {
            "⚠ lock: unreadable record, edits are unguarded".to_owned()
        }
        Err(_) => "⚠ lock: cannot be checked".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_where_the_session_works_now() {
        let input = br#"{"cwd":"/c","workspace":{"current_dir":"/w","project_dir":"/p"}}"#;
        assert_eq!(status_line_directory(input).as_deref(), Some("/w"));
        assert_eq!(
            status_line_directory(br#"{"cwd":"/c"}"#).as_deref(),
            Some("/c")
        );
        assert_eq!(
            status_line_directory(br#"{"workspace":{"project_dir":"/p"}}"#).as_deref(),
            Some("/p")
        );
        assert_eq!(status_line_directory(b"not json"), None);
    }
}
