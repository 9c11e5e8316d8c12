//! What the environment tells the host: where lock records live, and the raw values of the
//! variables the component reads (it interprets them; the host passes them on untouched).

use std::env;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where lock records live: `SESSION_LOCK_DIR`, else `~/.claude/runtime`. Fails only when no
/// directory can be named.
pub fn lock_dir() -> Result<PathBuf, String> {
    match env::var_os("SESSION_LOCK_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Ok(env::home_dir()
            .filter(|home| !home.as_os_str().is_empty())
            .ok_or("no SESSION_LOCK_DIR and no home directory to put locks in")?
            .join(".claude")
            .join("runtime")),
    }
}

/// The variables of `names` that are set (as text; a value that is not UTF-8 is passed with
/// its odd bytes replaced, so the component can say it does not understand it).
pub fn environment(names: &[String]) -> Vec<(String, String)> {
    names
        .iter()
        .filter_map(|name| {
            let value = env::var_os(name)?;
            Some((name.clone(), value.to_string_lossy().into_owned()))
        })
        .collect()
}

/// Milliseconds since the Unix epoch (0 for a clock set before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
