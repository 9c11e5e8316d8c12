//! The store-conformance suite (`tests/store-conformance/*.json`, described in its README.md)
//! run against the filesystem lock store, `FsLockStore`, called directly. The Node store runs
//! the same files in `hosts/node/test/store-conformance.test.js`.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt, symlink};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use serde_json::{Map, Value};
use session_lock::component::lock_store::SwapOutcome;
use session_lock::fs_store::FsLockStore;

/// The key of every step that names none, and the one the places belong to.
const KEY: &str = "0123456789ab";

/// How long a step may take before the runner wakes it from a FIFO and calls it blocked.
const BLOCKED: Duration = Duration::from_secs(2);

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/store-conformance")
}

#[test]
fn every_store_conformance_case_passes() {
    let mut files: Vec<PathBuf> = fs::read_dir(suite_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no cases in {}", suite_dir().display());
    let mut cases = 0;
    let mut failed = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let suite: Value = serde_json::from_slice(&fs::read(file).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        only_fields(&suite, &["description", "cases"], &name);
        for case in suite["cases"].as_array().expect("cases") {
            let title = format!("{name}: {}", case["name"].as_str().expect("a name"));
            // Every case runs; each failure is printed by the panic hook as it happens.
            if panic::catch_unwind(AssertUnwindSafe(|| run_case(case, &title))).is_err() {
                failed.push(title);
            }
            cases += 1;
        }
    }
    println!("{cases} store-conformance cases in {} files", files.len());
    assert!(
        failed.is_empty(),
        "{} of {cases} cases failed: {failed:#?}",
        failed.len()
    );
}

/// Panics unless `object` has only the `allowed` fields: a misspelt field would check nothing.
fn only_fields(object: &Value, allowed: &[&str], context: &str) {
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
fn bytes_of(content: &Value) -> Option<Vec<u8>> {
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
fn shown(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "none".into(),
        Some(bytes) if bytes.len() > 200 => format!("{} bytes", bytes.len()),
        Some(bytes) => format!("{:?}", String::from_utf8_lossy(bytes)),
    }
}

fn assert_bytes(actual: Option<&[u8]>, expected: Option<&[u8]>, what: &str) {
    assert!(
        actual == expected,
        "{what}: got {}, want {}",
        shown(actual),
        shown(expected)
    );
}

fn parse_mode(mode: &str) -> u32 {
    u32::from_str_radix(mode, 8).unwrap_or_else(|_| panic!("not an octal mode: {mode:?}"))
}

/// One case's store, in a fresh folder: its places and the FIFOs its setup made.
struct Ground {
    _root: tempfile::TempDir,
    store: FsLockStore,
    places: BTreeMap<&'static str, PathBuf>,
    fifos: Vec<PathBuf>,
}

impl Ground {
    fn new() -> Ground {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("locks");
        let store = FsLockStore::new(&dir);
        let places = BTreeMap::from([
            ("record", store.record_path(KEY).unwrap()),
            ("mutex", dir.join(format!("session-lock-{KEY}.mutex"))),
            ("temp", dir.join(format!(".session-lock-{KEY}.tmp"))),
            ("outside", root.path().join("outside")),
            ("dir", dir),
        ]);
        Ground {
            _root: root,
            store,
            places,
            fifos: Vec::new(),
        }
    }

    /// The path of `at`: a place, or a place followed by `/` and a path below it.
    fn resolve(&self, at: &str) -> PathBuf {
        let (place, below) = at.split_once('/').unwrap_or((at, ""));
        let base = self
            .places
            .get(place)
            .unwrap_or_else(|| panic!("unknown place {at:?}"));
        if below.is_empty() {
            base.clone()
        } else {
            base.join(below)
        }
    }

    /// The name of a directory entry as a suite names it: the place it is, or the bare name.
    fn name_of(&self, path: &Path) -> String {
        match self.places.iter().find(|(_, place)| *place == path) {
            Some((name, _)) => name.to_string(),
            None => path.file_name().unwrap().to_string_lossy().into_owned(),
        }
    }

    fn make(&mut self, item: &Value) {
        only_fields(item, &["at", "make", "content", "mode", "to"], "setup");
        let at = item["at"].as_str().expect("at");
        let target = self.resolve(at);
        let place = at.split('/').next().unwrap();
        let dir = &self.places["dir"];
        if place != "dir" && place != "outside" && !dir.exists() {
            fs::DirBuilder::new().mode(0o700).create(dir).unwrap();
        }
        let mode = item["mode"].as_str();
        match item["make"].as_str().expect("make") {
            "file" => {
                let empty = Value::Object(Map::from_iter([("text".into(), "".into())]));
                let content = item.get("content").unwrap_or(&empty);
                fs::write(&target, bytes_of(content).expect("file content")).unwrap();
                set_mode(&target, parse_mode(mode.unwrap_or("0600")));
            }
            "dir" => {
                fs::create_dir(&target).unwrap();
                set_mode(&target, parse_mode(mode.unwrap_or("0700")));
            }
            "fifo" => {
                let c_path = std::ffi::CString::new(target.as_os_str().as_encoded_bytes()).unwrap();
                let mode = parse_mode(mode.unwrap_or("0600"));
                // SAFETY: a valid NUL-terminated path.
                assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), mode) }, 0);
                set_mode(&target, mode);
                self.fifos.push(target);
            }
            "symlink" => symlink(self.resolve(item["to"].as_str().expect("to")), &target).unwrap(),
            other => panic!("unknown setup {other:?}"),
        }
    }

    fn check(&self, at: &str, want: &Value, context: &str) {
        only_fields(
            want,
            &["is", "content", "mode", "to", "names"],
            &format!("{context}: {at}"),
        );
        let path = self.resolve(at);
        let metadata = match fs::symlink_metadata(&path) {
            Ok(metadata) => Some(metadata),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => panic!("{context}: cannot stat {at}: {e}"),
        };
        let is = match &metadata {
            None => "missing",
            Some(m) if m.is_file() => "file",
            Some(m) if m.is_dir() => "dir",
            Some(m) if m.file_type().is_fifo() => "fifo",
            Some(m) if m.file_type().is_symlink() => "symlink",
            Some(_) => "something else",
        };
        assert_eq!(
            is,
            want["is"].as_str().expect("is"),
            "{context}: what is at {at}"
        );
        if let Some(mode) = want["mode"].as_str() {
            let actual = metadata.as_ref().unwrap().permissions().mode() & 0o777;
            assert_eq!(format!("{actual:04o}"), mode, "{context}: mode of {at}");
        }
        if let Some(content) = want.get("content") {
            let actual = fs::read(&path).unwrap();
            assert_bytes(
                Some(&actual),
                bytes_of(content).as_deref(),
                &format!("{context}: bytes of {at}"),
            );
        }
        if let Some(to) = want["to"].as_str() {
            assert_eq!(
                fs::read_link(&path).unwrap(),
                self.resolve(to),
                "{context}: {at} points to"
            );
        }
        if let Some(names) = want["names"].as_array() {
            let mut actual: Vec<String> = fs::read_dir(&path)
                .unwrap()
                .map(|entry| self.name_of(&entry.unwrap().path()))
                .collect();
            actual.sort();
            let mut wanted: Vec<String> = names
                .iter()
                .map(|n| n.as_str().expect("a name").to_owned())
                .collect();
            wanted.sort();
            assert_eq!(actual, wanted, "{context}: entries of {at}");
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// What a step did.
#[derive(Debug)]
enum Got {
    Found(Option<Vec<u8>>),
    Swapped,
    Conflict(Option<Vec<u8>>),
    Error(String),
}

fn perform(store: &FsLockStore, step: &Value) -> Got {
    let key = step["key"].as_str().unwrap_or(KEY);
    match step["op"].as_str().expect("op") {
        "read" => match store.read(key) {
            Ok(found) => Got::Found(found),
            Err(e) => Got::Error(e),
        },
        "cas" => {
            let expected = bytes_of(step.get("expected").expect("cas needs expected"));
            let replacement = bytes_of(step.get("replacement").expect("cas needs replacement"));
            match store.compare_and_swap(key, expected.as_deref(), replacement.as_deref()) {
                Ok(SwapOutcome::Swapped) => Got::Swapped,
                Ok(SwapOutcome::Conflict(found)) => Got::Conflict(found),
                Err(e) => Got::Error(e),
            }
        }
        other => panic!("unknown op {other:?}"),
    }
}

/// Runs `f`; if it has not returned within [`BLOCKED`], a watchdog thread opens every FIFO the
/// setup made for reading and writing, which wakes an open waiting for the other end, so that
/// a store that blocks fails the step instead of hanging the suite.
fn guarded<T>(fifos: &[PathBuf], f: impl FnOnce() -> T) -> (T, bool) {
    if fifos.is_empty() {
        return (f(), false);
    }
    let blocked = Arc::new(AtomicBool::new(false));
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = {
        let blocked = Arc::clone(&blocked);
        let fifos = fifos.to_vec();
        thread::spawn(move || {
            if finished.recv_timeout(BLOCKED) == Err(mpsc::RecvTimeoutError::Timeout) {
                blocked.store(true, Ordering::SeqCst);
                for fifo in &fifos {
                    let _ = OpenOptions::new()
                        .read(true)
                        .write(true)
                        .custom_flags(libc::O_NONBLOCK)
                        .open(fifo);
                }
            }
        })
    };
    let value = f();
    drop(done);
    watchdog.join().unwrap();
    (value, blocked.load(Ordering::SeqCst))
}

fn run_case(case: &Value, title: &str) {
    only_fields(case, &["name", "setup", "steps"], title);
    let mut ground = Ground::new();
    for item in case["setup"].as_array().into_iter().flatten() {
        ground.make(item);
    }
    for (index, step) in case["steps"].as_array().expect("steps").iter().enumerate() {
        let context = format!("{title}: step {} ({})", index + 1, step["op"]);
        only_fields(
            step,
            &["op", "key", "expected", "replacement", "expect"],
            &context,
        );
        let expect = &step["expect"];
        only_fields(
            expect,
            &["outcome", "found", "error_contains", "paths"],
            &context,
        );
        let (got, blocked) = guarded(&ground.fifos, || perform(&ground.store, step));
        assert!(
            !blocked,
            "{context}: blocked for {BLOCKED:?} on a FIFO ({got:?})"
        );
        let outcome = match &got {
            Got::Found(_) => "found",
            Got::Swapped => "swapped",
            Got::Conflict(_) => "conflict",
            Got::Error(_) => "error",
        };
        let want = expect["outcome"].as_str().expect("outcome");
        assert_eq!(outcome, want, "{context}: outcome {got:?}");
        match &got {
            Got::Error(message) => {
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
        for (at, want) in expect["paths"].as_object().into_iter().flatten() {
            ground.check(at, want, &context);
        }
    }
}
