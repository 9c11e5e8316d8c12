//! The policy component, loaded into wasmtime from the binary's own embedded artifact, driven
//! through its WIT exports with mocked imports (`lock-store`, `processes`).

#[path = "support/mock_store.rs"]
mod mock_store;
#[path = "support/virtual_host.rs"]
mod virtual_host;

use mock_store::*;
use session_lock::component::policy_types::{
    AcquireResult, Decision, ForceReleaseResult, PolicyError, RefreshResult, ReleaseResult,
    Takeover,
};
use session_lock::component::{Agent, Scope, runtime};
use virtual_host::{NOW, VirtualHost};

const TTL: u64 = 300_000;

fn acquire(policy: &mut MockPolicy, id: &str, now: u64) -> AcquireResult {
    policy
        .acquire(KEY, &session(id, 100), now, TTL)
        .unwrap()
        .expect("acquire decides")
}

mod acquire {
    use super::*;

    #[test]
    fn a_free_lock_is_taken_with_a_schema_1_record() {
        let mut policy = empty_policy();
        let result = acquire(&mut policy, "A", NOW);
        assert_eq!(
            result,
            AcquireResult::Acquired(lock_record("A", 100, NOW, NOW, TTL))
        );
        let stored = policy.lock_store().json(KEY).unwrap();
        assert_eq!(
            stored,
            serde_json::json!({"schema_version": 1, "session_id": "A", "pid": 100,
                "acquired_at": NOW, "refreshed_at": NOW, "ttl_ms": TTL})
        );
    }

    #[test]
    fn the_holder_reacquires_idempotently_and_refreshes() {
        let mut policy = policy_holding(stored_record("A", 7, NOW, Some(NOW), TTL));
        let result = acquire(&mut policy, "A", NOW + 10);
        assert_eq!(
            result,
            AcquireResult::Reacquired(lock_record("A", 100, NOW, NOW + 10, TTL))
        );
        let again = acquire(&mut policy, "A", NOW + 10);
        assert_eq!(again, result);
    }

    #[test]
    fn another_sessions_fresh_lock_blocks_and_is_not_written() {
        let held = stored_record("A", 7, NOW, Some(NOW), TTL);
        let mut policy = policy_holding(held.clone());
        let result = acquire(&mut policy, "B", NOW + TTL);
        assert_eq!(
            result,
            AcquireResult::Blocked(lock_record("A", 7, NOW, NOW, TTL))
        );
        assert_eq!(policy.lock_store().records[KEY], held);
        assert_eq!(policy.lock_store().swaps(), 0);
    }

    #[test]
    fn a_stale_lock_is_taken_over() {
        let mut policy = policy_holding(stored_record("A", 7, NOW, Some(NOW), TTL));
        let later = NOW + TTL + 1;
        let result = acquire(&mut policy, "B", later);
        assert_eq!(
            result,
            AcquireResult::TakenOver(Takeover {
                taken: lock_record("B", 100, later, later, TTL),
                previous: lock_record("A", 7, NOW, NOW, TTL),
                holder_gone: false,
            })
        );
        assert_eq!(policy.lock_store().json(KEY).unwrap()["session_id"], "B");
    }

    #[test]
    fn staleness_uses_the_records_own_ttl() {
        let mut policy = policy_holding(stored_record("A", 7, NOW, Some(NOW), 1_000));
        assert!(matches!(
            acquire(&mut policy, "B", NOW + 1_000),
            AcquireResult::Blocked(_)
        ));
        assert!(matches!(
            acquire(&mut policy, "B", NOW + 1_001),
            AcquireResult::TakenOver(_)
        ));
    }

    #[test]
    fn a_timestamp_further_in_the_future_than_the_ttl_is_stale() {
        let future = NOW + TTL + 1;
        let mut policy = policy_holding(stored_record("A", 7, future, Some(future), TTL));
        assert!(matches!(
            acquire(&mut policy, "B", NOW),
            AcquireResult::TakenOver(_)
        ));
        let near_future = NOW + TTL;
        let mut policy = policy_holding(stored_record("A", 7, near_future, None, TTL));
        assert!(matches!(
            acquire(&mut policy, "B", NOW),
            AcquireResult::Blocked(_)
        ));
    }

    #[test]
    fn a_record_without_refreshed_at_counts_from_acquired_at() {
        let seed = stored_record("A", 7, NOW, None, TTL);
        let mut policy = policy_holding(seed);
        let blocked = acquire(&mut policy, "B", NOW + TTL);
        assert_eq!(
            blocked,
            AcquireResult::Blocked(lock_record("A", 7, NOW, NOW, TTL))
        );
        assert!(matches!(
            acquire(&mut policy, "B", NOW + TTL + 1),
            AcquireResult::TakenOver(_)
        ));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut record: serde_json::Value =
            serde_json::from_slice(&stored_record("A", 7, NOW, Some(NOW), TTL)).unwrap();
        record["host"] = "build-box".into();
        record["nested"] = serde_json::json!({"a": [1, 2]});
        let mut policy = policy_holding(serde_json::to_vec(&record).unwrap());
        assert!(matches!(
            acquire(&mut policy, "B", NOW),
            AcquireResult::Blocked(_)
        ));
    }

    #[test]
    fn a_swap_lost_to_a_concurrent_writer_is_decided_again() {
        let mut store = MockStore::default();
        // Between the read (free) and the swap, session C takes the lock.
        let rival = stored_record("C", 9, NOW, Some(NOW), TTL);
        store.interleaved_writes.push_back(Some(rival.clone()));
        let mut policy = policy(store);
        let result = acquire(&mut policy, "B", NOW);
        assert_eq!(
            result,
            AcquireResult::Blocked(lock_record("C", 9, NOW, NOW, TTL))
        );
        assert_eq!(policy.lock_store().records[KEY], rival);
        assert_eq!(
            policy.lock_store().swaps(),
            1,
            "the lost swap is not retried blindly"
        );
    }

    #[test]
    fn a_takeover_lost_to_a_faster_taker_does_not_overwrite_it() {
        let stale = stored_record("A", 7, NOW - TTL - 1, None, TTL);
        let faster = stored_record("C", 9, NOW, Some(NOW), TTL);
        let mut store = MockStore::default();
        store.records.insert(KEY.to_owned(), stale);
        store.interleaved_writes.push_back(Some(faster.clone()));
        let mut policy = policy(store);
        assert!(matches!(
            acquire(&mut policy, "B", NOW),
            AcquireResult::Blocked(_)
        ));
        assert_eq!(policy.lock_store().records[KEY], faster);
    }

    #[test]
    fn endless_contention_gives_up_after_a_bounded_number_of_attempts() {
        let mut store = MockStore::default();
        // Each swap finds the record changed, to another session's stale lock each time, so
        // each attempt decides to take it over and loses again.
        store.swap_faults.extend((0..100).map(|n| {
            let stale = format!(
                "{{\"schema_version\":1,\"session_id\":\"X{n}\",\"pid\":1,\"acquired_at\":0,\"ttl_ms\":1}}"
            );
            Fault::Value(Some(stale.into_bytes()))
        }));
        let mut policy = policy(store);
        let result = policy.acquire(KEY, &session("B", 1), NOW, TTL).unwrap();
        assert_eq!(result, Err(PolicyError::Contended(8)));
        assert_eq!(policy.lock_store().swaps(), 8);
    }

    #[test]
    fn an_unreadable_record_is_an_error_and_is_never_overwritten() {
        for garbage in [
            &b"{not json"[..],
            b"",
            b"{\"schema_version\":2,\"session_id\":\"x\"}",
        ] {
            let mut policy = policy_holding(garbage.to_vec());
            let result = policy.acquire(KEY, &session("B", 1), NOW, TTL).unwrap();
            assert!(
                matches!(result, Err(PolicyError::UnreadableRecord(_))),
                "{result:?}"
            );
            assert_eq!(policy.lock_store().records[KEY], garbage);
            assert_eq!(policy.lock_store().swaps(), 0);
        }
    }
}

mod refresh_and_release {
    use super::*;

    #[test]
    fn refresh_renews_the_own_lock_for_the_ttl_given() {
        let mut policy = policy_holding(stored_record("A", 7, NOW, Some(NOW), 900_000));
        let result = policy
            .refresh(KEY, &session("A", 7), NOW + 4_000, 5_000)
            .unwrap();
        assert_eq!(
            result,
            Ok(RefreshResult::Refreshed(lock_record(
                "A",
                7,
                NOW,
                NOW + 4_000,
                5_000
            )))
        );
    }

    #[test]
    fn refresh_never_touches_another_sessions_lock() {
        let held = stored_record("A", 7, NOW, Some(NOW), TTL);
        let mut policy = policy_holding(held.clone());
        let result = policy.refresh(KEY, &session("B", 8), NOW + 1, TTL).unwrap();
        assert_eq!(
            result,
            Ok(RefreshResult::NotHeld(Some(lock_record(
                "A", 7, NOW, NOW, TTL
            ))))
        );
        assert_eq!(policy.lock_store().records[KEY], held);
    }

    #[test]
    fn refresh_of_a_free_lock_does_not_take_it() {
        let mut policy = empty_policy();
        let result = policy.refresh(KEY, &session("B", 8), NOW, TTL).unwrap();
        assert_eq!(result, Ok(RefreshResult::NotHeld(None)));
        assert!(policy.lock_store().records.is_empty());
    }

    #[test]
    fn release_deletes_the_own_lock() {
        let mut policy = policy_holding(stored_record("A", 7, NOW, Some(NOW), TTL));
        let result = policy.release(KEY, "A").unwrap();
        assert_eq!(
            result,
            Ok(ReleaseResult::Released(lock_record("A", 7, NOW, NOW, TTL)))
        );
        assert!(policy.lock_store().records.is_empty());
    }

    #[test]
    fn release_never_deletes_another_sessions_lock() {
        let held = stored_record("A", 7, NOW, Some(NOW), TTL);
        let mut policy = policy_holding(held.clone());
        let result = policy.release(KEY, "B").unwrap();
        assert_eq!(
            result,
            Ok(ReleaseResult::NotHeld(Some(lock_record(
                "A", 7, NOW, NOW, TTL
            ))))
        );
        assert_eq!(policy.lock_store().records[KEY], held);
    }

    #[test]
    fn release_does_not_delete_a_lock_taken_over_since_it_was_read() {
        let mut store = MockStore::default();
        store
            .records
            .insert(KEY.to_owned(), stored_record("A", 7, NOW, Some(NOW), TTL));
        let taker = stored_record("B", 8, NOW, Some(NOW), TTL);
        store.interleaved_writes.push_back(Some(taker.clone()));
        let mut policy = policy(store);
        let result = policy.release(KEY, "A").unwrap();
        assert!(
            matches!(result, Ok(ReleaseResult::NotHeld(Some(_)))),
            "{result:?}"
        );
        assert_eq!(policy.lock_store().records[KEY], taker);
    }

    #[test]
    fn force_release_deletes_whatever_is_there_and_says_whose_it_was() {
        let mut policy = policy_holding(stored_record("A", 7, NOW, Some(NOW), TTL));
        let result = policy.force_release(KEY).unwrap();
        assert_eq!(
            result,
            Ok(ForceReleaseResult::Released(lock_record(
                "A", 7, NOW, NOW, TTL
            )))
        );
        assert!(policy.lock_store().records.is_empty());
        let mut policy = policy_holding(b"garbage".to_vec());
        assert_eq!(
            policy.force_release(KEY).unwrap(),
            Ok(ForceReleaseResult::ClearedUnreadable)
        );
        assert_eq!(
            policy.force_release(KEY).unwrap(),
            Ok(ForceReleaseResult::Free)
        );
    }

    #[test]
    fn inspect_reports_staleness_and_timing_without_writing() {
        let mut policy = policy_holding(stored_record("A", 7, NOW, Some(NOW + 1_000), 10_000));
        let state = policy.inspect(KEY, NOW + 5_000).unwrap().unwrap().unwrap();
        assert!(!state.stale);
        assert_eq!(state.held_for_ms, 5_000);
        assert_eq!(state.expires_in_ms, 6_000);
        let state = policy.inspect(KEY, NOW + 12_000).unwrap().unwrap().unwrap();
        assert!(state.stale);
        assert_eq!(state.expires_in_ms, -1_000);
        assert_eq!(policy.lock_store().swaps(), 0);
    }
}

mod decide {
    use super::*;

    #[test]
    fn blocked_names_the_holder_and_its_pid() {
        let mut policy = empty_policy();
        let holder = lock_record("session-A", 4242, NOW - 65_000, NOW - 5_000, TTL);
        let decision = policy
            .decide(Some(&AcquireResult::Blocked(holder)), "session-B", NOW)
            .unwrap();
        assert!(decision.block);
        let reason = decision.reason.unwrap();
        assert!(
            reason.starts_with(
                "parallel session lock held by session-A (pid 4242) — wait or close that session first"
            ),
            "{reason}"
        );
        assert!(
            reason.contains(
                "held for 1m 05s; it frees when that session's turn ends, at the latest in 4m 55s"
            ),
            "{reason}"
        );
        assert!(reason.contains("Read-only commands"), "{reason}");
        assert!(
            reason.contains("ask the person to release it by force"),
            "{reason}"
        );
    }

    #[test]
    fn acquired_and_missing_results_allow() {
        let mut policy = empty_policy();
        let record = lock_record("B", 1, NOW, NOW, TTL);
        let allow = Decision {
            block: false,
            reason: None,
        };
        for outcome in [
            Some(AcquireResult::Acquired(record.clone())),
            Some(AcquireResult::Reacquired(record.clone())),
            Some(AcquireResult::TakenOver(Takeover {
                taken: record.clone(),
                previous: record.clone(),
                holder_gone: true,
            })),
            None,
        ] {
            assert_eq!(
                policy.decide(outcome.as_ref(), "B", NOW).unwrap(),
                allow,
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn is_stale_follows_the_rule() {
        let mut policy = empty_policy();
        let record = lock_record("A", 1, NOW, NOW, 100);
        assert!(!policy.is_stale(&record, NOW + 100).unwrap());
        assert!(policy.is_stale(&record, NOW + 101).unwrap());
        assert!(!policy.is_stale(&record, NOW - 100).unwrap());
        assert!(policy.is_stale(&record, NOW - 101).unwrap());
    }

    #[test]
    fn workspace_hash_is_the_md5_prefix_of_the_path() {
        let mut policy = empty_policy();
        // Python: hashlib.md5(b"/home/u/repo").hexdigest()[:12]
        assert_eq!(
            policy.workspace_hash("/home/u/repo").unwrap(),
            "2bcea0c27593"
        );
    }
}

mod faults {
    use super::*;

    #[test]
    fn a_failing_read_is_a_store_error_and_nothing_is_written() {
        let mut store = MockStore::default();
        store
            .read_faults
            .push_back(Fault::Error("disk on fire".into()));
        let mut policy = policy(store);
        let result = policy.acquire(KEY, &session("A", 1), NOW, TTL).unwrap();
        assert_eq!(result, Err(PolicyError::Store("disk on fire".into())));
        assert_eq!(policy.lock_store().swaps(), 0);
    }

    #[test]
    fn every_operation_reports_a_failing_swap() {
        let held = stored_record("A", 7, NOW, Some(NOW), TTL);
        let failing = |records: Option<Vec<u8>>| {
            let mut store = MockStore::default();
            if let Some(bytes) = records {
                store.records.insert(KEY.to_owned(), bytes);
            }
            store
                .swap_faults
                .push_back(Fault::Error("read-only file system".into()));
            policy(store)
        };
        let expected = Err(PolicyError::Store("read-only file system".into()));
        let mut p = failing(None);
        assert_eq!(
            p.acquire(KEY, &session("A", 7), NOW, TTL)
                .unwrap()
                .map(|_| ()),
            expected
        );
        let mut p = failing(Some(held.clone()));
        assert_eq!(
            p.refresh(KEY, &session("A", 7), NOW, TTL)
                .unwrap()
                .map(|_| ()),
            expected
        );
        let mut p = failing(Some(held.clone()));
        assert_eq!(p.release(KEY, "A").unwrap().map(|_| ()), expected);
        assert_eq!(p.lock_store().records[KEY], held);
    }

    #[test]
    fn the_hook_fails_open_on_every_store_fault() {
        type Inject = fn(&mut MockStore);
        let faults: [(&str, Inject); 3] = [
            ("read error", |s| {
                s.read_faults.push_back(Fault::Error("EIO".into()))
            }),
            ("swap error", |s| {
                s.swap_faults.push_back(Fault::Error("ENOSPC".into()))
            }),
            ("torn read", |s| {
                s.read_faults
                    .push_back(Fault::Value(Some(b"{\"schema_ver".to_vec())))
            }),
        ];
        for (name, inject) in faults {
            let mut store = MockStore::default();
            inject(&mut store);
            let mut policy = policy(store);
            let answer =
                host().handle(&mut policy, &claude_event("PreToolUse", "A", Some("Write")));
            assert_shown_to_the_person(&answer.stdout, name);
            assert_eq!(answer.exit_code, 0, "{name}");
            assert!(
                answer.stderr.starts_with("session-lock: "),
                "{name}: {}",
                answer.stderr
            );
            assert_eq!(
                answer.stderr.lines().count(),
                1,
                "{name}: {}",
                answer.stderr
            );
        }
    }
}

fn claude_event(name: &str, session_id: &str, tool: Option<&str>) -> Vec<u8> {
    let mut event = serde_json::json!({
        "session_id": session_id,
        "transcript_path": "/home/u/.claude/projects/p/t.jsonl",
        "cwd": "/home/u/repo",
        "permission_mode": "default",
        "hook_event_name": name,
    });
    if let Some(tool) = tool {
        event["tool_name"] = tool.into();
        event["tool_input"] = serde_json::json!({"command": "npm test"});
        event["tool_use_id"] = "toolu_01ABC".into();
    }
    serde_json::to_vec(&event).unwrap()
}

/// The host of the hook tests: one git work tree, `/home/u/repo`, and the session's parent 100.
fn host() -> VirtualHost {
    let mut host = VirtualHost::in_workspace("/home/u/repo");
    host.parent_pid = 100;
    host
}

/// A fail-open answer allows and tells the person why, in Claude Code's `systemMessage`.
fn assert_shown_to_the_person(stdout: &str, case: &str) {
    let answer: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("{case}: stdout is not JSON ({e}): {stdout:?}"));
    let message = answer["systemMessage"].as_str().unwrap_or_default();
    assert!(message.starts_with("session-lock: "), "{case}: {stdout}");
    assert!(
        message.ends_with("allowing without the lock"),
        "{case}: {stdout}"
    );
    assert!(
        answer.get("hookSpecificOutput").is_none(),
        "{case}: never a refusal"
    );
}

mod hook {
    use super::*;

    fn hook_key(policy: &mut MockPolicy) -> String {
        policy.workspace_hash("/home/u/repo").unwrap()
    }

    #[test]
    fn pre_tool_use_of_a_mutating_tool_acquires_silently() {
        for tool in [
            "Edit",
            "Write",
            "MultiEdit",
            "NotebookEdit",
            "Bash",
            "PowerShell",
        ] {
            let mut policy = empty_policy();
            let answer = host().handle(&mut policy, &claude_event("PreToolUse", "A", Some(tool)));
            assert_eq!(
                (
                    answer.stdout.as_str(),
                    answer.stderr.as_str(),
                    answer.exit_code
                ),
                ("", "", 0)
            );
            let key = hook_key(&mut policy);
            assert_eq!(
                policy.lock_store().json(&key).unwrap()["session_id"],
                "A",
                "{tool}"
            );
        }
    }

    #[test]
    fn a_blocked_pre_tool_use_is_denied_in_the_current_form() {
        let mut policy = empty_policy();
        host().handle(&mut policy, &claude_event("PreToolUse", "A", Some("Bash")));
        let answer = host().handle(&mut policy, &claude_event("PreToolUse", "B", Some("Edit")));
        assert_eq!(answer.exit_code, 0);
        let output: serde_json::Value = serde_json::from_str(&answer.stdout).unwrap();
        let specific = &output["hookSpecificOutput"];
        assert_eq!(specific["hookEventName"], "PreToolUse");
        assert_eq!(specific["permissionDecision"], "deny");
        let reason = specific["permissionDecisionReason"].as_str().unwrap();
        assert!(
            reason.starts_with("parallel session lock held by A (pid 100)"),
            "{reason}"
        );
    }

    #[test]
    fn other_tools_and_events_do_nothing() {
        let events = [
            claude_event("PreToolUse", "A", Some("Read")),
            claude_event("PostToolUse", "A", Some("Grep")),
            claude_event("SubagentStop", "A", None),
        ];
        for event in events {
            let mut policy = empty_policy();
            let answer = host().handle(&mut policy, &event);
            assert_eq!(answer.stdout, "");
            assert!(
                policy.lock_store().calls.is_empty(),
                "{}",
                String::from_utf8_lossy(&event)
            );
        }
    }

    #[test]
    fn session_start_and_prompts_in_a_free_workspace_read_the_lock_and_write_nothing() {
        for name in ["UserPromptSubmit", "SessionStart"] {
            let event = claude_event(name, "A", None);
            let mut policy = empty_policy();
            let answer = host().handle(&mut policy, &event);
            assert_eq!(answer.stdout, "");
            let calls = &policy.lock_store().calls;
            assert!(
                calls.iter().all(|c| matches!(c, Call::Read(_))) && calls.len() == 1,
                "{name}: {calls:?}"
            );
        }
    }

    #[test]
    fn post_tool_use_refreshes_and_stop_releases_only_the_own_lock() {
        let mut policy = empty_policy();
        host().handle(&mut policy, &claude_event("PreToolUse", "A", Some("Write")));
        let key = hook_key(&mut policy);
        let mut later = host();
        // Later than a tenth of the ttl: a refresh sooner is not written (refresh-interval.json).
        later.now_ms = NOW + 60_000;
        for name in ["PostToolUse", "PostToolUseFailure"] {
            later.handle(&mut policy, &claude_event(name, "A", Some("Write")));
            assert_eq!(
                policy.lock_store().json(&key).unwrap()["refreshed_at"],
                NOW + 60_000
            );
        }
        for name in ["Stop", "SessionEnd"] {
            later.handle(&mut policy, &claude_event(name, "B", None));
            assert_eq!(
                policy.lock_store().json(&key).unwrap()["session_id"],
                "A",
                "{name} of B"
            );
        }
        later.handle(&mut policy, &claude_event("Stop", "A", None));
        assert!(policy.lock_store().records.is_empty());
    }

    #[test]
    fn stop_lets_go_of_its_own_workspace_before_it_lists_the_store() {
        let mut policy = empty_policy();
        host().handle(&mut policy, &claude_event("PreToolUse", "A", Some("Write")));
        let key = hook_key(&mut policy);
        let store = policy.lock_store();
        store.calls.clear();
        // The listing of every other lock fails: the own one is let go all the same.
        store
            .call_faults
            .insert(2, Fault::Error("listing failed".into()));
        let answer = host().handle(&mut policy, &claude_event("Stop", "A", None));
        let calls = &policy.lock_store().calls;
        assert!(matches!(&calls[0], Call::Read(k) if *k == key), "{calls:?}");
        assert!(
            matches!(&calls[1], Call::CompareAndSwap { key: k, replacement: None, .. } if *k == key),
            "{calls:?}"
        );
        assert!(matches!(calls[2], Call::Keys), "{calls:?}");
        assert!(policy.lock_store().records.is_empty(), "released");
        assert!(
            answer.stderr.contains("listing failed"),
            "{}",
            answer.stderr
        );
    }

    #[test]
    fn bad_input_fails_open_with_one_line() {
        let inputs: [&[u8]; 5] = [
            b"",
            b"not json",
            b"[1,2,3]",
            b"\xff\xfe\x00",
            br#"{"hook_event_name":"PreToolUse","tool_name":"Write"}"#,
        ];
        for input in inputs {
            let mut policy = empty_policy();
            let answer = host().handle(&mut policy, input);
            assert_shown_to_the_person(&answer.stdout, &String::from_utf8_lossy(input));
            assert_eq!(answer.exit_code, 0);
            assert!(
                answer.stderr.starts_with("session-lock: "),
                "{}",
                answer.stderr
            );
            assert_eq!(answer.stderr.lines().count(), 1);
        }
    }

    #[test]
    fn targets_name_the_session_directory_then_what_the_tool_touches() {
        let mut policy = empty_policy();
        let host = host();
        let targets = |policy: &mut MockPolicy, host: &VirtualHost, event: serde_json::Value| {
            let event = serde_json::to_vec(&event).unwrap();
            policy.targets(&event, &host.invocation()).unwrap()
        };
        let bash = |command: &str| {
            serde_json::json!({"session_id": "A", "cwd": "/home/u/repo", "hook_event_name": "PreToolUse",
                "tool_name": "Bash", "tool_input": {"command": command}})
        };
        assert_eq!(
            targets(&mut policy, &host, bash("git status")),
            ["/home/u/repo"]
        );
        // A leading `cd` joined by `&&` alone leaves the start: nothing else runs there.
        assert_eq!(
            targets(&mut policy, &host, bash("cd sub && make")),
            ["/home/u/repo", "/home/u/repo/sub"]
        );
        assert_eq!(
            targets(&mut policy, &host, bash("cd sub; make")),
            ["/home/u/repo", "/home/u/repo", "/home/u/repo/sub"]
        );
        // Otherwise the start stays, every directory the command may be in is added, and every
        // literal argument is named against each of them (the host resolves them all).
        assert_eq!(
            targets(&mut policy, &host, bash("git -C ../other commit -m x")),
            [
                "/home/u/repo",
                "/home/u/repo",
                "/home/u/repo/../other",
                "/home/u/repo/../other/../other",
                "/home/u/repo/commit",
                "/home/u/repo/../other/commit",
                "/home/u/repo/x",
                "/home/u/repo/../other/x"
            ]
        );
        let write = serde_json::json!({"session_id": "A", "cwd": "/home/u/repo",
            "hook_event_name": "PreToolUse", "tool_name": "Write",
            "tool_input": {"file_path": "docs/a.md", "content": "x"}});
        assert_eq!(
            targets(&mut policy, &host, write.clone()),
            ["/home/u/repo", "/home/u/repo/docs/a.md"]
        );
        let in_project = host.clone().with_env("CLAUDE_PROJECT_DIR", "/proj");
        assert_eq!(
            targets(&mut policy, &in_project, write),
            ["/proj", "/home/u/repo/docs/a.md"]
        );
        let unreadable = policy.targets(b"not json", &host.invocation()).unwrap();
        assert_eq!(unreadable, ["/home/u/repo"]);
    }

    #[test]
    fn workspace_key_names_a_directory_as_handle_names_a_session() {
        let mut policy = empty_policy();
        let mut key = |real_path: &str, git_top: Option<&str>, checkout_id: Option<&str>| {
            let directory = session_lock::component::ResolvedPath {
                real_path: real_path.into(),
                git_top: git_top.map(Into::into),
                checkout_id: checkout_id.map(Into::into),
            };
            policy.workspace_key(&directory).unwrap()
        };
        let hash = |name: &str| empty_policy().workspace_hash(name).unwrap();
        assert_eq!(key("/r/sub", Some("/r"), None), hash("/r"));
        assert_eq!(
            key("/r/sub", Some("/r"), Some("6f1c")),
            hash("checkout:6f1c")
        );
        assert_eq!(key("/loose", None, None), hash("/loose"));
        // The same as `handle`: a Write in /r by a session whose directory is /r/sub.
        let mut policy = empty_policy();
        host().handle(&mut policy, &claude_event("PreToolUse", "A", Some("Write")));
        let directory = host().resolve("/home/u/repo/sub");
        let key = policy.workspace_key(&directory).unwrap();
        assert!(policy.lock_store().records.contains_key(&key));
    }

    #[test]
    fn an_unresolvable_target_fails_open_visibly() {
        let mut policy = empty_policy();
        let event = claude_event("PreToolUse", "A", Some("Write"));
        let invocation = host().invocation();
        let targets = policy.targets(&event, &invocation).unwrap();
        let context = session_lock::component::HookContext {
            resolved: targets.iter().map(|_| None).collect(),
            invocation,
            now_ms: NOW,
            waited_ms: 0,
        };
        let answer = policy.handle(&event, &context).unwrap();
        assert_shown_to_the_person(&answer.stdout, "unresolvable");
        assert!(
            answer.stderr.contains("cannot resolve"),
            "{}",
            answer.stderr
        );
        assert!(policy.lock_store().records.is_empty());
    }

    #[test]
    fn a_dead_holder_is_proven_gone_only_on_its_own_machine() {
        let mut policy = empty_policy();
        policy.processes().machine = Some(("boot".into(), "pid:[1]".into()));
        policy.processes().running.insert(4101, 5000);
        let mut a = session("A", 4101);
        a.pid_is_session = true;
        policy.acquire(KEY, &a, NOW, TTL).unwrap().unwrap();
        let holder = policy.lock_store().json(KEY).unwrap()["holder"].clone();
        assert_eq!(
            holder,
            serde_json::json!({"boot_id": "boot", "pid_namespace": "pid:[1]", "start_time": 5000})
        );
        let blocked = policy.acquire(KEY, &session("B", 9), NOW + 1, TTL).unwrap();
        assert!(matches!(blocked, Ok(AcquireResult::Blocked(_))));
        policy.processes().machine = Some(("other-boot".into(), "pid:[1]".into()));
        policy.processes().running.clear();
        let elsewhere = policy.acquire(KEY, &session("B", 9), NOW + 2, TTL).unwrap();
        assert!(matches!(elsewhere, Ok(AcquireResult::Blocked(_))));
        policy.processes().machine = Some(("boot".into(), "pid:[1]".into()));
        let gone = policy.acquire(KEY, &session("B", 9), NOW + 3, TTL).unwrap();
        assert!(
            matches!(
                gone,
                Ok(AcquireResult::TakenOver(Takeover {
                    holder_gone: true,
                    ..
                }))
            ),
            "{gone:?}"
        );
    }
}

mod setup {
    use super::*;

    #[test]
    fn install_and_uninstall_transform_settings_text() {
        let mut policy = empty_policy();
        let agent = policy.agent_named("gemini").unwrap().unwrap();
        assert_eq!(agent, Agent::Gemini);
        assert!(
            policy
                .agent_named("vim")
                .unwrap()
                .unwrap_err()
                .contains("claude")
        );
        assert_eq!(
            policy.settings_file(agent, Scope::User).unwrap().unwrap(),
            ".gemini/settings.json"
        );
        assert!(policy.settings_file(agent, Scope::Local).unwrap().is_err());
        let text = policy
            .install(agent, r#"{"theme": "dark"}"#, "/opt/session-lock", 0)
            .unwrap()
            .unwrap();
        let settings: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(settings["theme"], "dark");
        assert_eq!(
            settings["hooks"]["BeforeTool"][0]["hooks"][0]["command"],
            "/opt/session-lock hook --agent gemini"
        );
        let removed = policy.uninstall(agent, &text).unwrap().unwrap();
        assert_eq!(removed, "{\n  \"theme\": \"dark\"\n}\n");
        assert!(policy.install(agent, "[]", "/b", 0).unwrap().is_err());
    }

    #[test]
    fn explain_says_why() {
        let mut policy = empty_policy();
        let read_only = policy.explain("git status | head").unwrap();
        assert!(read_only.read_only, "{}", read_only.why);
        let mutating = policy.explain("git commit -m x").unwrap();
        assert!(!mutating.read_only);
        assert!(!mutating.why.is_empty());
    }
}

mod artifact {
    use super::*;

    #[test]
    fn the_embedded_precompiled_component_loads_into_the_runtime_engine() {
        runtime().expect("precompiled with the same configuration");
    }

    #[test]
    fn the_fallback_loads_a_copy_with_the_same_exports() {
        let (engine, component) = session_lock::component::load_copied().unwrap();
        let (_, shared) = runtime().unwrap();
        let names = |c: &wasmtime::component::Component| -> Vec<String> {
            let ty = c.component_type();
            ty.exports(&engine)
                .map(|(name, _)| name.to_owned())
                .collect()
        };
        assert_eq!(names(&component), names(shared));
    }

    #[test]
    fn the_component_imports_the_lock_store_process_facts_and_decision_log_and_nothing_else() {
        let (engine, component) = runtime().unwrap();
        let imports: Vec<String> = component
            .component_type()
            .imports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        assert_eq!(
            imports,
            [
                "session-lock:policy/lock-store@0.3.0",
                "session-lock:policy/processes@0.3.0",
                "session-lock:policy/decision-log@0.3.0"
            ]
        );
        let exports: Vec<String> = component
            .component_type()
            .exports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        assert_eq!(
            exports,
            [
                "session-lock:policy/policy@0.3.0",
                "session-lock:policy/hook@0.3.0",
                "session-lock:policy/setup@0.3.0",
                "session-lock:policy/overview@0.3.0"
            ]
        );
    }
}
