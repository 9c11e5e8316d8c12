//! `session-lock log [--follow] [--json] [--since DURATION]`: the decision log of this
//! machine, oldest first: every lock taken, taken over, refused, released, and every call let
//! through without the lock, with its reason. Text shows each entry's time (UTC) and the
//! component's sentence; `--json` prints the lines as logged, one JSON object each.

use std::io::{self, Write};
use std::thread;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use crate::decision_log::{Follower, LogFile};
use crate::settings;

/// How often `--follow` looks for new lines.
pub const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// What to print.
pub struct Options {
    /// Keep printing lines as they are appended.
    pub follow: bool,
    /// Print the JSON lines.
    pub json: bool,
    /// Only entries this recent.
    pub since: Option<Duration>,
}

/// Prints the log.
pub fn run(options: &Options) -> Result<()> {
    let log = LogFile::from_env().map_err(anyhow::Error::msg)?;
    let since = options
        .since
        .map(|since| settings::now_ms().saturating_sub(since.as_millis() as u64));
    // Followed from before the read, so that no line appended meanwhile is missed.
    let mut follower = options.follow.then(|| Follower::from_end(&log.path()));
    let mut out = io::stdout().lock();
    for entry in log.entries().map_err(anyhow::Error::msg)? {
        print_entry(&mut out, &entry, since, options.json)?;
    }
    out.flush()?;
    let Some(follower) = &mut follower else {
        return Ok(());
    };
    drop(out);
    loop {
        thread::sleep(FOLLOW_POLL);
        let mut out = io::stdout().lock();
        for entry in follower.new_lines() {
            print_entry(&mut out, &entry, since, options.json)?;
        }
        out.flush()?;
    }
}

fn print_entry(
    out: &mut impl Write,
    entry: &Value,
    since: Option<u64>,
    as_json: bool,
) -> io::Result<()> {
    let at = entry["at"].as_u64().unwrap_or(0);
    if since.is_some_and(|since| at < since) {
        return Ok(());
    }
    if as_json {
        return writeln!(out, "{entry}");
    }
    let text = |name: &str| entry[name].as_str().unwrap_or("").to_owned();
    writeln!(out, "{}  {}", text("time"), text("message"))
}

/// A duration as people write it: `90s`, `15m`, `2h`, `1d`, `1h30m` (units s, m, h, d, w).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad =
        || format!("cannot read {text:?} as a duration: write it as 30s, 15m, 2h, 1d or 1h30m");
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || total == 0 && text.trim().is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5 minutes").is_err());
    }
}
