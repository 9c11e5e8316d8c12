//! The store-conformance suite (`tests/store-conformance/*.json`, described in its README.md)
//! run against the filesystem lock store, `FsLockStore`, called directly. The Node store runs
//! the same files in `hosts/node/test/store-conformance.test.js`.

#[path = "support/store_cases.rs"]
mod store_cases;

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use serde_json::{Map, Value};
use session_lock::component::lock_store::{StoreError, SwapOutcome};
use session_lock::fs_store::FsLockStore;
use store_cases::{
    BUSY, CaseStore, KEY, assert_bytes, bytes_of, check_outcome, only_fields, perform, step_context,
};

/// How long a step may take before the runner wakes it from a FIFO and calls it blocked.
const BLOCKED: Duration = Duration::from_secs(2);

#[test]
fn every_store_conformance_case_passes() {
    store_cases::run_every_case(|case, title| {
        run_case(case, title);
        true
    });
}

impl CaseStore for FsLockStore {
    fn read(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        FsLockStore::read(self, key)
    }

    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        replacement: Option<&[u8]>,
    ) -> Result<SwapOutcome, String> {
        FsLockStore::compare_and_swap(self, key, expected, replacement).map_err(|e| match e {
            StoreError::Busy(why) => format!("{BUSY}{why}"),
            StoreError::Failed(why) => why,
        })
    }
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
    /// Files whose `flock` the case holds, as another process would, until it ends.
    held: Vec<fs::File>,
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
            held: Vec::new(),
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
            "held" => {
                // A file description of its own: its `flock` excludes the store's as another
                // process's would.
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .open(&target)
                    .unwrap();
                file.try_lock().expect("the setup takes the flock");
                self.held.push(file);
            }
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
    let mut ground = Ground::new();
    for item in case["setup"].as_array().into_iter().flatten() {
        ground.make(item);
    }
    for (index, step) in case["steps"].as_array().expect("steps").iter().enumerate() {
        let context = step_context(title, index, step);
        let mut store = ground.store.clone();
        let (got, blocked) = guarded(&ground.fifos, || perform(&mut store, step));
        assert!(
            !blocked,
            "{context}: blocked for {BLOCKED:?} on a FIFO ({got:?})"
        );
        let expect = &step["expect"];
        check_outcome(&got, expect, &context);
        for (at, want) in expect["paths"].as_object().into_iter().flatten() {
            ground.check(at, want, &context);
        }
    }
}
