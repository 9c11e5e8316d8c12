//! `session-lock release --force`: a person frees a workspace whose session died.

use std::path::Path;

use anyhow::{Result, bail};

use crate::component::policy_types::ForceReleaseResult;
use crate::lock_at::LockAt;
use crate::settings;

/// Removes the lock of the workspace `dir` lies in, whoever holds it. Without `force` it
/// refuses, naming the holder.
pub fn run(dir: Option<&Path>, force: bool) -> Result<()> {
    let mut lock = LockAt::open(dir)?;
    if !force {
        let state = lock.policy.inspect(&lock.key, settings::now_ms())?;
        let holder = match state {
            Ok(Some(state)) => format!("held by {}", state.summary),
            Ok(None) => "free".to_owned(),
            Err(e) => format!("unreadable: {e:?}"),
        };
        bail!(
            "release removes the lock whoever holds it, so it needs --force (the lock of {} is \
             {holder}; a session's own lock is released by its Stop hook)",
            lock.workspace.display()
        );
    }
    let result = lock
        .policy
        .force_release(&lock.key)?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    match result {
        ForceReleaseResult::Free => println!("{} was not locked", lock.workspace.display()),
        ForceReleaseResult::Released(record) => println!(
            "released the lock of {} held by {} (pid {})",
            lock.workspace.display(),
            record.session_id,
            record.pid
        ),
        ForceReleaseResult::ClearedUnreadable => println!(
            "removed an unreadable lock file {} for {}",
            lock.file.display(),
            lock.workspace.display()
        ),
    }
    Ok(())
}
