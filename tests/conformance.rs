//! The shared conformance suite (`tests/conformance/*.json`, described in its README) run
//! against the embedded policy component with the in-memory lock store. Every host of the
//! component runs the same files; this is the Rust host's runner. The Node.js host's runner is
//! `hosts/node/test/conformance.test.js`.

#[path = "support/mock_store.rs"]
mod mock_store;
#[path = "support/virtual_host.rs"]
mod virtual_host;

use std::fs;
use std::path::{Path, PathBuf};

use mock_store::{MockPolicy, MockProcesses};
use serde_json::{Map, Value};
use session_lock::component::{Agent, HookResponse};
use virtual_host::VirtualHost;

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

/// What a host would find on the scenario's machine (see the README's "Context").
struct Machine<'c> {
    context: &'c Map<String, Value>,
}

impl Machine<'_> {
    fn u64_field(&self, name: &str) -> u64 {
        self.context[name]
            .as_u64()
            .unwrap_or_else(|| panic!("context.{name} is a whole number"))
    }

    fn text(&self, name: &str) -> &str {
        self.context[name]
            .as_str()
            .unwrap_or_else(|| panic!("context.{name} is text"))
    }

    /// The virtual host of the context: its filesystem, environment, cwd, parent and agent.
    fn host(&self) -> VirtualHost {
        let workspace = self.text("workspace");
        let mut host = VirtualHost::in_workspace(workspace);
        if let Some(tops) = self.context.get("git_tops") {
            host.git_tops = tops
                .as_array()
                .expect("context.git_tops is a list")
                .iter()
                .map(|t| t.as_str().expect("git tops are text").to_owned())
                .collect();
        }
        if let Some(paths) = self.context.get("unresolvable") {
            host.unresolvable = paths
                .as_array()
                .expect("context.unresolvable is a list")
                .iter()
                .map(|p| p.as_str().expect("unresolvable paths are text").to_owned())
                .collect();
        }
        if let Some(cwd) = self.context.get("cwd") {
            host.cwd = cwd.as_str().expect("context.cwd is text").to_owned();
        }
        host.parent_pid = u32::try_from(self.u64_field("pid")).unwrap();
        host.now_ms = self.u64_field("now_ms");
        host.waited_ms = self.context.get("waited_ms").map_or(0, |w| {
            w.as_u64().expect("context.waited_ms is a whole number")
        });
        host.agent = self
            .context
            .get("agent")
            .and_then(Value::as_str)
            .map(|name| match name {
                "claude-code" => Agent::ClaudeCode,
                "codex" => Agent::Codex,
                "gemini" => Agent::Gemini,
                "cursor" => Agent::Cursor,
                other => panic!("unknown agent {other:?}"),
            });
        let mode = self.text("mode");
        assert!(
            mode == "enforce" || mode == "observe",
            "context.mode is {mode:?}"
        );
        host = host
            .with_env("SESSION_LOCK_TTL_MS", &self.u64_field("ttl_ms").to_string())
            .with_env("SESSION_LOCK_MODE", mode);
        if let Some(env) = self.context.get("env") {
            for (name, value) in env.as_object().expect("context.env is an object") {
                host = host.with_env(name, value.as_str().expect("context.env values are text"));
            }
        }
        host
    }

    /// The hook process's ancestors as the context lists them; `None` when it lists none.
    fn ancestors(&self) -> Option<Vec<u32>> {
        let list = self.context.get("ancestors")?.as_array();
        let list = list.expect("context.ancestors is a list");
        Some(
            list.iter()
                .map(|p| {
                    p.as_u64()
                        .and_then(|p| u32::try_from(p).ok())
                        .expect("a pid")
                })
                .collect(),
        )
    }

    /// The `processes` import as the context sets it.
    fn processes(&self) -> MockProcesses {
        let Some(machine) = self.context.get("machine") else {
            return MockProcesses {
                ancestors: self.ancestors(),
                ..MockProcesses::default()
            };
        };
        let field = |name: &str| {
            machine[name]
                .as_str()
                .unwrap_or_else(|| panic!("context.machine.{name} is text"))
                .to_owned()
        };
        let running = self
            .context
            .get("processes")
            .map_or_else(Default::default, |p| {
                p.as_object()
                    .expect("context.processes is an object")
                    .iter()
                    .map(|(pid, start)| (pid.parse().unwrap(), start.as_u64().unwrap()))
                    .collect()
            });
        MockProcesses {
            machine: Some((field("boot_id"), field("pid_namespace"))),
            running,
            ancestors: self.ancestors(),
        }
    }

    /// Runs `event` as a host on this machine would.
    fn handle(&self, policy: &mut MockPolicy, event: &[u8]) -> HookResponse {
        *policy.processes() = self.processes();
        self.host().handle(policy, event)
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

/// A stored record without the fields kept only for people (`workspace`, `agent`) that
/// `spec` does not name: a scenario checks them only where it says what they are.
fn for_people(mut record: Value, spec: &Value) -> Value {
    if let Some(fields) = record.as_object_mut() {
        for name in ["workspace", "agent"] {
            if spec.get(name).is_none() {
                fields.remove(name);
            }
        }
    }
    record
}

/// Whether a stored record is the one `spec` (a record, or `null`) stands for.
fn record_matches(spec: &Value, record: Option<&Vec<u8>>) -> bool {
    match (spec, record) {
        (Value::Null, None) => true,
        (Value::Null, Some(_)) | (_, None) => false,
        (spec, Some(bytes)) => match spec.get("json") {
            Some(json) => {
                serde_json::from_slice::<Value>(bytes).is_ok_and(|r| &for_people(r, json) == json)
            }
            None => *bytes == record_bytes(spec),
        },
    }
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
    let retry = expect.get("retry_after_ms").and_then(Value::as_u64);
    if answer.retry_after_ms != retry {
        wrong.push(format!(
            "retry_after_ms {:?}, expected {retry:?}",
            answer.retry_after_ms
        ));
    }
    if !record_matches(&expect["record"], record) {
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
    for (path, spec) in other_records(scenario) {
        let key = policy.workspace_hash(path).unwrap();
        policy.lock_store().records.insert(key, record_bytes(spec));
    }
    let steps = scenario["steps"].as_array().expect("steps is a list");
    assert!(!steps.is_empty(), "a scenario has steps");
    let mut failures = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        let event = match (step.get("event"), step.get("event_text")) {
            (Some(json), None) => serde_json::to_vec(&filled(json, step.get("fill"))).unwrap(),
            (None, Some(Value::String(text))) => text.clone().into_bytes(),
            _ => panic!("a step has an event or an event_text: {step}"),
        };
        let context = merged(&scenario_context, step.get("context"));
        let expect = &step["expect"];
        for field in ["decision", "stdout", "stderr", "record"] {
            assert!(expect.get(field).is_some(), "expect.{field} is given");
        }
        policy.lock_store().mutex_held = context
            .get("mutex_held")
            .is_some_and(|held| held.as_bool().expect("context.mutex_held is true or false"));
        let answer = Machine { context: &context }.handle(&mut policy, &event);
        let record = policy.lock_store().records.get(&key).cloned();
        for wrong in check_step(expect, &answer, record.as_ref()) {
            failures.push(format!("step {}: {wrong}", n + 1));
        }
        for (path, spec) in other_records(expect) {
            let other = policy.workspace_hash(path).unwrap();
            let record = policy.lock_store().records.get(&other);
            if !record_matches(spec, record) {
                failures.push(format!(
                    "step {}: record of {path} {:?}, expected {spec}",
                    n + 1,
                    record.map(|b| String::from_utf8_lossy(b).into_owned())
                ));
            }
        }
    }
    failures
}

/// `event` with each field that `fill` names (a dotted path) set to its generated text:
/// `prefix`, then `repeat` `times` over, then `suffix` (see the README's "Events").
fn filled(event: &Value, fill: Option<&Value>) -> Value {
    let mut event = event.clone();
    let Some(fill) = fill else {
        return event;
    };
    for (path, spec) in fill.as_object().expect("fill is an object") {
        let text = |name: &str| {
            spec.get(name)
                .map_or("", |t| t.as_str().expect("fill text"))
        };
        let times = spec["times"]
            .as_u64()
            .expect("fill.times is a whole number");
        let generated = format!(
            "{}{}{}",
            text("prefix"),
            text("repeat").repeat(usize::try_from(times).unwrap()),
            text("suffix")
        );
        let mut at = &mut event;
        for name in path.split('.') {
            at = at
                .as_object_mut()
                .unwrap_or_else(|| panic!("fill {path}: not an object on the way"))
                .entry(name)
                .or_insert_with(|| Value::Object(Map::new()));
        }
        *at = Value::String(generated);
    }
    event
}

/// The `records` of a scenario or an expectation: other workspaces' locks, by path.
fn other_records(holder: &Value) -> Vec<(&str, &Value)> {
    holder.get("records").map_or_else(Vec::new, |records| {
        records
            .as_object()
            .expect("records is an object")
            .iter()
            .map(|(path, spec)| (path.as_str(), spec))
            .collect()
    })
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
