//! The OpenAI Responses API as Codex CLI speaks it, for [`crate::scripted_model`]: the
//! client POSTs `/v1/responses` (a `model_providers` entry with `wire_api = "responses"` and
//! `base_url = "http://127.0.0.1:PORT/v1"`) and reads server-sent events: `response.created`,
//! one `response.output_item.done` per item, `response.completed`. A shell call is an
//! `exec_command` function call, a patch a call of the freeform `apply_patch` tool; their
//! outputs come back as `function_call_output` and `custom_tool_call_output` input items.

#![allow(
    dead_code,
    reason = "each test file uses its own part of the shared helpers"
)]

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::loopback_http::{Request, Response};
use crate::scripted_model::{Call, Reply, Wire};

/// Codex CLI's wire.
pub struct ResponsesApi;

impl Wire for ResponsesApi {
    fn is_turn(&self, request: &Request, _body: &Value) -> bool {
        request.method == "POST" && request.route() == "/v1/responses"
    }

    fn other(&self, request: &Request) -> Response {
        match request.method.as_str() {
            "HEAD" => Response::empty(),
            // `/v1/models` and the like: the client falls back to its own model metadata.
            _ => Response::with_status(
                404,
                &json!({"error": {"message": "not in this stand-in", "type": "not_found"}}),
            ),
        }
    }

    fn render(&self, _body: &Value, reply: &Reply) -> Response {
        let item = match reply {
            Reply::Call {
                id,
                call: Call::Shell(command),
            } => json!({
                "type": "function_call", "id": format!("fc_{id}"), "call_id": id,
                "name": "exec_command", "arguments": json!({"cmd": command}).to_string(),
            }),
            Reply::Call {
                id,
                call: Call::Patch(patch),
            } => json!({
                "type": "custom_tool_call", "id": format!("ctc_{id}"), "call_id": id,
                "name": "apply_patch", "input": patch,
            }),
            Reply::Call { call, .. } => panic!("Codex CLI has no tool for {call:?}"),
            Reply::Text(text) => json!({
                "type": "message", "role": "assistant", "id": format!("msg_{}", next_id()),
                "content": [{"type": "output_text", "text": text}],
            }),
        };
        let response_id = format!("resp_e2e_{}", next_id());
        Response::events(&[
            (
                Some("response.created"),
                json!({"type": "response.created", "response": {"id": response_id}}),
            ),
            (
                Some("response.output_item.done"),
                json!({"type": "response.output_item.done", "item": item}),
            ),
            (
                Some("response.completed"),
                json!({"type": "response.completed", "response": {
                    "id": response_id,
                    "usage": {"input_tokens": 10, "input_tokens_details": null,
                              "output_tokens": 5, "output_tokens_details": null,
                              "total_tokens": 15},
                }}),
            ),
        ])
    }

    fn tool_output(&self, body: &Value, id: &str) -> Option<String> {
        body["input"].as_array()?.iter().find_map(|item| {
            let kind = item["type"].as_str()?;
            let answers = matches!(kind, "function_call_output" | "custom_tool_call_output")
                && item["call_id"] == id;
            answers.then(|| match &item["output"] {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
        })
    }
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::SeqCst)
}
