//! The etcd lock store against real etcd clusters the tests start on loopback
//! (`tests/support/etcd.rs`): the store-conformance data cases, the real `session-lock hook`
//! binary with `SESSION_LOCK_STORE=etcd` (two sessions, a 32-process race on a 3-member
//! cluster, a soak through a member's SIGKILL, every member down), and one checkout seen at two
//! paths. Every test prints "skipping: ..." and passes when `etcd` is not installed.
//!
//! The soak runs `SESSION_LOCK_ETCD_SOAK_SECS` seconds (default 20).

#[path = "support/etcd.rs"]
mod etcd;
#[path = "support/store_cases.rs"]
mod store_cases;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use etcd::{Cluster, TEAM_A, TEAM_B, TeamUser};
use serde_json::Value;
use session_lock::component::lock_store::SwapOutcome;
use session_lock::etcd_store::EtcdStore;
use store_cases::{CaseStore, KEY, assert_bytes, bytes_of, check_outcome, perform, step_context};

const BINARY: &str = env!("CARGO_BIN_EXE_session-lock");

/// One cluster test at a time: the hook's 1 s deadline must measure the store, not several
/// clusters and their hooks sharing the machine's cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------------------------
// 1. The store-conformance data cases.

/// A store-conformance case's store: an [`EtcdStore`] under a prefix of its own.
struct CaseEtcd {
    store: EtcdStore,
}

impl CaseStore for CaseEtcd {
    fn read(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.store.read(key)
    }

    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        replacement: Option<&[u8]>,
    ) -> Result<SwapOutcome, String> {
        self.store.compare_and_swap(key, expected, replacement)
    }
}

/// Whether a case's setup is data etcd can hold: nothing, or a record with content (put
/// directly, bypassing the store). Symlinks, FIFOs, directories and modes are about files.
fn setup_is_data(case: &Value) -> bool {
    case["setup"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|item| item["at"] == "record" && item["make"] == "file" && item.get("mode").is_none())
}

#[test]
fn the_store_conformance_data_cases_pass_against_etcd() {
    let _turn = turn();
    let Some(cluster) = Cluster::start(1, "the store-conformance cases against etcd") else {
        return;
    };
    let endpoint = cluster.endpoints()[0].clone();
    let mut number = 0;
    let ran = store_cases::run_every_case(|case, title| {
        if !setup_is_data(case) {
            return false;
        }
        number += 1;
        let prefix = format!("conformance-{number}");
        let record_key = format!("{prefix}/{KEY}");
        for item in case["setup"].as_array().into_iter().flatten() {
            cluster.put(&record_key, &bytes_of(&item["content"]).unwrap_or_default());
        }
        let mut store = CaseEtcd {
            store: EtcdStore::new(&[&endpoint], &prefix).unwrap(),
        };
        for (index, step) in case["steps"].as_array().expect("steps").iter().enumerate() {
            let context = step_context(title, index, step);
            let got = perform(&mut store, step);
            let expect = &step["expect"];
            check_outcome(&got, expect, &context);
            // What the suite says of the record file, etcd says of the record's key; the other
            // places (directory, mutex, temporary file) do not exist here.
            if let Some(want) = expect["paths"].get("record") {
                let actual = cluster.get(&record_key);
                match want["is"].as_str() {
                    Some("missing") => {
                        assert_bytes(actual.as_deref(), None, &format!("{context}: record"))
                    }
                    Some("file") => {
                        let content = want.get("content").map(bytes_of).unwrap_or(actual.clone());
                        assert!(actual.is_some(), "{context}: the record exists");
                        assert_bytes(
                            actual.as_deref(),
                            content.as_deref(),
                            &format!("{context}: record"),
                        );
                    }
                    other => panic!("{context}: record is {other:?}"),
                }
            }
        }
        true
    });
    assert!(ran >= 15, "only {ran} cases ran against etcd");
}

#[test]
fn keys_lists_the_records_under_the_prefix_only() {
    let _turn = turn();
    let Some(cluster) = Cluster::start(1, "keys") else {
        return;
    };
    let endpoint = cluster.endpoints()[0].clone();
    let mut store = EtcdStore::new(&[&endpoint], "team-a").unwrap();
    assert_eq!(store.keys().unwrap(), Vec::<String>::new());
    for key in ["0123456789ab", "ba9876543210"] {
        let swapped = store.compare_and_swap(key, None, Some(b"{}")).unwrap();
        assert_eq!(swapped, SwapOutcome::Swapped);
    }
    // Beside the prefix: another team, a longer prefix, a key that is not a lock's.
    cluster.put("team-a/not-a-lock", b"x");
    cluster.put("team-ab/0123456789ab", b"x");
    cluster.put("team-b/0123456789ab", b"x");
    let mut keys = store.keys().unwrap();
    keys.sort();
    assert_eq!(keys, ["0123456789ab", "ba9876543210"]);
    // The value is exactly the bytes written: etcdctl shows what status shows.
    assert_eq!(cluster.get("team-a/0123456789ab").unwrap(), b"{}");
}

/// What a [`Proxy`] does with a transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lose {
    /// Forwards it to etcd, then closes the connection without the answer.
    TheAnswer,
    /// Closes the connection without forwarding it.
    TheRequest,
    /// Forwards it and its answer, as every other request.
    Nothing,
}

/// An endpoint in front of a real member that forwards every request, each answer `delay`
/// late, and loses every transaction's answer (or the transaction itself) as `lose` says,
/// counting the transactions it saw.
struct Proxy {
    url: String,
    transactions: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Proxy {
    fn start(member: String, lose: Lose, delay: Duration) -> Proxy {
        use std::io::{BufRead, BufReader, Read};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let transactions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = std::sync::Arc::clone(&transactions);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                // Every request on the connection, until it closes.
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let path = line.split(' ').nth(1).unwrap_or("").to_owned();
                    let mut length = 0;
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).unwrap();
                        if header.trim().is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let body = String::from_utf8(body).unwrap();
                    thread::sleep(delay);
                    if path == "/v3/kv/txn" && lose != Lose::Nothing {
                        seen.fetch_add(1, Ordering::SeqCst);
                        if lose == Lose::TheAnswer {
                            etcd::http(&member, "POST", &path, &body).unwrap();
                        }
                        break;
                    }
                    let (status, answer) = etcd::http(&member, "POST", &path, &body).unwrap();
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                }
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        });
        Proxy { url, transactions }
    }
}

#[test]
fn a_swap_whose_answer_is_lost_is_read_back_and_never_sent_twice() {
    let _turn = turn();
    let Some(cluster) = Cluster::start(1, "lost answers") else {
        return;
    };
    let member = cluster.endpoints()[0].clone();
    for (lose, key) in [
        (Lose::TheAnswer, "0123456789ab"),
        (Lose::TheRequest, "ba9876543210"),
    ] {
        let proxy = Proxy::start(member.clone(), lose, Duration::ZERO);
        let mut store = EtcdStore::new(&[&proxy.url, &member], "lossy").unwrap();
        cluster.put(&format!("lossy/{key}"), b"old");
        // A read first, as the hook does: the swap then goes on the kept connection.
        assert_eq!(store.read(key).unwrap().as_deref(), Some(&b"old"[..]));
        let outcome = store
            .compare_and_swap(key, Some(b"old"), Some(b"new"))
            .unwrap();
        assert_eq!(proxy.transactions.load(Ordering::SeqCst), 1, "sent once");
        let now = cluster.get(&format!("lossy/{key}")).unwrap();
        match lose {
            // Applied, answer lost: the re-read finds the replacement in place.
            Lose::TheAnswer => {
                assert_eq!(outcome, SwapOutcome::Swapped);
                assert_eq!(now, b"new");
            }
            // Never applied: a conflict carrying what is there, for the component to decide
            // again; nothing changed.
            Lose::TheRequest => {
                assert_eq!(outcome, SwapOutcome::Conflict(Some(b"old".to_vec())));
                assert_eq!(now, b"old");
            }
            Lose::Nothing => unreachable!("only losing proxies here"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The real hook binary.

/// A git work tree in a temporary folder (`git init` when git is installed, else a bare
/// `.git` folder: all the host looks at).
fn work_tree(parent: &Path, name: &str) -> PathBuf {
    let dir = parent.join(name);
    fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    let inited = Command::new("git")
        .args(["init", "-q"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !inited {
        fs::create_dir_all(dir.join(".git")).unwrap();
    }
    dir
}

fn write_event(session: &str, workspace: &Path) -> String {
    serde_json::json!({
        "session_id": session,
        "hook_event_name": "PreToolUse",
        "tool_name": "Write",
        "tool_input": {"file_path": workspace.join("notes.txt"), "content": "x"},
        "cwd": workspace,
    })
    .to_string()
}

fn stop_event(session: &str, workspace: &Path) -> String {
    serde_json::json!({
        "session_id": session,
        "hook_event_name": "Stop",
        "cwd": workspace,
    })
    .to_string()
}

/// How a test's processes reach the cluster: the endpoints, and the TLS and login settings of
/// a secured one.
#[derive(Clone)]
struct Access {
    endpoints: String,
    settings: Vec<(&'static str, String)>,
}

impl Access {
    /// Plain HTTP, no login.
    fn plain(endpoints: &str) -> Access {
        Access {
            endpoints: endpoints.to_owned(),
            settings: Vec::new(),
        }
    }

    /// `team`'s user over TLS with the client certificate, the password in a file in `state`,
    /// which is also the lock directory (where the token is kept).
    fn team(cluster: &Cluster, team: &TeamUser, endpoints: String, state: &Path) -> Access {
        let secured = cluster.secured.as_ref().expect("a secured cluster");
        let password_file = state.join(format!("{}.password", team.name));
        fs::write(&password_file, format!("{}\n", team.password)).unwrap();
        let path = |p: &Path| p.to_string_lossy().into_owned();
        Access {
            endpoints,
            settings: vec![
                ("SESSION_LOCK_DIR", path(state)),
                ("SESSION_LOCK_ETCD_PREFIX", team.prefix.to_owned()),
                ("SESSION_LOCK_ETCD_CA", path(&secured.ca)),
                ("SESSION_LOCK_ETCD_CERT", path(&secured.client_cert)),
                ("SESSION_LOCK_ETCD_KEY", path(&secured.client_key)),
                ("SESSION_LOCK_ETCD_USER", team.name.to_owned()),
                ("SESSION_LOCK_ETCD_PASSWORD_FILE", path(&password_file)),
            ],
        }
    }

    /// The same with setting `name` set to `value` (`None`: unset).
    fn with(&self, name: &'static str, value: Option<&str>) -> Access {
        let mut access = self.clone();
        access.settings.retain(|(n, _)| *n != name);
        if let Some(value) = value {
            access.settings.push((name, value.to_owned()));
        }
        access
    }
}

/// The binary with only the settings a test gives: none of the caller's (the tests may run
/// inside an agent session).
fn binary(endpoints: &str, args: &[&str]) -> Command {
    binary_as(&Access::plain(endpoints), args)
}

fn binary_as(access: &Access, args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command.args(args);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("SESSION_LOCK_") || name.starts_with("CLAUDE_") {
            command.env_remove(&*name);
        }
    }
    command
        .env("SESSION_LOCK_STORE", "etcd")
        .env("SESSION_LOCK_ETCD_ENDPOINTS", &access.endpoints)
        .env("SESSION_LOCK_DIR", "/nonexistent/session-lock-etcd-tests");
    for (name, value) in &access.settings {
        command.env(name, value);
    }
    command
}

/// A hook process waiting for its event on stdin.
fn spawn_hook(endpoints: &str) -> Child {
    spawn_hook_as(&Access::plain(endpoints))
}

fn spawn_hook_as(access: &Access) -> Child {
    binary_as(access, &["hook"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the hook starts")
}

fn finish(mut child: Child, event: &str) -> Output {
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(event.as_bytes());
    drop(stdin);
    child.wait_with_output().expect("the hook runs")
}

fn hook(endpoints: &str, event: &str) -> Output {
    finish(spawn_hook(endpoints), event)
}

fn hook_as(access: &Access, event: &str) -> Output {
    finish(spawn_hook_as(access), event)
}

/// What the hook answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// Allowed with the lock: exit 0, nothing said.
    Allow,
    /// Denied, naming the holder.
    Deny(String),
    /// Allowed without the lock, saying so to the person (`systemMessage`).
    FailOpen(String),
    /// Anything else.
    Odd(String),
}

fn answer(output: &Output) -> Answer {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.code() != Some(0) {
        return Answer::Odd(format!("{:?}: {stdout} {stderr}", output.status));
    }
    if stdout.contains("\"permissionDecision\":\"deny\"") {
        return Answer::Deny(stdout);
    }
    if stdout.contains("systemMessage") {
        return Answer::FailOpen(format!("{stdout} {stderr}"));
    }
    if stdout.trim().is_empty() && stderr.is_empty() {
        return Answer::Allow;
    }
    Answer::Odd(format!("stdout {stdout:?} stderr {stderr:?}"))
}

/// `session-lock status --json` for `workspace`.
fn status(endpoints: &str, workspace: &Path) -> Value {
    status_as(&Access::plain(endpoints), workspace)
}

fn status_as(access: &Access, workspace: &Path) -> Value {
    let output = binary_as(access, &["status", "--json", "--workspace"])
        .arg(workspace)
        .output()
        .unwrap();
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}: {output:?}"))
}

// ---------------------------------------------------------------------------------------------
// 2. Two sessions, end to end.

#[test]
fn a_second_session_is_refused_until_the_first_stops() {
    let _turn = turn();
    let Some(cluster) = Cluster::start(1, "two sessions end to end") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let repo = work_tree(root.path(), "repo");
    let endpoints = cluster.endpoints_from(0);

    assert_eq!(
        answer(&hook(&endpoints, &write_event("one", &repo))),
        Answer::Allow
    );
    let refused = answer(&hook(&endpoints, &write_event("two", &repo)));
    assert!(
        matches!(&refused, Answer::Deny(why) if why.contains("one")),
        "{refused:?}"
    );

    // status names the etcd key, and etcd holds the record the file store would have written.
    let state = status(&endpoints, &repo);
    assert_eq!(state["holder"]["session_id"], "one", "{state}");
    let hash = state["hash"].as_str().unwrap();
    assert_eq!(state["lock_file"], format!("session-lock/{hash}"));
    let record: Value =
        serde_json::from_slice(&cluster.get(&format!("session-lock/{hash}")).unwrap()).unwrap();
    assert_eq!(record["session_id"], "one");
    assert_eq!(record["schema_version"], 1);
    // The lock is named by the checkout's id, kept in its git directory.
    let id = fs::read_to_string(repo.join(".git/session-lock-id")).unwrap();
    assert_eq!(id.trim().len(), 32);

    assert_eq!(
        answer(&hook(&endpoints, &stop_event("one", &repo))),
        Answer::Allow
    );
    assert!(cluster.get(&format!("session-lock/{hash}")).is_none());
    assert_eq!(
        answer(&hook(&endpoints, &write_event("two", &repo))),
        Answer::Allow
    );

    // release --force frees it for a third.
    let released = binary(&endpoints, &["release", "--force", "--workspace"])
        .arg(&repo)
        .output()
        .unwrap();
    assert!(released.status.success(), "{released:?}");
    assert!(String::from_utf8_lossy(&released.stdout).contains("two"));
    assert_eq!(status(&endpoints, &repo)["state"], "free");
    assert_eq!(
        answer(&hook(&endpoints, &write_event("three", &repo))),
        Answer::Allow
    );
}

// ---------------------------------------------------------------------------------------------
// 3. A race on a 3-member cluster.

#[test]
fn thirty_two_hooks_racing_on_three_members_have_exactly_one_winner() {
    let _turn = turn();
    let Some(cluster) = Cluster::start(3, "the 3-member race") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    for round in 0..3 {
        // A fresh checkout each round: the racers also race to make its id.
        let repo = work_tree(root.path(), &format!("round-{round}"));
        // Each racer tries the members in its own order (all six orders of three).
        let orders: Vec<String> = (0..32)
            .map(|n| {
                let mut urls = cluster.endpoints();
                urls.rotate_left(n % 3);
                if n % 6 >= 3 {
                    urls.reverse();
                }
                urls.join(",")
            })
            .collect();
        // Every process exists and waits on stdin before any gets its event.
        let mut children: Vec<Child> = orders.iter().map(|order| spawn_hook(order)).collect();
        for (n, child) in children.iter_mut().enumerate() {
            let event = write_event(&format!("round-{round}-racer-{n}"), &repo);
            let mut stdin = child.stdin.take().unwrap();
            let _ = stdin.write_all(event.as_bytes());
        }
        let outputs: Vec<Output> = children
            .into_iter()
            .map(|child| child.wait_with_output().unwrap())
            .collect();
        let answers: Vec<Answer> = outputs.iter().map(answer).collect();
        let allowed = answers.iter().filter(|a| **a == Answer::Allow).count();
        let denied = answers
            .iter()
            .filter(|a| matches!(a, Answer::Deny(_)))
            .count();
        let others: Vec<&Answer> = answers
            .iter()
            .filter(|a| !matches!(a, Answer::Allow | Answer::Deny(_)))
            .collect();
        assert!(
            others.is_empty(),
            "round {round}: none fails open: {others:#?}"
        );
        assert_eq!((allowed, denied), (1, 31), "round {round}: {answers:#?}");
        let winner = answers.iter().position(|a| *a == Answer::Allow).unwrap();
        let state = status(&cluster.endpoints_from(round), &repo);
        assert_eq!(
            state["holder"]["session_id"],
            format!("round-{round}-racer-{winner}"),
            "{state}"
        );
        println!("round {round}: racer {winner} won, 31 denied");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. A soak through a member's death.

#[test]
fn sessions_loop_through_a_member_being_killed_and_never_overlap() {
    let _turn = turn();
    let Some(cluster) = Cluster::start(3, "the soak") else {
        return;
    };
    let seconds: u64 = std::env::var("SESSION_LOCK_ETCD_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let duration = Duration::from_secs(seconds);
    let root = tempfile::tempdir().unwrap();
    let repo = work_tree(root.path(), "repo");
    let log_path = root.path().join("sections.log");
    let log = |line: String| {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        file.write_all(line.as_bytes()).unwrap();
    };
    let cluster = Mutex::new(cluster);
    let endpoints: Vec<String> = (0..16)
        .map(|n| cluster.lock().unwrap().endpoints_from(n))
        .collect();
    let done = AtomicBool::new(false);
    let started = Instant::now();
    let (mut sections, mut denials, mut fail_opens) = (0, 0, Vec::new());
    let mut killed = None;
    thread::scope(|scope| {
        let sessions: Vec<_> = (0..16)
            .map(|n| {
                let (endpoints, repo, done, log) = (&endpoints[n], &repo, &done, &log);
                scope.spawn(move || {
                    let session = format!("soak-{n}");
                    let mut rng = fastrand::Rng::with_seed(n as u64);
                    let (mut sections, mut denials, mut fail_opens) = (0, 0, Vec::new());
                    while !done.load(Ordering::SeqCst) {
                        match answer(&hook(endpoints, &write_event(&session, repo))) {
                            Answer::Allow => {
                                log(format!("enter {n}\n"));
                                thread::sleep(Duration::from_millis(rng.u64(2..15)));
                                log(format!("leave {n}\n"));
                                sections += 1;
                                match answer(&hook(endpoints, &stop_event(&session, repo))) {
                                    Answer::Allow => {}
                                    other => fail_opens.push(format!("Stop: {other:?}")),
                                }
                            }
                            Answer::Deny(_) => {
                                denials += 1;
                                thread::sleep(Duration::from_millis(rng.u64(5..30)));
                            }
                            // Allowed without the lock: the session does not count it as held.
                            other => {
                                fail_opens.push(format!("{other:?}"));
                                thread::sleep(Duration::from_millis(50));
                            }
                        }
                    }
                    (sections, denials, fail_opens)
                })
            })
            .collect();
        thread::sleep(duration / 3);
        {
            let mut cluster = cluster.lock().unwrap();
            let victim = cluster.leader().unwrap_or(0);
            log(format!("kill {victim}\n"));
            cluster.kill(victim);
            killed = Some((victim, started.elapsed()));
        }
        thread::sleep(duration.saturating_sub(started.elapsed()));
        done.store(true, Ordering::SeqCst);
        for session in sessions {
            let (s, d, f) = session.join().unwrap();
            sections += s;
            denials += d;
            fail_opens.extend(f);
        }
    });

    // No two critical sections overlap: every enter is followed by its own leave.
    let text = fs::read_to_string(&log_path).unwrap();
    let mut inside: Option<&str> = None;
    let (mut before, mut after, mut after_kill) = (0, 0, false);
    let mut holders_after = std::collections::BTreeSet::new();
    for line in text.lines() {
        let (what, who) = line.split_once(' ').unwrap();
        match what {
            "enter" => {
                assert_eq!(inside, None, "{who} entered while {inside:?} was inside");
                inside = Some(who);
            }
            "leave" => {
                assert_eq!(inside, Some(who), "{who} left a section it was not in");
                inside = None;
                if after_kill {
                    after += 1;
                    holders_after.insert(who.to_owned());
                } else {
                    before += 1;
                }
            }
            "kill" => after_kill = true,
            other => panic!("unknown line {other}"),
        }
    }
    let (victim, at) = killed.unwrap();
    println!(
        "soak {seconds}s, 16 sessions: {sections} critical sections ({before} before member \
         m{} was killed at {at:.1?}, {after} after, by {} sessions), {denials} denials, {} \
         answers without the lock",
        victim + 1,
        holders_after.len(),
        fail_opens.len()
    );
    for fail_open in fail_opens.iter().take(5) {
        println!("  without the lock: {fail_open}");
    }
    assert!(before > 0, "sessions got the lock before the kill");
    assert!(
        after >= 2 && holders_after.len() >= 2,
        "sessions still get the lock after the kill: {after} sections by {holders_after:?}"
    );
}

/// A release and an acquire that meet a leader's death: the members are tried again while
/// the new leader is elected (one pass over them is not enough: the follower answers "leader
/// changed" or nothing until then), within the call's budget (elections here are made short enough
/// to fit: 10 ms heartbeats, a 100 ms election timeout). Three of each, a fresh cluster each.
#[test]
fn a_release_and_an_acquire_that_meet_a_leader_election_land_on_the_new_leader() {
    let _turn = turn();
    let flags = ["--heartbeat-interval", "10", "--election-timeout", "100"];
    let root = tempfile::tempdir().unwrap();
    for round in 0..6 {
        let Some(mut cluster) = Cluster::start_with(3, "calls through an election", &flags) else {
            return;
        };
        let repo = work_tree(root.path(), &format!("round-{round}"));
        // Short elections may follow each other at first: wait for a settled leader.
        let waited = Instant::now();
        let leader = loop {
            match cluster.leader() {
                Some(leader) => break leader,
                None if waited.elapsed() < Duration::from_secs(10) => {
                    thread::sleep(Duration::from_millis(50))
                }
                None => panic!("no leader within 10 s"),
            }
        };
        // The leader, then one follower: the first request meets the dead member, the second
        // the election on the only other member the hook knows.
        let urls = cluster.endpoints();
        let endpoints = format!("{},{}", urls[leader], urls[(leader + 1) % 3]);
        assert_eq!(
            answer(&hook(&endpoints, &write_event("one", &repo))),
            Answer::Allow
        );
        let hash = status(&endpoints, &repo)["hash"]
            .as_str()
            .unwrap()
            .to_owned();
        cluster.kill(leader);
        let release = round % 2 == 0;
        let event = if release {
            stop_event("one", &repo)
        } else {
            write_event("two", &repo)
        };
        let started = Instant::now();
        let said = answer(&hook(&endpoints, &event));
        let took = started.elapsed();
        if release {
            assert_eq!(said, Answer::Allow, "the release, in {took:?}");
            assert!(
                cluster.get(&format!("session-lock/{hash}")).is_none(),
                "the release took effect"
            );
        } else {
            assert!(
                matches!(&said, Answer::Deny(why) if why.contains("one")),
                "the acquire, in {took:?}: {said:?}"
            );
        }
        let what = if release { "release" } else { "acquire" };
        println!("{what} through an election: answered in {took:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. No cluster to be had.

fn assert_fails_open_in_time(endpoints: &str, what: &str) {
    assert_fails_open_in_time_as(&Access::plain(endpoints), what);
}

/// The hook, as `access` sets it up, allows without the lock and says so (Claude Code's
/// `systemMessage`, one `session-lock` line on stderr) within 1.5 s; returns what stderr said.
fn assert_fails_open_in_time_as(access: &Access, what: &str) -> String {
    let root = tempfile::tempdir().unwrap();
    let repo = work_tree(root.path(), "repo");
    let started = Instant::now();
    let output = hook_as(access, &write_event("alone", &repo));
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "{what}: answered in {took:?}"
    );
    let answered = answer(&output);
    assert!(
        matches!(&answered, Answer::FailOpen(_)),
        "{what}: fails open visibly: {answered:?}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stderr.lines().count() >= 1 && stderr.lines().all(|l| l.starts_with("session-lock")),
        "{what}: {stderr}"
    );
    println!("{what}: failed open in {took:?}: {}", stderr.trim());
    stderr
}

#[test]
fn with_every_member_down_the_hook_fails_open_visibly_within_its_deadline() {
    let _turn = turn();
    let Some(mut cluster) = Cluster::start(3, "every member down") else {
        return;
    };
    let endpoints = cluster.endpoints_from(0);
    for member in 0..3 {
        cluster.kill(member);
    }
    assert_fails_open_in_time(&endpoints, "every member killed");
}

#[test]
fn members_that_never_answer_time_out_within_the_deadline() {
    let _turn = turn();
    if !etcd::installed() {
        println!("skipping members that never answer: etcd is not installed");
        return;
    }
    // Listening sockets nobody accepts from: connects succeed, answers never come (a hung or
    // partitioned member).
    let silent: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let endpoints = silent
        .iter()
        .map(|l| format!("http://{}", l.local_addr().unwrap()))
        .collect::<Vec<_>>()
        .join(",");
    assert_fails_open_in_time(&endpoints, "three silent members");
}

#[test]
fn on_a_slow_cluster_a_call_touching_three_workspaces_is_decided_before_the_deadline() {
    let _turn = turn();
    let Some(cluster) = Cluster::start(1, "a slow cluster") else {
        return;
    };
    // 200 ms an answer: one workspace (a read and a swap) fits in the hook's 1 s deadline, three
    // do not.
    let slow = Proxy::start(
        cluster.endpoints()[0].clone(),
        Lose::Nothing,
        Duration::from_millis(200),
    );
    let root = tempfile::tempdir().unwrap();
    let [own, second, third] = ["own", "second", "third"].map(|name| work_tree(root.path(), name));
    let event = serde_json::json!({
        "session_id": "slow",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": format!(
            "touch {} {}",
            second.join("a").display(),
            third.join("b").display()
        )},
        "cwd": own,
    })
    .to_string();
    let output = hook(&slow.url, &event);
    let answered = answer(&output);
    assert!(
        matches!(&answered, Answer::FailOpen(_)),
        "fails open visibly: {answered:?}"
    );
    // The store's last call took only what the deadline left, so the component decided on
    // its failure and named the store; the deadline itself (which answers without the
    // component) never fired.
    let said = printed(&output);
    assert!(!said.contains("no answer within"), "{said}");
    assert!(said.contains("etcd"), "{said}");
    println!("three workspaces on a slow cluster: {}", said.trim());
}

#[test]
fn a_cluster_without_quorum_fails_open_within_the_deadline() {
    let _turn = turn();
    let Some(mut cluster) = Cluster::start(3, "no quorum") else {
        return;
    };
    let endpoints = cluster.endpoints_from(0);
    // One of three left: it answers HTTP but cannot reach a quorum.
    cluster.kill(1);
    cluster.kill(2);
    assert_fails_open_in_time(&endpoints, "one member of three");
}

// ---------------------------------------------------------------------------------------------
// 6. One checkout at two paths; two clones.

/// A bind mount, unmounted on drop.
struct BindMount(PathBuf);

impl BindMount {
    fn new(from: &Path, at: &Path) -> Result<BindMount, String> {
        fs::create_dir_all(at).unwrap();
        let output = Command::new("mount")
            .arg("--bind")
            .arg(from)
            .arg(at)
            .output()
            .map_err(|e| e.to_string())?;
        if output.status.success() {
            Ok(BindMount(at.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        }
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn one_checkout_at_two_paths_shares_a_lock_and_a_separate_clone_does_not() {
    let _turn = turn();
    let Some(cluster) = Cluster::start(1, "one checkout at two paths") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().canonicalize().unwrap();
    let repo = work_tree(&root_path, "repo");
    let mounted = root_path.join("container/workspace");
    let _mount = match BindMount::new(&repo, &mounted) {
        Ok(mount) => mount,
        Err(why) => {
            println!("skipping one checkout at two paths: mount --bind failed: {why}");
            return;
        }
    };
    let clone = work_tree(&root_path, "clone");
    let endpoints = cluster.endpoints_from(0);

    assert_eq!(
        answer(&hook(&endpoints, &write_event("host", &repo))),
        Answer::Allow
    );
    let through_mount = answer(&hook(&endpoints, &write_event("container", &mounted)));
    assert!(
        matches!(&through_mount, Answer::Deny(why) if why.contains("host")),
        "the same checkout at another path is the same workspace: {through_mount:?}"
    );
    assert_eq!(
        status(&endpoints, &repo)["hash"],
        status(&endpoints, &mounted)["hash"]
    );
    assert_eq!(
        answer(&hook(&endpoints, &write_event("container", &clone))),
        Answer::Allow,
        "a separate clone is another workspace"
    );
    assert_ne!(
        status(&endpoints, &repo)["hash"],
        status(&endpoints, &clone)["hash"]
    );

    // With identity by path, the two paths are two workspaces (the file store's default).
    let by_path = binary(&endpoints, &["hook"])
        .env("SESSION_LOCK_IDENTITY", "path")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(
        answer(&finish(by_path, &write_event("by-path", &mounted))),
        Answer::Allow
    );
}

// ---------------------------------------------------------------------------------------------
// 7. A secured cluster: TLS with client certificates, etcd authentication, a role per team.

/// Every text a command printed, for the check that no secret is in it.
fn printed(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The token the team's hooks keep in `state` (there is exactly one token file).
fn kept_token(state: &Path) -> (PathBuf, String) {
    let files: Vec<PathBuf> = fs::read_dir(state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("etcd-token-")
        })
        .collect();
    assert_eq!(files.len(), 1, "one token file: {files:?}");
    let token = fs::read_to_string(&files[0]).unwrap();
    (files[0].clone(), token)
}

/// A secured cluster of `size` members, a temporary folder, and in it `state/`: the lock
/// directory of the team's processes (where the token is kept).
fn secured(size: usize, test: &str) -> Option<(Cluster, tempfile::TempDir, PathBuf)> {
    let cluster = Cluster::start_secured(size, test)?;
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    fs::create_dir(&state).unwrap();
    Some((cluster, root, state))
}

/// Logs `access`'s user in with `session-lock status`, as a person's first command on a
/// machine does, and keeps the token for the hooks. A login is a bcrypt check on the member; on
/// a loaded machine it may miss a call's budget (the command says so), and the next command
/// tries again: up to five.
fn log_in(access: &Access, repo: &Path) {
    for _ in 0..5 {
        let output = binary_as(access, &["status", "--json", "--workspace"])
            .arg(repo)
            .output()
            .unwrap();
        if !printed(&output).contains("login") {
            return;
        }
        println!("the login missed its budget: {}", printed(&output).trim());
    }
    panic!("five logins missed their budget");
}

#[test]
fn a_team_over_tls_with_its_own_role_runs_every_command_and_no_secret_is_shown() {
    let _turn = turn();
    let Some((cluster, root, state)) = secured(3, "the secured lifecycle") else {
        return;
    };
    let repo = work_tree(root.path(), "repo");
    let team = Access::team(&cluster, &TEAM_A, cluster.endpoints_from(0), &state);
    log_in(&team, &repo);
    let mut shown = String::new();
    let mut run = |output: Output| {
        shown.push_str(&printed(&output));
        output
    };

    assert_eq!(
        answer(&run(hook_as(&team, &write_event("one", &repo)))),
        Answer::Allow
    );
    let refused = answer(&run(hook_as(&team, &write_event("two", &repo))));
    assert!(
        matches!(&refused, Answer::Deny(why) if why.contains("one")),
        "{refused:?}"
    );
    // The record is under the team's prefix, as etcd's root sees it.
    let state_json = status_as(&team, &repo);
    let hash = state_json["hash"].as_str().unwrap().to_owned();
    assert_eq!(state_json["holder"]["session_id"], "one", "{state_json}");
    let key = format!("{}/{hash}", TEAM_A.prefix);
    assert_eq!(state_json["lock_file"], key);
    let record: Value = serde_json::from_slice(&cluster.get(&key).unwrap()).unwrap();
    assert_eq!(record["session_id"], "one");
    // The human status and doctor run with the team's role too.
    let human = run(binary_as(&team, &["status", "--workspace"])
        .arg(&repo)
        .output()
        .unwrap());
    assert!(
        String::from_utf8_lossy(&human.stdout).contains(&format!("lock file  {key}")),
        "{human:?}"
    );
    let doctor = run(binary_as(&team, &["doctor"]).output().unwrap());
    assert!(
        !String::from_utf8_lossy(&doctor.stdout).contains("etcd login"),
        "{doctor:?}"
    );

    assert_eq!(
        answer(&run(hook_as(&team, &stop_event("one", &repo)))),
        Answer::Allow
    );
    assert!(cluster.get(&key).is_none());
    assert_eq!(
        answer(&run(hook_as(&team, &write_event("two", &repo)))),
        Answer::Allow
    );
    let released = run(binary_as(&team, &["release", "--force", "--workspace"])
        .arg(&repo)
        .output()
        .unwrap());
    assert!(released.status.success(), "{released:?}");
    assert_eq!(status_as(&team, &repo)["state"], "free");

    // One login for all of these: the token is kept, private, between runs.
    let (file, token) = kept_token(&state);
    let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!token.is_empty());
    for secret in [TEAM_A.password, token.trim()] {
        assert!(!shown.contains(secret), "a secret was printed: {shown}");
    }
}

#[test]
fn thirty_two_hooks_racing_over_tls_with_auth_have_exactly_one_winner() {
    let _turn = turn();
    let Some((cluster, root, state)) = secured(3, "the secured race") else {
        return;
    };
    for round in 0..2 {
        let repo = work_tree(root.path(), &format!("round-{round}"));
        if round == 0 {
            // The machine's first command logs in and keeps the token for the racers (one
            // bcrypt check instead of 32 at once, see docs/etcd.md).
            log_in(
                &Access::team(&cluster, &TEAM_A, cluster.endpoints_from(0), &state),
                &repo,
            );
        }
        let mut children: Vec<Child> = (0..32)
            .map(|n| {
                let team = Access::team(&cluster, &TEAM_A, cluster.endpoints_from(n), &state);
                spawn_hook_as(&team)
            })
            .collect();
        for (n, child) in children.iter_mut().enumerate() {
            let event = write_event(&format!("round-{round}-racer-{n}"), &repo);
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(event.as_bytes()).unwrap();
        }
        let answers: Vec<Answer> = children
            .into_iter()
            .map(|child| answer(&child.wait_with_output().unwrap()))
            .collect();
        let allowed = answers.iter().filter(|a| **a == Answer::Allow).count();
        let denied = answers
            .iter()
            .filter(|a| matches!(a, Answer::Deny(_)))
            .count();
        assert_eq!((allowed, denied), (1, 31), "round {round}: {answers:?}");
    }
}

#[test]
fn a_secured_cluster_refuses_what_it_should_and_each_refusal_fails_open_visibly() {
    let _turn = turn();
    let Some((cluster, root, state)) = secured(1, "the secured refusals") else {
        return;
    };
    let secured = cluster.secured.as_ref().unwrap();
    let team = Access::team(&cluster, &TEAM_A, cluster.endpoints_from(0), &state);
    let wrong_ca = secured.wrong_ca.to_string_lossy().into_owned();

    let said = assert_fails_open_in_time_as(
        &team.with("SESSION_LOCK_ETCD_CA", Some(&wrong_ca)),
        "a CA that did not sign the member's certificate",
    );
    assert!(said.contains("certificate"), "{said}");

    let said = assert_fails_open_in_time_as(
        &team
            .with("SESSION_LOCK_ETCD_CERT", None)
            .with("SESSION_LOCK_ETCD_KEY", None),
        "no client certificate",
    );
    assert!(said.contains("SESSION_LOCK_ETCD_CERT"), "{said}");

    let http = cluster.endpoints()[0].replace("https://", "http://");
    let said = assert_fails_open_in_time_as(
        &Access {
            endpoints: http,
            ..team.clone()
        }
        .with("SESSION_LOCK_ETCD_CA", None)
        .with("SESSION_LOCK_ETCD_CERT", None)
        .with("SESSION_LOCK_ETCD_KEY", None),
        "plain http:// to a TLS member",
    );
    assert!(said.contains("https://"), "{said}");

    let wrong = root.path().join("wrong.password");
    fs::write(&wrong, "not-the-password\n").unwrap();
    let said = assert_fails_open_in_time_as(
        &team.with(
            "SESSION_LOCK_ETCD_PASSWORD_FILE",
            Some(&wrong.to_string_lossy()),
        ),
        "a wrong password",
    );
    assert!(
        said.contains("login as \"alice\" failed") && !said.contains("not-the-password"),
        "{said}"
    );

    // Team B's user on team A's prefix: its role does not cover it.
    let outsider = Access::team(&cluster, &TEAM_B, cluster.endpoints_from(0), &state)
        .with("SESSION_LOCK_ETCD_PREFIX", Some(TEAM_A.prefix));
    let said = assert_fails_open_in_time_as(&outsider, "a role without the prefix");
    assert!(
        said.contains("permission denied")
            && said.contains("bob")
            && said.contains(&format!("{}/", TEAM_A.prefix)),
        "{said}"
    );
    let listed = binary_as(&outsider, &["status", "--json", "--workspace"])
        .arg(root.path())
        .output()
        .unwrap();
    assert!(
        !listed.status.success() || printed(&listed).contains("permission denied"),
        "status with a role without the prefix says so: {listed:?}"
    );
}

#[test]
fn a_token_etcd_no_longer_takes_is_replaced_by_one_new_login() {
    let _turn = turn();
    let Some((cluster, root, state)) = secured(1, "a stale token") else {
        return;
    };
    let repo = work_tree(root.path(), "repo");
    let team = Access::team(&cluster, &TEAM_A, cluster.endpoints_from(0), &state);
    log_in(&team, &repo);
    assert_eq!(
        answer(&hook_as(&team, &write_event("one", &repo))),
        Answer::Allow
    );
    let (file, first) = kept_token(&state);
    // A token etcd does not know (what an expired one, or one from before a member restarted,
    // is to it): the next hook's first request is refused as unauthenticated.
    fs::write(&file, "stale.token.1").unwrap();
    let output = hook_as(&team, &write_event("one", &repo));
    assert_eq!(answer(&output), Answer::Allow, "{output:?}");
    let (_, renewed) = kept_token(&state);
    assert!(renewed != "stale.token.1" && renewed != first, "{renewed}");
    // Renewed once, not in a loop: with the stale token and a wrong password it fails open.
    fs::write(&file, "stale.token.2").unwrap();
    let wrong = root.path().join("wrong.password");
    fs::write(&wrong, "nope\n").unwrap();
    let said = assert_fails_open_in_time_as(
        &team.with(
            "SESSION_LOCK_ETCD_PASSWORD_FILE",
            Some(&wrong.to_string_lossy()),
        ),
        "a stale token and a wrong password",
    );
    assert!(said.contains("login"), "{said}");
}

#[test]
fn the_claude_code_plugins_answers_point_the_hook_at_the_secured_cluster() {
    let _turn = turn();
    let Some((cluster, root, state)) = secured(1, "the plugin's options") else {
        return;
    };
    let repo = work_tree(root.path(), "repo");
    let secured = cluster.secured.as_ref().unwrap();
    // What Claude Code passes a plugin's hooks for its userConfig answers, and nothing else:
    // no SESSION_LOCK_STORE, no SESSION_LOCK_ETCD_*.
    let run = |args: &[&str], event: Option<String>| {
        let mut command = binary(&cluster.endpoints_from(0), args);
        command
            .env_remove("SESSION_LOCK_STORE")
            .env_remove("SESSION_LOCK_ETCD_ENDPOINTS")
            .env("SESSION_LOCK_DIR", &state)
            .env(
                "CLAUDE_PLUGIN_OPTION_ETCD_ENDPOINTS",
                cluster.endpoints_from(0),
            )
            .env("CLAUDE_PLUGIN_OPTION_ETCD_PREFIX", TEAM_A.prefix)
            .env("CLAUDE_PLUGIN_OPTION_ETCD_CA", &secured.ca)
            .env("CLAUDE_PLUGIN_OPTION_ETCD_CERT", &secured.client_cert)
            .env("CLAUDE_PLUGIN_OPTION_ETCD_KEY", &secured.client_key)
            .env("CLAUDE_PLUGIN_OPTION_ETCD_USER", TEAM_A.name)
            .env("CLAUDE_PLUGIN_OPTION_ETCD_PASSWORD", TEAM_A.password)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        finish(command.spawn().unwrap(), &event.unwrap_or_default())
    };
    // The first command logs in (see `log_in`); the hook then uses the kept token.
    for _ in 0..5 {
        let shown = run(&["status", "--workspace", &repo.to_string_lossy()], None);
        if !printed(&shown).contains("login") {
            break;
        }
    }
    let hooked = run(&["hook"], Some(write_event("one", &repo)));
    assert_eq!(answer(&hooked), Answer::Allow, "{hooked:?}");
    let shown = run(
        &["status", "--json", "--workspace", &repo.to_string_lossy()],
        None,
    );
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["holder"]["session_id"], "one", "{shown}");
    let key = format!("{}/{}", TEAM_A.prefix, shown["hash"].as_str().unwrap());
    assert_eq!(shown["lock_file"], key);
    assert!(cluster.get(&key).is_some());
}
