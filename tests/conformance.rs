//! The shared conformance suite (`tests/conformance/*.json`, described in its README) run
//! against the embedded policy component with the in-memory lock store. Every host of the
//! component runs the same files; this is the Rust host's runner. The Node.js host's runner is
//! `hosts/node/test/conformance.test.js`.

#[path = "support/mock_store.rs"]
mod mock_store;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use session_lock::component::{Agent, HookContext, HookResponse, Mode};

/// The suite's directory.
fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance")
}

/// Every scenario file, sorted by name: its name and its parsed content.
fn suite() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = fs::read_dir(suite_dir())
        .expect("tests/conformance exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = fs::read_to_string(&path).unwrap();
            let value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} is not valid JSON: {e}"));
            (name, value)
        })
        .collect()
}

/// `base` with the fields of `over` (an object, or absent) laid over it.
fn merged(base: &Map<String, Value>, over: Option<&Value>) -> Map<String, Value> {
    let mut context = base.clone();
    if let Some(over) = over {
        let over = over.as_object().expect("a context is an object");
        context.extend(over.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    context
}

fn hook_context(context: &Map<String, Value>) -> HookContext {
    let u64_field = |name: &str| {
        context[name]
            .as_u64()
            .unwrap_or_else(|| panic!("context.{name} is a whole number"))
    };
    let agent = context
        .get("agent")
        .and_then(Value::as_str)
        .map(|name| match name {
            "claude-code" => Agent::ClaudeCode,
            "codex" => Agent::Codex,
            "gemini" => Agent::Gemini,
            "cursor" => Agent::Cursor,
            other => panic!("unknown agent {other:?}"),
        });
    let mode = match context["mode"].as_str() {
        Some("enforce") => Mode::Enforce,
        Some("observe") => Mode::Observe,
        other => panic!("context.mode is enforce or observe, not {other:?}"),
    };
    HookContext {
        workspace: context["workspace"].as_str().unwrap().to_owned(),
        pid: u32::try_from(u64_field("pid")).unwrap(),
        now_ms: u64_field("now_ms"),
        ttl_ms: u64_field("ttl_ms"),
        agent,
        mode,
    }
}

/// The stored bytes a record specification stands for: `{"bytes": text}` or `{"json": value}`.
fn record_bytes(spec: &Value) -> Vec<u8> {
    match (spec.get("bytes"), spec.get("json")) {
        (Some(Value::String(text)), None) => text.clone().into_bytes(),
        (None, Some(json)) => serde_json::to_vec(json).unwrap(),
        _ => panic!("a record is {{\"bytes\": text}} or {{\"json\": value}}, not {spec}"),
    }
}

/// Whether a non-empty answer refuses, in any agent's form.
fn is_deny(answer: &Value) -> bool {
    answer["hookSpecificOutput"]["permissionDecision"] == "deny"
        || answer["decision"] == "deny"
        || answer["permission"] == "deny"
}

/// Every way the answer and the record after a step differ from the expectation.
fn check_step(expect: &Value, answer: &HookResponse, record: Option<&Vec<u8>>) -> Vec<String> {
    let mut wrong = Vec::new();
    if answer.exit_code != 0 {
        wrong.push(format!("exit code {} (always 0)", answer.exit_code));
    }
    let stdout: Option<Value> = if answer.stdout.is_empty() {
        None
    } else {
        match serde_json::from_str(&answer.stdout) {
            Ok(value) => Some(value),
            Err(e) => {
                wrong.push(format!("stdout is not JSON ({e}): {:?}", answer.stdout));
                return wrong;
            }
        }
    };
    let decision = if stdout.as_ref().is_some_and(is_deny) {
        "deny"
    } else {
        "allow"
    };
    if expect["decision"] != decision {
        wrong.push(format!(
            "decision {decision}, expected {}",
            expect["decision"]
        ));
    }
    match (&expect["stdout"], &stdout) {
        (Value::String(empty), None) if empty.is_empty() => {}
        (expected, Some(actual)) if expected == actual => {}
        (expected, _) => wrong.push(format!("stdout {:?}, expected {expected}", answer.stdout)),
    }
    let stderr = expect["stderr"]
        .as_str()
        .expect("expect.stderr is a string");
    let stderr_ok = if stderr.is_empty() {
        answer.stderr.is_empty()
    } else {
        assert!(
            stderr.starts_with("session-lock:"),
            "bad expectation {stderr:?}"
        );
        answer.stderr.starts_with(stderr)
            && answer.stderr.ends_with('\n')
            && answer.stderr.lines().count() == 1
    };
    if !stderr_ok {
        wrong.push(format!(
            "stderr {:?}, expected {}",
            answer.stderr,
            if stderr.is_empty() {
                "nothing".to_owned()
            } else {
                format!("one line starting {stderr:?}")
            }
        ));
    }
    let record_ok = match (&expect["record"], record) {
        (Value::Null, None) => true,
        (Value::Null, Some(_)) | (_, None) => false,
        (spec, Some(bytes)) => match spec.get("json") {
            Some(json) => serde_json::from_slice::<Value>(bytes).is_ok_and(|r| &r == json),
            None => *bytes == record_bytes(spec),
        },
    };
    if !record_ok {
        wrong.push(format!(
            "record {:?}, expected {}",
            record.map(|b| String::from_utf8_lossy(b).into_owned()),
            expect["record"]
        ));
    }
    wrong
}

/// Runs one scenario on a fresh component and store; every mismatch, step by step.
fn run_scenario(defaults: &Map<String, Value>, scenario: &Value) -> Vec<String> {
    let scenario_context = merged(defaults, scenario.get("context"));
    let mut policy = mock_store::empty_policy();
    let workspace = scenario_context["workspace"].as_str().unwrap();
    let key = policy.workspace_hash(workspace).unwrap();
    if let Some(spec) = scenario.get("record") {
        let bytes = record_bytes(spec);
        policy.lock_store().records.insert(key.clone(), bytes);
    }
    let steps = scenario["steps"].as_array().expect("steps is a list");
    assert!(!steps.is_empty(), "a scenario has steps");
    let mut failures = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        let event = match (step.get("event"), step.get("event_text")) {
            (Some(json), None) => serde_json::to_vec(json).unwrap(),
            (None, Some(Value::String(text))) => text.clone().into_bytes(),
            _ => panic!("a step has an event or an event_text: {step}"),
        };
        let context = hook_context(&merged(&scenario_context, step.get("context")));
        let expect = &step["expect"];
        for field in ["decision", "stdout", "stderr", "record"] {
            assert!(expect.get(field).is_some(), "expect.{field} is given");
        }
        let answer = policy
            .handle(&event, &context)
            .expect("the component answers");
        let record = policy.lock_store().records.get(&key);
        for wrong in check_step(expect, &answer, record) {
            failures.push(format!("step {}: {wrong}", n + 1));
        }
    }
    failures
}

#[test]
fn every_scenario_reaches_the_expected_answers_and_records() {
    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    let mut count = 0;
    for (file, suite) in suite() {
        let defaults = suite["defaults"]
            .as_object()
            .expect("defaults is an object");
        let scenarios = suite["scenarios"].as_array().expect("scenarios is a list");
        assert!(!scenarios.is_empty(), "{file} has scenarios");
        for scenario in scenarios {
            let name = scenario["name"].as_str().expect("a scenario has a name");
            assert!(
                names.insert(name.to_owned()),
                "scenario name {name:?} is unique"
            );
            count += 1;
            for wrong in run_scenario(defaults, scenario) {
                failures.push(format!("{file}: {name}: {wrong}"));
            }
        }
    }
    assert!(count > 0, "the suite has scenarios");
    assert!(
        failures.is_empty(),
        "{} of the suite's checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
