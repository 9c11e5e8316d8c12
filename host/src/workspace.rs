//! Resolving paths on this filesystem: symlinks, and the git work tree a path lies in. Which
//! workspace a path belongs to is the component's rule; this module only gathers the facts.

use std::io;
use std::path::{Path, PathBuf};

use crate::component::ResolvedPath;

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
/// does not exist yet, its nearest existing ancestor's, with the rest appended) and the git
/// work tree it lies in. `None` when not even `/` resolves.
pub fn resolve_path(path: &str) -> Option<ResolvedPath> {
    let real_path = real_path(Path::new(path)).ok()?;
    Some(ResolvedPath {
        git_top: git_top(&real_path).map(|top| as_text(&top)),
        real_path: as_text(&real_path),
        checkout_id: None,
    })
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
}
