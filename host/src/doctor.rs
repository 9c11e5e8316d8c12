//! `session-lock doctor`: whether the lock can work here, one check at a time, each failure
//! with its fix.
//!
//! The checks: the policy component loads; the current workspace and its lock can be named and
//! read; the lock directory is usable and mode 0700; `flock` really excludes on its
//! filesystem; and every settings file that registers the hook runs a binary that exists and
//! is this one, found without running the command or what it names ([`registered`]). Which
//! files register the hook is the component's rule, asked the way `uninstall` asks it: a
//! command `uninstall` would take out is ours. A Gemini CLI extension or a Claude Code plugin
//! of session-lock's that the client installed counts as registered too ([`gemini_extension`],
//! [`claude_plugin`]), one registered both that way and in the agent's settings fails (the
//! client would run it twice), and each agent's own trust state is read ([`agent_trust`]).
//! The recent fail-opens come from the decision log ([`crate::doctor_log`]). Everything
//! printed goes through [`visible`].

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

use crate::agent_trust;
use crate::claude_plugin;
use crate::component::policy_types::PolicyError;
use crate::component::{Agent, Policy, Scope};
use crate::fs_store::FsLockStore;
use crate::gemini_extension::{self, GeminiFiles};
use crate::install::{self, SettingsFile};
use crate::launcher;
use crate::lock_at::{LockAt, error_text};
use crate::registered;
use crate::settings::{self, StoreKind};
use crate::visible::visible;

/// The outcome of one check.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// What to do about a failure.
    pub fix: Option<String>,
}

impl Check {
    /// An agent's trust or state finding about the file or folder `place`, as a check named
    /// for it.
    fn found_at(finding: agent_trust::Finding, place: &str) -> Check {
        Check {
            name: format!("{} ({place})", finding.name),
            ok: finding.ok,
            detail: finding.detail,
            fix: finding.fix,
        }
    }

    /// This check with everything it says shown through [`visible`].
    fn made_visible(self) -> Check {
        Check {
            name: visible(&self.name),
            ok: self.ok,
            detail: visible(&self.detail),
            fix: self.fix.as_deref().map(visible),
        }
    }

    fn pass(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Runs every check and prints them (one line each, or one JSON object); returns whether all
/// passed. What a check says can hold text from a repository, a settings file or a record, so
/// all of it is shown through [`visible`].
pub fn run(as_json: bool) -> Result<bool> {
    let checks: Vec<Check> = checks().into_iter().map(Check::made_visible).collect();
    let ok = checks.iter().all(|check| check.ok);
    if as_json {
        let checks: Vec<_> = checks
            .iter()
            .map(|c| json!({"name": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix}))
            .collect();
        let report = json!({"ok": ok, "checks": checks});
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for check in &checks {
            match &check.fix {
                None => println!("ok   {}: {}", check.name, check.detail),
                Some(fix) => println!("FAIL {}: {}: fix: {fix}", check.name, check.detail),
            }
        }
    }
    Ok(ok)
}

/// Every check, in order.
pub fn checks() -> Vec<Check> {
    let mut checks = Vec::new();
    if let Err(error) = crate::artifact::runtime() {
        checks.push(Check::fail(
            "component",
            format!("the policy component does not load: {error:#}"),
            "rebuild or reinstall session-lock (`cargo build --release`, then `session-lock \
             install`)",
        ));
        return checks;
    }
    checks.push(Check::pass("component", "the policy component loads"));
    checks.extend(workspace_checks());
    checks.extend(lock_dir_checks());
    checks.extend(registration_checks());
    checks.push(crate::doctor_log::fail_open_check());
    checks
}

/// The current workspace: its lock can be named and its record read.
fn workspace_checks() -> Vec<Check> {
    let mut lock = match LockAt::open(None) {
        Ok(lock) => lock,
        Err(error) => {
            return vec![Check::fail(
                "workspace",
                format!("cannot name the lock of the current directory: {error:#}"),
                "run doctor in the workspace, and check SESSION_LOCK_STORE, \
                 SESSION_LOCK_IDENTITY and SESSION_LOCK_ETCD_ENDPOINTS",
            )];
        }
    };
    let workspace = Check::pass(
        "workspace",
        format!(
            "{} (lock {}, at {})",
            lock.workspace.display(),
            lock.key,
            lock.file.display()
        ),
    );
    let record = match lock.policy.inspect(&lock.key, settings::now_ms()) {
        Ok(Ok(None)) => Check::pass("lock", "free"),
        Ok(Ok(Some(state))) => Check::pass(
            "lock",
            format!(
                "{} by {}",
                if state.stale { "stale" } else { "held" },
                state.summary
            ),
        ),
        Ok(Err(error @ PolicyError::UnreadableRecord(_))) => Check::fail(
            "lock",
            error_text(&error),
            "`session-lock release --force` removes it (sessions are let through while it is \
             there)",
        ),
        Ok(Err(error)) => Check::fail(
            "lock",
            error_text(&error),
            "check that the lock store is reachable and writable",
        ),
        Err(error) => Check::fail(
            "lock",
            format!("the policy component failed: {error:#}"),
            "reinstall session-lock",
        ),
    };
    vec![workspace, record]
}

/// The lock directory (the file store only): usable, mode 0700, and `flock` excludes there.
fn lock_dir_checks() -> Vec<Check> {
    match settings::store_kind() {
        Ok(StoreKind::Files) => {}
        Ok(StoreKind::Etcd) => {
            return vec![Check::pass(
                "lock directory",
                "not used: SESSION_LOCK_STORE=etcd keeps the locks in etcd",
            )];
        }
        Err(why) => {
            return vec![Check::fail(
                "lock directory",
                why,
                "set SESSION_LOCK_STORE to files or etcd",
            )];
        }
    }
    let dir = match settings::lock_dir() {
        Ok(dir) => dir,
        Err(why) => return vec![Check::fail("lock directory", why, "set SESSION_LOCK_DIR")],
    };
    vec![lock_dir_check(&dir), flock_check(&dir)]
}

/// Whether `dir` is a directory of ours, mode 0700, that we can write in (or does not exist
/// yet, and the first hook creates it so), and one the hook uses ([`crate::lock_dir`]: the
/// user's own, reached through directories nobody else can change).
pub fn lock_dir_check(dir: &Path) -> Check {
    const NAME: &str = "lock directory";
    // What the hook itself checks first: a directory it refuses, it never uses.
    if let Err(refusal) = crate::lock_dir::open(dir, false) {
        return Check::fail(
            NAME,
            format!("{refusal}, so the hook does not use it and lets every call through"),
            refusal.fix(),
        );
    }
    let shown = dir.display();
    let meta = match fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Check::pass(
                NAME,
                format!("{shown} does not exist yet; the first hook creates it, mode 0700"),
            );
        }
        Err(e) => {
            return Check::fail(
                NAME,
                format!("cannot look at {shown}: {e}"),
                format!("make {shown} a directory you own, mode 0700, or set SESSION_LOCK_DIR"),
            );
        }
    };
    if !meta.is_dir() {
        return Check::fail(
            NAME,
            format!("{shown} is not a directory"),
            format!("remove {shown}, or set SESSION_LOCK_DIR to a directory"),
        );
    }
    let uid = unsafe { libc::geteuid() };
    if meta.uid() != uid {
        return Check::fail(
            NAME,
            format!(
                "{shown} belongs to uid {}, not to you (uid {uid})",
                meta.uid()
            ),
            format!("set SESSION_LOCK_DIR to a directory of yours, or `chown {uid} {shown}`"),
        );
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode != 0o700 {
        return Check::fail(
            NAME,
            format!("{shown} has mode {mode:04o}, so others can read or change the locks"),
            format!("chmod 700 {shown}"),
        );
    }
    if let Err(e) = tempfile::tempfile_in(dir) {
        return Check::fail(
            NAME,
            format!("cannot write in {shown}: {e}"),
            format!("make {shown} writable (chmod 700), or set SESSION_LOCK_DIR"),
        );
    }
    Check::pass(NAME, format!("{shown}, mode 0700"))
}

/// Whether an exclusive `flock` taken through one open file keeps a second open file of the
/// same name from taking it, on the filesystem of `dir` (its nearest existing ancestor when it
/// does not exist yet). Some network filesystems grant every lock.
pub fn flock_check(dir: &Path) -> Check {
    const NAME: &str = "flock";
    let mut place: PathBuf = dir.to_path_buf();
    while !place.is_dir() {
        match place.parent() {
            Some(parent) => place = parent.to_path_buf(),
            None => {
                return Check::fail(
                    NAME,
                    format!("no existing directory above {}", dir.display()),
                    "set SESSION_LOCK_DIR",
                );
            }
        }
    }
    match flock_excludes(&place) {
        Ok(true) => Check::pass(
            NAME,
            format!("excludes on the filesystem of {}", place.display()),
        ),
        Ok(false) => Check::fail(
            NAME,
            format!(
                "a second open file took an exclusive lock already held, on the filesystem of \
                 {}: two sessions could both hold a workspace",
                place.display()
            ),
            "set SESSION_LOCK_DIR to a directory on a local filesystem",
        ),
        Err(error) => Check::fail(
            NAME,
            format!("cannot test it in {}: {error:#}", place.display()),
            "make the lock directory writable, or set SESSION_LOCK_DIR",
        ),
    }
}

fn flock_excludes(dir: &Path) -> Result<bool> {
    let temp = tempfile::NamedTempFile::new_in(dir).context("cannot create a test file")?;
    let open = || -> Result<File> {
        Ok(OpenOptions::new()
            .read(true)
            .write(true)
            .open(temp.path())?)
    };
    let (first, second) = (open()?, open()?);
    first.lock().context("cannot take a lock at all")?;
    Ok(match second.try_lock() {
        Ok(()) => false,
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(e)) => return Err(e).context("try_lock failed"),
    })
}

/// Every settings file that registers the hook: each command's binary exists and is this
/// version. Failing when no file registers it.
fn registration_checks() -> Vec<Check> {
    let found = (|| -> Result<Found> {
        let home = std::env::home_dir().context("no home directory")?;
        let project =
            crate::workspace::resolve(&std::env::current_dir()?).map_err(anyhow::Error::msg)?;
        // Only the settings text is transformed: the store is never used.
        let mut policy = Policy::load(FsLockStore::new(&home))?;
        let files = install::settings_files(&mut policy, &home, &project)?;
        let folders = AgentFolders::among(&files)
            .context("the component places no user settings of Codex or Gemini CLI")?;
        Ok(Found {
            home,
            project,
            files,
            folders,
            policy,
        })
    })();
    let Found {
        home,
        project,
        files,
        folders,
        mut policy,
    } = match found {
        Ok(found) => found,
        Err(error) => {
            let fix = match std::env::home_dir() {
                None => "set HOME",
                // The error names what to change (a relative CODEX_HOME, say).
                Some(_) => "change what it names, then run `session-lock doctor` again",
            };
            return vec![Check::fail(
                "hooks",
                format!("cannot look for the settings files: {error:#}"),
                fix,
            )];
        }
    };
    let ours = format!("session-lock {}", env!("CARGO_PKG_VERSION"));
    let stable = install::stable_binary(&home);
    let mut checks = Vec::new();
    // The Claude Code and Gemini CLI settings files that register the hook, for a plugin or
    // an extension that does too.
    let (mut claude_files, mut gemini_files) = (Vec::new(), Vec::new());
    for file in &files {
        let name = format!("hook in {} ({})", file.path.display(), file.agent_name);
        let commands = match file.our_commands(&mut policy) {
            Ok(commands) => commands,
            Err(error) => {
                checks.push(Check::fail(
                    name,
                    format!("cannot read it: {error:#}"),
                    "make it valid JSON (the agent cannot read it either)",
                ));
                continue;
            }
        };
        let reinstall = format!(
            "run `session-lock install --agent {}{}` with this binary (it puts itself at {})",
            file.agent_name,
            scope_flag(file),
            stable.display()
        );
        let trust = match file.agent_name {
            "codex" if !commands.is_empty() => {
                agent_trust::codex(&file.path, file.scope, &project, &folders.codex, &commands)
            }
            "gemini" if !commands.is_empty() => {
                let mut found = agent_trust::gemini(&project, &folders.gemini);
                found.extend(gemini_extension::hooks_turned_off(
                    &folders.gemini,
                    &commands,
                ));
                found
            }
            _ => Vec::new(),
        };
        match file.agent_name {
            "claude" if !commands.is_empty() => claude_files.push(file),
            "gemini" if !commands.is_empty() => gemini_files.push(file),
            _ => {}
        }
        for command in commands {
            checks.push(registered_check(
                &name, &command, &home, &stable, &ours, &reinstall,
            ));
        }
        let place = file.path.display().to_string();
        checks.extend(trust.into_iter().map(|f| Check::found_at(f, &place)));
    }
    checks.extend(gemini_extension_checks(
        &folders.gemini,
        &project,
        &stable,
        &ours,
        &gemini_files,
    ));
    checks.extend(claude_plugin_checks(
        &home,
        &project,
        &stable,
        &ours,
        &claude_files,
    ));
    if checks.is_empty() {
        checks.push(Check::fail(
            "hooks",
            "no agent's settings register the session-lock hook (user files, and the project's \
             files here)",
            "run `session-lock install` (add --agent codex, gemini or cursor, --scope project)",
        ));
    }
    checks
}

/// What the hook checks start from: the settings files and where the agents keep their other
/// files.
struct Found {
    home: PathBuf,
    project: PathBuf,
    files: Vec<SettingsFile>,
    folders: AgentFolders,
    policy: Policy<FsLockStore>,
}

/// The folders of the agents whose own files doctor reads besides their settings, each taken
/// from where the component places the agent's user settings: one place decides where
/// `install` writes and where doctor reads (`CODEX_HOME`, `GEMINI_CLI_HOME`).
struct AgentFolders {
    /// Codex's folder (`~/.codex` or `$CODEX_HOME`), with its `config.toml`.
    codex: PathBuf,
    /// Gemini CLI's files.
    gemini: GeminiFiles,
}

impl AgentFolders {
    fn among(files: &[SettingsFile]) -> Option<AgentFolders> {
        let codex_hooks = install::settings_path(files, Agent::Codex, Scope::User)?;
        Some(AgentFolders {
            codex: codex_hooks.parent()?.to_path_buf(),
            gemini: GeminiFiles::among(files)?,
        })
    }
}

/// Each Gemini CLI extension of session-lock's the client has installed: whether the client
/// runs its hooks in this project (turned on here, hooks not turned off in its settings), its
/// trust facts, the binary its launcher finds, and whether `settings_files` (the Gemini CLI
/// settings that register the hook) make the client run it a second time.
fn gemini_extension_checks(
    gemini: &GeminiFiles,
    project: &Path,
    stable: &Path,
    ours: &str,
    settings_files: &[&SettingsFile],
) -> Vec<Check> {
    let mut checks = Vec::new();
    for extension in gemini_extension::installed(gemini) {
        let place = extension.dir.display().to_string();
        let on = gemini_extension::check(&extension, project, gemini);
        // Hooks in settings run only in a trusted folder; an extension's run anyway.
        if on.ok && agent_trust::gemini_trusts(project, gemini) {
            checks.extend(registered_twice(
                "gemini",
                &format!("the extension {}", extension.name),
                &format!("`gemini extensions disable {}`", extension.name),
                settings_files,
            ));
        }
        let mut findings = vec![on];
        findings.extend(gemini_extension::hooks_turned_off(
            gemini,
            &extension.commands,
        ));
        findings.push(agent_trust::gemini_environment(gemini));
        checks.extend(findings.into_iter().map(|f| Check::found_at(f, &place)));
        let name = format!("hook in {place} (gemini extension)");
        checks.push(launcher_check(name, &extension.launcher, stable, ours));
    }
    checks
}

/// Each Claude Code plugin of session-lock's the client has installed: whether the client
/// runs its hooks here (`enabledPlugins`), the binary its launcher finds, and whether
/// `settings_files` (the Claude Code settings that register the hook) register it too.
fn claude_plugin_checks(
    home: &Path,
    project: &Path,
    stable: &Path,
    ours: &str,
    settings_files: &[&SettingsFile],
) -> Vec<Check> {
    let mut checks = Vec::new();
    for plugin in claude_plugin::installed(home) {
        let name = format!(
            "hook in {} (claude-code plugin {})",
            plugin.dir.display(),
            plugin.name
        );
        let on = claude_plugin::enabled(&plugin, home, project);
        if on.0 {
            checks.extend(registered_twice(
                "claude-code",
                &format!("the plugin {}", plugin.name),
                &format!("`claude plugin disable {}`", plugin.name),
                settings_files,
            ));
        }
        checks.push(match on {
            (true, _) => launcher_check(name, &plugin.launcher, stable, ours),
            (false, file) => Check::fail(
                name,
                format!(
                    "Claude Code has the plugin {} installed but not turned on here ({}), so it \
                     runs none of its hooks",
                    plugin.name,
                    match file {
                        Some(file) => format!("enabledPlugins in {}", file.display()),
                        None => "no settings file names it in enabledPlugins".to_owned(),
                    }
                ),
                format!("run `claude plugin enable {}`", plugin.name),
            ),
        });
    }
    checks
}

/// The hook registered both by `bundle` (a Claude Code plugin or a Gemini CLI extension the
/// client runs here) and in `settings_files` of the same `agent`: the client then runs it twice
/// for every event (their commands differ, so it does not take them for one), two processes at
/// once on one lock. `None` when no settings file registers it.
fn registered_twice(
    agent: &str,
    bundle: &str,
    turn_off_bundle: &str,
    settings_files: &[&SettingsFile],
) -> Option<Check> {
    let files: Vec<String> = settings_files
        .iter()
        .map(|file| file.path.display().to_string())
        .collect();
    let uninstall: Vec<String> = settings_files
        .iter()
        .map(|file| {
            format!(
                "`session-lock uninstall --agent {}{}`",
                file.agent_name,
                scope_flag(file)
            )
        })
        .collect();
    (!files.is_empty()).then(|| {
        Check::fail(
            format!("hook registered twice ({agent})"),
            format!(
                "{bundle} and {} both register the session-lock hook, so the client runs it \
                 twice for every event",
                files.join(" and ")
            ),
            format!(
                "keep one: run {} for the settings' hook, or {turn_off_bundle}",
                uninstall.join(" and ")
            ),
        )
    })
}

/// The binary a plugin's or an extension's `launcher` finds, as it finds it (never run): one
/// check named `name`, passing when it is this binary.
fn launcher_check(name: String, launcher: &Path, stable: &Path, ours: &str) -> Check {
    match launcher::binary(stable) {
        None => Check::fail(
            name,
            format!(
                "its launcher finds no session-lock binary (none on PATH, none at {}), so it \
                 lets every call through, saying so as each session and prompt starts",
                stable.display()
            ),
            format!(
                "put session-lock on PATH (`npm install -g session-lock`, `pipx install \
                 session-lock`), or a session-lock binary at {}",
                stable.display()
            ),
        ),
        Some(binary) => {
            let running = std::env::current_exe()
                .map_err(|e| format!("cannot find this binary: {e}"))
                .and_then(|running| registered::identify(&binary, stable, &running, ours));
            match running {
                Ok(what) => Check::pass(
                    name,
                    format!("{} runs {}: {what}", launcher.display(), binary.display()),
                ),
                Err(why) => Check::fail(
                    name,
                    format!("{} runs {}: {why}", launcher.display(), binary.display()),
                    format!(
                        "put this session-lock first on PATH, or at {}",
                        stable.display()
                    ),
                ),
            }
        }
    }
}

fn scope_flag(file: &SettingsFile) -> &'static str {
    use crate::component::Scope;
    match file.scope {
        Scope::User => "",
        Scope::Project => " --scope project",
        Scope::Local => " --scope local",
    }
}

/// One registered `command`, never run: its binary is parsed out of it and compared with this
/// binary ([`registered`]).
fn registered_check(
    name: &str,
    command: &str,
    home: &Path,
    stable: &Path,
    ours: &str,
    reinstall: &str,
) -> Check {
    let found = registered::binary_of(command, home).and_then(|binary| {
        let running =
            std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
        registered::identify(&binary, stable, &running, ours)
    });
    match found {
        Ok(what) => Check::pass(name, format!("`{command}` {what}")),
        Err(why) => Check::fail(name, format!("`{command}`: {why}"), reinstall),
    }
}
