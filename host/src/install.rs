//! `session-lock install` / `uninstall`: the file side of registering the hook. Which file,
//! and what the settings become, are the component's (`setup`); this module finds the file,
//! reads it and replaces it atomically, through a symlink if the file is one (a dotfiles
//! set-up keeps its link).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};

use crate::component::{Agent, Policy, Scope};
use crate::fs_store::FsLockStore;

/// Whether `run` adds or removes the hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `session-lock install`.
    Install,
    /// `session-lock uninstall`.
    Uninstall,
}

/// What `install` and `uninstall` change: which agent's settings, which of its files, how long a
/// blocked call waits for the lock, and whether to only show the result.
#[derive(Debug, Clone)]
pub struct Target {
    /// The agent, as a person names it (`claude`, `codex`, `gemini`, `cursor`).
    pub agent: String,
    /// Which of its settings files.
    pub scope: Scope,
    /// How long a blocked call waits for the lock, in milliseconds (0: it is refused at once).
    pub wait_ms: u64,
    /// Print the resulting file instead of writing it.
    pub dry_run: bool,
}

/// Installs or uninstalls the hooks of `target`, for the project the current directory lies in.
pub fn run(change: Change, target: &Target) -> Result<()> {
    let Target {
        agent,
        scope,
        wait_ms,
        dry_run,
    } = target;
    let (scope, wait_ms, dry_run) = (*scope, *wait_ms, *dry_run);
    let home = std::env::home_dir().context("no home directory")?;
    let project =
        crate::workspace::resolve(&std::env::current_dir()?).map_err(anyhow::Error::msg)?;
    // The component only transforms text: its lock store is never used here.
    let mut policy = Policy::load(FsLockStore::new(&home))?;
    let agent: Agent = policy.agent_named(agent)?.map_err(anyhow::Error::msg)?;
    let relative = policy
        .settings_file(agent, scope)?
        .map_err(anyhow::Error::msg)?;
    let base = match scope {
        Scope::User => &home,
        Scope::Project | Scope::Local => &project,
    };
    let path = write_target(&base.join(relative));
    let text = read_settings(&path)?;
    let updated = match change {
        Change::Install => {
            let binary = std::env::current_exe()?.canonicalize()?;
            policy.install(agent, &text, &binary.to_string_lossy(), wait_ms)?
        }
        Change::Uninstall => policy.uninstall(agent, &text)?,
    }
    .map_err(|why| anyhow!("{}: {why}", path.display()))?;
    if dry_run {
        eprintln!("session-lock: dry run: would write {}", path.display());
        print!("{updated}");
        return Ok(());
    }
    let wrote = write_atomically(&path, &updated)?;
    let done = match (change, wrote) {
        (Change::Install, true) => "installed the session-lock hooks in",
        (Change::Install, false) => "the session-lock hooks were already installed in",
        (Change::Uninstall, true) => "removed the session-lock hooks from",
        (Change::Uninstall, false) => "no session-lock hooks to remove in",
    };
    println!("{done} {}", path.display());
    Ok(())
}

/// The file to write for settings at `path`: the file a symlink there points to (so the link
/// stays a link), else `path`.
fn write_target(path: &Path) -> PathBuf {
    let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if is_link && let Ok(target) = fs::canonicalize(path) {
        return target;
    }
    path.to_path_buf()
}

/// A settings file's text: empty when it does not exist.
fn read_settings(path: &Path) -> Result<String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Replaces `path` with `text` atomically (a temporary file beside it, renamed over it),
/// creating its folder and keeping its permissions. Nothing is written when the text is
/// already there.
fn write_atomically(path: &Path, text: &str) -> Result<bool> {
    if fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    let dir = path.parent().context("a settings file has a folder")?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    temp.write_all(text.as_bytes())?;
    if let Ok(old) = fs::metadata(path) {
        temp.as_file().set_permissions(old.permissions())?;
    }
    temp.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(true)
}
