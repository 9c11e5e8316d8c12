//! The Claude Code plugin and marketplace in this repository: `.claude-plugin/marketplace.json`
//! lists the plugin `plugins/session-lock/`, whose `hooks/hooks.json` runs its launcher
//! `bin/session-lock-hook` (POSIX sh) on the events `session-lock install` registers.
//!
//! `hooks/hooks.json` is generated from the component: it is exactly what `install` writes for
//! Claude Code into empty settings, with every command replaced by the launcher (which adds
//! `hook --agent claude` itself). When the component's registrations change, the drift test
//! fails and prints the file to paste; `SESSION_LOCK_WRITE_PLUGIN=1 cargo test -p session-lock
//! --test plugin` rewrites it instead.
//!
//! The pinned Claude Code client (`tests/claude-code/`) validates both manifests; without it,
//! that test says it skips. `tests/claude_code.rs` runs real sessions with the plugin installed
//! from this marketplace.
//!
//! The Gemini CLI extension `plugins/gemini/` is kept the same way: its `hooks/hooks.json` is
//! what `install --agent gemini` writes into empty settings with the extension's launcher in
//! place of every command, and its launcher `bin/session-lock-hook` is the plugin's with
//! `--agent gemini` (the client copies an extension's folder when it installs it, so the
//! extension carries its own). `tests/gemini_cli.rs` installs it through the real client.
//! The repository's root is the same extension for `gemini extensions install <git URL>`
//! (`gemini-extension.json`, `hooks/hooks.json` running `plugins/gemini/`'s launcher), kept
//! equal by a drift test too.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/claude_client.rs"]
mod claude_client;
#[path = "support/events.rs"]
mod events;
#[path = "support/sandbox.rs"]
mod sandbox;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use claude_client::{client, client_command, repository, run_ok};
use events::{claude_event, deny_reason, short_holder_id};
use sandbox::{BINARY, Sandbox};
use serde_json::Value;
use session_lock::component::{Agent, Policy};
use session_lock::fs_store::FsLockStore;

/// The command every hook of the plugin runs: its launcher, quoted for the shell the client
/// runs it through (the plugin's folder lies in the user's home, which may hold a space).
const LAUNCHER_COMMAND: &str = "\"${CLAUDE_PLUGIN_ROOT}/bin/session-lock-hook\"";

/// The binary `install` is asked to register when the expected file is made; every command
/// it writes is then this followed by `hook --agent claude`.
const PLACEHOLDER: &str = "/placeholder/session-lock";

/// Set to `1` to have the drift test rewrite `hooks/hooks.json` instead of failing.
const WRITE_VARIABLE: &str = "SESSION_LOCK_WRITE_PLUGIN";

/// The plugin's folder.
fn plugin_dir() -> PathBuf {
    repository().join("plugins/session-lock")
}

fn hooks_json_path() -> PathBuf {
    plugin_dir().join("hooks/hooks.json")
}

fn launcher() -> PathBuf {
    plugin_dir().join("bin/session-lock-hook")
}

fn read_json(path: &Path) -> Value {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The component, for its registrations and its settings transformation (its store unused).
fn policy() -> (Policy<FsLockStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy::load(FsLockStore::new(dir.path())).expect("the component loads");
    (policy, dir)
}

/// Every handler of a hooks object (`{"Event": [{"matcher"?, "hooks": [handler…]}…]}`).
fn handlers_mut(hooks: &mut Value) -> impl Iterator<Item = &mut Value> {
    hooks
        .as_object_mut()
        .expect("hooks is an object")
        .values_mut()
        .flat_map(|groups| groups.as_array_mut().expect("an event's groups are a list"))
        .flat_map(|group| {
            group["hooks"]
                .as_array_mut()
                .expect("a group's hooks are a list")
        })
}

/// What `hooks/hooks.json` must hold: `install`'s Claude Code settings, made from empty
/// settings, with the launcher in place of `PLACEHOLDER hook --agent claude`.
fn expected_hooks_json() -> String {
    let (mut policy, _dir) = policy();
    let installed = policy
        .install(Agent::ClaudeCode, "", PLACEHOLDER, 0)
        .unwrap()
        .expect("install accepts empty settings");
    let mut settings: Value = serde_json::from_str(&installed).unwrap();
    let registered = format!("{PLACEHOLDER} hook --agent claude");
    for handler in handlers_mut(&mut settings["hooks"]) {
        assert_eq!(handler["command"], registered.as_str(), "{installed}");
        handler["command"] = LAUNCHER_COMMAND.into();
    }
    let mut text = serde_json::to_string_pretty(&settings).unwrap();
    text.push('\n');
    text
}

#[test]
fn hooks_json_is_what_install_writes_with_the_launcher() {
    let expected = expected_hooks_json();
    let path = hooks_json_path();
    let actual = fs::read_to_string(&path).unwrap_or_default();
    if actual == expected {
        return;
    }
    if std::env::var_os(WRITE_VARIABLE).is_some_and(|v| v == "1") {
        fs::write(&path, &expected).unwrap();
        eprintln!("{WRITE_VARIABLE}=1: rewrote {}", path.display());
        return;
    }
    panic!(
        "{} is not what `install` registers for Claude Code. Run this test with \
         {WRITE_VARIABLE}=1 to rewrite it, or paste this:\n{expected}",
        path.display()
    );
}

/// The Gemini CLI extension's folder.
fn gemini_extension_dir() -> PathBuf {
    repository().join("plugins/gemini")
}

/// The command every hook of the Gemini CLI extension runs: its launcher, in the extension's
/// folder as the client names it when it loads the hooks.
const GEMINI_LAUNCHER_COMMAND: &str = "\"${extensionPath}/bin/session-lock-hook\"";

/// What the extension's `hooks/hooks.json` must hold: `install`'s Gemini CLI settings, made
/// from empty settings, with the launcher in place of `PLACEHOLDER hook --agent gemini`, and
/// nothing but the hooks (an extension's hooks file has the settings file's shape).
fn expected_gemini_hooks_json() -> String {
    gemini_hooks_json_running(GEMINI_LAUNCHER_COMMAND)
}

/// `install`'s Gemini CLI hooks, as [`expected_gemini_hooks_json`] makes them, each running
/// `launcher`.
fn gemini_hooks_json_running(launcher: &str) -> String {
    let (mut policy, _dir) = policy();
    let installed = policy
        .install(Agent::Gemini, "", PLACEHOLDER, 0)
        .unwrap()
        .expect("install accepts empty settings");
    let settings: Value = serde_json::from_str(&installed).unwrap();
    let mut hooks = serde_json::json!({ "hooks": settings["hooks"].clone() });
    let registered = format!("{PLACEHOLDER} hook --agent gemini");
    for handler in handlers_mut(&mut hooks["hooks"]) {
        assert_eq!(handler["command"], registered.as_str(), "{installed}");
        handler["command"] = launcher.into();
    }
    let mut text = serde_json::to_string_pretty(&hooks).unwrap();
    text.push('\n');
    text
}

/// What the extension's launcher must be: the plugin's, running the hook for Gemini CLI.
fn expected_gemini_launcher() -> String {
    let plugin = fs::read_to_string(launcher()).unwrap();
    assert_eq!(plugin.matches("hook --agent claude").count(), 4, "{plugin}");
    plugin.replace("hook --agent claude", "hook --agent gemini")
}

/// `actual` at `path` is `expected`, or (with `WRITE_VARIABLE=1`) is made so.
fn is_or_write(path: &Path, expected: &str, what: &str) {
    let actual = fs::read_to_string(path).unwrap_or_default();
    if actual == expected {
        return;
    }
    if std::env::var_os(WRITE_VARIABLE).is_some_and(|v| v == "1") {
        fs::write(path, expected).unwrap();
        eprintln!("{WRITE_VARIABLE}=1: rewrote {}", path.display());
        return;
    }
    panic!(
        "{} is not {what}. Run this test with {WRITE_VARIABLE}=1 to rewrite it, or paste \
         this:\n{expected}",
        path.display()
    );
}

#[test]
fn the_gemini_extensions_hooks_are_what_install_registers_with_the_launcher() {
    is_or_write(
        &gemini_extension_dir().join("hooks/hooks.json"),
        &expected_gemini_hooks_json(),
        "what `install` registers for Gemini CLI",
    );
    is_or_write(
        &gemini_extension_dir().join("bin/session-lock-hook"),
        &expected_gemini_launcher(),
        "the plugin's launcher with `--agent gemini`",
    );
    let launcher = gemini_extension_dir().join("bin/session-lock-hook");
    let mode = fs::metadata(&launcher).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "the launcher is executable: {mode:o}");
}

/// What the hooks of the extension at the repository's root run: the same launcher, in
/// `plugins/gemini/` of the repository the client copied.
const ROOT_LAUNCHER_COMMAND: &str = "\"${extensionPath}/plugins/gemini/bin/session-lock-hook\"";

/// `gemini extensions install <git URL>` clones the repository and loads the extension at its
/// root (the client has no option for a folder inside it), so the root holds the extension's
/// manifest and hooks too, kept equal to `plugins/gemini/`'s: the same manifest, the same
/// hooks running the same launcher (symlinks cannot stand in: the client copies an
/// extension's folder, making each link point at the clone it then deletes).
#[test]
fn the_repositorys_root_is_the_same_gemini_extension() {
    let manifest = fs::read_to_string(gemini_extension_dir().join("gemini-extension.json"))
        .expect("the extension's manifest");
    is_or_write(
        &repository().join("gemini-extension.json"),
        &manifest,
        "plugins/gemini/gemini-extension.json",
    );
    is_or_write(
        &repository().join("hooks/hooks.json"),
        &gemini_hooks_json_running(ROOT_LAUNCHER_COMMAND),
        "what `install` registers for Gemini CLI, running plugins/gemini's launcher",
    );
    for file in ["gemini-extension.json", "hooks/hooks.json"] {
        let meta = fs::symlink_metadata(repository().join(file)).unwrap();
        assert!(meta.is_file(), "{file} is a file, not a link");
    }
}

#[test]
fn the_gemini_extensions_manifest_names_it_at_the_binarys_version() {
    let manifest = read_json(&gemini_extension_dir().join("gemini-extension.json"));
    assert_eq!(manifest["name"], "session-lock", "{manifest}");
    assert_eq!(
        manifest["version"],
        env!("CARGO_PKG_VERSION"),
        "the extension's version is the binary's"
    );
    // Its settings reach the hook as the variables session-lock reads.
    for setting in manifest["settings"].as_array().expect("settings") {
        let variable = setting["envVar"].as_str().unwrap();
        assert!(variable.starts_with("SESSION_LOCK_ETCD_"), "{setting}");
    }
}

#[test]
fn the_gemini_launcher_runs_the_hook_for_gemini() {
    let held = Held::new();
    let bin = held.dir("bin");
    held.link_binary(&bin);
    let Some(system) = system_path() else { return };
    let path = format!("{}:{}", bin.display(), system.display());
    let mut command = Command::new(gemini_extension_dir().join("bin/session-lock-hook"));
    command
        .env_clear()
        .env("SESSION_LOCK_DIR", &held.sandbox.lock_dir)
        .env("PATH", &path)
        .env("HOME", held.dir("home"));
    let event = serde_json::json!({
        "session_id": "second-session",
        "hook_event_name": "BeforeTool",
        "timestamp": "2026-01-01T00:00:00Z",
        "tool_name": "write_file",
        "tool_input": {"file_path": held.sandbox.workspace.join("x.txt"), "content": "x"},
        "cwd": held.sandbox.workspace,
    });
    let output = run_with_stdin(command, event.to_string().as_bytes());
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {:?} {:?}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(
        answer["decision"], "deny",
        "refused as Gemini CLI reads it: {answer}"
    );
    let reason = answer["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with(&format!(
            "parallel session lock held by {} (pid ",
            short_holder_id("other-session")
        )),
        "{answer}"
    );
}

#[test]
fn hooks_json_registers_the_components_events_and_matchers() {
    let (mut policy, _dir) = policy();
    let wanted: Vec<(String, Option<String>)> = policy
        .registrations(Agent::ClaudeCode)
        .unwrap()
        .into_iter()
        .map(|r| (r.event, r.matcher))
        .collect();
    assert!(!wanted.is_empty());
    let mut file = read_json(&hooks_json_path());
    let mut found = Vec::new();
    for (event, groups) in file["hooks"]
        .as_object()
        .expect("hooks/hooks.json has hooks")
    {
        for group in groups.as_array().unwrap() {
            found.push((
                event.clone(),
                group["matcher"].as_str().map(ToOwned::to_owned),
            ));
        }
    }
    assert_eq!(found, wanted, "the plugin's events and matchers");
    for handler in handlers_mut(&mut file["hooks"]) {
        assert_eq!(handler["type"], "command");
        assert_eq!(handler["command"], LAUNCHER_COMMAND);
        // install's timeout when the call does not wait for the lock (seconds).
        assert_eq!(handler["timeout"], 3);
    }
}

#[test]
fn the_marketplace_lists_the_plugin_at_its_folder() {
    let marketplace = read_json(&repository().join(".claude-plugin/marketplace.json"));
    let plugins = marketplace["plugins"].as_array().expect("a plugin list");
    assert_eq!(plugins.len(), 1, "{marketplace}");
    let entry = &plugins[0];
    let name = entry["name"].as_str().unwrap();
    assert!(name.contains("session-lock"), "{entry}");
    let source = entry["source"].as_str().expect("a relative source");
    assert_eq!(
        repository().join(source).canonicalize().unwrap(),
        plugin_dir().canonicalize().unwrap()
    );
    let manifest = read_json(&plugin_dir().join(".claude-plugin/plugin.json"));
    assert_eq!(manifest["name"], name, "the listed name is the plugin's");
    assert_eq!(
        manifest["version"],
        env!("CARGO_PKG_VERSION"),
        "the plugin's version is the binary's"
    );
    let mode = fs::metadata(launcher()).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "the launcher is executable: {mode:o}");
}

#[test]
fn the_client_validates_the_plugin_and_the_marketplace() {
    let Some(client) = client() else { return };
    let home = tempfile::tempdir().unwrap();
    // The marketplace by its manifest, not the repository's folder: the folder's
    // `hooks/hooks.json` is the Gemini CLI extension's (Gemini installs an extension from a
    // repository's root only), which the validator would read as Claude Code hooks. Claude
    // Code loads the marketplace's plugin from `plugins/session-lock`, never that file.
    let marketplace = repository().join(".claude-plugin/marketplace.json");
    for target in [marketplace, plugin_dir()] {
        let mut command = client_command(&client, home.path(), None);
        command
            .args(["plugin", "validate", "--strict"])
            .arg(&target);
        let report = run_ok(command, Duration::from_secs(60));
        assert!(report.contains("Validation passed"), "{report}");
    }
}

/// A workspace whose lock is held by `other-session` (a live pid: this test's), and a folder
/// for the launcher's environment.
struct Held {
    sandbox: Sandbox,
}

impl Held {
    fn new() -> Held {
        let sandbox = Sandbox::new();
        let pid = std::process::id().to_string();
        let taken = sandbox.hook(
            &claude_event(
                "PreToolUse",
                "other-session",
                Some("Write"),
                &sandbox.workspace,
            ),
            &[("CLAUDE_PID", &pid)],
        );
        assert_eq!(deny_reason(&taken), None, "the lock was free");
        Held { sandbox }
    }

    /// A folder in the sandbox (created).
    fn dir(&self, name: &str) -> PathBuf {
        let dir = self.sandbox.root().join(name);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// `dir/session-lock`, a link to the binary under test.
    fn link_binary(&self, dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        symlink(BINARY, dir.join("session-lock")).unwrap();
    }

    /// Runs the launcher on a second session's `Write` in the held workspace, in an
    /// environment of exactly `env` (and the lock directory).
    fn launch(&self, env: &[(&str, &Path)]) -> Output {
        let mut command = Command::new(launcher());
        command
            .env_clear()
            .env("SESSION_LOCK_DIR", &self.sandbox.lock_dir);
        for (name, value) in env {
            command.env(name, value);
        }
        let event = claude_event(
            "PreToolUse",
            "second-session",
            Some("Write"),
            &self.sandbox.workspace,
        );
        run_with_stdin(command, event.to_string().as_bytes())
    }
}

/// A `PATH` with the system's tools and no `session-lock`; `None` when the system has one
/// installed there (the fallbacks cannot be told apart then).
fn system_path() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin:/bin");
    let installed = ["/usr/bin", "/bin"]
        .iter()
        .any(|dir| Path::new(dir).join("session-lock").exists());
    if installed {
        let _ = writeln!(
            std::io::stderr(),
            "skipping: a session-lock is installed in /usr/bin or /bin"
        );
        return None;
    }
    Some(path)
}

/// Runs `command` with `input` on its stdin; asserts that all of it was written (the process
/// read its stdin to the end, or at least did not close it early).
fn run_with_stdin(mut command: Command, input: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the launcher starts");
    let mut stdin = child.stdin.take().unwrap();
    let written = stdin.write_all(input);
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    if let Err(e) = written {
        panic!(
            "the launcher did not read its event ({e}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}

/// The holder a refusal names, as the second session is told.
fn refused_by(output: &Output) -> String {
    let reason = deny_reason(output).unwrap_or_else(|| {
        panic!(
            "the launcher let the second session through: stdout {:?}, stderr {:?}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert!(
        reason.starts_with(&format!(
            "parallel session lock held by {} (pid ",
            short_holder_id("other-session")
        )),
        "{reason}"
    );
    reason
}

#[test]
fn the_launcher_runs_session_lock_from_path() {
    let held = Held::new();
    let bin = held.dir("bin");
    held.link_binary(&bin);
    let Some(system) = system_path() else { return };
    let path = format!("{}:{}", bin.display(), system.display());
    let output = held.launch(&[
        ("PATH", Path::new(&path)),
        ("HOME", held.dir("home").as_path()),
    ]);
    refused_by(&output);
}

#[test]
fn the_launcher_falls_back_to_the_stable_location() {
    let held = Held::new();
    let Some(system) = system_path() else { return };
    // `$XDG_DATA_HOME/session-lock/bin/session-lock`.
    let data = held.dir("data");
    held.link_binary(&data.join("session-lock/bin"));
    let output = held.launch(&[
        ("PATH", system.as_path()),
        ("HOME", held.dir("empty-home").as_path()),
        ("XDG_DATA_HOME", data.as_path()),
    ]);
    refused_by(&output);
    // Without XDG_DATA_HOME: `$HOME/.local/share/session-lock/bin/session-lock`.
    let home = held.dir("home");
    held.link_binary(&home.join(".local/share/session-lock/bin"));
    let output = held.launch(&[("PATH", system.as_path()), ("HOME", home.as_path())]);
    refused_by(&output);
}

/// Without the binary, the launcher lets every call through; the start of a session and of
/// each prompt answer with the message the person sees, the events of tool calls with
/// nothing (the same line twice a call would bury the session's output).
#[test]
fn without_the_binary_the_launcher_says_so_at_each_start_and_allows() {
    let held = Held::new();
    let Some(system) = system_path() else { return };
    let launch = |event: &[u8]| {
        let mut command = Command::new(launcher());
        command
            .env_clear()
            .env("PATH", &system)
            .env("HOME", held.dir("home"));
        run_with_stdin(command, event)
    };
    // Large events: the launcher must read them all, as the hook would.
    let padded = |event: Value| {
        let mut bytes = event.to_string().into_bytes();
        bytes.extend(vec![b' '; 1 << 20]);
        bytes
    };
    for name in ["SessionStart", "UserPromptSubmit"] {
        let output = launch(&padded(serde_json::json!({"hook_event_name": name})));
        assert!(output.status.success(), "exit 0: {:?}", output.status);
        assert!(output.stderr.is_empty(), "{:?}", output.stderr);
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "one answer: {stdout:?}");
        let answer: Value = serde_json::from_str(&stdout).expect("the answer is JSON");
        let object = answer.as_object().unwrap();
        assert_eq!(object.len(), 1, "{answer}");
        let message = answer["systemMessage"].as_str().expect("a systemMessage");
        assert!(
            message.starts_with("session-lock is not installed: "),
            "{message}"
        );
        assert!(
            message.contains("PATH") && message.contains("session-lock/bin/session-lock"),
            "it says where to put the binary: {message}"
        );
    }
    for name in ["PreToolUse", "PostToolUse", "Stop"] {
        let event = claude_event(name, "A", Some("Write"), Path::new("/w"));
        let output = launch(&padded(event));
        assert!(output.status.success(), "exit 0: {:?}", output.status);
        assert!(
            output.stdout.is_empty() && output.stderr.is_empty(),
            "{output:?}"
        );
    }
}

/// The binary the Gemini extension's launcher runs, in each layout it searches, is the one
/// `doctor` names for it (`launcher::binary`): the native binary inside an
/// npm install on `PATH`, another `session-lock` on `PATH`, the stable copy, or none. Each
/// candidate is a script that prints its own path, so the launcher's `exec` shows its choice.
#[test]
fn the_extension_launcher_runs_the_binary_doctor_names_for_it() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let fake = |path: &Path| {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "#!/bin/sh\nprintf '%s' \"$0\"\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    };
    let npm = root.join("npm");
    fake(&npm.join("bin/session-lock"));
    let native = npm.join("lib/node_modules/session-lock/node_modules/session-lock-linux-x64");
    fake(&native.join("bin/session-lock"));
    let pip = root.join("pip");
    fake(&pip.join("bin/session-lock"));
    let data = root.join("data");
    let stable = data.join("session-lock/bin/session-lock");
    let empty = root.join("empty");
    fs::create_dir_all(&empty).unwrap();
    let launcher = gemini_extension_dir().join("bin/session-lock-hook");
    let runs = |path: &Path| {
        let mut command = Command::new("/bin/sh");
        command
            .arg(&launcher)
            .env_clear()
            .env("PATH", path)
            .env("XDG_DATA_HOME", &data);
        let output = run_with_stdin(command, br#"{"hook_event_name":"SessionStart"}"#);
        String::from_utf8(output.stdout).unwrap()
    };
    let names = |path: &Path| session_lock::launcher::binary_on(Some(path.as_os_str()), &stable);
    for (path, expected) in [
        (npm.join("bin"), native.join("bin/session-lock")),
        (pip.join("bin"), pip.join("bin/session-lock")),
    ] {
        assert_eq!(
            runs(&path),
            expected.to_str().unwrap(),
            "{}",
            path.display()
        );
        assert_eq!(names(&path), Some(expected));
    }
    // Nothing on PATH and no stable copy: the launcher says so; doctor names nothing.
    assert!(runs(&empty).contains("session-lock is not installed"));
    assert_eq!(names(&empty), None);
    fake(&stable);
    assert_eq!(runs(&empty), stable.to_str().unwrap());
    assert_eq!(names(&empty), Some(stable.clone()));
}
