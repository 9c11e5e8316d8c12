//! `session-lock install` and `uninstall` on temporary homes and projects.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;
#[path = "support/sandbox.rs"]
mod sandbox;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use events::*;
use sandbox::*;
use serde_json::{Value, json};

/// A temporary home and git project, and `session-lock` run from the project.
struct Setup {
    sandbox: Sandbox,
    home: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let sandbox = Sandbox::new();
        let home = sandbox.root().join("home");
        fs::create_dir_all(&home).unwrap();
        Setup { sandbox, home }
    }

    fn project(&self) -> &Path {
        &self.sandbox.workspace
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_binary(BINARY, args)
    }

    /// `binary ARGS` as [`Setup::run`] runs this one: in the project, with the temporary home
    /// (and no `XDG_DATA_HOME`, so the stable binary lands in that home).
    fn run_binary(&self, binary: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Output {
        let mut command = std::process::Command::new(binary);
        for name in [
            "CLAUDE_PROJECT_DIR",
            "CLAUDE_PID",
            "SESSION_LOCK_TTL_MS",
            "SESSION_LOCK_MODE",
            "XDG_DATA_HOME",
        ] {
            command.env_remove(name);
        }
        command
            .args(args)
            .env("SESSION_LOCK_DIR", &self.sandbox.lock_dir)
            .env("HOME", &self.home)
            .current_dir(self.project())
            .output()
            .unwrap()
    }

    /// Where `install` puts the binary the hooks run, in this home.
    fn stable(&self) -> PathBuf {
        self.home.join(".local/share/session-lock/bin/session-lock")
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            stderr_text(&output)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// The command `install --scope project` registers for `agent`: the stable binary spelled
/// through `$HOME` (so it runs on every teammate's machine), `hook`, and the agent's name.
fn our_command(agent: &str) -> String {
    format!("\"$HOME/.local/share/session-lock/bin/session-lock\" hook --agent {agent}")
}

/// The command of the first handler of `event` in Claude Code settings.
fn claude_command(settings: &Value, event: &str) -> String {
    settings["hooks"][event][0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_fresh_project_gets_the_eight_claude_code_hooks() {
    let setup = Setup::new();
    setup.ok(&["install", "--scope", "project"]);
    let settings = read_json(&setup.project().join(".claude/settings.json"));
    let handler = json!([{"type": "command", "command": our_command("claude"), "timeout": 3}]);
    let matcher = "^(Edit|Write|MultiEdit|NotebookEdit|Bash|mcp__.*)$";
    assert_eq!(
        settings,
        json!({"hooks": {
            "PreToolUse": [{"matcher": matcher, "hooks": handler}],
            "PostToolUse": [{"matcher": matcher, "hooks": handler}],
            "PostToolUseFailure": [{"matcher": matcher, "hooks": handler}],
            "Stop": [{"hooks": handler}],
            "StopFailure": [{"hooks": handler}],
            "SessionEnd": [{"hooks": handler}],
            "SessionStart": [{"hooks": handler}],
            "UserPromptSubmit": [{"hooks": handler}],
        }})
    );
}

#[test]
fn existing_settings_are_kept_install_is_idempotent_and_uninstall_restores_them() {
    let setup = Setup::new();
    let path = setup.project().join(".claude/settings.json");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let original = r#"{
  "model": "opus",
  "permissions": {"allow": ["Bash(npm test)"]},
  "hooks": {
    "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./audit.sh"}]}],
    "Notification": [{"hooks": [{"type": "command", "command": "notify-send hi"}]}]
  },
  "zzz_last_key": true
}"#;
    fs::write(&path, original).unwrap();

    setup.ok(&["install", "--scope", "project"]);
    let installed = fs::read_to_string(&path).unwrap();
    let settings: Value = serde_json::from_str(&installed).unwrap();
    let keys: Vec<&String> = settings.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["model", "permissions", "hooks", "zzz_last_key"],
        "key order kept"
    );
    let pre = settings["hooks"]["PreToolUse"].as_array().unwrap();
    assert_eq!(pre.len(), 2);
    assert_eq!(
        pre[0]["hooks"][0]["command"], "./audit.sh",
        "the user's hook comes first, kept"
    );
    assert_eq!(pre[1]["hooks"][0]["command"], our_command("claude"));
    assert_eq!(
        settings["hooks"]["Notification"][0]["hooks"][0]["command"],
        "notify-send hi"
    );

    let again = setup.ok(&["install", "--scope", "project"]);
    assert!(again.contains("already installed"), "{again}");
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        installed,
        "twice changes nothing"
    );

    setup.ok(&["uninstall", "--scope", "project"]);
    let original: Value = serde_json::from_str(original).unwrap();
    assert_eq!(read_json(&path), original);
}

#[test]
fn a_settings_file_that_is_not_json_is_refused_and_left_untouched() {
    let setup = Setup::new();
    let path = setup.project().join(".claude/settings.json");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let broken = b"{\"hooks\": {\"PreToolUse\": [ oops\n";
    fs::write(&path, broken).unwrap();
    for command in ["install", "uninstall"] {
        let output = setup.run(&[command, "--scope", "project"]);
        assert!(!output.status.success(), "{command} must refuse");
        let err = stderr_text(&output);
        assert!(
            err.contains("not valid JSON") && err.contains("left untouched"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_eq!(fs::read(&path).unwrap(), broken, "byte for byte untouched");
    }
}

/// Codex and Gemini CLI resolve a relative `CODEX_HOME` or `GEMINI_CLI_HOME` against whatever
/// folder they start in, so no one file is their user settings: install and doctor refuse it
/// in one line naming the variable, and nothing is written (the hook once went to `~/.codex`
/// while Codex read another file). Other agents' files and a project's do not depend on it.
#[test]
fn a_relative_agent_folder_is_refused_in_one_line_and_nothing_is_written() {
    let setup = Setup::new();
    for (agent, variable) in [("codex", "CODEX_HOME"), ("gemini", "GEMINI_CLI_HOME")] {
        let env = [(variable, Path::new("rel"))];
        let output = run_with(&setup, &["install", "--agent", agent], &env, None);
        let err = stderr_text(&output);
        assert!(!output.status.success(), "{agent}: {err}");
        let refused = format!("{variable} is a relative path (\"rel\")");
        assert!(
            err.contains(&refused) && err.contains("to an absolute path"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");

        let output = run_with(&setup, &["doctor"], &env, None);
        let said = String::from_utf8_lossy(&output.stdout);
        assert!(!output.status.success(), "{said}");
        let line = format!("FAIL hooks: cannot look for the settings files: {refused}");
        assert!(said.contains(&line), "{line:?} in {said}");
    }
    for unwritten in [".codex", ".gemini", ".local"] {
        assert!(!setup.home.join(unwritten).exists(), "{unwritten}");
    }
    assert!(!setup.project().join("rel").exists());

    let env = [("CODEX_HOME", Path::new("rel"))];
    for args in [
        &["install", "--agent", "claude"][..],
        &["install", "--agent", "codex", "--scope", "project"],
    ] {
        let output = run_with(&setup, args, &env, None);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            stderr_text(&output)
        );
    }
    assert!(setup.project().join(".codex/hooks.json").exists());
}

#[test]
fn scopes_choose_the_user_project_or_local_file() {
    let setup = Setup::new();
    setup.ok(&["install", "--scope", "user"]);
    assert!(setup.home.join(".claude/settings.json").exists());
    setup.ok(&["install", "--scope", "local"]);
    assert!(setup.project().join(".claude/settings.local.json").exists());
    assert!(!setup.project().join(".claude/settings.json").exists());
}

#[test]
fn dry_run_prints_the_file_and_writes_nothing() {
    let setup = Setup::new();
    let printed = setup.ok(&["install", "--scope", "project", "--dry-run"]);
    let printed: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(
        printed["hooks"]["Stop"][0]["hooks"][0]["command"],
        our_command("claude")
    );
    assert!(!setup.project().join(".claude").exists());
}

#[test]
fn each_agent_gets_its_own_file_and_shape() {
    let setup = Setup::new();
    let cases = [
        (
            "codex",
            ".codex/hooks.json",
            "PreToolUse",
            "apply_patch",
            "Stop",
        ),
        (
            "gemini",
            ".gemini/settings.json",
            "BeforeTool",
            "write_file",
            "AfterAgent",
        ),
    ];
    for (agent, file, before, tool, stop) in cases {
        setup.ok(&["install", "--scope", "project", "--agent", agent]);
        let settings = read_json(&setup.project().join(file));
        let entry = &settings["hooks"][before][0];
        assert!(
            entry["matcher"]
                .as_str()
                .unwrap()
                .split('|')
                .any(|t| t == tool),
            "{settings}"
        );
        let command = entry["hooks"][0]["command"].as_str().unwrap();
        assert_eq!(command, our_command(agent));
        assert!(settings["hooks"][stop].is_array(), "{settings}");
    }
    let gemini = read_json(&setup.project().join(".gemini/settings.json"));
    assert_eq!(
        gemini["hooks"]["BeforeTool"][0]["hooks"][0]["timeout"], 3000,
        "milliseconds"
    );

    setup.ok(&["install", "--scope", "project", "--agent", "cursor"]);
    let cursor = read_json(&setup.project().join(".cursor/hooks.json"));
    assert_eq!(cursor["version"], 1);
    assert_eq!(
        cursor["hooks"]["beforeShellExecution"],
        json!([{"command": our_command("cursor")}])
    );
    setup.ok(&["uninstall", "--scope", "project", "--agent", "cursor"]);
    assert_eq!(
        read_json(&setup.project().join(".cursor/hooks.json")),
        json!({"version": 1})
    );
}

#[test]
fn installed_hooks_run_the_binary_that_protects_the_workspace() {
    let setup = Setup::new();
    setup.ok(&["install", "--scope", "project"]);
    let settings = read_json(&setup.project().join(".claude/settings.json"));
    let command = settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap();
    let ws = setup.project();
    for (session, expect_deny) in [("A", false), ("B", true)] {
        // The agent runs the command through `sh -c`, in the person's environment.
        let mut child = std::process::Command::new("sh")
            .args(["-c", command])
            .env("HOME", &setup.home)
            .env("SESSION_LOCK_DIR", &setup.sandbox.lock_dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let event = claude_event("PreToolUse", session, Some("Write"), ws);
        feed(&mut child, event.to_string().as_bytes());
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            deny_reason(&output).is_some(),
            expect_deny,
            "{session}: {}",
            stderr_text(&output)
        );
    }
}

#[test]
fn dry_run_names_the_file_it_would_write_on_stderr() {
    let setup = Setup::new();
    let output = setup.run(&["install", "--dry-run"]);
    assert!(output.status.success(), "{}", stderr_text(&output));
    let file = setup.home.join(".claude/settings.json");
    assert_eq!(
        stderr_text(&output).trim_end(),
        format!("session-lock: dry run: would write {}", file.display())
    );
    assert!(!file.exists(), "a dry run writes nothing");
    assert!(!setup.stable().exists(), "nor copies the binary");
}

#[test]
fn install_registers_the_stable_copy_of_the_binary_never_the_build_directory() {
    let setup = Setup::new();
    setup.ok(&["install"]);
    let settings = read_json(&setup.home.join(".claude/settings.json"));
    let command = claude_command(&settings, "PreToolUse");
    assert_eq!(
        command,
        format!("{} hook --agent claude", setup.stable().display()),
        "the user's settings name the copy by its absolute path"
    );
    assert!(!command.contains("target/"), "{command}");
    let mode = fs::metadata(setup.stable()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(fs::read(setup.stable()).unwrap(), fs::read(BINARY).unwrap());

    // A second install leaves the copy as it is: a hook running it keeps its file.
    let inode = fs::metadata(setup.stable()).unwrap().ino();
    setup.ok(&["install", "--agent", "codex"]);
    assert_eq!(fs::metadata(setup.stable()).unwrap().ino(), inode);
}

#[test]
fn the_registered_binary_survives_deleting_the_one_install_ran_from() {
    let setup = Setup::new();
    // As if installed from target/release, then `cargo clean`.
    let build = setup.sandbox.root().join("target-release");
    fs::create_dir_all(&build).unwrap();
    let original = build.join("session-lock");
    fs::copy(BINARY, &original).unwrap();
    let output = setup.run_binary(&original, &["install"]);
    assert!(output.status.success(), "{}", stderr_text(&output));
    fs::remove_dir_all(&build).unwrap();

    let settings = read_json(&setup.home.join(".claude/settings.json"));
    let command = claude_command(&settings, "Stop");
    let binary = command.strip_suffix(" hook --agent claude").unwrap();
    let version = std::process::Command::new("sh")
        .args(["-c", &format!("{binary} --version")])
        .output()
        .unwrap();
    assert!(version.status.success(), "{}", stderr_text(&version));
    assert!(
        String::from_utf8(version.stdout)
            .unwrap()
            .starts_with("session-lock "),
        "the registered binary still runs"
    );
}

#[test]
fn a_project_install_spells_the_stable_binary_through_home_for_every_teammate() {
    let setup = Setup::new();
    setup.ok(&["install", "--scope", "project"]);
    let settings = read_json(&setup.project().join(".claude/settings.json"));
    let command = claude_command(&settings, "PreToolUse");
    assert_eq!(command, our_command("claude"));
    assert!(!command.contains(setup.home.to_str().unwrap()), "{command}");
    // On a teammate's machine: another home, the same command.
    let teammate = setup.sandbox.root().join("teammate");
    let stable = teammate.join(".local/share/session-lock/bin/session-lock");
    fs::create_dir_all(stable.parent().unwrap()).unwrap();
    fs::copy(BINARY, &stable).unwrap();
    let binary = command.strip_suffix(" hook --agent claude").unwrap();
    let version = std::process::Command::new("sh")
        .args(["-c", &format!("{binary} --version")])
        .env("HOME", &teammate)
        .output()
        .unwrap();
    assert!(version.status.success(), "{}", stderr_text(&version));
}

#[test]
fn uninstall_removes_the_stable_binary_once_nothing_registers_it() {
    let setup = Setup::new();
    setup.ok(&["install"]);
    setup.ok(&["install", "--scope", "project", "--agent", "gemini"]);
    assert!(setup.stable().exists());

    let kept = setup.ok(&["uninstall", "--remove-binary"]);
    assert!(
        setup.stable().exists(),
        "the project's Gemini settings still run it"
    );
    assert!(kept.contains("still registered in"), "{kept}");
    assert!(kept.contains(".gemini/settings.json"), "{kept}");

    let removed = setup.ok(&[
        "uninstall",
        "--scope",
        "project",
        "--agent",
        "gemini",
        "--remove-binary",
    ]);
    assert!(!setup.stable().exists(), "{removed}");
    assert!(removed.contains("removed"), "{removed}");
}

#[test]
fn install_and_uninstall_write_through_a_symlinked_settings_file() {
    let setup = Setup::new();
    let dotfiles = setup.sandbox.root().join("dotfiles");
    fs::create_dir_all(&dotfiles).unwrap();
    let real = dotfiles.join("claude-settings.json");
    fs::write(&real, "{\"model\": \"opus\"}\n").unwrap();
    let link = setup.home.join(".claude/settings.json");
    fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();

    setup.ok(&["install"]);
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_link(&link).unwrap(), real);
    let settings = read_json(&real);
    assert_eq!(settings["model"], "opus");
    assert!(
        claude_command(&settings, "PreToolUse").ends_with("session-lock hook --agent claude"),
        "{settings}"
    );

    setup.ok(&["uninstall"]);
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(read_json(&real), json!({"model": "opus"}));
}

/// `session-lock ARGS` as [`Setup::run`] runs it, with `env` added and under `umask`.
fn run_with(setup: &Setup, args: &[&str], env: &[(&str, &Path)], umask: Option<u32>) -> Output {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(BINARY);
    for name in ["CLAUDE_PROJECT_DIR", "CLAUDE_PID", "XDG_DATA_HOME"] {
        command.env_remove(name);
    }
    command
        .args(args)
        .env("SESSION_LOCK_DIR", &setup.sandbox.lock_dir)
        .env("HOME", &setup.home)
        .current_dir(setup.project());
    for (name, value) in env {
        command.env(name, value);
    }
    if let Some(mask) = umask {
        // SAFETY: umask is async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                libc::umask(mask as libc::mode_t);
                Ok(())
            })
        };
    }
    command.output().unwrap()
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_project_settings_file_that_resolves_outside_the_project_is_refused() {
    let setup = Setup::new();
    let elsewhere = setup.sandbox.root().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let victim = elsewhere.join("victim.json");
    fs::write(&victim, "{}\n").unwrap();
    let claude = setup.project().join(".claude");
    fs::create_dir_all(&claude).unwrap();
    std::os::unix::fs::symlink(&victim, claude.join("settings.json")).unwrap();
    let output = setup.run(&["install", "--scope", "project"]);
    assert!(!output.status.success());
    assert!(
        stderr_text(&output).contains("outside the project"),
        "{}",
        stderr_text(&output)
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "{}\n");
    let output = setup.run(&["install", "--scope", "project", "--force"]);
    assert!(
        !output.status.success(),
        "--force does not write outside the project"
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "{}\n");

    // A committed symlink for the folder, and the local scope, likewise.
    fs::remove_dir_all(&claude).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &claude).unwrap();
    for scope in ["project", "local"] {
        let output = setup.run(&["install", "--scope", scope]);
        assert!(!output.status.success(), "{scope}");
        assert!(
            stderr_text(&output).contains("outside the project"),
            "{scope}"
        );
    }
    assert_eq!(
        fs::read_dir(&elsewhere).unwrap().count(),
        1,
        "nothing written there"
    );
}

#[test]
fn a_read_only_settings_file_is_refused_unless_forced_and_keeps_its_mode() {
    let setup = Setup::new();
    let path = setup.home.join(".claude/settings.json");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, "{\"model\": \"opus\"}\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
    let output = setup.run(&["install"]);
    assert!(!output.status.success());
    assert!(
        stderr_text(&output).contains("read-only"),
        "{}",
        stderr_text(&output)
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "{\"model\": \"opus\"}\n"
    );
    setup.ok(&["install", "--force"]);
    assert!(claude_command(&read_json(&path), "PreToolUse").contains("session-lock hook"));
    assert_eq!(mode_of(&path), 0o444);
}

#[test]
fn another_users_settings_file_is_refused_unless_forced_and_keeps_its_owner() {
    if !is_root() {
        eprintln!("skipped: needs root to give a file away");
        return;
    }
    let setup = Setup::new();
    let path = setup.project().join(".claude/settings.json");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, "{}\n").unwrap();
    std::os::unix::fs::chown(&path, Some(1234), Some(1234)).unwrap();
    let output = setup.run(&["install", "--scope", "project"]);
    assert!(!output.status.success());
    assert!(
        stderr_text(&output).contains("belongs to uid 1234"),
        "{}",
        stderr_text(&output)
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "{}\n");
    setup.ok(&["install", "--scope", "project", "--force"]);
    assert!(claude_command(&read_json(&path), "PreToolUse").contains("session-lock"));
    assert_eq!(
        fs::metadata(&path).unwrap().uid(),
        1234,
        "root did not take it over"
    );
}

#[test]
fn folders_are_created_0755_under_umask_000_and_a_folder_others_can_write_is_refused() {
    let setup = Setup::new();
    let output = run_with(&setup, &["install", "--scope", "project"], &[], Some(0));
    assert!(output.status.success(), "{}", stderr_text(&output));
    for dir in [
        ".local",
        ".local/share",
        ".local/share/session-lock",
        ".local/share/session-lock/bin",
    ] {
        assert_eq!(mode_of(&setup.home.join(dir)), 0o755, "{dir}");
    }
    assert_eq!(mode_of(&setup.project().join(".claude")), 0o755);

    let other = Setup::new();
    let share = other.home.join(".local/share");
    fs::create_dir_all(&share).unwrap();
    fs::set_permissions(&share, fs::Permissions::from_mode(0o777)).unwrap();
    let output = other.run(&["install"]);
    assert!(!output.status.success());
    assert!(
        stderr_text(&output).contains("not putting the binary"),
        "{}",
        stderr_text(&output)
    );
    assert!(!other.stable().exists());
    assert!(
        !other.home.join(".claude/settings.json").exists(),
        "nothing registered"
    );
}

#[test]
fn a_binary_outside_home_never_goes_into_the_projects_shared_settings() {
    let setup = Setup::new();
    let outside = tempfile::tempdir().unwrap();
    let output = run_with(
        &setup,
        &["install", "--scope", "project"],
        &[("XDG_DATA_HOME", outside.path())],
        None,
    );
    assert!(!output.status.success());
    assert!(
        stderr_text(&output).contains("outside your"),
        "{}",
        stderr_text(&output)
    );
    assert!(!setup.project().join(".claude/settings.json").exists());
    let output = run_with(
        &setup,
        &["install", "--scope", "local"],
        &[("XDG_DATA_HOME", outside.path())],
        None,
    );
    assert!(
        output.status.success(),
        "a personal file may name it: {}",
        stderr_text(&output)
    );
}

#[test]
fn uninstall_keeps_the_stable_binary_another_project_may_run_unless_told() {
    let setup = Setup::new();
    setup.ok(&["install"]);
    let kept = setup.ok(&["uninstall"]);
    assert!(setup.stable().exists(), "{kept}");
    assert!(kept.contains("--remove-binary"), "{kept}");
    let removed = setup.ok(&["uninstall", "--remove-binary"]);
    assert!(!setup.stable().exists(), "{removed}");
}
