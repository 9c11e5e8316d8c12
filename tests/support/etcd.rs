//! A real etcd cluster for the tests: 1 or 3 members on free loopback ports, each with a
//! temporary data directory, killed when the [`Cluster`] is dropped. Tests call
//! [`Cluster::start`] and skip, saying so, when `etcd` is not installed
//! (`apt-get install etcd-server etcd-client`).

#![allow(
    dead_code,
    reason = "each test file uses its own part of the shared helpers"
)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use session_lock::etcd_store::{base64_decode, base64_encode};

/// How long a new cluster may take to elect a leader and answer.
const STARTUP: Duration = Duration::from_secs(30);

/// One member.
pub struct Member {
    pub name: String,
    /// `http://127.0.0.1:<port>`.
    pub client_url: String,
    pub peer_url: String,
    child: Option<Child>,
}

/// A running cluster.
pub struct Cluster {
    pub members: Vec<Member>,
    dir: tempfile::TempDir,
}

/// Whether an `etcd` binary is on the PATH.
pub fn installed() -> bool {
    Command::new("etcd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Free loopback ports, all held until every one is chosen so that none repeats.
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

impl Cluster {
    /// A healthy cluster of `size` members, or `None` (after printing "skipping: ...") when
    /// etcd is not installed.
    pub fn start(size: usize, test: &str) -> Option<Cluster> {
        if !installed() {
            println!("skipping {test}: etcd is not installed (apt-get install etcd-server)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let ports = free_ports(size * 2);
        let members: Vec<Member> = (0..size)
            .map(|i| Member {
                name: format!("m{}", i + 1),
                client_url: format!("http://127.0.0.1:{}", ports[2 * i]),
                peer_url: format!("http://127.0.0.1:{}", ports[2 * i + 1]),
                child: None,
            })
            .collect();
        let initial = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster { members, dir };
        for i in 0..size {
            let member = &cluster.members[i];
            let data = cluster.dir.path().join(&member.name);
            let log =
                File::create(cluster.dir.path().join(format!("{}.log", member.name))).unwrap();
            let mut child = Command::new("etcd");
            child
                .args(["--name", &member.name])
                .arg("--data-dir")
                .arg(&data)
                .args(["--listen-client-urls", &member.client_url])
                .args(["--advertise-client-urls", &member.client_url])
                .args(["--listen-peer-urls", &member.peer_url])
                .args(["--initial-advertise-peer-urls", &member.peer_url])
                .args(["--initial-cluster", &initial])
                .args(["--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", &format!("t{}", ports[0])])
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            // SAFETY: prctl is async-signal-safe. The member dies with the thread that started
            // it, even when that process aborts without dropping the cluster (a panic in a
            // release build, a killed test run); clusters are started and dropped on one
            // thread.
            unsafe {
                child.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let child = child.spawn().expect("etcd starts");
            cluster.members[i].child = Some(child);
        }
        cluster.wait_healthy();
        Some(cluster)
    }

    fn wait_healthy(&self) {
        let started = Instant::now();
        for member in &self.members {
            loop {
                let healthy = http(&member.client_url, "GET", "/health", "")
                    .is_ok_and(|(status, body)| status == 200 && body.contains("\"true\""));
                if healthy {
                    break;
                }
                assert!(
                    started.elapsed() < STARTUP,
                    "etcd member {} not healthy within {STARTUP:?}; logs in {}",
                    member.name,
                    self.dir.path().display()
                );
                thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The client URLs, in member order.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// The client URLs joined by commas, rotated to start at member `first` (each session can
    /// try the members in its own order).
    pub fn endpoints_from(&self, first: usize) -> String {
        let mut urls = self.endpoints();
        let count = urls.len();
        urls.rotate_left(first % count);
        urls.join(",")
    }

    /// The member that leads now (asked of the live members), if one does.
    pub fn leader(&self) -> Option<usize> {
        for member in self.members.iter().filter(|m| m.child.is_some()) {
            let Ok((200, body)) = http(&member.client_url, "POST", "/v3/maintenance/status", "{}")
            else {
                continue;
            };
            let status: Value = serde_json::from_str(&body).ok()?;
            let leader = status["leader"].as_str()?;
            // Find the leader's name by asking each live member for its own id.
            for (index, candidate) in self.members.iter().enumerate() {
                if candidate.child.is_none() {
                    continue;
                }
                let Ok((200, body)) = http(
                    &candidate.client_url,
                    "POST",
                    "/v3/maintenance/status",
                    "{}",
                ) else {
                    continue;
                };
                let own: Value = serde_json::from_str(&body).ok()?;
                if own["header"]["member_id"].as_str() == Some(leader) {
                    return Some(index);
                }
            }
        }
        None
    }

    /// SIGKILLs member `index` (and reaps it).
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.members[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Writes `value` at etcd key `key` directly (no cap, no compare).
    pub fn put(&self, key: &str, value: &[u8]) {
        let body = json!({"key": base64_encode(key.as_bytes()), "value": base64_encode(value)});
        let (status, answer) = self.post("/v3/kv/put", &body.to_string());
        assert_eq!(status, 200, "put {key}: {answer}");
    }

    /// The value at etcd key `key`, read directly (`None`: no such key).
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let body = json!({"key": base64_encode(key.as_bytes())});
        let (status, answer) = self.post("/v3/kv/range", &body.to_string());
        assert_eq!(status, 200, "get {key}: {answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        let kv = answer["kvs"].as_array()?.first()?;
        Some(base64_decode(kv["value"].as_str().unwrap_or("")).unwrap())
    }

    /// POSTs to the first live member.
    fn post(&self, path: &str, body: &str) -> (u16, String) {
        let member = self
            .members
            .iter()
            .find(|m| m.child.is_some())
            .expect("a live member");
        http(&member.client_url, "POST", path, body).expect("etcd answers")
    }

    /// Where the members' data and logs are.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for index in 0..self.members.len() {
            self.kill(index);
        }
    }
}

/// One HTTP/1.0-style exchange (the connection closes after the answer), chunked bodies
/// decoded. For the harness only; the store has its own client.
pub fn http(url: &str, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let authority = url.strip_prefix("http://").unwrap();
    let address = authority.parse().unwrap();
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP head"))?;
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP status"))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        let mut body = String::new();
        let mut rest = rest;
        loop {
            let (size, after) = rest.split_once("\r\n").unwrap_or(("0", ""));
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            body.push_str(&after[..size]);
            rest = &after[size + 2..];
        }
        body
    } else {
        rest.to_owned()
    };
    Ok((status, body))
}
