//! `session-lock status`: who holds a workspace.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::component::policy_types::LockState;
use crate::lock_at::LockAt;
use crate::settings;

/// Prints the lock of the workspace `dir` lies in; returns whether another session holds it
/// (fresh), for the exit code.
pub fn run(dir: Option<&Path>, as_json: bool) -> Result<bool> {
    let mut lock = LockAt::open(dir)?;
    let state = lock
        .policy
        .inspect(&lock.key, settings::now_ms())?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let held = state.as_ref().is_some_and(|s| !s.stale);
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report_json(&lock, state.as_ref()))?
        );
    } else {
        println!("workspace  {}", lock.workspace.display());
        println!("hash       {}", lock.key);
        println!("lock file  {}", lock.file.display());
        match &state {
            None => println!("lock       free"),
            Some(state) => {
                let freshness = if state.stale {
                    "stale: the next session takes it over"
                } else {
                    "fresh"
                };
                println!("holder     {}", state.summary);
                println!("state      {freshness}");
            }
        }
    }
    Ok(held)
}

fn report_json(lock: &LockAt, state: Option<&LockState>) -> serde_json::Value {
    let holder = state.map(|s| {
        json!({
            "session_id": s.record.session_id,
            "pid": s.record.pid,
            "acquired_at": s.record.acquired_at,
            "refreshed_at": s.record.refreshed_at,
            "ttl_ms": s.record.ttl_ms,
            "held_for_ms": s.held_for_ms,
            "expires_in_ms": s.expires_in_ms,
            "stale": s.stale,
        })
    });
    json!({
        "workspace": lock.workspace,
        "hash": lock.key,
        "lock_file": lock.file,
        "state": match state {
            None => "free",
            Some(s) if s.stale => "stale",
            Some(_) => "held",
        },
        "holder": holder,
    })
}
