//! `session-lock demo`: the first Claude Code conformance scenario (two sessions taking turns)
//! replayed through the component on a temporary git workspace and lock directory, with what
//! each session was told and the lock after each step. The events are the suite's data, so the
//! demo shows exactly what the conformance runners check, on a real filesystem.

use std::fs;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::component::{Invocation, Policy};
use crate::fs_store::FsLockStore;
use crate::{hook, settings, workspace};

/// The scenario file the demo replays.
const SCENARIOS: &str = include_str!("../../tests/conformance/claude-code.json");

/// Runs the demo, printing to stdout.
pub fn run() -> Result<()> {
    let suite: Value = serde_json::from_str(SCENARIOS).context("the demo's scenario file")?;
    let defaults = &suite["defaults"];
    let scenario = &suite["scenarios"][0];
    let seen_workspace = defaults["workspace"]
        .as_str()
        .context("a default workspace")?;
    let seen_start = defaults["now_ms"].as_u64().context("a default time")?;

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

    let start = settings::now_ms();
    let steps = scenario["steps"]
        .as_array()
        .context("the scenario's steps")?;
    for (n, step) in steps.iter().enumerate() {
        let context = |name: &str| step["context"][name].as_u64().or(defaults[name].as_u64());
        // The scenario's paths, moved into the temporary workspace.
        let event = step["event"]
            .to_string()
            .replace(seen_workspace, &workspace);
        // The demo's sessions are its own: none of the caller's settings apply.
        let invocation = Invocation {
            agent: None,
            environment: Vec::new(),
            process_cwd: workspace.clone(),
            parent_pid: context("pid").unwrap_or(0) as u32,
        };
        let now_ms = start + context("now_ms").unwrap_or(seen_start) - seen_start;
        let answer = hook::answer(&mut policy, event.as_bytes(), invocation, now_ms)
            .map_err(anyhow::Error::msg)?;
        let told = if answer.stdout.is_empty() {
            "allowed (no output: the agent goes on)".to_owned()
        } else {
            format!("answered {}", answer.stdout)
        };
        let note = step["note"].as_str().unwrap_or("");
        println!("{}. {note}\n   {told}", n + 1);
        let lock = match policy.inspect(&key, now_ms)? {
            Ok(Some(state)) => format!("held by {}", state.summary),
            Ok(None) => "free".to_owned(),
            Err(_) => "unreadable (`session-lock status` says why)".to_owned(),
        };
        println!("   lock: {lock}\n");
    }
    Ok(())
}
