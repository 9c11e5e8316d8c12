//! One hook event in, one answer out: the whole of what `session-lock hook` decides.

use crate::decision::{decide, printable};
use crate::lock::{self, AcquireResult, RefreshResult, ReleaseResult, Session};
use crate::protocol::{self, Action, Agent, Answer, Event};
use crate::store::LockStore;
use crate::workspace::workspace_hash;

/// Whether decisions are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A blocked session is refused.
    Enforce,
    /// Nothing is refused; what would have been is reported on stderr.
    Observe,
}

/// Facts about the event that only the host can gather.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookContext {
    /// The resolved workspace.
    pub workspace: String,
    /// The process running the agent session.
    pub pid: u32,
    /// Milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// The ttl of records written for this event.
    pub ttl_ms: u64,
    /// The agent, when the host was told; else recognised from the event.
    pub agent: Option<Agent>,
    /// Enforce or observe.
    pub mode: Mode,
}

/// Handles one hook event. Never fails: a fault of its own answers "allow" and says why on
/// stderr, so a user is never locked out of their session by this tool.
pub fn handle(store: &mut impl LockStore, event: &[u8], context: &HookContext) -> Answer {
    let event = match Event::parse(event) {
        Ok(event) => event,
        Err(why) => return fail_open(context.agent.unwrap_or(Agent::ClaudeCode), "", &why),
    };
    let agent = context.agent.unwrap_or_else(|| event.agent());
    let name = event.name();
    let action = event.action(agent);
    if action == Action::Nothing {
        return protocol::allow(agent, name);
    }
    let Some(session_id) = event.session_id(agent) else {
        return fail_open(agent, name, &format!("{name} event has no session id"));
    };
    let session = Session {
        id: session_id.to_owned(),
        pid: context.pid,
    };
    let key = workspace_hash(&context.workspace);
    let observed = match action {
        Action::Acquire => {
            let result = lock::acquire(store, &key, &session, context.now_ms, context.ttl_ms);
            match result {
                Ok(acquired) => return answer_acquire(agent, name, &session, &acquired, context),
                Err(error) => Err(error),
            }
        }
        Action::Refresh => {
            lock::refresh(store, &key, &session, context.now_ms).map(|r| describe_refresh(&r))
        }
        Action::Release => lock::release(store, &key, &session.id).map(|r| describe_release(&r)),
        Action::Nothing => unreachable!("handled above"),
    };
    match observed {
        Err(error) => fail_open(agent, name, &error.to_string()),
        Ok(what) if context.mode == Mode::Observe => with_log(protocol::allow(agent, name), &what),
        Ok(_) => protocol::allow(agent, name),
    }
}

/// The answer to an acquire: deny when another session holds a fresh lock, unless observing.
fn answer_acquire(
    agent: Agent,
    name: &str,
    session: &Session,
    result: &AcquireResult,
    context: &HookContext,
) -> Answer {
    let decision = decide(Some(result), &session.id, context.now_ms);
    match (decision.reason, context.mode) {
        (Some(reason), Mode::Enforce) => protocol::deny(agent, &reason),
        (Some(reason), Mode::Observe) => with_log(
            protocol::allow(agent, name),
            &format!("would deny {}: {reason}", printable(&session.id)),
        ),
        (None, Mode::Observe) => with_log(protocol::allow(agent, name), &describe_acquire(result)),
        (None, Mode::Enforce) => protocol::allow(agent, name),
    }
}

fn describe_acquire(result: &AcquireResult) -> String {
    match result {
        AcquireResult::Acquired(r) => format!("{} acquired the lock", printable(&r.session_id)),
        AcquireResult::TakenOver { taken, previous } => format!(
            "{} took over the stale lock of {}",
            printable(&taken.session_id),
            printable(&previous.session_id)
        ),
        AcquireResult::Reacquired(r) => {
            format!("{} still holds the lock", printable(&r.session_id))
        }
        AcquireResult::Blocked(r) => format!("lock held by {}", printable(&r.session_id)),
    }
}

fn describe_refresh(result: &RefreshResult) -> String {
    match result {
        RefreshResult::Refreshed(r) => format!("{} refreshed the lock", printable(&r.session_id)),
        RefreshResult::NotHeld(Some(r)) => {
            format!(
                "nothing refreshed: lock held by {}",
                printable(&r.session_id)
            )
        }
        RefreshResult::NotHeld(None) => "nothing refreshed: lock is free".to_owned(),
    }
}

fn describe_release(result: &ReleaseResult) -> String {
    match result {
        ReleaseResult::Released(r) => format!("{} released the lock", printable(&r.session_id)),
        ReleaseResult::NotHeld(Some(r)) => {
            format!(
                "nothing released: lock held by {}",
                printable(&r.session_id)
            )
        }
        ReleaseResult::NotHeld(None) => "nothing released: lock is free".to_owned(),
    }
}

/// Adds one observe-mode line to an answer's stderr.
fn with_log(mut answer: Answer, what: &str) -> Answer {
    answer.stderr = format!("session-lock: observe: {what}\n");
    answer
}

/// Allows, and says on stderr why the lock could not be checked.
fn fail_open(agent: Agent, name: &str, why: &str) -> Answer {
    let mut answer = protocol::allow(agent, name);
    let why: String = why
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    answer.stderr = format!("session-lock: {why}; allowing without the lock\n");
    answer
}
