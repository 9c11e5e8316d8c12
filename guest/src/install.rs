//! `session-lock install` / `uninstall`: the agent's settings text in, the changed text out.
//! The host only finds the file ([`settings_file`]), reads it and replaces it.
//!
//! Every other key and hook is kept, key order too; running twice changes nothing; text that
//! is not a JSON object is refused with one line.

use serde_json::{Map, Value};

use crate::agents::{Agent, Scope};

/// The settings file of `agent` at `scope`, relative to the home (user) or project directory.
pub fn settings_file(agent: Agent, scope: Scope) -> Result<&'static str, String> {
    agent.protocol().settings_file(scope)
}

/// `settings` with the hooks of `agent` added, each running `binary`; unchanged where present.
/// A hook of an earlier install at another path is replaced.
pub fn install(agent: Agent, settings: &str, binary: &str) -> Result<String, String> {
    let protocol = agent.protocol();
    let command = hook_command(binary, protocol.name());
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
        let wanted = protocol.settings_entry(registration, &command);
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

/// The command the agent runs: the binary (quoted for `sh -c` when needed), `hook`, and the
/// agent's name, so the agent is never guessed from the event.
pub fn hook_command(binary: &str, agent_name: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@".contains(c);
    let binary = if !binary.is_empty() && binary.chars().all(safe) {
        binary.to_owned()
    } else {
        format!("'{}'", binary.replace('\'', r"'\''"))
    };
    format!("{binary} hook --agent {agent_name}")
}

/// Whether `command` is one an install wrote, for any location of the binary.
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
        let once = install(Agent::ClaudeCode, before, "/opt/bin/session-lock").unwrap();
        assert_eq!(
            install(Agent::ClaudeCode, &once, "/opt/bin/session-lock").unwrap(),
            once
        );
        assert!(once.find("\"z\"").unwrap() < once.find("\"a\"").unwrap());
        assert!(once.contains("\"command\": \"other\""));
        assert!(once.contains("/opt/bin/session-lock hook --agent claude"));
        assert!(once.contains("PostToolUseFailure") && once.contains("StopFailure"));
    }

    #[test]
    fn a_moved_binary_replaces_the_old_entry_and_uninstall_removes_any() {
        let old = install(Agent::Codex, "", "/old/session-lock").unwrap();
        let new = install(Agent::Codex, &old, "/new place/session-lock").unwrap();
        assert!(!new.contains("/old/session-lock"));
        assert!(new.contains(r"'/new place/session-lock' hook --agent codex"));
        assert_eq!(uninstall(&new).unwrap(), "{}\n");
    }

    #[test]
    fn cursor_gets_its_version_and_flat_entries() {
        let text = install(Agent::Cursor, "", "/b/session-lock").unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["version"], 1);
        assert_eq!(
            value["hooks"]["stop"][0]["command"],
            "/b/session-lock hook --agent cursor"
        );
        assert_eq!(uninstall(&text).unwrap(), "{\n  \"version\": 1\n}\n");
    }

    #[test]
    fn bad_text_is_refused_in_one_line() {
        assert!(
            install(Agent::ClaudeCode, "[1]", "/b")
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(uninstall("{").unwrap_err().contains("not valid JSON"));
        let bad_hooks = install(Agent::ClaudeCode, r#"{"hooks": []}"#, "/b").unwrap_err();
        assert!(bad_hooks.contains("not an object"));
    }
}
