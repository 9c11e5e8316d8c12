//! The lock store a process uses, as `SESSION_LOCK_STORE` chooses it: files in one directory
//! (this machine), or an etcd cluster (every machine pointed at it). The policy is the same
//! over either.

use crate::component::lock_store::{self, StoreError, SwapOutcome};
use crate::etcd_store::EtcdStore;
use crate::fs_store::FsLockStore;
use crate::settings::{self, StoreKind};

/// One of the stores.
#[derive(Debug)]
pub enum AnyStore {
    /// Files in [`settings::lock_dir`].
    Files(FsLockStore),
    /// An etcd cluster (boxed: its TLS and login state outweigh the file store many times).
    Etcd(Box<EtcdStore>),
    /// No store: the environment names none that can be used (an unknown kind, a setting a
    /// store needs that is missing or wrong), for the line saying why. Every call fails with
    /// that line, so the hook fails open as it does for an unreachable store: in the agent's
    /// answer, where the person sees it, not on stderr alone.
    Unusable(String),
}

impl AnyStore {
    /// The store the environment names: `SESSION_LOCK_STORE` `files` (the default, in
    /// `SESSION_LOCK_DIR`) or `etcd` (at `SESSION_LOCK_ETCD_ENDPOINTS`). Fails with one line on
    /// a value it does not know, or a setting the store needs that is missing or wrong. Nothing
    /// is connected to or created here.
    pub fn open() -> Result<AnyStore, String> {
        // Checked here so that a misspelt identity fails the hook visibly before any lock is
        // named (resolving paths falls back to `path` on its own).
        settings::identity()?;
        match settings::store_kind()? {
            StoreKind::Files => Ok(AnyStore::Files(FsLockStore::new(settings::lock_dir()?))),
            StoreKind::Etcd => Ok(AnyStore::Etcd(Box::new(EtcdStore::from_env()?))),
        }
    }

    /// The store the hook works on: [`AnyStore::open`]'s, or [`AnyStore::Unusable`] with why
    /// it failed.
    pub fn for_hook() -> AnyStore {
        AnyStore::open().unwrap_or_else(AnyStore::Unusable)
    }

    /// Makes every store call share the deadline `time_left` reports (see
    /// [`EtcdStore::within`]). Each file store call is bounded by its own mutex wait, and the
    /// first that finds the mutex busy ends the decision (a refusal to retry), so the file
    /// store is left as it is.
    pub fn within(self, time_left: fn() -> std::time::Duration) -> AnyStore {
        match self {
            AnyStore::Etcd(store) => AnyStore::Etcd(Box::new(store.within(time_left))),
            files => files,
        }
    }

    /// Where the record of `key` lives, for people: the file's path, or the etcd key (what
    /// `etcdctl get` takes).
    pub fn location(&self, key: &str) -> Result<String, String> {
        match self {
            AnyStore::Files(store) => Ok(store.record_path(key)?.to_string_lossy().into_owned()),
            AnyStore::Etcd(store) => store.etcd_key(key),
            AnyStore::Unusable(why) => Err(why.clone()),
        }
    }
}

impl lock_store::Host for AnyStore {
    fn read(&mut self, key: String) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            AnyStore::Files(store) => FsLockStore::read(store, &key).map_err(Into::into),
            AnyStore::Etcd(store) => EtcdStore::read(store, &key).map_err(Into::into),
            AnyStore::Unusable(why) => Err(StoreError::Failed(why.clone())),
        }
    }

    fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        replacement: Option<Vec<u8>>,
    ) -> Result<SwapOutcome, StoreError> {
        let (expected, replacement) = (expected.as_deref(), replacement.as_deref());
        match self {
            AnyStore::Files(store) => {
                FsLockStore::compare_and_swap(store, &key, expected, replacement)
            }
            AnyStore::Etcd(store) => {
                EtcdStore::compare_and_swap(store, &key, expected, replacement).map_err(Into::into)
            }
            AnyStore::Unusable(why) => Err(StoreError::Failed(why.clone())),
        }
    }

    fn keys(&mut self) -> Result<Vec<String>, StoreError> {
        match self {
            AnyStore::Files(store) => FsLockStore::keys(store).map_err(Into::into),
            AnyStore::Etcd(store) => EtcdStore::keys(store).map_err(Into::into),
            AnyStore::Unusable(why) => Err(StoreError::Failed(why.clone())),
        }
    }
}
