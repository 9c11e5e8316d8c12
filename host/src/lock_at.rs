//! The lock of one workspace, for the commands a person runs (`status`, `release`).

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::component::Policy;
use crate::fs_store::FsLockStore;
use crate::settings;
use crate::workspace;

/// A workspace, its lock key and file, and the component to ask about it.
pub struct LockAt {
    /// The resolved workspace.
    pub workspace: PathBuf,
    /// Its lock key (the workspace hash).
    pub key: String,
    /// The lock record's file.
    pub file: PathBuf,
    /// The component, over the filesystem store.
    pub policy: Policy<FsLockStore>,
}

impl LockAt {
    /// The lock of the workspace `dir` lies in (default: the current directory).
    pub fn open(dir: Option<&Path>) -> Result<LockAt> {
        let dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => std::env::current_dir()?,
        };
        let workspace = workspace::resolve(&dir).map_err(anyhow::Error::msg)?;
        let store = FsLockStore::new(settings::lock_dir().map_err(anyhow::Error::msg)?);
        let mut policy = Policy::load(store.clone())?;
        let key = policy.workspace_hash(&workspace::as_text(&workspace))?;
        let file = store.record_path(&key).map_err(anyhow::Error::msg)?;
        Ok(LockAt {
            workspace,
            key,
            file,
            policy,
        })
    }
}
