//! etcd authentication: the user and password (`SESSION_LOCK_ETCD_USER`, the password from
//! `SESSION_LOCK_ETCD_PASSWORD_FILE` or `SESSION_LOCK_ETCD_PASSWORD`) and the token etcd's
//! `/v3/auth/authenticate` gives for them, kept between hook runs.
//!
//! A login costs the member a bcrypt check (~70 ms at etcd's default cost, and logins queue on
//! its cores), so a hook process that logged in every time would not meet its deadline when
//! several start at once. The token is kept in a file of mode 0600 in the lock directory, named
//! by the endpoints and the user, and used until etcd says it is no longer valid (a simple
//! token lives `--auth-token-ttl`, 300 s by default, from its last use; a JWT until its `exp`):
//! then the store logs in once more and keeps the new token.
//!
//! Secrets are never formatted: [`Secret`]'s `Debug` prints a placeholder, and no message of
//! this module or the store contains a password or a token.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Text that must not be shown: a password or a token.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: String) -> Secret {
        Secret(text)
    }

    /// The text itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// An etcd user and its password.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The etcd user name.
    pub user: String,
    /// Its password.
    pub password: Secret,
}

/// The credentials the settings name, if any. `user` is `SESSION_LOCK_ETCD_USER`;
/// `password_file` and `password` are the two password settings (the file wins; its content's
/// trailing line break is not part of the password). A password without a user, or a user
/// without a password, is an error.
pub fn credentials(
    user: Option<String>,
    password_file: Option<PathBuf>,
    password: Option<String>,
) -> Result<Option<Credentials>, String> {
    let password = match (password_file, password) {
        (Some(path), _) => {
            let text = fs::read_to_string(&path).map_err(|e| {
                format!(
                    "cannot read SESSION_LOCK_ETCD_PASSWORD_FILE {}: {e}",
                    path.display()
                )
            })?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            Some(Secret::new(text.to_owned()))
        }
        (None, password) => password.map(Secret::new),
    };
    match (user, password) {
        (None, None) => Ok(None),
        (Some(user), Some(password)) => Ok(Some(Credentials { user, password })),
        (Some(_), None) => Err("SESSION_LOCK_ETCD_USER is set without a password \
                                (SESSION_LOCK_ETCD_PASSWORD_FILE or SESSION_LOCK_ETCD_PASSWORD)"
            .into()),
        (None, Some(_)) => Err("an etcd password is set without SESSION_LOCK_ETCD_USER".into()),
    }
}

/// Where the token of one user on one cluster is kept between runs.
#[derive(Debug, Clone)]
pub struct TokenCache {
    path: PathBuf,
}

impl TokenCache {
    /// The token file in `dir` for `user` at `endpoints`, in whatever order they are listed:
    /// sessions that list one cluster's members in another order share one login.
    pub fn new(dir: &Path, endpoints: &[String], user: &str) -> TokenCache {
        let mut members = endpoints.to_vec();
        members.sort_unstable();
        members.dedup();
        // FNV-1a: a stable name, not a secret; a collision would only cost a login.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in members.join(",").bytes().chain([0]).chain(user.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        TokenCache {
            path: dir.join(format!("etcd-token-{hash:016x}")),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The kept token, if there is one this user wrote for itself alone (a file of another
    /// owner, or readable by others, is ignored).
    pub fn load(&self) -> Option<Secret> {
        let metadata = fs::symlink_metadata(&self.path).ok()?;
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        if !metadata.is_file() || metadata.uid() != me || metadata.mode() & 0o077 != 0 {
            return None;
        }
        let token = fs::read_to_string(&self.path).ok()?;
        let token = token.trim();
        (!token.is_empty() && token.len() < 4096).then(|| Secret::new(token.to_owned()))
    }

    /// Keeps `token`, whole or not at all (a temporary file of mode 0600, renamed). A failure
    /// only costs the next run a login, so it is not reported.
    pub fn save(&self, token: &Secret) {
        let Some(dir) = self.path.parent() else {
            return;
        };
        let written = tempfile::Builder::new()
            .prefix(".etcd-token-")
            .tempfile_in(dir)
            .and_then(|mut file| {
                file.write_all(token.expose().as_bytes())?;
                file.persist(&self.path).map_err(|e| e.error)?;
                Ok(())
            });
        drop(written);
    }

    /// Forgets the kept token (etcd no longer takes it).
    pub fn forget(&self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_never_format() {
        let credentials = Credentials {
            user: "team-a".into(),
            password: Secret::new("hunter2".into()),
        };
        let shown = format!("{credentials:?}");
        assert!(
            shown.contains("team-a") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn a_password_file_wins_and_loses_its_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        fs::write(&file, "from the file\n").unwrap();
        let got = credentials(Some("u".into()), Some(file), Some("from env".into()))
            .unwrap()
            .unwrap();
        assert_eq!(got.password.expose(), "from the file");
        assert!(credentials(Some("u".into()), None, None).is_err());
        assert!(credentials(None, None, Some("p".into())).is_err());
        assert!(credentials(None, None, None).unwrap().is_none());
        let missing = credentials(Some("u".into()), Some(dir.path().join("no")), None);
        assert!(missing.unwrap_err().contains("PASSWORD_FILE"));
    }

    #[test]
    fn the_token_is_kept_private_and_per_cluster_and_user() {
        let dir = tempfile::tempdir().unwrap();
        let endpoints = vec!["https://a:2379".to_owned()];
        let cache = TokenCache::new(dir.path(), &endpoints, "team-a");
        assert!(cache.load().is_none());
        cache.save(&Secret::new("tok.123".into()));
        assert_eq!(cache.load().unwrap().expose(), "tok.123");
        let mode = fs::metadata(cache.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_ne!(
            TokenCache::new(dir.path(), &endpoints, "team-b").path(),
            cache.path()
        );
        // Readable by others: not trusted.
        fs::set_permissions(cache.path(), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(cache.load().is_none());
        cache.forget();
        assert!(!cache.path().exists());
    }
}
