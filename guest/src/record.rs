//! The lock record (schema version 1) and the staleness rule: the one definition of both.

use serde::{Deserialize, Serialize};

use crate::processes::ProcessIdentity;

/// The `schema_version` this policy reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// A lock record: who holds the workspace, since when, for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRecord {
    /// The holding session's id.
    pub session_id: String,
    /// The holding session's process id, for people (never used to judge staleness).
    pub pid: u32,
    /// When the holder took the lock, in milliseconds since the Unix epoch.
    pub acquired_at: u64,
    /// When the holder last refreshed the lock; `acquired_at` for records written without one.
    pub refreshed_at: u64,
    /// How long after `refreshed_at` the lock stays fresh.
    pub ttl_ms: u64,
    /// The holder's process, when `pid` is the session's own: its end proves the holder gone.
    pub holder: Option<ProcessIdentity>,
    /// The workspace the lock guards, as the holder named it, for people (`status --all`);
    /// `None` in records written before it was kept.
    pub workspace: Option<String>,
    /// The agent the holder runs (`claude`, `codex`, …), for people; `None` in older records.
    pub agent: Option<String>,
}

/// The stored JSON form. Unknown fields are ignored, so newer writers may add fields, and the
/// fields added since the first version are optional, so older readers keep reading.
#[derive(Serialize, Deserialize)]
struct Stored {
    schema_version: u32,
    session_id: String,
    pid: u32,
    acquired_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refreshed_at: Option<u64>,
    ttl_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    holder: Option<StoredHolder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workspace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent: Option<String>,
}

/// [`ProcessIdentity`] as stored.
#[derive(Serialize, Deserialize)]
struct StoredHolder {
    boot_id: String,
    pid_namespace: String,
    start_time: u64,
}

impl LockRecord {
    /// A record for a session taking the lock at `now`.
    pub fn new(
        session_id: &str,
        pid: u32,
        now: u64,
        ttl_ms: u64,
        holder: Option<ProcessIdentity>,
    ) -> Self {
        LockRecord {
            session_id: session_id.to_owned(),
            pid,
            acquired_at: now,
            refreshed_at: now,
            ttl_ms,
            holder,
            workspace: None,
            agent: None,
        }
    }

    /// The same record, naming the workspace it guards and the holder's agent where given
    /// (a name already recorded is kept when none is given).
    pub fn naming(self, workspace: Option<&str>, agent: Option<&str>) -> Self {
        LockRecord {
            workspace: workspace.map(str::to_owned).or(self.workspace),
            agent: agent.map(str::to_owned).or(self.agent),
            ..self
        }
    }

    /// The same holder, refreshed at `now` to stay fresh for `ttl_ms`.
    pub fn refreshed(
        &self,
        pid: u32,
        now: u64,
        ttl_ms: u64,
        holder: Option<ProcessIdentity>,
    ) -> Self {
        LockRecord {
            pid,
            refreshed_at: now,
            ttl_ms,
            holder,
            ..self.clone()
        }
    }

    /// The stored bytes: one line of JSON.
    pub fn encode(&self) -> Vec<u8> {
        let stored = Stored {
            schema_version: SCHEMA_VERSION,
            session_id: self.session_id.clone(),
            pid: self.pid,
            acquired_at: self.acquired_at,
            refreshed_at: Some(self.refreshed_at),
            ttl_ms: self.ttl_ms,
            holder: self.holder.as_ref().map(|h| StoredHolder {
                boot_id: h.boot_id.clone(),
                pid_namespace: h.pid_namespace.clone(),
                start_time: h.start_time,
            }),
            workspace: self.workspace.clone(),
            agent: self.agent.clone(),
        };
        let mut bytes = serde_json::to_vec(&stored).expect("a record always serializes");
        bytes.push(b'\n');
        bytes
    }

    /// Reads stored bytes; the error says why they are not a lock record.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let stored: Stored = serde_json::from_slice(bytes)
            .map_err(|e| format!("lock record is not valid schema-1 JSON: {e}"))?;
        if stored.schema_version != SCHEMA_VERSION {
            return Err(format!(
                "lock record has schema_version {}, this version reads {SCHEMA_VERSION}",
                stored.schema_version
            ));
        }
        if stored.session_id.is_empty() {
            return Err("lock record has an empty session_id".to_owned());
        }
        Ok(LockRecord {
            refreshed_at: stored.refreshed_at.unwrap_or(stored.acquired_at),
            session_id: stored.session_id,
            pid: stored.pid,
            acquired_at: stored.acquired_at,
            // A ttl past what any writer may set (forged, or from before the caps) is read as
            // the cap, so that one record cannot wedge the lock for good.
            ttl_ms: stored.ttl_ms.min(crate::settings::MAX_RECORD_TTL_MS),
            holder: stored.holder.map(|h| ProcessIdentity {
                boot_id: h.boot_id,
                pid_namespace: h.pid_namespace,
                start_time: h.start_time,
            }),
            workspace: stored.workspace,
            agent: stored.agent,
        })
    }

    /// Whether the lock is stale at `now`: past `refreshed_at + ttl_ms`, or `refreshed_at` lies
    /// more than `ttl_ms` in the future (a clock that jumped back must not wedge the lock).
    pub fn is_stale(&self, now: u64) -> bool {
        now > self.refreshed_at.saturating_add(self.ttl_ms)
            || self.refreshed_at > now.saturating_add(self.ttl_ms)
    }

    /// Milliseconds since the lock was taken (0 when that lies in the future).
    pub fn held_for_ms(&self, now: u64) -> u64 {
        now.saturating_sub(self.acquired_at)
    }

    /// Milliseconds until the lock turns stale; zero or negative once it is.
    pub fn expires_in_ms(&self, now: u64) -> i64 {
        if self.is_stale(now) {
            let overdue = now.saturating_sub(self.refreshed_at.saturating_add(self.ttl_ms));
            return -(overdue.min(i64::MAX as u64) as i64);
        }
        let left = self.refreshed_at.saturating_add(self.ttl_ms) - now;
        left.min(i64::MAX as u64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_schema_1_and_reads_it_back() {
        let record = LockRecord::new("abc", 42, 1_000, 300_000, None);
        let text = String::from_utf8(record.encode()).unwrap();
        assert_eq!(
            text,
            "{\"schema_version\":1,\"session_id\":\"abc\",\"pid\":42,\"acquired_at\":1000,\
             \"refreshed_at\":1000,\"ttl_ms\":300000}\n"
        );
        assert_eq!(LockRecord::decode(text.as_bytes()), Ok(record));
    }

    #[test]
    fn a_holder_identity_is_stored_and_read_back() {
        let holder = ProcessIdentity {
            boot_id: "b".into(),
            pid_namespace: "pid:[1]".into(),
            start_time: 77,
        };
        let record = LockRecord::new("abc", 42, 1_000, 300_000, Some(holder));
        let text = String::from_utf8(record.encode()).unwrap();
        assert!(
            text.contains(r#""holder":{"boot_id":"b","pid_namespace":"pid:[1]","start_time":77}"#)
        );
        assert_eq!(LockRecord::decode(text.as_bytes()), Ok(record));
    }

    #[test]
    fn the_workspace_and_agent_are_kept_and_older_records_have_none() {
        let record =
            LockRecord::new("abc", 42, 1_000, 300_000, None).naming(Some("/r"), Some("claude"));
        let text = String::from_utf8(record.encode()).unwrap();
        assert!(
            text.contains(r#""workspace":"/r","agent":"claude""#),
            "{text}"
        );
        assert_eq!(LockRecord::decode(text.as_bytes()), Ok(record.clone()));
        let kept = record.naming(None, None);
        assert_eq!(kept.workspace.as_deref(), Some("/r"));
        let old = br#"{"schema_version":1,"session_id":"s","pid":7,"acquired_at":5,"ttl_ms":1}"#;
        let old = LockRecord::decode(old).unwrap();
        assert_eq!((old.workspace, old.agent), (None, None));
    }

    #[test]
    fn a_record_without_refreshed_at_counts_from_acquired_at() {
        let bytes = br#"{"schema_version":1,"session_id":"s","pid":7,"acquired_at":500,"ttl_ms":100,"extra":[1]}"#;
        let record = LockRecord::decode(bytes).unwrap();
        assert_eq!(record.refreshed_at, 500);
        assert!(!record.is_stale(600));
        assert!(record.is_stale(601));
    }

    #[test]
    fn other_schema_versions_and_garbage_are_unreadable() {
        let v2 = br#"{"schema_version":2,"session_id":"s","pid":7,"acquired_at":5,"ttl_ms":1}"#;
        assert!(
            LockRecord::decode(v2)
                .unwrap_err()
                .contains("schema_version 2")
        );
        assert!(LockRecord::decode(b"").is_err());
        assert!(LockRecord::decode(b"{\"schema_version\":1").is_err());
    }

    #[test]
    fn a_timestamp_further_ahead_than_the_ttl_is_stale() {
        let record = LockRecord::new("s", 1, 10_000, 1_000, None);
        assert!(
            !record.is_stale(9_000),
            "ahead by exactly the ttl is still fresh"
        );
        assert!(record.is_stale(8_999));
        assert_eq!(record.expires_in_ms(8_999), 0);
    }

    #[test]
    fn expiry_counts_down_then_goes_negative() {
        let record = LockRecord::new("s", 1, 1_000, 500, None);
        assert_eq!(record.expires_in_ms(1_200), 300);
        assert_eq!(record.expires_in_ms(1_700), -200);
        assert_eq!(record.held_for_ms(1_700), 700);
    }
}
