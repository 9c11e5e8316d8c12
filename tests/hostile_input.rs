//! Hostile input: hook events and lock file contents that are garbage, half-valid, huge or
//! deeply nested, through the component (proptest, many cases, one long-lived instance) and
//! through the real binary. Never a trap or a panic, never a deny on garbage, every answer in
//! time and within a bounded memory.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;
#[path = "support/mock_store.rs"]
mod mock_store;
#[path = "support/virtual_host.rs"]
mod virtual_host;

use std::cell::RefCell;
use std::time::{Duration, Instant};

use mock_store::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use session_lock::component::HookResponse;

use arena::Arena;
use events::{Answer, answer, stderr_text};
use virtual_host::{NOW, TTL, VirtualHost, WORKSPACE};

const BINARY: &str = env!("CARGO_BIN_EXE_session-lock");
/// The session holding the lock in the component cases.
const HOLDER: &str = "B";

/// Cases per property (`PROPTEST_CASES` overrides).
const CASES: u32 = 4_096;
/// The longest one call into the component may take on any input here. Debug builds are slow
/// and CI machines shared (one call on a 20 MiB record took 2.2 s at a load of 9 on 2 cores,
/// two took 1.4 s in all at a load of 5): this bounds a runaway, such as a walk quadratic in
/// the record, not the speed, which `cargo bench` measures.
const CALL_LIMIT: Duration = Duration::from_secs(10);

fn held_by_holder() -> Vec<u8> {
    stored_record(HOLDER, 8, NOW - 1_000, Some(NOW - 1_000), TTL)
}

/// One long-lived component over a store where [`HOLDER`] holds a fresh lock.
struct Harness {
    policy: MockPolicy,
    key: String,
    slowest: Duration,
    cases: u32,
}

impl Harness {
    fn new() -> Harness {
        let mut policy = empty_policy();
        let key = policy.workspace_hash(WORKSPACE).unwrap();
        Harness {
            policy,
            key,
            slowest: Duration::ZERO,
            cases: 0,
        }
    }

    /// Handles `event` with the lock record `stored`; the answer and the record after.
    fn handle(
        &mut self,
        event: &[u8],
        stored: Option<Vec<u8>>,
    ) -> Result<(HookResponse, Option<Vec<u8>>), TestCaseError> {
        let store = self.policy.lock_store();
        *store = MockStore::default();
        if let Some(bytes) = stored {
            store.records.insert(self.key.clone(), bytes);
        }
        let started = Instant::now();
        let result = VirtualHost::standard().try_handle(&mut self.policy, event);
        let took = started.elapsed();
        self.slowest = self.slowest.max(took);
        self.cases += 1;
        let answer = match result {
            Ok(answer) => answer,
            Err(trap) => {
                // A trapped instance cannot be entered again: start the next case afresh.
                self.policy = empty_policy();
                return Err(TestCaseError::fail(format!(
                    "the component trapped: {trap:?}"
                )));
            }
        };
        prop_assert!(took < CALL_LIMIT, "took {:?}", took);
        let after = self.policy.lock_store().records.get(&self.key).cloned();
        Ok((answer, after))
    }
}

/// The holder a deny names, if the answer is a deny in any agent's form; checks that every
/// answer is well-formed: exit 0, stdout empty or JSON, stderr lines all `session-lock`.
fn denied(answer: &HookResponse) -> Result<Option<String>, TestCaseError> {
    prop_assert_eq!(answer.exit_code, 0);
    prop_assert!(
        answer.stderr.lines().all(|l| l.starts_with("session-lock")),
        "stderr {:?}",
        answer.stderr
    );
    if answer.stdout.is_empty() {
        return Ok(None);
    }
    let output: Value = serde_json::from_str(&answer.stdout)
        .map_err(|e| TestCaseError::fail(format!("stdout is not JSON ({e}): {}", answer.stdout)))?;
    let reason = [
        &output["hookSpecificOutput"]["permissionDecisionReason"],
        &output["reason"],
        &output["user_message"],
    ]
    .into_iter()
    .find_map(Value::as_str);
    let denies = output["hookSpecificOutput"]["permissionDecision"] == "deny"
        || output["decision"] == "deny"
        || output["permission"] == "deny";
    // Cursor's `user_message` is also how an allowed call's warning (a fail-open) reaches the
    // person: a message, not a refusal.
    let warns = output["permission"] == "allow" && output["user_message"].is_string();
    prop_assert_eq!(denies, reason.is_some() && !warns, "{}", answer.stdout);
    Ok(reason.filter(|_| denies).map(str::to_owned))
}

/// Runs `cases` cases of `strategy` through one harness; returns it for its figures.
fn run_cases<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(&mut Harness, S::Value) -> Result<(), TestCaseError>,
) -> Harness {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    let harness = RefCell::new(Harness::new());
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(failure) = runner.run(&strategy, |value| test(&mut harness.borrow_mut(), value)) {
        panic!("{failure}");
    }
    harness.into_inner()
}

/// Field names the policy reads, and some it does not.
const FIELDS: [&str; 11] = [
    "hook_event_name",
    "session_id",
    "conversation_id",
    "cwd",
    "workspace_roots",
    "tool_name",
    "tool_input",
    "turn_id",
    "timestamp",
    "transcript_path",
    "permission_mode",
];

/// Strings that mean something to the policy.
const WORDS: [&str; 18] = [
    "PreToolUse",
    "PostToolUse",
    "Stop",
    "SessionEnd",
    "BeforeTool",
    "AfterAgent",
    "beforeShellExecution",
    "stop",
    "Write",
    "Bash",
    "Edit",
    "apply_patch",
    "write_file",
    "run_shell_command",
    HOLDER,
    "Z",
    "",
    WORKSPACE,
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&WORDS[..]).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Events shaped like hook events: known fields (often with meaningful words, sometimes of
/// the wrong type) and unknown ones, some missing.
fn event_like() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        3 => prop::sample::select(&FIELDS[..]).prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    let value = prop_oneof![
        3 => text().prop_map(Value::from),
        1 => json_value(),
    ];
    prop::collection::btree_map(field, value, 0..9)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

/// Whether `event` could legitimately be denied: a JSON object naming, as its session, a
/// non-empty string other than the holder.
fn could_be_denied(event: &Value) -> bool {
    let other_session = |field: &str| {
        event
            .get(field)
            .and_then(Value::as_str)
            .is_some_and(|id| !id.is_empty() && id != HOLDER)
    };
    other_session("session_id") || other_session("conversation_id")
}

fn names_holder(reason: &str) -> bool {
    reason.starts_with(&format!("parallel session lock held by {HOLDER} (pid 8)"))
}

#[test]
fn arbitrary_bytes_never_trap_and_never_deny() {
    let harness = run_cases(
        CASES,
        prop::collection::vec(any::<u8>(), 0..512),
        |harness, bytes| {
            let (answer, after) = harness.handle(&bytes, Some(held_by_holder()))?;
            prop_assert_eq!(denied(&answer)?, None);
            prop_assert_eq!(after, Some(held_by_holder()));
            Ok(())
        },
    );
    println!(
        "arbitrary bytes: {} cases, slowest {:?}",
        harness.cases, harness.slowest
    );
}

#[test]
fn event_shaped_json_denies_only_a_session_that_is_not_the_holder() {
    let harness = run_cases(CASES / 2, event_like(), |harness, event| {
        let bytes = serde_json::to_vec(&event).unwrap();
        let (answer, after) = harness.handle(&bytes, Some(held_by_holder()))?;
        if let Some(reason) = denied(&answer)? {
            prop_assert!(could_be_denied(&event), "denied {}: {}", event, reason);
            prop_assert!(names_holder(&reason), "{}", reason);
        }
        // Only the holder's own events may change its lock (refresh, release).
        let by_holder = [&event["session_id"], &event["conversation_id"]]
            .iter()
            .any(|id| *id == HOLDER);
        if !by_holder {
            prop_assert_eq!(after, Some(held_by_holder()), "{}", event);
        }
        Ok(())
    });
    println!(
        "event-shaped JSON: {} cases, slowest {:?}",
        harness.cases, harness.slowest
    );
}

/// A PreToolUse of `Write` by `Z` (denied while the holder's lock is fresh), as JSON text.
fn write_by_z(content: &str) -> String {
    write_by_z_json(&serde_json::to_string(content).unwrap())
}

/// [`write_by_z`] with the JSON text `content` as the content, built by hand: serializing
/// megabytes through `serde_json` is slow in debug builds.
fn write_by_z_json(content: &str) -> String {
    format!(
        "{{\"session_id\":\"Z\",\"cwd\":\"{WORKSPACE}\",\"hook_event_name\":\"PreToolUse\",\
         \"tool_name\":\"Write\",\"tool_input\":{{\"file_path\":\"/home/u/repo/a\",\
         \"content\":{content}}}}}"
    )
}

/// `write_by_z("x")` with its top-level `field` set to the JSON text `value` (added first).
fn with_field(field: &str, value: &str) -> String {
    let mut event: Map<String, Value> = serde_json::from_str(&write_by_z("x")).unwrap();
    event.remove(field);
    let rest = serde_json::to_string(&event).unwrap();
    format!("{{\"{field}\":{value},{}", &rest[1..])
}

#[test]
fn invalid_utf8_in_the_session_id_fails_open_and_anywhere_else_never_traps() {
    // A byte from 0xF8 on never occurs in UTF-8, so each junk run is invalid wherever it lands.
    let junk = (0xF8u8..=0xFF, prop::collection::vec(0x80u8..=0xFF, 0..3)).prop_map(|(b, rest)| {
        let mut junk = vec![b];
        junk.extend(rest);
        junk
    });
    let harness = run_cases(
        CASES / 4,
        (junk, any::<bool>(), any::<prop::sample::Index>()),
        |harness, (junk, in_session, at)| {
            let text = write_by_z("some content");
            let mut bytes = text.clone().into_bytes();
            let at = if in_session {
                text.find("\"Z\"").unwrap() + 1
            } else {
                at.index(bytes.len())
            };
            bytes.splice(at..at, junk.iter().copied());
            let (answer, _) = harness.handle(&bytes, Some(held_by_holder()))?;
            let reason = denied(&answer)?;
            if in_session {
                prop_assert_eq!(reason, None);
                prop_assert!(answer.stderr.starts_with("session-lock: "));
            }
            Ok(())
        },
    );
    println!(
        "invalid UTF-8: {} cases, slowest {:?}",
        harness.cases, harness.slowest
    );
}

#[test]
fn deep_nesting_fails_open_where_the_policy_reads_and_is_skipped_in_tool_input() {
    let mut harness = Harness::new();
    // 100,000 levels of `{"a":` are 500 KB; ten times that runs the component out of fuel (see
    // the real-binary test of that).
    for depth in [200, 10_000, 100_000] {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let nested = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            let in_session_id = write_by_z("x").replace("\"Z\"", &nested);
            for event in [&nested, &in_session_id] {
                let (answer, after) = harness
                    .handle(event.as_bytes(), Some(held_by_holder()))
                    .unwrap();
                assert_eq!(denied(&answer).unwrap(), None, "depth {depth}");
                assert_eq!(after, Some(held_by_holder()));
                // An object of unknown fields names no event: there is nothing to do or say.
                let says_why = answer.stderr.starts_with("session-lock: ");
                assert!(says_why || event.starts_with("{\"a\""), "{}", answer.stderr);
            }
            // The policy never reads `tool_input`: however deep, the event is decided.
            let in_tool_input = write_by_z("x").replace("\"x\"", &nested);
            let (answer, _) = harness
                .handle(in_tool_input.as_bytes(), Some(held_by_holder()))
                .unwrap();
            let reason = denied(&answer)
                .unwrap()
                .expect("Z is refused while B holds the lock");
            assert!(names_holder(&reason), "{reason}");
        }
    }
    println!("deep nesting: slowest {:?}", harness.slowest);
}

#[test]
fn a_10_mb_tool_input_is_decided_like_any_other() {
    let mut harness = Harness::new();
    let event = write_by_z_json(&format!("\"{}\"", "x".repeat(10 << 20)));
    let (answer, _) = harness
        .handle(event.as_bytes(), Some(held_by_holder()))
        .unwrap();
    let reason = denied(&answer)
        .unwrap()
        .expect("Z is refused while B holds the lock");
    assert!(names_holder(&reason), "{reason}");
    let (answer, after) = harness.handle(event.as_bytes(), None).unwrap();
    assert_eq!(denied(&answer).unwrap(), None, "{}", answer.stderr);
    assert!(answer.stderr.is_empty(), "{}", answer.stderr);
    assert!(after.is_some(), "Z took the free lock");
    println!("10 MB tool_input: slowest {:?}", harness.slowest);
}

#[test]
fn a_10_mb_string_in_a_field_the_policy_reads_never_traps() {
    let mut harness = Harness::new();
    let huge = format!("\"{}\"", "y".repeat(10 << 20));
    for field in [
        "session_id",
        "cwd",
        "hook_event_name",
        "tool_name",
        "transcript_path",
    ] {
        let event = with_field(field, &huge);
        let (answer, after) = harness
            .handle(event.as_bytes(), Some(held_by_holder()))
            .unwrap();
        // Whoever the session is (Z, or a 10 MB id), B's fresh lock stands.
        assert_eq!(after, Some(held_by_holder()), "{field}");
        if let Some(reason) = denied(&answer).unwrap() {
            assert!(names_holder(&reason), "{field}: {reason}");
        }
    }
    println!("10 MB fields: slowest {:?}", harness.slowest);
}

/// Tool input as a JSON-encoded source file carries an escape every few bytes, which costs the
/// parser more than plain text: 8 MiB of source code, 4 MiB of blank lines (8 MiB of `\n`).
/// With a flat fuel budget these ran the component out of fuel (from about 4 MiB of `\n`);
/// the host now gives a call fuel in proportion to the event (`engine::fuel_for_event`).
#[test]
fn megabytes_of_escape_heavy_tool_input_are_decided_like_any_other() {
    let mut harness = Harness::new();
    let source_line = "    let x = \"a\";\n";
    let cases = [
        (
            "source code",
            source_line.repeat((8 << 20) / source_line.len()),
        ),
        ("blank lines", "\n".repeat(4 << 20)),
    ];
    for (name, content) in cases {
        let (answer, _) = harness
            .handle(write_by_z(&content).as_bytes(), Some(held_by_holder()))
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let reason = denied(&answer).unwrap();
        assert!(
            reason.as_deref().is_some_and(names_holder),
            "{name}: {}",
            answer.stderr
        );
    }
    println!("escape-heavy tool_input: slowest {:?}", harness.slowest);
}

/// Lock file contents: random bytes, or JSON shaped like a record with fields missing or of the
/// wrong type.
fn lock_content() -> impl Strategy<Value = Vec<u8>> {
    let number = prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        Just(json!(NOW - 1_000)),
        Just(json!(1)),
        Just(json!(u64::MAX)),
    ];
    let field_value = prop_oneof![4 => number, 1 => json_value()];
    const RECORD_FIELDS: [&str; 6] = [
        "schema_version",
        "session_id",
        "pid",
        "acquired_at",
        "refreshed_at",
        "ttl_ms",
    ];
    let record = prop::collection::btree_map(
        prop::sample::select(&RECORD_FIELDS[..]),
        field_value,
        0..=RECORD_FIELDS.len(),
    )
    .prop_map(|m| {
        let object: Map<String, Value> = m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        serde_json::to_vec(&object).unwrap()
    });
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        3 => record,
    ]
}

/// Whether lock file bytes are a valid schema-1 record (the README's description).
fn valid_record(bytes: &[u8]) -> bool {
    arena::check_record(bytes).is_ok()
}

#[test]
fn an_unreadable_lock_file_is_never_overwritten_and_never_denies() {
    let harness = run_cases(CASES / 2, lock_content(), |harness, content| {
        let event = write_by_z("hello");
        let (answer, after) = harness.handle(event.as_bytes(), Some(content.clone()))?;
        let reason = denied(&answer)?;
        if !valid_record(&content) {
            prop_assert_eq!(reason, None);
            prop_assert!(
                answer.stderr.starts_with("session-lock: "),
                "{:?}",
                answer.stderr
            );
            prop_assert_eq!(after, Some(content));
        }
        Ok(())
    });
    println!(
        "lock file contents: {} cases, slowest {:?}",
        harness.cases, harness.slowest
    );
}

#[test]
fn a_huge_lock_record_from_a_store_without_a_cap_is_judged_without_a_trap() {
    let mut harness = Harness::new();
    let mut huge_stale = b"{\"schema_version\":1,\"session_id\":\"".to_vec();
    huge_stale.extend(std::iter::repeat_n(b'q', 20 << 20));
    huge_stale.extend(b"\",\"pid\":1,\"acquired_at\":1,\"ttl_ms\":1}");
    let (answer, after) = harness
        .handle(write_by_z("x").as_bytes(), Some(huge_stale))
        .unwrap();
    assert_eq!(denied(&answer).unwrap(), None);
    let after = after.unwrap();
    assert!(
        after.len() < 1_000,
        "the stale record is taken over by Z's own"
    );
    assert_eq!(arena::check_record(&after).as_deref(), Ok("Z"));

    let huge_garbage = vec![b'{'; 20 << 20];
    let (answer, after) = harness
        .handle(write_by_z("x").as_bytes(), Some(huge_garbage.clone()))
        .unwrap();
    assert_eq!(denied(&answer).unwrap(), None);
    assert!(
        answer.stderr.starts_with("session-lock: "),
        "{}",
        answer.stderr
    );
    assert!(
        after == Some(huge_garbage),
        "unreadable bytes are left alone"
    );
}

mod real_binary {
    use super::*;
    use std::io::Write;
    use std::sync::Mutex;

    /// One at a time: each test here measures how fast one process answers.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    fn turn() -> std::sync::MutexGuard<'static, ()> {
        ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the binary's hook on `event` (fed from another thread, as it may be larger than a
    /// pipe holds), polling the process's peak resident set (`VmHWM`) until it exits, and
    /// killing it after 5 s. The output, the time taken, and the last peak read (KiB): read
    /// just before the exit, it covers the whole run.
    fn hook_measured(arena: &Arena, event: Vec<u8>) -> (std::process::Output, Duration, u64) {
        let started = Instant::now();
        let mut child = arena.spawn(&[]);
        let status_file = format!("/proc/{}/status", child.id());
        let mut stdin = child.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&event);
        });
        let mut peak_kib = 0;
        while child.try_wait().unwrap().is_none() {
            let status = std::fs::read_to_string(&status_file).unwrap_or_default();
            if let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                peak_kib = kib;
            }
            if started.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                panic!("no answer within 5 s");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        feeder.join().unwrap();
        let output = child.wait_with_output().unwrap();
        (output, started.elapsed(), peak_kib)
    }

    /// The hook answered by itself, not by its 1 s deadline, and took less than `limit` from
    /// start to exit (the process start and the feeding of stdin included).
    fn assert_answered_in_time(output: &std::process::Output, took: Duration, limit: Duration) {
        let err = stderr_text(output);
        assert!(
            !err.contains("no answer within"),
            "the deadline answered: {err}"
        );
        assert!(took < limit, "took {took:?}");
    }

    #[test]
    fn a_10_mb_event_is_answered_quickly_normally_and_in_bounded_memory() {
        let _turn = turn();
        let arena = Arena::new(BINARY, &["hook"]);
        let event = arena.claude_event("PreToolUse", "Z", Some("Write"));
        let mut event: Value = serde_json::from_slice(&event).unwrap();
        event["tool_input"]["content"] = json!("x".repeat(10 << 20));
        let (output, took, peak_kib) = hook_measured(&arena, serde_json::to_vec(&event).unwrap());
        assert_answered_in_time(&output, took, Duration::from_secs(2));
        assert_eq!(answer(&output), Answer::Allow, "{}", stderr_text(&output));
        assert!(output.stderr.is_empty(), "{}", stderr_text(&output));
        assert_eq!(arena.holder().as_deref(), Some("Z"));
        println!(
            "10 MB event: {took:?}, peak resident {} MiB",
            peak_kib / 1024
        );
        // The event, its copy in the component's memory (capped at 96 MiB), the runtime.
        assert!(peak_kib > 0 && peak_kib < 160 << 10, "peak {peak_kib} KiB");
    }

    #[test]
    fn a_deeply_nested_event_is_answered_quickly() {
        let _turn = turn();
        let arena = Arena::new(BINARY, &["hook"]);
        let depth = 1_000_000;
        let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        // Not an event at all: fails open with one line.
        let (output, took, _) = hook_measured(&arena, nested.clone().into_bytes());
        assert_answered_in_time(&output, took, Duration::from_secs(2));
        assert!(
            matches!(answer(&output), Answer::FailedOpen(_)),
            "{:?}",
            answer(&output)
        );
        let err = stderr_text(&output);
        assert!(
            err.starts_with("session-lock: hook input is not a hook event"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        // Nested in `tool_input`, which the policy skips: the event is decided.
        let mut event = arena.pre_tool_use("Z");
        event.pop();
        event.extend(format!(",\"extra\":{nested}}}").as_bytes());
        let (output, took, _) = hook_measured(&arena, event);
        assert_answered_in_time(&output, took, Duration::from_secs(2));
        assert_eq!(answer(&output), Answer::Allow, "{}", stderr_text(&output));
        assert_eq!(arena.holder().as_deref(), Some("Z"));
        println!("1,000,000-deep event: {took:?}");
    }

    #[test]
    fn an_event_that_runs_the_component_out_of_fuel_fails_open_quickly() {
        let _turn = turn();
        let arena = Arena::new(BINARY, &["hook"]);
        arena.write_record("B", arena::now_ms(), 300_000);
        // A 5 MB object nested a million deep: skipping it costs more than a call's fuel.
        let depth = 1_000_000;
        let event = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        let (output, took, _) = hook_measured(&arena, event.into_bytes());
        assert_answered_in_time(&output, took, Duration::from_secs(2));
        // Out of fuel, or not a readable event: allowed, and (for the trap) the person told.
        assert!(
            matches!(answer(&output), Answer::Allow | Answer::FailedOpen(_)),
            "{}",
            stderr_text(&output)
        );
        let err = stderr_text(&output);
        assert!(
            err.is_empty() || (err.starts_with("session-lock: ") && err.lines().count() == 1),
            "{err}"
        );
        assert_eq!(arena.holder().as_deref(), Some("B"));
        println!("out of fuel: {took:?}, {err:?}");
    }

    #[test]
    fn an_event_over_16_mib_is_not_read_whole() {
        let _turn = turn();
        let arena = Arena::new(BINARY, &["hook"]);
        let (output, took, _) = hook_measured(&arena, vec![b' '; (16 << 20) + 1]);
        assert_answered_in_time(&output, took, Duration::from_secs(2));
        // It may have been a guarded call: the person is told, not only stderr.
        assert_eq!(
            answer(&output),
            Answer::FailedOpen(
                "session-lock: hook event is larger than 16777216 bytes; allowing without the lock"
                    .into()
            )
        );
        let err = stderr_text(&output);
        assert!(
            err.contains("hook event is larger than 16777216 bytes"),
            "{err}"
        );
    }

    #[test]
    fn a_lock_file_over_64_kib_is_not_read_and_left_alone() {
        let _turn = turn();
        let arena = Arena::new(BINARY, &["hook"]);
        std::fs::create_dir_all(&arena.lock_dir).unwrap();
        // 100 KiB, then a sparse 8 GiB file: reading that whole would take long enough and
        // enough memory to fail this test.
        for size in [100 << 10, 8u64 << 30] {
            let file = std::fs::File::create(arena.record_path()).unwrap();
            file.set_len(size).unwrap();
            let (output, took, _) = hook_measured(&arena, arena.pre_tool_use("Z"));
            assert_answered_in_time(&output, took, Duration::from_secs(2));
            assert!(
                matches!(answer(&output), Answer::FailedOpen(_)),
                "{:?}",
                answer(&output)
            );
            let err = stderr_text(&output);
            assert!(err.contains("is larger than 65536 bytes"), "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert_eq!(std::fs::metadata(arena.record_path()).unwrap().len(), size);
        }
    }

    #[test]
    fn a_session_id_too_long_for_a_record_fails_open_and_leaves_the_lock_usable() {
        let _turn = turn();
        let arena = Arena::new(BINARY, &["hook"]);
        let long_id = "L".repeat(100_000);
        let output = arena.run(&arena.pre_tool_use(&long_id), &[]);
        assert!(
            matches!(answer(&output), Answer::FailedOpen(_)),
            "{:?}",
            answer(&output)
        );
        let err = stderr_text(&output);
        assert!(err.contains("refusing to write a lock record of"), "{err}");
        assert_eq!(
            arena.record_bytes(),
            None,
            "no record the store could not read back"
        );
        let output = arena.run(&arena.pre_tool_use("Z"), &[]);
        assert_eq!(answer(&output), Answer::Allow, "{}", stderr_text(&output));
        assert!(output.stderr.is_empty(), "{}", stderr_text(&output));
        assert_eq!(arena.holder().as_deref(), Some("Z"));
    }
}
