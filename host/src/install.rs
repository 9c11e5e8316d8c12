//! `session-lock install` / `uninstall`: registering the hook in an agent's settings file.
//!
//! Which events and tool matchers to register is the component's (`hook.registrations`); this
//! module knows only where each agent keeps its settings and the file's shape. It merges into
//! the existing JSON (every other key and hook kept, key order too), changes nothing when run
//! twice, refuses a file that is not valid JSON without touching it, and replaces the file
//! atomically.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use crate::component::{Agent, Registration};

/// Which settings file of the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The user's own settings, for every project.
    User,
    /// The project's shared settings (committed).
    Project,
    /// The project's personal settings (not committed; Claude Code only).
    Local,
}

/// Claude Code, Codex and Cursor hook timeouts are in seconds, Gemini CLI's in milliseconds.
const TIMEOUT_SECONDS: u64 = 3;

/// The settings file of `agent` at `scope`, for a user whose home is `home` in project `project`.
pub fn settings_path(agent: Agent, scope: Scope, home: &Path, project: &Path) -> Result<PathBuf> {
    let base = match scope {
        Scope::User => home,
        Scope::Project | Scope::Local => project,
    };
    let relative = match (agent, scope) {
        (Agent::ClaudeCode, Scope::Local) => ".claude/settings.local.json",
        (Agent::ClaudeCode, _) => ".claude/settings.json",
        (Agent::Codex, Scope::User | Scope::Project) => ".codex/hooks.json",
        (Agent::Gemini, Scope::User | Scope::Project) => ".gemini/settings.json",
        (Agent::Cursor, Scope::User | Scope::Project) => ".cursor/hooks.json",
        (_, Scope::Local) => {
            bail!("only Claude Code has a local settings file; use --scope project")
        }
    };
    Ok(base.join(relative))
}

/// The command the agent runs: the binary's absolute path (quoted for `sh -c` when needed) and
/// `hook`, naming the agent for all but Claude Code.
pub fn hook_command(binary: &Path, agent: Agent) -> String {
    let path = binary.to_string_lossy();
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@".contains(c);
    let path = if path.chars().all(safe) {
        path.into_owned()
    } else {
        format!("'{}'", path.replace('\'', r"'\''"))
    };
    match agent_flag(agent) {
        Some(name) => format!("{path} hook --agent {name}"),
        None => format!("{path} hook"),
    }
}

fn agent_flag(agent: Agent) -> Option<&'static str> {
    match agent {
        Agent::ClaudeCode => None,
        Agent::Codex => Some("codex"),
        Agent::Gemini => Some("gemini"),
        Agent::Cursor => Some("cursor"),
    }
}

/// Whether `command` is one that `install` writes, for any location of the binary.
fn is_our_command(command: &str) -> bool {
    let mut words: Vec<&str> = command.split_whitespace().collect();
    if words.len() >= 3 && words[words.len() - 2] == "--agent" {
        words.truncate(words.len() - 2);
    }
    let Some((&"hook", path)) = words.split_last() else {
        return false;
    };
    let path = path.join(" ");
    let path = path.trim_matches('\'');
    Path::new(path)
        .file_name()
        .is_some_and(|name| name == "session-lock")
}

/// Whether `entry` of an event's list is one `install` wrote: a handler running our command
/// (Cursor's shape), or a group whose only handler does.
fn is_our_entry(entry: &Value) -> bool {
    let runs_us = |handler: &Value| handler["command"].as_str().is_some_and(is_our_command);
    match entry.get("hooks") {
        Some(Value::Array(handlers)) => handlers.len() == 1 && runs_us(&handlers[0]),
        _ => runs_us(entry),
    }
}

/// One hook handler in the agent's shape.
fn handler(agent: Agent, command: &str) -> Value {
    match agent {
        Agent::Cursor => json!({"command": command}),
        Agent::Gemini => {
            json!({"type": "command", "command": command, "timeout": TIMEOUT_SECONDS * 1000})
        }
        Agent::ClaudeCode | Agent::Codex => {
            json!({"type": "command", "command": command, "timeout": TIMEOUT_SECONDS})
        }
    }
}

/// One entry of an event's list in the agent's shape.
fn entry(agent: Agent, registration: &Registration, command: &str) -> Value {
    if agent == Agent::Cursor {
        return handler(agent, command);
    }
    let mut entry = Map::new();
    if let Some(matcher) = &registration.matcher {
        entry.insert("matcher".into(), json!(matcher));
    }
    entry.insert("hooks".into(), json!([handler(agent, command)]));
    Value::Object(entry)
}

/// Reads a settings file: `{}` when it does not exist; an error, touching nothing, when it is
/// not a JSON object.
pub fn read_settings(path: &Path) -> Result<Map<String, Value>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str(&text) {
        Ok(Value::Object(settings)) => Ok(settings),
        Ok(_) => bail!("{} is not a JSON object; left untouched", path.display()),
        Err(e) => bail!("{} is not valid JSON ({e}); left untouched", path.display()),
    }
}

/// The `hooks` object of the settings, created when missing.
fn hooks_object<'a>(
    settings: &'a mut Map<String, Value>,
    path: &Path,
) -> Result<&'a mut Map<String, Value>> {
    match settings.entry("hooks").or_insert_with(|| json!({})) {
        Value::Object(hooks) => Ok(hooks),
        _ => bail!(
            "\"hooks\" in {} is not an object; left untouched",
            path.display()
        ),
    }
}

/// `settings` with the hooks of `registrations` added for `command`; unchanged where present.
pub fn with_hooks(
    mut settings: Map<String, Value>,
    agent: Agent,
    registrations: &[Registration],
    command: &str,
    path: &Path,
) -> Result<Map<String, Value>> {
    if agent == Agent::Cursor && !settings.contains_key("version") {
        settings.insert("version".into(), json!(1));
    }
    let hooks = hooks_object(&mut settings, path)?;
    for registration in registrations {
        let list = match hooks
            .entry(registration.event.clone())
            .or_insert_with(|| json!([]))
        {
            Value::Array(list) => list,
            _ => bail!(
                "hooks.{} in {} is not a list; left untouched",
                registration.event,
                path.display()
            ),
        };
        let wanted = entry(agent, registration, command);
        if !list.contains(&wanted) {
            // A binary that moved: its old entry goes, the new one takes its place at the end.
            list.retain(|entry| !is_our_entry(entry));
            list.push(wanted);
        }
    }
    Ok(settings)
}

/// `settings` without any hook `install` wrote (for any binary location); events and a `hooks`
/// object left empty are removed.
pub fn without_hooks(mut settings: Map<String, Value>) -> Map<String, Value> {
    let Some(Value::Object(hooks)) = settings.get_mut("hooks") else {
        return settings;
    };
    let had_events = !hooks.is_empty();
    hooks.retain(|_, list| {
        let Value::Array(entries) = list else {
            return true;
        };
        let before = entries.len();
        entries.retain(|entry| !is_our_entry(entry));
        // An event list emptied here goes; one that was empty already stays.
        !(entries.is_empty() && before > 0)
    });
    if had_events && hooks.is_empty() {
        settings.remove("hooks");
    }
    settings
}

/// The file's text: pretty JSON and a final newline.
pub fn render(settings: &Map<String, Value>) -> String {
    let mut text = serde_json::to_string_pretty(settings).expect("JSON values serialize");
    text.push('\n');
    text
}

/// Replaces `path` with `text` atomically (a temporary file beside it, renamed over it),
/// creating its folder. Nothing is written when the text is already there.
pub fn write_atomically(path: &Path, text: &str) -> Result<bool> {
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

/// Whether `run` adds or removes the hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `session-lock install`.
    Install,
    /// `session-lock uninstall`.
    Uninstall,
}

/// Installs or uninstalls the hooks of `agent` at `scope`, for the project the current
/// directory lies in; with `dry_run`, prints the resulting file instead of writing it.
pub fn run(change: Change, agent: Agent, scope: Scope, dry_run: bool) -> Result<()> {
    let home = std::env::home_dir().context("no home directory")?;
    let project =
        crate::workspace::resolve(&std::env::current_dir()?).map_err(anyhow::Error::msg)?;
    let path = settings_path(agent, scope, &home, &project)?;
    let settings = read_settings(&path)?;
    let updated = match change {
        Change::Install => {
            let binary = std::env::current_exe()?.canonicalize()?;
            let mut policy =
                crate::component::Policy::load(crate::fs_store::FsLockStore::new(&home))?;
            let registrations = policy.registrations(agent)?;
            with_hooks(
                settings,
                agent,
                &registrations,
                &hook_command(&binary, agent),
                &path,
            )?
        }
        Change::Uninstall => without_hooks(settings),
    };
    let text = render(&updated);
    if dry_run {
        print!("{text}");
        return Ok(());
    }
    let wrote = write_atomically(&path, &text)?;
    let done = match (change, wrote) {
        (Change::Install, true) => "installed the session-lock hooks in",
        (Change::Install, false) => "the session-lock hooks were already installed in",
        (Change::Uninstall, true) => "removed the session-lock hooks from",
        (Change::Uninstall, false) => "no session-lock hooks to remove in",
    };
    println!("{done} {}", path.display());
    Ok(())
}
