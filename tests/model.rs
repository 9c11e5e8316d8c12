//! The policy component against a plain reference model: random sequences of acquire, refresh
//! and release by several sessions, clock steps (forward, back, and onto the exact edges of the
//! staleness rule), and rival writers that change the record between the component's read and
//! its swap (the mock's `interleaved_writes`). Each step's result, the record left and the
//! number of swaps must be the model's; and, checked apart from the model, no two sessions ever
//! hold a fresh grant at once, no swap deletes or overwrites what the session did not read as
//! its own or as stale, and a repeated acquire changes nothing.

#[path = "support/mock_store.rs"]
mod mock_store;

use std::collections::BTreeMap;

use mock_store::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;
use session_lock::component::policy_types::{
    AcquireResult, LockRecord, PolicyError, RefreshResult, ReleaseResult, Session, Takeover,
};

/// The component's attempts before it reports contention (`guest/src/lock.rs`).
const MAX_ATTEMPTS: usize = 8;
/// The first clock reading of every case.
const START: u64 = 1_800_000_000_000;
/// The sessions that act; a rival writer may also write records of `R`.
const SESSIONS: [&str; 4] = ["A", "B", "C", "R"];
const ACTORS: usize = 3;
/// Record ttls: tiny, short, long.
const TTLS: [u64; 3] = [1, 100, 5_000];
/// Bytes a rival may write that are not lock records.
const GARBAGE: [&[u8]; 5] = [
    b"",
    b"{\"schema_version\":1,\"sess",
    b"{\"schema_version\":2,\"session_id\":\"A\",\"pid\":1,\"acquired_at\":1,\"ttl_ms\":1}",
    b"{\"schema_version\":1,\"session_id\":\"\",\"pid\":1,\"acquired_at\":1,\"ttl_ms\":1}",
    b"\xff\xfe not json",
];

/// Random histories per run (`PROPTEST_CASES` overrides).
const CASES: u32 = 256;

/// A rival writer's change, made between the component's read and its swap.
#[derive(Debug, Clone)]
enum Rival {
    /// A record of session `who`, refreshed `offset` ms from now, optionally without
    /// `refreshed_at` (an older writer's form).
    Record {
        who: usize,
        offset: i64,
        ttl: u64,
        without_refreshed_at: bool,
    },
    /// Bytes that are not a lock record.
    Garbage(usize),
    /// The record deleted.
    Delete,
}

/// One step of a case.
#[derive(Debug, Clone)]
enum Step {
    Acquire {
        who: usize,
        ttl: u64,
        rivals: Vec<Rival>,
    },
    Refresh {
        who: usize,
        ttl: u64,
        rivals: Vec<Rival>,
    },
    Release {
        who: usize,
        rivals: Vec<Rival>,
    },
    /// Another writer changes the record between two operations.
    Outside(Rival),
    /// The clock moves forward.
    Tick(u64),
    /// The clock jumps back.
    JumpBack(u64),
    /// The clock moves onto an edge of the stored record's freshness: `refreshed_at + ttl +
    /// delta` (or, `ahead`, `refreshed_at - ttl + delta`, which needs a clock behind it).
    ToEdge {
        ahead: bool,
        delta: i64,
    },
}

fn rival() -> impl Strategy<Value = Rival> {
    prop_oneof![
        8 => (0..SESSIONS.len(), -12_000i64..12_000, prop::sample::select(&TTLS[..]), any::<bool>())
            .prop_map(|(who, offset, ttl, without_refreshed_at)| Rival::Record {
                who, offset, ttl, without_refreshed_at,
            }),
        1 => (0..GARBAGE.len()).prop_map(Rival::Garbage),
        2 => Just(Rival::Delete),
    ]
}

fn rivals() -> impl Strategy<Value = Vec<Rival>> {
    prop_oneof![
        12 => Just(Vec::new()),
        5 => prop::collection::vec(rival(), 1..=2),
        // Enough to win every one of the component's attempts.
        1 => prop::collection::vec(rival(), MAX_ATTEMPTS - 1..=MAX_ATTEMPTS + 1),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let who = 0..ACTORS;
    prop_oneof![
        5 => (who.clone(), prop::sample::select(&TTLS[..]), rivals())
            .prop_map(|(who, ttl, rivals)| Step::Acquire { who, ttl, rivals }),
        2 => (who.clone(), prop::sample::select(&TTLS[..]), rivals())
            .prop_map(|(who, ttl, rivals)| Step::Refresh { who, ttl, rivals }),
        2 => (who, rivals()).prop_map(|(who, rivals)| Step::Release { who, rivals }),
        1 => rival().prop_map(Step::Outside),
        3 => prop_oneof![0..3u64, 0..200u64, 0..12_000u64].prop_map(Step::Tick),
        1 => (0..12_000u64).prop_map(Step::JumpBack),
        2 => (any::<bool>(), -1i64..=1).prop_map(|(ahead, delta)| Step::ToEdge { ahead, delta }),
    ]
}

/// The lock as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lock {
    Free,
    Held(LockRecord),
    /// Bytes that are not a lock record: nobody but `force-release` may touch them.
    Unreadable(Vec<u8>),
}

/// The staleness rule, in 128-bit arithmetic so that it needs no saturation.
fn stale(record: &LockRecord, now: u64) -> bool {
    let (now, refreshed, ttl) = (
        u128::from(now),
        u128::from(record.refreshed_at),
        u128::from(record.ttl_ms),
    );
    now > refreshed + ttl || refreshed > now + ttl
}

/// Reads stored bytes as the README describes the record (independently of the policy).
fn decode(bytes: &[u8]) -> Option<LockRecord> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let number = |name: &str| value.get(name)?.as_u64();
    let session_id = value.get("session_id")?.as_str()?;
    if number("schema_version")? != 1 || session_id.is_empty() {
        return None;
    }
    let acquired_at = number("acquired_at")?;
    Some(LockRecord {
        session_id: session_id.to_owned(),
        pid: u32::try_from(number("pid")?).ok()?,
        acquired_at,
        refreshed_at: match value.get("refreshed_at") {
            None => acquired_at,
            Some(_) => number("refreshed_at")?,
        },
        ttl_ms: number("ttl_ms")?,
        // The model's sessions never name their own process.
        holder: None,
    })
}

fn lock_of(bytes: Option<&Vec<u8>>) -> Lock {
    match bytes {
        None => Lock::Free,
        Some(bytes) => decode(bytes).map_or_else(|| Lock::Unreadable(bytes.clone()), Lock::Held),
    }
}

fn pid_of(who: usize) -> u32 {
    100 + who as u32
}

/// An operation a session performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Acquire { ttl: u64 },
    Refresh { ttl: u64 },
    Release,
}

/// What an operation returned, with the reasons of unreadable records left out (the model
/// does not word them).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Acquire(Result<AcquireResult, PolicyError>),
    Refresh(Result<RefreshResult, PolicyError>),
    Release(Result<ReleaseResult, PolicyError>),
}

impl Outcome {
    /// A name for the kind of outcome, to count how often each was met.
    fn kind(&self) -> &'static str {
        match self {
            Outcome::Acquire(Ok(AcquireResult::Acquired(_))) => "acquired",
            Outcome::Acquire(Ok(AcquireResult::Reacquired(_))) => "reacquired",
            Outcome::Acquire(Ok(AcquireResult::TakenOver(_))) => "taken over",
            Outcome::Acquire(Ok(AcquireResult::Blocked(_))) => "blocked",
            Outcome::Refresh(Ok(RefreshResult::Refreshed(_))) => "refreshed",
            Outcome::Refresh(Ok(RefreshResult::NotHeld(_))) => "refresh not held",
            Outcome::Release(Ok(ReleaseResult::Released(_))) => "released",
            Outcome::Release(Ok(ReleaseResult::NotHeld(_))) => "release not held",
            Outcome::Acquire(Err(e)) | Outcome::Refresh(Err(e)) | Outcome::Release(Err(e)) => {
                match e {
                    PolicyError::Contended(_) => "contended",
                    PolicyError::UnreadableRecord(_) => "unreadable",
                    PolicyError::Store(_) => "store error",
                    PolicyError::Busy(_) => "store busy",
                }
            }
        }
    }

    /// `op` failed with `error`.
    fn failed(op: Op, error: PolicyError) -> Outcome {
        match op {
            Op::Acquire { .. } => Outcome::Acquire(Err(error)),
            Op::Refresh { .. } => Outcome::Refresh(Err(error)),
            Op::Release => Outcome::Release(Err(error)),
        }
    }
}

fn without_reason<T>(result: Result<T, PolicyError>) -> Result<T, PolicyError> {
    result.map_err(|e| match e {
        PolicyError::UnreadableRecord(_) => PolicyError::UnreadableRecord(String::new()),
        other => other,
    })
}

/// One decision of the model on the lock it sees.
enum Decision {
    Answer(Outcome),
    Swap(Lock, Outcome),
}

/// The policy, as the WIT documents it.
fn decide(lock: &Lock, op: Op, who: usize, now: u64) -> Decision {
    let id = SESSIONS[who];
    let renewed = |h: &LockRecord, ttl| LockRecord {
        pid: pid_of(who),
        refreshed_at: now,
        ttl_ms: ttl,
        ..h.clone()
    };
    match (op, lock) {
        (_, Lock::Unreadable(_)) => Decision::Answer(Outcome::failed(
            op,
            PolicyError::UnreadableRecord(String::new()),
        )),
        (Op::Acquire { ttl }, Lock::Free) => {
            let taken = lock_record(id, pid_of(who), now, now, ttl);
            let answer = Outcome::Acquire(Ok(AcquireResult::Acquired(taken.clone())));
            Decision::Swap(Lock::Held(taken), answer)
        }
        (Op::Acquire { ttl }, Lock::Held(h)) if h.session_id == id => {
            let renewed = renewed(h, ttl);
            let answer = Outcome::Acquire(Ok(AcquireResult::Reacquired(renewed.clone())));
            Decision::Swap(Lock::Held(renewed), answer)
        }
        (Op::Acquire { ttl }, Lock::Held(h)) if stale(h, now) => {
            let taken = lock_record(id, pid_of(who), now, now, ttl);
            let answer = Outcome::Acquire(Ok(AcquireResult::TakenOver(Takeover {
                taken: taken.clone(),
                previous: h.clone(),
                // Nobody's process is known here: only the ttl frees a lock.
                holder_gone: false,
            })));
            Decision::Swap(Lock::Held(taken), answer)
        }
        (Op::Acquire { .. }, Lock::Held(h)) => {
            Decision::Answer(Outcome::Acquire(Ok(AcquireResult::Blocked(h.clone()))))
        }
        (Op::Refresh { .. }, Lock::Free) => {
            Decision::Answer(Outcome::Refresh(Ok(RefreshResult::NotHeld(None))))
        }
        (Op::Refresh { .. }, Lock::Held(h)) if h.session_id != id => Decision::Answer(
            Outcome::Refresh(Ok(RefreshResult::NotHeld(Some(h.clone())))),
        ),
        (Op::Refresh { ttl }, Lock::Held(h)) => {
            let renewed = renewed(h, ttl);
            let answer = Outcome::Refresh(Ok(RefreshResult::Refreshed(renewed.clone())));
            Decision::Swap(Lock::Held(renewed), answer)
        }
        (Op::Release, Lock::Free) => {
            Decision::Answer(Outcome::Release(Ok(ReleaseResult::NotHeld(None))))
        }
        (Op::Release, Lock::Held(h)) if h.session_id != id => Decision::Answer(Outcome::Release(
            Ok(ReleaseResult::NotHeld(Some(h.clone()))),
        )),
        (Op::Release, Lock::Held(h)) => Decision::Swap(
            Lock::Free,
            Outcome::Release(Ok(ReleaseResult::Released(h.clone()))),
        ),
    }
}

/// The model's prediction for one operation: the outcome, the lock after it, how many swaps the
/// component attempts and how many of the rival writes it meets.
struct Prediction {
    outcome: Outcome,
    lock: Lock,
    swaps: usize,
    rivals_met: usize,
}

/// Decides, swaps, and on a swap lost to a rival write decides again on what the rival wrote,
/// at most [`MAX_ATTEMPTS`] times.
fn predict(mut lock: Lock, op: Op, who: usize, now: u64, rivals: &[Option<Vec<u8>>]) -> Prediction {
    let mut rivals = rivals.iter();
    let mut swaps = 0;
    for _ in 0..MAX_ATTEMPTS {
        match decide(&lock, op, who, now) {
            Decision::Answer(outcome) => {
                return Prediction {
                    outcome,
                    lock,
                    swaps,
                    rivals_met: swaps,
                };
            }
            Decision::Swap(after, outcome) => {
                swaps += 1;
                match rivals.next() {
                    Some(written) => lock = lock_of(written.as_ref()),
                    None => {
                        return Prediction {
                            outcome,
                            lock: after,
                            swaps,
                            rivals_met: swaps - 1,
                        };
                    }
                }
            }
        }
    }
    let outcome = Outcome::failed(op, PolicyError::Contended(MAX_ATTEMPTS as u32));
    Prediction {
        outcome,
        lock,
        swaps,
        rivals_met: swaps,
    }
}

/// Grants the component gave, kept apart from the model: who was allowed, refreshed until when.
/// A rival write voids them all (the record is then the rival's).
#[derive(Default)]
struct Ledger {
    grants: BTreeMap<usize, LockRecord>,
}

impl Ledger {
    /// Whether a session other than `who` holds a grant that is still fresh at `now`.
    fn other_fresh_holder(&self, who: usize, now: u64) -> Option<usize> {
        self.grants
            .iter()
            .find(|(holder, record)| **holder != who && !stale(record, now))
            .map(|(holder, _)| *holder)
    }
}

/// The state of one case.
struct Case<'a> {
    policy: &'a mut MockPolicy,
    model: Lock,
    ledger: Ledger,
    now: u64,
    /// How often each kind of outcome was met (over all cases).
    seen: &'a mut BTreeMap<&'static str, usize>,
}

fn fail(why: String) -> TestCaseError {
    TestCaseError::fail(why)
}

impl Case<'_> {
    fn run(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match step {
            Step::Acquire { who, ttl, rivals } => {
                self.operate(Op::Acquire { ttl: *ttl }, *who, rivals)
            }
            Step::Refresh { who, ttl, rivals } => {
                self.operate(Op::Refresh { ttl: *ttl }, *who, rivals)
            }
            Step::Release { who, rivals } => self.operate(Op::Release, *who, rivals),
            Step::Outside(rival) => {
                let written = self.rival_bytes(std::slice::from_ref(rival)).pop();
                let store = self.policy.lock_store();
                match written {
                    None => {}
                    Some(None) => {
                        store.records.remove(KEY);
                    }
                    Some(Some(bytes)) => {
                        store.records.insert(KEY.to_owned(), bytes);
                    }
                }
                self.model = lock_of(self.policy.lock_store().records.get(KEY));
                self.ledger.grants.clear();
                Ok(())
            }
            Step::Tick(ms) => {
                self.now += ms;
                Ok(())
            }
            Step::JumpBack(ms) => {
                self.now -= ms;
                Ok(())
            }
            Step::ToEdge { ahead, delta } => {
                if let Lock::Held(record) = &self.model {
                    let edge = if *ahead {
                        record.refreshed_at.saturating_sub(record.ttl_ms)
                    } else {
                        record.refreshed_at + record.ttl_ms
                    };
                    self.now = edge.saturating_add_signed(*delta);
                }
                Ok(())
            }
        }
    }

    /// The rival writes as bytes, each different from what the record holds just before it, so
    /// that each one makes the component's swap conflict.
    fn rival_bytes(&mut self, rivals: &[Rival]) -> Vec<Option<Vec<u8>>> {
        let mut last = self.policy.lock_store().records.get(KEY).cloned();
        let mut writes = Vec::new();
        for rival in rivals {
            let bytes = match rival {
                Rival::Record {
                    who,
                    offset,
                    ttl,
                    without_refreshed_at,
                } => {
                    let refreshed = self.now.saturating_add_signed(*offset);
                    let field = (!without_refreshed_at).then_some(refreshed);
                    Some(stored_record(SESSIONS[*who], 9, refreshed, field, *ttl))
                }
                Rival::Garbage(n) => Some(GARBAGE[*n].to_vec()),
                Rival::Delete => None,
            };
            if bytes != last {
                last = bytes.clone();
                writes.push(bytes);
            }
        }
        writes
    }

    /// Runs `op` by session `who` through the component, with the rivals' writes queued, and
    /// checks it against the model, the ledger and the swap audit.
    fn operate(&mut self, op: Op, who: usize, rivals: &[Rival]) -> Result<(), TestCaseError> {
        let now = self.now;
        let writes = self.rival_bytes(rivals);
        let predicted = predict(self.model.clone(), op, who, now, &writes);
        let store = self.policy.lock_store();
        let first_call = store.calls.len();
        store.interleaved_writes = writes.iter().cloned().collect();

        let outcome = self.call(op, who)?;

        let store = self.policy.lock_store();
        let rivals_met = writes.len() - store.interleaved_writes.len();
        store.interleaved_writes.clear();
        let calls = store.calls.split_off(first_call);
        let lock = lock_of(store.records.get(KEY));
        let swaps = calls
            .iter()
            .filter(|c| matches!(c, Call::CompareAndSwap { .. }))
            .count();
        let context = format!("{op:?} by {} at {now}", SESSIONS[who]);
        prop_assert_eq!(&outcome, &predicted.outcome, "outcome of {}", context);
        prop_assert_eq!(&lock, &predicted.lock, "record after {}", context);
        prop_assert_eq!(swaps, predicted.swaps, "swaps of {}", context);
        prop_assert_eq!(
            rivals_met,
            predicted.rivals_met,
            "rivals met by {}",
            context
        );
        audit_swaps(&calls, op, who, now).map_err(|why| fail(format!("{context}: {why}")))?;
        self.model = lock;
        *self.seen.entry(outcome.kind()).or_default() += 1;
        if rivals_met > 0 {
            // The record is the rival's now: no earlier grant stands.
            self.ledger.grants.clear();
        }
        match &outcome {
            Outcome::Acquire(Ok(
                AcquireResult::Acquired(taken)
                | AcquireResult::Reacquired(taken)
                | AcquireResult::TakenOver(Takeover { taken, .. }),
            )) => {
                if let Some(other) = self.ledger.other_fresh_holder(who, now) {
                    return Err(fail(format!(
                        "{context}: granted while {} holds a fresh grant",
                        SESSIONS[other]
                    )));
                }
                self.ledger.grants.clear();
                self.ledger.grants.insert(who, taken.clone());
                self.acquire_again_changes_nothing(who, op, taken)?;
            }
            Outcome::Refresh(Ok(RefreshResult::Refreshed(renewed))) => {
                self.ledger.grants.insert(who, renewed.clone());
            }
            Outcome::Release(Ok(ReleaseResult::Released(_))) => {
                self.ledger.grants.remove(&who);
            }
            _ => {}
        }
        Ok(())
    }

    /// Calls the component; a trap fails the case.
    fn call(&mut self, op: Op, who: usize) -> Result<Outcome, TestCaseError> {
        let session = Session {
            id: SESSIONS[who].to_owned(),
            pid: pid_of(who),
            pid_is_session: false,
        };
        let trap = |e: wasmtime::Error| fail(format!("the component trapped: {e:?}"));
        let now = self.now;
        Ok(match op {
            Op::Acquire { ttl } => Outcome::Acquire(without_reason(
                self.policy.acquire(KEY, &session, now, ttl).map_err(trap)?,
            )),
            Op::Refresh { ttl } => Outcome::Refresh(without_reason(
                self.policy.refresh(KEY, &session, now, ttl).map_err(trap)?,
            )),
            Op::Release => Outcome::Release(without_reason(
                self.policy.release(KEY, &session.id).map_err(trap)?,
            )),
        })
    }

    /// The same acquire again at the same moment: `reacquired` with the same record, and the
    /// stored bytes unchanged.
    fn acquire_again_changes_nothing(
        &mut self,
        who: usize,
        op: Op,
        taken: &LockRecord,
    ) -> Result<(), TestCaseError> {
        let before = self.policy.lock_store().records.get(KEY).cloned();
        let again = self.call(op, who)?;
        let store = self.policy.lock_store();
        prop_assert_eq!(
            again,
            Outcome::Acquire(Ok(AcquireResult::Reacquired(taken.clone())))
        );
        prop_assert_eq!(store.records.get(KEY).cloned(), before);
        store.calls.clear();
        Ok(())
    }
}

/// Every swap `calls` made by session `who` replaced only what it read as free (acquire), as
/// its own, or as another's stale lock (acquire); deleted only its own lock (release); and
/// wrote only records naming itself.
fn audit_swaps(calls: &[Call], op: Op, who: usize, now: u64) -> Result<(), String> {
    let id = SESSIONS[who];
    let acquiring = matches!(op, Op::Acquire { .. });
    for call in calls {
        let Call::CompareAndSwap {
            expected,
            replacement,
            ..
        } = call
        else {
            continue;
        };
        let replaced = lock_of(expected.as_ref());
        match &replaced {
            Lock::Unreadable(bytes) => {
                return Err(format!("swapped over unreadable bytes {bytes:?}"));
            }
            Lock::Free if !acquiring => return Err("wrote to a free lock".into()),
            Lock::Held(h) if h.session_id != id && !(acquiring && stale(h, now)) => {
                return Err(format!("replaced {}'s fresh lock", h.session_id));
            }
            _ => {}
        }
        match replacement {
            None if op != Op::Release => return Err("deleted the lock".into()),
            None if replaced == Lock::Free => return Err("deleted a free lock".into()),
            Some(bytes) if decode(bytes).map(|r| r.session_id).as_deref() != Some(id) => {
                return Err(format!("wrote a record not naming {id}: {bytes:?}"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Runs `cases` random cases (`PROPTEST_CASES` when set, for longer runs) on one component
/// instance (loaded once: the instance lives on as a host's would), replaced after a failure so
/// that shrinking starts clean; returns how many cases ran.
fn run_cases<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(&mut MockPolicy, S::Value) -> Result<(), TestCaseError>,
) -> u32 {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    let policy = std::cell::RefCell::new(empty_policy());
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |value| {
        let mut policy = policy.borrow_mut();
        *policy.lock_store() = MockStore::default();
        let result = test(&mut policy, value);
        if result.is_err() {
            *policy = empty_policy();
        }
        result
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    cases
}

#[test]
fn the_component_follows_the_model_through_random_histories() {
    let steps = std::cell::Cell::new(0usize);
    let seen = std::cell::RefCell::new(BTreeMap::new());
    let cases = run_cases(
        CASES,
        prop::collection::vec(step(), 1..60),
        |policy, history| {
            let mut seen = seen.borrow_mut();
            let mut case = Case {
                policy,
                model: Lock::Free,
                ledger: Ledger::default(),
                now: START,
                seen: &mut seen,
            };
            for step in &history {
                case.run(step)?;
            }
            steps.set(steps.get() + history.len());
            Ok(())
        },
    );
    let seen = seen.into_inner();
    println!(
        "model: {cases} cases, {} steps; outcomes {seen:?}",
        steps.get()
    );
    // Every branch of the policy was met, so the agreement above covers them all.
    for kind in [
        "acquired",
        "reacquired",
        "taken over",
        "blocked",
        "refreshed",
        "refresh not held",
        "released",
        "release not held",
        "contended",
        "unreadable",
    ] {
        assert!(
            seen.get(kind).is_some_and(|n| *n > 0),
            "never met {kind}: {seen:?}"
        );
    }
}

#[test]
fn is_stale_is_exactly_the_rule() {
    // Ordinary values, and the extremes where `refreshed_at + ttl` or `now + ttl` overflows.
    let time = || {
        prop_oneof![
            any::<u64>(),
            START - 20_000..START + 20_000,
            u64::MAX - 10..=u64::MAX,
            0..10u64
        ]
    };
    let ttl = || prop_oneof![any::<u64>(), 0..20_000u64, u64::MAX - 10..=u64::MAX];
    let cases = run_cases(
        CASES * 5,
        (time(), ttl(), time()),
        |policy, (refreshed, ttl, now)| {
            let record = lock_record("A", 1, refreshed, refreshed, ttl);
            let answer = policy
                .is_stale(&record, now)
                .map_err(|e| fail(format!("the component trapped: {e:?}")))?;
            prop_assert_eq!(answer, stale(&record, now), "{:?} at {}", record, now);
            Ok(())
        },
    );
    println!("is-stale: {cases} cases");
}
