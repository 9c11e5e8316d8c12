//! The lock store the policy runs against: the WIT `lock-store` import, as a Rust trait.
//!
//! In the component it is the imported interface; natively (the benchmark's baseline) it is
//! the host's filesystem store called directly.

/// What a compare-and-swap did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapOutcome {
    /// The record held exactly the expected bytes and now holds the replacement.
    Swapped,
    /// The record held something else (carried here; `None`: no record). Nothing changed.
    Conflict(Option<Vec<u8>>),
}

/// Why a store call did not complete (nothing changed): contention, or a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Another writer held the store's swap mutex past the store's wait: the lock is being
    /// taken or changed right now, and a moment later the call may succeed.
    Busy(String),
    /// The store cannot be read or written.
    Failed(String),
}

impl StoreError {
    /// The line for people.
    pub fn message(&self) -> &str {
        match self {
            StoreError::Busy(why) | StoreError::Failed(why) => why,
        }
    }
}

impl From<String> for StoreError {
    /// A fault: every error that does not say it is contention.
    fn from(why: String) -> Self {
        StoreError::Failed(why)
    }
}

/// Storage of lock records by key, with an atomic compare-and-swap. Errors say whether they
/// are contention, with a one-line description for people.
pub trait LockStore {
    /// The record of lock `key`, byte for byte, or `None` when there is none.
    fn read(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Replaces the record of `key` with `replacement` (`None` deletes it) if and only if it
    /// holds exactly `expected` (`None`: no record), atomically.
    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        replacement: Option<&[u8]>,
    ) -> Result<SwapOutcome, StoreError>;

    /// The keys of every record in the store.
    fn keys(&mut self) -> Result<Vec<String>, StoreError>;
}
