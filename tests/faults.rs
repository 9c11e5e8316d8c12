//! Fault injection through the mocked `lock-store`: for every starting lock and every hook
//! event, each store call the event makes fails in turn (once, or from then on): with an error,
//! a torn record, no record, another session's record, or a conflict that reports the very
//! bytes expected. The component never traps; a fault fails open (exit 0, nothing on stdout,
//! one `session-lock:` line); a deny only ever names a holder the store really showed; and no
//! swap deletes or overwrites a record the component did not read as its own or as stale.

#[path = "support/events.rs"]
mod events;
#[path = "support/mock_store.rs"]
mod mock_store;
#[path = "support/virtual_host.rs"]
mod virtual_host;

use mock_store::*;
use serde_json::Value;
use session_lock::component::HookResponse;
use virtual_host::{NOW, TTL, VirtualHost, WORKSPACE};

/// The session sending every event.
const ME: &str = "A";

/// The lock before the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Free,
    OwnFresh,
    OwnStale,
    OtherFresh,
    OtherStale,
    Unreadable,
}

impl Start {
    const ALL: [Start; 6] = [
        Start::Free,
        Start::OwnFresh,
        Start::OwnStale,
        Start::OtherFresh,
        Start::OtherStale,
        Start::Unreadable,
    ];

    fn bytes(self) -> Option<Vec<u8>> {
        let stale = NOW - 2 * TTL;
        match self {
            Start::Free => None,
            Start::OwnFresh => Some(stored_record(ME, 7, NOW - 10, Some(NOW - 10), TTL)),
            Start::OwnStale => Some(stored_record(ME, 7, stale, Some(stale), TTL)),
            Start::OtherFresh => Some(stored_record("B", 8, NOW - 10, Some(NOW - 10), TTL)),
            Start::OtherStale => Some(stored_record("B", 8, stale, Some(stale), TTL)),
            Start::Unreadable => Some(b"{\"schema_version\":9}".to_vec()),
        }
    }
}

/// What an injected call does instead of its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Injected {
    /// Fails with an error.
    Error,
    /// Returns half a record (a read), or a conflict carrying one (a swap).
    Torn,
    /// Returns no record, or a conflict carrying none.
    Missing,
    /// Returns a fresh record of session `C`, or a conflict carrying one.
    Foreign,
    /// A swap reports a conflict carrying exactly the bytes it expected (a read returns the
    /// stored bytes): a store that contradicts itself.
    Echo,
}

impl Injected {
    const ALL: [Injected; 5] = [
        Injected::Error,
        Injected::Torn,
        Injected::Missing,
        Injected::Foreign,
        Injected::Echo,
    ];

    /// The fault for call `call`, made on a store now holding `stored`.
    fn fault(self, call: &Call, stored: Option<&Vec<u8>>) -> Fault {
        let torn = || {
            let whole = stored_record(ME, 7, NOW, Some(NOW), TTL);
            Some(whole[..whole.len() / 2].to_vec())
        };
        match (self, call) {
            (Injected::Error, _) => Fault::Error("EIO: injected fault".into()),
            (Injected::Torn, _) => Fault::Value(torn()),
            (Injected::Missing, _) => Fault::Value(None),
            (Injected::Foreign, _) => Fault::Value(Some(foreign())),
            (Injected::Echo, Call::Read(_)) => Fault::Value(stored.cloned()),
            (Injected::Echo, Call::CompareAndSwap { expected, .. }) => {
                Fault::Value(expected.clone())
            }
            (Injected::Echo, Call::Keys) => unreachable!("listings are not echoed"),
        }
    }
}

fn foreign() -> Vec<u8> {
    stored_record("C", 9, NOW - 10, Some(NOW - 10), TTL)
}

/// The events the hook acts on, by session [`ME`].
fn events() -> [(&'static str, Vec<u8>); 3] {
    let event = |name: &str, tool: Option<&str>| {
        let mut event = serde_json::json!({
            "session_id": ME, "cwd": WORKSPACE, "hook_event_name": name,
        });
        if let Some(tool) = tool {
            event["tool_name"] = tool.into();
            event["tool_input"] = serde_json::json!({"file_path": "/home/u/repo/a.rs"});
        }
        serde_json::to_vec(&event).unwrap()
    };
    [
        ("PreToolUse", event("PreToolUse", Some("Write"))),
        ("PostToolUse", event("PostToolUse", Some("Write"))),
        ("Stop", event("Stop", None)),
    ]
}

/// The session a valid record names, and whether it is stale at [`NOW`] (by the README's rule).
fn holder(bytes: &[u8]) -> Option<(String, bool)> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    if value["schema_version"] != 1 {
        return None;
    }
    let session = value["session_id"].as_str().filter(|s| !s.is_empty())?;
    let refreshed = value["refreshed_at"]
        .as_u64()
        .or(value["acquired_at"].as_u64())?;
    let ttl = value["ttl_ms"].as_u64()?;
    let stale = NOW > refreshed + ttl || refreshed > NOW + ttl;
    Some((session.to_owned(), stale))
}

/// One run: the lock starts as `start`, the calls in `faults` are replaced; the answer, the
/// store calls made, and the record left.
struct Run {
    answer: HookResponse,
    calls: Vec<Call>,
    left: Option<Vec<u8>>,
}

fn run(
    policy: &mut MockPolicy,
    key: &str,
    start: Start,
    event: &[u8],
    faults: impl IntoIterator<Item = (usize, Fault)>,
) -> Run {
    let store = policy.lock_store();
    *store = MockStore::default();
    if let Some(bytes) = start.bytes() {
        store.records.insert(key.to_owned(), bytes);
    }
    store.call_faults.extend(faults);
    let answer = VirtualHost::standard()
        .try_handle(policy, event)
        .unwrap_or_else(|trap| panic!("the component trapped: {trap:?}"));
    let store = policy.lock_store();
    Run {
        answer,
        calls: std::mem::take(&mut store.calls),
        left: store.records.get(key).cloned(),
    }
}

/// Why a swap in `calls` broke the rule, if one did: each may replace only what it expected,
/// so what it expected must be free (PreToolUse), the session's own lock, or another's stale
/// lock (PreToolUse); a delete must expect the session's own lock; a write must name it.
fn unjustified_swap(calls: &[Call], event: &str) -> Option<String> {
    let acquiring = event == "PreToolUse";
    calls.iter().find_map(|call| {
        let Call::CompareAndSwap {
            expected,
            replacement,
            ..
        } = call
        else {
            return None;
        };
        let judged = match expected.as_deref().map(holder) {
            None if acquiring => Ok(()),
            None => Err("wrote to a free lock".to_owned()),
            Some(None) => Err("replaced bytes that are not a lock record".to_owned()),
            Some(Some((session, _))) if session == ME => Ok(()),
            Some(Some((_, true))) if acquiring => Ok(()),
            Some(Some((session, stale))) => {
                Err(format!("replaced {session}'s lock (stale: {stale})"))
            }
        };
        let written = match replacement.as_deref() {
            None if event != "Stop" || expected.is_none() => Err("deleted the lock".to_owned()),
            Some(bytes) if holder(bytes).map(|h| h.0).as_deref() != Some(ME) => {
                Err("wrote a record that does not name the session".to_owned())
            }
            _ => Ok(()),
        };
        judged.and(written).err()
    })
}

#[test]
fn every_store_call_failing_in_turn_fails_open_and_overwrites_nothing_it_should_not() {
    let mut policy = empty_policy();
    let key = policy.workspace_hash(WORKSPACE).unwrap();
    let mut runs = 0;
    for start in Start::ALL {
        for (event_name, event) in events() {
            let baseline = run(&mut policy, &key, start, &event, []);
            assert!(!baseline.calls.is_empty(), "{start:?} {event_name}");
            for (n, call) in baseline.calls.iter().enumerate() {
                // The store as it is when call `n` is made (swaps before it changed nothing
                // or the call sequence would differ).
                let stored = start.bytes();
                for injected in Injected::ALL {
                    // A listing can fail or miss records, nothing else: a torn, foreign or
                    // echoed listing is the same as a missing one, tested once.
                    if matches!(call, Call::Keys)
                        && !matches!(injected, Injected::Error | Injected::Missing)
                    {
                        continue;
                    }
                    let fault = injected.fault(call, stored.as_ref());
                    // Once, and on this call and every later one.
                    let variants: [Vec<(usize, Fault)>; 2] = [
                        vec![(n, fault.clone())],
                        (n..n + 12).map(|m| (m, fault.clone())).collect(),
                    ];
                    for faults in variants {
                        let sticky = faults.len() > 1;
                        let context = format!(
                            "{start:?}, {event_name}, call {n} {call:?}: {injected:?} (sticky: {sticky})"
                        );
                        let result = run(&mut policy, &key, start, &event, faults);
                        check(start, event_name, injected, &result, &context);
                        runs += 1;
                    }
                }
            }
        }
    }
    println!("faults: {runs} faulty runs");
    assert!(runs > 100);
}

/// The rules every faulty run keeps.
fn check(start: Start, event: &str, injected: Injected, run: &Run, context: &str) {
    let answer = &run.answer;
    assert_eq!(answer.exit_code, 0, "{context}");
    assert!(
        answer.stderr.is_empty()
            || (answer.stderr.starts_with("session-lock: ") && answer.stderr.lines().count() == 1),
        "{context}: stderr {:?}",
        answer.stderr
    );
    if let Some(why) = unjustified_swap(&run.calls, event) {
        panic!("{context}: {why}; calls {:?}", run.calls);
    }
    // A record the session may not touch is left exactly as it was.
    if matches!(start, Start::OtherFresh | Start::Unreadable) {
        assert_eq!(run.left, start.bytes(), "{context}");
    }
    if let Some(left) = &run.left
        && Some(left) != start.bytes().as_ref()
    {
        assert_eq!(holder(left).map(|h| h.0).as_deref(), Some(ME), "{context}");
    }

    let output: Option<Value> =
        (!answer.stdout.is_empty()).then(|| serde_json::from_str(&answer.stdout).unwrap());
    // A fail-open is an allow that tells the person why.
    let warned = output
        .as_ref()
        .is_some_and(|o| o["systemMessage"].is_string());
    let denied_by = output.filter(|_| !warned).map(|output| {
        let specific = &output["hookSpecificOutput"];
        assert_eq!(specific["permissionDecision"], "deny", "{context}");
        specific["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .to_owned()
    });
    match (injected, denied_by) {
        (Injected::Error | Injected::Torn, Some(reason)) => {
            panic!("{context}: a fault denied: {reason}")
        }
        (Injected::Error | Injected::Torn, None) => assert!(
            answer.stderr.starts_with("session-lock: "),
            "{context}: a fault is reported"
        ),
        (_, Some(reason)) => {
            let really_held_by_b = start == Start::OtherFresh;
            let shown_c = injected == Injected::Foreign;
            assert!(
                (really_held_by_b && reason.contains("held by B (pid 8)"))
                    || (shown_c && reason.contains("held by C (pid 9)")),
                "{context}: denied naming a holder the store never showed: {reason}"
            );
        }
        (_, None) => {}
    }
}

#[test]
fn a_store_that_fails_every_call_leaves_every_event_allowed() {
    let mut policy = empty_policy();
    let key = policy.workspace_hash(WORKSPACE).unwrap();
    for start in Start::ALL {
        for (event_name, event) in events() {
            let faults = (0..20).map(|n| (n, Fault::Error("ENOSPC: injected".into())));
            let result = run(&mut policy, &key, start, &event, faults);
            let context = format!("{start:?} {event_name}");
            assert!(
                result.answer.stdout.is_empty()
                    || result
                        .answer
                        .stdout
                        .starts_with(r#"{"systemMessage":"session-lock: "#),
                "{context}: {}",
                result.answer.stdout
            );
            assert!(
                result.answer.stderr.contains("ENOSPC: injected"),
                "{context}: {:?}",
                result.answer.stderr
            );
            assert_eq!(
                result.left,
                start.bytes(),
                "{context}: a failing store changed"
            );
        }
    }
}
