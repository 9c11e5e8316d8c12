//! What `doctor` learns about a registered hook command without running it.
//!
//! A settings file can come from a cloned repository, so its commands are text to read, never
//! programs to run: [`binary_of`] takes the binary's path out of a command only when the
//! command is exactly what `install` writes (one shell word for the binary, then `hook` and
//! `--agent NAME`, optionally after `SESSION_LOCK_WAIT_MS=N`), with its quotes removed and
//! `$HOME` expanded here, not by a shell. [`identify`] then compares that file with this
//! binary by identity and content. The only program ever started is the user's own stable
//! copy (its path computed from the user's environment, never read from a settings file),
//! directly with `--version` and no shell, when it differs from this binary and is the user's
//! own file: that tells an old install's version.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the stable copy may take to say its version.
const VERSION_WAIT: Duration = Duration::from_secs(2);

/// The characters a path word may hold unquoted (those `install` leaves unquoted).
fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/._-+,:@".contains(c)
}

/// The binary a registered hook `command` runs, when the command has the shape `install`
/// writes; `home` is what `$HOME` stands for. `Err` says why the command is not that shape:
/// anything a shell would do more with (`;`, `$(...)`, a second command, a relative path) is
/// refused, not interpreted.
pub fn binary_of(command: &str, home: &Path) -> Result<PathBuf, String> {
    let not_ours = |why: &str| {
        Err(format!(
            "not a command `session-lock install` writes ({why})"
        ))
    };
    let mut rest = command.trim();
    if let Some(after) = rest.strip_prefix("SESSION_LOCK_WAIT_MS=") {
        let digits = after.find(' ').unwrap_or(after.len());
        if digits == 0 || !after[..digits].bytes().all(|b| b.is_ascii_digit()) {
            return not_ours("the wait is not a number");
        }
        rest = after[digits..].trim_start();
    }
    let (word, tail) = match split_word(rest) {
        Ok(split) => split,
        Err(why) => return not_ours(why),
    };
    let mut tail = tail.split(' ').filter(|w| !w.is_empty());
    let agent_ok = |name: &str| !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase());
    match (tail.next(), tail.next(), tail.next(), tail.next()) {
        (Some("hook"), None, None, None) => {}
        (Some("hook"), Some("--agent"), Some(name), None) if agent_ok(name) => {}
        _ => return not_ours("it must end in `hook --agent NAME`"),
    }
    let path = match word {
        Word::Home(rest) => {
            if !home.is_absolute() {
                return not_ours("$HOME is not an absolute path");
            }
            home.join(rest.trim_start_matches('/'))
        }
        Word::Literal(path) => PathBuf::from(path),
    };
    if !path.is_absolute() {
        return not_ours("the binary is not an absolute path");
    }
    Ok(path)
}

/// A binary's word: a literal path, or `$HOME` followed by a path.
enum Word {
    Literal(String),
    Home(String),
}

/// The first shell word of `text` (quotes removed) and what follows it. The word is made of
/// plain characters, `'...'` segments, `\'` and `"..."` segments of plain characters; `$HOME`
/// or `${HOME}` may open it, bare or as the start of a `"..."` segment.
fn split_word(text: &str) -> Result<(Word, &str), &'static str> {
    let mut word = String::new();
    let mut home = false;
    let mut chars = text.char_indices().peekable();
    let take_home = |s: &str| ["${HOME}", "$HOME"].into_iter().find(|h| s.starts_with(h));
    if let Some(h) = take_home(text) {
        home = true;
        for _ in 0..h.len() {
            chars.next();
        }
    }
    while let Some(&(i, c)) = chars.peek() {
        match c {
            ' ' => return finish(word, home, &text[i..]),
            '\'' => {
                chars.next();
                loop {
                    match chars.next() {
                        Some((_, '\'')) => break,
                        Some((_, c)) => word.push(c),
                        None => return Err("an unclosed quote"),
                    }
                }
            }
            '\\' => {
                chars.next();
                match chars.next() {
                    Some((_, '\'')) => word.push('\''),
                    _ => return Err("a backslash other than in `'\\''`"),
                }
            }
            '"' => {
                chars.next();
                let inner_start = i + 1;
                if i == 0
                    && let Some(h) = take_home(&text[inner_start..])
                {
                    home = true;
                    for _ in 0..h.len() {
                        chars.next();
                    }
                }
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, c)) if plain(c) => word.push(c),
                        Some(_) => {
                            return Err("a character a shell would expand, in double quotes");
                        }
                        None => return Err("an unclosed quote"),
                    }
                }
            }
            c if plain(c) => {
                chars.next();
                word.push(c);
            }
            _ => return Err("a character a shell would act on, outside quotes"),
        }
    }
    finish(word, home, "")
}

fn finish(word: String, home: bool, rest: &str) -> Result<(Word, &str), &'static str> {
    if word.is_empty() && !home {
        return Err("no binary");
    }
    Ok((
        if home {
            Word::Home(word)
        } else {
            Word::Literal(word)
        },
        rest,
    ))
}

/// What the binary at `path` is, found without running it (but for the stable copy, see the
/// module's documentation): `Ok` names it when it is this binary, `Err` says what is wrong.
/// `stable` is where `install` puts its copy; `running` is this binary; `ours` is this
/// binary's version line (`session-lock 0.1.0`).
pub fn identify(path: &Path, stable: &Path, running: &Path, ours: &str) -> Result<String, String> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err("the binary does not exist".into());
        }
        Err(e) => return Err(format!("cannot look at the binary: {e}")),
    };
    if !meta.is_file() {
        return Err("the binary is not a file".into());
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err("the binary is not executable".into());
    }
    if fs::canonicalize(path).ok() == fs::canonicalize(running).ok() {
        return Ok(format!("is this binary ({ours})"));
    }
    if same_content(path, running) {
        return Ok(format!("runs {ours} (a copy of this binary)"));
    }
    if fs::canonicalize(path).ok() != fs::canonicalize(stable).ok() {
        return Err(format!(
            "is not this binary ({ours}); doctor does not run a program a settings file names, \
             so its version is not known"
        ));
    }
    match stable_version(stable, &meta) {
        Ok(version) if version == ours => Ok(format!("runs {ours}")),
        Ok(version) => Err(format!(
            "runs {:?}, not {ours}",
            crate::visible::visible(&version)
        )),
        Err(why) => Err(why),
    }
}

/// Whether `a` and `b` hold the same bytes.
fn same_content(a: &Path, b: &Path) -> bool {
    let (Ok(mut x), Ok(mut y)) = (File::open(a), File::open(b)) else {
        return false;
    };
    match (x.metadata(), y.metadata()) {
        (Ok(mx), Ok(my)) if mx.len() == my.len() => {}
        _ => return false,
    }
    let (mut bx, mut by) = (vec![0; 1 << 16], vec![0; 1 << 16]);
    loop {
        let (Ok(nx), Ok(ny)) = (read_full(&mut x, &mut bx), read_full(&mut y, &mut by)) else {
            return false;
        };
        if nx != ny || bx[..nx] != by[..ny] {
            return false;
        }
        if nx == 0 {
            return true;
        }
    }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// What the user's stable copy says to `--version`: started directly (no shell), stdin closed,
/// given [`VERSION_WAIT`], and only when it is the user's own file that nobody else can write.
fn stable_version(stable: &Path, meta: &fs::Metadata) -> Result<String, String> {
    let euid = unsafe { libc::geteuid() };
    if meta.uid() != euid && meta.uid() != 0 || meta.permissions().mode() & 0o022 != 0 {
        return Err(
            "the stable copy is not yours alone (its owner or mode), so it is not run; \
                    its version is not known"
                .into(),
        );
    }
    let mut child = Command::new(stable)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("the binary cannot be started: {e}"))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < VERSION_WAIT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the binary did not answer --version within {VERSION_WAIT:?}"
                ));
            }
        }
    };
    let mut out = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = stdout.take(4096).read_to_string(&mut out);
    }
    if !status.success() {
        return Err(format!("the binary fails to run ({status})"));
    }
    Ok(out.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(command: &str) -> Result<PathBuf, String> {
        binary_of(command, Path::new("/home/u"))
    }

    #[test]
    fn every_shape_install_writes_names_its_binary() {
        for (command, path) in [
            (
                "/opt/bin/session-lock hook --agent claude",
                "/opt/bin/session-lock",
            ),
            ("/opt/bin/session-lock hook", "/opt/bin/session-lock"),
            (
                "'/new place/session-lock' hook --agent codex",
                "/new place/session-lock",
            ),
            (
                "'/it'\\''s/session-lock' hook --agent codex",
                "/it's/session-lock",
            ),
            (
                "\"$HOME/.local/share/session-lock/bin/session-lock\" hook --agent claude",
                "/home/u/.local/share/session-lock/bin/session-lock",
            ),
            (
                "\"$HOME\"'/my bin/session-lock' hook --agent codex",
                "/home/u/my bin/session-lock",
            ),
            (
                "$HOME/b/session-lock hook --agent gemini",
                "/home/u/b/session-lock",
            ),
            (
                "SESSION_LOCK_WAIT_MS=30000 /b/session-lock hook --agent claude",
                "/b/session-lock",
            ),
        ] {
            assert_eq!(binary(command), Ok(PathBuf::from(path)), "{command}");
        }
    }

    #[test]
    fn anything_a_shell_would_do_more_with_is_refused() {
        for command in [
            "id > /tmp/x; /x/session-lock hook --agent claude",
            "$(id)/session-lock hook --agent claude",
            "\"$HOME/$(id)/session-lock\" hook --agent claude",
            "/x/session-lock hook --agent claude; id",
            "/x/session-lock hook --agent claude && id",
            "`id`/session-lock hook",
            "./session-lock hook --agent claude",
            "session-lock hook --agent claude",
            "/x/session-lock\thook",
            "'/x/session-lock hook",
            "SESSION_LOCK_WAIT_MS=$(id) /x/session-lock hook",
            "/x/session-lock hook --agent $(id)",
            "~/session-lock hook",
        ] {
            assert!(binary(command).is_err(), "{command}");
        }
    }
}
