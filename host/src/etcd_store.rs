//! The `lock-store` import on an etcd cluster (v3.4 or later), for sessions on several hosts,
//! containers or VMs that share one checkout.
//!
//! It speaks etcd's own JSON gateway (`POST /v3/kv/range`, `/v3/kv/txn`, keys and values in
//! base64) over a small blocking HTTP/1.1 client on [`TcpStream`], plain (`http://`) or through
//! rustls (`https://`, [`crate::etcd_tls`]), so the binary carries no async runtime or gRPC
//! stack. With `SESSION_LOCK_ETCD_USER` it logs in and sends etcd's token on every request
//! ([`crate::etcd_auth`]). Each record lives at etcd key `<prefix>/<key>`
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
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use rustls::ClientConfig;
use serde_json::{Value, json};

use crate::component::lock_store::{self, SwapOutcome};
use crate::etcd_auth::{self, Credentials, Secret, TokenCache};
use crate::etcd_tls::{self, TlsFiles, Transport};
use crate::fs_store::MAX_RECORD_BYTES;
use crate::settings;

/// How long one HTTP request (connect, send, answer) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(300);

/// How long one store call may take, failovers and a re-read included.
pub const CALL_BUDGET: Duration = Duration::from_millis(700);

/// The pause before another pass over the members, when one may answer soon.
pub const RETRY_PAUSE: Duration = Duration::from_millis(40);

/// What a call leaves of the hook's own deadline ([`EtcdStore::within`]): time for the
/// component to decide on the store's answer (or its failure) and for the hook to print it.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(100);

/// The etcd key prefix when `SESSION_LOCK_ETCD_PREFIX` is not set.
pub const DEFAULT_PREFIX: &str = "session-lock";

/// The largest response body read (a keys-only listing of thousands of locks fits).
const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// One etcd client URL, `http://host:port` or `https://host:port`.
#[derive(Debug, Clone)]
struct Endpoint {
    /// As configured, for messages.
    url: String,
    /// `host:port`, for the `Host` header and for resolving.
    authority: String,
    /// The host alone (no brackets), the name TLS verifies.
    host: String,
    /// `https://`.
    tls: bool,
}

/// The etcd user a store logs in as, and its token.
#[derive(Debug)]
struct Login {
    credentials: Credentials,
    /// The token in use (`None`: log in before the next request).
    token: Option<Secret>,
    /// Where the token is kept between runs, if anywhere.
    cache: Option<TokenCache>,
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
    connection: Option<(usize, BufReader<Transport>)>,
    /// Where TLS's CA and client certificate come from.
    tls_files: TlsFiles,
    /// The TLS client configuration, made from `tls_files` before the first `https://` use.
    tls: Option<Arc<ClientConfig>>,
    /// The user to log in as, when etcd authentication is on.
    login: Option<Login>,
    request_timeout: Duration,
    call_budget: Duration,
    /// The time left of the deadline of the process this store serves (a hook's), read anew
    /// at every call; `None`: no deadline beyond [`CALL_BUDGET`] per call.
    time_left: Option<fn() -> Duration>,
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

/// Whether a connection failure `why` will not go away in a moment: nobody listens there, or
/// TLS failed (a certificate, a protocol).
fn lasts(why: &str) -> bool {
    let why = why.to_ascii_lowercase();
    why.contains("refused") || why.contains("tls") || why.contains("certificate")
}

impl Failure {
    /// An answer that proves the member did not take the request: it dropped the proposal
    /// (no leader to give it to).
    fn proves_not_applied(&self) -> bool {
        matches!(self, Failure::Answered { message, .. } if message.contains("proposal dropped"))
    }

    /// etcd did not take the token: it expired or is unknown (UNAUTHENTICATED), or the auth
    /// store changed since it was checked. Nothing was applied; a new login may fix it.
    fn is_stale_token(&self) -> bool {
        match self {
            Failure::Answered { code: 16, .. } => true,
            Failure::Answered { code: 3, message } => {
                message.contains("revision of auth store is old")
            }
            _ => false,
        }
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
            tls_files: TlsFiles::default(),
            tls: None,
            login: None,
            request_timeout: REQUEST_TIMEOUT,
            call_budget: CALL_BUDGET,
            time_left: None,
        })
    }

    /// The store the settings name: `SESSION_LOCK_ETCD_ENDPOINTS` (comma-separated),
    /// `SESSION_LOCK_ETCD_PREFIX` (default [`DEFAULT_PREFIX`]), TLS from `SESSION_LOCK_ETCD_CA`,
    /// `_CERT` and `_KEY`, and the login from `SESSION_LOCK_ETCD_USER` with
    /// `SESSION_LOCK_ETCD_PASSWORD_FILE` or `_PASSWORD`, its token kept in the lock directory.
    /// Each may also come from the Claude Code plugin's options ([`settings::value`]).
    pub fn from_env() -> Result<EtcdStore, String> {
        let endpoints = settings::value("SESSION_LOCK_ETCD_ENDPOINTS").unwrap_or_default();
        let endpoints: Vec<&str> = endpoints
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if endpoints.is_empty() {
            return Err("SESSION_LOCK_STORE=etcd needs SESSION_LOCK_ETCD_ENDPOINTS \
                        (comma-separated http://host:port or https://host:port)"
                .into());
        }
        let prefix = settings::value("SESSION_LOCK_ETCD_PREFIX")
            .unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        let path = |name: &str| settings::value(name).map(PathBuf::from);
        let tls = TlsFiles {
            ca: path("SESSION_LOCK_ETCD_CA"),
            cert: path("SESSION_LOCK_ETCD_CERT"),
            key: path("SESSION_LOCK_ETCD_KEY"),
        };
        let mut store = EtcdStore::new(&endpoints, &prefix)?.with_tls(tls)?;
        let credentials = etcd_auth::credentials(
            settings::value("SESSION_LOCK_ETCD_USER"),
            path("SESSION_LOCK_ETCD_PASSWORD_FILE"),
            settings::value("SESSION_LOCK_ETCD_PASSWORD"),
        )?;
        if let Some(credentials) = credentials {
            let cache = settings::lock_dir()
                .ok()
                .map(|dir| TokenCache::new(&dir, &store.endpoints(), &credentials.user));
            store = store.with_login(credentials, cache);
        }
        Ok(store)
    }

    /// Verifies `https://` members against `files.ca` (else the system's roots) and presents
    /// the client certificate `files.cert`/`files.key` if set. Reads the files now when an
    /// endpoint is `https://`, so that a bad one is an error here.
    pub fn with_tls(mut self, files: TlsFiles) -> Result<EtcdStore, String> {
        self.tls_files = files;
        self.tls = None;
        if self.endpoints.iter().any(|e| e.tls) {
            self.tls = Some(etcd_tls::client_config(&self.tls_files)?);
        } else if self.tls_files != TlsFiles::default() {
            return Err(
                "SESSION_LOCK_ETCD_CA, _CERT or _KEY is set but no etcd endpoint is \
                        https://"
                    .into(),
            );
        }
        Ok(self)
    }

    /// Logs in as `credentials` (once, before the first request, unless `cache` holds a
    /// token), and keeps the token in `cache`.
    pub fn with_login(mut self, credentials: Credentials, cache: Option<TokenCache>) -> EtcdStore {
        let token = cache.as_ref().and_then(TokenCache::load);
        self.login = Some(Login {
            credentials,
            token,
            cache,
        });
        self
    }

    /// Sets the per-request timeout and the per-call budget (tests shorten them).
    pub fn with_timeouts(mut self, request: Duration, call: Duration) -> EtcdStore {
        self.request_timeout = request;
        self.call_budget = call;
        self
    }

    /// Makes every call share the deadline of the process: a call may take [`CALL_BUDGET`]
    /// but never more than `time_left()` less [`ANSWER_MARGIN`]. A hook whose event touches
    /// several workspaces makes several calls; each with its own budget, a slow cluster (200 ms
    /// an answer) outlasts the hook's deadline mid-call, and the deadline answers without the
    /// component. Sharing it, the call that finds no time left fails like any unreachable
    /// cluster, and the component decides and says why.
    pub fn within(mut self, time_left: fn() -> Duration) -> EtcdStore {
        self.time_left = Some(time_left);
        self
    }

    /// When the call starting now must end: its budget, cut to what the process's deadline
    /// leaves.
    fn call_deadline(&self) -> Instant {
        let budget = match self.time_left {
            Some(time_left) => self
                .call_budget
                .min(time_left().saturating_sub(ANSWER_MARGIN)),
            None => self.call_budget,
        };
        Instant::now() + budget
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
        let deadline = self.call_deadline();
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
        let deadline = self.call_deadline();
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
        let deadline = self.call_deadline();
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

    /// Sends `body` to `path` as [`EtcdStore::send_to_members`] does, logged in when a user is
    /// set: a token etcd no longer takes (expired, or its member restarted) is replaced by a
    /// new login once, and the request sent again (etcd checked the token before doing
    /// anything, so even a transaction is safe to resend).
    fn request(
        &mut self,
        path: &str,
        body: &Value,
        deadline: Instant,
        idempotent: bool,
    ) -> Result<Value, Failure> {
        let body = body.to_string();
        let mut renewed = false;
        loop {
            let token = match &self.login {
                None => None,
                Some(Login {
                    token: Some(token), ..
                }) => Some(token.clone()),
                Some(_) => {
                    renewed = true;
                    Some(self.log_in(deadline)?)
                }
            };
            let result = self.send_to_members(path, &body, deadline, idempotent, token.as_ref());
            match result {
                Err(Failure::Answered { code: 7, message }) => {
                    // Say what to grant, not only that something was refused.
                    let who = match &self.login {
                        Some(login) => format!("etcd user {:?}", login.credentials.user),
                        None => "this client (no SESSION_LOCK_ETCD_USER)".to_owned(),
                    };
                    return Err(Failure::Answered {
                        code: 7,
                        message: format!(
                            "{message}: {who} needs a role with readwrite on the prefix {}",
                            self.prefix
                        ),
                    });
                }
                Err(failure) if self.login.is_some() && failure.is_stale_token() && !renewed => {
                    renewed = true;
                    if let Some(login) = &mut self.login {
                        login.token = None;
                        if let Some(cache) = &login.cache {
                            cache.forget();
                        }
                    }
                }
                result => return result,
            }
        }
    }

    /// Logs in (`/v3/auth/authenticate`), keeps the token and returns it.
    fn log_in(&mut self, deadline: Instant) -> Result<Secret, Failure> {
        let Some(login) = &self.login else {
            return Err(Failure::NotSent("no etcd user to log in as".into()));
        };
        let user = login.credentials.user.clone();
        let body = json!({"name": user, "password": login.credentials.password.expose()});
        // A login is a bcrypt check on the member (~70 ms at etcd's default cost, more when
        // logins queue): it may take what is left of the call's budget, not one request's.
        let request_timeout = std::mem::replace(&mut self.request_timeout, self.call_budget);
        let answer = self.send_to_members(
            "/v3/auth/authenticate",
            &body.to_string(),
            deadline,
            true,
            None,
        );
        self.request_timeout = request_timeout;
        let answer = answer.map_err(|failure| {
            let why = format!("etcd login as {user:?} failed: {}", failure.text());
            match failure {
                Failure::Answered { code, .. } => Failure::Answered { code, message: why },
                Failure::NotSent(_) => Failure::NotSent(why),
                Failure::Unknown(_) => Failure::Unknown(why),
            }
        })?;
        let token = answer["token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Failure::NotSent(format!(
                    "etcd accepted the login as {user:?} but gave no token (is auth enabled?)"
                ))
            })?;
        let token = Secret::new(token.to_owned());
        if let Some(login) = &mut self.login {
            if let Some(cache) = &login.cache {
                cache.save(&token);
            }
            login.token = Some(token.clone());
        }
        Ok(token)
    }

    /// Sends `body` to `path`, from the preferred endpoint on, with `token` if given. A request
    /// that is not `idempotent` moves to the next endpoint only while nothing was sent (or the
    /// member proved it did not take it); a read moves on whenever a member fails to answer it.
    /// A pass over every member that ended so, with a member that may answer soon (electing a
    /// leader, timed out, unavailable; not a refused connection or TLS), is followed by
    /// another after [`RETRY_PAUSE`] while the deadline allows: a leader's death costs one
    /// election, and the call still lands within the hook's deadline.
    fn send_to_members(
        &mut self,
        path: &str,
        body: &str,
        deadline: Instant,
        idempotent: bool,
        token: Option<&Secret>,
    ) -> Result<Value, Failure> {
        let count = self.endpoints.len();
        let mut failures = Vec::new();
        loop {
            let mut may_recover = false;
            for step in 0..count {
                let index = (self.preferred + step) % count;
                if Instant::now() >= deadline {
                    failures.push(format!(
                        "{}: no time left before the deadline",
                        self.endpoints[index].url
                    ));
                    break;
                }
                let until = deadline.min(Instant::now() + self.request_timeout);
                let result = self.exchange(index, path, body, token, until, idempotent);
                let url = self.endpoints[index].url.clone();
                match result {
                    Ok((200, answer)) => {
                        self.preferred = index;
                        return Ok(answer);
                    }
                    Ok((status, answer)) => {
                        let failure = Failure::Answered {
                            code: answer["code"].as_i64().unwrap_or(if status >= 500 {
                                14
                            } else {
                                2
                            }),
                            message: format!(
                                "{url} answered HTTP {status}: {}",
                                answer["message"]
                                    .as_str()
                                    .or(answer["error"].as_str())
                                    .unwrap_or("no message")
                            ),
                        };
                        if failure.is_refusal() || !(idempotent || failure.proves_not_applied()) {
                            return Err(failure);
                        }
                        may_recover = true;
                        failures.push(failure.text());
                    }
                    Err(Failure::NotSent(why)) => {
                        may_recover |= !lasts(&why);
                        failures.push(format!("{url}: {why}"));
                    }
                    Err(Failure::Unknown(why)) if idempotent => {
                        may_recover = true;
                        failures.push(format!("{url}: {why}"));
                    }
                    Err(Failure::Unknown(why)) => {
                        return Err(Failure::Unknown(format!("{url}: {why}")));
                    }
                    Err(answered) => return Err(answered),
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if !may_recover || left <= RETRY_PAUSE {
                break;
            }
            thread::sleep(RETRY_PAUSE);
        }
        // Every pass's failures, each once: the last pass may only have run out of time, while
        // an earlier one said why (a TLS member closing a plain connection, say).
        let mut seen = std::collections::HashSet::new();
        failures.retain(|failure| seen.insert(failure.clone()));
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
        token: Option<&Secret>,
        until: Instant,
        idempotent: bool,
    ) -> Result<(u16, Value), Failure> {
        let endpoint = self.endpoints[index].clone();
        let authorization = match token {
            Some(token) => format!("Authorization: {}\r\n", token.expose()),
            None => String::new(),
        };
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             {authorization}Content-Length: {}\r\n\r\n{body}",
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
                Err(Exchange::Failed(why)) => return Err(Failure::Unknown(self.explained(why))),
            }
        }
        let stream = connect(&endpoint.authority, until).map_err(Failure::NotSent)?;
        let transport = if endpoint.tls {
            let config = match &self.tls {
                Some(config) => Arc::clone(config),
                None => {
                    let config =
                        etcd_tls::client_config(&self.tls_files).map_err(Failure::NotSent)?;
                    self.tls = Some(Arc::clone(&config));
                    config
                }
            };
            Transport::handshake(&config, &endpoint.host, stream, until)
                .map_err(|why| Failure::NotSent(self.explained(why)))?
        } else {
            Transport::Plain(stream)
        };
        let mut connection = BufReader::new(transport);
        match send(&mut connection, &request, until) {
            Ok(answer) => {
                if answer.keep_alive {
                    self.connection = Some((index, connection));
                }
                answer.parsed()
            }
            // A member that speaks TLS closes a plain connection without a word.
            Err(Exchange::Closed) if !endpoint.tls => Err(Failure::Unknown(
                "the connection closed before an answer (if the member speaks TLS, use https://)"
                    .into(),
            )),
            Err(Exchange::Closed) => Err(Failure::Unknown(
                "the connection closed before an answer".into(),
            )),
            Err(Exchange::Failed(why)) => Err(Failure::Unknown(self.explained(why))),
        }
    }

    /// `why` a TLS exchange failed, with a hint when a member's alert (TLS 1.3 sends it after
    /// the handshake, on the first read) most likely asks for a client certificate.
    fn explained(&self, why: String) -> String {
        if why.contains("alert") && !self.tls_files.has_client_cert() {
            format!(
                "{why} (does the member require a client certificate? set \
                 SESSION_LOCK_ETCD_CERT and SESSION_LOCK_ETCD_KEY)"
            )
        } else {
            why
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

/// `http://host:port` or `https://host:port` (the port defaults to 2379) as an endpoint.
fn parse_endpoint(url: &str) -> Result<Endpoint, String> {
    let bad = |why: &str| format!("bad etcd endpoint {url:?}: {why}");
    let (rest, tls) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(rest), _) => (rest, false),
        (_, Some(rest)) => (rest, true),
        _ => return Err(bad("expected http://host:port or https://host:port")),
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains(['/', '@', '?', '#', ' ']) {
        return Err(bad("expected http://host:port or https://host:port"));
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
    let host = authority
        .rsplit_once(':')
        .map_or(authority.as_str(), |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok(Endpoint {
        url: url.trim_end_matches('/').to_owned(),
        authority,
        host,
        tls,
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
    connection: &mut BufReader<Transport>,
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
    stream.tcp().set_write_timeout(Some(left)).map_err(timed)?;
    match stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
    {
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
    let status_line = match read_line(connection, until) {
        // TLS: the member closed the connection without a close_notify, before any answer.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => String::new(),
        line => line.map_err(timed)?,
    };
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

fn set_deadline(connection: &BufReader<Transport>, until: Instant) -> io::Result<()> {
    let left = remaining(until).map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?;
    connection.get_ref().tcp().set_read_timeout(Some(left))
}

/// One line of the answer's head (empty at the end of the stream), at most 8 KiB.
fn read_line(connection: &mut BufReader<Transport>, until: Instant) -> io::Result<String> {
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
    connection: &mut BufReader<Transport>,
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
    connection: &mut BufReader<Transport>,
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

fn read_chunked(connection: &mut BufReader<Transport>, until: Instant) -> io::Result<Vec<u8>> {
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

/// Standard base64, padded, as etcd's gateway reads and writes it.
pub fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Standard base64, padded or not; `None` for anything else.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD_PAD_INDIFFERENT.decode(text).ok()
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
        let e = parse_endpoint("https://etcd.internal").unwrap();
        assert!(e.tls && e.host == "etcd.internal" && e.authority == "etcd.internal:2379");
        let e = parse_endpoint("https://[::1]:2379").unwrap();
        assert_eq!((e.host.as_str(), e.tls), ("::1", true));
        assert!(!parse_endpoint("http://etcd").unwrap().tls);
        assert!(parse_endpoint("ftp://etcd:2379").is_err());
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
    fn a_failure_that_says_why_is_kept_when_a_later_pass_only_runs_out_of_time() {
        // A member that closes the first connections without a word (as a TLS member does
        // to plain HTTP), then keeps one open without answering until the budget is spent.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let member = thread::spawn(move || {
            let mut kept = Vec::new();
            for (i, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { break };
                if i >= 2 {
                    kept.push(stream);
                }
                if kept.len() == 2 {
                    thread::sleep(CALL_BUDGET);
                    break;
                }
            }
        });
        let mut store = EtcdStore::new(&[url.as_str()], "p").unwrap();
        let error = store.read("0123456789ab").unwrap_err();
        assert!(
            error.contains("if the member speaks TLS, use https://"),
            "{error}"
        );
        assert!(error.contains("timed out"), "{error}");
        assert_eq!(
            error.matches("closed before an answer").count(),
            1,
            "{error}"
        );
        member.join().unwrap();
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
