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

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::loopback_http::{Request, Response, Server};

/// A held answer is sent anyway after this long, so a test that forgets to release (or
/// panics before it does) never leaves a client waiting for good.
const MAX_HOLD: Duration = Duration::from_secs(60);

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
    /// `ToolSearch` loads the deferred tools `query` names (`select:EnterWorktree`): the client
    /// offers some tools by name only until the model asks for them.
    ToolSearch {
        /// What to load.
        query: String,
    },
    /// `EnterWorktree` moves the session into a new git worktree named `name`.
    EnterWorktree {
        /// The worktree's name (`.claude/worktrees/<name>`, branch `worktree-<name>`).
        name: String,
    },
}

impl ToolCall {
    /// The tool's name, as the client offers it in `tools`.
    pub fn name(&self) -> &'static str {
        match self {
            ToolCall::Write { .. } => "Write",
            ToolCall::Bash { .. } => "Bash",
            ToolCall::ToolSearch { .. } => "ToolSearch",
            ToolCall::EnterWorktree { .. } => "EnterWorktree",
        }
    }

    /// The `tool_use`'s input.
    fn input(&self) -> Value {
        match self {
            ToolCall::Write { file_path, content } => {
                json!({"file_path": file_path, "content": content})
            }
            ToolCall::Bash { command } => json!({"command": command, "description": command}),
            ToolCall::ToolSearch { query } => json!({"query": query, "max_results": 1}),
            ToolCall::EnterWorktree { name } => json!({"name": name}),
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
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking handler thread must not take the test's view of the requests with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The stand-in server: listening on `127.0.0.1`, an ephemeral port, until dropped.
pub struct MessagesApi {
    shared: Arc<Shared>,
    server: Option<Server>,
}

impl MessagesApi {
    /// Starts the server on loopback.
    pub fn start() -> MessagesApi {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let server = {
            let shared = Arc::clone(&shared);
            Server::start(move |request| serve(&request, &shared))
        };
        MessagesApi {
            shared,
            server: Some(server),
        }
    }

    /// The URL to give the client as `ANTHROPIC_BASE_URL`.
    pub fn base_url(&self) -> String {
        self.server.as_ref().unwrap().base_url()
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
        {
            let mut state = self.shared.lock();
            for script in &mut state.scripts {
                script.released = true;
            }
        }
        self.shared.changed.notify_all();
        self.server.take();
    }
}

fn serve(request: &Request, shared: &Shared) -> Response {
    let body = request.json();
    {
        let mut state = shared.lock();
        state.requests.push(Recorded {
            method: request.method.clone(),
            path: request.path.clone(),
            body: body.clone(),
        });
        shared.changed.notify_all();
    }
    match (request.method.as_str(), request.route()) {
        ("POST", "/v1/messages") => match body {
            Some(body) => answer_messages(shared, &body),
            None => error(400, "invalid_request_error", "body is not JSON"),
        },
        ("POST", "/v1/messages/count_tokens") => {
            Response::json(&json!({"input_tokens": request.body.len() / 4 + 1}))
        }
        ("HEAD", _) => Response::empty(),
        _ => error(404, "not_found_error", "not in this stand-in"),
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

fn answer_messages(shared: &Shared, body: &Value) -> Response {
    let reply = decide(shared, body);
    let model = body["model"]
        .as_str()
        .unwrap_or("claude-stand-in")
        .to_owned();
    if body["stream"].as_bool() == Some(true) {
        // Each event is named by its `type`.
        let events = stream_events(&model, &reply);
        let names: Vec<String> = events
            .iter()
            .map(|event| event["type"].as_str().unwrap().to_owned())
            .collect();
        let named: Vec<(Option<&str>, Value)> =
            names.iter().map(|n| Some(n.as_str())).zip(events).collect();
        Response::events(&named)
    } else {
        let (content, stop_reason) = content_of(&reply);
        let message = json!({
            "id": message_id(), "type": "message", "role": "assistant", "model": model,
            "content": [content], "stop_reason": stop_reason, "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        });
        Response::json(&message)
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

/// An error answer of the API.
fn error(status: u16, kind: &str, message: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    Response::with_status(status, &body)
}
