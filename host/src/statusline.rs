//! `session-lock statusline`: the short line an agent's status line shows, from its status
//! line JSON on stdin (Claude Code's `statusLine` command): this session holds the lock, or
//! who else holds it and when it frees at the latest, or nothing when it is free.
//!
//! The component reads the input and says the words (`overview.status-line-directory`,
//! `overview.status-line`); the host reads stdin, resolves the directory, names its lock as
//! the hook does and prints the line. It reads one record and writes nothing, so it is about
//! as cheap as a hook call that needs no lock. A fault prints one `session-lock:` line
//! instead, so that a lock that cannot be checked is not shown as free.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use crate::component::Policy;
use crate::settings;
use crate::stores::AnyStore;
use crate::workspace;

/// Status line input larger than this is not read whole (Claude Code's is about 1 KiB).
pub const MAX_INPUT_BYTES: u64 = 1 << 20;

/// Prints the status line for the input on stdin. Always exits 0: a status line command that
/// fails shows nothing useful.
pub fn run() -> anyhow::Result<()> {
    let mut input = Vec::new();
    io::stdin().take(MAX_INPUT_BYTES).read_to_end(&mut input)?;
    let line = line(&input).unwrap_or_else(|why| format!("session-lock: {why}"));
    if !line.is_empty() {
        let mut out = io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    Ok(())
}

/// The line for `input` (empty: nothing to show).
pub fn line(input: &[u8]) -> Result<String, String> {
    let mut policy = Policy::load(AnyStore::open()?).map_err(|e| format!("{e:#}"))?;
    let trap = |e: wasmtime::Error| format!("the policy component failed: {e:#}");
    let dir = match policy.status_line_directory(input).map_err(trap)? {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_dir().map_err(|e| e.to_string())?,
    };
    let (_, resolved) = workspace::resolve_directory(&dir)?;
    let key = policy.workspace_key(&resolved).map_err(trap)?;
    let line = policy
        .status_line(input, &key, settings::now_ms())
        .map_err(trap)?;
    std::mem::forget(policy);
    Ok(line)
}
