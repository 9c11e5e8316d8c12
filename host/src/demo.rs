//! `session-lock demo`: two simulated Claude Code sessions on a temporary workspace and lock
//! directory, their real hook events run through the component, and what each was told.

use std::fs;

use serde_json::json;

use crate::component::{Invocation, Policy};
use crate::fs_store::FsLockStore;
use crate::{hook, settings, workspace};

/// Runs the demo, printing to stdout.
pub fn run() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let repo = root.path().join("repo");
    fs::create_dir_all(repo.join(".git"))?;
    let workspace = workspace::as_text(&workspace::resolve(&repo).map_err(anyhow::Error::msg)?);
    let store = FsLockStore::new(root.path().join("locks"));
    let mut policy = Policy::load(store.clone())?;
    let key = policy.workspace_hash(&workspace)?;
    let record_path = store.record_path(&key).map_err(anyhow::Error::msg)?;
    println!("workspace {workspace}");
    println!("lock file {}\n", record_path.display());

    let steps: [(&str, u32, &str, Option<&str>); 6] = [
        ("session-A", 4101, "PreToolUse", Some("Write")),
        ("session-B", 4202, "PreToolUse", Some("Edit")),
        ("session-B", 4202, "Stop", None),
        ("session-A", 4101, "PostToolUse", Some("Write")),
        ("session-A", 4101, "Stop", None),
        ("session-B", 4202, "PreToolUse", Some("Edit")),
    ];
    let start = settings::now_ms();
    for (step, (session, pid, event_name, tool)) in steps.into_iter().enumerate() {
        let mut event = json!({
            "session_id": session,
            "transcript_path": format!("/tmp/{session}.jsonl"),
            "cwd": repo,
            "hook_event_name": event_name,
        });
        if let Some(tool) = tool {
            event["tool_name"] = json!(tool);
            event["tool_input"] = json!({"file_path": repo.join("notes.md")});
        }
        // The demo's sessions are its own: none of the caller's settings apply.
        let invocation = Invocation {
            agent: None,
            environment: Vec::new(),
            process_cwd: workspace.clone(),
            parent_pid: pid,
        };
        let now_ms = start + 1000 * step as u64;
        let answer = hook::answer(
            &mut policy,
            event.to_string().as_bytes(),
            invocation,
            now_ms,
        )
        .map_err(anyhow::Error::msg)?;
        let what = match tool {
            Some(tool) => format!("{event_name} {tool}"),
            None => event_name.to_owned(),
        };
        let told = if answer.stdout.is_empty() {
            "allowed (no output: the agent goes on)".to_owned()
        } else {
            format!("answered {}", answer.stdout)
        };
        println!("{}. {session} {what}\n   {told}", step + 1);
        let lock = match policy.inspect(&key, now_ms)? {
            Ok(Some(state)) => format!("held by {}", state.summary),
            Ok(None) => "free".to_owned(),
            Err(error) => format!("unreadable: {error}"),
        };
        println!("   lock: {lock}\n");
    }
    Ok(())
}
