//! The launcher that session-lock's Claude Code plugin and Gemini CLI extension run from their
//! hooks (`bin/session-lock-hook` in the folder the client installed), as `doctor` reads it:
//! which hook commands run it, and which binary it finds. Nothing here runs anything.

use std::fs;
use std::path::{Path, PathBuf};

/// Where the launcher lies under the folder a client loads the plugin or extension from.
pub const LAUNCHER: &str = "/bin/session-lock-hook";

/// Whether a hook `command` runs session-lock's launcher inside the folder the client names
/// `root_variable` (`${CLAUDE_PLUGIN_ROOT}`, `${extensionPath}`): that launcher's path and
/// nothing else, quoted or not, with no character a shell would do more with.
pub fn runs_launcher(command: &str, root_variable: &str) -> bool {
    let word = command.trim();
    let word = word
        .strip_prefix('"')
        .and_then(|w| w.strip_suffix('"'))
        .unwrap_or(word);
    word.strip_prefix(root_variable).is_some_and(|rest| {
        rest.ends_with(LAUNCHER)
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
    })
}

/// The launcher a hook `command` runs when it [`runs_launcher`] in the folder `root` that the
/// client names `root_variable`: its path with `root` filled in.
pub fn launcher_in(command: &str, root_variable: &str, root: &str) -> Option<PathBuf> {
    runs_launcher(command, root_variable).then(|| {
        PathBuf::from(
            command
                .trim()
                .trim_matches('"')
                .replace(root_variable, root),
        )
    })
}

/// The binary the launcher runs, found as the launcher finds it (never run): the native
/// binary of an npm install of `session-lock` on `PATH`, else the `session-lock` on `PATH`,
/// else `stable` when it is an executable file.
pub fn binary(stable: &Path) -> Option<PathBuf> {
    binary_on(std::env::var_os("PATH").as_deref(), stable)
}

/// [`binary`] with `path` for `PATH` (`tests/plugin.rs` runs the launcher itself against it
/// in each layout, so the two search orders cannot drift apart).
pub fn binary_on(path: Option<&std::ffi::OsStr>, stable: &Path) -> Option<PathBuf> {
    let on_path = path.and_then(|path| {
        std::env::split_paths(path)
            .map(|dir| dir.join("session-lock"))
            .find(|candidate| executable(candidate))
    });
    if let Some(on_path) = on_path {
        let native = on_path
            .to_str()
            .and_then(|text| text.strip_suffix("/bin/session-lock"))
            .and_then(|prefix| {
                let modules = Path::new(prefix).join("lib/node_modules/session-lock/node_modules");
                let mut found: Vec<PathBuf> = fs::read_dir(modules)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("session-lock-"))
                    .map(|e| e.path().join("bin/session-lock"))
                    .filter(|candidate| executable(candidate))
                    .collect();
                found.sort();
                found.into_iter().next()
            });
        return Some(native.unwrap_or(on_path));
    }
    executable(stable).then(|| stable.to_path_buf())
}

/// Whether `path` is a file someone may execute (what the shell's `command -v` and `-x`
/// look for).
fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_launcher_in_the_clients_folder_counts() {
        for root in ["${extensionPath}", "${CLAUDE_PLUGIN_ROOT}"] {
            let runs = |command: &str| runs_launcher(&command.replace("ROOT", root), root);
            assert!(runs("\"ROOT/bin/session-lock-hook\""));
            assert!(runs("ROOT/bin/session-lock-hook"));
            assert!(runs("\"ROOT/plugins/gemini/bin/session-lock-hook\""));
            assert!(!runs("/usr/bin/session-lock-hook"));
            assert!(!runs("\"ROOT/bin/session-lock-hook\" && rm -rf \"ROOT\""));
            assert!(!runs("\"ROOT/bin/other\""));
            assert!(!runs(
                "ROOT/bin/session-lock-hook; x; /bin/session-lock-hook"
            ));
            assert!(!runs("id > /tmp/x; \"ROOT/bin/session-lock-hook\""));
        }
        assert_eq!(
            launcher_in(
                "\"${extensionPath}/bin/session-lock-hook\"",
                "${extensionPath}",
                "/x"
            ),
            Some(PathBuf::from("/x/bin/session-lock-hook"))
        );
        assert_eq!(
            launcher_in("/usr/bin/session-lock-hook", "${extensionPath}", "/x"),
            None
        );
        // Each client's variable only in its own bundle.
        assert!(!runs_launcher(
            "\"${extensionPath}/bin/session-lock-hook\"",
            "${CLAUDE_PLUGIN_ROOT}"
        ));
    }
}
