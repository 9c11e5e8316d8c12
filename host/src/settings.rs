//! What the environment tells the host: where lock records live (which store, which directory),
//! how checkouts are named, and the raw values of the variables the component reads (it
//! interprets them; the host passes them on untouched).

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

/// Where lock records live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// Files in [`lock_dir`] (this machine only).
    Files,
    /// An etcd cluster (`SESSION_LOCK_ETCD_ENDPOINTS`), shared by every machine pointed at it.
    Etcd,
}

/// The setting `name` (`SESSION_LOCK_<X>`), non-empty: from the environment, else from the
/// Claude Code plugin's option `<x>` (its `userConfig`, which Claude Code passes to hooks as
/// `CLAUDE_PLUGIN_OPTION_<X>`). A variable set by hand wins over the plugin's answer.
pub fn value(name: &str) -> Option<String> {
    let set = |name: &str| env::var(name).ok().filter(|v| !v.is_empty());
    set(name).or_else(|| {
        let option = name.strip_prefix("SESSION_LOCK_")?;
        set(&format!("CLAUDE_PLUGIN_OPTION_{option}"))
    })
}

/// `SESSION_LOCK_STORE`: `files` (the default) or `etcd`. Unset, the store is etcd when the
/// plugin's `etcd_endpoints` option names a cluster.
pub fn store_kind() -> Result<StoreKind, String> {
    match env::var("SESSION_LOCK_STORE").as_deref() {
        Err(env::VarError::NotPresent) | Ok("")
            if value("SESSION_LOCK_ETCD_ENDPOINTS").is_some()
                && env::var_os("SESSION_LOCK_ETCD_ENDPOINTS").is_none() =>
        {
            Ok(StoreKind::Etcd)
        }
        Err(env::VarError::NotPresent) | Ok("") | Ok("files") => Ok(StoreKind::Files),
        Ok("etcd") => Ok(StoreKind::Etcd),
        Ok(other) => Err(format!(
            "SESSION_LOCK_STORE={other:?} is not a lock store (files or etcd)"
        )),
        Err(env::VarError::NotUnicode(_)) => {
            Err("SESSION_LOCK_STORE is not UTF-8 (files or etcd)".into())
        }
    }
}

/// How a git work tree is named for its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// By its path: the same checkout mounted at two paths has two locks.
    Path,
    /// By a random id kept in its git directory (`<gitdir>/session-lock-id`): one checkout has
    /// one lock wherever it is mounted, and each clone its own.
    Checkout,
}

/// `SESSION_LOCK_IDENTITY`: `path` or `checkout`; the default is `checkout` when the store is
/// etcd (sessions on several machines), else `path`.
pub fn identity() -> Result<Identity, String> {
    match env::var("SESSION_LOCK_IDENTITY").as_deref() {
        Ok("path") => Ok(Identity::Path),
        Ok("checkout") => Ok(Identity::Checkout),
        Err(env::VarError::NotPresent) | Ok("") => Ok(match store_kind()? {
            StoreKind::Etcd => Identity::Checkout,
            StoreKind::Files => Identity::Path,
        }),
        Ok(other) => Err(format!(
            "SESSION_LOCK_IDENTITY={other:?} is not a way to name checkouts (path or checkout)"
        )),
        Err(env::VarError::NotUnicode(_)) => {
            Err("SESSION_LOCK_IDENTITY is not UTF-8 (path or checkout)".into())
        }
    }
}
