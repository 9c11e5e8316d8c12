//! The component's budget holds for what a call can carry: the costliest shell lines the
//! classifier reads (just under its bound), alone or in a 15 MiB event; lines over the bound,
//! which are not read; and `Stop` with tens of thousands of records in the store. Each test
//! prints its fuel and time, so the figures in `host/src/engine.rs` and
//! `docs/reliability.md` can be measured again:
//! `cargo test -p session-lock --test budget -- --nocapture`.

#[path = "support/mock_store.rs"]
mod mock_store;
#[path = "support/virtual_host.rs"]
mod virtual_host;

use std::time::{Duration, Instant};

use mock_store::{MockPolicy, MockStore};
use serde_json::{Value, json};
use session_lock::component::{HookContext, HookResponse};
use session_lock::engine;
use virtual_host::{NOW, VirtualHost, WORKSPACE};

/// The longest line the component reads (the guest's `shell::MAX_LINE_BYTES`); checked
/// against the component by `the_bound_is_where_the_component_stops_reading`.
const MAX_LINE_BYTES: usize = 64 << 10;

/// The costliest shapes of command line measured: what each repeats.
const SHAPES: &[(&str, &str)] = &[
    // Simple commands nested three deep in `bash -c`, each level read in turn.
    (
        "bash -c nested",
        "bash -c 'bash -c \"bash -c \\\"rm a; rm b\\\"\"'; ",
    ),
    ("simple commands", "rm a; "),
    ("eval", "eval eval eval ls x; "),
    ("paths", "x "),
    ("read-only pipeline", "ls|"),
    ("many `;`", ";"),
    ("deep quoting", "a\"b\"'c'\\d$'e'"),
    ("long word", "a"),
    ("wrapped programs", "sudo git -C a "),
];

/// `unit` repeated after `prefix` to at most `bytes`.
fn repeated(prefix: &str, unit: &str, bytes: usize) -> String {
    let mut line = prefix.to_owned();
    let times = (bytes - prefix.len()) / unit.len();
    line.push_str(&unit.repeat(times));
    line
}

/// A lock record of `session`.
fn record(session: &str, refreshed_at: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schema_version": 1,
        "session_id": session,
        "pid": 4101,
        "acquired_at": refreshed_at,
        "refreshed_at": refreshed_at,
        "ttl_ms": 300_000,
        "workspace": "/home/u/elsewhere",
    }))
    .unwrap()
}

/// The component over a store where session A holds [`WORKSPACE`].
fn held_by_a() -> MockPolicy {
    let mut policy = mock_store::empty_policy();
    let key = policy.workspace_hash(WORKSPACE).unwrap();
    policy.lock_store().records.insert(key, record("A", NOW));
    policy
}

/// Session B's `PreToolUse` of Bash running `line`, with `padding` in a field nobody reads.
fn bash_event(line: &str, padding: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "session_id": "B",
        "cwd": WORKSPACE,
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": line, "description": padding},
    }))
    .unwrap()
}

/// What one event cost: the answer, and the fuel and time of each of its two calls.
struct Cost {
    answer: HookResponse,
    fuel: [u64; 2],
    given: u64,
    took: Duration,
}

/// Runs `event` as a host does (`targets`, then `handle`), failing on a trap.
fn run(policy: &mut MockPolicy, event: &[u8], what: &str) -> Cost {
    let host = VirtualHost::standard();
    let invocation = host.invocation();
    let started = Instant::now();
    let targets = policy
        .targets(event, &invocation)
        .unwrap_or_else(|e| panic!("{what}: targets trapped: {e:?}"));
    let (targets_fuel, given) = policy.last_call_fuel();
    let context = HookContext {
        resolved: targets.iter().map(|t| host.try_resolve(t)).collect(),
        invocation,
        now_ms: NOW + 1_000,
        waited_ms: 0,
    };
    let answer = policy
        .handle(event, &context)
        .unwrap_or_else(|e| panic!("{what}: handle trapped: {e:?}"));
    let (handle_fuel, _) = policy.last_call_fuel();
    Cost {
        answer,
        fuel: [targets_fuel, handle_fuel],
        given,
        took: started.elapsed(),
    }
}

fn is_deny(answer: &HookResponse) -> bool {
    serde_json::from_str::<Value>(&answer.stdout)
        .is_ok_and(|v| v["hookSpecificOutput"]["permissionDecision"] == "deny")
}

fn reason(answer: &HookResponse) -> String {
    let stdout: Value = serde_json::from_str(&answer.stdout).unwrap();
    stdout["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_bound_is_where_the_component_stops_reading() {
    let mut policy = mock_store::empty_policy();
    let at = repeated("ls", " ", MAX_LINE_BYTES);
    assert!(policy.explain(&at).unwrap().read_only);
    let over = policy.explain(&format!("{at} ")).unwrap();
    assert!(!over.read_only);
    assert!(
        over.why.starts_with("the command line is 65537 bytes"),
        "{}",
        over.why
    );
}

/// Escape-heavy padding: the costliest bytes for the event's parser.
fn escapes(bytes: usize) -> String {
    "\n".repeat(bytes / 2)
}

#[test]
fn the_costliest_lines_under_the_bound_are_decided_within_the_budget_whatever_the_event_carries() {
    // 15 MiB in all: the padding's escapes take two bytes each in the event.
    let padding = escapes(15 << 20);
    let line_budget = engine::FUEL_PER_CALL + engine::FUEL_FOR_SHELL_LINE;
    for (name, unit) in SHAPES {
        let prefix = if name.starts_with("paths") {
            "rm "
        } else if name.starts_with("wrapped") || name.starts_with("deep") {
            "echo "
        } else {
            ""
        };
        let line = repeated(prefix, unit, MAX_LINE_BYTES);
        let mut events = vec![("", bash_event(&line, ""))];
        // The event's bytes have their own budget: shown on the costliest shape.
        if *name == "bash -c nested" {
            events.push((" in 15 MiB", bash_event(&line, &padding)));
        }
        for (padded, event) in events {
            let mut policy = held_by_a();
            let what = format!("{name}{padded}");
            let cost = run(&mut policy, &event, &what);
            let most = cost.fuel[0].max(cost.fuel[1]);
            println!(
                "{what:32} {:>6} B line, {:>9} B event: {:>11} and {:>11} fuel ({:>5} a line byte), \
                 of {:>11}; {:.0?}",
                line.len(),
                event.len(),
                cost.fuel[0],
                cost.fuel[1],
                most / line.len() as u64,
                cost.given,
                cost.took
            );
            // Decided as any line is: a mutating one is refused (A holds the workspace), a
            // read-only one allowed without a word.
            let read_only = policy.explain(&line).unwrap().read_only;
            match read_only {
                true => assert!(
                    cost.answer.stdout.is_empty() && cost.answer.stderr.is_empty(),
                    "{what}: {cost:?}",
                    cost = cost.answer
                ),
                false => assert!(is_deny(&cost.answer), "{what}: {:?}", cost.answer),
            }
            // The line alone stays within its share, with room to spare.
            if padded.is_empty() {
                assert!(
                    most < line_budget / 2,
                    "{what} took {most} fuel of {line_budget}"
                );
            }
        }
    }
}

#[test]
fn lines_over_the_bound_need_every_lock_unread_and_cheaply() {
    let cases = [
        ("100 KB of simple commands", repeated("", "rm a; ", 100_000)),
        (
            "a 1 MB generated script",
            format!(
                "cat > gen.sh <<'EOF'\n{}EOF\nbash gen.sh",
                repeated("", "echo step; touch out\n", 1_000_000)
            ),
        ),
        (
            "a 10 MB comment",
            format!("ls # {}", "x".repeat(10_000_000)),
        ),
        ("a 15 MiB line", "x".repeat(15 << 20)),
    ];
    for (what, line) in cases {
        let mut policy = held_by_a();
        let event = bash_event(&line, "");
        let cost = run(&mut policy, &event, what);
        println!(
            "{what:28} {:>9} B event: {:>11} and {:>11} fuel of {:>11}; {:.0?}",
            event.len(),
            cost.fuel[0],
            cost.fuel[1],
            cost.given,
            cost.took
        );
        let reason = reason(&cost.answer);
        assert!(
            reason.starts_with(&format!(
                "this command may change any workspace (the command line is {} bytes",
                line.len()
            )),
            "{what}: {reason}"
        );
        // Not read: the event's bytes are the cost, not the line's.
        assert!(
            cost.fuel[0].max(cost.fuel[1]) < engine::FUEL_PER_CALL,
            "{what}"
        );
    }
}

/// How many records of other sessions the store holds: `BUDGET_RECORDS` (a list, such as
/// `1000,60000,120000`), else 60,000.
fn record_counts() -> Vec<usize> {
    std::env::var("BUDGET_RECORDS").map_or_else(
        |_| vec![60_000],
        |list| {
            list.split(',')
                .map(|n| n.trim().parse().expect("a count"))
                .collect()
        },
    )
}

/// A store of `others` records of other sessions' fresh locks, and B's own two.
fn crowded_store(others: usize) -> (MockStore, [String; 2]) {
    let mut store = MockStore::default();
    let other = record("A", NOW);
    for i in 0..others {
        store.records.insert(format!("{i:012x}"), other.clone());
    }
    let own = [
        format!("{:012x}", others + 1),
        format!("{:012x}", others + 2),
    ];
    for key in &own {
        store.records.insert(key.clone(), record("B", NOW));
    }
    (store, own)
}

#[test]
fn stop_releases_exactly_the_sessions_locks_among_tens_of_thousands() {
    for others in record_counts() {
        let (store, own) = crowded_store(others);
        let mut policy = mock_store::policy(store);
        let event = serde_json::to_vec(&json!({
            "session_id": "B", "cwd": WORKSPACE, "hook_event_name": "Stop"
        }))
        .unwrap();
        let cost = run(&mut policy, &event, "Stop");
        within_fuel_per_key(&cost, others, "Stop among");
        assert_eq!(cost.answer.stderr, "", "{:?}", cost.answer);
        let records = &policy.lock_store().records;
        assert!(own.iter().all(|key| !records.contains_key(key)));
        assert_eq!(records.len(), others, "every other lock is kept");
    }
}

/// Prints what `handle` cost for each of `records`, and checks it is within half of its
/// budget.
fn within_fuel_per_key(cost: &Cost, records: usize, what: &str) {
    let per_record = cost.fuel[1] / records as u64;
    println!(
        "{what} {records} records: {} fuel ({per_record} a record) of {}; {:.0?}",
        cost.fuel[1], cost.given, cost.took
    );
    assert!(
        per_record * 2 < engine::FUEL_PER_KEY,
        "{per_record} a record"
    );
}

#[test]
fn a_command_needing_every_lock_takes_tens_of_thousands_within_the_budget() {
    // Every other lock stale: each is taken over, the costliest work on a listed lock.
    let mut store = MockStore::default();
    let stale = record("A", NOW - 3_600_000);
    // 20,000 by default: linear from there on (`BUDGET_RECORDS` for more).
    let others = std::env::var("BUDGET_RECORDS").map_or(20_000, |_| record_counts()[0]);
    for i in 0..others {
        store.records.insert(format!("{i:012x}"), stale.clone());
    }
    let mut policy = mock_store::policy(store);
    let cost = run(&mut policy, &bash_event("cd $X && rm a", ""), "every lock");
    within_fuel_per_key(&cost, others, "every lock, taking over");
    assert_eq!(cost.answer.stdout, "", "{:?}", cost.answer);
    let taken = policy
        .lock_store()
        .records
        .values()
        .filter(|r| serde_json::from_slice::<Value>(r).unwrap()["session_id"] == "B")
        .count();
    assert_eq!(taken, others + 1, "every lock, and the session's own");
}
