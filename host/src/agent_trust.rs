//! Whether an agent will run the hooks registered for it, read from the agent's own files:
//! for `session-lock doctor`, so that it never says "ok" where the agent skips the hooks.
//! Nothing here writes: trust is the person's decision, made in the agent.
//!
//! - Codex runs a hook only once the person has trusted it (`/hooks`), recorded in
//!   `$CODEX_HOME/config.toml` as `[hooks.state."<hooks file>:<event>:<group>:<handler>"]
//!   trusted_hash = "sha256:…"`, and a project's hooks only in a trusted project
//!   (`[projects."<path>"] trust_level = "trusted"`). The hash covers the hook as Codex
//!   normalizes it ([`codex_hook_hash`]): doctor computes it as Codex does and tells a trusted
//!   hook from one modified since it was trusted, as Codex's own `/hooks` review does.
//! - Gemini CLI runs settings hooks only in trusted folders (`~/.gemini/trustedFolders.json`,
//!   `GEMINI_CLI_TRUST_WORKSPACE=true`, or folder trust turned off in
//!   `security.folderTrust.enabled`), and may redact the hook's environment (under GitHub
//!   Actions, or with `security.environmentVariableRedaction`).

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::component::Scope;
use crate::gemini_extension::GeminiFiles;

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
    pub(crate) fn pass(name: &str, detail: String) -> Finding {
        Finding {
            name: name.to_owned(),
            ok: true,
            detail,
            fix: None,
        }
    }

    pub(crate) fn fail(name: &str, detail: String, fix: &str) -> Finding {
        Finding {
            name: name.to_owned(),
            ok: false,
            detail,
            fix: Some(fix.to_owned()),
        }
    }
}

/// What Codex will make of the hooks in `hooks_file` (registered at `scope` in `project`)
/// that run one of `ours`, by the `config.toml` in `codex_dir` (Codex's folder: where its
/// user hooks file is, `~/.codex` or `$CODEX_HOME`).
pub fn codex(
    hooks_file: &Path,
    scope: Scope,
    project: &Path,
    codex_dir: &Path,
    ours: &[String],
) -> Vec<Finding> {
    let config_path = codex_dir.join("config.toml");
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
    let mut findings = codex_hooks_trust(hooks_file, &config, ours);
    if scope != Scope::User {
        findings.push(codex_project_trust(project, &config, &config_path));
    }
    findings
}

/// What Codex makes of one of our handlers, by its stored state and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HookTrust {
    /// Trusted, and unchanged since: Codex runs it.
    Trusted,
    /// Never trusted: Codex skips it.
    Untrusted,
    /// Trusted once, changed since (another `--wait`, another binary path): Codex skips it.
    Modified,
    /// Turned off in `/hooks`.
    Disabled,
    /// Trusted once, but the handler holds something whose hash session-lock cannot
    /// reproduce exactly.
    Unconfirmed,
}

/// Whether Codex will run every hook of ours in `hooks_file`: each handler's state in
/// `[hooks.state]`, its stored `trusted_hash` against [`codex_hook_hash`] of it as the file
/// holds it now. One finding per way Codex would skip them, each with its fix; one pass when
/// it runs them all.
fn codex_hooks_trust(hooks_file: &Path, config: &toml::Table, ours: &[String]) -> Vec<Finding> {
    let hooks = fs::read_to_string(hooks_file)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .unwrap_or(Value::Null);
    let states = config
        .get("hooks")
        .and_then(|hooks| hooks.get("state"))
        .and_then(toml::Value::as_table);
    let mut found: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut trusted = 0;
    for handler in our_handlers(hooks_file, &hooks, ours) {
        let state = states.and_then(|states| states.get(&handler.key));
        let enabled = state
            .and_then(|s| s.get("enabled"))
            .and_then(toml::Value::as_bool);
        let stored = state
            .and_then(|s| s.get("trusted_hash"))
            .and_then(toml::Value::as_str);
        let verdict = match (enabled, stored) {
            (Some(false), _) => HookTrust::Disabled,
            (_, None) => HookTrust::Untrusted,
            (_, Some(stored)) => match &handler.hash {
                Some(current) if current == stored => HookTrust::Trusted,
                Some(_) => HookTrust::Modified,
                None => HookTrust::Unconfirmed,
            },
        };
        let kind = match verdict {
            HookTrust::Trusted => {
                trusted += 1;
                continue;
            }
            HookTrust::Untrusted => "untrusted",
            HookTrust::Modified => "modified",
            HookTrust::Disabled => "disabled",
            HookTrust::Unconfirmed => "unconfirmed",
        };
        found.entry(kind).or_default().push(handler.key);
    }
    let file = hooks_file.display();
    let review = "start `codex`, open `/hooks` and trust each session-lock hook (or pass \
                  `--dangerously-bypass-hook-trust` to `codex exec` if you have vetted them)";
    let mut findings = Vec::new();
    for (kind, keys) in &found {
        let (detail, fix) = match *kind {
            "disabled" => (
                format!("Codex has the session-lock hooks in {file} turned off"),
                "start `codex`, open `/hooks` and turn them on",
            ),
            "untrusted" => (
                format!(
                    "Codex has not trusted {} of the session-lock hooks in {file}, so it does \
                     not run them (`codex exec` skips them without a word)",
                    keys.len()
                ),
                review,
            ),
            "modified" => (
                format!(
                    "{} of the session-lock hooks in {file} changed since Codex trusted them \
                     (their command or timeout, e.g. after another `install --wait`), so Codex \
                     skips them until they are trusted again",
                    keys.len()
                ),
                review,
            ),
            _ => (
                format!(
                    "cannot confirm trust: Codex stored a trust for {} of the session-lock hooks \
                     in {file}, but they hold a field whose hash session-lock cannot reproduce, \
                     so it cannot tell whether they changed since",
                    keys.len()
                ),
                "open `/hooks` in `codex` to see whether it lists them as trusted, or run \
                 `session-lock install --agent codex` again to write them as session-lock \
                 knows them",
            ),
        };
        findings.push(Finding::fail(
            "codex trust",
            format!("{detail}: {}", keys.join(", ")),
            fix,
        ));
    }
    if findings.is_empty() {
        findings.push(Finding::pass(
            "codex trust",
            format!(
                "Codex trusts all {trusted} session-lock hooks in {file}, unchanged since they \
                 were trusted"
            ),
        ));
    }
    findings
}

/// One handler of ours in a Codex hooks file.
struct OurHandler {
    /// `<hooks file>:<event in snake case>:<group>:<handler>`: the key of its trust in
    /// Codex's config.
    key: String,
    /// Its [`codex_hook_hash`], `None` when it cannot be reproduced.
    hash: Option<String>,
}

/// Each handler in `hooks` running one of `ours`, with its key and hash.
fn our_handlers(hooks_file: &Path, hooks: &Value, ours: &[String]) -> Vec<OurHandler> {
    let mut found = Vec::new();
    let Some(events) = hooks.get("hooks").and_then(Value::as_object) else {
        return found;
    };
    for (event, groups) in events {
        let label = snake_case(event);
        for (i, group) in groups.as_array().into_iter().flatten().enumerate() {
            let handlers = group.get("hooks").and_then(Value::as_array);
            for (j, handler) in handlers.into_iter().flatten().enumerate() {
                let command = handler.get("command").and_then(Value::as_str);
                if command.is_some_and(|c| ours.iter().any(|o| o == c)) {
                    found.push(OurHandler {
                        key: format!("{}:{label}:{i}:{j}", hooks_file.display()),
                        hash: codex_hook_hash(event, group.get("matcher"), handler),
                    });
                }
            }
        }
    }
    found
}

/// The `trusted_hash` Codex (codex-cli 0.171.0) computes for one command `handler` of the
/// group under `event` (as hooks.json names it, `PreToolUse`) with that group's `matcher`;
/// `None` when the handler is not one whose hash can be reproduced exactly (not a command, or
/// a field of a type Codex would not read).
///
/// Codex hashes the hook as it normalizes it, not the file's text: `sha256:` and the hex
/// SHA-256 of the compact JSON, keys sorted, of `{"event_name": <snake case>, "matcher"?,
/// "hooks": [{"type": "command", "command", "timeout", "async", "statusMessage"?,
/// "additionalContextLimit"?}]}`, where
/// - the matcher is dropped for the events that take none (`Stop`, `UserPromptSubmit`,
///   `Interrupt`);
/// - the timeout is 600 when unset and at least 1, but for `SessionEnd` and `Interrupt` 1
///   when unset and clamped to 1..=3;
/// - `additionalContextLimit` counts only on the events that can add context, and not at its
///   default of 2500;
/// - fields left unset are left out, and fields Codex does not read (`commandWindows` on
///   Unix) count for nothing.
///
/// This is Codex's `command_hook_hash` (codex-rs/hooks, `engine/discovery.rs`, through
/// `version_for_toml`), checked against the hash the real client lists for each of these cases
/// (`tests/codex_cli.rs`).
pub fn codex_hook_hash(event: &str, matcher: Option<&Value>, handler: &Value) -> Option<String> {
    let label = snake_case(event);
    if handler.get("type").and_then(Value::as_str) != Some("command") {
        return None;
    }
    let command = handler.get("command")?.as_str()?;
    // Unset and `null` read alike (Codex's fields are options); any other type makes Codex
    // reject the file, which session-lock does not guess about.
    let field = |name: &str| handler.get(name).filter(|v| !v.is_null());
    let timeout = match field("timeout") {
        None => None,
        Some(value) => Some(value.as_u64()?),
    };
    let timeout = match label.as_str() {
        "session_end" | "interrupt" => timeout.unwrap_or(1).clamp(1, 3),
        _ => timeout.unwrap_or(600).max(1),
    };
    let run_async = match handler.get("async") {
        None => false,
        Some(value) => value.as_bool()?,
    };
    let mut normalized: BTreeMap<&str, Value> = BTreeMap::new();
    normalized.insert("type", "command".into());
    normalized.insert("command", command.into());
    normalized.insert("timeout", timeout.into());
    normalized.insert("async", run_async.into());
    if let Some(message) = field("statusMessage") {
        normalized.insert("statusMessage", message.as_str()?.into());
    }
    if let Some(limit) = field("additionalContextLimit") {
        let limit = limit.as_u64()?;
        let adds_context = matches!(
            label.as_str(),
            "pre_tool_use"
                | "post_tool_use"
                | "session_start"
                | "user_prompt_submit"
                | "subagent_start"
        );
        if adds_context && limit != 2500 {
            normalized.insert("additionalContextLimit", limit.into());
        }
    }
    let matcher = match matcher.filter(|m| !m.is_null()) {
        None => None,
        Some(matcher) => Some(matcher.as_str()?),
    };
    let takes_matcher = !matches!(label.as_str(), "stop" | "user_prompt_submit" | "interrupt");
    let mut identity: BTreeMap<&str, Value> = BTreeMap::new();
    identity.insert("event_name", label.clone().into());
    identity.insert(
        "hooks",
        Value::Array(vec![serde_json::to_value(normalized).ok()?]),
    );
    if let Some(matcher) = matcher.filter(|_| takes_matcher) {
        identity.insert("matcher", matcher.into());
    }
    // A BTreeMap serializes its keys in order, nested ones too (the handler is serialized
    // from its own BTreeMap into a JSON object whose order the map kept).
    let canonical = serde_json::to_string(&identity).ok()?;
    let digest = Sha256::digest(canonical.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    Some(format!("sha256:{hex}"))
}

/// `PreToolUse` → `pre_tool_use`, as Codex names events in its keys and hashes.
pub fn snake_case(event: &str) -> String {
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
pub fn gemini(project: &Path, gemini: &GeminiFiles) -> Vec<Finding> {
    let settings = read_json(&gemini.user_settings);
    vec![
        gemini_folder_trust(project, gemini, &settings),
        gemini_redaction(&settings),
    ]
}

/// Whether Gemini CLI trusts `project`, and so runs the hooks of settings files there (an
/// extension's it runs either way).
pub fn gemini_trusts(project: &Path, gemini: &GeminiFiles) -> bool {
    let settings = read_json(&gemini.user_settings);
    gemini_folder_trust(project, gemini, &settings).ok
}

/// Whether Gemini CLI's hooks, those of an extension too, keep the `SESSION_LOCK_*` variables
/// set here.
pub fn gemini_environment(gemini: &GeminiFiles) -> Finding {
    gemini_redaction(&read_json(&gemini.user_settings))
}

fn gemini_folder_trust(project: &Path, gemini: &GeminiFiles, settings: &Value) -> Finding {
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
    // The client's own override of where its rules are, then their place in its folder.
    let rules_file = std::env::var_os("GEMINI_CLI_TRUSTED_FOLDERS_PATH")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| gemini.dir.join("trustedFolders.json"));
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

/// A JSON file of an agent's: its value, `null` when it is missing or not JSON (the agent
/// then has no rule).
pub(crate) fn read_json(path: &Path) -> Value {
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

    /// A hash the pinned client (codex-cli 0.171.0) listed in `hooks/list` for this handler:
    /// a fixed point for when the client is not installed (`tests/codex_cli.rs` compares
    /// every form of hook with the client itself).
    #[test]
    fn the_hash_is_the_one_codex_listed() {
        let handler = json!({"type": "command", "timeout": 3,
            "command": "/tmp/exp/home/.local/share/session-lock/bin/session-lock hook --agent codex"});
        let matcher = json!("Bash|apply_patch|Edit|Write|shell|local_shell|exec_command");
        assert_eq!(
            codex_hook_hash("PreToolUse", Some(&matcher), &handler).unwrap(),
            "sha256:064d3e0dd5f564ee50357a7382b1597e17171833fd65b101c466933613df4add"
        );
        assert_eq!(
            codex_hook_hash("Stop", None, &handler).unwrap(),
            "sha256:2036e3a0aec823859d1b48dbeb600eaf72c87f0ddb27e3c007277416b666ddb1"
        );
    }

    #[test]
    fn the_hash_is_of_the_hook_as_codex_normalizes_it() {
        let hash = |event: &str, matcher: Option<Value>, handler: Value| {
            codex_hook_hash(event, matcher.as_ref(), &handler)
        };
        let plain = json!({"type": "command", "command": "x"});
        // Defaults filled in, and what Codex does not read left out.
        assert_eq!(
            hash("PreToolUse", None, plain.clone()),
            hash(
                "PreToolUse",
                None,
                json!({"type": "command", "command": "x", "timeout": 600,
                "async": false, "statusMessage": null, "commandWindows": "y",
                "additionalContextLimit": 2500})
            )
        );
        assert_eq!(
            hash(
                "SessionEnd",
                None,
                json!({"type": "command", "command": "x", "timeout": 9})
            ),
            hash(
                "SessionEnd",
                None,
                json!({"type": "command", "command": "x", "timeout": 3})
            )
        );
        assert_eq!(
            hash("Stop", Some(json!("Bash")), plain.clone()),
            hash("Stop", None, plain.clone())
        );
        // What Codex does hash tells hooks apart.
        assert_ne!(
            hash("PreToolUse", Some(json!("Bash")), plain.clone()),
            hash("PreToolUse", None, plain.clone())
        );
        assert_ne!(
            hash("PreToolUse", None, plain.clone()),
            hash(
                "PreToolUse",
                None,
                json!({"type": "command", "command": "x", "timeout": 5})
            )
        );
        assert_ne!(
            hash("PreToolUse", None, plain.clone()),
            hash("PostToolUse", None, plain.clone())
        );
        // What Codex would not read is not guessed at.
        assert_eq!(hash("PreToolUse", None, json!({"type": "prompt"})), None);
        assert_eq!(
            hash(
                "PreToolUse",
                None,
                json!({"type": "command", "command": "x", "timeout": 2.5})
            ),
            None
        );
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
