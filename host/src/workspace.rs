//! Resolving paths on this filesystem: symlinks, and the git work tree a path lies in. Which
//! workspace a path belongs to is the component's rule; this module only gathers the facts.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::component::ResolvedPath;
use crate::settings::{self, Identity};

/// The file in a work tree's git directory that holds its checkout id.
pub const CHECKOUT_ID_FILE: &str = "session-lock-id";

/// The workspace of `dir`: `dir` with symlinks resolved, then the top of the git work tree it
/// lies in (the nearest ancestor holding `.git`, a folder or, in a linked worktree or
/// submodule, a file), if any. So `repo/` and `repo/sub/` share a workspace, and separate
/// worktrees do not. (The commands a person runs name a workspace by a directory in it.)
pub fn resolve(dir: &Path) -> Result<PathBuf, String> {
    let resolved = dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve workspace {}: {e}", dir.display()))?;
    Ok(git_top(&resolved).unwrap_or(resolved))
}

/// What the component needs to know of a path an event touches: its real path (for a path that
/// does not exist yet, its nearest existing ancestor's, with the rest appended), the git work
/// tree it lies in and, when `SESSION_LOCK_IDENTITY` is `checkout`, that work tree's checkout
/// id. `None` when not even `/` resolves, or when a checkout id is wanted and can be neither
/// read nor made (an unreadable or read-only git directory): naming that work tree by its path
/// instead would give one checkout two locks, so the component fails open and says so.
pub fn resolve_path(path: &str) -> Option<ResolvedPath> {
    let identity = settings::identity().unwrap_or(Identity::Path);
    resolve_path_as(path, identity)
}

/// [`resolve_path`] with the identity rule given.
pub fn resolve_path_as(path: &str, identity: Identity) -> Option<ResolvedPath> {
    let real_path = real_path(Path::new(path)).ok()?;
    let top = git_top(&real_path);
    let checkout_id = match (&top, identity) {
        (Some(top), Identity::Checkout) => Some(checkout_id(top).ok()?),
        _ => None,
    };
    Some(ResolvedPath {
        git_top: top.map(|top| as_text(&top)),
        real_path: as_text(&real_path),
        checkout_id,
    })
}

/// The workspace of `dir` (for people) and `dir` resolved as the hook resolves a path (for the
/// component's `hook.workspace-key`, which names the lock). For the commands a person runs
/// (`status`, `release`, `hash`), so that they find the lock the hook took.
pub fn resolve_directory(dir: &Path) -> Result<(PathBuf, ResolvedPath), String> {
    let workspace = resolve(dir)?;
    let text = as_text(&workspace);
    let resolved = resolve_path(&text).ok_or_else(|| {
        format!(
            "cannot name the checkout at {text}: its {CHECKOUT_ID_FILE} can be neither read \
             nor created"
        )
    })?;
    Ok((workspace, resolved))
}

/// The git directory of the work tree at `top`: `top/.git` when it is a directory; when it is
/// a file (a linked worktree or a submodule), the directory its `gitdir: <path>` line names,
/// relative to `top` unless absolute.
pub fn git_dir(top: &Path) -> io::Result<PathBuf> {
    let dot_git = top.join(".git");
    if fs::metadata(&dot_git)?.is_dir() {
        return Ok(dot_git);
    }
    let mut text = String::new();
    fs::File::open(&dot_git)?
        .take(4096)
        .read_to_string(&mut text)?;
    let named = text
        .lines()
        .find_map(|line| line.strip_prefix("gitdir:"))
        .map(str::trim)
        .filter(|path| !path.is_empty())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} names no gitdir", dot_git.display()),
            )
        })?;
    Ok(top.join(named))
}

/// The checkout id of the work tree at `top`, kept in `<gitdir>/session-lock-id` (inside the
/// git directory: never committed, moved with the checkout, and a separate clone has its
/// own). The first to ask makes it: 16 random bytes, in hex, written whole to a temporary file
/// that is then hard-linked to the final name, so no reader ever sees an empty or partial id;
/// if another process linked first, its id is the one.
pub fn checkout_id(top: &Path) -> io::Result<String> {
    let dir = git_dir(top)?;
    let path = dir.join(CHECKOUT_ID_FILE);
    match read_id(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        read => return read,
    }
    let id = random_id()?;
    let temp = dir.join(format!(".{CHECKOUT_ID_FILE}.{id}.tmp"));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&temp)?;
        file.write_all(format!("{id}\n").as_bytes())?;
        file.sync_all()?;
        fs::hard_link(&temp, &path)
    })();
    let _ = fs::remove_file(&temp);
    match written {
        Ok(()) => Ok(id),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_id(&path),
        Err(e) => Err(e),
    }
}

/// An id file's id: one line of 1 to 128 letters, digits, `-` or `_` (a person may set one by
/// hand, to make two clones one workspace).
fn read_id(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    fs::File::open(path)?.take(4096).read_to_string(&mut text)?;
    let id = text.trim();
    let good = (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if good {
        Ok(id.to_owned())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} does not hold a checkout id", path.display()),
        ))
    }
}

/// 128 random bits from `/dev/urandom`, in hex.
fn random_id() -> io::Result<String> {
    let mut bytes = [0u8; 16];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `path` with symlinks resolved, through its nearest existing ancestor.
fn real_path(path: &Path) -> io::Result<PathBuf> {
    let mut existing = path;
    let mut missing = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(real) => return Ok(missing.iter().rev().fold(real, |p, name| p.join(name))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
                    return Err(e);
                };
                missing.push(name);
                existing = parent;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The nearest ancestor of `path` (itself included) holding `.git`.
fn git_top(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|candidate| candidate.join(".git").symlink_metadata().is_ok())
        .map(Path::to_path_buf)
}

/// A resolved path as the component reads it (its hash names the lock).
pub fn as_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_not_yet_written_resolves_through_its_nearest_ancestor() {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().canonicalize().unwrap().join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        let new_file = repo.join("new/dir/file.txt");
        let resolved = resolve_path(&as_text(&new_file)).unwrap();
        assert_eq!(resolved.real_path, as_text(&new_file));
        assert_eq!(resolved.git_top, Some(as_text(&repo)));
        let outside = resolve_path(&as_text(&root.path().join("loose.txt"))).unwrap();
        assert_eq!(outside.git_top, None);
    }

    #[test]
    fn a_checkout_id_is_made_once_in_the_git_dir_and_kept() {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().canonicalize().unwrap().join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        let file = as_text(&repo.join("src/a.rs"));
        let first = resolve_path_as(&file, Identity::Checkout).unwrap();
        let id = first.checkout_id.clone().unwrap();
        assert_eq!(id.len(), 32);
        assert_eq!(
            std::fs::read_to_string(repo.join(".git").join(CHECKOUT_ID_FILE)).unwrap(),
            format!("{id}\n")
        );
        assert_eq!(resolve_path_as(&file, Identity::Checkout), Some(first));
        assert_eq!(
            resolve_path_as(&file, Identity::Path).unwrap().checkout_id,
            None
        );
        // Nothing but the id is left in the git directory.
        let names: Vec<_> = std::fs::read_dir(repo.join(".git")).unwrap().collect();
        assert_eq!(names.len(), 1);
        // Outside a work tree there is no checkout.
        let loose = resolve_path_as(&as_text(&root.path().join("x")), Identity::Checkout);
        assert_eq!(loose.unwrap().checkout_id, None);
    }

    #[test]
    fn a_linked_worktree_has_the_id_of_the_git_dir_its_dot_git_file_names() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("main/.git/worktrees/wt")).unwrap();
        std::fs::create_dir_all(root.join("wt")).unwrap();
        std::fs::write(root.join("wt/.git"), "gitdir: ../main/.git/worktrees/wt\n").unwrap();
        assert_eq!(
            git_dir(&root.join("wt")).unwrap(),
            root.join("wt/../main/.git/worktrees/wt")
        );
        let id = checkout_id(&root.join("wt")).unwrap();
        assert!(
            root.join("main/.git/worktrees/wt")
                .join(CHECKOUT_ID_FILE)
                .exists()
        );
        assert_ne!(checkout_id(&root.join("main")).unwrap(), id);
        std::fs::write(root.join("wt/.git"), "nonsense").unwrap();
        assert!(checkout_id(&root.join("wt")).is_err());
    }

    #[test]
    fn racing_processes_agree_on_one_id() {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        let ids: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| checkout_id(&repo).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    }
}
