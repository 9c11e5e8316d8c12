//! `session-lock release --force`: a person frees a workspace whose session died.

use std::path::Path;

use anyhow::{Result, bail};

use crate::component::policy_types::ForceReleaseResult;
use crate::lock_at::{LockAt, error_text};
use crate::settings;
use crate::status::shown;
use crate::visible::visible;

/// Removes the lock of the workspace `dir` lies in, whoever holds it. Without `force` it
/// refuses, naming the holder.
///
/// A holder is always named by the component's `summary` (its session id cleaned of control
/// characters, so a hostile record cannot send escape sequences to the terminal), never by
/// the raw id.
pub fn run(dir: Option<&Path>, force: bool) -> Result<()> {
    let mut lock = LockAt::open(dir)?;
    let before = lock.policy.inspect(&lock.key, settings::now_ms())?;
    if !force {
        let holder = match before {
            Ok(Some(state)) => format!("held by {}", visible(&state.summary)),
            Ok(None) => "free".to_owned(),
            Err(e) => format!("unreadable: {}", visible(&error_text(&e))),
        };
        bail!(
            "release removes the lock whoever holds it, so it needs --force (the lock of {} is \
             {holder}; a session's own lock is released by its Stop hook)",
            shown(&lock.workspace)
        );
    }
    let result = lock
        .policy
        .force_release(&lock.key)?
        .map_err(|e| anyhow::anyhow!("{}", error_text(&e)))?;
    match result {
        ForceReleaseResult::Free => println!("{} was not locked", shown(&lock.workspace)),
        ForceReleaseResult::Released(record) => {
            // The record seen just before is the one removed unless its holder refreshed it
            // in between; a record that changed hands is named by its pid only.
            let holder = match before {
                Ok(Some(state))
                    if state.record.session_id == record.session_id
                        && state.record.pid == record.pid =>
                {
                    visible(&state.summary)
                }
                _ => format!("another session (pid {})", record.pid),
            };
            println!(
                "released the lock of {} held by {holder}",
                shown(&lock.workspace)
            );
        }
        ForceReleaseResult::ClearedUnreadable => println!(
            "removed an unreadable lock file {} for {}",
            shown(&lock.file),
            shown(&lock.workspace)
        ),
    }
    Ok(())
}
