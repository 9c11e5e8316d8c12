//! The session-lock plugin as Claude Code installed it, for `doctor`: Claude Code lists every
//! installed plugin's folder in `~/.claude/plugins/installed_plugins.json`, and runs a plugin's
//! hooks while `enabledPlugins` in its settings turns it on. A plugin whose `hooks/hooks.json`
//! runs `bin/session-lock-hook` is session-lock's, whatever marketplace it came from; its
//! launcher finds the binary as the Gemini CLI extension's does ([`crate::launcher`]).

use std::path::{Path, PathBuf};

use crate::agent_trust::read_json;
use crate::install::commands;
use crate::launcher;

/// What the client puts in a plugin's hook commands for the folder it installed it in.
const PLUGIN_ROOT: &str = "${CLAUDE_PLUGIN_ROOT}";

/// One installed session-lock plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugin {
    /// Its name in the client, `plugin@marketplace` (`claude plugin enable NAME`).
    pub name: String,
    /// The folder the client installed it in.
    pub dir: PathBuf,
    /// The launcher its hooks run.
    pub launcher: PathBuf,
}

/// Every installed plugin whose hooks run session-lock's launcher, in the order of their names.
pub fn installed(home: &Path) -> Vec<Plugin> {
    let list = read_json(&home.join(".claude/plugins/installed_plugins.json"));
    let Some(plugins) = list["plugins"].as_object() else {
        return Vec::new();
    };
    let mut found: Vec<Plugin> = plugins
        .iter()
        .flat_map(|(name, installs)| {
            let installs = installs.as_array().cloned().unwrap_or_default();
            installs.into_iter().filter_map(move |install| {
                let dir = PathBuf::from(install["installPath"].as_str()?);
                let launcher = launcher_in(&dir)?;
                Some(Plugin {
                    name: name.clone(),
                    launcher,
                    dir,
                })
            })
        })
        .collect();
    found.sort_by(|a, b| (&a.name, &a.dir).cmp(&(&b.name, &b.dir)));
    found
}

/// The launcher the hooks of the plugin in `dir` run, when one of them runs session-lock's
/// launcher in that folder and it is there.
fn launcher_in(dir: &Path) -> Option<PathBuf> {
    let dir_text = dir.to_str()?;
    let hooks = read_json(&dir.join("hooks/hooks.json"));
    let launcher = commands(&hooks)
        .iter()
        .find_map(|command| launcher::launcher_in(command, PLUGIN_ROOT, dir_text))?;
    launcher.is_file().then_some(launcher)
}

/// Whether Claude Code runs `plugin`'s hooks in `project`, and the settings file that says so:
/// `enabledPlugins` in the project's local settings, then its shared settings, then the
/// user's, the first that names the plugin deciding (as Claude Code's settings override one
/// another). Named in none, it is off.
pub fn enabled(plugin: &Plugin, home: &Path, project: &Path) -> (bool, Option<PathBuf>) {
    let files = [
        project.join(".claude/settings.local.json"),
        project.join(".claude/settings.json"),
        home.join(".claude/settings.json"),
    ];
    for file in files {
        if let Some(on) = read_json(&file)["enabledPlugins"][&plugin.name].as_bool() {
            return (on, Some(file));
        }
    }
    (false, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// A plugin folder as the client installs it: session-lock's when `ours`.
    fn plugin_dir(dir: &Path, ours: bool) {
        let command = match ours {
            true => "\"${CLAUDE_PLUGIN_ROOT}/bin/session-lock-hook\"",
            false => "\"${CLAUDE_PLUGIN_ROOT}/bin/format\"",
        };
        write(
            &dir.join("hooks/hooks.json"),
            &format!(
                r#"{{"hooks":{{"PreToolUse":[{{"hooks":[{{"type":"command","command":{}}}]}}]}}}}"#,
                serde_json::to_string(command).unwrap()
            ),
        );
        write(&dir.join("bin/session-lock-hook"), "#!/bin/sh\n");
        write(&dir.join("bin/format"), "#!/bin/sh\n");
    }

    #[test]
    fn only_plugins_whose_hooks_run_the_launcher_are_ours_and_settings_decide_if_on() {
        let home = tempfile::tempdir().unwrap();
        let home = home.path();
        let ours = home.join(".claude/plugins/cache/team/session-lock/0.1.0");
        let other = home.join(".claude/plugins/cache/team/formatter/1.0.0");
        plugin_dir(&ours, true);
        plugin_dir(&other, false);
        let list = serde_json::json!({"version": 2, "plugins": {
            "session-lock@team": [{"scope": "user", "installPath": ours}],
            "formatter@team": [{"scope": "user", "installPath": other}],
        }});
        write(
            &home.join(".claude/plugins/installed_plugins.json"),
            &list.to_string(),
        );
        let found = installed(home);
        assert_eq!(
            found,
            [Plugin {
                name: "session-lock@team".into(),
                launcher: ours.join("bin/session-lock-hook"),
                dir: ours,
            }]
        );
        let project = home.join("repo");
        assert_eq!(enabled(&found[0], home, &project), (false, None));
        let user = home.join(".claude/settings.json");
        write(&user, r#"{"enabledPlugins":{"session-lock@team":true}}"#);
        assert_eq!(enabled(&found[0], home, &project), (true, Some(user)));
        // The project's own settings turn it off there.
        let local = project.join(".claude/settings.local.json");
        write(&local, r#"{"enabledPlugins":{"session-lock@team":false}}"#);
        assert_eq!(enabled(&found[0], home, &project), (false, Some(local)));
    }

    #[test]
    fn no_list_no_plugin() {
        let home = tempfile::tempdir().unwrap();
        assert!(installed(home.path()).is_empty());
    }
}
