//! What `install` and `uninstall` refuse to write, checked before anything is written.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The mode of every folder `install` creates, set exactly (not masked by the umask): others
/// may read and enter it, never write in it.
pub const DIR_MODE: u32 = 0o755;

/// Refuses a project's settings file at `path` that resolves outside `project`: a settings
/// file, or a folder on its way, that is a symlink committed in the repository would make
/// `install` write (as whoever runs it) a file elsewhere.
pub fn inside_project(path: &Path, project: &Path) -> Result<()> {
    let project = fs::canonicalize(project)
        .with_context(|| format!("cannot resolve the project {}", project.display()))?;
    let resolved = resolve(path)?;
    if !resolved.starts_with(&project) {
        bail!(
            "refusing to write {}: it resolves to {}, outside the project {} (a symlink in \
             the repository?)",
            path.display(),
            resolved.display(),
            project.display()
        );
    }
    Ok(())
}

/// `path` with every symlink of its existing part resolved, and the missing rest appended.
fn resolve(path: &Path) -> Result<PathBuf> {
    let mut existing = path.to_path_buf();
    let mut missing = Vec::new();
    loop {
        match fs::canonicalize(&existing) {
            Ok(real) => {
                return Ok(missing.iter().rev().fold(real, |acc, name| acc.join(name)));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let Some(name) = existing.file_name().map(ToOwned::to_owned) else {
                    bail!("cannot resolve {}", path.display());
                };
                missing.push(name);
                if !existing.pop() {
                    bail!("cannot resolve {}", path.display());
                }
            }
            Err(e) => return Err(e).with_context(|| format!("cannot resolve {}", path.display())),
        }
    }
}

/// Refuses (unless `--force`) to replace a settings file that belongs to another user (as
/// root, replacing it would hand it to root) or that is read-only (its owner made it so).
pub fn may_write(path: &Path) -> Result<()> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot look at {}", path.display())),
    };
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    if meta.uid() != euid {
        bail!(
            "refusing to change {}: it belongs to uid {}, not to you (uid {euid}); --force \
             changes it anyway, keeping its owner",
            path.display(),
            meta.uid()
        );
    }
    if meta.permissions().mode() & 0o222 == 0 {
        bail!(
            "refusing to change {}: it is read-only (mode {:04o}); --force changes it anyway, \
             keeping its mode",
            path.display(),
            meta.permissions().mode() & 0o7777
        );
    }
    Ok(())
}

/// Creates `dir` and its missing parents, each with exactly [`DIR_MODE`].
pub fn create_dirs(dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut at = dir;
    while fs::symlink_metadata(at).is_err() {
        missing.push(at);
        match at.parent() {
            Some(parent) => at = parent,
            None => break,
        }
    }
    for dir in missing.into_iter().rev() {
        match fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
            Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
                .with_context(|| format!("cannot set the mode of {}", dir.display()))?,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
    }
    Ok(())
}
