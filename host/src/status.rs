//! `session-lock status`: who holds a workspace.
//!
//! The text and the JSON name the same states: `free`, `fresh` (held; exit 1), `stale` (the
//! next session takes it over), `unreadable` (the lock file is not a lock record; exit 1), and
//! in JSON `error` when the lock could not be looked at at all (exit 1). `--json` always prints
//! one object, errors included.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::component::policy_types::{LockState, PolicyError};
use crate::lock_at::{LockAt, error_text};
use crate::settings;
use crate::visible::visible;

/// A path for people: through [`visible`].
pub fn shown(path: &Path) -> String {
    visible(&path.to_string_lossy())
}

/// What `status` found.
enum Found {
    /// No lock.
    Free,
    /// A lock, fresh or stale.
    Lock(LockState),
    /// A lock file that is not a valid lock record; carries that, for people.
    Unreadable(String),
    /// The store could not be read; carries why.
    Error(String),
}

impl Found {
    fn name(&self) -> &'static str {
        match self {
            Found::Free => "free",
            Found::Lock(state) if state.stale => "stale",
            Found::Lock(_) => "fresh",
            Found::Unreadable(_) => "unreadable",
            Found::Error(_) => "error",
        }
    }

    /// Whether the exit code is 1: another session holds the lock fresh, or nobody can tell.
    fn fails(&self) -> bool {
        !matches!(
            self,
            Found::Free | Found::Lock(LockState { stale: true, .. })
        )
    }
}

/// Prints the lock of the workspace `dir` lies in; returns whether the exit code is 1 (another
/// session holds it fresh, or it cannot be read).
pub fn run(dir: Option<&Path>, as_json: bool) -> Result<bool> {
    let mut lock = match LockAt::open(dir) {
        Ok(lock) => lock,
        Err(error) if as_json => {
            let report = json!({
                "workspace": null,
                "hash": null,
                "lock_file": null,
                "state": "error",
                "holder": null,
                "error": format!("{error:#}"),
            });
            println!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(true);
        }
        Err(error) => return Err(error),
    };
    let found = match lock.policy.inspect(&lock.key, settings::now_ms()) {
        Ok(Ok(None)) => Found::Free,
        Ok(Ok(Some(state))) => Found::Lock(state),
        Ok(Err(error @ PolicyError::UnreadableRecord(_))) => Found::Unreadable(error_text(&error)),
        Ok(Err(error)) => Found::Error(error_text(&error)),
        Err(trap) => Found::Error(format!("the policy component failed: {trap:#}")),
    };
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report_json(&lock, &found))?
        );
        return Ok(found.fails());
    }
    // Paths and the holder can come from a repository or a record: shown through `visible`.
    println!("workspace  {}", shown(&lock.workspace));
    println!("hash       {}", lock.key);
    println!("lock file  {}", shown(&lock.file));
    match &found {
        Found::Free => println!("state      free"),
        Found::Lock(state) => {
            let freshness = if state.stale {
                "stale: the next session takes it over"
            } else {
                "fresh"
            };
            println!("holder     {}", visible(&state.summary));
            println!("state      {freshness}");
        }
        Found::Unreadable(why) => {
            println!(
                "state      unreadable: {}. Sessions are let through while it is there; \
                 `session-lock release --force` removes it.",
                visible(why)
            );
        }
        Found::Error(why) => anyhow::bail!("cannot tell who holds the lock: {}", visible(why)),
    }
    Ok(found.fails())
}

fn report_json(lock: &LockAt, found: &Found) -> serde_json::Value {
    let holder = match found {
        Found::Lock(s) => json!({
            "session_id": s.record.session_id,
            "pid": s.record.pid,
            "acquired_at": s.record.acquired_at,
            "refreshed_at": s.record.refreshed_at,
            "ttl_ms": s.record.ttl_ms,
            "held_for_ms": s.held_for_ms,
            "expires_in_ms": s.expires_in_ms,
            "stale": s.stale,
            "summary": s.summary,
        }),
        _ => serde_json::Value::Null,
    };
    let mut report = json!({
        "workspace": lock.workspace,
        "hash": lock.key,
        "lock_file": lock.file,
        "state": found.name(),
        "holder": holder,
    });
    if let Found::Unreadable(why) | Found::Error(why) = found {
        report["error"] = json!(why);
    }
    report
}
