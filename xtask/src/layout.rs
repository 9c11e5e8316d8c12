//! The x86-64 binary's hot functions first: a profile-guided layout of its code, by the linker.
//!
//! A hook run is a fresh process, so much of its time is the kernel mapping the pages it
//! touches. The functions one run executes (about 560 KB of code) lie scattered over the 3 MB
//! of `.text`, and each 64 KB window the run enters costs a page fault: 31 of a run's 153.
//! Linked with those functions first (lld's `--symbol-ordering-file`), a run takes 13 there,
//! and the hook is 7-13% faster (`docs/performance.md`, "Where the time goes"). The list is made for each release from the build itself: the binary is linked once
//! with its symbols, run under `valgrind --tool=callgrind` on the events of the common paths,
//! and linked again with the functions they executed, in the order they were first seen. A
//! list made for one build names no function of another (symbol names carry crate hashes), so
//! none is committed.
//!
//! aarch64 keeps the linker's own order: its functions have other names, and valgrind cannot
//! run it here (qemu-user runs it, without valgrind).

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// The target laid out.
pub const TRIPLE: &str = "x86_64-unknown-linux-musl";

/// Fewer executed functions of the binary than this means the profile did not run it.
const FEWEST_FUNCTIONS: usize = 200;

/// Links the x86-64 binary again with its hot functions first. `linking` sets the environment
/// of the release build on a cargo command, so that this one reuses what it compiled.
pub fn hot_functions_first(
    cargo: &OsString,
    root: &Path,
    target_dir: &Path,
    linking: impl Fn(&mut Command),
) -> Result<()> {
    let work = target_dir.join("hot-functions");
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    fs::create_dir_all(&work)?;
    let binary = target_dir.join(TRIPLE).join("release/session-lock");

    // Once with its symbols, to be profiled.
    link(cargo, root, &linking, &["-C", "strip=none"])?;
    let profiled = work.join("session-lock");
    fs::copy(&binary, &profiled).with_context(|| format!("copying {}", binary.display()))?;
    let functions = executed_functions(&profiled, &work)?;
    if functions.len() < FEWEST_FUNCTIONS {
        bail!(
            "the profile found {} functions of {}, fewer than {FEWEST_FUNCTIONS}: it did not run",
            functions.len(),
            profiled.display()
        );
    }
    let order = work.join("hot-functions.txt");
    fs::write(&order, functions.join("\n") + "\n")?;

    // Then for release, those functions first; names the final link drops (inlined) are
    // not an error.
    let order_arg = format!("link-arg=--symbol-ordering-file={}", order.display());
    link(
        cargo,
        root,
        &linking,
        &["-C", &order_arg, "-C", "link-arg=--no-warn-symbol-ordering"],
    )?;
    println!(
        "xtask: {} laid out with its {} hot functions first ({})",
        binary.display(),
        functions.len(),
        order.display()
    );
    Ok(())
}

/// `cargo rustc` of the binary alone for [`TRIPLE`], with `args` for its final compile.
fn link(
    cargo: &OsString,
    root: &Path,
    linking: &impl Fn(&mut Command),
    args: &[&str],
) -> Result<()> {
    let mut command = Command::new(cargo);
    command.current_dir(root).args([
        "rustc",
        "--release",
        "--locked",
        "-p",
        "session-lock",
        "--bin",
        "session-lock",
        "--target",
        TRIPLE,
        "--",
    ]);
    command.args(args);
    linking(&mut command);
    crate::run_command(&mut command)
}

/// The events of the common paths, each with the session that holds the workspace's lock
/// before it runs (`None`: nobody), as `(arguments, holder, event)`.
fn training_events(workspace: &Path) -> Vec<(Vec<&'static str>, Option<&'static str>, Value)> {
    let claude = |session: &str, name: &str, tool: Option<(&str, Value)>| {
        let mut event = json!({
            "session_id": session,
            "transcript_path": "/tmp/transcript.jsonl",
            "cwd": workspace,
            "permission_mode": "default",
            "hook_event_name": name,
        });
        if let Some((tool, input)) = tool {
            event["tool_name"] = json!(tool);
            event["tool_input"] = input;
            event["tool_use_id"] = json!("toolu_1");
        }
        event
    };
    let write = || {
        (
            "Write",
            json!({"file_path": workspace.join("notes.md"), "content": "x"}),
        )
    };
    let bash = |command: &str| ("Bash", json!({"command": command}));
    let hook = vec!["hook"];
    vec![
        (
            hook.clone(),
            Some("A"),
            claude("A", "PreToolUse", Some(write())),
        ),
        (
            hook.clone(),
            Some("A"),
            claude("B", "PreToolUse", Some(write())),
        ),
        (hook.clone(), None, claude("A", "PreToolUse", Some(write()))),
        (
            hook.clone(),
            Some("A"),
            claude("A", "PostToolUse", Some(write())),
        ),
        (hook.clone(), Some("A"), claude("A", "Stop", None)),
        (hook.clone(), Some("A"), claude("B", "SessionStart", None)),
        (
            hook.clone(),
            Some("A"),
            claude("B", "UserPromptSubmit", None),
        ),
        (
            hook.clone(),
            Some("A"),
            claude(
                "B",
                "PreToolUse",
                Some(bash("git status && ls -la src | grep rs")),
            ),
        ),
        (
            hook.clone(),
            Some("A"),
            claude(
                "A",
                "PreToolUse",
                Some(bash("cargo fmt && git commit -am wip")),
            ),
        ),
        (
            hook.clone(),
            Some("A"),
            claude(
                "B",
                "PreToolUse",
                Some(("Read", json!({"file_path": workspace.join("notes.md")}))),
            ),
        ),
        (
            vec!["hook", "--agent", "codex"],
            Some("A"),
            json!({
                "session_id": "B",
                "hook_event_name": "PreToolUse",
                "cwd": workspace,
                "tool_name": "Bash",
                "tool_input": {"command": "touch notes.md"},
            }),
        ),
        (
            vec!["hook", "--agent", "gemini"],
            Some("A"),
            json!({
                "session_id": "B",
                "hook_event_name": "BeforeTool",
                "timestamp": "2026-01-01T00:00:00Z",
                "cwd": workspace,
                "tool_name": "write_file",
                "tool_input": {"file_path": workspace.join("notes.md"), "content": "x"},
            }),
        ),
        (
            vec!["statusline"],
            Some("A"),
            json!({"session_id": "B", "cwd": workspace, "workspace": {"current_dir": workspace}}),
        ),
    ]
}

/// Runs `binary` on [`training_events`] under callgrind, and returns the functions of the
/// binary's own code that ran, each once, in the order first seen.
fn executed_functions(binary: &Path, work: &Path) -> Result<Vec<String>> {
    if !crate::on_path("valgrind") {
        crate::apt_install("valgrind")?;
    }
    let workspace = work.join("repo");
    fs::create_dir_all(workspace.join(".git"))?;
    let mut seen = HashSet::new();
    let mut functions = Vec::new();
    for (i, (args, holder, event)) in training_events(&workspace).into_iter().enumerate() {
        let locks = work.join("locks");
        if locks.exists() {
            fs::remove_dir_all(&locks)?;
        }
        if let Some(holder) = holder {
            let hold = json!({
                "session_id": holder,
                "cwd": workspace,
                "hook_event_name": "PreToolUse",
                "tool_name": "Write",
                "tool_input": {"file_path": workspace.join("held.md"), "content": "x"},
            });
            run_event(Command::new(binary).arg("hook"), work, &hold)?;
        }
        let profile = work.join(format!("callgrind.{i}.out"));
        let mut valgrind = Command::new("valgrind");
        valgrind
            .args(["--tool=callgrind", "--demangle=no", "--quiet"])
            .arg(format!("--callgrind-out-file={}", profile.display()))
            .arg(binary)
            .args(&args);
        run_event(&mut valgrind, work, &event)?;
        let text = fs::read_to_string(&profile)
            .with_context(|| format!("reading {}", profile.display()))?;
        for name in functions_of(&text, binary) {
            if seen.insert(name.clone()) {
                functions.push(name);
            }
        }
    }
    Ok(functions)
}

/// Runs `command` with `event` on stdin, in a clean environment that keeps its lock files
/// and settings in `work`; its answer does not matter, only that it ran.
fn run_event(command: &mut Command, work: &Path, event: &Value) -> Result<()> {
    command
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", work)
        .env("SESSION_LOCK_DIR", work.join("locks"))
        .current_dir(work)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {:?}", command.get_program()))?;
    let mut stdin = child.stdin.take().context("the event's pipe")?;
    std::io::Write::write_all(&mut stdin, event.to_string().as_bytes())?;
    drop(stdin);
    child.wait()?;
    Ok(())
}

/// The names of the functions of `binary`'s own object in a callgrind profile, in the order
/// they appear. Every function that ran has a cost block of its own, `fn=` under the `ob=` of
/// its object; names and objects are compressed (`fn=(7) name` the first time, `fn=(7)`
/// after, and a name may first appear as a callee's, `cfn=(7) name`).
fn functions_of(profile: &str, binary: &Path) -> Vec<String> {
    let mut objects: HashMap<&str, bool> = HashMap::new();
    let mut function_names: HashMap<&str, &str> = HashMap::new();
    let mut in_binary = false;
    let mut names = Vec::new();
    for line in profile.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (id, text) = match value.split_once(") ") {
            Some((id, text)) => (id.trim_start_matches('('), Some(text)),
            None => (value.trim_matches(|c| c == '(' || c == ')'), None),
        };
        match key {
            "ob" | "cob" => {
                if let Some(text) = text {
                    objects.insert(id, Path::new(text) == binary);
                }
                if key == "ob" {
                    in_binary = objects.get(id).copied().unwrap_or(false);
                }
            }
            "fn" | "cfn" => {
                if let Some(text) = text {
                    function_names.insert(id, text);
                }
                let name = function_names.get(id).copied().unwrap_or_default();
                if key == "fn" && in_binary && !name.is_empty() && !name.starts_with("0x") {
                    names.push(name.to_owned());
                }
            }
            _ => {}
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_binarys_own_functions_are_named() {
        // `decide` is first named as a callee, then has its own block; `elsewhere` is in
        // another object; an address is no name.
        let profile = "\
ob=(1) /t/session-lock
fn=(1) main
cob=(2) /usr/lib/vdso.so
cfn=(2) elsewhere
calls=1 0
cfn=(3) _RNvCs1_4host6decide
calls=1 0
ob=(2)
fn=(2)
ob=(1)
fn=(3)
fn=(4) 0x0000000000401000
fn=(5) _RNvCs1_4host4hook
fn=(1)
";
        assert_eq!(
            functions_of(profile, Path::new("/t/session-lock")),
            ["main", "_RNvCs1_4host6decide", "_RNvCs1_4host4hook", "main"]
        );
    }
}
