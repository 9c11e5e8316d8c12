//! Whether an agent will run the hooks registered for it, read from the agent's own files:
//! for `session-lock doctor`, so that it never says "ok" where the agent skips the hooks.
//! Nothing here writes: trust is the person's decision, made in the agent.
//!
//! - Codex runs a hook only once the person has trusted it (`/hooks`), recorded in
//!   `$CODEX_HOME/config.toml` as `[hooks.state."<hooks file>:<event>:<group>:<handler>"]
//!   trusted_hash = "sha256:…"`, and a project's hooks only in a trusted project
//!   (`[projects."<path>"] trust_level = "trusted"`). The hash covers the hook as it was
//!   trusted; session-lock does not reproduce Codex's hash, so a stored trust is reported as
//!   one it cannot confirm (Codex itself asks again at start-up when a hook changed).
//! - Gemini CLI runs settings hooks only in trusted folders (`~/.gemini/trustedFolders.json`,
//!   `GEMINI_CLI_TRUST_WORKSPACE=true`, or folder trust turned off in
//!   `security.folderTrust.enabled`), and may redact the hook's environment (under GitHub
//!   Actions, or with `security.environmentVariableRedaction`).

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::component::Scope;

/// One thing found about an agent's trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was checked.
    pub name: String,
    /// Whether the agent will run the hooks as far as this goes.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// What the person does about it, when it fails.
    pub fix: Option<String>,
}

impl Finding {
    fn pass(name: &str, detail: String) -> Finding {
        Finding {
            name: name.to_owned(),
            ok: true,
            detail,
            fix: None,
        }
    }

    fn fail(name: &str, detail: String, fix: &str) -> Finding {
        Finding {
            name: name.to_owned(),
            ok: false,
            detail,
            fix: Some(fix.to_owned()),
        }
    }
}

/// Codex's folder: `$CODEX_HOME` when it is an absolute path, else `~/.codex`.
pub fn codex_home(home: &Path) -> PathBuf {
    std::env::var_os("CODEX_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .unwrap_or_else(|| home.join(".codex"))
}

/// What Codex will make of the hooks in `hooks_file` (registered at `scope` in `project`)
/// that run one of `ours`.
pub fn codex(
    hooks_file: &Path,
    scope: Scope,
    project: &Path,
    home: &Path,
    ours: &[String],
) -> Vec<Finding> {
    let config_path = codex_home(home).join("config.toml");
    let config = match read_toml(&config_path) {
        Ok(config) => config,
        Err(why) => {
            return vec![Finding::fail(
                "codex trust",
                format!("cannot read {}: {why}", config_path.display()),
                "make it valid TOML (Codex cannot read it either)",
            )];
        }
    };
    let mut findings = vec![codex_hooks_trust(hooks_file, &config, ours)];
    if scope != Scope::User {
        findings.push(codex_project_trust(project, &config, &config_path));
    }
    findings
}

/// Whether every hook of ours in `hooks_file` has a trust Codex stored.
fn codex_hooks_trust(hooks_file: &Path, config: &toml::Table, ours: &[String]) -> Finding {
    let hooks = fs::read_to_string(hooks_file)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .unwrap_or(Value::Null);
    let states = config
        .get("hooks")
        .and_then(|hooks| hooks.get("state"))
        .and_then(toml::Value::as_table);
    let mut untrusted = Vec::new();
    let mut disabled = Vec::new();
    let mut trusted = 0;
    for key in hook_keys(hooks_file, &hooks, ours) {
        let state = states.and_then(|states| states.get(&key));
        let enabled = state
            .and_then(|s| s.get("enabled"))
            .and_then(toml::Value::as_bool);
        let hash = state
            .and_then(|s| s.get("trusted_hash"))
            .and_then(toml::Value::as_str);
        match (enabled, hash) {
            (Some(false), _) => disabled.push(key),
            (_, Some(hash)) if !hash.is_empty() => trusted += 1,
            _ => untrusted.push(key),
        }
    }
    let file = hooks_file.display();
    if !disabled.is_empty() {
        return Finding::fail(
            "codex trust",
            format!(
                "Codex has the session-lock hooks in {file} turned off ({})",
                disabled.join(", ")
            ),
            "start `codex`, open `/hooks` and turn them on",
        );
    }
    if !untrusted.is_empty() {
        return Finding::fail(
            "codex trust",
            format!(
                "Codex has not trusted {} of the session-lock hooks in {file}, so it does not \
                 run them (`codex exec` skips them without a word): {}",
                untrusted.len(),
                untrusted.join(", ")
            ),
            "start `codex`, open `/hooks` and trust each session-lock hook (or pass \
             `--dangerously-bypass-hook-trust` to `codex exec` if you have vetted them)",
        );
    }
    Finding::pass(
        "codex trust",
        format!(
            "cannot confirm trust: Codex stored a trust for all {trusted} session-lock hooks in \
             {file}, but session-lock does not reproduce Codex's hash of a hook, so it cannot \
             tell whether they changed since (Codex asks again at start-up if they did)"
        ),
    )
}

/// `<hooks file>:<event in snake case>:<group>:<handler>` of each handler running one of
/// `ours`: the key of its trust in Codex's config.
fn hook_keys(hooks_file: &Path, hooks: &Value, ours: &[String]) -> Vec<String> {
    let mut keys = Vec::new();
    let Some(events) = hooks.get("hooks").and_then(Value::as_object) else {
        return keys;
    };
    for (event, groups) in events {
        for (i, group) in groups.as_array().into_iter().flatten().enumerate() {
            let handlers = group.get("hooks").and_then(Value::as_array);
            for (j, handler) in handlers.into_iter().flatten().enumerate() {
                let command = handler.get("command").and_then(Value::as_str);
                if command.is_some_and(|c| ours.iter().any(|o| o == c)) {
                    keys.push(format!(
                        "{}:{}:{i}:{j}",
                        hooks_file.display(),
                        snake_case(event)
                    ));
                }
            }
        }
    }
    keys
}

/// `PreToolUse` → `pre_tool_use`, as Codex names events in its keys.
fn snake_case(event: &str) -> String {
    let mut out = String::new();
    for (i, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether Codex trusts `project` (it loads a project's hooks only then).
fn codex_project_trust(project: &Path, config: &toml::Table, config_path: &Path) -> Finding {
    let projects = config.get("projects").and_then(toml::Value::as_table);
    let canonical = fs::canonicalize(project).unwrap_or_else(|_| project.to_path_buf());
    let level = [project, canonical.as_path()].iter().find_map(|path| {
        let entry = projects?.get(path.to_str()?)?;
        entry.get("trust_level")?.as_str().map(str::to_owned)
    });
    match level.as_deref() {
        Some("trusted") => Finding::pass(
            "codex project trust",
            format!("Codex trusts {}", project.display()),
        ),
        other => Finding::fail(
            "codex project trust",
            format!(
                "Codex loads no hook of {}: the project is {} in {}",
                project.display(),
                other.map_or("not trusted".to_owned(), |l| format!("{l:?}")),
                config_path.display()
            ),
            "trust the project when Codex asks (or run `codex exec --trust` in it once)",
        ),
    }
}

/// What Gemini CLI will make of hooks registered for `project`: whether the folder is trusted,
/// and whether the hook's environment keeps the `SESSION_LOCK_*` variables set here.
pub fn gemini(project: &Path, home: &Path) -> Vec<Finding> {
    let settings = read_json(&home.join(".gemini/settings.json"));
    vec![
        gemini_folder_trust(project, home, &settings),
        gemini_redaction(&settings),
    ]
}

fn gemini_folder_trust(project: &Path, home: &Path, settings: &Value) -> Finding {
    let name = "gemini folder trust";
    let shown = project.display();
    if settings["security"]["folderTrust"]["enabled"] == Value::Bool(false) {
        return Finding::pass(
            name,
            format!("folder trust is off in Gemini CLI's settings: {shown} counts as trusted"),
        );
    }
    if std::env::var("GEMINI_CLI_TRUST_WORKSPACE").as_deref() == Ok("true") {
        return Finding::pass(
            name,
            "GEMINI_CLI_TRUST_WORKSPACE=true trusts every folder".into(),
        );
    }
    let rules_file = home.join(".gemini/trustedFolders.json");
    let rules = read_json(&rules_file);
    match folder_trusted(project, &rules) {
        Some(true) => Finding::pass(name, format!("Gemini CLI trusts {shown}")),
        found => Finding::fail(
            name,
            format!(
                "Gemini CLI runs no settings hook in {shown}: the folder is {} ({})",
                if found == Some(false) {
                    "marked not to be trusted"
                } else {
                    "not trusted"
                },
                rules_file.display()
            ),
            "trust the folder when Gemini CLI asks (or with `/permissions`); for headless \
             runs set GEMINI_CLI_TRUST_WORKSPACE=true",
        ),
    }
}

/// Gemini CLI's rule for `folder`: `TRUST_FOLDER` on it or a folder above it, `TRUST_PARENT`
/// on a folder whose parent is it or above it; `DO_NOT_TRUST` on the folder itself. `None`
/// when no rule speaks.
fn folder_trusted(folder: &Path, rules: &Value) -> Option<bool> {
    let canonical = fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
    let rules = rules.as_object()?;
    let mut verdict = None;
    for (path, level) in rules {
        let path = Path::new(path);
        match level.as_str() {
            Some("TRUST_FOLDER") if canonical.starts_with(path) => return Some(true),
            Some("TRUST_PARENT")
                if path
                    .parent()
                    .is_some_and(|parent| canonical.starts_with(parent)) =>
            {
                return Some(true);
            }
            Some("DO_NOT_TRUST") if canonical == path => verdict = Some(false),
            _ => {}
        }
    }
    verdict
}

fn gemini_redaction(settings: &Value) -> Finding {
    let name = "gemini hook environment";
    let redaction = &settings["security"]["environmentVariableRedaction"];
    let on_actions = std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true");
    if !(on_actions || redaction["enabled"] == Value::Bool(true)) {
        return Finding::pass(name, "Gemini CLI passes the hook its environment".into());
    }
    let allowed: Vec<&str> = redaction["allowed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let lost: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name.starts_with("SESSION_LOCK_") && !allowed.contains(&name.as_str()))
        .collect();
    if lost.is_empty() {
        return Finding::pass(
            name,
            "Gemini CLI redacts the hook's environment, but no SESSION_LOCK_* variable set here \
             is lost"
                .into(),
        );
    }
    Finding::fail(
        name,
        format!(
            "Gemini CLI redacts the hook's environment (under GitHub Actions, or with \
             security.environmentVariableRedaction): the hook would not see {}",
            lost.join(", ")
        ),
        "list them in security.environmentVariableRedaction.allowed in Gemini CLI's settings",
    )
}

/// A TOML file as a table: empty when the file does not exist.
fn read_toml(path: &Path) -> Result<toml::Table, String> {
    match fs::read_to_string(path) {
        Ok(text) => text.parse::<toml::Table>().map_err(|e| e.to_string()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(toml::Table::new()),
        Err(e) => Err(e.to_string()),
    }
}

/// A JSON file's value: `null` when it is missing or not JSON (the agent then has no rule).
fn read_json(path: &Path) -> Value {
    fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_named_as_codex_keys_name_them() {
        assert_eq!(snake_case("PreToolUse"), "pre_tool_use");
        assert_eq!(snake_case("Stop"), "stop");
        assert_eq!(snake_case("SessionEnd"), "session_end");
    }

    #[test]
    fn a_folder_is_trusted_by_its_own_rule_or_one_above_it() {
        let rules = json!({"/w/repo": "TRUST_FOLDER", "/x/sub": "TRUST_PARENT",
                           "/y/no": "DO_NOT_TRUST"});
        assert_eq!(folder_trusted(Path::new("/w/repo/a"), &rules), Some(true));
        assert_eq!(folder_trusted(Path::new("/x/other"), &rules), Some(true));
        assert_eq!(folder_trusted(Path::new("/y/no"), &rules), Some(false));
        assert_eq!(folder_trusted(Path::new("/w/repository"), &rules), None);
        assert_eq!(folder_trusted(Path::new("/w"), &Value::Null), None);
    }
}
