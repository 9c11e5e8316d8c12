//! Upgrading, as a packaged install does it: a newer package brings a new binary, and
//! `session-lock install` run from it replaces the stable copy the hooks run, while hooks are
//! running from that copy. Every hook started during the upgrade must answer.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;
#[path = "support/sandbox.rs"]
mod sandbox;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use events::*;
use sandbox::*;

/// `binary install` in the sandbox's workspace with `home` as HOME, nothing else inherited.
fn install_from(binary: &Path, sandbox: &Sandbox, home: &Path) {
    let output = Command::new(binary)
        .arg("install")
        .env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin")
        .env("SESSION_LOCK_DIR", &sandbox.lock_dir)
        .current_dir(&sandbox.workspace)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "install from {}: {}",
        binary.display(),
        stderr_text(&output)
    );
}

/// What went wrong with one hook run of `stable`, if anything.
fn hook_fault(stable: &Path, sandbox: &Sandbox, event: &[u8]) -> Option<String> {
    let child = Command::new(stable)
        .args(["hook", "--agent", "claude"])
        .env_clear()
        .env("SESSION_LOCK_DIR", &sandbox.lock_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return Some(format!("cannot start the stable binary: {e}")),
    };
    feed(&mut child, event);
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || said.contains("systemMessage") || !output.stderr.is_empty() {
        return Some(format!(
            "{:?}: {said} {}",
            output.status,
            stderr_text(&output)
        ));
    }
    None
}

#[test]
fn reinstalling_from_a_newer_binary_replaces_the_stable_copy_while_its_hooks_keep_answering() {
    let sandbox = Sandbox::new();
    let home = sandbox.root().join("home");
    fs::create_dir_all(&home).unwrap();
    // Two releases with different bytes: this binary, and the same with bytes after its end
    // (the loader ignores them), as a newer package would bring.
    let old = sandbox.root().join("old-session-lock");
    let new = sandbox.root().join("new-session-lock");
    let bytes = fs::read(BINARY).unwrap();
    fs::write(&old, &bytes).unwrap();
    fs::write(&new, [bytes.as_slice(), b"a newer release"].concat()).unwrap();
    for release in [&old, &new] {
        fs::set_permissions(release, fs::Permissions::from_mode(0o755)).unwrap();
    }
    install_from(&old, &sandbox, &home);
    let stable = home.join(".local/share/session-lock/bin/session-lock");
    let event = sandbox.pre_tool_use("session-upgrading");
    assert_eq!(hook_fault(&stable, &sandbox, &event), None);

    let upgrading = AtomicBool::new(true);
    let (runs, faults) = thread::scope(|scope| {
        let hooks: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let (mut runs, mut faults) = (0, Vec::new());
                    while upgrading.load(Ordering::Relaxed) {
                        faults.extend(hook_fault(&stable, &sandbox, &event));
                        runs += 1;
                    }
                    (runs, faults)
                })
            })
            .collect();
        for round in 0..8 {
            let release = if round % 2 == 0 { &new } else { &old };
            install_from(release, &sandbox, &home);
            assert_eq!(fs::read(&stable).unwrap(), fs::read(release).unwrap());
        }
        upgrading.store(false, Ordering::Relaxed);
        hooks.into_iter().map(|h| h.join().unwrap()).fold(
            (0, Vec::new()),
            |(runs, mut faults), (r, f)| {
                faults.extend(f);
                (runs + r, faults)
            },
        )
    });
    assert!(
        faults.is_empty(),
        "hooks failed during the upgrade: {faults:#?}"
    );
    assert!(runs >= 4, "hooks ran during the upgrade ({runs})");
    assert_eq!(sandbox.holder().as_deref(), Some("session-upgrading"));
}

/// A tmpfs mounted `noexec` at a folder, unmounted when dropped.
struct NoexecMount(std::path::PathBuf);

impl Drop for NoexecMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_copy_that_cannot_run_is_never_registered() {
    let sandbox = Sandbox::new();
    let home = sandbox.root().join("home");
    let data = sandbox.root().join("data");
    fs::create_dir_all(&home).unwrap();
    fs::create_dir_all(&data).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "noexec,size=256m", "tmpfs"])
        .arg(&data)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipping: cannot mount a noexec tmpfs here (needs root)");
        return;
    }
    let _unmount = NoexecMount(data.clone());
    let output = Command::new(BINARY)
        .arg("install")
        .env_clear()
        .env("HOME", &home)
        .env("XDG_DATA_HOME", &data)
        .env("SESSION_LOCK_DIR", &sandbox.lock_dir)
        .current_dir(&sandbox.workspace)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = stderr_text(&output);
    assert!(
        said.contains("noexec") && said.contains("nothing was registered"),
        "{said}"
    );
    assert!(
        !home.join(".claude/settings.json").exists(),
        "no settings were written"
    );
    let left: Vec<_> = fs::read_dir(data.join("session-lock/bin"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "no copy is left behind: {left:?}");
}
