//! The `lock-store` import on an etcd cluster (v3.4 or later), for sessions on several hosts,
//! containers or VMs that share one checkout.
//!
//! It speaks etcd's own JSON gateway (`POST /v3/kv/range`, `/v3/kv/txn`, keys and values in
//! base64) over a small blocking HTTP/1.1 client on [`TcpStream`], so the binary carries no
//! async runtime, gRPC stack or TLS library. Each record lives at etcd key `<prefix>/<key>`
//! (`session-lock/<key>` by default) and holds exactly the bytes the file store would write, so
//! `etcdctl get session-lock/<key>` shows the same JSON record as `session-lock status`.
//!
//! - `read` is one linearizable range (etcd's default: it goes through the leader's quorum).
//! - `compare-and-swap` is one transaction: compare the value's bytes (or, for "no record",
//!   `create_revision == 0`), then put or delete; on failure the same transaction reads the
//!   current value, so a conflict carries it without a second round trip.
//! - `keys` is one keys-only prefix range.
//!
//! Endpoints are tried in order, starting at the last one that answered; a connection error or
//! an unavailable member moves on to the next. Every request has [`REQUEST_TIMEOUT`] and every
//! call [`CALL_BUDGET`], well inside the hook's 1 s. A transaction whose outcome is unknown (it
//! was sent, then the connection failed or timed out, or the member answered with an error that
//! does not prove it was not applied) is never sent again: the record is re-read and the call
//! reports `swapped` if the replacement is in place, else a conflict with what is there, and
//! the component decides again.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::component::lock_store::{self, SwapOutcome};
use crate::fs_store::MAX_RECORD_BYTES;

/// How long one HTTP request (connect, send, answer) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(300);

/// How long one store call may take, failovers and a re-read included.
pub const CALL_BUDGET: Duration = Duration::from_millis(700);

/// The etcd key prefix when `SESSION_LOCK_ETCD_PREFIX` is not set.
pub const DEFAULT_PREFIX: &str = "session-lock";

/// The largest response body read (a keys-only listing of thousands of locks fits).
const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// One etcd client URL, `http://host:port`.
#[derive(Debug, Clone)]
struct Endpoint {
    /// As configured, for messages.
    url: String,
    /// `host:port`, for the `Host` header and for resolving.
    authority: String,
}

/// Lock records in an etcd cluster.
#[derive(Debug)]
pub struct EtcdStore {
    endpoints: Vec<Endpoint>,
    /// The key prefix with its trailing `/`.
    prefix: String,
    /// The endpoint to try first: the last one that answered.
    preferred: usize,
    /// A kept-alive connection to `endpoints[.0]`.
    connection: Option<(usize, BufReader<TcpStream>)>,
    request_timeout: Duration,
    call_budget: Duration,
}

/// Why a request failed.
enum Failure {
    /// Nothing reached the member (no connection): safe to send elsewhere.
    NotSent(String),
    /// The request was sent and no answer came back whole: it may have been applied.
    Unknown(String),
    /// The member answered with an error.
    Answered {
        /// The gRPC status code etcd gave.
        code: i64,
        message: String,
    },
}

impl Failure {
    fn text(&self) -> String {
        match self {
            Failure::NotSent(why) | Failure::Unknown(why) => why.clone(),
            Failure::Answered { code, message } => format!("{message} (code {code})"),
        }
    }

    /// An answer that proves the request was refused as such (bad argument, permission):
    /// another member would refuse it too, and nothing was applied.
    fn is_refusal(&self) -> bool {
        // INVALID_ARGUMENT, PERMISSION_DENIED, FAILED_PRECONDITION, UNAUTHENTICATED.
        matches!(
            self,
            Failure::Answered {
                code: 3 | 7 | 9 | 16,
                ..
            }
        )
    }
}

impl EtcdStore {
    /// A store on the cluster at `endpoints` (each `http://host:port`; the port defaults to
    /// 2379), its records under `<prefix>/`. Connects on the first call, not here.
    pub fn new(endpoints: &[&str], prefix: &str) -> Result<EtcdStore, String> {
        let endpoints = endpoints
            .iter()
            .map(|url| parse_endpoint(url))
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            return Err("no etcd endpoints given".into());
        }
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            return Err("the etcd key prefix is empty".into());
        }
        Ok(EtcdStore {
            endpoints,
            prefix: format!("{prefix}/"),
            preferred: 0,
            connection: None,
            request_timeout: REQUEST_TIMEOUT,
            call_budget: CALL_BUDGET,
        })
    }

    /// The store `SESSION_LOCK_ETCD_ENDPOINTS` (comma-separated) and
    /// `SESSION_LOCK_ETCD_PREFIX` (default [`DEFAULT_PREFIX`]) name.
    pub fn from_env() -> Result<EtcdStore, String> {
        let endpoints = std::env::var("SESSION_LOCK_ETCD_ENDPOINTS").unwrap_or_default();
        let endpoints: Vec<&str> = endpoints
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if endpoints.is_empty() {
            return Err("SESSION_LOCK_STORE=etcd needs SESSION_LOCK_ETCD_ENDPOINTS \
                        (comma-separated http://host:port)"
                .into());
        }
        let prefix = std::env::var("SESSION_LOCK_ETCD_PREFIX")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        EtcdStore::new(&endpoints, &prefix)
    }

    /// Sets the per-request timeout and the per-call budget (tests shorten them).
    pub fn with_timeouts(mut self, request: Duration, call: Duration) -> EtcdStore {
        self.request_timeout = request;
        self.call_budget = call;
        self
    }

    /// The etcd key holding the record of `key` (`session-lock/<key>`). Keys are 12 hex
    /// characters; anything else is refused.
    pub fn etcd_key(&self, key: &str) -> Result<String, String> {
        Ok(format!("{}{}", self.prefix, valid_key(key)?))
    }

    /// The endpoints, as configured.
    pub fn endpoints(&self) -> Vec<String> {
        self.endpoints.iter().map(|e| e.url.clone()).collect()
    }

    /// The record of `key`, or `None` when there is none.
    pub fn read(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        let etcd_key = self.etcd_key(key)?;
        let deadline = Instant::now() + self.call_budget;
        self.read_at(&etcd_key, deadline)
    }

    /// Replaces the record of `key` by `replacement` (`None`: deletes it) if it holds exactly
    /// `expected`, in one transaction.
    pub fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        replacement: Option<&[u8]>,
    ) -> Result<SwapOutcome, String> {
        let etcd_key = self.etcd_key(key)?;
        if let Some(bytes) = replacement
            && bytes.len() as u64 > MAX_RECORD_BYTES
        {
            return Err(format!(
                "refusing to write a lock record of {} bytes: reads stop at {MAX_RECORD_BYTES}",
                bytes.len()
            ));
        }
        if let Some(bytes) = expected
            && bytes.len() as u64 > MAX_RECORD_BYTES
        {
            // No read returns such a record, so no decision can rest on one.
            return Err(too_large(&etcd_key));
        }
        let key64 = base64_encode(etcd_key.as_bytes());
        let compare = match expected {
            None => json!({"target": "CREATE", "key": key64, "result": "EQUAL",
                           "create_revision": "0"}),
            Some(bytes) => json!({"target": "VALUE", "key": key64, "result": "EQUAL",
                                  "value": base64_encode(bytes)}),
        };
        let success = match (expected, replacement) {
            (_, Some(bytes)) => {
                json!([{"request_put": {"key": key64, "value": base64_encode(bytes)}}])
            }
            (Some(_), None) => json!([{"request_delete_range": {"key": key64}}]),
            (None, None) => json!([]),
        };
        let body = json!({
            "compare": [compare],
            "success": success,
            "failure": [{"request_range": {"key": key64}}],
        });
        let deadline = Instant::now() + self.call_budget;
        match self.request("/v3/kv/txn", &body, deadline, false) {
            Ok(answer) => {
                if answer["succeeded"].as_bool() == Some(true) {
                    return Ok(SwapOutcome::Swapped);
                }
                let range = &answer["responses"][0]["response_range"];
                if !range.is_object() {
                    return Err(format!(
                        "etcd answered a failed transaction without its read: {answer}"
                    ));
                }
                Ok(SwapOutcome::Conflict(value_of(range, &etcd_key)?))
            }
            Err(Failure::NotSent(why)) => Err(format!("cannot swap etcd key {etcd_key}: {why}")),
            Err(failure) if failure.is_refusal() => Err(format!(
                "etcd refused the swap of {etcd_key}: {}",
                failure.text()
            )),
            Err(failure) => {
                // Maybe applied, maybe not: find out rather than send it again.
                let why = failure.text();
                match self.read_at(&etcd_key, deadline) {
                    Ok(current) if current.as_deref() == replacement => Ok(SwapOutcome::Swapped),
                    Ok(current) => Ok(SwapOutcome::Conflict(current)),
                    Err(e) => Err(format!(
                        "etcd swap of {etcd_key} has an unknown outcome ({why}) and cannot be \
                         read back: {e}"
                    )),
                }
            }
        }
    }

    /// The keys of every record under the prefix.
    pub fn keys(&mut self) -> Result<Vec<String>, String> {
        let start = self.prefix.as_bytes().to_vec();
        let mut end = start.clone();
        // The prefix ends in `/`; the range ends just past every key starting with it.
        *end.last_mut().expect("a prefix ends in /") += 1;
        let body = json!({
            "key": base64_encode(&start),
            "range_end": base64_encode(&end),
            "keys_only": true,
        });
        let deadline = Instant::now() + self.call_budget;
        let answer = self
            .request("/v3/kv/range", &body, deadline, true)
            .map_err(|f| format!("cannot list etcd keys under {}: {}", self.prefix, f.text()))?;
        let mut keys = Vec::new();
        for kv in answer["kvs"].as_array().into_iter().flatten() {
            let name = decode_field(&kv["key"])?;
            let key = std::str::from_utf8(&name)
                .ok()
                .and_then(|n| n.strip_prefix(&self.prefix));
            if let Some(key) = key.filter(|k| valid_key(k).is_ok()) {
                keys.push(key.to_owned());
            }
        }
        Ok(keys)
    }

    /// One linearizable read of `etcd_key`, failing over between members.
    fn read_at(&mut self, etcd_key: &str, deadline: Instant) -> Result<Option<Vec<u8>>, String> {
        let body = json!({"key": base64_encode(etcd_key.as_bytes())});
        let answer = self
            .request("/v3/kv/range", &body, deadline, true)
            .map_err(|f| format!("cannot read etcd key {etcd_key}: {}", f.text()))?;
        value_of(&answer, etcd_key)
    }

    /// Sends `body` to `path`, from the preferred endpoint on. A request that is not
    /// `idempotent` moves to the next endpoint only while nothing was sent; a read moves on
    /// whenever a member fails to answer it.
    fn request(
        &mut self,
        path: &str,
        body: &Value,
        deadline: Instant,
        idempotent: bool,
    ) -> Result<Value, Failure> {
        let body = body.to_string();
        let count = self.endpoints.len();
        let mut failures = Vec::new();
        for step in 0..count {
            let index = (self.preferred + step) % count;
            if Instant::now() >= deadline {
                failures.push(format!("{}: no time left", self.endpoints[index].url));
                break;
            }
            let until = deadline.min(Instant::now() + self.request_timeout);
            let result = self.exchange(index, path, &body, until, idempotent);
            let url = self.endpoints[index].url.clone();
            match result {
                Ok((200, answer)) => {
                    self.preferred = index;
                    return Ok(answer);
                }
                Ok((status, answer)) => {
                    let failure = Failure::Answered {
                        code: answer["code"]
                            .as_i64()
                            .unwrap_or(if status >= 500 { 14 } else { 2 }),
                        message: format!(
                            "{url} answered HTTP {status}: {}",
                            answer["message"]
                                .as_str()
                                .or(answer["error"].as_str())
                                .unwrap_or("no message")
                        ),
                    };
                    if failure.is_refusal() || !idempotent {
                        return Err(failure);
                    }
                    failures.push(failure.text());
                }
                Err(Failure::NotSent(why)) => failures.push(format!("{url}: {why}")),
                Err(Failure::Unknown(why)) if idempotent => failures.push(format!("{url}: {why}")),
                Err(Failure::Unknown(why)) => {
                    return Err(Failure::Unknown(format!("{url}: {why}")));
                }
                Err(answered) => return Err(answered),
            }
        }
        Err(Failure::NotSent(format!(
            "no etcd member answered: {}",
            failures.join("; ")
        )))
    }

    /// One HTTP exchange with endpoint `index`, on the kept connection if it is to that
    /// endpoint (for an `idempotent` request, a kept connection closed before any answer is
    /// replaced by a fresh one once).
    fn exchange(
        &mut self,
        index: usize,
        path: &str,
        body: &str,
        until: Instant,
        idempotent: bool,
    ) -> Result<(u16, Value), Failure> {
        let endpoint = self.endpoints[index].clone();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            endpoint.authority,
            body.len()
        );
        let kept = match self.connection.take() {
            Some((at, connection)) if at == index => Some(connection),
            _ => None,
        };
        if let Some(mut connection) = kept {
            match send(&mut connection, &request, until) {
                Ok(answer) => {
                    if answer.keep_alive {
                        self.connection = Some((index, connection));
                    }
                    return answer.parsed();
                }
                // The connection was closed before any answer: most likely the member closed it
                // while idle, before reading the request, and a read may go again on a fresh
                // one. A transaction may not: the member may have taken it and died.
                Err(Exchange::Closed) if idempotent => {}
                Err(Exchange::Closed) => {
                    return Err(Failure::Unknown(
                        "the kept connection closed before an answer".into(),
                    ));
                }
                Err(Exchange::Failed(why)) => return Err(Failure::Unknown(why)),
            }
        }
        let stream = connect(&endpoint.authority, until).map_err(Failure::NotSent)?;
        let mut connection = BufReader::new(stream);
        match send(&mut connection, &request, until) {
            Ok(answer) => {
                if answer.keep_alive {
                    self.connection = Some((index, connection));
                }
                answer.parsed()
            }
            Err(Exchange::Closed) => Err(Failure::Unknown(
                "the connection closed before an answer".into(),
            )),
            Err(Exchange::Failed(why)) => Err(Failure::Unknown(why)),
        }
    }
}

impl lock_store::Host for EtcdStore {
    fn read(&mut self, key: String) -> Result<Option<Vec<u8>>, lock_store::StoreError> {
        Ok(EtcdStore::read(self, &key)?)
    }

    fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        replacement: Option<Vec<u8>>,
    ) -> Result<SwapOutcome, lock_store::StoreError> {
        Ok(EtcdStore::compare_and_swap(
            self,
            &key,
            expected.as_deref(),
            replacement.as_deref(),
        )?)
    }

    fn keys(&mut self) -> Result<Vec<String>, lock_store::StoreError> {
        Ok(EtcdStore::keys(self)?)
    }
}

fn valid_key(key: &str) -> Result<&str, String> {
    if key.len() == 12 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(key)
    } else {
        Err(format!(
            "refusing lock key {key:?}: not 12 hexadecimal characters"
        ))
    }
}

fn too_large(etcd_key: &str) -> String {
    format!("lock record at etcd key {etcd_key} is larger than {MAX_RECORD_BYTES} bytes")
}

/// The value of the single key a range answer carries (`None`: no such key), refused over
/// [`MAX_RECORD_BYTES`] as the file store refuses such a file.
fn value_of(range: &Value, etcd_key: &str) -> Result<Option<Vec<u8>>, String> {
    let Some(kv) = range["kvs"].as_array().and_then(|kvs| kvs.first()) else {
        return Ok(None);
    };
    // The gateway leaves out empty fields: an empty record has no `value`.
    let value = decode_field(&kv["value"])?;
    if value.len() as u64 > MAX_RECORD_BYTES {
        return Err(too_large(etcd_key));
    }
    Ok(Some(value))
}

/// A base64 field of an answer (missing: empty).
fn decode_field(field: &Value) -> Result<Vec<u8>, String> {
    match field {
        Value::Null => Ok(Vec::new()),
        Value::String(text) => {
            base64_decode(text).ok_or_else(|| "etcd answered a value that is not base64".into())
        }
        other => Err(format!("etcd answered {other} where base64 text belongs")),
    }
}

/// `http://host:port` (or `http://host`, port 2379) as an endpoint.
fn parse_endpoint(url: &str) -> Result<Endpoint, String> {
    let bad = |why: &str| format!("bad etcd endpoint {url:?}: {why}");
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        if url.starts_with("https://") {
            bad("https is not supported (use a TLS-terminating proxy on loopback, see docs/etcd.md)")
        } else {
            bad("expected http://host:port")
        }
    })?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains(['/', '@', '?', '#', ' ']) {
        return Err(bad("expected http://host:port"));
    }
    let has_port = match authority.rsplit_once(':') {
        // `[::1]` alone has colons but no port.
        Some((host, port)) => {
            !host.is_empty() && !port.contains(']') && {
                if port.parse::<u16>().is_err() {
                    return Err(bad("the port is not a number"));
                }
                true
            }
        }
        None => false,
    };
    let authority = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:2379")
    };
    Ok(Endpoint {
        url: url.trim_end_matches('/').to_owned(),
        authority,
    })
}

/// Connects to `authority` by `until`. A name (not an address) is resolved on a helper thread,
/// so that a hung resolver cannot outlast the deadline.
fn connect(authority: &str, until: Instant) -> Result<TcpStream, String> {
    let addresses: Vec<SocketAddr> = match literal_address(authority) {
        Some(address) => vec![address],
        None => {
            let (tx, rx) = mpsc::channel();
            let name = authority.to_owned();
            thread::spawn(move || {
                let _ = tx.send(name.to_socket_addrs().map(Iterator::collect::<Vec<_>>));
            });
            match rx.recv_timeout(remaining(until)?) {
                Ok(Ok(addresses)) => addresses,
                Ok(Err(e)) => return Err(format!("cannot resolve {authority}: {e}")),
                Err(_) => return Err(format!("resolving {authority} timed out")),
            }
        }
    };
    let mut last = format!("{authority} resolves to no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, remaining(until)?) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = format!("cannot connect: {e}"),
        }
    }
    Err(last)
}

fn literal_address(authority: &str) -> Option<SocketAddr> {
    if let Ok(address) = authority.parse::<SocketAddr>() {
        return Some(address);
    }
    let (host, port) = authority.rsplit_once(':')?;
    let ip: IpAddr = host.parse().ok()?;
    Some(SocketAddr::new(ip, port.parse().ok()?))
}

/// The time left until `until`, or a timeout error when none is.
fn remaining(until: Instant) -> Result<Duration, String> {
    let left = until.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err("timed out".into())
    } else {
        Ok(left)
    }
}

/// An HTTP answer.
struct Answer {
    status: u16,
    body: Vec<u8>,
    keep_alive: bool,
}

impl Answer {
    fn parsed(self) -> Result<(u16, Value), Failure> {
        match serde_json::from_slice(&self.body) {
            Ok(value) => Ok((self.status, value)),
            Err(_) if self.status != 200 => Ok((
                self.status,
                json!({"message": String::from_utf8_lossy(&self.body).trim()}),
            )),
            Err(e) => Err(Failure::Unknown(format!(
                "etcd answered something that is not JSON: {e}"
            ))),
        }
    }
}

/// Why an exchange on an open connection failed.
enum Exchange {
    /// The connection was closed before any byte of an answer came.
    Closed,
    /// Anything else: the request may have been taken.
    Failed(String),
}

/// Writes `request` and reads one answer, every step by `until`.
fn send(
    connection: &mut BufReader<TcpStream>,
    request: &str,
    until: Instant,
) -> Result<Answer, Exchange> {
    let timed = |e: io::Error| {
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            Exchange::Failed("timed out".into())
        } else {
            Exchange::Failed(e.to_string())
        }
    };
    let left = remaining(until).map_err(Exchange::Failed)?;
    let stream = connection.get_mut();
    stream.set_write_timeout(Some(left)).map_err(timed)?;
    match stream.write_all(request.as_bytes()) {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) =>
        {
            return Err(Exchange::Closed);
        }
        Err(e) => return Err(timed(e)),
    }
    let status_line = read_line(connection, until).map_err(timed)?;
    if status_line.is_empty() {
        return Err(Exchange::Closed);
    }
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| Exchange::Failed(format!("not an HTTP answer: {:?}", status_line.trim())))?;
    let mut length = None;
    let mut chunked = false;
    let mut keep_alive = status_line.starts_with("HTTP/1.1");
    loop {
        let line = read_line(connection, until).map_err(timed)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| Exchange::Failed(format!("bad Content-Length {value:?}")))?,
                );
            }
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => keep_alive = !value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let body = if chunked {
        read_chunked(connection, until).map_err(timed)?
    } else if let Some(length) = length {
        if length > MAX_RESPONSE_BYTES {
            return Err(Exchange::Failed(format!(
                "an answer of {length} bytes is too large"
            )));
        }
        let mut body = vec![0; length];
        read_exact(connection, &mut body, until).map_err(timed)?;
        body
    } else {
        keep_alive = false;
        let mut body = Vec::new();
        read_to_end(connection, &mut body, until).map_err(timed)?;
        body
    };
    Ok(Answer {
        status,
        body,
        keep_alive,
    })
}

fn set_deadline(connection: &BufReader<TcpStream>, until: Instant) -> io::Result<()> {
    let left = remaining(until).map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?;
    connection.get_ref().set_read_timeout(Some(left))
}

/// One line of the answer's head (empty at the end of the stream), at most 8 KiB.
fn read_line(connection: &mut BufReader<TcpStream>, until: Instant) -> io::Result<String> {
    let mut line = Vec::new();
    loop {
        set_deadline(connection, until)?;
        let available = match connection.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        let (taken, done) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        line.extend_from_slice(&available[..taken]);
        connection.consume(taken);
        if done {
            break;
        }
        if line.len() > 8 << 10 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "an answer line is too long",
            ));
        }
    }
    String::from_utf8(line)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "an answer head is not text"))
}

fn read_exact(
    connection: &mut BufReader<TcpStream>,
    mut buffer: &mut [u8],
    until: Instant,
) -> io::Result<()> {
    while !buffer.is_empty() {
        set_deadline(connection, until)?;
        match connection.read(buffer) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => buffer = &mut buffer[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn read_to_end(
    connection: &mut BufReader<TcpStream>,
    body: &mut Vec<u8>,
    until: Instant,
) -> io::Result<()> {
    let mut chunk = [0; 8192];
    loop {
        set_deadline(connection, until)?;
        match connection.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the answer is too large",
            ));
        }
    }
}

fn read_chunked(connection: &mut BufReader<TcpStream>, until: Instant) -> io::Result<Vec<u8>> {
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    let mut body = Vec::new();
    loop {
        let line = read_line(connection, until)?;
        if line.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let size = line.trim_end().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size.trim(), 16).map_err(|_| invalid("bad chunk size"))?;
        if body.len() + size > MAX_RESPONSE_BYTES {
            return Err(invalid("the answer is too large"));
        }
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(connection, until)?.trim_end().is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        read_exact(connection, &mut body[start..], until)?;
        let mut crlf = [0; 2];
        read_exact(connection, &mut crlf, until)?;
        if &crlf != b"\r\n" {
            return Err(invalid("a chunk does not end in CRLF"));
        }
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64, padded, as etcd's gateway reads and writes it.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= group.len() {
                text.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// Standard base64, padded or not; `None` for anything else.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    if text.len() % 4 == 1 {
        return None;
    }
    let mut bytes = Vec::with_capacity(text.len() * 3 / 4);
    let mut n = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let value = BASE64.iter().position(|&b| b == c)? as u32;
        n = n << 6 | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((n >> bits) as u8);
            n &= (1 << bits) - 1;
        }
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_length_and_byte() {
        for len in 0..70 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 251) as u8).collect();
            let text = base64_encode(&bytes);
            assert_eq!(text.len() % 4, 0);
            assert_eq!(base64_decode(&text), Some(bytes));
        }
        assert_eq!(
            base64_encode(b"session-lock/0123456789ab"),
            "c2Vzc2lvbi1sb2NrLzAxMjM0NTY3ODlhYg=="
        );
        assert_eq!(base64_encode(b"A"), "QQ==");
        assert_eq!(base64_decode("QQ"), Some(b"A".to_vec()));
        assert_eq!(base64_decode("Q"), None);
        assert_eq!(base64_decode("Q!=="), None);
    }

    #[test]
    fn endpoints_are_http_urls_with_a_port() {
        let e = parse_endpoint("http://127.0.0.1:2379/").unwrap();
        assert_eq!(
            (e.url.as_str(), e.authority.as_str()),
            ("http://127.0.0.1:2379", "127.0.0.1:2379")
        );
        assert_eq!(
            parse_endpoint("http://etcd").unwrap().authority,
            "etcd:2379"
        );
        assert_eq!(
            parse_endpoint("http://[::1]").unwrap().authority,
            "[::1]:2379"
        );
        assert_eq!(
            parse_endpoint("http://[::1]:23").unwrap().authority,
            "[::1]:23"
        );
        assert!(
            parse_endpoint("https://etcd:2379")
                .unwrap_err()
                .contains("https is not supported")
        );
        assert!(parse_endpoint("etcd:2379").is_err());
        assert!(parse_endpoint("http://etcd:x").is_err());
        assert!(parse_endpoint("http://etcd:2379/v3").is_err());
        assert!(literal_address("[::1]:23").is_some());
        assert!(literal_address("etcd:23").is_none());
    }

    #[test]
    fn keys_live_under_the_prefix() {
        let store = EtcdStore::new(&["http://127.0.0.1:1"], "team-a/").unwrap();
        assert_eq!(
            store.etcd_key("0123456789ab").unwrap(),
            "team-a/0123456789ab"
        );
        assert!(
            store
                .etcd_key("../etc")
                .unwrap_err()
                .contains("not 12 hexadecimal")
        );
        assert!(EtcdStore::new(&["http://127.0.0.1:1"], "/").is_err());
    }

    #[test]
    fn nobody_listening_is_a_one_line_error_at_once() {
        // Port 1 on loopback: refused.
        let mut store = EtcdStore::new(&["http://127.0.0.1:1", "http://127.0.0.1:2"], "p").unwrap();
        let started = Instant::now();
        let error = store.read("0123456789ab").unwrap_err();
        assert!(started.elapsed() < CALL_BUDGET, "{:?}", started.elapsed());
        assert!(!error.contains('\n'), "{error}");
        assert!(
            error.contains("127.0.0.1:1") && error.contains("127.0.0.1:2"),
            "{error}"
        );
        let error = store
            .compare_and_swap("0123456789ab", None, Some(b"x"))
            .unwrap_err();
        assert!(error.contains("no etcd member answered"), "{error}");
    }
}
