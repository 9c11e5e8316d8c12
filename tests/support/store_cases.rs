//! The store-conformance suite's data (`tests/store-conformance/*.json`, described in its
//! README.md) and what every runner shares: reading the cases, content values, calling a store
//! and checking what a call returned. What is on disk is the filesystem runner's own business
//! (`tests/store_conformance.rs`); the etcd runner is in `tests/etcd.rs`.

#![allow(
    dead_code,
    reason = "each test file uses its own part of the shared helpers"
)]

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use serde_json::Value;
use session_lock::component::lock_store::SwapOutcome;

/// The key of every step that names none, and the one the places belong to.
pub const KEY: &str = "0123456789ab";

pub fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/store-conformance")
}

/// Runs `run_case(case, title)` on every case of every file, each even if others fail (each
/// failure is printed by the panic hook as it happens), then fails naming the failed cases.
/// `run_case` returns whether it ran the case (a runner may skip cases its store cannot
/// express). Returns how many ran.
pub fn run_every_case(mut run_case: impl FnMut(&Value, &str) -> bool) -> usize {
    let mut files: Vec<PathBuf> = fs::read_dir(suite_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no cases in {}", suite_dir().display());
    let (mut ran, mut skipped) = (0, 0);
    let mut failed = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let suite: Value = serde_json::from_slice(&fs::read(file).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        only_fields(&suite, &["description", "cases"], &name);
        for case in suite["cases"].as_array().expect("cases") {
            let title = format!("{name}: {}", case["name"].as_str().expect("a name"));
            only_fields(case, &["name", "setup", "steps"], &title);
            match panic::catch_unwind(AssertUnwindSafe(|| run_case(case, &title))) {
                Ok(true) => ran += 1,
                Ok(false) => skipped += 1,
                Err(_) => {
                    ran += 1;
                    failed.push(title);
                }
            }
        }
    }
    println!(
        "{ran} store-conformance cases in {} files ({skipped} skipped)",
        files.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {ran} cases failed: {failed:#?}",
        failed.len()
    );
    ran
}

/// Panics unless `object` has only the `allowed` fields: a misspelt field would check nothing.
pub fn only_fields(object: &Value, allowed: &[&str], context: &str) {
    let object = object
        .as_object()
        .unwrap_or_else(|| panic!("{context}: not an object"));
    for field in object.keys() {
        assert!(
            allowed.contains(&field.as_str()),
            "{context}: unknown field {field:?}"
        );
    }
}

/// The bytes of a content value (`null`: none).
pub fn bytes_of(content: &Value) -> Option<Vec<u8>> {
    if content.is_null() {
        return None;
    }
    only_fields(content, &["text", "hex", "repeat", "times"], "content");
    if let Some(text) = content["text"].as_str() {
        Some(text.as_bytes().to_vec())
    } else if let Some(hex) = content["hex"].as_str() {
        assert!(hex.len().is_multiple_of(2), "odd hex {hex:?}");
        Some(
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect(),
        )
    } else if let Some(unit) = content["repeat"].as_str() {
        let times = content["times"].as_u64().expect("times") as usize;
        Some(unit.repeat(times).into_bytes())
    } else {
        panic!("not a content value: {content}")
    }
}

/// Bytes for a failure message: short ones as text, long ones by length.
pub fn shown(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "none".into(),
        Some(bytes) if bytes.len() > 200 => format!("{} bytes", bytes.len()),
        Some(bytes) => format!("{:?}", String::from_utf8_lossy(bytes)),
    }
}

pub fn assert_bytes(actual: Option<&[u8]>, expected: Option<&[u8]>, what: &str) {
    assert!(
        actual == expected,
        "{what}: got {}, want {}",
        shown(actual),
        shown(expected)
    );
}

/// How a runner marks an error its store reports as contention (`store-error.busy`) rather
/// than a fault: the message starts with this.
pub const BUSY: &str = "busy: ";

/// A store's two data operations, as the suite calls them. An error that is contention starts
/// with [`BUSY`].
pub trait CaseStore {
    fn read(&mut self, key: &str) -> Result<Option<Vec<u8>>, String>;
    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        replacement: Option<&[u8]>,
    ) -> Result<SwapOutcome, String>;
}

/// What a step did.
#[derive(Debug)]
pub enum Got {
    Found(Option<Vec<u8>>),
    Swapped,
    Conflict(Option<Vec<u8>>),
    Error(String),
    /// Contention: the message, without [`BUSY`].
    Busy(String),
}

/// An error as a step's result: contention when it starts with [`BUSY`].
fn failed(message: String) -> Got {
    match message.strip_prefix(BUSY) {
        Some(why) => Got::Busy(why.to_owned()),
        None => Got::Error(message),
    }
}

/// The context of step `index` (for messages), after checking the step's and its
/// expectation's fields.
pub fn step_context(title: &str, index: usize, step: &Value) -> String {
    let context = format!("{title}: step {} ({})", index + 1, step["op"]);
    only_fields(
        step,
        &["op", "key", "expected", "replacement", "expect"],
        &context,
    );
    only_fields(
        &step["expect"],
        &["outcome", "found", "error_contains", "paths"],
        &context,
    );
    context
}

/// Calls the store as `step` says.
pub fn perform(store: &mut impl CaseStore, step: &Value) -> Got {
    let key = step["key"].as_str().unwrap_or(KEY);
    match step["op"].as_str().expect("op") {
        "read" => match store.read(key) {
            Ok(found) => Got::Found(found),
            Err(e) => failed(e),
        },
        "cas" => {
            let expected = bytes_of(step.get("expected").expect("cas needs expected"));
            let replacement = bytes_of(step.get("replacement").expect("cas needs replacement"));
            match store.compare_and_swap(key, expected.as_deref(), replacement.as_deref()) {
                Ok(SwapOutcome::Swapped) => Got::Swapped,
                Ok(SwapOutcome::Conflict(found)) => Got::Conflict(found),
                Err(e) => failed(e),
            }
        }
        other => panic!("unknown op {other:?}"),
    }
}

/// Checks what a step returned against its `expect` (all but `paths`).
pub fn check_outcome(got: &Got, expect: &Value, context: &str) {
    let outcome = match got {
        Got::Found(_) => "found",
        Got::Swapped => "swapped",
        Got::Conflict(_) => "conflict",
        Got::Error(_) => "error",
        Got::Busy(_) => "busy",
    };
    let want = expect["outcome"].as_str().expect("outcome");
    assert_eq!(outcome, want, "{context}: outcome {got:?}");
    match got {
        Got::Error(message) | Got::Busy(message) => {
            assert!(
                !message.contains('\n'),
                "{context}: the error is one line: {message:?}"
            );
            let part = expect["error_contains"].as_str().expect("error_contains");
            assert!(
                message.contains(part),
                "{context}: {message:?} should contain {part:?}"
            );
        }
        Got::Found(found) | Got::Conflict(found) => {
            let want = expect.get("found").unwrap_or_else(|| {
                panic!("{context}: the expectation needs \"found\"");
            });
            assert_bytes(
                found.as_deref(),
                bytes_of(want).as_deref(),
                &format!("{context}: found"),
            );
        }
        Got::Swapped => {}
    }
}
