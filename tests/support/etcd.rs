//! A real etcd cluster for the tests: 1 or 3 members on free loopback ports, each with a
//! temporary data directory, killed when the [`Cluster`] is dropped. Tests call
//! [`Cluster::start`] and skip, saying so, when `etcd` is not installed
//! (`apt-get install etcd-server etcd-client`).
//!
//! [`Cluster::start_secured`] starts one as a team would run it: TLS for clients and peers with
//! certificates made at test time by the `openssl` command, client certificates required
//! (`--client-cert-auth`), and etcd authentication on, with a root user and two team users whose
//! roles may read and write only their own prefix. The harness reaches a secured cluster
//! through `etcdctl` as root, an independent client.

#![allow(
    dead_code,
    reason = "each test file uses its own part of the shared helpers"
)]

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use session_lock::etcd_store::{base64_decode, base64_encode};

/// How long a new cluster may take to elect a leader and answer.
const STARTUP: Duration = Duration::from_secs(30);

/// The files and users of a secured cluster.
pub struct Secured {
    /// The CA that signed the members' and the client's certificates (PEM).
    pub ca: PathBuf,
    /// Another CA, which signed nothing of this cluster's.
    pub wrong_ca: PathBuf,
    /// The client's certificate and key (no CN: the gateway refuses one with auth on).
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// `root`'s password.
    pub root_password: String,
}

/// A team's etcd user: a role with read and write on `session-lock/<team>/` only.
pub struct TeamUser {
    pub name: &'static str,
    pub password: &'static str,
    /// `session-lock/<team>`: what `SESSION_LOCK_ETCD_PREFIX` is set to.
    pub prefix: &'static str,
}

/// The users [`Cluster::start_secured`] makes.
pub const TEAM_A: TeamUser = TeamUser {
    name: "alice",
    password: "alice-secret-pw",
    prefix: "session-lock/team-a",
};
pub const TEAM_B: TeamUser = TeamUser {
    name: "bob",
    password: "bob-secret-pw",
    prefix: "session-lock/team-b",
};

/// Whether the tests must not skip (CI installs etcd and openssl).
fn must_run() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

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
    /// TLS and auth, for a cluster from [`Cluster::start_secured`].
    pub secured: Option<Secured>,
}

/// Whether an `etcd` binary is on the PATH.
pub fn installed() -> bool {
    runs("etcd", "--version")
}

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `openssl` with `args` in `dir`, which must succeed.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA, a member certificate for 127.0.0.1 and localhost (server and peer), a client
/// certificate without a CN, and a second CA, in `dir`; P-256 keys, valid two days.
fn make_certificates(dir: &Path) -> Secured {
    fs::create_dir_all(dir).unwrap();
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for (name, subject) in [
        ("ca", "/O=session-lock test CA"),
        ("wrong-ca", "/O=another CA"),
    ] {
        let (keyout, out) = (format!("{name}.key"), format!("{name}.pem"));
        let mut args = vec!["req", "-x509", "-days", "2", "-subj", subject];
        args.extend(key);
        args.extend(["-keyout", &keyout, "-out", &out]);
        openssl(dir, &args);
    }
    fs::write(
        dir.join("member.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, subject) in [
        ("member", "/O=session-lock test etcd member"),
        ("client", "/O=session-lock test client"),
    ] {
        let (keyout, csr, out, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        let mut args = vec!["req", "-subj", subject, "-keyout", &keyout, "-out", &csr];
        args.extend(key);
        openssl(dir, &args);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &out,
                "-extfile",
                &ext,
            ],
        );
    }
    Secured {
        ca: dir.join("ca.pem"),
        wrong_ca: dir.join("wrong-ca.pem"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
        root_password: "root-secret-pw".into(),
    }
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
        Some(Cluster::launch(size, false, &[]))
    }

    /// As [`Cluster::start`], each member started with the extra etcd flags `flags`.
    pub fn start_with(size: usize, test: &str, flags: &[&str]) -> Option<Cluster> {
        if !installed() {
            println!("skipping {test}: etcd is not installed (apt-get install etcd-server)");
            return None;
        }
        Some(Cluster::launch(size, false, flags))
    }

    /// A healthy secured cluster of `size` members (see the module's doc), or `None` (after
    /// printing "skipping: ...") when etcd, etcdctl or openssl is not installed; with `CI=true`
    /// a missing tool fails the test instead.
    pub fn start_secured(size: usize, test: &str) -> Option<Cluster> {
        let cluster = Cluster::start_tls(size, test)?;
        cluster.enable_auth();
        Some(cluster)
    }

    /// As [`Cluster::start_secured`], without etcd authentication: TLS for clients and peers
    /// and client certificates only.
    pub fn start_tls(size: usize, test: &str) -> Option<Cluster> {
        let missing: Vec<&str> = [
            ("etcd", "--version"),
            ("etcdctl", "version"),
            ("openssl", "version"),
        ]
        .into_iter()
        .filter(|(program, arg)| !runs(program, arg))
        .map(|(program, _)| program)
        .collect();
        if !missing.is_empty() {
            assert!(
                !must_run(),
                "{test}: CI=true and {missing:?} not installed (apt-get install etcd-server \
                 etcd-client openssl)"
            );
            println!(
                "skipping {test}: {missing:?} not installed (apt-get install etcd-server etcd-client openssl)"
            );
            return None;
        }
        Some(Cluster::launch(size, true, &[]))
    }

    fn launch(size: usize, secured: bool, flags: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let secured = secured.then(|| make_certificates(&dir.path().join("certs")));
        let scheme = if secured.is_some() { "https" } else { "http" };
        let ports = free_ports(size * 2);
        let members: Vec<Member> = (0..size)
            .map(|i| Member {
                name: format!("m{}", i + 1),
                client_url: format!("{scheme}://127.0.0.1:{}", ports[2 * i]),
                peer_url: format!("{scheme}://127.0.0.1:{}", ports[2 * i + 1]),
                child: None,
            })
            .collect();
        let initial = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            members,
            dir,
            secured,
        };
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
                .args(flags)
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
            if cluster.secured.is_some() {
                let certs = cluster.dir.path().join("certs");
                let (cert, key, ca) = (
                    certs.join("member.pem"),
                    certs.join("member.key"),
                    certs.join("ca.pem"),
                );
                child
                    .arg("--cert-file")
                    .arg(&cert)
                    .arg("--key-file")
                    .arg(&key)
                    .arg("--trusted-ca-file")
                    .arg(&ca)
                    .arg("--client-cert-auth")
                    .arg("--peer-cert-file")
                    .arg(&cert)
                    .arg("--peer-key-file")
                    .arg(&key)
                    .arg("--peer-trusted-ca-file")
                    .arg(&ca)
                    .arg("--peer-client-cert-auth");
            }
            let child = child.spawn().expect("etcd starts");
            cluster.members[i].child = Some(child);
        }
        cluster.wait_healthy();
        cluster
    }

    /// Turns etcd authentication on: `root`, and the team users [`TEAM_A`] and [`TEAM_B`],
    /// each with a role that may read and write its own prefix only.
    fn enable_auth(&self) {
        let root = &self.secured.as_ref().unwrap().root_password;
        self.etcdctl_as(
            None,
            &[
                "user",
                "add",
                "root",
                "--interactive=false",
                "--new-user-password",
                root,
            ],
        );
        self.etcdctl_as(None, &["role", "add", "root"]);
        self.etcdctl_as(None, &["user", "grant-role", "root", "root"]);
        self.etcdctl_as(None, &["auth", "enable"]);
        for team in [TEAM_A, TEAM_B] {
            let role = team.prefix.rsplit('/').next().unwrap();
            let keys = format!("{}/", team.prefix);
            self.etcdctl(&["role", "add", role]);
            self.etcdctl(&[
                "role",
                "grant-permission",
                role,
                "--prefix=true",
                "readwrite",
                &keys,
            ]);
            self.etcdctl(&[
                "user",
                "add",
                team.name,
                "--interactive=false",
                "--new-user-password",
                team.password,
            ]);
            self.etcdctl(&["user", "grant-role", team.name, role]);
        }
    }

    /// Runs `etcdctl` as root on the live members of a secured cluster; it must succeed.
    pub fn etcdctl(&self, args: &[&str]) -> String {
        let root = format!("root:{}", self.secured.as_ref().unwrap().root_password);
        self.etcdctl_as(Some(&root), args)
    }

    fn etcdctl_as(&self, user: Option<&str>, args: &[&str]) -> String {
        let secured = self.secured.as_ref().expect("a secured cluster");
        let live: Vec<&str> = self
            .members
            .iter()
            .filter(|m| m.child.is_some())
            .map(|m| m.client_url.as_str())
            .collect();
        let mut command = Command::new("etcdctl");
        command
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", live.join(",")))
            .arg("--cacert")
            .arg(&secured.ca)
            .arg("--cert")
            .arg(&secured.client_cert)
            .arg("--key")
            .arg(&secured.client_key);
        if let Some(user) = user {
            command.arg(format!("--user={user}"));
        }
        let output = command.args(args).output().expect("etcdctl runs");
        assert!(
            output.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn wait_healthy(&self) {
        let started = Instant::now();
        for member in &self.members {
            loop {
                let healthy = self.is_healthy(member);
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

    fn is_healthy(&self, member: &Member) -> bool {
        match &self.secured {
            None => http(&member.client_url, "GET", "/health", "")
                .is_ok_and(|(status, body)| status == 200 && body.contains("\"true\"")),
            Some(secured) => Command::new("etcdctl")
                .env("ETCDCTL_API", "3")
                .arg(format!("--endpoints={}", member.client_url))
                .arg("--cacert")
                .arg(&secured.ca)
                .arg("--cert")
                .arg(&secured.client_cert)
                .arg("--key")
                .arg(&secured.client_key)
                .args(["endpoint", "health"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
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
        if self.secured.is_some() {
            let answer: Value =
                serde_json::from_str(&self.etcdctl(&["endpoint", "status", "-w", "json"])).ok()?;
            let statuses = answer.as_array()?;
            let leader = statuses.first()?["Status"]["leader"].as_u64()?;
            let url = statuses
                .iter()
                .find(|s| s["Status"]["header"]["member_id"].as_u64() == Some(leader))?["Endpoint"]
                .as_str()?;
            return self.members.iter().position(|m| m.client_url == url);
        }
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
        if self.secured.is_some() {
            let value = std::str::from_utf8(value).expect("a secured cluster's values are text");
            self.etcdctl(&["put", key, "--", value]);
            return;
        }
        let body = json!({"key": base64_encode(key.as_bytes()), "value": base64_encode(value)});
        let (status, answer) = self.post("/v3/kv/put", &body.to_string());
        assert_eq!(status, 200, "put {key}: {answer}");
    }

    /// The value at etcd key `key`, read directly (`None`: no such key).
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let answer: Value = if self.secured.is_some() {
            serde_json::from_str(&self.etcdctl(&["get", key, "-w", "json"])).unwrap()
        } else {
            let body = json!({"key": base64_encode(key.as_bytes())});
            let (status, answer) = self.post("/v3/kv/range", &body.to_string());
            assert_eq!(status, 200, "get {key}: {answer}");
            serde_json::from_str(&answer).unwrap()
        };
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

    /// The CPU time the live members have used so far (user and system, from
    /// `/proc/<pid>/stat`, in clock ticks: 10 ms here).
    pub fn cpu_time(&self) -> Duration {
        // SAFETY: sysconf has no preconditions.
        let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let ticks: u64 = self
            .members
            .iter()
            .filter_map(|m| m.child.as_ref())
            .map(|child| {
                let stat = fs::read_to_string(format!("/proc/{}/stat", child.id()))
                    .expect("a live member's /proc stat");
                // The fields after the command (in parentheses, which may hold spaces):
                // utime and stime are the 12th and 13th.
                let fields: Vec<&str> = stat
                    .rsplit_once(')')
                    .unwrap()
                    .1
                    .split_whitespace()
                    .collect();
                fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
            })
            .sum();
        Duration::from_secs_f64(ticks as f64 / ticks_per_second)
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
