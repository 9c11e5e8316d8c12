//! The Gemini CLI extensions of session-lock's that the client has installed, read from the
//! client's own files: for `session-lock doctor`, so that an installed extension counts as the
//! registered hook and one turned off counts as off. Nothing here writes or runs anything.
//!
//! What Gemini CLI (0.61.0) does, checked against the client pinned in `tests/gemini-cli/`:
//! - `gemini extensions install <path or git URL>` copies the extension into
//!   `~/.gemini/extensions/<name>/` (`~` is `$GEMINI_CLI_HOME` when set) and writes
//!   `.gemini-extension-install.json` there (`{"source", "type"}`); `gemini extensions link
//!   <path>` writes only that file, with `"type": "link"`, and loads the extension from
//!   `source` each time.
//! - It loads an extension's hooks from `<extension>/hooks/hooks.json`, `${extensionPath}` in
//!   them standing for the folder it loads from.
//! - `~/.gemini/extensions/extension-enablement.json` holds, per extension, a list of rules
//!   (`"/home/u/*"`, `"!/home/u/repo/*"`: a folder, `*` for the folders below it too, `!` to
//!   turn it off). The last rule that matches the folder the client starts in wins; with none,
//!   the extension is on. `gemini extensions disable|enable [--scope user|workspace]` add them
//!   (user scope: a rule for the home folder).
//! - It runs an active extension's hooks whether or not the folder is trusted; hooks from
//!   settings only in a trusted folder. With `hooksConfig.enabled: false` in its settings it
//!   runs no hook at all, and none whose command is listed in `hooksConfig.disabled`.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::agent_trust::{Finding, read_json};
use crate::component::{Agent, Scope};
use crate::install::{self, SettingsFile};
use crate::launcher;

/// What the client puts in an extension's hook commands for the folder it loads it from.
const EXTENSION_PATH: &str = "${extensionPath}";

/// The file, in an extension's folder, that says where the client installed it from.
const INSTALL_METADATA: &str = ".gemini-extension-install.json";

/// One of session-lock's extensions as Gemini CLI installed it.
#[derive(Debug, Clone)]
pub struct Extension {
    /// Its name in the client (`gemini extensions enable NAME`).
    pub name: String,
    /// Where the client keeps it: `~/.gemini/extensions/<name>`.
    pub dir: PathBuf,
    /// Where the client loads it from: `dir`, or the linked folder.
    pub root: PathBuf,
    /// How it came there: `installed from …` or `linked to …`.
    pub origin: String,
    /// Its hooks' commands as the client runs them (`${extensionPath}` filled in).
    pub commands: Vec<String>,
    /// The launcher they run (`bin/session-lock-hook` in `root`, or in `plugins/gemini/` of
    /// it for the repository's root).
    pub launcher: PathBuf,
}

/// Where Gemini CLI keeps the files doctor reads. Its folder is taken from where the component
/// places its user settings (`~/.gemini`, or `.gemini` in `$GEMINI_CLI_HOME`), so that doctor
/// reads the folder `install` writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeminiFiles {
    /// The client's folder: extensions, trust rules and user settings are in it.
    pub dir: PathBuf,
    /// The user's settings file.
    pub user_settings: PathBuf,
    /// The project's settings file.
    pub project_settings: PathBuf,
}

impl GeminiFiles {
    /// Gemini CLI's files, from its settings files among `files`; `None` when they lack one.
    pub fn among(files: &[SettingsFile]) -> Option<GeminiFiles> {
        let user = install::settings_path(files, Agent::Gemini, Scope::User)?;
        let project = install::settings_path(files, Agent::Gemini, Scope::Project)?;
        Some(GeminiFiles {
            dir: user.parent()?.to_path_buf(),
            user_settings: user.to_path_buf(),
            project_settings: project.to_path_buf(),
        })
    }

    /// The files of a client whose home is `home` and that runs in `project` (for tests).
    #[cfg(test)]
    pub fn in_home(home: &Path, project: &Path) -> GeminiFiles {
        GeminiFiles {
            dir: home.join(".gemini"),
            user_settings: home.join(".gemini/settings.json"),
            project_settings: project.join(".gemini/settings.json"),
        }
    }
}

/// Every extension in Gemini CLI's extensions folder whose hooks run session-lock's launcher,
/// in the order of their names.
pub fn installed(gemini: &GeminiFiles) -> Vec<Extension> {
    let extensions = gemini.dir.join("extensions");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&extensions)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    dirs.into_iter().filter_map(|dir| ours(&dir)).collect()
}

/// The extension in `dir` when its hooks run session-lock's launcher.
fn ours(dir: &Path) -> Option<Extension> {
    let metadata = read_json(&dir.join(INSTALL_METADATA));
    let source = metadata["source"].as_str().map(PathBuf::from);
    let (root, origin) = match (metadata["type"].as_str(), source) {
        (Some("link"), Some(source)) => (source.clone(), format!("linked to {}", source.display())),
        (Some(kind), Some(source)) => (
            dir.to_path_buf(),
            format!("installed from {} ({kind})", source.display()),
        ),
        _ => (dir.to_path_buf(), "installed".to_owned()),
    };
    let manifest = read_json(&root.join("gemini-extension.json"));
    let name = manifest["name"].as_str()?.to_owned();
    let hooks = read_json(&root.join("hooks/hooks.json"));
    let root_text = root.to_str()?;
    let ours: Vec<&str> = handlers(&hooks)
        .filter_map(|handler| handler["command"].as_str())
        .filter(|command| launcher::runs_launcher(command, EXTENSION_PATH))
        .collect();
    let launcher = launcher::launcher_in(ours.first()?, EXTENSION_PATH, root_text)?;
    let commands = ours
        .iter()
        .map(|command| command.replace(EXTENSION_PATH, root_text))
        .collect();
    Some(Extension {
        name,
        dir: dir.to_path_buf(),
        root,
        origin,
        commands,
        launcher,
    })
}

/// Every handler under `hooks.<event>[].hooks[]`.
fn handlers(hooks: &Value) -> impl Iterator<Item = &Value> {
    hooks["hooks"]
        .as_object()
        .into_iter()
        .flat_map(|events| events.values())
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|group| group["hooks"].as_array())
        .flatten()
}

/// Whether the client turns `extension` on in `folder`, and the rule that decides it.
fn enabled_in(extension: &str, folder: &Path, rules_file: &Path) -> (bool, Option<String>) {
    let rules = read_json(rules_file);
    let folder = with_slashes(&folder.to_string_lossy());
    let mut verdict = (true, None);
    for rule in rules[extension]["overrides"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let (off, base) = match rule.strip_prefix('!') {
            Some(base) => (true, base),
            None => (false, rule),
        };
        if rule_matches(base, &folder) {
            verdict = (!off, Some(rule.to_owned()));
        }
    }
    verdict
}

/// `path` with one `/` before and after, as the client compares folders.
fn with_slashes(path: &str) -> String {
    let mut path = path.replace('\\', "/");
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    if !path.ends_with('/') {
        path.push('/');
    }
    path
}

/// Whether a rule's folder (`/a/b/*` or `/a/b/`) matches `folder` (with slashes) as the
/// client's pattern does: each `*` stands for any text or none, and so does a `/*`.
fn rule_matches(base: &str, folder: &str) -> bool {
    glob(base.as_bytes(), folder.as_bytes())
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'/', b'*', rest @ ..] => {
            glob(rest, text)
                || (text.first() == Some(&b'/') && (1..=text.len()).any(|k| glob(rest, &text[k..])))
        }
        [b'*', rest @ ..] => (0..=text.len()).any(|k| glob(rest, &text[k..])),
        [first, rest @ ..] => text.first() == Some(first) && glob(rest, &text[1..]),
    }
}

/// What the client will make of `extension` in `project`: one finding on whether it runs the
/// extension's hooks there, with its trust facts.
pub fn check(extension: &Extension, project: &Path, gemini: &GeminiFiles) -> Finding {
    let rules_file = gemini.dir.join("extensions/extension-enablement.json");
    // The client's user scope is a rule for the home its folder is in.
    let gemini_home = gemini.dir.parent().unwrap_or(&gemini.dir);
    let name = &extension.name;
    let (on, rule) = enabled_in(name, project, &rules_file);
    let shown = project.display();
    if !on {
        let fix = if project.starts_with(gemini_home) {
            format!(
                "`gemini extensions enable {name}` (every folder in your home), or run \
                 `gemini extensions enable --scope workspace {name}` in {shown}"
            )
        } else {
            format!("run `gemini extensions enable --scope workspace {name}` in {shown}")
        };
        return Finding::fail(
            "gemini extension",
            format!(
                "Gemini CLI has the extension {name} ({}) turned off in {shown} (rule {:?} in \
                 {}), so it runs none of its hooks here",
                extension.origin,
                rule.unwrap_or_default(),
                rules_file.display()
            ),
            &fix,
        );
    }
    Finding::pass(
        "gemini extension",
        format!(
            "the extension {name} ({}) registers the hook, on in {shown}; Gemini CLI runs an \
             extension's hooks in untrusted folders too (hooks in settings only in trusted \
             ones)",
            extension.origin
        ),
    )
}

/// Whether Gemini CLI's settings turn the hooks off: all of them (`hooksConfig.enabled:
/// false`) or one of `commands` (`hooksConfig.disabled`), in the user's settings or the
/// project's. `None` when they do not.
pub fn hooks_turned_off(gemini: &GeminiFiles, commands: &[String]) -> Option<Finding> {
    for file in [&gemini.user_settings, &gemini.project_settings] {
        let settings = read_json(file);
        let config = &settings["hooksConfig"];
        if config["enabled"] == Value::Bool(false) {
            return Some(Finding::fail(
                "gemini hooks",
                format!(
                    "hooksConfig.enabled is false in {}: Gemini CLI runs no hook at all",
                    file.display()
                ),
                "remove hooksConfig.enabled from that file (or set it to true)",
            ));
        }
        let disabled: Vec<&str> = config["disabled"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|name| commands.iter().any(|c| c == name))
            .collect();
        if !disabled.is_empty() {
            return Some(Finding::fail(
                "gemini hooks",
                format!(
                    "hooksConfig.disabled in {} lists the session-lock hook ({}), so Gemini CLI \
                     does not run it",
                    file.display(),
                    disabled.join(", ")
                ),
                "take it out of hooksConfig.disabled (or enable it in `/hooks`)",
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_matches_its_folder_and_with_a_star_the_folders_below() {
        assert!(rule_matches("/home/u/*", "/home/u/"));
        assert!(rule_matches("/home/u/*", "/home/u/repo/"));
        assert!(!rule_matches("/home/u/*", "/home/user/"));
        assert!(rule_matches("/w/repo/", "/w/repo/"));
        assert!(!rule_matches("/w/repo/", "/w/repo/sub/"));
        assert!(rule_matches("/w/a.b/*", "/w/a.b/c/"));
        assert!(!rule_matches("/w/a.b/*", "/w/axb/c/"));
    }

    #[test]
    fn the_last_matching_rule_wins_and_none_leaves_it_on() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("extension-enablement.json");
        let write = |rules: Value| fs::write(&file, rules.to_string()).unwrap();
        let on = |folder: &str| enabled_in("session-lock", Path::new(folder), &file).0;
        assert!(on("/w/repo"), "no file: on");
        write(serde_json::json!({"session-lock": {"overrides": ["!/home/u/*", "/home/u/repo/*"]}}));
        assert!(on("/home/u/repo"));
        assert!(on("/home/u/repo/sub"));
        assert!(!on("/home/u/other"));
        assert!(on("/w/repo"), "no rule matches: on");
        write(serde_json::json!({"session-lock": {"overrides": ["/home/u/repo/*", "!/home/u/*"]}}));
        assert!(!on("/home/u/repo"));
        write(serde_json::json!({"other": {"overrides": ["!/home/u/*"]}}));
        assert!(on("/home/u/repo"), "another extension's rules do not count");
    }

    #[test]
    fn hooks_turned_off_in_settings_are_found_all_or_ours() {
        let home = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        let ours = vec!["\"/x/bin/session-lock-hook\"".to_owned()];
        let gemini = GeminiFiles::in_home(home.path(), project.path());
        assert_eq!(hooks_turned_off(&gemini, &ours), None);
        let write = |dir: &Path, settings: Value| {
            fs::create_dir_all(dir.join(".gemini")).unwrap();
            fs::write(dir.join(".gemini/settings.json"), settings.to_string()).unwrap();
        };
        write(
            project.path(),
            serde_json::json!({"hooksConfig": {"disabled": ["other"]}}),
        );
        assert_eq!(hooks_turned_off(&gemini, &ours), None);
        write(
            project.path(),
            serde_json::json!({"hooksConfig": {"disabled": [ours[0]]}}),
        );
        let found = hooks_turned_off(&gemini, &ours).unwrap();
        assert!(found.detail.contains("hooksConfig.disabled"), "{found:?}");
        write(
            home.path(),
            serde_json::json!({"hooksConfig": {"enabled": false}}),
        );
        let found = hooks_turned_off(&gemini, &ours).unwrap();
        assert!(found.detail.contains("runs no hook at all"), "{found:?}");
    }
}
