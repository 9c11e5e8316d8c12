//! The Gemini API as Gemini CLI speaks it, for [`crate::scripted_model`]: the client POSTs
//! `/v1beta/models/<model>:streamGenerateContent?alt=sse` (with `GOOGLE_GEMINI_BASE_URL`) for
//! each turn and reads server-sent events, each a `GenerateContentResponse`; side questions
//! (routing, the next speaker) go to `:generateContent` and are answered with an empty JSON
//! object as text. A tool's result comes back as a `functionResponse` part.

#![allow(
    dead_code,
    reason = "each test file uses its own part of the shared helpers"
)]

use serde_json::{Value, json};

use crate::loopback_http::{Request, Response};
use crate::scripted_model::{Call, Reply, Wire};

/// Gemini CLI's wire.
pub struct GeminiApi;

impl Wire for GeminiApi {
    fn is_turn(&self, request: &Request, body: &Value) -> bool {
        // A turn offers the tools; a side question asks for none.
        request.route().ends_with(":streamGenerateContent") && body.get("tools").is_some()
    }

    fn other(&self, request: &Request) -> Response {
        let route = request.route();
        if route.ends_with(":countTokens") {
            return Response::json(&json!({"totalTokens": request.body.len() / 4 + 1}));
        }
        let candidate = candidate(json!([{"text": "{}"}]));
        if route.ends_with(":streamGenerateContent") {
            Response::events(&[(None, candidate)])
        } else {
            Response::json(&candidate)
        }
    }

    fn render(&self, _body: &Value, reply: &Reply) -> Response {
        let part = match reply {
            Reply::Call { id, call } => {
                let (name, args) = match call {
                    Call::Shell(command) => ("run_shell_command", json!({"command": command})),
                    Call::ShellIn { command, dir } => (
                        "run_shell_command",
                        json!({"command": command, "dir_path": dir}),
                    ),
                    Call::WriteFile { path, content } => {
                        ("write_file", json!({"file_path": path, "content": content}))
                    }
                    Call::Replace { path, old, new } => (
                        "replace",
                        json!({"file_path": path, "old_string": old, "new_string": new,
                               "instruction": "replace the text"}),
                    ),
                    Call::Patch(_) => panic!("Gemini CLI has no patch tool"),
                };
                json!({"functionCall": {"id": id, "name": name, "args": args}})
            }
            Reply::Text(text) => json!({"text": text}),
        };
        Response::events(&[(None, candidate(json!([part])))])
    }

    /// The client gives each call an id of its own: the conversation's first
    /// `functionResponse` is the call's.
    fn tool_output(&self, body: &Value, _id: &str) -> Option<String> {
        let parts = body["contents"]
            .as_array()?
            .iter()
            .filter_map(|c| c["parts"].as_array())
            .flatten();
        parts
            .filter_map(|part| part.get("functionResponse"))
            .map(|answer| {
                let response = &answer["response"];
                match (&response["error"], &response["output"]) {
                    (Value::String(error), _) => error.clone(),
                    (_, Value::String(output)) => output.clone(),
                    _ => response.to_string(),
                }
            })
            .next()
    }
}

/// A `GenerateContentResponse` with one finished candidate of `parts`.
fn candidate(parts: Value) -> Value {
    json!({
        "candidates": [{"content": {"role": "model", "parts": parts},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5,
                          "totalTokenCount": 15},
    })
}
