//! What the environment says: where locks live, their ttl, whose pid to record, the mode.
//! Each variable is read here and nowhere else.

use std::env;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::component::Mode;

/// The ttl of records this binary writes when `SESSION_LOCK_TTL_MS` is not set: 5 minutes.
pub const DEFAULT_TTL_MS: u64 = 300_000;

/// The settings of one run, and the warnings reading them produced.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where lock records live: `SESSION_LOCK_DIR`, else `~/.claude/runtime`.
    pub lock_dir: PathBuf,
    /// `SESSION_LOCK_TTL_MS`, else [`DEFAULT_TTL_MS`].
    pub ttl_ms: u64,
    /// `SESSION_LOCK_MODE`: `enforce` (the default) or `observe`.
    pub mode: Mode,
    /// Lines for stderr about variables that were set but not understood (their defaults
    /// apply, so a typo never disables the lock).
    pub warnings: Vec<String>,
}

impl Settings {
    /// Reads the settings from the environment. Fails only when no lock directory can be named.
    pub fn from_env() -> Result<Settings, String> {
        let mut warnings = Vec::new();
        let lock_dir = match env::var_os("SESSION_LOCK_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => env::home_dir()
                .filter(|home| !home.as_os_str().is_empty())
                .ok_or("no SESSION_LOCK_DIR and no home directory to put locks in")?
                .join(".claude")
                .join("runtime"),
        };
        let ttl_ms = match env::var("SESSION_LOCK_TTL_MS") {
            Err(_) => DEFAULT_TTL_MS,
            Ok(text) => text.trim().parse().unwrap_or_else(|_| {
                warnings.push(format!(
                    "session-lock: SESSION_LOCK_TTL_MS={text:?} is not a whole number of \
                     milliseconds; using {DEFAULT_TTL_MS}"
                ));
                DEFAULT_TTL_MS
            }),
        };
        let mode = match env::var("SESSION_LOCK_MODE").as_deref() {
            Err(_) | Ok("" | "enforce") => Mode::Enforce,
            Ok("observe") => Mode::Observe,
            Ok(other) => {
                warnings.push(format!(
                    "session-lock: SESSION_LOCK_MODE={other:?} is neither enforce nor observe; \
                     enforcing"
                ));
                Mode::Enforce
            }
        };
        Ok(Settings {
            lock_dir,
            ttl_ms,
            mode,
            warnings,
        })
    }
}

/// The pid recorded in the lock: `CLAUDE_PID` (the agent's own process) if set, else this
/// process's parent (the agent, or the shell it started the hook through).
pub fn session_pid() -> u32 {
    env::var("CLAUDE_PID")
        .ok()
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or_else(std::os::unix::process::parent_id)
}

/// The agent's project directory, if it says: `CLAUDE_PROJECT_DIR`.
pub fn project_dir() -> Option<String> {
    env::var("CLAUDE_PROJECT_DIR")
        .ok()
        .filter(|d| !d.is_empty())
}

/// Milliseconds since the Unix epoch (0 for a clock set before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
