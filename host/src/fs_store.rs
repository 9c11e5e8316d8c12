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
//!
//! The directory is opened once per store, and only when it is the user's own
//! ([`crate::lock_dir`]); every file in it is then opened, renamed and removed relative to that
//! descriptor, so the directory checked is the one used. A directory that is refused fails
//! every call with the reason and a pointer to `session-lock doctor`.

use std::cell::RefCell;
use std::fs::{File, TryLockError};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::component::lock_store::{self, StoreError, SwapOutcome};
use crate::lock_dir::{self, LockDir};
use crate::visible::visible;

/// Records larger than this are refused unread: a lock record is about 150 bytes.
pub const MAX_RECORD_BYTES: u64 = 64 * 1024;

/// How long a swap waits for another process's swap to finish before it gives up.
pub const MUTEX_WAIT: Duration = Duration::from_millis(500);

/// Lock records in one directory.
#[derive(Debug, Clone)]
pub struct FsLockStore {
    dir: PathBuf,
    /// The directory once opened and checked (it is not opened until a call needs it).
    opened: RefCell<Option<Arc<LockDir>>>,
}

impl FsLockStore {
    /// A store in `dir` (created, mode 0700, on the first write; checked on the first call).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FsLockStore {
            dir: dir.into(),
            opened: RefCell::new(None),
        }
    }

    /// The directory, opened and checked on the first call that needs it; `None` when it does
    /// not exist (and `create` is false).
    fn open_dir(&self, create: bool) -> Result<Option<Arc<LockDir>>, String> {
        if let Some(dir) = self.opened.borrow().as_ref() {
            return Ok(Some(Arc::clone(dir)));
        }
        match lock_dir::open(&self.dir, create) {
            Ok(Some(dir)) => {
                let dir = Arc::new(dir);
                *self.opened.borrow_mut() = Some(Arc::clone(&dir));
                Ok(Some(dir))
            }
            Ok(None) => Ok(None),
            Err(refusal) => Err(format!(
                "not using the lock directory: {refusal}; `session-lock doctor` says how to fix it"
            )),
        }
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

    /// The record of `key`, or `None` when there is none.
    pub fn read(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        let key = valid_key(key)?;
        match self.open_dir(false)? {
            Some(dir) => read_record(&In::new(&dir, record_name(key))),
            None => Ok(None),
        }
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
        let key = valid_key(key)?;
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
        let dir = self
            .open_dir(true)?
            .ok_or_else(|| "the lock directory could not be created".to_string())?;
        let path = In::new(&dir, record_name(key));
        let mutex = In::new(&dir, format!("session-lock-{key}.mutex"));
        let _mutex = lock_mutex(open_mutex(&mutex)?, &mutex.shown())?;
        let current = read_record(&path)?;
        if current.as_deref() != expected {
            return Ok(SwapOutcome::Conflict(current));
        }
        match replacement {
            Some(bytes) => publish(
                &In::new(&dir, format!(".session-lock-{key}.tmp")),
                &path,
                bytes,
            )?,
            None if current.is_some() => remove(&path)?,
            None => {}
        }
        Ok(SwapOutcome::Swapped)
    }

    /// The keys of every record in the directory (none when it does not exist).
    pub fn keys(&self) -> Result<Vec<String>, String> {
        let Some(dir) = self.open_dir(false)? else {
            return Ok(Vec::new());
        };
        let failed = |e: Errno| {
            format!(
                "cannot list {}: {}",
                visible(&self.dir.to_string_lossy()),
                io::Error::from(e)
            )
        };
        // A second descriptor of the same directory: listing moves its offset.
        let listed = rfs::openat(dir.fd(), ".", dir_flags(), Mode::empty()).map_err(failed)?;
        let mut entries = rfs::Dir::read_from(&listed).map_err(failed)?;
        let mut keys = Vec::new();
        while let Some(entry) = entries.read() {
            let entry = entry.map_err(failed)?;
            let name = entry.file_name().to_str().ok();
            let key = name
                .and_then(|n| n.strip_prefix("session-lock-"))
                .and_then(|n| n.strip_suffix(".json"));
            if let Some(key) = key.filter(|k| valid_key(k).is_ok()) {
                keys.push(key.to_owned());
            }
        }
        Ok(keys)
    }
}

/// `session-lock-<key>.json`.
fn record_name(key: &str) -> String {
    format!("session-lock-{key}.json")
}

/// A file of the open lock directory: the directory's descriptor and the file's name, and the
/// path to show people.
struct In<'d> {
    dir: BorrowedFd<'d>,
    name: String,
    path: PathBuf,
}

impl<'d> In<'d> {
    fn new(dir: &'d LockDir, name: String) -> In<'d> {
        In {
            dir: dir.fd(),
            path: dir.path().join(&name),
            name,
        }
    }

    /// The path, for people.
    fn shown(&self) -> PathBuf {
        PathBuf::from(visible(&self.path.to_string_lossy()))
    }

    /// Opens the file relative to the directory, never following a symlink, never blocking.
    fn open(&self, flags: OFlags, mode: Mode) -> io::Result<File> {
        let flags = flags | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        Ok(File::from(rfs::openat(
            self.dir,
            self.name.as_str(),
            flags,
            mode,
        )?))
    }
}

/// `O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC`, read-only.
fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
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
fn read_record(path: &In) -> Result<Option<Vec<u8>>, String> {
    let shown = path.shown();
    let shown = shown.display();
    let file = path.open(OFlags::RDONLY, Mode::empty());
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
fn publish(temp: &In, path: &In, bytes: &[u8]) -> Result<(), String> {
    clear(temp)?;
    let failed = |e: io::Error| format!("cannot write {}: {e}", path.shown().display());
    let mut file = temp
        .open(
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
            Mode::RUSR | Mode::WUSR,
        )
        .map_err(failed)?;
    // The create mode is masked by the umask; the record must be exactly 0600 whatever it is.
    rfs::fchmod(file.as_fd(), Mode::RUSR | Mode::WUSR).map_err(|e| failed(e.into()))?;
    file.write_all(bytes).map_err(failed)?;
    drop(file);
    rfs::renameat(temp.dir, temp.name.as_str(), path.dir, path.name.as_str())
        .map_err(|e| failed(e.into()))
}

/// Removes whatever is at `temp` without following a symlink: a file, FIFO or symlink is
/// unlinked (a symlink's target is never touched), a directory removed with its contents
/// (`remove_dir_all` unlinks the symlinks inside rather than following them).
fn clear(temp: &In) -> Result<(), String> {
    let removed = match rfs::statat(temp.dir, temp.name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {
            remove_tree(temp.dir, temp.name.as_str(), 0)
        }
        Ok(_) => rfs::unlinkat(temp.dir, temp.name.as_str(), AtFlags::empty()),
        Err(e) => Err(e),
    };
    match removed {
        Err(e) if e != Errno::NOENT => Err(format!(
            "cannot remove {}: {}",
            temp.shown().display(),
            io::Error::from(e)
        )),
        _ => Ok(()),
    }
}

/// How deep a directory planted at the temporary path may be and still be removed.
const MAX_TREE_DEPTH: usize = 32;

/// Removes the directory `name` in `parent` with everything in it, relative to descriptors and
/// never following a symlink (a symlink inside is unlinked, its target untouched).
fn remove_tree(parent: BorrowedFd<'_>, name: &str, depth: usize) -> rustix::io::Result<()> {
    if depth > MAX_TREE_DEPTH {
        return Err(Errno::NAMETOOLONG);
    }
    let dir = rfs::openat(parent, name, dir_flags(), Mode::empty())?;
    let mut entries = rfs::Dir::read_from(&dir)?;
    let mut names = Vec::new();
    while let Some(entry) = entries.read() {
        let entry = entry?;
        let entry_name = entry.file_name().to_bytes();
        if entry_name != b"." && entry_name != b".." {
            names.push((entry.file_name().to_owned(), entry.file_type()));
        }
    }
    for (entry_name, kind) in names {
        let kind = match kind {
            FileType::Unknown => {
                let stat = rfs::statat(&dir, entry_name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)?;
                FileType::from_raw_mode(stat.st_mode)
            }
            kind => kind,
        };
        if kind == FileType::Directory {
            let text = entry_name.to_str().map_err(|_| Errno::INVAL)?;
            remove_tree(dir.as_fd(), text, depth + 1)?;
        } else {
            rfs::unlinkat(&dir, entry_name.as_c_str(), AtFlags::empty())?;
        }
    }
    rfs::unlinkat(parent, name, AtFlags::REMOVEDIR)
}

fn remove(path: &In) -> Result<(), String> {
    match rfs::unlinkat(path.dir, path.name.as_str(), AtFlags::empty()) {
        Err(e) if e != Errno::NOENT => Err(format!(
            "cannot remove {}: {}",
            path.shown().display(),
            io::Error::from(e)
        )),
        _ => Ok(()),
    }
}

/// Opens (creating it, mode 0600) the mutex file, relative to the lock directory.
fn open_mutex(path: &In) -> Result<File, String> {
    path.open(OFlags::RDWR | OFlags::CREATE, Mode::RUSR | Mode::WUSR)
        .map_err(|e| format!("cannot open {}: {e}", path.shown().display()))
}

/// Takes the exclusive `flock` on the opened mutex file, waiting at most [`MUTEX_WAIT`]. The
/// lock is released when the returned file is dropped, or by the kernel if the process dies. A
/// mutex still held by another writer after the wait is contention ([`StoreError::Busy`]), not
/// a fault.
fn lock_mutex(file: File, path: &Path) -> Result<File, StoreError> {
    let shown = path.display();
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
