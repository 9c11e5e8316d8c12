//! The component's imports, mocked: an in-memory `lock-store` that records every call and can
//! fail a call or let a "concurrent writer" change the record just before a swap, and a
//! `processes` whose machine and running processes a test sets.

#![allow(
    dead_code,
    reason = "each test file uses its own part of the shared helpers"
)]

use std::collections::{BTreeMap, HashMap, VecDeque};

use session_lock::component::Policy;
use session_lock::component::lock_store::{Host, StoreError, SwapOutcome};
use session_lock::component::policy_types::{LockRecord, Session};
use session_lock::component::processes::{self, ProcessIdentity, ProcessStatus};

/// One call the component made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Read(String),
    Keys,
    CompareAndSwap {
        key: String,
        expected: Option<Vec<u8>>,
        replacement: Option<Vec<u8>>,
    },
}

/// What the next call of a kind does instead of its normal work.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Fails with this message (a fault: `store-error.failed`).
    Error(String),
    /// Fails as contention (`store-error.busy`): another writer held the store's mutex.
    Busy(String),
    /// Returns these bytes (reads) or this conflict value (swaps) instead.
    Value(Option<Vec<u8>>),
}

/// The mock store.
#[derive(Default)]
pub struct MockStore {
    /// The records, by key.
    pub records: HashMap<String, Vec<u8>>,
    /// Every call, in order.
    pub calls: Vec<Call>,
    /// Faults for the coming reads, in order.
    pub read_faults: VecDeque<Fault>,
    /// Faults for the coming swaps, in order.
    pub swap_faults: VecDeque<Fault>,
    /// Writes made by another writer just before the coming swaps (`None` deletes), in order.
    pub interleaved_writes: VecDeque<Option<Vec<u8>>>,
    /// Faults by call number (0: the first call, read or swap, counted in `calls`); such a
    /// fault replaces the call's normal work and goes before the queued ones.
    pub call_faults: HashMap<usize, Fault>,
    /// While set, every swap is busy, as when another process holds the store's mutex.
    pub mutex_held: bool,
}

impl MockStore {
    /// The number of swaps the component attempted.
    pub fn swaps(&self) -> usize {
        self.calls
            .iter()
            .filter(|c| matches!(c, Call::CompareAndSwap { .. }))
            .count()
    }

    /// The record of `key`, parsed as JSON.
    pub fn json(&self, key: &str) -> Option<serde_json::Value> {
        self.records
            .get(key)
            .map(|r| serde_json::from_slice(r).unwrap())
    }
}

impl Host for MockStore {
    fn keys(&mut self) -> Result<Vec<String>, StoreError> {
        let fault = self.call_faults.remove(&self.calls.len());
        self.calls.push(Call::Keys);
        match fault {
            Some(Fault::Error(why)) => Err(StoreError::Failed(why)),
            Some(Fault::Busy(why)) => Err(StoreError::Busy(why)),
            // A listing that missed every record (one taken after it was made, say).
            Some(Fault::Value(_)) => Ok(Vec::new()),
            None => Ok(self.records.keys().cloned().collect()),
        }
    }

    fn read(&mut self, key: String) -> Result<Option<Vec<u8>>, StoreError> {
        let fault = self.call_faults.remove(&self.calls.len());
        self.calls.push(Call::Read(key.clone()));
        match fault.or_else(|| self.read_faults.pop_front()) {
            Some(Fault::Error(why)) => Err(StoreError::Failed(why)),
            Some(Fault::Busy(why)) => Err(StoreError::Busy(why)),
            Some(Fault::Value(bytes)) => Ok(bytes),
            None => Ok(self.records.get(&key).cloned()),
        }
    }

    fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        replacement: Option<Vec<u8>>,
    ) -> Result<SwapOutcome, StoreError> {
        let fault = self.call_faults.remove(&self.calls.len());
        self.calls.push(Call::CompareAndSwap {
            key: key.clone(),
            expected: expected.clone(),
            replacement: replacement.clone(),
        });
        if self.mutex_held {
            return Err(StoreError::Busy(format!(
                "session-lock-{key}.mutex stayed locked for 500ms"
            )));
        }
        if let Some(fault) = fault {
            return match fault {
                Fault::Error(why) => Err(StoreError::Failed(why)),
                Fault::Busy(why) => Err(StoreError::Busy(why)),
                Fault::Value(found) => Ok(SwapOutcome::Conflict(found)),
            };
        }
        if let Some(write) = self.interleaved_writes.pop_front() {
            match write {
                Some(bytes) => self.records.insert(key.clone(), bytes),
                None => self.records.remove(&key),
            };
        }
        match self.swap_faults.pop_front() {
            Some(Fault::Error(why)) => return Err(StoreError::Failed(why)),
            Some(Fault::Busy(why)) => return Err(StoreError::Busy(why)),
            Some(Fault::Value(found)) => return Ok(SwapOutcome::Conflict(found)),
            None => {}
        }
        let current = self.records.get(&key).cloned();
        if current != expected {
            return Ok(SwapOutcome::Conflict(current));
        }
        match replacement {
            Some(bytes) => self.records.insert(key, bytes),
            None => self.records.remove(&key),
        };
        Ok(SwapOutcome::Swapped)
    }
}

/// The lock key used by the tests (any 12 hex characters).
pub const KEY: &str = "0123456789ab";

/// Processes as a test sets them: without a machine, the host cannot tell anything; with one,
/// the listed pids run (with these start times) and every other pid is gone.
#[derive(Debug, Clone, Default)]
pub struct MockProcesses {
    /// The machine's boot id and pid namespace.
    pub machine: Option<(String, String)>,
    /// The running processes: pid to start time.
    pub running: BTreeMap<u32, u64>,
    /// The hook process's ancestors; `None`: the host cannot tell.
    pub ancestors: Option<Vec<u32>>,
}

impl MockProcesses {
    /// The identity of a process started at `start_time` on this mock's machine.
    pub fn identity(&self, start_time: u64) -> ProcessIdentity {
        let (boot_id, pid_namespace) = self.machine.clone().expect("a machine is set");
        ProcessIdentity {
            boot_id,
            pid_namespace,
            start_time,
        }
    }
}

impl processes::Host for MockProcesses {
    fn status(&mut self, pid: u32) -> ProcessStatus {
        if self.machine.is_none() {
            return ProcessStatus::Unknown;
        }
        match self.running.get(&pid) {
            Some(&start_time) => ProcessStatus::Running(self.identity(start_time)),
            None => ProcessStatus::Gone(self.identity(0)),
        }
    }

    fn is_ancestor(&mut self, pid: u32) -> Option<bool> {
        Some(self.ancestors.as_ref()?.contains(&pid))
    }
}

/// The component over mocked imports.
pub type MockPolicy = Policy<MockStore, MockProcesses>;

/// The component, loaded over `store` (and processes nobody can tell anything about).
pub fn policy(store: MockStore) -> MockPolicy {
    Policy::with_processes(store, MockProcesses::default()).expect("the embedded component loads")
}

/// The component over an empty store.
pub fn empty_policy() -> MockPolicy {
    policy(MockStore::default())
}

/// A session whose pid is a guess (the hook's parent), so no process identity is recorded.
pub fn session(id: &str, pid: u32) -> Session {
    Session {
        id: id.to_owned(),
        pid,
        pid_is_session: false,
    }
}

/// A stored record in the schema-1 form, with `refreshed_at` when given.
pub fn stored_record(
    session_id: &str,
    pid: u32,
    acquired_at: u64,
    refreshed_at: Option<u64>,
    ttl_ms: u64,
) -> Vec<u8> {
    let mut record = serde_json::json!({
        "schema_version": 1,
        "session_id": session_id,
        "pid": pid,
        "acquired_at": acquired_at,
        "ttl_ms": ttl_ms,
    });
    if let Some(refreshed_at) = refreshed_at {
        record["refreshed_at"] = refreshed_at.into();
    }
    serde_json::to_vec(&record).unwrap()
}

/// A policy whose store holds `bytes` under [`KEY`].
pub fn policy_holding(bytes: Vec<u8>) -> MockPolicy {
    let mut store = MockStore::default();
    store.records.insert(KEY.to_owned(), bytes);
    policy(store)
}

/// The WIT record with these fields.
pub fn lock_record(
    session_id: &str,
    pid: u32,
    acquired_at: u64,
    refreshed_at: u64,
    ttl_ms: u64,
) -> LockRecord {
    LockRecord {
        session_id: session_id.to_owned(),
        pid,
        acquired_at,
        refreshed_at,
        ttl_ms,
        holder: None,
    }
}
