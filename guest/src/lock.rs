//! Acquire, refresh, release: each a pure decision on the record read, applied by
//! compare-and-swap on exactly those bytes. A lost swap re-decides on what won, a bounded
//! number of times, so two sessions racing for one lock can never both take it.

use std::fmt;

use crate::message;
use crate::processes::{ProcessIdentity, ProcessStatus, Processes};
use crate::record::LockRecord;
use crate::store::{LockStore, StoreError, SwapOutcome};

/// How many times an operation decides and swaps before it reports contention.
pub const MAX_ATTEMPTS: u32 = 8;

/// On hook events ([`acquire_when_due`], [`refresh_when_due`]), a refresh of the session's own
/// lock less than `ttl / REFRESH_EVERY_TTL_PART` after the stored one is not written
/// (publishing a record is the costliest part of a hook run on a local disk): the lock then
/// stays fresh for at least 9/10 of its ttl after any event. Whatever else would change (a
/// longer ttl for a tool's time limit, another pid or process identity, a record in another
/// form) is always written.
pub const REFRESH_EVERY_TTL_PART: u64 = 10;

/// Whether the holder's record is written again when only its `refreshed_at` would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rewrite {
    /// Always: the `policy` interface's `acquire` and `refresh` report the record written.
    Always,
    /// Once a [`REFRESH_EVERY_TTL_PART`] of the ttl has passed since the stored refresh.
    WhenDue,
}

/// A session asking for a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The agent's session id.
    pub id: String,
    /// The process running the session.
    pub pid: u32,
    /// Whether `pid` is the session's own process (not a guess such as the hook's parent):
    /// only then is its identity recorded, to prove the session gone once it ends.
    pub pid_is_session: bool,
    /// The workspace being locked, to name in the record for people (`None`: not named).
    pub workspace: Option<String>,
    /// The agent's name (`claude`, …), to name in the record for people.
    pub agent: Option<String>,
}

impl Session {
    /// A session `id` whose process is `pid`, naming no workspace or agent in its records.
    pub fn new(id: &str, pid: u32, pid_is_session: bool) -> Self {
        Session {
            id: id.to_owned(),
            pid,
            pid_is_session,
            workspace: None,
            agent: None,
        }
    }

    /// The record this session writes, naming its workspace and agent.
    fn names(&self, record: LockRecord) -> LockRecord {
        record.naming(self.workspace.as_deref(), self.agent.as_deref())
    }

    /// The identity to record for this session's process, when its pid is the session's own
    /// and the host can tell who it is.
    fn identity(&self, processes: &mut impl Processes) -> Option<ProcessIdentity> {
        if !self.pid_is_session {
            return None;
        }
        match processes.status(self.pid) {
            ProcessStatus::Running(identity) => Some(identity),
            ProcessStatus::Gone(_) | ProcessStatus::Unknown => None,
        }
    }

    /// Whether `record` is this session's own: the same id and, where both sides name their
    /// process, the same live process. A record whose process still runs under another pid is
    /// another session that happens to carry this id (`claude --resume` of one session in two
    /// terminals, or a forged event): it is not this one's to refresh, keep or release.
    fn holds(&self, record: &LockRecord, processes: &mut impl Processes) -> bool {
        if record.session_id != self.id {
            return false;
        }
        let other_process = record.holder.is_some()
            && self.pid_is_session
            && record.pid != self.pid
            && !holder_gone(record, processes);
        !other_process
    }

    /// The identity to keep in `record` when this session writes it again: the recorded one
    /// while the pid is the same (no need to ask the host again), else a fresh one.
    fn identity_for(
        &self,
        record: &LockRecord,
        processes: &mut impl Processes,
    ) -> Option<ProcessIdentity> {
        match &record.holder {
            Some(holder) if record.pid == self.pid && self.pid_is_session => Some(holder.clone()),
            _ => self.identity(processes),
        }
    }
}

/// What [`acquire`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcquireResult {
    /// The lock was free; the session now holds it.
    Acquired(LockRecord),
    /// The lock was stale, or its holder proven gone; the session took it over.
    TakenOver {
        /// The record now stored.
        taken: LockRecord,
        /// The record it replaced.
        previous: LockRecord,
        /// Whether `previous` was fresh but its holder's process proven gone.
        holder_gone: bool,
    },
    /// The session already held the lock; it is refreshed.
    Reacquired(LockRecord),
    /// Another session holds a fresh lock; nothing was written.
    Blocked(LockRecord),
}

/// What [`refresh`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshResult {
    /// The session's own lock carries a new `refreshed_at`.
    Refreshed(LockRecord),
    /// The session does not hold the lock (the holder, or `None` when free); nothing written.
    NotHeld(Option<LockRecord>),
}

/// What [`release`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseResult {
    /// The session's own lock is deleted.
    Released(LockRecord),
    /// The session does not hold the lock (the holder, or `None` when free); nothing deleted.
    NotHeld(Option<LockRecord>),
}

/// What [`force_release`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForceReleaseResult {
    /// There was no lock.
    Free,
    /// The lock was deleted; it was this holder's.
    Released(LockRecord),
    /// Bytes that are not a lock record were deleted.
    ClearedUnreadable,
}

/// Why an operation could not decide. The stored record is left as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// A store call failed.
    Store(String),
    /// A store call met contention: another session is taking or changing the lock right now.
    Busy(String),
    /// The stored bytes are not a lock record; they are never overwritten but by force.
    UnreadableRecord(String),
    /// Concurrent writers won every one of this many attempts.
    Contended(u32),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Store(why) => write!(f, "lock store failed: {why}"),
            PolicyError::Busy(why) => write!(f, "lock store busy: {why}"),
            PolicyError::UnreadableRecord(why) => {
                write!(f, "{why} (`session-lock release --force` clears it)")
            }
            PolicyError::Contended(n) => {
                write!(f, "lock changed under every one of {n} attempts")
            }
        }
    }
}

impl From<StoreError> for PolicyError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Busy(why) => PolicyError::Busy(why),
            StoreError::Failed(why) => PolicyError::Store(why),
        }
    }
}

impl PolicyError {
    /// Whether the error is contention rather than a fault: the store was busy, or rival
    /// writers won every attempt. Either way another session is changing the lock right now.
    pub fn is_contention(&self) -> bool {
        matches!(self, PolicyError::Busy(_) | PolicyError::Contended(_))
    }
}

/// The state of a lock as [`inspect`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockState {
    /// The stored record.
    pub record: LockRecord,
    /// Whether anyone may take it over now.
    pub stale: bool,
    /// Milliseconds since it was taken.
    pub held_for_ms: u64,
    /// Milliseconds until it turns stale; negative once it has.
    pub expires_in_ms: i64,
    /// The same for people.
    pub summary: String,
}

/// One decision on the bytes read: write these bytes (or delete), or answer without writing.
enum Step<T> {
    Swap {
        replacement: Option<Vec<u8>>,
        answer: T,
    },
    Answer(T),
}

/// Reads the record, decides, and applies the decision by compare-and-swap on exactly the bytes
/// decided on. A lost swap decides again on the bytes that won.
fn decide_and_swap<T>(
    store: &mut impl LockStore,
    key: &str,
    mut decide: impl FnMut(Option<&[u8]>) -> Result<Step<T>, PolicyError>,
) -> Result<T, PolicyError> {
    let mut current = store.read(key).map_err(PolicyError::from)?;
    for _ in 0..MAX_ATTEMPTS {
        let (replacement, answer) = match decide(current.as_deref())? {
            Step::Answer(answer) => return Ok(answer),
            Step::Swap {
                replacement,
                answer,
            } => (replacement, answer),
        };
        match store
            .compare_and_swap(key, current.as_deref(), replacement.as_deref())
            .map_err(PolicyError::from)?
        {
            SwapOutcome::Swapped => return Ok(answer),
            // A correct store reports a conflict only when the record differs from what was
            // compared: this one is broken, not contended, and must not be taken for a rival.
            SwapOutcome::Conflict(found) if found == current => {
                return Err(PolicyError::Store(
                    "the store reported a conflict with exactly the expected record".to_owned(),
                ));
            }
            SwapOutcome::Conflict(found) => current = found,
        }
    }
    Err(PolicyError::Contended(MAX_ATTEMPTS))
}

fn decode(bytes: &[u8]) -> Result<LockRecord, PolicyError> {
    LockRecord::decode(bytes).map_err(PolicyError::UnreadableRecord)
}

fn swap<T>(record: &LockRecord, answer: T) -> Result<Step<T>, PolicyError> {
    Ok(Step::Swap {
        replacement: Some(record.encode()),
        answer,
    })
}

/// Takes lock `key` for `session`: a free lock is taken, a stale one or one whose holder is
/// proven gone taken over, the session's own refreshed; another session's fresh lock is
/// reported, untouched.
pub fn acquire(
    store: &mut impl LockStore,
    processes: &mut impl Processes,
    key: &str,
    session: &Session,
    now: u64,
    ttl_ms: u64,
) -> Result<AcquireResult, PolicyError> {
    acquire_with(store, processes, key, session, now, ttl_ms, Rewrite::Always)
}

/// [`acquire`] for a hook event: the session's own lock, refreshed less than a
/// [`REFRESH_EVERY_TTL_PART`] of the ttl ago and otherwise unchanged, is not written again.
pub fn acquire_when_due(
    store: &mut impl LockStore,
    processes: &mut impl Processes,
    key: &str,
    session: &Session,
    now: u64,
    ttl_ms: u64,
) -> Result<AcquireResult, PolicyError> {
    acquire_with(
        store,
        processes,
        key,
        session,
        now,
        ttl_ms,
        Rewrite::WhenDue,
    )
}

fn acquire_with(
    store: &mut impl LockStore,
    processes: &mut impl Processes,
    key: &str,
    session: &Session,
    now: u64,
    ttl_ms: u64,
    rewrite: Rewrite,
) -> Result<AcquireResult, PolicyError> {
    decide_and_swap(store, key, |current| {
        let Some(bytes) = current else {
            let taken = session.names(LockRecord::new(
                &session.id,
                session.pid,
                now,
                ttl_ms,
                session.identity(processes),
            ));
            return swap(&taken, AcquireResult::Acquired(taken.clone()));
        };
        let holder = decode(bytes)?;
        if session.holds(&holder, processes) {
            let identity = session.identity_for(&holder, processes);
            let renewed = session.names(holder.refreshed(session.pid, now, ttl_ms, identity));
            if rewrite == Rewrite::WhenDue && refreshed_recently(bytes, &holder, &renewed) {
                return Ok(Step::Answer(AcquireResult::Reacquired(holder)));
            }
            return swap(&renewed, AcquireResult::Reacquired(renewed.clone()));
        }
        let stale = holder.is_stale(now);
        if !stale && !holder_gone(&holder, processes) {
            return Ok(Step::Answer(AcquireResult::Blocked(holder)));
        }
        let taken = session.names(LockRecord::new(
            &session.id,
            session.pid,
            now,
            ttl_ms,
            session.identity(processes),
        ));
        swap(
            &taken,
            AcquireResult::TakenOver {
                taken: taken.clone(),
                previous: holder,
                holder_gone: !stale,
            },
        )
    })
}

/// Whether `record`'s holder is proven gone: its record names its process, the host counts
/// pids in the same machine boot and namespace, and no process with that pid and start time
/// runs. Anything less (no identity, another machine or namespace, a host that cannot tell)
/// proves nothing, and the lock frees by its ttl only.
fn holder_gone(record: &LockRecord, processes: &mut impl Processes) -> bool {
    let Some(holder) = &record.holder else {
        return false;
    };
    match processes.status(record.pid) {
        // The pid runs: the holder, unless it is a newer process that reused the pid.
        ProcessStatus::Running(now) => {
            now.same_place(holder) && now.start_time != holder.start_time
        }
        ProcessStatus::Gone(here) => here.same_place(holder),
        ProcessStatus::Unknown => false,
    }
}

/// Whether the session's own record, `stored` (decoded from `stored_bytes`), need not be
/// replaced by `renewed`: the stored bytes are exactly what `renewed` would write but for its
/// `refreshed_at` (so the same pid, identity and ttl, and no field to add or drop), and that
/// is less than a [`REFRESH_EVERY_TTL_PART`] of the ttl after the stored one (never before it:
/// a clock that went back is written).
fn refreshed_recently(stored_bytes: &[u8], stored: &LockRecord, renewed: &LockRecord) -> bool {
    let recent = renewed
        .refreshed_at
        .checked_sub(stored.refreshed_at)
        .is_some_and(|since| since < renewed.ttl_ms / REFRESH_EVERY_TTL_PART);
    recent
        && LockRecord {
            refreshed_at: stored.refreshed_at,
            ..renewed.clone()
        }
        .encode()
            == stored_bytes
}

/// Refreshes `session`'s own lock to stay fresh `ttl_ms` from `now`. Never takes a lock it does
/// not hold.
pub fn refresh(
    store: &mut impl LockStore,
    processes: &mut impl Processes,
    key: &str,
    session: &Session,
    now: u64,
    ttl_ms: u64,
) -> Result<RefreshResult, PolicyError> {
    refresh_with(store, processes, key, session, now, ttl_ms, Rewrite::Always)
}

/// [`refresh`] for a hook event: a lock refreshed less than a [`REFRESH_EVERY_TTL_PART`] of
/// the ttl ago and otherwise unchanged is not written again.
pub fn refresh_when_due(
    store: &mut impl LockStore,
    processes: &mut impl Processes,
    key: &str,
    session: &Session,
    now: u64,
    ttl_ms: u64,
) -> Result<RefreshResult, PolicyError> {
    refresh_with(
        store,
        processes,
        key,
        session,
        now,
        ttl_ms,
        Rewrite::WhenDue,
    )
}

fn refresh_with(
    store: &mut impl LockStore,
    processes: &mut impl Processes,
    key: &str,
    session: &Session,
    now: u64,
    ttl_ms: u64,
    rewrite: Rewrite,
) -> Result<RefreshResult, PolicyError> {
    decide_and_swap(store, key, |current| {
        let Some(bytes) = current else {
            return Ok(Step::Answer(RefreshResult::NotHeld(None)));
        };
        let holder = decode(bytes)?;
        if !session.holds(&holder, processes) {
            return Ok(Step::Answer(RefreshResult::NotHeld(Some(holder))));
        }
        let identity = session.identity_for(&holder, processes);
        let renewed = holder.refreshed(session.pid, now, ttl_ms, identity);
        if rewrite == Rewrite::WhenDue && refreshed_recently(bytes, &holder, &renewed) {
            return Ok(Step::Answer(RefreshResult::Refreshed(holder)));
        }
        swap(&renewed, RefreshResult::Refreshed(renewed.clone()))
    })
}

/// Deletes the lock if `session` holds it ([`Session::holds`]); never another session's, nor
/// that of another live process under the same id.
pub fn release_session(
    store: &mut impl LockStore,
    processes: &mut impl Processes,
    key: &str,
    session: &Session,
) -> Result<ReleaseResult, PolicyError> {
    release_if(store, key, |holder| session.holds(holder, processes))
}

/// Deletes the lock if `session_id` holds it; never another session's.
pub fn release(
    store: &mut impl LockStore,
    key: &str,
    session_id: &str,
) -> Result<ReleaseResult, PolicyError> {
    release_if(store, key, |holder| holder.session_id == session_id)
}

/// Deletes the lock if its record is the caller's by `owns`.
fn release_if(
    store: &mut impl LockStore,
    key: &str,
    mut owns: impl FnMut(&LockRecord) -> bool,
) -> Result<ReleaseResult, PolicyError> {
    decide_and_swap(store, key, |current| {
        let Some(bytes) = current else {
            return Ok(Step::Answer(ReleaseResult::NotHeld(None)));
        };
        let holder = decode(bytes)?;
        if !owns(&holder) {
            return Ok(Step::Answer(ReleaseResult::NotHeld(Some(holder))));
        }
        Ok(Step::Swap {
            replacement: None,
            answer: ReleaseResult::Released(holder),
        })
    })
}

/// The locks a session may hold, as a listing of the store found them.
#[derive(Debug, Default)]
pub struct Holdings {
    /// The keys whose record names the session, and those whose record could not be read or
    /// decoded (they may be the session's: the caller tries them, and meets the error again if
    /// it stays).
    pub keys: Vec<String>,
    /// The first read that failed, to report.
    pub error: Option<PolicyError>,
}

/// The locks `session_id` holds, by listing the store. A record that is gone by the time it
/// is read, or that is not a lock record, is not the session's.
pub fn held_by(store: &mut impl LockStore, session_id: &str) -> Result<Holdings, PolicyError> {
    let mut holdings = Holdings::default();
    for key in store.keys().map_err(PolicyError::from)? {
        match store.read(&key) {
            Ok(Some(bytes)) => match LockRecord::decode(&bytes) {
                Ok(record) if record.session_id == session_id => holdings.keys.push(key),
                Ok(_) => {}
                // Torn, perhaps mid-write of the session's own record: tried, and reported.
                Err(why) => {
                    holdings
                        .error
                        .get_or_insert(PolicyError::UnreadableRecord(why));
                    holdings.keys.push(key);
                }
            },
            Ok(None) => {}
            Err(why) => {
                holdings.error.get_or_insert(PolicyError::from(why));
                holdings.keys.push(key);
            }
        }
    }
    Ok(holdings)
}

/// The lock and its state at `now`, without writing.
pub fn inspect(
    store: &mut impl LockStore,
    key: &str,
    now: u64,
) -> Result<Option<LockState>, PolicyError> {
    let Some(bytes) = store.read(key).map_err(PolicyError::from)? else {
        return Ok(None);
    };
    let record = decode(&bytes)?;
    Ok(Some(LockState {
        stale: record.is_stale(now),
        held_for_ms: record.held_for_ms(now),
        expires_in_ms: record.expires_in_ms(now),
        summary: message::summary(&record, now),
        record,
    }))
}

/// Deletes the lock whoever holds it, even when it is unreadable: a person's escape hatch.
pub fn force_release(
    store: &mut impl LockStore,
    key: &str,
) -> Result<ForceReleaseResult, PolicyError> {
    decide_and_swap(store, key, |current| {
        let Some(bytes) = current else {
            return Ok(Step::Answer(ForceReleaseResult::Free));
        };
        let answer = match LockRecord::decode(bytes) {
            Ok(holder) => ForceReleaseResult::Released(holder),
            Err(_) => ForceReleaseResult::ClearedUnreadable,
        };
        Ok(Step::Swap {
            replacement: None,
            answer,
        })
    })
}
