//! What the environment says: the lock's ttl, the mode, and each agent's own variables (its
//! project directory, its process). A host passes the raw strings of the variables
//! [`variables`] names; every one is interpreted here, and a value that is not understood
//! falls back to its default with a warning, so a typo never turns the lock off.

use crate::agents::{Agent, Protocol};
use crate::message::cut;

/// The ttl of records when `SESSION_LOCK_TTL_MS` is not set: 5 minutes.
pub const DEFAULT_TTL_MS: u64 = 300_000;

/// The longest ttl a session may set (1 hour): a longer one is cut to it, with a warning, so
/// a lock whose holder died without a proof of death frees within the hour.
pub const MAX_TTL_MS: u64 = 3_600_000;

/// The longest tool time limit a lock is kept fresh for on top of the ttl (1 hour: Claude
/// Code's Bash allows 10 minutes); a longer one (a Bash `timeout` of 10^18, a Codex
/// `timeout_ms` of u64::MAX) is cut to it, with a warning.
pub const MAX_TOOL_TIME_MS: u64 = 3_600_000;

/// The longest `ttl_ms` a record is read with: what a writer of this version can write. A
/// record that says more (forged, or written before the caps) is read as this, so it cannot
/// wedge the lock.
pub const MAX_RECORD_TTL_MS: u64 = MAX_TTL_MS + MAX_TOOL_TIME_MS;

const TTL_VARIABLE: &str = "SESSION_LOCK_TTL_MS";
const MODE_VARIABLE: &str = "SESSION_LOCK_MODE";
/// The variable `install --wait` sets in the hook's command.
pub const WAIT_VARIABLE: &str = "SESSION_LOCK_WAIT_MS";

/// The longest wait a session may be given: Claude Code's own default hook timeout (10
/// minutes). A longer one is cut to it, with a warning.
pub const MAX_WAIT_MS: u64 = 600_000;

/// Whether decisions are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A blocked session is refused.
    Enforce,
    /// Nothing is refused; what would have been is reported on stderr.
    Observe,
}

/// The settings of one event, and the warnings reading them produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// How long a record stays fresh after its holder's last activity.
    pub ttl_ms: u64,
    /// Enforce or observe.
    pub mode: Mode,
    /// How long a blocked session waits for the lock before it is refused (0: not at all).
    pub wait_ms: u64,
    /// One `session-lock:` line for each variable that was set but not understood.
    pub warnings: Vec<String>,
}

/// The variables the component reads: its own and every agent's.
pub fn variables() -> Vec<&'static str> {
    let mut names = vec![TTL_VARIABLE, MODE_VARIABLE, WAIT_VARIABLE];
    for agent in Agent::ALL {
        let protocol = agent.protocol();
        names.extend(protocol.project_dir_variable());
        names.extend(protocol.session_pid_variable());
        names.extend(
            protocol
                .user_folder_variable()
                .map(|(variable, _)| variable),
        );
    }
    names.sort_unstable();
    names.dedup();
    names
}

/// The value of `name` in `environment`, if set and not empty.
pub fn lookup<'e>(environment: &'e [(String, String)], name: &str) -> Option<&'e str> {
    environment
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, value)| value.as_str())
        .filter(|value| !value.is_empty())
}

impl Settings {
    /// Reads the settings from `environment`.
    pub fn read(environment: &[(String, String)]) -> Settings {
        let mut warnings = Vec::new();
        let ttl_ms = match lookup(environment, TTL_VARIABLE) {
            None => DEFAULT_TTL_MS,
            Some(text) => match milliseconds(text) {
                // 0 would turn the lock off: every record would be stale at once.
                Ok(0) => {
                    warnings.push(format!(
                        "session-lock: {TTL_VARIABLE}=0 would turn the lock off; using \
                         {DEFAULT_TTL_MS}"
                    ));
                    DEFAULT_TTL_MS
                }
                Ok(ttl) if ttl > MAX_TTL_MS => {
                    warnings.push(format!(
                        "session-lock: {TTL_VARIABLE}={} is longer than {MAX_TTL_MS}; \
                         using {MAX_TTL_MS}",
                        quoted(text)
                    ));
                    MAX_TTL_MS
                }
                Ok(ttl) => ttl,
                Err(_) => {
                    warnings.push(format!(
                        "session-lock: {TTL_VARIABLE}={} is not a whole number of \
                         milliseconds; using {DEFAULT_TTL_MS}",
                        quoted(text)
                    ));
                    DEFAULT_TTL_MS
                }
            },
        };
        let mode = match lookup(environment, MODE_VARIABLE) {
            None | Some("enforce") => Mode::Enforce,
            Some("observe") => Mode::Observe,
            Some(other) => {
                warnings.push(format!(
                    "session-lock: {MODE_VARIABLE}={} is neither enforce nor observe; \
                     enforcing",
                    quoted(other)
                ));
                Mode::Enforce
            }
        };
        let wait_ms = match lookup(environment, WAIT_VARIABLE) {
            None => 0,
            Some(text) => match milliseconds(text) {
                Ok(wait) if wait <= MAX_WAIT_MS => wait,
                Ok(_) => {
                    warnings.push(format!(
                        "session-lock: {WAIT_VARIABLE}={} is longer than {MAX_WAIT_MS}; \
                         waiting {MAX_WAIT_MS}",
                        quoted(text)
                    ));
                    MAX_WAIT_MS
                }
                Err(_) => {
                    warnings.push(format!(
                        "session-lock: {WAIT_VARIABLE}={} is not a whole number of \
                         milliseconds; not waiting",
                        quoted(text)
                    ));
                    0
                }
            },
        };
        Settings {
            ttl_ms,
            mode,
            wait_ms,
            warnings,
        }
    }
}

/// A whole number of milliseconds; one too large for 64 bits is as long as any: past every cap.
fn milliseconds(text: &str) -> Result<u64, std::num::ParseIntError> {
    match text.trim().parse::<u64>() {
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Ok(u64::MAX),
        parsed => parsed,
    }
}

/// A setting's value as a warning quotes it: Rust's quoting (control characters written out)
/// of its first characters, so a value of any length leaves a warning of one short line.
pub(crate) fn quoted(value: &str) -> String {
    const MAX_QUOTED_CHARS: usize = 64;
    format!("{:?}", cut(value, MAX_QUOTED_CHARS))
}

/// The agent's project directory, if its variable names one.
pub fn project_dir<'e>(
    protocol: &dyn Protocol,
    environment: &'e [(String, String)],
) -> Option<&'e str> {
    lookup(environment, protocol.project_dir_variable()?)
}

/// The session's process: the agent's own pid from its variable (`true`: it is the
/// session's), else the hook's parent (`false`: the agent, or a shell it ran the hook through).
pub fn session_pid(
    protocol: &dyn Protocol,
    environment: &[(String, String)],
    parent_pid: u32,
) -> (u32, bool) {
    protocol
        .session_pid_variable()
        .and_then(|name| lookup(environment, name))
        .and_then(|pid| pid.trim().parse().ok())
        .map_or((parent_pid, false), |pid| (pid, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply_and_typos_warn() {
        assert_eq!(
            Settings::read(&[]),
            Settings {
                ttl_ms: DEFAULT_TTL_MS,
                mode: Mode::Enforce,
                wait_ms: 0,
                warnings: vec![]
            }
        );
        let odd = Settings::read(&env(&[
            ("SESSION_LOCK_TTL_MS", "5m"),
            ("SESSION_LOCK_MODE", "x"),
        ]));
        assert_eq!((odd.ttl_ms, odd.mode), (DEFAULT_TTL_MS, Mode::Enforce));
        assert_eq!(odd.warnings.len(), 2);
        let set = Settings::read(&env(&[
            ("SESSION_LOCK_TTL_MS", "1000"),
            ("SESSION_LOCK_MODE", "observe"),
        ]));
        assert_eq!((set.ttl_ms, set.mode), (1000, Mode::Observe));
    }

    #[test]
    fn a_value_of_any_length_is_warned_about_in_one_short_line() {
        let long_mode = format!("observe\n{}", "x".repeat(10_000));
        let long_ttl = "9".repeat(10_000);
        let odd = Settings::read(&env(&[
            ("SESSION_LOCK_MODE", &long_mode),
            ("SESSION_LOCK_TTL_MS", &long_ttl),
            ("SESSION_LOCK_WAIT_MS", &long_ttl),
        ]));
        assert_eq!(odd.warnings.len(), 3);
        for warning in &odd.warnings {
            assert!(warning.chars().count() < 200, "{warning}");
            assert!(!warning.contains('\n'), "{warning}");
            assert!(warning.contains("…\""), "{warning}");
        }
        assert!(odd.warnings[0].contains(r#"SESSION_LOCK_TTL_MS="999"#));
        assert!(
            odd.warnings[0].contains("is longer than"),
            "{}",
            odd.warnings[0]
        );
        assert_eq!((odd.ttl_ms, odd.wait_ms), (MAX_TTL_MS, MAX_WAIT_MS));
        assert!(odd.warnings[1].contains(r#"SESSION_LOCK_MODE="observe\nxxx"#));
    }

    #[test]
    fn each_agent_reads_only_its_own_variables() {
        let environment = env(&[("CLAUDE_PID", "77"), ("CLAUDE_PROJECT_DIR", "/p")]);
        let claude = Agent::ClaudeCode.protocol();
        let codex = Agent::Codex.protocol();
        assert_eq!(session_pid(claude, &environment, 5), (77, true));
        assert_eq!(session_pid(codex, &environment, 5), (5, false));
        assert_eq!(project_dir(claude, &environment), Some("/p"));
        assert_eq!(project_dir(codex, &environment), None);
        assert!(variables().contains(&"GEMINI_PROJECT_DIR"));
    }
}
