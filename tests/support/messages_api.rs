//! A scripted stand-in for the Anthropic Messages API on loopback, for driving the real Claude
//! Code client.
//!
//! Each conversation is recognised by a marker in its prompt. Its first request is answered
//! with one `tool_use` ([`ToolCall`]: a `Write` of a file, or a `Bash` command); the request
//! carrying that tool's `tool_result` is answered with plain text (at once, or when the test
//! releases it, to keep a session inside its turn). A conversation added with
//! [`MessagesApi::add_calls`] asks for several tool calls instead, one per turn, in order. Answers are streamed as the real API
//! streams them (server-sent events: `message_start`, `content_block_start`/`delta`/`stop`,
//! `message_delta`, `message_stop`). Every request is recorded, so a test can read the
//! `tool_result` the client sent back.

#![allow(
    dead_code,
    reason = "each test file uses its own part of the shared helpers"
)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A held answer is sent anyway after this long, so a test that forgets to release (or
/// panics before it does) never leaves a client waiting for good.
const MAX_HOLD: Duration = Duration::from_secs(60);

/// A client that stops sending mid-request is dropped after this long.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Requests larger than this are refused (the client's are ~50 KiB).
const MAX_BODY_BYTES: usize = 32 << 20;

/// The tool call a conversation's first answer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolCall {
    /// `Write` `content` to `file_path`.
    Write {
        /// The file to create.
        file_path: PathBuf,
        /// What to write there.
        content: String,
    },
    /// `Bash` runs `command`.
    Bash {
        /// The command line.
        command: String,
    },
}

impl ToolCall {
    /// The tool's name, as the client offers it in `tools`.
    pub fn name(&self) -> &'static str {
        match self {
            ToolCall::Write { .. } => "Write",
            ToolCall::Bash { .. } => "Bash",
        }
    }

    /// The `tool_use`'s input.
    fn input(&self) -> Value {
        match self {
            ToolCall::Write { file_path, content } => {
                json!({"file_path": file_path, "content": content})
            }
            ToolCall::Bash { command } => json!({"command": command, "description": command}),
        }
    }
}

/// One conversation's script.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// Text that appears in this conversation's prompt and in no other's.
    pub marker: String,
    /// The tool call its first answer asks for.
    pub call: ToolCall,
    /// Whether the final answer waits for [`MessagesApi::release`].
    pub hold_final_answer: bool,
}

/// The `tool_result` a client sent back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolResult {
    /// The block's `is_error` (absent reads as false).
    pub is_error: bool,
    /// The block's content as text (text blocks joined).
    pub text: String,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `POST`, `GET`, `HEAD`, …
    pub method: String,
    /// The request target, query included.
    pub path: String,
    /// The body, when it was JSON.
    pub body: Option<Value>,
}

struct Script {
    conversation: Conversation,
    tool_use_id: String,
    released: bool,
    /// The tool calls asked for after the first one, in order, each with its `tool_use` id.
    then: Vec<(ToolCall, String)>,
}

#[derive(Default)]
struct State {
    scripts: Vec<Script>,
    requests: Vec<Recorded>,
}

struct Shared {
    state: Mutex<State>,
    /// Notified on every recorded request and every release.
    changed: Condvar,
    stopping: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking handler thread must not take the test's view of the requests with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The stand-in server: listening on `127.0.0.1`, an ephemeral port, until dropped.
pub struct MessagesApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl MessagesApi {
    /// Starts the server on loopback.
    pub fn start() -> MessagesApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stopping: AtomicBool::new(false),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if shared.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = Arc::clone(&shared);
                    // Each connection answers one request and closes (`Connection: close`), so
                    // a held answer never blocks another conversation.
                    thread::spawn(move || {
                        let _ = serve(stream, &shared);
                    });
                }
            })
        };
        MessagesApi {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The URL to give the client as `ANTHROPIC_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a conversation; returns the id of the `tool_use` it will be sent.
    pub fn add(&self, conversation: Conversation) -> String {
        let mut state = self.shared.lock();
        let tool_use_id = format!("toolu_e2e_{:02}", state.scripts.len() + 1);
        state.scripts.push(Script {
            conversation,
            tool_use_id: tool_use_id.clone(),
            released: false,
            then: Vec::new(),
        });
        tool_use_id
    }

    /// Adds a conversation that asks for each of `calls` in turn (the next one once the
    /// previous one's `tool_result` has come), then ends with plain text; returns their
    /// `tool_use` ids, in order. `calls` is not empty.
    pub fn add_calls(&self, marker: &str, calls: Vec<ToolCall>) -> Vec<String> {
        let mut calls = calls.into_iter();
        let first = calls.next().expect("at least one tool call");
        let first_id = self.add(Conversation {
            marker: marker.to_owned(),
            call: first,
            hold_final_answer: false,
        });
        let mut state = self.shared.lock();
        let script = state.scripts.last_mut().expect("just added");
        script.then = calls
            .enumerate()
            .map(|(i, call)| (call, format!("{first_id}_{:03}", i + 1)))
            .collect();
        let mut ids = vec![first_id];
        ids.extend(script.then.iter().map(|(_, id)| id.clone()));
        ids
    }

    /// Lets the held final answer of the conversation with `marker` go.
    pub fn release(&self, marker: &str) {
        let mut state = self.shared.lock();
        for script in &mut state.scripts {
            if script.conversation.marker == marker {
                script.released = true;
            }
        }
        self.shared.changed.notify_all();
    }

    /// The `tool_result` that answers `tool_use_id`, once a request carrying it has arrived.
    pub fn tool_result(&self, tool_use_id: &str) -> Option<ToolResult> {
        let state = self.shared.lock();
        state
            .requests
            .iter()
            .filter_map(|r| r.body.as_ref())
            .find_map(|body| find_tool_result(body, tool_use_id))
    }

    /// Waits up to `timeout` for the `tool_result` that answers `tool_use_id`.
    pub fn wait_for_tool_result(&self, tool_use_id: &str, timeout: Duration) -> Option<ToolResult> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            let found = state
                .requests
                .iter()
                .filter_map(|r| r.body.as_ref())
                .find_map(|body| find_tool_result(body, tool_use_id));
            let left = deadline.saturating_duration_since(Instant::now());
            if found.is_some() || left.is_zero() {
                return found;
            }
            state = self.shared.changed.wait_timeout(state, left).unwrap().0;
        }
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// `METHOD path` of every request so far, for failure messages.
    pub fn request_lines(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

impl Drop for MessagesApi {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        {
            let mut state = self.shared.lock();
            for script in &mut state.scripts {
                script.released = true;
            }
        }
        self.shared.changed.notify_all();
        // Wakes the acceptor so it sees `stopping`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// A parsed request.
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let Some(request) = read_request(&mut reader)? else {
        return Ok(());
    };
    let body: Option<Value> = serde_json::from_slice(&request.body).ok();
    {
        let mut state = shared.lock();
        state.requests.push(Recorded {
            method: request.method.clone(),
            path: request.path.clone(),
            body: body.clone(),
        });
        shared.changed.notify_all();
    }
    let route = request.path.split('?').next().unwrap_or_default();
    let mut stream = stream;
    match (request.method.as_str(), route) {
        ("POST", "/v1/messages") => match body {
            Some(body) => answer_messages(&mut stream, shared, &body),
            None => respond_error(
                &mut stream,
                400,
                "invalid_request_error",
                "body is not JSON",
            ),
        },
        ("POST", "/v1/messages/count_tokens") => respond_json(
            &mut stream,
            200,
            &json!({"input_tokens": request.body.len() / 4 + 1}),
        ),
        ("HEAD", _) => respond(&mut stream, 200, "text/plain", b""),
        _ => respond_error(&mut stream, 404, "not_found_error", "not in this stand-in"),
    }
}

/// Reads one HTTP/1.1 request; `None` when the peer closed before sending one.
fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if length > MAX_BODY_BYTES {
            return Err(std::io::Error::other("request body too large"));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    };
    Ok(Some(Request { method, path, body }))
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line)?;
        let size_text = size_line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| std::io::Error::other("bad chunk size"))?;
        if body.len() + size > MAX_BODY_BYTES {
            return Err(std::io::Error::other("request body too large"));
        }
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        body.extend_from_slice(&chunk[..size]);
        if size == 0 {
            return Ok(body);
        }
    }
}

/// What the conversation with this request's marker (if any) is answered.
enum Reply {
    ToolUse {
        tool_use_id: String,
        name: &'static str,
        input: Value,
    },
    Text(String),
}

fn answer_messages(stream: &mut TcpStream, shared: &Shared, body: &Value) -> std::io::Result<()> {
    let reply = decide(shared, body);
    let model = body["model"]
        .as_str()
        .unwrap_or("claude-stand-in")
        .to_owned();
    if body["stream"].as_bool() == Some(true) {
        let events = stream_events(&model, &reply);
        let mut text = String::new();
        for event in events {
            text.push_str(&format!(
                "event: {}\ndata: {}\n\n",
                event["type"].as_str().unwrap(),
                event
            ));
        }
        respond(stream, 200, "text/event-stream", text.as_bytes())
    } else {
        let (content, stop_reason) = content_of(&reply);
        let message = json!({
            "id": message_id(), "type": "message", "role": "assistant", "model": model,
            "content": [content], "stop_reason": stop_reason, "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        });
        respond_json(stream, 200, &message)
    }
}

/// Chooses the reply, holding a conversation's final answer until it is released.
fn decide(shared: &Shared, body: &Value) -> Reply {
    let messages = body["messages"].to_string();
    let offers = |name: &str| {
        body["tools"]
            .as_array()
            .is_some_and(|tools| tools.iter().any(|t| t["name"] == name))
    };
    let mut state = shared.lock();
    let Some(index) = state
        .scripts
        .iter()
        .position(|s| messages.contains(&s.conversation.marker))
    else {
        // A request of no scripted conversation (a title, a summary): plain text.
        return Reply::Text("ok".into());
    };
    let tool_use_id = state.scripts[index].tool_use_id.clone();
    let answered = find_tool_result(body, &tool_use_id).is_some();
    if !answered {
        let call = &state.scripts[index].conversation.call;
        // A side request of the conversation (one that offers no such tool): plain text.
        if !offers(call.name()) {
            return Reply::Text("ok".into());
        }
        return Reply::ToolUse {
            tool_use_id,
            name: call.name(),
            input: call.input(),
        };
    }
    if let Some((call, id)) = state.scripts[index]
        .then
        .iter()
        .find(|(_, id)| find_tool_result(body, id).is_none())
    {
        if !offers(call.name()) {
            return Reply::Text("ok".into());
        }
        return Reply::ToolUse {
            tool_use_id: id.clone(),
            name: call.name(),
            input: call.input(),
        };
    }
    let deadline = Instant::now() + MAX_HOLD;
    while state.scripts[index].conversation.hold_final_answer && !state.scripts[index].released {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        state = shared.changed.wait_timeout(state, left).unwrap().0;
    }
    Reply::Text("Done.".into())
}

/// The content block and stop reason of a reply.
fn content_of(reply: &Reply) -> (Value, &'static str) {
    match reply {
        Reply::ToolUse {
            tool_use_id,
            name,
            input,
        } => (
            json!({"type": "tool_use", "id": tool_use_id, "name": name, "input": input}),
            "tool_use",
        ),
        Reply::Text(text) => (json!({"type": "text", "text": text}), "end_turn"),
    }
}

/// The server-sent events of a streamed reply, as the real API sends them.
fn stream_events(model: &str, reply: &Reply) -> Vec<Value> {
    let (content, stop_reason) = content_of(reply);
    let (start_block, delta) = match reply {
        Reply::ToolUse {
            tool_use_id,
            name,
            input,
        } => (
            json!({"type": "tool_use", "id": tool_use_id, "name": name, "input": {}}),
            json!({"type": "input_json_delta", "partial_json": input.to_string()}),
        ),
        Reply::Text(_) => (
            json!({"type": "text", "text": ""}),
            json!({"type": "text_delta", "text": content["text"]}),
        ),
    };
    vec![
        json!({"type": "message_start", "message": {
            "id": message_id(), "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 1},
        }}),
        json!({"type": "content_block_start", "index": 0, "content_block": start_block}),
        json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta",
               "delta": {"stop_reason": stop_reason, "stop_sequence": null},
               "usage": {"output_tokens": 5}}),
        json!({"type": "message_stop"}),
    ]
}

fn message_id() -> String {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("msg_e2e_{:04}", NEXT.fetch_add(1, Ordering::SeqCst))
}

/// The `tool_result` block answering `tool_use_id` in a request body, if any.
fn find_tool_result(body: &Value, tool_use_id: &str) -> Option<ToolResult> {
    let blocks = body["messages"]
        .as_array()?
        .iter()
        .filter_map(|m| m["content"].as_array())
        .flatten();
    blocks
        .filter(|b| b["type"] == "tool_result" && b["tool_use_id"] == tool_use_id)
        .map(|b| ToolResult {
            is_error: b["is_error"].as_bool().unwrap_or(false),
            text: match &b["content"] {
                Value::String(text) => text.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => String::new(),
            },
        })
        .next()
}

fn respond_json(stream: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    respond(
        stream,
        status,
        "application/json",
        body.to_string().as_bytes(),
    )
}

fn respond_error(
    stream: &mut TcpStream,
    status: u16,
    kind: &str,
    message: &str,
) -> std::io::Result<()> {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    respond_json(stream, status, &body)
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Status",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         request-id: req_e2e\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}
