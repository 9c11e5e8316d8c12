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

#[path = "../../tests/support/etcd.rs"]
mod etcd;

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use etcd::Cluster;
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
    for (name, env) in &stores {
        let mut holder = Vec::new();
        let mut blocked = Vec::new();
        // One untimed round first, so that every store starts with the lock held.
        for round in 0..=rounds {
            let took = hook(env, &event("holder", &repo));
            let took2 = hook(env, &event("other", &repo));
            if round > 0 {
                holder.push(took);
                blocked.push(took2);
            }
        }
        println!("  {name:<26} holder's Write {}", summary(&mut holder));
        println!("  {:<26} blocked Write  {}", "", summary(&mut blocked));
        hook(env, &stop("holder", &repo));
    }

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

/// Runs this program's hook on `event` with `env` (and none of the caller's settings); how
/// long the whole process took.
fn hook(env: &[(&str, String)], event: &str) -> Duration {
    let mut command = Command::new(std::env::current_exe().unwrap());
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
    assert!(
        output.stderr.is_empty(),
        "the hook failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
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
