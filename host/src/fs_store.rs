//! The `lock-store` import on the real filesystem.
//!
//! Lock `key` lives in `<dir>/session-lock-<key>.json`. A swap runs under an exclusive `flock`
//! on `<dir>/session-lock-<key>.mutex` (held for microseconds, never deleted, so waiters can
//! never be split across two inodes), compares the record with the expected bytes, and then
//! publishes the replacement whole: written to `<dir>/.session-lock-<key>.tmp` and renamed over
//! the record. Readers take no lock; rename makes them see the old record or the new one.
//!
//! Only the mutex holder writes the temporary file, so one fixed name per key is enough, and
//! leftovers can never accumulate. Whatever the writer finds at that name is junk, whether a
//! process killed mid-write left it or anyone planted it (a FIFO, a directory, a symlink, a
//! file with other modes): the writer removes it first, never following a symlink (a
//! directory is removed with its contents, the symlinks among them unlinked, not followed),
//! then creates the file afresh and exclusively (`O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK`),
//! mode 0600, so junk there heals at the next write instead of wedging every write after it.
//! There is no `fsync`: a lock need not outlive the machine, and losing the last write on power
//! loss only makes the lock look older or free.

use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::component::lock_store::{self, StoreError, SwapOutcome};

/// Records larger than this are refused unread: a lock record is about 150 bytes.
pub const MAX_RECORD_BYTES: u64 = 64 * 1024;

/// How long a swap waits for another process's swap to finish before it gives up.
pub const MUTEX_WAIT: Duration = Duration::from_millis(500);

/// Lock records in one directory.
#[derive(Debug, Clone)]
pub struct FsLockStore {
    dir: PathBuf,
}

impl FsLockStore {
    /// A store in `dir` (created, mode 0700, on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FsLockStore { dir: dir.into() }
    }

    /// The directory holding the records.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The record file of `key`. Keys are 12 hex characters; anything else is refused, so no
    /// value from an event can ever reach a path.
    pub fn record_path(&self, key: &str) -> Result<PathBuf, String> {
        Ok(self
            .dir
            .join(format!("session-lock-{}.json", valid_key(key)?)))
    }

    fn mutex_path(&self, key: &str) -> Result<PathBuf, String> {
        Ok(self
            .dir
            .join(format!("session-lock-{}.mutex", valid_key(key)?)))
    }

    fn temp_path(&self, key: &str) -> Result<PathBuf, String> {
        Ok(self
            .dir
            .join(format!(".session-lock-{}.tmp", valid_key(key)?)))
    }

    /// The record of `key`, or `None` when there is none.
    pub fn read(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        read_record(&self.record_path(key)?)
    }

    /// Replaces the record of `key` by `replacement` (`None`: deletes it) if it holds exactly
    /// `expected`. A replacement larger than [`MAX_RECORD_BYTES`] is refused: it could never be
    /// read back. [`StoreError::Busy`] when another writer kept the mutex past [`MUTEX_WAIT`].
    pub fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        replacement: Option<&[u8]>,
    ) -> Result<SwapOutcome, StoreError> {
        let path = self.record_path(key)?;
        // A record the next read would refuse (an absurdly long session id) would wedge the
        // lock: nobody, its writer included, could read, release or take it over again.
        if let Some(bytes) = replacement
            && bytes.len() as u64 > MAX_RECORD_BYTES
        {
            return Err(format!(
                "refusing to write a lock record of {} bytes: reads stop at {MAX_RECORD_BYTES}",
                bytes.len()
            )
            .into());
        }
        self.create_dir()?;
        let _mutex = lock_mutex(&self.mutex_path(key)?)?;
        let current = read_record(&path)?;
        if current.as_deref() != expected {
            return Ok(SwapOutcome::Conflict(current));
        }
        match replacement {
            Some(bytes) => publish(&self.temp_path(key)?, &path, bytes)?,
            None if current.is_some() => remove(&path)?,
            None => {}
        }
        Ok(SwapOutcome::Swapped)
    }

    /// The keys of every record in the directory (none when it does not exist).
    pub fn keys(&self) -> Result<Vec<String>, String> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("cannot list {}: {e}", self.dir.display())),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", self.dir.display()))?;
            let name = entry.file_name();
            let key = name
                .to_str()
                .and_then(|n| n.strip_prefix("session-lock-"))
                .and_then(|n| n.strip_suffix(".json"));
            if let Some(key) = key.filter(|k| valid_key(k).is_ok()) {
                keys.push(key.to_owned());
            }
        }
        Ok(keys)
    }

    fn create_dir(&self) -> Result<(), String> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| format!("cannot create lock directory {}: {e}", self.dir.display()))
    }
}

impl lock_store::Host for FsLockStore {
    fn read(&mut self, key: String) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(FsLockStore::read(self, &key)?)
    }

    fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        replacement: Option<Vec<u8>>,
    ) -> Result<SwapOutcome, StoreError> {
        FsLockStore::compare_and_swap(self, &key, expected.as_deref(), replacement.as_deref())
    }

    fn keys(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(FsLockStore::keys(self)?)
    }
}

fn valid_key(key: &str) -> Result<&str, String> {
    if key.len() == 12 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(key)
    } else {
        Err(format!(
            "refusing lock key {key:?}: not 12 hexadecimal characters"
        ))
    }
}

/// Reads a record without following a symlink, without blocking on a FIFO, and without reading
/// more than [`MAX_RECORD_BYTES`].
fn read_record(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let shown = path.display();
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path);
    let file = match file {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(format!("lock path {shown} is a symlink; not followed"));
        }
        Err(e) => return Err(format!("cannot open {shown}: {e}")),
    };
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot stat {shown}: {e}"))?;
    if !metadata.is_file() {
        return Err(format!("lock path {shown} is not a regular file"));
    }
    if metadata.len() > MAX_RECORD_BYTES {
        return Err(format!(
            "lock file {shown} is larger than {MAX_RECORD_BYTES} bytes"
        ));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err(format!(
            "lock file {shown} is larger than {MAX_RECORD_BYTES} bytes"
        ));
    }
    Ok(Some(bytes))
}

/// Writes `bytes` to `temp` (under the mutex: no other writer uses it) and renames it over
/// `path`, mode 0600. Whatever sits at `temp` is removed first (see [`clear`]); the file is
/// then created exclusively, so a symlink or FIFO planted between the two steps makes the write
/// fail at once instead of being followed or blocking.
fn publish(temp: &Path, path: &Path, bytes: &[u8]) -> Result<(), String> {
    clear(temp)?;
    let failed = |e: io::Error| format!("cannot write {}: {e}", path.display());
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(temp)
        .map_err(failed)?;
    // `mode` is masked by the umask; the record must be exactly 0600 whatever the umask.
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(failed)?;
    file.write_all(bytes).map_err(failed)?;
    drop(file);
    fs::rename(temp, path).map_err(failed)
}

/// Removes whatever is at `temp` without following a symlink: a file, FIFO or symlink is
/// unlinked (a symlink's target is never touched), a directory removed with its contents
/// (`remove_dir_all` unlinks the symlinks inside rather than following them).
fn clear(temp: &Path) -> Result<(), String> {
    let removed = match fs::symlink_metadata(temp) {
        Ok(metadata) if metadata.is_dir() => fs::remove_dir_all(temp),
        Ok(_) => fs::remove_file(temp),
        Err(e) => Err(e),
    };
    match removed {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(format!("cannot remove {}: {e}", temp.display()))
        }
        _ => Ok(()),
    }
}

fn remove(path: &Path) -> Result<(), String> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(format!("cannot remove {}: {e}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Takes the exclusive `flock` on the mutex file, waiting at most [`MUTEX_WAIT`]. The lock is
/// released when the returned file is dropped, or by the kernel if the process dies. A mutex
/// still held by another writer after the wait is contention ([`StoreError::Busy`]), not a
/// fault.
fn lock_mutex(path: &Path) -> Result<File, StoreError> {
    let shown = path.display();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| format!("cannot open {shown}: {e}"))?;
    let started = Instant::now();
    let mut pause = Duration::from_micros(50);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if started.elapsed() < MUTEX_WAIT => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(4));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Busy(format!(
                    "{shown} stayed locked for {MUTEX_WAIT:?}"
                )));
            }
            Err(TryLockError::Error(e)) => return Err(format!("cannot lock {shown}: {e}").into()),
        }
    }
}
