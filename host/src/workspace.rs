//! Resolving a directory to the workspace it belongs to.

use std::path::{Path, PathBuf};

/// The workspace of `dir`: `dir` with symlinks resolved, then the top of the git work tree it
/// lies in (the nearest ancestor holding `.git`, a folder or, in a linked worktree or
/// submodule, a file), if any. So `repo/` and `repo/sub/` share a workspace, and separate
/// worktrees do not.
pub fn resolve(dir: &Path) -> Result<PathBuf, String> {
    let resolved = dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve workspace {}: {e}", dir.display()))?;
    let top = resolved
        .ancestors()
        .find(|candidate| candidate.join(".git").symlink_metadata().is_ok())
        .unwrap_or(&resolved);
    Ok(top.to_path_buf())
}

/// A resolved path as the component reads it (its hash names the lock).
pub fn as_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
