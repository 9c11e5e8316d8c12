//! A scripted stand-in model on loopback, for driving a real agent client: what every wire
//! format shares. Users declare [`crate::loopback_http`] too, and give a [`Wire`] (the
//! Responses API of Codex CLI in `responses_api.rs`, the Gemini API in `gemini_api.rs`).
//!
//! Each conversation is recognised by a marker in its prompt. Its first turn request is
//! answered with one tool call ([`Call`]); the request carrying that tool's output is answered
//! with plain text, at once or when the test releases it (to keep a session inside its turn).
//! Every request is recorded, so a test can read the tool output the client sent back: that is
//! what the model was told.

#![allow(
    dead_code,
    reason = "each test file uses its own part of the shared helpers"
)]

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::loopback_http::{Request, Response, Server};

/// A held answer is sent anyway after this long, so a test that forgets to release (or
/// panics before it does) never leaves a client waiting for good.
const MAX_HOLD: Duration = Duration::from_secs(90);

/// The tool call a conversation's first answer asks for. Each wire names the client's own
/// tool for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// The shell runs `command`.
    Shell(String),
    /// The shell tool runs `command` in `dir`, a directory it is given apart from the command
    /// (Gemini CLI's `dir_path`).
    ShellIn {
        /// The command.
        command: String,
        /// Where the tool runs it.
        dir: PathBuf,
    },
    /// Codex's `apply_patch` applies this patch.
    Patch(String),
    /// A file tool writes `content` to `path` (Gemini CLI's `write_file`).
    WriteFile {
        /// The file.
        path: PathBuf,
        /// What to write.
        content: String,
    },
    /// A file tool replaces `old` with `new` in `path` (Gemini CLI's `replace`).
    Replace {
        /// The file.
        path: PathBuf,
        /// The text to find.
        old: String,
        /// Its replacement.
        new: String,
    },
}

/// One conversation's script.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// Text that appears in this conversation's prompt and in no other's.
    pub marker: String,
    /// The tool call its first answer asks for.
    pub call: Call,
    /// Whether the final answer waits for [`ScriptedModel::release`].
    pub hold_final_answer: bool,
}

/// What a turn request of a conversation is answered.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Call this tool; `id` is the conversation's own call id.
    Call {
        /// The call's id.
        id: String,
        /// The call.
        call: Call,
    },
    /// Plain text: the turn ends.
    Text(String),
}

/// How a client's API speaks.
pub trait Wire: Send + Sync + 'static {
    /// Whether `request` is a turn of a conversation (one that may be answered with a tool
    /// call); otherwise it is answered with [`Wire::other`].
    fn is_turn(&self, request: &Request, body: &Value) -> bool;
    /// The answer to a request that is no turn (a token count, a routing question).
    fn other(&self, request: &Request) -> Response;
    /// `reply`, as the API streams it.
    fn render(&self, body: &Value, reply: &Reply) -> Response;
    /// The output of the tool call `id` the client sent back in `body` (a request of that
    /// call's conversation), if there.
    fn tool_output(&self, body: &Value, id: &str) -> Option<String>;
}

struct Script {
    conversation: Conversation,
    id: String,
    released: bool,
}

#[derive(Default)]
struct State {
    scripts: Vec<Script>,
    requests: Vec<(String, Option<Value>)>,
}

struct Shared<W> {
    wire: W,
    state: Mutex<State>,
    /// Notified on every recorded request and every release.
    changed: Condvar,
}

impl<W> Shared<W> {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking handler thread must not take the test's view of the requests with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The stand-in model: serving until dropped.
pub struct ScriptedModel<W: Wire> {
    shared: Arc<Shared<W>>,
    server: Option<Server>,
}

impl<W: Wire> ScriptedModel<W> {
    /// Starts the stand-in speaking `wire` on loopback.
    pub fn start(wire: W) -> ScriptedModel<W> {
        let shared = Arc::new(Shared {
            wire,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let server = {
            let shared = Arc::clone(&shared);
            Server::start(move |request| answer(&shared, &request))
        };
        ScriptedModel {
            shared,
            server: Some(server),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.server.as_ref().unwrap().base_url()
    }

    /// Adds a conversation; returns the id of the tool call it will be sent.
    pub fn add(&self, conversation: Conversation) -> String {
        let mut state = self.shared.lock();
        let id = format!("call_e2e_{:02}", state.scripts.len() + 1);
        state.scripts.push(Script {
            conversation,
            id: id.clone(),
            released: false,
        });
        id
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

    /// The output of tool call `id`, once a request carrying it has arrived.
    pub fn tool_output(&self, id: &str) -> Option<String> {
        let state = self.shared.lock();
        self.find_output(&state, id)
    }

    /// Waits up to `timeout` for the output of tool call `id`.
    pub fn wait_for_tool_output(&self, id: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            let found = self.find_output(&state, id);
            let left = deadline.saturating_duration_since(Instant::now());
            if found.is_some() || left.is_zero() {
                return found;
            }
            state = self.shared.changed.wait_timeout(state, left).unwrap().0;
        }
    }

    /// `METHOD path` of every request so far, for failure messages.
    pub fn request_lines(&self) -> Vec<String> {
        self.shared
            .lock()
            .requests
            .iter()
            .map(|(line, _)| line.clone())
            .collect()
    }

    /// The body, as JSON text, of every request so far that holds `marker` (a conversation's
    /// marker: its requests), in the order they came.
    pub fn requests_holding(&self, marker: &str) -> Vec<String> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter_map(|(_, body)| body.as_ref().map(Value::to_string))
            .filter(|body| body.contains(marker))
            .collect()
    }

    /// Only the requests of the conversation the call belongs to are looked at: a client
    /// may give the call an id of its own.
    fn find_output(&self, state: &State, id: &str) -> Option<String> {
        let marker = &state
            .scripts
            .iter()
            .find(|s| s.id == id)?
            .conversation
            .marker;
        state
            .requests
            .iter()
            .filter_map(|(_, body)| body.as_ref())
            .filter(|body| body.to_string().contains(marker.as_str()))
            .find_map(|body| self.shared.wire.tool_output(body, id))
    }
}

impl<W: Wire> Drop for ScriptedModel<W> {
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

fn answer<W: Wire>(shared: &Shared<W>, request: &Request) -> Response {
    let body = request.json();
    {
        let mut state = shared.lock();
        let line = format!("{} {}", request.method, request.path);
        state.requests.push((line, body.clone()));
        shared.changed.notify_all();
    }
    match body {
        Some(body) if shared.wire.is_turn(request, &body) => {
            let reply = decide(shared, &body);
            shared.wire.render(&body, &reply)
        }
        _ => shared.wire.other(request),
    }
}

/// Chooses the reply, holding a conversation's final answer until it is released.
fn decide<W: Wire>(shared: &Shared<W>, body: &Value) -> Reply {
    let text = body.to_string();
    let mut state = shared.lock();
    let Some(index) = state
        .scripts
        .iter()
        .position(|s| text.contains(&s.conversation.marker))
    else {
        // A request of no scripted conversation: plain text.
        return Reply::Text("ok".into());
    };
    let id = state.scripts[index].id.clone();
    if shared.wire.tool_output(body, &id).is_none() {
        let call = state.scripts[index].conversation.call.clone();
        return Reply::Call { id, call };
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
