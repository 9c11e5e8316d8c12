//! Which directory names a workspace, and the lock key derived from it.

use md5::{Digest, Md5};

use crate::protocol::Event;

/// The lock key of a resolved workspace path: the first 12 hex characters of its MD5.
pub fn workspace_hash(path: &str) -> String {
    let digest = Md5::digest(path.as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// The directory that names the event's workspace, before the host resolves it: the agent's
/// project directory, else the one the event names, else the process's.
pub fn workspace_dir(event: &[u8], project_dir: Option<&str>, process_cwd: &str) -> String {
    if let Some(dir) = project_dir.filter(|d| !d.is_empty()) {
        return dir.to_owned();
    }
    Event::parse(event)
        .ok()
        .and_then(|e| e.directory().map(str::to_owned))
        .unwrap_or_else(|| process_cwd.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_twelve_hex_of_md5() {
        // Expected values from Python's hashlib.md5(...).hexdigest()[:12].
        assert_eq!(workspace_hash(""), "d41d8cd98f00");
        assert_eq!(workspace_hash("abc"), "900150983cd2");
    }

    #[test]
    fn project_dir_wins_then_event_then_process() {
        let event = br#"{"cwd":"/from/event"}"#;
        assert_eq!(workspace_dir(event, Some("/proj"), "/proc"), "/proj");
        assert_eq!(workspace_dir(event, None, "/proc"), "/from/event");
        assert_eq!(workspace_dir(b"not json", None, "/proc"), "/proc");
        let cursor = br#"{"conversation_id":"c","workspace_roots":["/w1","/w2"]}"#;
        assert_eq!(workspace_dir(cursor, None, "/proc"), "/w1");
    }
}
