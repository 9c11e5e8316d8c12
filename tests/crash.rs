//! Crash consistency: `session-lock hook` killed with SIGKILL at random moments while it
//! acquires, takes over, refreshes and releases a lock. After every kill the lock file is
//! absent or a complete valid record (the one before or the one after the operation), the swap
//! mutex is free, and at most one temporary file is left; a lock a killed session left is taken
//! by another once its ttl has passed.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;

use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use arena::{Arena, check_record, now_ms};
use events::{Answer, answer, feed, stderr_text};

const BINARY: &str = env!("CARGO_BIN_EXE_session-lock");

/// The ttl of the records the hooks write (`SESSION_LOCK_TTL_MS`): short, so that a lock a
/// killed session left turns stale within the test.
const TTL_MS: u64 = 300;
const TTL_ENV: (&str, &str) = ("SESSION_LOCK_TTL_MS", "300");
/// Killed runs per operation (`CRASH_TRIALS` overrides, for longer runs).
const TRIALS: usize = 75;

fn trials() -> usize {
    std::env::var("CRASH_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(TRIALS)
}

/// One operation's trials at a time, so that the run time measured first still holds while
/// the kills are drawn from it.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// What the hook is doing when it is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    /// PreToolUse on a free lock.
    Acquire,
    /// PreToolUse on another session's stale lock.
    TakeOver,
    /// PostToolUse on the session's own lock.
    Refresh,
    /// Stop on the session's own lock.
    Release,
}

/// The previous holder in `TakeOver` trials.
const OLD: &str = "old-session";

/// Puts the lock in the state `operation` starts from; the event that performs it.
fn set_up(arena: &Arena, operation: Operation, session: &str) -> Vec<u8> {
    arena.clear_record();
    match operation {
        Operation::Acquire => arena.claude_event("PreToolUse", session, Some("Edit")),
        Operation::TakeOver => {
            arena.write_record(OLD, now_ms() - 10 * TTL_MS, TTL_MS);
            arena.claude_event("PreToolUse", session, Some("Edit"))
        }
        Operation::Refresh => {
            arena.write_record(session, now_ms() - 1, TTL_MS);
            arena.claude_event("PostToolUse", session, Some("Edit"))
        }
        Operation::Release => {
            arena.write_record(session, now_ms() - 1, TTL_MS);
            arena.claude_event("Stop", session, None)
        }
    }
}

/// The holders the lock file may name after `operation` by `session`, whether it ran to the
/// end or not (`None`: no file).
fn possible_holders(operation: Operation, session: &str) -> [Option<&str>; 2] {
    match operation {
        Operation::Acquire => [None, Some(session)],
        Operation::TakeOver => [Some(OLD), Some(session)],
        Operation::Refresh => [Some(session), Some(session)],
        Operation::Release => [Some(session), None],
    }
}

/// How long a run of `operation` takes, from its start to its exit (the median of a few):
/// kills are drawn from start to a little past it, so they land in every phase of the run, the
/// lock I/O at its end included.
fn run_time(arena: &Arena, operation: Operation) -> Duration {
    let mut times: Vec<Duration> = (0..7)
        .map(|n| {
            let event = set_up(arena, operation, &format!("timing-{n}"));
            let started = Instant::now();
            let output = arena.run(&event, &[TTL_ENV]);
            assert_eq!(answer(&output), Answer::Allow, "{}", stderr_text(&output));
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// What the kills did.
#[derive(Debug, Default)]
struct Tally {
    trials: usize,
    killed: usize,
    killed_after_the_write: usize,
    temp_files_left: usize,
}

/// Runs `operation` [`trials`] times, each killed after a random delay, and checks the lock
/// after every kill.
fn kill_at_random_moments(operation: Operation) -> Tally {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let arena = Arena::new(BINARY, &["hook"]);
    let window = run_time(&arena, operation).mul_f64(1.25);
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut tally = Tally::default();
    for trial in 0..trials() {
        let session = format!("session-{trial}");
        let event = set_up(&arena, operation, &session);
        let before = arena.record_bytes();
        // Half the kills anywhere in the run, half in its last part, where the lock I/O is.
        let moment = if trial % 2 == 0 {
            rng.f64()
        } else {
            0.6 + 0.4 * rng.f64()
        };
        let delay = window.mul_f64(moment);
        let mut child = arena.spawn(&[TTL_ENV]);
        feed(&mut child, &event);
        thread::sleep(delay);
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        let context = format!("{operation:?} trial {trial}, killed after {delay:?}, seed {seed}");

        tally.trials += 1;
        if output.status.signal() == Some(libc::SIGKILL) {
            tally.killed += 1;
            tally.killed_after_the_write += usize::from(arena.record_bytes() != before);
        } else {
            assert_eq!(answer(&output), Answer::Allow, "{context}");
            assert!(
                output.stderr.is_empty(),
                "{context}: {}",
                stderr_text(&output)
            );
        }

        let holder = arena
            .record_bytes()
            .map(|bytes| check_record(&bytes).unwrap_or_else(|why| panic!("{context}: {why}")));
        assert!(
            possible_holders(operation, &session).contains(&holder.as_deref()),
            "{context}: the lock names {holder:?}"
        );
        assert_only_lock_files(&arena, &context);
        tally.temp_files_left += usize::from(arena.temp_path().exists());
        let mutex = File::open(arena.mutex_path()).unwrap();
        assert!(
            mutex.try_lock().is_ok(),
            "{context}: a killed process's swap mutex is released by the kernel"
        );
    }
    println!("{operation:?}: {tally:?}, seed {seed}");
    assert!(
        tally.killed > 0,
        "{operation:?}: no run was killed: {tally:?}"
    );
    a_left_lock_is_taken_once_its_ttl_passes(&arena);
    tally
}

/// The lock directory holds this key's record, mutex and at most one temporary file.
fn assert_only_lock_files(arena: &Arena, context: &str) {
    let key = &arena.key;
    let allowed = [
        format!("session-lock-{key}.json"),
        format!("session-lock-{key}.mutex"),
        format!(".session-lock-{key}.tmp"),
        // The decision log (`session-lock log`), appended beside the records.
        "session-lock-decisions.jsonl".to_string(),
    ];
    for name in arena.lock_dir_names() {
        assert!(allowed.contains(&name), "{context}: stray file {name}");
    }
}

/// The holder left by the last trial, if any, never sends its Stop: another session is refused
/// while its lock is fresh and takes it over once `refreshed_at + ttl_ms` has passed.
fn a_left_lock_is_taken_once_its_ttl_passes(arena: &Arena) {
    let Some(left) = arena.holder() else {
        let taken = arena.run(&arena.pre_tool_use("successor"), &[TTL_ENV]);
        assert_eq!(answer(&taken), Answer::Allow, "{}", stderr_text(&taken));
        return;
    };
    let record: serde_json::Value = serde_json::from_slice(&arena.record_bytes().unwrap()).unwrap();
    let stale_at = record["refreshed_at"].as_u64().unwrap() + record["ttl_ms"].as_u64().unwrap();
    let now = now_ms();
    if now < stale_at {
        let early = arena.run(&arena.pre_tool_use("successor"), &[TTL_ENV]);
        // The hook reads the clock a little later than the test does.
        if now_ms() < stale_at {
            assert_eq!(answer(&early), Answer::Deny(left.clone()));
        }
        thread::sleep(Duration::from_millis(stale_at - now + 5));
    }
    let late = arena.run(&arena.pre_tool_use("successor"), &[TTL_ENV]);
    assert_eq!(answer(&late), Answer::Allow, "{}", stderr_text(&late));
    assert_eq!(arena.holder().as_deref(), Some("successor"));
}

#[test]
fn a_killed_acquire_leaves_no_lock_or_its_own() {
    kill_at_random_moments(Operation::Acquire);
}

#[test]
fn a_killed_takeover_leaves_the_stale_lock_or_its_own() {
    kill_at_random_moments(Operation::TakeOver);
}

#[test]
fn a_killed_refresh_leaves_the_lock_it_refreshed() {
    kill_at_random_moments(Operation::Refresh);
}

#[test]
fn a_killed_release_leaves_its_lock_or_none() {
    kill_at_random_moments(Operation::Release);
}

#[test]
fn a_temporary_file_left_mid_write_is_reused_and_never_read_as_the_lock() {
    let arena = Arena::new(BINARY, &["hook"]);
    arena.write_record("A", now_ms(), 300_000);
    // What a writer killed between its write and its rename leaves: half a record.
    std::fs::write(arena.temp_path(), b"{\"schema_version\":1,\"sess").unwrap();

    let blocked = arena.run(&arena.pre_tool_use("B"), &[]);
    assert_eq!(
        answer(&blocked),
        Answer::Deny("A".into()),
        "the lock is A's record"
    );
    let refreshed = arena.run(&arena.claude_event("PostToolUse", "A", Some("Write")), &[]);
    assert!(refreshed.stderr.is_empty(), "{}", stderr_text(&refreshed));
    assert_eq!(arena.holder().as_deref(), Some("A"));
    assert!(
        !arena.temp_path().exists(),
        "the next writer wrote the temporary file afresh and renamed it into place"
    );
}
