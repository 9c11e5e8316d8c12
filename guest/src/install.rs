//! `session-lock install` / `uninstall`: the agent's settings text in, the changed text out.
//! The host only finds the file ([`settings_file`]), reads it and replaces it.
//!
//! Every other key and hook is kept, key order too; running twice changes nothing; text that
//! is not a JSON object is refused with one line.

use serde_json::{Map, Value};

use crate::agents::{Agent, Scope};
use crate::settings::{MAX_WAIT_MS, WAIT_VARIABLE, lookup, quoted};

/// How a binary path names the home directory of whoever runs the hook.
const HOME_VARIABLE: &str = "$HOME";

/// How long an agent must give the hook when it does not wait for the lock: its own 1 s
/// deadline, with room to spare on a loaded machine.
const HOOK_TIME_MS: u64 = 3_000;

/// The settings file of `agent` at `scope`, relative to the home (user) or project directory,
/// or absolute where `environment` names the agent's own folder for its user settings.
///
/// A relative folder is refused: the agent resolves it against whatever directory it starts
/// in, so its user settings have no one place, and a hook written to any one of them would
/// leave every other session of the agent unprotected without a word.
pub fn settings_file(
    agent: Agent,
    scope: Scope,
    environment: &[(String, String)],
) -> Result<String, String> {
    let protocol = agent.protocol();
    let file = protocol.settings_file(scope)?;
    if scope == Scope::User
        && let Some((variable, name)) = protocol.user_folder_variable()
        && let Some(folder) = lookup(environment, variable)
    {
        if !folder.starts_with('/') {
            return Err(format!(
                "{variable} is a relative path ({}): {} resolves it against the folder it \
                 starts in, so its user settings are in no one place; set {variable} to an \
                 absolute path, or unset it",
                quoted(folder),
                protocol.name()
            ));
        }
        return Ok(format!("{}/{name}", folder.trim_end_matches('/')));
    }
    Ok(file.to_owned())
}

/// What the person must still do after an install of `agent` at `scope`, one line each.
pub fn next_steps(agent: Agent, scope: Scope) -> Vec<String> {
    let steps = agent.protocol().next_steps(scope);
    steps.into_iter().map(str::to_owned).collect()
}

/// `settings` with the hooks of `agent` added, each running `binary` (and waiting up to
/// `wait_ms` for a held lock); unchanged where present. A hook of an earlier install at another
/// path or with another wait is replaced.
pub fn install(agent: Agent, settings: &str, binary: &str, wait_ms: u64) -> Result<String, String> {
    if wait_ms > MAX_WAIT_MS {
        return Err(format!(
            "a wait of {wait_ms} ms is longer than the most, {MAX_WAIT_MS} ms"
        ));
    }
    let protocol = agent.protocol();
    let command = hook_command(binary, protocol.name(), wait_ms);
    // The agent lets the tool run when the hook outlives its timeout: the timeout must cover
    // the whole wait and the hook's own time after it.
    let timeout_ms = HOOK_TIME_MS + wait_ms;
    let mut settings = parse(settings)?;
    protocol.prepare_settings(&mut settings);
    let hooks = hooks_object(&mut settings)?;
    for registration in protocol.registrations() {
        let list = match hooks
            .entry(registration.event)
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(list) => list,
            _ => {
                return Err(format!(
                    "hooks.{} is not a list; left untouched",
                    registration.event
                ));
            }
        };
        let wanted = protocol.settings_entry(registration, &command, timeout_ms);
        if !list.contains(&wanted) {
            // A binary that moved: its old entry goes, the new one takes its place at the end.
            list.retain(|entry| !is_our_entry(entry));
            list.push(wanted);
        }
    }
    Ok(render(&settings))
}

/// `settings` without any hook an install wrote (for any binary location); events and a
/// `hooks` object left empty are removed.
pub fn uninstall(settings: &str) -> Result<String, String> {
    let mut settings = parse(settings)?;
    if let Some(Value::Object(hooks)) = settings.get_mut("hooks") {
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
    }
    Ok(render(&settings))
}

/// The command the agent runs: the wait, if any, the binary (quoted for `sh -c` when needed),
/// `hook`, and the agent's name, so the agent is never guessed from the event.
///
/// A binary given as `$HOME/...` (a project's shared settings, the same on every teammate's
/// machine) keeps `$HOME` for the shell to expand, in double quotes so a home with spaces
/// stays one word: `"$HOME/.local/share/session-lock/bin/session-lock"`; the rest of such a
/// path is quoted as any other path when it needs it.
pub fn hook_command(binary: &str, agent_name: &str, wait_ms: u64) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@".contains(c);
    let quoted = |path: &str| {
        if !path.is_empty() && path.chars().all(safe) {
            path.to_owned()
        } else {
            format!("'{}'", path.replace('\'', r"'\''"))
        }
    };
    let binary = match binary.strip_prefix(HOME_VARIABLE) {
        Some(rest) if rest.starts_with('/') && rest.chars().all(safe) => {
            format!("\"{HOME_VARIABLE}{rest}\"")
        }
        Some(rest) if rest.starts_with('/') => format!("\"{HOME_VARIABLE}\"{}", quoted(rest)),
        _ => quoted(binary),
    };
    let wait = if wait_ms > 0 {
        format!("{WAIT_VARIABLE}={wait_ms} ")
    } else {
        String::new()
    };
    format!("{wait}{binary} hook --agent {agent_name}")
}

/// Whether `command` is one an install wrote, for any location of the binary and any wait.
fn is_our_command(command: &str) -> bool {
    let command = command.trim_start();
    let command = command
        .strip_prefix(WAIT_VARIABLE)
        .and_then(|rest| rest.strip_prefix('='))
        .and_then(|rest| rest.split_once(' '))
        .map_or(command, |(_, rest)| rest);
    let mut words: Vec<&str> = command.split_whitespace().collect();
    if words.len() >= 3 && words[words.len() - 2] == "--agent" {
        words.truncate(words.len() - 2);
    }
    let Some((&"hook", path)) = words.split_last() else {
        return false;
    };
    // Quotes only group words for the shell (`'/a b/session-lock'`, `"$HOME"/...`): the
    // binary's file name is what counts.
    let path: String = path
        .join(" ")
        .chars()
        .filter(|c| !"'\"".contains(*c))
        .collect();
    path.rsplit('/').next() == Some("session-lock")
}

/// Whether `entry` of an event's list is one an install wrote: a handler running our command
/// (Cursor's shape), or a group whose only handler does.
fn is_our_entry(entry: &Value) -> bool {
    let runs_us = |handler: &Value| handler["command"].as_str().is_some_and(is_our_command);
    match entry.get("hooks") {
        Some(Value::Array(handlers)) => handlers.len() == 1 && runs_us(&handlers[0]),
        _ => runs_us(entry),
    }
}

/// The settings as an object: `{}` for empty text.
fn parse(text: &str) -> Result<Map<String, Value>, String> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str(text) {
        Ok(Value::Object(settings)) => Ok(settings),
        Ok(_) => Err("not a JSON object; left untouched".to_owned()),
        Err(e) => Err(format!("not valid JSON ({e}); left untouched")),
    }
}

/// The `hooks` object of the settings, created when missing.
fn hooks_object(settings: &mut Map<String, Value>) -> Result<&mut Map<String, Value>, String> {
    match settings
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()))
    {
        Value::Object(hooks) => Ok(hooks),
        _ => Err("\"hooks\" is not an object; left untouched".to_owned()),
    }
}

/// The file's text: pretty JSON and a final newline.
fn render(settings: &Map<String, Value>) -> String {
    let mut text = serde_json::to_string_pretty(settings).expect("JSON values serialize");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_keeps_other_keys_in_order_and_is_idempotent() {
        let before = r#"{"z": 1, "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "other"}]}]}, "a": 2}"#;
        let once = install(Agent::ClaudeCode, before, "/opt/bin/session-lock", 0).unwrap();
        assert_eq!(
            install(Agent::ClaudeCode, &once, "/opt/bin/session-lock", 0).unwrap(),
            once
        );
        assert!(once.find("\"z\"").unwrap() < once.find("\"a\"").unwrap());
        assert!(once.contains("\"command\": \"other\""));
        assert!(once.contains("/opt/bin/session-lock hook --agent claude"));
        assert!(once.contains("PostToolUseFailure") && once.contains("StopFailure"));
    }

    #[test]
    fn a_moved_binary_replaces_the_old_entry_and_uninstall_removes_any() {
        let old = install(Agent::Codex, "", "/old/session-lock", 0).unwrap();
        let new = install(Agent::Codex, &old, "/new place/session-lock", 0).unwrap();
        assert!(!new.contains("/old/session-lock"));
        assert!(new.contains(r"'/new place/session-lock' hook --agent codex"));
        assert_eq!(uninstall(&new).unwrap(), "{}\n");
    }

    #[test]
    fn a_wait_is_set_in_the_command_and_covered_by_the_timeout() {
        let text = install(Agent::ClaudeCode, "", "/b/session-lock", 30_000).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        let handler = &value["hooks"]["PreToolUse"][0]["hooks"][0];
        assert_eq!(
            handler["command"],
            "SESSION_LOCK_WAIT_MS=30000 /b/session-lock hook --agent claude"
        );
        assert_eq!(handler["timeout"], 33);
        let without = install(Agent::ClaudeCode, &text, "/b/session-lock", 0).unwrap();
        assert!(
            !without.contains("SESSION_LOCK_WAIT_MS"),
            "the wait is replaced"
        );
        assert_eq!(uninstall(&text).unwrap(), "{}\n");
        assert!(install(Agent::ClaudeCode, "", "/b", MAX_WAIT_MS + 1).is_err());
    }

    #[test]
    fn cursor_gets_its_version_and_flat_entries() {
        let text = install(Agent::Cursor, "", "/b/session-lock", 0).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["version"], 1);
        assert_eq!(
            value["hooks"]["stop"][0]["command"],
            "/b/session-lock hook --agent cursor"
        );
        assert_eq!(uninstall(&text).unwrap(), "{\n  \"version\": 1\n}\n");
    }

    #[test]
    fn a_binary_under_home_keeps_home_for_the_shell_and_is_ours() {
        let stable = "$HOME/.local/share/session-lock/bin/session-lock";
        let text = install(Agent::ClaudeCode, "", stable, 0).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value["hooks"]["Stop"][0]["hooks"][0]["command"],
            "\"$HOME/.local/share/session-lock/bin/session-lock\" hook --agent claude"
        );
        assert_eq!(install(Agent::ClaudeCode, &text, stable, 0).unwrap(), text);
        assert_eq!(uninstall(&text).unwrap(), "{}\n");
        assert_eq!(
            hook_command("$HOME/my bin/session-lock", "codex", 0),
            "\"$HOME\"'/my bin/session-lock' hook --agent codex"
        );
        assert!(is_our_command(
            "\"$HOME\"'/my bin/session-lock' hook --agent codex"
        ));
        // `$HOME` not followed by a path is only a strange file name, quoted whole.
        assert_eq!(
            hook_command("$HOMEX", "cursor", 0),
            "'$HOMEX' hook --agent cursor"
        );
        // Moving from an absolute path to the shared spelling replaces the entry.
        let old = install(
            Agent::Gemini,
            "",
            "/home/u/.local/share/session-lock/bin/session-lock",
            0,
        )
        .unwrap();
        let new = install(Agent::Gemini, &old, stable, 0).unwrap();
        assert!(!new.contains("/home/u/"), "{new}");
    }

    #[test]
    fn codex_home_moves_codex_user_settings_and_nothing_else() {
        let env = |value: &str| vec![("CODEX_HOME".to_owned(), value.to_owned())];
        assert_eq!(
            settings_file(Agent::Codex, Scope::User, &env("/srv/codex/")).unwrap(),
            "/srv/codex/hooks.json"
        );
        assert_eq!(
            settings_file(Agent::Codex, Scope::User, &[]).unwrap(),
            ".codex/hooks.json"
        );
        let relative = settings_file(Agent::Codex, Scope::User, &env("rel")).unwrap_err();
        assert!(
            relative.starts_with("CODEX_HOME is a relative path (\"rel\"): codex resolves it"),
            "{relative}"
        );
        assert_eq!(
            settings_file(Agent::Codex, Scope::Project, &env("rel")).unwrap(),
            ".codex/hooks.json",
            "a project's file is where the project is"
        );
        assert_eq!(
            settings_file(Agent::Codex, Scope::Project, &env("/srv/codex")).unwrap(),
            ".codex/hooks.json"
        );
        assert_eq!(
            settings_file(Agent::Gemini, Scope::User, &env("/srv/codex")).unwrap(),
            ".gemini/settings.json"
        );
    }

    #[test]
    fn gemini_cli_home_moves_gemini_user_settings_and_nothing_else() {
        let env = |value: &str| vec![("GEMINI_CLI_HOME".to_owned(), value.to_owned())];
        assert_eq!(
            settings_file(Agent::Gemini, Scope::User, &env("/srv/g/")).unwrap(),
            "/srv/g/.gemini/settings.json"
        );
        assert_eq!(
            settings_file(Agent::Gemini, Scope::User, &[]).unwrap(),
            ".gemini/settings.json"
        );
        assert_eq!(
            settings_file(Agent::Gemini, Scope::User, &env("")).unwrap(),
            ".gemini/settings.json",
            "an empty value is unset, as the client takes it"
        );
        let relative = settings_file(Agent::Gemini, Scope::User, &env("g\nh")).unwrap_err();
        assert!(
            relative.starts_with(r#"GEMINI_CLI_HOME is a relative path ("g\nh"): gemini"#),
            "one line: {relative}"
        );
        assert_eq!(
            settings_file(Agent::Gemini, Scope::Project, &env("/srv/g")).unwrap(),
            ".gemini/settings.json"
        );
        assert_eq!(
            settings_file(Agent::Codex, Scope::User, &env("/srv/g")).unwrap(),
            ".codex/hooks.json"
        );
    }

    #[test]
    fn bad_text_is_refused_in_one_line() {
        assert!(
            install(Agent::ClaudeCode, "[1]", "/b", 0)
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(uninstall("{").unwrap_err().contains("not valid JSON"));
        let bad_hooks = install(Agent::ClaudeCode, r#"{"hooks": []}"#, "/b", 0).unwrap_err();
        assert!(bad_hooks.contains("not an object"));
    }
}
