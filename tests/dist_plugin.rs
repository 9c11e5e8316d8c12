//! The Claude Code plugin's hook (`plugins/session-lock/bin/session-lock-hook`) after `npm
//! install -g session-lock`: the `session-lock` on `PATH` is then npm's link to a Node.js
//! launcher, and the plugin must run the native binary of the platform package instead, so that
//! no tool call pays for a Node.js start-up.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;
#[path = "support/sandbox.rs"]
mod sandbox;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use events::*;
use sandbox::*;

/// `plugins/session-lock/bin/session-lock-hook`.
fn plugin_hook() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/session-lock/bin/session-lock-hook")
}

/// An npm global prefix as `npm install -g session-lock` lays it out, with the binary under
/// test as the platform package's, and a launcher that only says it ran.
fn npm_prefix(root: &Path) -> PathBuf {
    let prefix = root.join("npm-global");
    let package = prefix.join("lib/node_modules/session-lock");
    let launcher = package.join("bin/session-lock.js");
    fs::create_dir_all(launcher.parent().unwrap()).unwrap();
    fs::write(
        &launcher,
        "#!/bin/sh\necho the Node.js launcher ran >&2\nexit 97\n",
    )
    .unwrap();
    fs::set_permissions(&launcher, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(prefix.join("bin")).unwrap();
    symlink(
        "../lib/node_modules/session-lock/bin/session-lock.js",
        prefix.join("bin/session-lock"),
    )
    .unwrap();
    let native = package.join("node_modules/session-lock-linux-x64/bin");
    fs::create_dir_all(&native).unwrap();
    symlink(BINARY, native.join("session-lock")).unwrap();
    prefix
}

#[test]
fn after_npm_install_g_the_plugin_runs_the_native_binary_not_the_node_launcher() {
    let sandbox = Sandbox::new();
    let prefix = npm_prefix(sandbox.root());
    let home = sandbox.root().join("home");
    fs::create_dir_all(&home).unwrap();
    let mut command = Command::new(plugin_hook());
    command
        .env_clear()
        .env("PATH", prefix.join("bin"))
        .env("HOME", &home)
        .env("SESSION_LOCK_DIR", &sandbox.lock_dir);
    let mut child = sandbox.spawn_command(&mut command);
    feed(&mut child, &sandbox.pre_tool_use("session-plugin"));
    let output = child.wait_with_output().unwrap();
    assert_eq!(deny_reason(&output), None, "{}", stderr_text(&output));
    assert!(
        !stderr_text(&output).contains("launcher ran"),
        "{}",
        stderr_text(&output)
    );
    assert_eq!(sandbox.holder().as_deref(), Some("session-plugin"));
}

#[test]
fn without_the_binary_the_plugin_names_the_one_command_that_installs_it() {
    let sandbox = Sandbox::new();
    let home = sandbox.root().join("home");
    fs::create_dir_all(&home).unwrap();
    let mut command = Command::new(plugin_hook());
    command
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home);
    if ["/usr/bin", "/bin"]
        .iter()
        .any(|d| Path::new(d).join("session-lock").exists())
    {
        eprintln!("skipping: a session-lock is installed in /usr/bin or /bin");
        return;
    }
    let mut child = sandbox.spawn_command(&mut command);
    // Said at the start of a session (and of each prompt), not on every tool call.
    let start = claude_event("SessionStart", "session-plugin", None, &sandbox.workspace);
    feed(&mut child, start.to_string().as_bytes());
    let output = child.wait_with_output().unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let message = answer["systemMessage"].as_str().unwrap();
    assert!(
        message.contains("`npm install -g session-lock`"),
        "{message}"
    );
}

#[test]
fn the_plugin_carries_the_workspace_version() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/session-lock/.claude-plugin/plugin.json");
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(manifest).unwrap()).unwrap();
    assert_eq!(
        manifest["version"],
        env!("CARGO_PKG_VERSION"),
        "plugin.json's version follows [workspace.package] in Cargo.toml"
    );
}
