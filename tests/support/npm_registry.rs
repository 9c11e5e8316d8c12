//! What `cargo xtask dist` wrote (`<target dir>/dist/`) and a real npm registry on loopback
//! (verdaccio, pinned in `tests/registry/`) to publish its npm packages to, as a release
//! would. Shared by `tests/dist.rs` and `tests/dist_claude_code.rs`.
//!
//! Without `dist/` or verdaccio a test says "skipping: ..." and passes, except under CI
//! (`CI=true`), where `.ci/run` prepares them, so a skip would only hide a broken set-up.

#![allow(
    dead_code,
    reason = "each test file uses its own part of the shared helpers"
)]

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Says why a test does not run, and passes, unless under CI, where it fails.
pub fn skip(why: &str) {
    let line = format!("skipping: {why}");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true, and this test would not run: {line}"
    );
    // Straight to stderr: the harness captures `eprintln!` of passing tests.
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `<target dir>/dist`, found above this test binary (`<target dir>/debug/deps/dist-…`), or
/// through `CARGO_TARGET_DIR`; `None` (after saying so) when `cargo xtask dist` has not run.
pub fn dist() -> Option<PathBuf> {
    let exe = std::env::current_exe().unwrap();
    let mut candidates: Vec<PathBuf> = exe.ancestors().map(|a| a.join("dist")).collect();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.insert(
            0,
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(dir)
                .join("dist"),
        );
    }
    let found = candidates
        .into_iter()
        .find(|d| d.join("SHA256SUMS").is_file());
    if found.is_none() {
        skip("run `cargo xtask dist` first");
    }
    found
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `program` on this process's `PATH`, as an absolute path.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// Runs `command`, returning its output; panics with both streams unless it succeeds.
pub fn succeed(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?}: {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A fresh home and the PATH a person without Rust has: `first` (where the package manager
/// puts `session-lock`), node's folder, `/usr/bin` and `/bin`; asserts none holds `cargo` or
/// `rustc`.
pub fn path_without_rust(first: &Path) -> String {
    let mut dirs = vec![first.to_path_buf()];
    for program in ["node", "python3"] {
        if let Some(found) = which(program).and_then(|p| p.canonicalize().ok()) {
            dirs.push(found.parent().unwrap().to_path_buf());
        }
    }
    dirs.extend([PathBuf::from("/usr/bin"), PathBuf::from("/bin")]);
    dirs.dedup();
    for dir in &dirs {
        for tool in ["cargo", "rustc"] {
            assert!(!dir.join(tool).exists(), "{} holds {tool}", dir.display());
        }
    }
    std::env::join_paths(dirs).unwrap().into_string().unwrap()
}

/// verdaccio on a loopback port, stopped when dropped.
pub struct Registry {
    child: Child,
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
    /// Where verdaccio keeps what is published (`<name>/<name>-<version>.tgz`).
    pub storage: PathBuf,
    /// An npmrc naming this registry, with the token `npm publish` asks for.
    pub npmrc: PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// Starts verdaccio from `tests/registry/` with an empty storage in `dir`, no uplink (so
    /// nothing comes from elsewhere) and anonymous publishing.
    pub fn start(dir: &Path) -> Option<Registry> {
        let script = repo().join("tests/registry/node_modules/verdaccio/bin/verdaccio");
        if !script.exists() {
            skip("verdaccio is not installed (`npm ci --ignore-scripts --prefix tests/registry`)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let storage = dir.join("storage");
        let config = dir.join("verdaccio.yaml");
        fs::write(
            &config,
            format!(
                "storage: {}\nuplinks: {{}}\npackages:\n  '**':\n    access: $all\n    publish: $anonymous\nlog: {{ type: stdout, format: pretty, level: warn }}\n",
                storage.display()
            ),
        )
        .unwrap();
        let child = Command::new("node")
            .arg(&script)
            .arg("--config")
            .arg(&config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs verdaccio");
        let url = format!("http://127.0.0.1:{port}/");
        // npm publish wants a token for the registry, even with anonymous publishing.
        let npmrc = dir.join("npmrc");
        fs::write(
            &npmrc,
            format!("registry={url}\n//127.0.0.1:{port}/:_authToken=anonymous\n"),
        )
        .unwrap();
        let registry = Registry {
            child,
            url,
            storage,
            npmrc,
        };
        let started = Instant::now();
        while !ping(port) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "verdaccio did not answer in 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Some(registry)
    }

    /// `npm ARGS` in a fresh home: only this registry, its own cache, global prefix `prefix`.
    pub fn npm(&self, home: &Path, prefix: &Path, path: &str) -> Command {
        let mut command = Command::new("npm");
        command
            .env_clear()
            .env("HOME", home)
            .env("PATH", path)
            .env("npm_config_userconfig", &self.npmrc)
            .env("npm_config_registry", &self.url)
            .env("npm_config_cache", home.join(".npm"))
            .env("npm_config_prefix", prefix)
            .env("npm_config_update_notifier", "false")
            .env("npm_config_fund", "false")
            .env("npm_config_audit", "false");
        command
    }

    /// Publishes every tarball in `dist/npm`, the platform packages first, as a release does
    /// (the main package names them), with `npm` run in `home` (its cache) and `path`.
    pub fn publish(&self, dist: &Path, home: &Path, prefix: &Path, path: &str) {
        let mut tarballs: Vec<PathBuf> = fs::read_dir(dist.join("npm"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        tarballs.sort_by_key(|p| {
            !p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("session-lock-linux")
        });
        for tarball in &tarballs {
            succeed(self.npm(home, prefix, path).arg("publish").arg(tarball));
        }
    }
}

/// Whether verdaccio answers `GET /-/ping` on `port`.
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request =
        format!("GET /-/ping HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200")
}
