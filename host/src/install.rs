//! `session-lock install` / `uninstall`: the file side of registering the hook. Which file,
//! and what the settings become, are the component's (`setup`); this module finds the file,
//! reads it and replaces it atomically, through a symlink if the file is one (a dotfiles
//! set-up keeps its link).
//!
//! The hooks never run the binary `install` was started from (a build directory that
//! `cargo clean` empties, a versioned package path): `install` copies it to one stable place,
//! [`stable_binary`], and registers that. `uninstall` keeps the copy (another project's hooks
//! may still run it) unless `--remove-binary` asks, and no settings file it knows registers it.
//!
//! What it will not write ([`guard`]): a project's settings file that resolves outside the
//! project (a symlink committed in the repository), another user's or a read-only settings
//! file (unless `--force`), a path outside `$HOME` in a project's shared settings, or the
//! binary into a folder someone else could write. Folders it creates get an exact mode, 0755,
//! whatever the umask.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use anyhow::{Context, Result, anyhow};

use crate::component::{Agent, Policy, Scope};
use crate::fs_store::FsLockStore;
use crate::install_guard as guard;
use crate::status::shown;

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
    /// Write a settings file even when it is another user's or read-only.
    pub force: bool,
    /// `uninstall`: also remove the stable binary (when no settings file it knows runs it).
    pub remove_binary: bool,
}

/// The agents, each with the name a person gives it, for looking through every settings file.
pub const AGENTS: [(Agent, &str); 4] = [
    (Agent::ClaudeCode, "claude"),
    (Agent::Codex, "codex"),
    (Agent::Gemini, "gemini"),
    (Agent::Cursor, "cursor"),
];

/// Where `install` keeps the binary the hooks run:
/// `${XDG_DATA_HOME:-$HOME/.local/share}/session-lock/bin/session-lock` (an `XDG_DATA_HOME`
/// that is not absolute is ignored, as the XDG spec says).
pub fn stable_binary(home: &Path) -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .unwrap_or_else(|| home.join(".local").join("share"))
        .join("session-lock")
        .join("bin")
        .join("session-lock")
}

/// Installs or uninstalls the hooks of `target`, for the project the current directory lies in.
pub fn run(change: Change, target: &Target) -> Result<()> {
    let Target {
        agent,
        scope,
        wait_ms,
        dry_run,
        force,
        remove_binary,
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
    if scope != Scope::User {
        guard::inside_project(&path, &project)?;
    }
    let text = read_settings(&path)?;
    let stable = stable_binary(&home);
    let updated = match change {
        Change::Install => {
            let binary = registered_name(&stable, &home, scope)?;
            policy.install(agent, &text, &binary, wait_ms)?
        }
        Change::Uninstall => policy.uninstall(agent, &text)?,
    }
    .map_err(|why| anyhow!("{}: {why}", path.display()))?;
    if dry_run {
        eprintln!("session-lock: dry run: would write {}", shown(&path));
        print!("{updated}");
        return Ok(());
    }
    if !*force {
        guard::may_write(&path)?;
    }
    if change == Change::Install {
        place_binary(&stable)?;
    }
    let wrote = write_atomically(&path, &updated)?;
    let done = match (change, wrote) {
        (Change::Install, true) => "installed the session-lock hooks in",
        (Change::Install, false) => "the session-lock hooks were already installed in",
        (Change::Uninstall, true) => "removed the session-lock hooks from",
        (Change::Uninstall, false) => "no session-lock hooks to remove in",
    };
    println!("{done} {}", shown(&path));
    if change == Change::Install {
        for step in policy.next_steps(agent, scope)? {
            println!("{step}");
        }
    }
    if change == Change::Uninstall && stable.exists() && !*remove_binary {
        println!(
            "kept {}: another project's hooks may still run it (`session-lock uninstall \
             --remove-binary` removes it)",
            shown(&stable)
        );
    } else if change == Change::Uninstall && stable.exists() {
        let files = settings_files(&mut policy, &home, &project)?;
        let still: Vec<String> = files
            .iter()
            .filter(|file| !file.our_commands(&mut policy).is_ok_and(|c| c.is_empty()))
            .map(|file| shown(&file.path))
            .collect();
        if still.is_empty() {
            fs::remove_file(&stable)
                .with_context(|| format!("cannot remove {}", stable.display()))?;
            println!(
                "removed {}, which no settings file runs any more",
                shown(&stable)
            );
        } else {
            println!(
                "kept {}: still registered in {}",
                shown(&stable),
                still.join(", ")
            );
        }
    }
    Ok(())
}

/// How the settings name the stable binary: its absolute path, except in a project's shared
/// settings, where it is spelled through `$HOME` so that it runs on every teammate's machine.
///
/// A stable binary outside `$HOME` (an `XDG_DATA_HOME` under `/tmp`) is refused there: the
/// shared settings would make every teammate run whatever lies at that path on their machine,
/// which anyone there may have put.
fn registered_name(stable: &Path, home: &Path, scope: Scope) -> Result<String> {
    if scope == Scope::Project {
        return match stable.strip_prefix(home) {
            Ok(rest) => Ok(format!("$HOME/{}", rest.display())),
            Err(_) => Err(anyhow!(
                "refusing to put {} in the project's shared settings: it lies outside your \
                 home (XDG_DATA_HOME), so teammates would run whatever is at that path on their \
                 machines; use --scope local or user, or an XDG_DATA_HOME inside your home",
                stable.display()
            )),
        };
    }
    Ok(stable.to_string_lossy().into_owned())
}

/// Puts a copy of the running binary at `stable`: a temporary file beside it, mode 0755,
/// renamed over it, so a hook running the old copy keeps its file and none ever sees half of
/// one. Nothing is written when `stable` already holds these bytes (or is this binary).
fn place_binary(stable: &Path) -> Result<()> {
    let running = std::env::current_exe()?;
    let running = running.canonicalize().unwrap_or(running);
    if fs::canonicalize(stable).is_ok_and(|existing| existing == running)
        || same_bytes(&running, stable)
    {
        return Ok(());
    }
    let dir = stable.parent().context("the stable binary has a folder")?;
    // Whoever can write in this folder or above it could replace what every hook runs.
    crate::lock_dir::own_dir(dir, 0o755).map_err(|refusal| {
        anyhow!(
            "not putting the binary in {}: {refusal} (fix: {})",
            dir.display(),
            refusal.fix()
        )
    })?;
    let mut temp = tempfile::Builder::new()
        .prefix(".session-lock.")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let mut source =
        File::open(&running).with_context(|| format!("cannot read {}", running.display()))?;
    io::copy(&mut source, temp.as_file_mut())
        .with_context(|| format!("cannot copy the binary to {}", dir.display()))?;
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o755))?;
    temp.as_file().sync_all()?;
    // The write handle is closed first: a file open for writing cannot be run.
    let temp = temp.into_temp_path();
    check_copy(&running, &temp)?;
    temp.persist(stable)
        .with_context(|| format!("cannot replace {}", stable.display()))?;
    Ok(())
}

/// Fails unless `copy` holds the bytes of `running` and runs (`copy --version` names this
/// version): a short copy, or a folder mounted `noexec`, is never registered as the hook.
fn check_copy(running: &Path, copy: &Path) -> Result<()> {
    let nothing = "nothing was registered";
    if !same_bytes(running, copy) {
        anyhow::bail!(
            "the copy of {} at {} differs from it (disk full?); {nothing}",
            running.display(),
            copy.display()
        );
    }
    let expected = format!("session-lock {}\n", env!("CARGO_PKG_VERSION"));
    match std::process::Command::new(copy).arg("--version").output() {
        Ok(output) if output.status.success() && output.stdout == expected.as_bytes() => Ok(()),
        Ok(output) => anyhow::bail!(
            "the copied binary {} does not run ({}); {nothing}",
            copy.display(),
            output.status
        ),
        Err(e) => anyhow::bail!(
            "cannot run the copied binary {} ({e}; is its folder mounted noexec? set \
             XDG_DATA_HOME to a folder that allows running programs); {nothing}",
            copy.display()
        ),
    }
}

/// Whether files `a` and `b` both exist with the same bytes.
fn same_bytes(a: &Path, b: &Path) -> bool {
    let (Ok(meta_a), Ok(meta_b)) = (fs::metadata(a), fs::metadata(b)) else {
        return false;
    };
    meta_a.len() == meta_b.len()
        && meta_b.permissions().mode() & 0o111 != 0
        && matches!((fs::read(a), fs::read(b)), (Ok(x), Ok(y)) if x == y)
}

/// One settings file an agent reads hooks from.
#[derive(Debug, Clone)]
pub struct SettingsFile {
    /// The agent.
    pub agent: Agent,
    /// Its name on the command line (`claude`, …).
    pub agent_name: &'static str,
    /// Which of its files.
    pub scope: Scope,
    /// The file (through a symlink when it is one).
    pub path: PathBuf,
}

impl SettingsFile {
    /// The commands of ours the file registers: those `uninstall` takes out. Empty when the
    /// file does not exist or registers none; fails when it cannot be read or is not settings.
    pub fn our_commands<S>(&self, policy: &mut Policy<S>) -> Result<Vec<String>>
    where
        S: crate::component::lock_store::Host + Send + 'static,
    {
        let text = read_settings(&self.path)?;
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let without = policy
            .uninstall(self.agent, &text)?
            .map_err(|why| anyhow!("{}: {why}", self.path.display()))?;
        if without == text {
            return Ok(Vec::new());
        }
        let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
        let mut left: HashMap<String, usize> = HashMap::new();
        for command in commands(&parse(&without)) {
            *left.entry(command).or_default() += 1;
        }
        let mut ours = Vec::new();
        for command in commands(&parse(&text)) {
            match left.get_mut(&command) {
                Some(n) if *n > 0 => *n -= 1,
                _ if !ours.contains(&command) => ours.push(command),
                _ => {}
            }
        }
        Ok(ours)
    }
}

/// Every string under a `command` key, anywhere in `value`.
pub(crate) fn commands(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    match inner {
                        Value::String(text) if key == "command" => found.push(text.clone()),
                        _ => stack.push(inner),
                    }
                }
            }
            Value::Array(list) => stack.extend(list),
            _ => {}
        }
    }
    found
}

/// Every settings file the hook could be registered in: each agent's user file (under `home`)
/// and each of its files in `project`.
pub fn settings_files<S>(
    policy: &mut Policy<S>,
    home: &Path,
    project: &Path,
) -> Result<Vec<SettingsFile>>
where
    S: crate::component::lock_store::Host + Send + 'static,
{
    let mut files = Vec::new();
    for (agent, agent_name) in AGENTS {
        for scope in [Scope::User, Scope::Project, Scope::Local] {
            let relative = match policy.settings_file(agent, scope)? {
                Ok(relative) => relative,
                // Every agent has user settings: failing there is the environment's fault (a
                // relative CODEX_HOME), which the person must hear of.
                Err(why) if scope == Scope::User => return Err(anyhow!(why)),
                Err(_) => continue,
            };
            let base = if scope == Scope::User { home } else { project };
            files.push(SettingsFile {
                agent,
                agent_name,
                scope,
                path: base.join(relative),
            });
        }
    }
    Ok(files)
}

/// Where `agent`'s settings file of `scope` is among `files` (as [`settings_files`] found
/// them, placed by the component); `None` for a scope the agent does not have.
pub fn settings_path(files: &[SettingsFile], agent: Agent, scope: Scope) -> Option<&Path> {
    files
        .iter()
        .find(|file| file.agent == agent && file.scope == scope)
        .map(|file| file.path.as_path())
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
    guard::create_dirs(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    temp.write_all(text.as_bytes())?;
    if let Ok(old) = fs::metadata(path) {
        temp.as_file().set_permissions(old.permissions())?;
        // A file changed with --force keeps its owner (root can give it back).
        if old.uid() != temp.as_file().metadata()?.uid() {
            std::os::unix::fs::fchown(temp.as_file(), Some(old.uid()), Some(old.gid()))
                .with_context(|| format!("cannot keep the owner of {}", path.display()))?;
        }
    }
    temp.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(true)
}
