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
//! started at once, each way. Every etcd row also gives the members' CPU time per hook
//! (`/proc/<pid>/stat`), which on a small machine shares the cores with the hook.
//!
//! Then connections alone, in this process, against the TLS member: a range request on a new
//! connection with a full handshake, on one that resumes the session the connection before got
//! (rustls keeps tickets in memory, so only within one process), and on one kept connection,
//! with plain etcd beside them: where a TLS hook's time goes, and what resuming sessions
//! across hook processes would save.
//!
//! Before and after a change, in the same run: `ETCD_BENCH_BEFORE=<old session-lock>` and
//! `ETCD_BENCH_AFTER=<new session-lock>` run those two binaries' `hook`, alternating round by
//! round, instead of this program (the secured rows run the new one only).

#[path = "../../tests/support/etcd.rs"]
mod etcd;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use etcd::{Cluster, TEAM_A};
use session_lock::etcd_store::{self, EtcdStore};
use session_lock::etcd_tls::{self, TlsFiles, Transport};
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
    let stores = [
        (
            "files",
            vec![("SESSION_LOCK_DIR", lock_dir.display().to_string())],
            None,
        ),
        (
            "files, identity=checkout",
            vec![
                ("SESSION_LOCK_DIR", lock_dir.display().to_string()),
                ("SESSION_LOCK_IDENTITY", "checkout".into()),
            ],
            None,
        ),
        (
            "etcd, 1 member",
            vec![
                ("SESSION_LOCK_STORE", "etcd".into()),
                ("SESSION_LOCK_ETCD_ENDPOINTS", one.endpoints_from(0)),
            ],
            Some(&one),
        ),
        (
            "etcd, 3 members",
            vec![
                ("SESSION_LOCK_STORE", "etcd".into()),
                ("SESSION_LOCK_ETCD_ENDPOINTS", three.endpoints_from(0)),
            ],
            Some(&three),
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
    for (name, env, cluster) in &stores {
        let mut holder = vec![Vec::new(); binaries.len()];
        let mut blocked = vec![Vec::new(); binaries.len()];
        let mut members = vec![Duration::ZERO; binaries.len()];
        // One untimed round first, so that every store starts with the lock held.
        for round in 0..=rounds {
            for (at, (_, binary)) in binaries.iter().enumerate() {
                let cpu = cluster.map(|c| c.cpu_time());
                let took = binary.run(env, &event("holder", &repo));
                let took2 = binary.run(env, &event("other", &repo));
                if round > 0 {
                    holder[at].push(took);
                    blocked[at].push(took2);
                    if let (Some(cluster), Some(cpu)) = (cluster, cpu) {
                        members[at] += cluster.cpu_time().saturating_sub(cpu);
                    }
                }
            }
        }
        for (at, (label, _)) in binaries.iter().enumerate() {
            let row = format!("{name} {label}");
            println!("  {row:<26} holder's Write {}", summary(&mut holder[at]));
            println!("  {:<26} blocked Write  {}", "", summary(&mut blocked[at]));
            if cluster.is_some() {
                print_member_cpu(members[at], 2 * rounds);
            }
        }
        binaries[0].1.run(env, &stop("holder", &repo));
    }
    let newest = &binaries.last().unwrap().1;
    secured_rows(newest, rounds, &root.path().join("secured"), &one);
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
fn secured_rows(hook: &Hook, rounds: usize, state: &Path, plain: &Cluster) {
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
        let mut members = Duration::ZERO;
        for round in 0..=rounds {
            let cpu = cluster.cpu_time();
            let took = hook.run(&env, &event("holder", &repo));
            let took2 = hook.run(&env, &event("other", &repo));
            if round > 0 {
                holder.push(took);
                blocked.push(took2);
                members += cluster.cpu_time().saturating_sub(cpu);
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
        print_member_cpu(members, 2 * rounds);
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
    connection_rows(rounds, plain, &tls);
}

/// The members' CPU time per hook: the time etcd itself spent answering, on the same cores.
fn print_member_cpu(total: Duration, hooks: usize) {
    println!(
        "  {:<26} members' CPU per hook {:.2} ms",
        "",
        total.as_secs_f64() * 1000.0 / hooks as f64
    );
}

/// Connections alone, in this process: one range request on a new connection each time (plain
/// etcd; TLS with a full handshake; TLS resuming the session the connection before got, which
/// rustls does within one process only) and on one kept TLS connection. The wall time of each,
/// and the member's CPU time per request: what a hook process's one connection costs on each
/// side, and what resuming sessions across hook processes would save.
fn connection_rows(rounds: usize, plain: &Cluster, tls: &Cluster) {
    let secured = tls.secured.as_ref().unwrap();
    let files = TlsFiles {
        ca: Some(secured.ca.clone()),
        cert: Some(secured.client_cert.clone()),
        key: Some(secured.client_key.clone()),
    };
    let resuming = etcd_tls::client_config(&files).unwrap();
    let mut full = (*resuming).clone();
    full.resumption = rustls::client::Resumption::disabled();
    let full = std::sync::Arc::new(full);
    let authority = |cluster: &Cluster| {
        cluster.members[0]
            .client_url
            .split_once("://")
            .unwrap()
            .1
            .to_owned()
    };
    let (plain_at, tls_at) = (authority(plain), authority(tls));
    let open = |config: Option<&std::sync::Arc<rustls::ClientConfig>>, at: &str| {
        let tcp = TcpStream::connect(at).unwrap();
        tcp.set_nodelay(true).unwrap();
        match config {
            None => Transport::Plain(tcp),
            Some(config) => {
                let until = Instant::now() + Duration::from_secs(5);
                Transport::handshake(config, "127.0.0.1", tcp, until).unwrap()
            }
        }
    };
    let mut kept = open(Some(&resuming), &tls_at);
    range(&mut kept);
    let names = [
        "plain, a new connection",
        "TLS, a new connection",
        "TLS, new, resumed",
        "TLS, one kept connection",
    ];
    let mut times = vec![Vec::new(); names.len()];
    let mut cpu = vec![Duration::ZERO; names.len()];
    let mut resumed = 0;
    // Case by case, each a block of rounds with a pause after it, so that the member's CPU
    // time (counted in 10 ms ticks) holds all of its work for that case and none of another's.
    for (case, (times, cpu)) in times.iter_mut().zip(&mut cpu).enumerate() {
        let member = if case == 0 { plain } else { tls };
        let before = member.cpu_time();
        for _ in 0..rounds {
            let started = Instant::now();
            match case {
                0 => range(&mut open(None, &plain_at)),
                1 => range(&mut open(Some(&full), &tls_at)),
                2 => {
                    let mut connection = open(Some(&resuming), &tls_at);
                    range(&mut connection);
                    if let Transport::Tls(stream) = &connection
                        && stream.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
                    {
                        resumed += 1;
                    }
                }
                _ => range(&mut kept),
            }
            times.push(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(500));
        *cpu = member.cpu_time().saturating_sub(before);
    }
    println!(
        "connections alone, in one process: a range request each, 1 member \
         ({rounds} rounds; ms: p50 / p90 / p99 / mean; the member's CPU per request)"
    );
    for ((name, times), cpu) in names.iter().zip(&mut times).zip(&cpu) {
        println!(
            "  {name:<26} {}   member {:.2}",
            summary(times),
            cpu.as_secs_f64() * 1000.0 / rounds as f64
        );
    }
    println!("  (resumed: {resumed} of {rounds})");
}

/// One range request on `connection`, its whole answer read.
fn range(connection: &mut Transport) {
    let body = format!(r#"{{"key":"{}"}}"#, etcd_store::base64_encode(b"bench"));
    write!(
        connection,
        "POST /v3/kv/range HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    connection.flush().unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let read = connection.read(&mut buffer).unwrap();
        assert!(
            read > 0,
            "the member closed the connection before answering"
        );
        answer.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&answer);
        let Some((head, rest)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        assert!(head.starts_with("HTTP/1.1 200"), "etcd answered {head:?}");
        let length = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .expect("etcd's gateway answers with a Content-Length");
        if rest.len() >= length {
            return;
        }
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
