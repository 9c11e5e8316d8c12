//! The lock of one workspace, for the commands a person runs (`status`, `release`).

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::component::Policy;
use crate::component::policy_types::PolicyError;
use crate::stores::AnyStore;
use crate::workspace;

/// A workspace, its lock key and where its record lives, and the component to ask about it.
pub struct LockAt {
    /// The resolved workspace.
    pub workspace: PathBuf,
    /// Its lock key (the hash of the workspace's name: its path, or `checkout:<id>`).
    pub key: String,
    /// Where the lock record lives: its file, or with `SESSION_LOCK_STORE=etcd` its etcd key
    /// (`session-lock/<key>`, what `etcdctl get` takes).
    pub file: PathBuf,
    /// The component, over the store `SESSION_LOCK_STORE` names.
    pub policy: Policy<AnyStore>,
}

impl LockAt {
    /// The lock of the workspace `dir` lies in (default: the current directory), named as the
    /// hook names it.
    pub fn open(dir: Option<&Path>) -> Result<LockAt> {
        let dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => std::env::current_dir()?,
        };
        let (workspace, resolved) =
            workspace::resolve_directory(&dir).map_err(anyhow::Error::msg)?;
        let mut policy = Policy::load(AnyStore::open().map_err(anyhow::Error::msg)?)?;
        let key = policy.workspace_key(&resolved)?;
        let file = PathBuf::from(
            policy
                .lock_store()
                .location(&key)
                .map_err(anyhow::Error::msg)?,
        );
        Ok(LockAt {
            workspace,
            key,
            file,
            policy,
        })
    }
}

/// A policy error, for people.
pub fn error_text(error: &PolicyError) -> String {
    match error {
        PolicyError::Store(why) => format!("the lock store failed: {why}"),
        PolicyError::Busy(why) => format!("the lock store is busy ({why}); try again"),
        PolicyError::UnreadableRecord(why) => {
            format!("the lock file is not a lock record ({why})")
        }
        PolicyError::Contended(n) => {
            format!("the lock changed under every one of {n} attempts")
        }
    }
}
