//! The policy component, loaded into wasmtime from the binary's own embedded artifact, driven
//! through its WIT exports with a mocked `lock-store`.

#[path = "support/mock_store.rs"]
mod mock_store;

use mock_store::*;
use session_lock::component::policy_types::{
    AcquireResult, Decision, ForceReleaseResult, PolicyError, RefreshResult, ReleaseResult,
    Takeover,
};
use session_lock::component::{HookContext, Mode, runtime};

const TTL: u64 = 300_000;
const NOW: u64 = 1_800_000_000_000;

fn acquire(
    policy: &mut session_lock::component::Policy<MockStore>,
    id: &str,
    now: u64,
) -> AcquireResult {
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
        for n in 0..100 {
            store
                .interleaved_writes
                .push_back(Some(format!("{{\"garbage\":{n}}}").into_bytes()));
            store.interleaved_writes.push_back(None);
        }
        // Each swap finds the record changed (alternately deleted and present): free each time.
        store
            .swap_faults
            .extend((0..100).map(|_| Fault::Value(None)));
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
    fn refresh_renews_the_own_lock_keeping_its_ttl() {
        let mut policy = policy_holding(stored_record("A", 7, NOW, Some(NOW), 5_000));
        let result = policy.refresh(KEY, &session("A", 7), NOW + 4_000).unwrap();
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
        let result = policy.refresh(KEY, &session("B", 8), NOW + 1).unwrap();
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
        let result = policy.refresh(KEY, &session("B", 8), NOW).unwrap();
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
            reason.contains("held for 1m 05s, expires in 4m 55s"),
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
            p.refresh(KEY, &session("A", 7), NOW).unwrap().map(|_| ()),
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
            let answer = policy
                .handle(&claude_event("PreToolUse", "A", Some("Write")), &context())
                .unwrap();
            assert_eq!(answer.stdout, "", "{name}: nothing on stdout means allow");
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

fn context() -> HookContext {
    HookContext {
        workspace: "/home/u/repo".into(),
        pid: 100,
        now_ms: NOW,
        ttl_ms: TTL,
        agent: None,
        mode: Mode::Enforce,
    }
}

mod hook {
    use super::*;

    fn hook_key(policy: &mut session_lock::component::Policy<MockStore>) -> String {
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
            let answer = policy
                .handle(&claude_event("PreToolUse", "A", Some(tool)), &context())
                .unwrap();
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
        policy
            .handle(&claude_event("PreToolUse", "A", Some("Bash")), &context())
            .unwrap();
        let answer = policy
            .handle(&claude_event("PreToolUse", "B", Some("Edit")), &context())
            .unwrap();
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
            claude_event("UserPromptSubmit", "A", None),
            claude_event("SessionStart", "A", None),
        ];
        for event in events {
            let mut policy = empty_policy();
            let answer = policy.handle(&event, &context()).unwrap();
            assert_eq!(answer.stdout, "");
            assert!(
                policy.lock_store().calls.is_empty(),
                "{}",
                String::from_utf8_lossy(&event)
            );
        }
    }

    #[test]
    fn post_tool_use_refreshes_and_stop_releases_only_the_own_lock() {
        let mut policy = empty_policy();
        policy
            .handle(&claude_event("PreToolUse", "A", Some("Write")), &context())
            .unwrap();
        let key = hook_key(&mut policy);
        let later = HookContext {
            now_ms: NOW + 5_000,
            ..context()
        };
        for name in ["PostToolUse", "PostToolUseFailure"] {
            policy
                .handle(&claude_event(name, "A", Some("Write")), &later)
                .unwrap();
            assert_eq!(
                policy.lock_store().json(&key).unwrap()["refreshed_at"],
                NOW + 5_000
            );
        }
        for name in ["Stop", "SessionEnd"] {
            policy
                .handle(&claude_event(name, "B", None), &later)
                .unwrap();
            assert_eq!(
                policy.lock_store().json(&key).unwrap()["session_id"],
                "A",
                "{name} of B"
            );
        }
        policy
            .handle(&claude_event("Stop", "A", None), &later)
            .unwrap();
        assert!(policy.lock_store().records.is_empty());
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
            let answer = policy.handle(input, &context()).unwrap();
            assert_eq!(answer.stdout, "");
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
    fn workspace_dir_prefers_project_dir_then_event_cwd_then_process_cwd() {
        let mut policy = empty_policy();
        let event = claude_event("PreToolUse", "A", Some("Write"));
        assert_eq!(
            policy
                .workspace_dir(&event, Some("/proj"), "/proc")
                .unwrap(),
            "/proj"
        );
        assert_eq!(
            policy.workspace_dir(&event, None, "/proc").unwrap(),
            "/home/u/repo"
        );
        assert_eq!(policy.workspace_dir(b"{}", None, "/proc").unwrap(), "/proc");
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
    fn the_component_imports_the_lock_store_and_nothing_else() {
        let (engine, component) = runtime().unwrap();
        let imports: Vec<String> = component
            .component_type()
            .imports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        assert_eq!(imports, ["session-lock:policy/lock-store@0.1.0"]);
        let exports: Vec<String> = component
            .component_type()
            .exports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        assert_eq!(
            exports,
            [
                "session-lock:policy/policy@0.1.0",
                "session-lock:policy/hook@0.1.0"
            ]
        );
    }
}
