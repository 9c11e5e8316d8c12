//! The hook's latency with the etcd store against the file store, in the same run, on
//! loopback: a 1-member and a 3-member etcd cluster started here, and a lock directory on the
//! local filesystem.
//!
//! ```sh
//! cargo run --release -p session-lock --example etcd_bench -- 300
//! ```
//!
//! Each round runs one whole hook process per event, as an agent does: the holder's `Write`
//! (read, then a compare-and-swap that refreshes the lock) and another session's `Write`
//! (read, denied). The hook is this program re-run as `etcd_bench hook`, which runs
//! `session_lock::hook::run`, the function behind `session-lock hook`. Then the store calls
//! alone, in this process, over a kept connection. Needs `etcd` on the PATH.
//!
//! The secured rows run against clusters with TLS for clients and peers and client
//! certificates (needs `etcdctl` and `openssl` too): `TLS` alone on 1 member, and `TLS+auth`
//! with etcd authentication at etcd's default bcrypt cost, with the token kept between runs,
//! as hooks do, and a login every time (the kept token removed before each run), and 16 hooks
//! started at once, each way.
//!
//! Before and after a change, in the same run: `ETCD_BENCH_BEFORE=<old session-lock>` and
//! `ETCD_BENCH_AFTER=<new session-lock>` run those two binaries' `hook`, alternating round by
//! round, instead of this program (the secured rows run the new one only).

#[path = "../../tests/support/etcd.rs"]
mod etcd;

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use etcd::{Cluster, TEAM_A};
use session_lock::etcd_store::EtcdStore;
use session_lock::fs_store::FsLockStore;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("hook") {
        return session_lock::hook::run(None);
    }
    let rounds: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(200);
    let Some(one) = Cluster::start(1, "the benchmark") else {
        return ExitCode::FAILURE;
    };
    let Some(three) = Cluster::start(3, "the benchmark") else {
        return ExitCode::FAILURE;
    };
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().canonicalize().unwrap().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    let lock_dir = root.path().join("locks");

    println!("hook latency, one process per event, {rounds} rounds (ms: p50 / p90 / p99 / mean)");
    let stores: [(&str, Vec<(&str, String)>); 4] = [
        (
            "files",
            vec![("SESSION_LOCK_DIR", lock_dir.display().to_string())],
        ),
        (
            "files, identity=checkout",
            vec![
                ("SESSION_LOCK_DIR", lock_dir.display().to_string()),
                ("SESSION_LOCK_IDENTITY", "checkout".into()),
            ],
        ),
        (
            "etcd, 1 member",
            vec![
                ("SESSION_LOCK_STORE", "etcd".into()),
                ("SESSION_LOCK_ETCD_ENDPOINTS", one.endpoints_from(0)),
            ],
        ),
        (
            "etcd, 3 members",
            vec![
                ("SESSION_LOCK_STORE", "etcd".into()),
                ("SESSION_LOCK_ETCD_ENDPOINTS", three.endpoints_from(0)),
            ],
        ),
    ];
    let binaries: Vec<(&str, Hook)> = match (
        std::env::var_os("ETCD_BENCH_BEFORE"),
        std::env::var_os("ETCD_BENCH_AFTER"),
    ) {
        (Some(before), Some(after)) => vec![
            ("before", Hook::Binary(before.into())),
            ("after", Hook::Binary(after.into())),
        ],
        _ => vec![("", Hook::ThisProgram)],
    };
    for (name, env) in &stores {
        let mut holder = vec![Vec::new(); binaries.len()];
        let mut blocked = vec![Vec::new(); binaries.len()];
        // One untimed round first, so that every store starts with the lock held.
        for round in 0..=rounds {
            for (at, (_, binary)) in binaries.iter().enumerate() {
                let took = binary.run(env, &event("holder", &repo));
                let took2 = binary.run(env, &event("other", &repo));
                if round > 0 {
                    holder[at].push(took);
                    blocked[at].push(took2);
                }
            }
        }
        for (at, (label, _)) in binaries.iter().enumerate() {
            let row = format!("{name} {label}");
            println!("  {row:<26} holder's Write {}", summary(&mut holder[at]));
            println!("  {:<26} blocked Write  {}", "", summary(&mut blocked[at]));
        }
        binaries[0].1.run(env, &stop("holder", &repo));
    }
    let newest = &binaries.last().unwrap().1;
    secured_rows(newest, rounds, &root.path().join("secured"));
    println!(
        "  hooks that failed open: {}",
        FAILED_OPEN.load(std::sync::atomic::Ordering::SeqCst)
    );

    println!("store calls alone, in one process ({rounds} rounds; ms: p50 / p90 / p99 / mean)");
    let key = "0123456789ab";
    let record = br#"{"schema_version":1,"session_id":"bench","pid":1,"acquired_at":1,"refreshed_at":1,"ttl_ms":300000}"#;
    let files = FsLockStore::new(root.path().join("direct"));
    let mut times = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        let current = files.read(key).unwrap();
        times.0.push(started.elapsed());
        let started = Instant::now();
        files
            .compare_and_swap(key, current.as_deref(), Some(record))
            .unwrap();
        times.1.push(started.elapsed());
    }
    println!("  {:<26} read {}", "files", summary(&mut times.0));
    println!("  {:<26} swap {}", "", summary(&mut times.1));
    for (name, cluster) in [("etcd, 1 member", &one), ("etcd, 3 members", &three)] {
        let endpoints = cluster.endpoints();
        let endpoints: Vec<&str> = endpoints.iter().map(String::as_str).collect();
        let mut store = EtcdStore::new(&endpoints, "bench").unwrap();
        let mut times = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let started = Instant::now();
            let current = store.read(key).unwrap();
            times.0.push(started.elapsed());
            let started = Instant::now();
            store
                .compare_and_swap(key, current.as_deref(), Some(record))
                .unwrap();
            times.1.push(started.elapsed());
        }
        println!("  {name:<26} read {}", summary(&mut times.0));
        println!("  {:<26} swap {}", "", summary(&mut times.1));
    }
    ExitCode::SUCCESS
}

fn event(session: &str, repo: &Path) -> String {
    serde_json::json!({
        "session_id": session,
        "hook_event_name": "PreToolUse",
        "tool_name": "Write",
        "tool_input": {"file_path": repo.join("notes.txt"), "content": "x"},
        "cwd": repo,
    })
    .to_string()
}

fn stop(session: &str, repo: &Path) -> String {
    serde_json::json!({"session_id": session, "hook_event_name": "Stop", "cwd": repo}).to_string()
}

/// Hooks that answered without the lock (past the deadline, a login that missed its budget):
/// counted, and said at the end of the rows.
static FAILED_OPEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The hook a row runs.
enum Hook {
    /// This program, re-run as `etcd_bench hook`.
    ThisProgram,
    /// A `session-lock` binary's `hook`.
    Binary(std::path::PathBuf),
}

impl Hook {
    /// Runs the hook on `event` with `env`; how long the whole process took.
    fn run(&self, env: &[(&str, String)], event: &str) -> Duration {
        let program = match self {
            Hook::ThisProgram => std::env::current_exe().unwrap(),
            Hook::Binary(path) => path.clone(),
        };
        hook(&program, env, event)
    }

    /// Starts `count` hooks on `event` with `env` at once; how long until the last answered.
    fn run_at_once(&self, count: usize, env: &[(&str, String)], event: &str) -> Duration {
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..count {
                scope.spawn(|| self.run(env, event));
            }
        });
        started.elapsed()
    }
}

/// The secured rows: TLS with client certificates alone on 1 member, then with etcd
/// authentication too (default bcrypt cost) on 1 and 3 members: the token kept, and a login
/// every run; 16 hooks at once.
fn secured_rows(hook: &Hook, rounds: usize, state: &Path) {
    let (Some(tls), Some(one), Some(three)) = (
        Cluster::start_tls(1, "the benchmark's secured rows"),
        Cluster::start_secured(1, "the benchmark's secured rows"),
        Cluster::start_secured(3, "the benchmark's secured rows"),
    ) else {
        return;
    };
    std::fs::create_dir_all(state).unwrap();
    let repo = state.canonicalize().unwrap().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    let password = state.join("password");
    std::fs::write(&password, TEAM_A.password).unwrap();
    let forget_token = || {
        for entry in std::fs::read_dir(state).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("etcd-token-")
            {
                std::fs::remove_file(path).unwrap();
            }
        }
    };
    for (name, cluster, auth) in [
        ("TLS, 1 member", &tls, false),
        ("TLS+auth, 1 member", &one, true),
        ("TLS+auth, 3 members", &three, true),
    ] {
        let secured = cluster.secured.as_ref().unwrap();
        let path = |p: &Path| p.display().to_string();
        let mut env: Vec<(&str, String)> = vec![
            ("SESSION_LOCK_STORE", "etcd".into()),
            ("SESSION_LOCK_ETCD_ENDPOINTS", cluster.endpoints_from(0)),
            ("SESSION_LOCK_ETCD_PREFIX", TEAM_A.prefix.into()),
            ("SESSION_LOCK_ETCD_CA", path(&secured.ca)),
            ("SESSION_LOCK_ETCD_CERT", path(&secured.client_cert)),
            ("SESSION_LOCK_ETCD_KEY", path(&secured.client_key)),
            ("SESSION_LOCK_DIR", path(state)),
        ];
        if auth {
            env.push(("SESSION_LOCK_ETCD_USER", TEAM_A.name.into()));
            env.push(("SESSION_LOCK_ETCD_PASSWORD_FILE", path(&password)));
        }
        let (mut holder, mut blocked, mut login) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..=rounds {
            let took = hook.run(&env, &event("holder", &repo));
            let took2 = hook.run(&env, &event("other", &repo));
            if round > 0 {
                holder.push(took);
                blocked.push(took2);
            }
            if auth {
                forget_token();
                let took3 = hook.run(&env, &event("other", &repo));
                if round > 0 {
                    login.push(took3);
                }
            }
        }
        println!("  etcd {name:<21} holder's Write {}", summary(&mut holder));
        println!("  {:<26} blocked Write  {}", "", summary(&mut blocked));
        if auth {
            println!(
                "  {:<26} blocked Write, logging in {}",
                "",
                summary(&mut login)
            );
            let warm = hook.run_at_once(16, &env, &event("other", &repo));
            forget_token();
            let cold = hook.run_at_once(16, &env, &event("other", &repo));
            println!(
                "  {:<26} 16 hooks at once: {:.0} ms with the kept token, {:.0} ms all logging in",
                "",
                warm.as_secs_f64() * 1000.0,
                cold.as_secs_f64() * 1000.0
            );
        }
        hook.run(&env, &stop("holder", &repo));
    }
}

/// Runs `program hook` on `event` with `env` (and none of the caller's settings); how long the
/// whole process took. A hook that fails open is reported (the row's time still counts it).
fn hook(program: &Path, env: &[(&str, String)], event: &str) -> Duration {
    let mut command = Command::new(program);
    command.arg("hook");
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("SESSION_LOCK_") || name.starts_with("CLAUDE_") {
            command.env_remove(&*name);
        }
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(event.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let took = started.elapsed();
    if !output.stderr.is_empty() {
        eprintln!(
            "  (a hook failed open: {})",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    took
}

fn summary(times: &mut [Duration]) -> String {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(times[((times.len() as f64 - 1.0) * q).round() as usize]);
    let mean = times.iter().map(|d| ms(*d)).sum::<f64>() / times.len() as f64;
    format!(
        "{:6.2} / {:6.2} / {:6.2} / {:6.2}",
        at(0.5),
        at(0.9),
        at(0.99),
        mean
    )
}
