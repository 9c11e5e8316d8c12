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

/// Storage of lock records by key, with an atomic compare-and-swap. Errors are one-line
/// descriptions for people.
pub trait LockStore {
    /// The record of lock `key`, byte for byte, or `None` when there is none.
    fn read(&mut self, key: &str) -> Result<Option<Vec<u8>>, String>;

    /// Replaces the record of `key` with `replacement` (`None` deletes it) if and only if it
    /// holds exactly `expected` (`None`: no record), atomically.
    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        replacement: Option<&[u8]>,
    ) -> Result<SwapOutcome, String>;

    /// The keys of every record in the store.
    fn keys(&mut self) -> Result<Vec<String>, String>;
}
