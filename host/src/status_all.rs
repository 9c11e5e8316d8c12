//! `session-lock status --all`: every lock in the store (files or etcd), each with the
//! workspace it guards, its holder, agent and pid, how long it is held, when it frees, and
//! whether it is fresh or stale; a record that is not a lock record is shown as unreadable.
//!
//! The words of each line are the component's (`overview.all-locks`); the host lists, prints
//! and shapes the JSON. `--json` prints one object: `{"store", "locks": [...], "error"}`.
//! The exit code is 1 when the store cannot be listed or a record cannot be read.

use anyhow::Result;
use serde_json::{Value, json};

use crate::component::policy_types::LockState;
use crate::component::{LockEntry, LockFound, Policy};
use crate::settings;
use crate::stores::AnyStore;

/// Prints every lock; returns whether the exit code is 1.
pub fn run(as_json: bool) -> Result<bool> {
    let listed = list();
    let (store, entries) = match listed {
        Ok(listed) => listed,
        Err(why) if as_json => {
            let report = json!({"store": null, "locks": [], "error": why});
            println!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(true);
        }
        Err(why) => anyhow::bail!("cannot list the locks: {why}"),
    };
    let fails = entries
        .iter()
        .any(|e| matches!(e.found, LockFound::Unreadable(_) | LockFound::Error(_)));
    if as_json {
        let locks: Vec<Value> = entries.iter().map(entry_json).collect();
        let report = json!({"store": store, "locks": locks, "error": null});
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if entries.is_empty() {
        println!("no locks in {store}");
    } else {
        for entry in &entries {
            println!("{}", entry.line);
        }
    }
    Ok(fails)
}

/// Where the store is, for people, and every lock in it.
fn list() -> Result<(String, Vec<LockEntry>), String> {
    let store = AnyStore::open()?;
    let place = match &store {
        AnyStore::Files(files) => files.dir().display().to_string(),
        AnyStore::Etcd(etcd) => format!("etcd at {}", etcd.endpoints().join(",")),
        AnyStore::Unusable(why) => return Err(why.clone()),
    };
    let mut policy = Policy::load(store).map_err(|e| format!("{e:#}"))?;
    let entries = policy
        .all_locks(settings::now_ms())
        .map_err(|trap| format!("the policy component failed: {trap:#}"))??;
    Ok((place, entries))
}

fn entry_json(entry: &LockEntry) -> Value {
    let (state, holder, error) = match &entry.found {
        LockFound::Held(state) => (
            if state.stale { "stale" } else { "fresh" },
            holder_json(state, entry.agent.as_deref()),
            None,
        ),
        LockFound::Unreadable(why) => ("unreadable", Value::Null, Some(why)),
        LockFound::Vanished => ("free", Value::Null, None),
        LockFound::Error(why) => ("error", Value::Null, Some(why)),
    };
    let mut report = json!({
        "key": entry.key,
        "workspace": entry.workspace,
        "state": state,
        "holder": holder,
        "summary": entry.line,
    });
    if let Some(why) = error {
        report["error"] = json!(why);
    }
    report
}

fn holder_json(state: &LockState, agent: Option<&str>) -> Value {
    json!({
        "session_id": state.record.session_id,
        "agent": agent,
        "pid": state.record.pid,
        "acquired_at": state.record.acquired_at,
        "refreshed_at": state.record.refreshed_at,
        "ttl_ms": state.record.ttl_ms,
        "held_for_ms": state.held_for_ms,
        "expires_in_ms": state.expires_in_ms,
        "stale": state.stale,
    })
}
