//! The lock directory, opened once, and only when it is the user's own.
//!
//! Whoever can write in the lock directory, or rename it or any directory above it, can delete
//! a lock, plant one that never frees, or move another directory in its place: the lock would
//! then hold for nobody. So [`open`] walks the path from `/` one directory at a time, each
//! opened relative to the one before without following a symlink, and checks each as it is
//! opened:
//!
//! - on the way, a directory must belong to root or to the effective user, and be writable by
//!   nobody else, unless it has the sticky bit (`/tmp`): there, nobody else can rename or
//!   delete what is ours;
//! - the lock directory itself must belong to the effective user and be writable by nobody
//!   else, and must not be a symlink;
//! - a symlink on the way is followed by reading it (it lies in a directory already checked)
//!   and walking its target the same way, so every directory the path passes through is
//!   checked, not only where it ends;
//! - a relative path is refused: it would name another directory from every working
//!   directory, so every session would have its own lock.
//!
//! The store then works relative to the descriptor [`open`] returns (`openat`, `renameat`,
//! `unlinkat`), so the directory it checked is the one it uses, whatever is renamed later.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::visible::visible;

/// How many symlinks a path may pass through, as the kernel allows.
const MAX_SYMLINKS: usize = 40;

/// The lock directory, open.
#[derive(Debug)]
pub struct LockDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl LockDir {
    /// The open directory, for `*at` calls.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The path it was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why a lock directory is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The path is not absolute.
    Relative(PathBuf),
    /// The lock directory is a symlink.
    Symlink(PathBuf),
    /// Something on the path is not a directory.
    NotADirectory(PathBuf),
    /// The lock directory belongs to someone else.
    NotYours { path: PathBuf, owner: u32, you: u32 },
    /// The lock directory is writable by its group or by everyone.
    Writable { path: PathBuf, mode: u32 },
    /// A directory on the way belongs to someone else, or others can write in it (and it has
    /// no sticky bit).
    OthersCanRename {
        path: PathBuf,
        owner: u32,
        mode: u32,
    },
    /// The path passes through too many symlinks.
    TooManySymlinks(PathBuf),
    /// It cannot be opened, looked at or created.
    Failed { path: PathBuf, error: String },
}

impl Refusal {
    /// What to do about it, for people.
    pub fn fix(&self) -> String {
        let shown = |path: &Path| visible(&path.to_string_lossy());
        match self {
            Refusal::Relative(_) => "set SESSION_LOCK_DIR to an absolute path".into(),
            Refusal::Symlink(path) => format!(
                "set SESSION_LOCK_DIR to the directory itself, not the link {}",
                shown(path)
            ),
            Refusal::NotADirectory(path) => format!(
                "remove {}, or set SESSION_LOCK_DIR to a directory",
                shown(path)
            ),
            Refusal::NotYours { path, you, .. } => format!(
                "set SESSION_LOCK_DIR to a directory of yours, or `chown {you} {}`",
                shown(path)
            ),
            Refusal::Writable { path, .. } => format!("chmod 700 {}", shown(path)),
            Refusal::OthersCanRename { path, .. } => format!(
                "set SESSION_LOCK_DIR to a directory whose parents only you (or root) can \
                 change, or `chmod go-w {}`",
                shown(path)
            ),
            Refusal::TooManySymlinks(_) | Refusal::Failed { .. } => {
                "set SESSION_LOCK_DIR to a directory of yours".into()
            }
        }
    }
}

impl fmt::Display for Refusal {
    /// One line: what is wrong, and that the hook does not use the directory.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |path: &Path| visible(&path.to_string_lossy());
        match self {
            Refusal::Relative(path) => write!(
                f,
                "the lock directory {} is a relative path, which names another directory from \
                 every working directory",
                shown(path)
            ),
            Refusal::Symlink(path) => write!(f, "the lock directory {} is a symlink", shown(path)),
            Refusal::NotADirectory(path) => write!(f, "{} is not a directory", shown(path)),
            Refusal::NotYours { path, owner, you } => write!(
                f,
                "the lock directory {} belongs to uid {owner}, not to you (uid {you})",
                shown(path)
            ),
            Refusal::Writable { path, mode } => write!(
                f,
                "the lock directory {} has mode {mode:04o}: others can write in it",
                shown(path)
            ),
            Refusal::OthersCanRename { path, owner, mode } => write!(
                f,
                "{} (uid {owner}, mode {mode:04o}), above the lock directory, can be changed by \
                 others, who could swap the lock directory",
                shown(path)
            ),
            Refusal::TooManySymlinks(path) => {
                write!(f, "{} passes through too many symlinks", shown(path))
            }
            Refusal::Failed { path, error } => {
                write!(f, "cannot open the lock directory {}: {error}", shown(path))
            }
        }
    }
}

/// Opens the lock directory `path` after checking it and every directory on the way (see the
/// module's documentation). `Ok(None)`: it does not exist and `create` is false. With
/// `create`, missing directories are created, mode 0700 whatever the umask.
pub fn open(path: &Path, create: bool) -> Result<Option<LockDir>, Refusal> {
    walk(path, create.then_some(Mode::RWXU))
}

/// A directory only the user can change at `path`, checked as the lock directory is: for
/// the folder of the binary the hooks run (whoever could write there could replace it).
/// Missing directories are created with exactly `mode` (0755: others may read, never write).
pub fn own_dir(path: &Path, mode: u32) -> Result<LockDir, Refusal> {
    // `mode_t` is 32 bits on Linux and 16 on macOS; permission bits fit in either.
    let mode = Mode::from_raw_mode((mode & 0o755) as rustix::fs::RawMode);
    walk(path, Some(mode))?.ok_or_else(|| Refusal::Failed {
        path: path.to_path_buf(),
        error: "it was not created".into(),
    })
}

/// [`open`] and [`own_dir`]: `create` is the mode of the directories created, if any.
fn walk(path: &Path, create: Option<Mode>) -> Result<Option<LockDir>, Refusal> {
    if !path.is_absolute() {
        return Err(Refusal::Relative(path.to_path_buf()));
    }
    let euid = unsafe { libc::geteuid() };
    let failed = |at: &Path, e: Errno| Refusal::Failed {
        path: at.to_path_buf(),
        error: io::Error::from(e).to_string(),
    };
    let root = Path::new("/");
    let open_root = || {
        rfs::open(root, dir_flags(), Mode::empty())
            .map_err(|e| failed(root, e))
            .and_then(|fd| on_the_way(fd, root, euid))
    };
    let mut here = open_root()?;
    let mut at = PathBuf::from("/");
    let mut left: VecDeque<OsString> = names(path);
    let mut links = 0;
    while let Some(name) = left.pop_front() {
        let last = left.is_empty();
        if name == ".." {
            // The parent of a checked directory: reached by the kernel, checked again.
            at.pop();
            let fd =
                rfs::openat(&here, "..", dir_flags(), Mode::empty()).map_err(|e| failed(&at, e))?;
            here = if last {
                the_lock_dir(fd, &at, euid)?
            } else {
                on_the_way(fd, &at, euid)?
            };
            continue;
        }
        let next = at.join(&name);
        match rfs::openat(&here, name.as_os_str(), dir_flags(), Mode::empty()) {
            Ok(fd) => {
                here = if last {
                    the_lock_dir(fd, &next, euid)?
                } else {
                    on_the_way(fd, &next, euid)?
                };
                at = next;
            }
            Err(Errno::LOOP | Errno::NOTDIR) => {
                let stat = rfs::statat(&here, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| failed(&next, e))?;
                if FileType::from_raw_mode(stat.st_mode) != FileType::Symlink {
                    return Err(Refusal::NotADirectory(next));
                }
                if last {
                    return Err(Refusal::Symlink(next));
                }
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Refusal::TooManySymlinks(path.to_path_buf()));
                }
                let target = rfs::readlinkat(&here, name.as_os_str(), Vec::new())
                    .map_err(|e| failed(&next, e))?;
                let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
                for part in names(&target).into_iter().rev() {
                    left.push_front(part);
                }
                if target.is_absolute() {
                    here = open_root()?;
                    at = PathBuf::from("/");
                }
            }
            Err(Errno::NOENT) if create.is_some() => {
                let mode = create.unwrap_or(Mode::RWXU);
                match rfs::mkdirat(&here, name.as_os_str(), mode) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(failed(&next, e)),
                }
                // Opened and checked as any other: created by someone else in between, it is
                // judged as theirs. The mode is set exactly, since mkdir's is masked by the umask.
                let fd = rfs::openat(&here, name.as_os_str(), dir_flags(), Mode::empty())
                    .map_err(|e| failed(&next, e))?;
                if rfs::fstat(&fd).map_err(|e| failed(&next, e))?.st_uid == euid {
                    rfs::fchmod(&fd, mode).map_err(|e| failed(&next, e))?;
                }
                here = if last {
                    the_lock_dir(fd, &next, euid)?
                } else {
                    on_the_way(fd, &next, euid)?
                };
                at = next;
            }
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(failed(&next, e)),
        }
    }
    // Every walk that ends has checked its last directory as the lock directory, but for
    // `/` itself, which had no name to walk.
    let fd = if names(path).is_empty() {
        the_lock_dir(here, &at, euid)?
    } else {
        here
    };
    Ok(Some(LockDir {
        fd,
        path: path.to_path_buf(),
    }))
}

/// `O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC`, read-only: a directory, never through a symlink.
fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// The names of `path` after its root (`.` dropped, `..` kept).
fn names(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|part| match part {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

/// `fd` when the directory it is may lie on the way to the lock directory.
fn on_the_way(fd: OwnedFd, path: &Path, euid: u32) -> Result<OwnedFd, Refusal> {
    let stat = rfs::fstat(&fd).map_err(|e| Refusal::Failed {
        path: path.to_path_buf(),
        error: io::Error::from(e).to_string(),
    })?;
    let mode = stat.st_mode as u32 & 0o7777;
    let owner_ok = stat.st_uid == 0 || stat.st_uid == euid;
    let others_write = mode & 0o022 != 0;
    let sticky = mode & 0o1000 != 0;
    if !owner_ok || (others_write && !sticky) {
        return Err(Refusal::OthersCanRename {
            path: path.to_path_buf(),
            owner: stat.st_uid,
            mode,
        });
    }
    Ok(fd)
}

/// `fd` when the directory it is may be the lock directory.
fn the_lock_dir(fd: OwnedFd, path: &Path, euid: u32) -> Result<OwnedFd, Refusal> {
    let stat = rfs::fstat(&fd).map_err(|e| Refusal::Failed {
        path: path.to_path_buf(),
        error: io::Error::from(e).to_string(),
    })?;
    let mode = stat.st_mode as u32 & 0o7777;
    if stat.st_uid != euid {
        return Err(Refusal::NotYours {
            path: path.to_path_buf(),
            owner: stat.st_uid,
            you: euid,
        });
    }
    if mode & 0o022 != 0 {
        return Err(Refusal::Writable {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(fd)
}
