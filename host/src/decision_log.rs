//! The `decision-log` import: the lines the component composes, appended to a file beside the
//! store on this machine, and read back for people (`session-lock log`, `doctor`).
//!
//! The log is `<dir>/session-lock-decisions.jsonl`, where `<dir>` is the file store's
//! directory (for etcd, [`settings::lock_dir`] on this machine), mode 0600. Each line is
//! appended in one `write(2)` on a descriptor opened with `O_APPEND`, so that lines written by
//! any number of hooks at once never tear or mix: the kernel serialises appends to a regular
//! file, and a line is at most [`MAX_LINE_BYTES`]. Past [`MAX_LOG_BYTES`] the file is renamed
//! to `session-lock-decisions.1.jsonl` (the one older file kept), under an exclusive `flock` on
//! the full file so that two writers never rotate twice; a writer still holding the old file
//! finishes its line there, so no line is lost. Nothing is opened until the component appends,
//! so a hook that decides nothing worth logging costs nothing more.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::settings;
use crate::stores::AnyStore;

/// The most bytes of one line, newline included (the component keeps its lines below it).
pub const MAX_LINE_BYTES: usize = 4096;

/// The size past which the log is rotated.
pub const MAX_LOG_BYTES: u64 = 1 << 20;

/// The log's file name.
pub const LOG_FILE: &str = "session-lock-decisions.jsonl";

/// The one older log kept by rotation.
pub const ROTATED_FILE: &str = "session-lock-decisions.1.jsonl";

/// Where the component's decision lines go.
pub trait DecisionSink: Send {
    /// Appends one line (JSON, no newline); the error is one line for people.
    fn append(&mut self, line: &str) -> Result<(), String>;
}

/// The decision log in one directory.
#[derive(Debug, Clone)]
pub struct LogFile {
    dir: PathBuf,
}

impl LogFile {
    /// The log in `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        LogFile { dir: dir.into() }
    }

    /// The log beside `store` on this machine: in the file store's directory; for etcd, in
    /// this machine's lock directory (for no usable store too, so that its fail-opens are
    /// logged). `None` when no directory can be named.
    pub fn beside(store: &AnyStore) -> Option<Self> {
        match store {
            AnyStore::Files(files) => Some(LogFile::in_dir(files.dir())),
            AnyStore::Etcd(_) | AnyStore::Unusable(_) => {
                settings::lock_dir().ok().map(LogFile::in_dir)
            }
        }
    }

    /// The log the environment names (`SESSION_LOCK_STORE`, `SESSION_LOCK_DIR`), as the hook
    /// writes it.
    pub fn from_env() -> Result<Self, String> {
        let store = AnyStore::open()?;
        LogFile::beside(&store).ok_or_else(|| "no directory to keep the decision log in".into())
    }

    /// The current log file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// The older, rotated log file.
    pub fn rotated_path(&self) -> PathBuf {
        self.dir.join(ROTATED_FILE)
    }

    /// Appends `line` and its newline in one write, rotating the log first when it is full.
    pub fn append_line(&self, line: &str) -> Result<(), String> {
        if line.len() >= MAX_LINE_BYTES || line.contains('\n') {
            return Err(format!(
                "a decision line must be one line below {MAX_LINE_BYTES} bytes"
            ));
        }
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        let mut file = self.open_for_append()?;
        if file.metadata().map_err(text)?.len() >= MAX_LOG_BYTES {
            self.rotate(&file)?;
            file = self.open_for_append()?;
        }
        // One write: a short write to a regular file means the disk is full, and then the
        // line is lost rather than continued by a second write another writer could split.
        let written = io::Write::write(&mut file, &bytes).map_err(text)?;
        if written != bytes.len() {
            return Err(format!(
                "the decision log took {written} of {} bytes",
                bytes.len()
            ));
        }
        Ok(())
    }

    fn open_for_append(&self) -> Result<File, String> {
        // Checked as the store checks it: a lock directory the hook refuses (another user's,
        // writable by others, relative) gets no log either, and is never created.
        crate::lock_dir::open(&self.dir, true)
            .map_err(|refusal| format!("not logging: {refusal}"))?
            .ok_or_else(|| format!("cannot create {}", self.dir.display()))?;
        let path = self.path();
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        if !file.metadata().map_err(text)?.is_file() {
            return Err(format!("{} is not a regular file", path.display()));
        }
        Ok(file)
    }

    /// Renames the full log `file` aside, unless another writer already did.
    fn rotate(&self, file: &File) -> Result<(), String> {
        file.lock().map_err(text)?;
        let full = file.metadata().map_err(text)?;
        let still_current = fs::symlink_metadata(self.path())
            .is_ok_and(|now| now.ino() == full.ino() && now.dev() == full.dev());
        let result = if still_current {
            fs::rename(self.path(), self.rotated_path()).map_err(text)
        } else {
            Ok(())
        };
        let _ = file.unlock();
        result
    }

    /// Every line kept, oldest first: the rotated file's, then the current one's. Lines that
    /// are not JSON objects are skipped.
    pub fn entries(&self) -> Result<Vec<serde_json::Value>, String> {
        let mut entries = Vec::new();
        for path in [self.rotated_path(), self.path()] {
            match File::open(&path) {
                Ok(file) => entries.extend(read_lines(BufReader::new(file))),
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
            }
        }
        Ok(entries)
    }
}

impl DecisionSink for LogFile {
    fn append(&mut self, line: &str) -> Result<(), String> {
        self.append_line(line)
    }
}

/// The JSON objects among `reader`'s lines.
pub fn read_lines(reader: impl BufRead) -> Vec<serde_json::Value> {
    reader
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
        .filter(serde_json::Value::is_object)
        .collect()
}

/// A file being followed (`log --follow`): what was appended since the last look, across a
/// rotation.
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    inode: u64,
    pending: Vec<u8>,
}

impl Follower {
    /// Follows `path` from its current end.
    pub fn from_end(path: &Path) -> Self {
        let mut follower = Follower {
            path: path.to_owned(),
            file: None,
            inode: 0,
            pending: Vec::new(),
        };
        if let Ok(mut file) = File::open(path) {
            let _ = file.seek(SeekFrom::End(0));
            follower.inode = file.metadata().map_or(0, |m| m.ino());
            follower.file = Some(file);
        }
        follower
    }

    /// The whole lines appended since the last call. After a rotation, the old file's last
    /// lines come first, then the new file from its start.
    pub fn new_lines(&mut self) -> Vec<serde_json::Value> {
        let mut lines = self.drain();
        let now = fs::metadata(&self.path).map_or(0, |m| m.ino());
        if now != 0 && now != self.inode {
            self.file = File::open(&self.path).ok();
            self.inode = now;
            self.pending.clear();
            lines.extend(self.drain());
        }
        lines
    }

    fn drain(&mut self) -> Vec<serde_json::Value> {
        let Some(file) = &mut self.file else {
            return Vec::new();
        };
        let _ = io::Read::read_to_end(file, &mut self.pending);
        let Some(end) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return Vec::new();
        };
        let complete: Vec<u8> = self.pending.drain(..=end).collect();
        read_lines(&complete[..])
    }
}

fn text(error: io::Error) -> String {
    error.to_string()
}
