//! Resolving paths on this filesystem: symlinks, and the git work tree a path lies in. Which
//! workspace a path belongs to is the component's rule; this module only gathers the facts.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::component::ResolvedPath;
use crate::settings::{self, Identity};

/// The file in a work tree's git directory that holds its checkout id.
pub const CHECKOUT_ID_FILE: &str = "session-lock-id";

/// The workspace of `dir`: `dir` with symlinks resolved, then the top of the git work tree it
/// lies in (the nearest ancestor holding `.git`, a folder or, in a linked worktree or
/// submodule, a file), if any. So `repo/` and `repo/sub/` share a workspace, and separate
/// worktrees do not. (The commands a person runs name a workspace by a directory in it.)
/// Gives up after [`DEADLINE`]: a path on a hung filesystem never hangs the command.
pub fn resolve(dir: &Path) -> Result<PathBuf, String> {
    let dir = dir.to_path_buf();
    within(DEADLINE, move || {
        let resolved = dir
            .canonicalize()
            .map_err(|e| format!("cannot resolve workspace {}: {e}", dir.display()))?;
        Ok(git_top(&resolved).unwrap_or(resolved))
    })?
}

/// How long a command a person runs waits for a workspace to resolve (its paths, `.git` and
/// checkout id read) before it says why it gives up.
pub const DEADLINE: Duration = Duration::from_secs(3);

/// Runs `work` on a thread of its own and waits at most `limit` for it: the commands a person
/// runs (`status`, `release`, `hash`, `doctor`, `install`) read paths in the workspace, and
/// none of them may hang for good on a filesystem that does not answer. A thread still stuck
/// is left behind; the command ends soon after.
pub fn within<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (sender, receiver) = mpsc::channel();
    thread::Builder::new()
        .name("resolve-workspace".into())
        .spawn(move || {
            let _ = sender.send(work());
        })
        .map_err(|e| format!("cannot start resolving the workspace: {e}"))?;
    receiver.recv_timeout(limit).map_err(|_| {
        format!(
            "resolving the workspace took longer than {}s (a path on a filesystem that does \
             not answer?)",
            limit.as_secs()
        )
    })
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
/// Gives up after [`DEADLINE`].
pub fn resolve_directory(dir: &Path) -> Result<(PathBuf, ResolvedPath), String> {
    let workspace = resolve(dir)?;
    let text = as_text(&workspace);
    let resolved = within(DEADLINE, move || resolve_path(&text))?.ok_or_else(|| {
        format!(
            "cannot name the checkout at {}: its {CHECKOUT_ID_FILE} can be neither read \
             nor created",
            workspace.display()
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
    let named = gitdir_line(&dot_git)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} names no gitdir", dot_git.display()),
        )
    })?;
    Ok(top.join(named))
}

/// The path a `.git` file's `gitdir: <path>` line names, if it has one. The file is read as
/// [`read_regular`] reads.
fn gitdir_line(dot_git: &Path) -> io::Result<Option<String>> {
    let text = read_regular(dot_git)?;
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix("gitdir:"))
        .map(str::trim)
        .filter(|path| !path.is_empty())
        .map(str::to_owned))
}

/// The first 4 KiB of the regular file at `path`, as text. Opened without following a
/// symlink and without blocking (`O_NOFOLLOW | O_NONBLOCK`), and refused unless it is a
/// regular file: a FIFO or device planted in a repository under a name this tool reads
/// (`.git`, the checkout id) must neither hang a hook nor be read through a link.
pub fn read_regular(path: &Path) -> io::Result<String> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a regular file", path.display()),
        ));
    }
    let mut text = String::new();
    file.take(4096).read_to_string(&mut text)?;
    Ok(text)
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
    let text = read_regular(path)?;
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

/// How many symlinks one path may pass through, as the kernel allows (`ELOOP` beyond).
const MAX_LINKS: usize = 40;

/// `path` as the kernel would write it: its longest existing prefix with symlinks resolved,
/// then the rest applied to that, `..` lexically against what it resolved to (so
/// `repo/new/../../other/x` lands in `other` once `new` is made); a dangling symlink is
/// followed to where a write through it would create its target.
fn real_path(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..=MAX_LINKS {
        match resolve_once(&path)? {
            Step::Done(real) => return Ok(real),
            Step::Again(next) => path = next,
        }
    }
    Err(io::Error::other(format!(
        "{} passes through more than {MAX_LINKS} symlinks",
        path.display()
    )))
}

/// One step of [`real_path`].
enum Step {
    /// The real path.
    Done(PathBuf),
    /// Resolve this path instead: a dangling symlink's target, or the rest applied past `..`
    /// (where it may meet existing directories and symlinks again).
    Again(PathBuf),
}

fn resolve_once(path: &Path) -> io::Result<Step> {
    let components: Vec<Component> = path.components().collect();
    for split in (1..=components.len()).rev() {
        let prefix: PathBuf = components[..split].iter().collect();
        let rest = &components[split..];
        match prefix.canonicalize() {
            Ok(real) => {
                let mut resolved = real;
                let mut climbed = false;
                for part in rest {
                    match part {
                        Component::ParentDir => {
                            resolved.pop();
                            climbed = true;
                        }
                        Component::CurDir => {}
                        part => resolved.push(part),
                    }
                }
                return Ok(match climbed {
                    true => Step::Again(resolved),
                    false => Step::Done(resolved),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // A symlink whose target does not exist: a write through it creates the target.
                let is_link = prefix.symlink_metadata().is_ok_and(|m| m.is_symlink());
                if is_link {
                    let target = fs::read_link(&prefix)?;
                    let dir = prefix.parent().unwrap_or(Path::new("/"));
                    let mut next = dir.join(target);
                    next.extend(rest);
                    return Ok(Step::Again(next));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("no part of {} exists", path.display()),
    ))
}

/// The nearest ancestor of `path` (itself included) that is the top of a git work tree.
fn git_top(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|candidate| is_work_tree_top(candidate))
        .map(Path::to_path_buf)
}

/// Whether `dir` holds a real `.git`: a directory (or a link to one) holding `HEAD`, or a
/// regular file with a `gitdir:` line (a linked worktree or a submodule). Anything else named
/// `.git` (an empty file, a FIFO, a stray link) does not split off a work tree of its own.
fn is_work_tree_top(dir: &Path) -> bool {
    let dot_git = dir.join(".git");
    let Ok(found) = dot_git.symlink_metadata() else {
        return false;
    };
    if found.is_file() {
        return gitdir_line(&dot_git).is_ok_and(|line| line.is_some());
    }
    let is_dir = found.is_dir() || (found.is_symlink() && dot_git.is_dir());
    is_dir && dot_git.join("HEAD").symlink_metadata().is_ok()
}

/// A resolved path as the component reads it (its hash names the lock).
pub fn as_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A `.git` directory as `git init` makes it (the part this tool reads: `HEAD`).
    fn init(repo: &Path) {
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::write(repo.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    }

    /// A temporary directory, its real path, and two work trees in it: `a` and `b`.
    fn two_repos() -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let real = root.path().canonicalize().unwrap();
        init(&real.join("a"));
        init(&real.join("b"));
        (root, real)
    }

    #[test]
    fn the_missing_part_of_a_path_applies_dot_dot_against_what_exists() {
        let (_root, root) = two_repos();
        let path = root.join("a/newdir/../../b/x.txt");
        let resolved = resolve_path(&as_text(&path)).unwrap();
        assert_eq!(resolved.real_path, as_text(&root.join("b/x.txt")));
        assert_eq!(resolved.git_top, Some(as_text(&root.join("b"))));
        // Past `..` the path meets existing directories again, and their links are followed.
        symlink(root.join("b"), root.join("a/to-b")).unwrap();
        let through = root.join("a/new/../to-b/new/y");
        let resolved = resolve_path(&as_text(&through)).unwrap();
        assert_eq!(resolved.real_path, as_text(&root.join("b/new/y")));
        // `..` past the root stays at the root, as the kernel's does.
        let top = resolve_path("/nonexistent-session-lock/../../../x").unwrap();
        assert_eq!(top.real_path, "/x");
    }

    #[test]
    fn a_dangling_symlink_resolves_to_where_a_write_would_create_its_target() {
        let (_root, root) = two_repos();
        symlink("../b/planted.txt", root.join("a/link.txt")).unwrap();
        let resolved = resolve_path(&as_text(&root.join("a/link.txt"))).unwrap();
        assert_eq!(resolved.real_path, as_text(&root.join("b/planted.txt")));
        assert_eq!(resolved.git_top, Some(as_text(&root.join("b"))));
        // A dangling link to a directory that is missing too, with more below it.
        symlink(root.join("b/gone"), root.join("a/dir-link")).unwrap();
        let below = resolve_path(&as_text(&root.join("a/dir-link/x/y"))).unwrap();
        assert_eq!(below.real_path, as_text(&root.join("b/gone/x/y")));
        // A loop of links resolves to nothing, never spins.
        symlink(root.join("a/loop2"), root.join("a/loop1")).unwrap();
        symlink(root.join("a/loop1"), root.join("a/loop2")).unwrap();
        assert_eq!(resolve_path(&as_text(&root.join("a/loop1/x"))), None);
    }

    #[test]
    fn only_a_real_dot_git_starts_a_work_tree() {
        let (_root, root) = two_repos();
        let sub = root.join("a/sub");
        std::fs::create_dir_all(&sub).unwrap();
        let top_of = |dir: &Path| resolve_path(&as_text(&dir.join("f"))).unwrap().git_top;
        let a = Some(as_text(&root.join("a")));
        std::fs::write(sub.join(".git"), "").unwrap();
        assert_eq!(top_of(&sub), a, "an empty .git file");
        std::fs::remove_file(sub.join(".git")).unwrap();
        std::fs::create_dir(sub.join(".git")).unwrap();
        assert_eq!(top_of(&sub), a, "a .git directory without HEAD");
        std::fs::remove_dir(sub.join(".git")).unwrap();
        symlink(root.join("a/.git/HEAD"), sub.join(".git")).unwrap();
        assert_eq!(top_of(&sub), a, "a .git link to a file");
        std::fs::remove_file(sub.join(".git")).unwrap();
        std::fs::write(sub.join(".git"), "gitdir: ../.git/modules/sub\n").unwrap();
        assert_eq!(top_of(&sub), Some(as_text(&sub)), "a submodule's .git file");
        std::fs::remove_file(sub.join(".git")).unwrap();
        symlink(root.join("b/.git"), sub.join(".git")).unwrap();
        assert_eq!(
            top_of(&sub),
            Some(as_text(&sub)),
            "a .git link to a git directory"
        );
    }

    #[test]
    fn a_fifo_named_dot_git_or_checkout_id_neither_blocks_nor_counts() {
        let (_root, root) = two_repos();
        let sub = root.join("a/sub");
        std::fs::create_dir_all(&sub).unwrap();
        let fifo = |path: &Path| {
            let name = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
            assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        };
        fifo(&sub.join(".git"));
        let started = std::time::Instant::now();
        let resolved = resolve_path_as(&as_text(&sub.join("f")), Identity::Checkout).unwrap();
        assert_eq!(resolved.git_top, Some(as_text(&root.join("a"))));
        fifo(&root.join("b/.git").join(CHECKOUT_ID_FILE));
        assert!(checkout_id(&root.join("b")).is_err(), "a FIFO is not an id");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_symlinked_checkout_id_is_not_followed() {
        let (_root, root) = two_repos();
        std::fs::write(root.join("planted-id"), "forged-id\n").unwrap();
        symlink(
            root.join("planted-id"),
            root.join("a/.git").join(CHECKOUT_ID_FILE),
        )
        .unwrap();
        assert!(checkout_id(&root.join("a")).is_err());
    }

    #[test]
    fn work_that_does_not_finish_in_time_is_given_up() {
        let slow = within(Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_secs(5));
        });
        assert!(slow.unwrap_err().contains("took longer than"), "gives up");
        assert_eq!(within(Duration::from_secs(5), || 7), Ok(7));
    }

    #[test]
    fn a_file_not_yet_written_resolves_through_its_nearest_ancestor() {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().canonicalize().unwrap().join("repo");
        init(&repo);
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
        init(&repo);
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
        // Nothing but HEAD and the id is left in the git directory.
        let names: Vec<_> = std::fs::read_dir(repo.join(".git")).unwrap().collect();
        assert_eq!(names.len(), 2, "HEAD and the id");
        // Outside a work tree there is no checkout.
        let loose = resolve_path_as(&as_text(&root.path().join("x")), Identity::Checkout);
        assert_eq!(loose.unwrap().checkout_id, None);
    }

    #[test]
    fn a_linked_worktree_has_the_id_of_the_git_dir_its_dot_git_file_names() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().canonicalize().unwrap();
        init(&root.join("main"));
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
        init(&repo);
        let ids: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| checkout_id(&repo).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    }
}
