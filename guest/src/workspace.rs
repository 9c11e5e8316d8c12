//! Which workspace a path belongs to, and the lock key of a workspace.

use md5::{Digest, Md5};

/// The lock key of a resolved workspace path: the first 12 hex characters of its MD5.
pub fn workspace_hash(path: &str) -> String {
    let digest = Md5::digest(path.as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// A path as the host found it: symlinks resolved, and the git work tree it lies in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The path with symlinks resolved.
    pub real_path: String,
    /// The top of its git work tree, if it lies in one.
    pub git_top: Option<String>,
    /// The work tree's identity wherever it is mounted, when the host gives one.
    pub checkout_id: Option<String>,
}

/// Whether a target is a file a tool changes or a directory a command works in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A file (which may not exist yet).
    File,
    /// A directory.
    Directory,
    /// The directory a `git worktree add` makes a new work tree in: a directory, and, in an
    /// agent's own folder for worktrees ([`crate::agents::WORKTREE_FOLDERS`]), a workspace
    /// of its own even inside another work tree.
    NewWorkTree,
    /// A path a shell command names as an argument, which it may or may not write: it counts
    /// only inside a git work tree (another workspace's files); elsewhere it is covered by the
    /// session's own workspace, so naming `/tmp/x` or `/etc/hosts` takes no lock of its own.
    Named,
}

/// The workspace of a session: the top of the git work tree its directory lies in, else that
/// directory.
pub fn of_session(session: &Resolved) -> String {
    match &session.git_top {
        Some(top) => work_tree(top, session),
        None => session.real_path.clone(),
    }
}

/// The name of the work tree at `top`: its checkout identity when the host gives one (the same
/// wherever the checkout is mounted), else its path.
fn work_tree(top: &str, resolved: &Resolved) -> String {
    match &resolved.checkout_id {
        Some(id) => format!("checkout:{id}"),
        None => top.to_owned(),
    }
}

/// The workspace of a target: the top of the git work tree it lies in; outside any, the
/// session's own workspace when the target lies inside it (or is only [`Kind::Named`]), else
/// the target's directory.
///
/// A new work tree in an agent's own folder for worktrees, `<top>/.gemini/worktrees/NAME`,
/// is the one exception: it is its own workspace, not `<top>`'s. Its `git worktree add`
/// writes only below that new directory (which git requires to be absent or empty), the
/// repository's list of worktrees and a new branch; `<top>`'s files are untouched, as when the
/// agent's own tool makes it (Claude Code's `EnterWorktree`, which no hook sees).
pub fn of_target(target: &Resolved, kind: Kind, session_workspace: &str) -> String {
    if let Some(top) = &target.git_top {
        if kind == Kind::NewWorkTree && in_agents_worktree_folder(&target.real_path, top) {
            return target.real_path.clone();
        }
        return work_tree(top, target);
    }
    if is_within(&target.real_path, session_workspace) {
        return session_workspace.to_owned();
    }
    match kind {
        Kind::Directory | Kind::NewWorkTree => target.real_path.clone(),
        Kind::File => parent(&target.real_path).to_owned(),
        Kind::Named => session_workspace.to_owned(),
    }
}

/// `path` made absolute against `base` (paths stay as written otherwise: the host resolves
/// `..` and symlinks).
pub fn join(base: &str, path: &str) -> String {
    if path.starts_with('/') || base.is_empty() {
        path.to_owned()
    } else if base.ends_with('/') {
        format!("{base}{path}")
    } else {
        format!("{base}/{path}")
    }
}

/// Whether `path` is `<top>/<folder>/NAME` for one of the agents' worktree folders and a
/// single NAME.
fn in_agents_worktree_folder(path: &str, top: &str) -> bool {
    let Some(rest) = path.strip_prefix(top.trim_end_matches('/')) else {
        return false;
    };
    crate::agents::WORKTREE_FOLDERS.iter().any(|folder| {
        rest.strip_prefix('/')
            .and_then(|rest| rest.strip_prefix(folder))
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|name| !name.is_empty() && !name.contains('/') && name != "..")
    })
}

fn is_within(path: &str, dir: &str) -> bool {
    let dir = dir.strip_suffix('/').unwrap_or(dir);
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(real_path: &str, git_top: Option<&str>) -> Resolved {
        Resolved {
            real_path: real_path.into(),
            git_top: git_top.map(Into::into),
            checkout_id: None,
        }
    }

    #[test]
    fn hash_is_twelve_hex_of_md5() {
        // Expected values from Python's hashlib.md5(...).hexdigest()[:12].
        assert_eq!(workspace_hash(""), "d41d8cd98f00");
        assert_eq!(workspace_hash("abc"), "900150983cd2");
    }

    #[test]
    fn a_target_in_a_git_work_tree_belongs_to_its_top() {
        let target = resolved("/home/u/repoX/c.txt", Some("/home/u/repoX"));
        assert_eq!(of_target(&target, Kind::File, "/home/u"), "/home/u/repoX");
    }

    #[test]
    fn a_new_work_tree_is_its_own_workspace_only_in_an_agents_worktree_folder() {
        let top = Some("/home/u/repo");
        let of = |path: &str, kind| of_target(&resolved(path, top), kind, "/home/u/repo");
        for own in [
            "/home/u/repo/.gemini/worktrees/b",
            "/home/u/repo/.claude/worktrees/b-work",
        ] {
            assert_eq!(of(own, Kind::NewWorkTree), own);
            // Any other write there is the enclosing work tree's.
            assert_eq!(of(own, Kind::Directory), "/home/u/repo");
            assert_eq!(of(&format!("{own}/f"), Kind::File), "/home/u/repo");
        }
        for enclosed in [
            "/home/u/repo/.worktrees/b",
            "/home/u/repo/src/b",
            "/home/u/repo/.gemini/worktrees",
            "/home/u/repo/.gemini/worktrees/b/c",
            "/home/u/repo/x/.gemini/worktrees/b",
        ] {
            assert_eq!(
                of(enclosed, Kind::NewWorkTree),
                "/home/u/repo",
                "{enclosed}"
            );
        }
        // Outside any work tree it is a directory like another.
        let outside = resolved("/tmp/wt", None);
        assert_eq!(
            of_target(&outside, Kind::NewWorkTree, "/home/u/repo"),
            "/tmp/wt"
        );
    }

    #[test]
    fn a_checkout_with_an_identity_is_named_by_it_wherever_it_is_mounted() {
        let here = Resolved {
            checkout_id: Some("6f1c".into()),
            ..resolved("/home/u/repo/a.rs", Some("/home/u/repo"))
        };
        let there = Resolved {
            checkout_id: Some("6f1c".into()),
            ..resolved("/workspaces/repo/a.rs", Some("/workspaces/repo"))
        };
        assert_eq!(of_target(&here, Kind::File, "/"), "checkout:6f1c");
        assert_eq!(
            of_target(&there, Kind::File, "/"),
            of_target(&here, Kind::File, "/")
        );
        assert_eq!(of_session(&here), "checkout:6f1c");
    }

    #[test]
    fn outside_git_a_target_belongs_to_the_session_or_its_directory() {
        let inside = resolved("/home/u/notes/a.md", None);
        assert_eq!(
            of_target(&inside, Kind::File, "/home/u/notes"),
            "/home/u/notes"
        );
        let outside = resolved("/tmp/scratch/a.md", None);
        assert_eq!(
            of_target(&outside, Kind::File, "/home/u/notes"),
            "/tmp/scratch"
        );
        assert_eq!(
            of_target(&outside, Kind::Directory, "/home/u/notes"),
            "/tmp/scratch/a.md"
        );
        let sibling = resolved("/home/u/notes2/a.md", None);
        assert_eq!(
            of_target(&sibling, Kind::File, "/home/u/notes"),
            "/home/u/notes2"
        );
        assert_eq!(of_target(&resolved("/a", None), Kind::File, "/home"), "/");
    }

    #[test]
    fn relative_paths_join_the_base() {
        assert_eq!(join("/r", "a/b"), "/r/a/b");
        assert_eq!(join("/r/", "a"), "/r/a");
        assert_eq!(join("/r", "/abs"), "/abs");
    }
}
