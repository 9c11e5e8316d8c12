//! One hook event in, one answer out: the whole of what `session-lock hook` decides.
//!
//! A host runs an event in two calls: [`targets`] names the paths the event touches, the host
//! resolves them, and [`handle`] decides on the resolved paths.

use crate::agents::{Action, Agent, Answer, Event, Protocol, Touches};
use crate::decision::decide;
use crate::lock::{self, AcquireResult, PolicyError, RefreshResult, ReleaseResult, Session};
use crate::message::{self, one_line, printable};
use crate::processes::Processes;
use crate::settings::{self, Mode, Settings};
use crate::shell;
use crate::store::LockStore;
use crate::workspace::{self, Kind, Resolved};

/// What the host knows before it reads anything on the event's behalf.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invocation {
    /// The agent, when the host was told; else recognised from the event.
    pub agent: Option<Agent>,
    /// The variables [`settings::variables`] names that are set.
    pub environment: Vec<(String, String)>,
    /// The hook process's working directory.
    pub process_cwd: String,
    /// The hook process's parent.
    pub parent_pid: u32,
}

/// Facts about the event that only the host can gather.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookContext {
    /// What the host knew before reading anything.
    pub invocation: Invocation,
    /// The paths [`targets`] named, resolved, in order; `None` where one could not be.
    pub resolved: Vec<Option<Resolved>>,
    /// Milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// How long the host has already waited for this event's lock.
    pub waited_ms: u64,
}

/// How often a waiting session asks for the lock again.
pub const WAIT_POLL_MS: u64 = 250;

/// An event read: its agent, what it asks, and the paths it touches.
struct Plan {
    event: Event,
    protocol: &'static dyn Protocol,
    action: Action,
    /// The session's own directory first, then what the tool touches.
    targets: Vec<(String, Kind)>,
    /// Why the tool may change any workspace, when it may (`shell::scope`): it then needs
    /// every lock in the store.
    anywhere: Option<String>,
}

impl Plan {
    /// Reads `event`; `Err` carries why it is not an event.
    fn read(bytes: &[u8], invocation: &Invocation) -> Result<Plan, String> {
        let event = Event::parse(bytes)?;
        let agent = invocation.agent.unwrap_or_else(|| Agent::recognise(&event));
        let protocol = agent.protocol();
        let environment = &invocation.environment;
        let session_dir = settings::project_dir(protocol, environment)
            .or_else(|| protocol.directory(&event))
            .unwrap_or(&invocation.process_cwd)
            .to_owned();
        let here = protocol
            .directory(&event)
            .map_or_else(|| session_dir.clone(), str::to_owned);
        let mut action = protocol.action(&event);
        let mut targets = vec![(session_dir, Kind::Directory)];
        let mut anywhere = None;
        if let Action::Acquire(touches) | Action::Refresh(touches) = &action {
            match touches {
                Touches::Files(paths) => targets.extend(
                    paths
                        .iter()
                        .map(|path| (workspace::join(&here, path), Kind::File)),
                ),
                Touches::Shell { line, workdir, .. } => {
                    if shell::classify(line).read_only {
                        // Reading needs no lock: it is neither taken nor refreshed.
                        action = Action::Nothing;
                    } else {
                        let start = match workdir {
                            Some(dir) => workspace::join(&here, dir),
                            None => here,
                        };
                        // The session's own workspace, whatever the command `cd`s to.
                        if targets[0].0 != start {
                            targets.push((targets[0].0.clone(), Kind::Directory));
                        }
                        let scope = shell::scope::of_line(line, &start);
                        targets.extend(scope.targets);
                        anywhere = scope.anywhere;
                    }
                }
                Touches::Workspace => targets.push((here, Kind::Directory)),
            }
        }
        Ok(Plan {
            event,
            protocol,
            action,
            targets,
            anywhere,
        })
    }
}

/// The absolute paths the host must resolve for `event`: the session's own directory first,
/// then what the event's tool touches. An event that cannot be read names the session's
/// directory only (`handle` reports it).
pub fn targets(event: &[u8], invocation: &Invocation) -> Vec<String> {
    match Plan::read(event, invocation) {
        Ok(plan) => plan.targets.into_iter().map(|(path, _)| path).collect(),
        Err(_) => vec![invocation.process_cwd.clone()],
    }
}

/// Handles one hook event. Never fails: a fault of its own answers "allow", says why on stderr
/// and, where the agent shows one, in a warning to the person, so a user is never locked out
/// of their session by this tool, and never unprotected without knowing it.
pub fn handle(
    store: &mut impl LockStore,
    processes: &mut impl Processes,
    event: &[u8],
    context: &HookContext,
) -> Answer {
    let invocation = &context.invocation;
    let settings = Settings::read(&invocation.environment);
    let plan = match Plan::read(event, invocation) {
        Ok(plan) => plan,
        Err(why) => {
            let agent = invocation.agent.unwrap_or(Agent::ClaudeCode);
            let answer = fail_open(agent.protocol(), &Event::default(), true, &why);
            return with_warnings(answer, &settings);
        }
    };
    let answer = run(store, processes, &plan, context, &settings);
    with_warnings(answer, &settings)
}

fn run(
    store: &mut impl LockStore,
    processes: &mut impl Processes,
    plan: &Plan,
    context: &HookContext,
    settings: &Settings,
) -> Answer {
    let Plan {
        event,
        protocol,
        action,
        ..
    } = plan;
    let protocol = *protocol;
    let acquiring = matches!(action, Action::Acquire(_));
    if *action == Action::Nothing {
        return protocol.allow(event);
    }
    let Some(session_id) = protocol.session_id(event) else {
        let why = format!("{} event has no session id", event.name());
        return fail_open(protocol, event, acquiring, &why);
    };
    let workspaces = match workspaces(plan, &context.resolved) {
        Ok(workspaces) => workspaces,
        Err(why) => return fail_open(protocol, event, acquiring, &why),
    };
    let environment = &context.invocation.environment;
    let claimed = settings::session_pid(protocol, environment, context.invocation.parent_pid);
    let (pid, pid_is_session) = crate::processes::session_pid(processes, claimed);
    let session = Session {
        id: session_id.to_owned(),
        pid,
        pid_is_session,
    };
    let now = context.now_ms;
    let ttl = settings.ttl_ms;
    let mut lines = Vec::new();
    let outcome = match action {
        Action::Acquire(touches) => {
            let (limit, warning) = time_limit(touches);
            let mut keys = keys(&workspaces.touched);
            // A command that may change any workspace needs every lock in the store.
            let answer = match plan.anywhere.is_some() {
                true => every_key(store, &mut keys).err(),
                false => None,
            }
            .map(|error| refused_or_open(plan, &error, context, settings))
            .unwrap_or_else(|| {
                let ttl = ttl.saturating_add(limit);
                acquire_answer(
                    store, processes, plan, &keys, &session, ttl, context, settings,
                )
            });
            // Said on stderr and where the agent shows the person: the lock holds for other
            // than the tool asked.
            return match warning {
                Some(warning) => with_visible_warning(protocol, event, answer, &warning),
                None => answer,
            };
        }
        Action::Refresh(_) => keys(&workspaces.touched).iter().try_for_each(|key| {
            let result = lock::refresh_when_due(store, processes, key, &session, now, ttl)?;
            lines.push(describe_refresh(&result));
            Ok(())
        }),
        Action::Hold => sweep(store, &workspaces.session, &session.id, |store, key| {
            let result = lock::refresh_when_due(store, processes, key, &session, now, ttl)?;
            Ok(describe_refresh(&result))
        })
        .map(|done| lines.extend(done)),
        Action::Release => sweep(store, &workspaces.session, &session.id, |store, key| {
            Ok(describe_release(&lock::release_session(
                store, processes, key, &session,
            )?))
        })
        .map(|done| lines.extend(done)),
        Action::Nothing => unreachable!("handled above"),
    };
    match outcome {
        Err(error) => fail_open(protocol, event, acquiring, &error.to_string()),
        Ok(()) if settings.mode == Mode::Observe => with_log(protocol.allow(event), &lines),
        Ok(()) => protocol.allow(event),
    }
}

/// Takes every lock of `keys` for `session` and answers: allow, deny naming the holder,
/// refuse with "retry" on contention, or fail open visibly on a fault.
#[allow(
    clippy::too_many_arguments,
    reason = "the pieces of one acquire, each distinct"
)]
fn acquire_answer(
    store: &mut impl LockStore,
    processes: &mut impl Processes,
    plan: &Plan,
    keys: &[String],
    session: &Session,
    ttl: u64,
    context: &HookContext,
    settings: &Settings,
) -> Answer {
    let (protocol, event) = (plan.protocol, &plan.event);
    match acquire_all(store, processes, keys, session, context.now_ms, ttl) {
        Ok(result) => {
            let anywhere = plan.anywhere.as_deref();
            answer_acquire(protocol, event, session, &result, context, settings, anywhere)
        }
        Err(error) => refused_or_open(plan, &error, context, settings),
    }
}

/// A guarded call whose store call failed: refused as busy when the store was contended,
/// else let through with the visible warning.
fn refused_or_open(
    plan: &Plan,
    error: &PolicyError,
    context: &HookContext,
    settings: &Settings,
) -> Answer {
    let (protocol, event) = (plan.protocol, &plan.event);
    match error.is_contention() {
        true => answer_busy(protocol, event, error, context, settings),
        false => fail_open(protocol, event, true, &error.to_string()),
    }
}

/// The workspaces of an event: the session's own, and those its tool touches.
struct Workspaces {
    session: String,
    touched: Vec<String>,
}

/// Maps the resolved targets to workspaces by the target rule.
fn workspaces(plan: &Plan, resolved: &[Option<Resolved>]) -> Result<Workspaces, String> {
    if resolved.len() != plan.targets.len() {
        return Err(format!(
            "the host resolved {} paths for {} targets",
            resolved.len(),
            plan.targets.len()
        ));
    }
    let session = match &resolved[0] {
        Some(found) => workspace::of_session(found),
        None => return Err(format!("cannot resolve {}", printable(&plan.targets[0].0))),
    };
    let mut touched = Vec::new();
    for (i, (_, kind)) in plan.targets.iter().enumerate().skip(1) {
        // A path the host cannot resolve is one it cannot reach (no search permission, a loop
        // of links, a file where a directory should be), so neither can the write: it takes
        // the session's own workspace, never nothing.
        touched.push(match &resolved[i] {
            Some(found) => workspace::of_target(found, *kind, &session),
            None => session.clone(),
        });
    }
    if touched.is_empty() {
        touched.push(session.clone());
    }
    Ok(Workspaces { session, touched })
}

/// The lock keys of `workspaces`, each once, in a fixed order.
fn keys(workspaces: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = workspaces
        .iter()
        .map(|w| workspace::workspace_hash(w))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Applies `step` to every lock a session lets go of or keeps when its turn ends: its own
/// workspace's and every other lock the store shows it holding. One failure does not stop the
/// others; the first is reported once every lock was tried.
fn sweep<S: LockStore>(
    store: &mut S,
    session_workspace: &str,
    session_id: &str,
    mut step: impl FnMut(&mut S, &str) -> Result<String, PolicyError>,
) -> Result<Vec<String>, PolicyError> {
    let holdings = lock::held_by(store, session_id)?;
    let mut keys = holdings.keys;
    keys.push(workspace::workspace_hash(session_workspace));
    keys.sort_unstable();
    keys.dedup();
    let mut first_error = holdings.error;
    let mut lines = Vec::new();
    for key in &keys {
        match step(store, key) {
            Ok(line) => lines.push(line),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    first_error.map_or(Ok(lines), Err)
}

/// The extra time a tool keeps its lock fresh: its own time limit, so a long command never
/// loses the lock while it runs; cut to [`settings::MAX_TOOL_TIME_MS`]. With a warning when
/// the limit lies outside `1..=MAX_TOOL_TIME_MS` (0 included: the tool gave a limit nobody
/// can mean).
fn time_limit(touches: &Touches) -> (u64, Option<String>) {
    let limit = match touches {
        Touches::Shell {
            time_limit_ms: Some(limit),
            ..
        } => *limit,
        _ => return (0, None),
    };
    let max = settings::MAX_TOOL_TIME_MS;
    match limit {
        0 => (
            0,
            Some(
                "session-lock: the tool's time limit is 0 ms; the lock is kept for the ttl only"
                    .into(),
            ),
        ),
        limit if limit > max => (
            max,
            Some(format!(
                "session-lock: the tool's time limit of {limit} ms is longer than {max}; the \
                 lock is kept fresh for {max} ms of it"
            )),
        ),
        limit => (limit, None),
    }
}

/// `answer` with `warning` on stderr and, where the answer lets the call go on silently,
/// shown to the person in the agent's form.
fn with_visible_warning(
    protocol: &dyn Protocol,
    event: &Event,
    answer: Answer,
    warning: &str,
) -> Answer {
    let silent = answer.stdout.is_empty() && answer.retry_after_ms.is_none();
    let mut shown = if silent {
        protocol.warn(event, warning)
    } else {
        answer.clone()
    };
    shown.stderr = format!("{warning}\n{}", answer.stderr);
    shown
}

/// Takes every lock of `keys`, or none: when one is held by another session, the locks this
/// call took are let go again and that holder is reported.
fn acquire_all(
    store: &mut impl LockStore,
    processes: &mut impl Processes,
    keys: &[String],
    session: &Session,
    now: u64,
    ttl: u64,
) -> Result<Vec<AcquireResult>, PolicyError> {
    let mut results = Vec::new();
    for key in keys {
        let result = lock::acquire_when_due(store, processes, key, session, now, ttl);
        let blocked = matches!(result, Ok(AcquireResult::Blocked(_)) | Err(_));
        if blocked {
            undo(store, keys, &results, &session.id);
            return result.map(|blocked| vec![blocked]);
        }
        results.push(result?);
    }
    Ok(results)
}

/// Adds the key of every lock in the store to `keys`, for a call that may change any
/// workspace.
fn every_key(store: &mut impl LockStore, keys: &mut Vec<String>) -> Result<(), PolicyError> {
    keys.extend(store.keys()?);
    keys.sort_unstable();
    keys.dedup();
    Ok(())
}

/// Lets go of the locks an unfinished [`acquire_all`] newly took (never one the session held
/// before). Best effort: a lock not let go frees by its ttl.
fn undo(store: &mut impl LockStore, keys: &[String], results: &[AcquireResult], session_id: &str) {
    for (key, result) in keys.iter().zip(results) {
        if matches!(
            result,
            AcquireResult::Acquired(_) | AcquireResult::TakenOver { .. }
        ) {
            let _ = lock::release(store, key, session_id);
        }
    }
}

/// The answer to an acquire: deny when another session holds a fresh lock, unless observing.
/// `anywhere` says why the call needed every lock, when it did.
fn answer_acquire(
    protocol: &dyn Protocol,
    event: &Event,
    session: &Session,
    results: &[AcquireResult],
    context: &HookContext,
    settings: &Settings,
    anywhere: Option<&str>,
) -> Answer {
    let blocked = results
        .iter()
        .find_map(|r| decide(Some(r), &session.id, context.now_ms).reason)
        .map(|reason| match anywhere {
            Some(why) => message::anywhere_reason(why, &reason),
            None => reason,
        });
    match (blocked, settings.mode) {
        // Ask again while the wait allows one more poll, so the refusal still comes in time.
        (Some(_), Mode::Enforce)
            if context.waited_ms.saturating_add(WAIT_POLL_MS) <= settings.wait_ms =>
        {
            Answer {
                retry_after_ms: Some(WAIT_POLL_MS),
                ..Answer::default()
            }
        }
        (Some(reason), Mode::Enforce) => protocol.deny(event, &reason),
        (Some(reason), Mode::Observe) => with_log(
            protocol.allow(event),
            &[format!("would deny {}: {reason}", printable(&session.id))],
        ),
        (None, Mode::Observe) => {
            let lines: Vec<String> = results.iter().map(describe_acquire).collect();
            with_log(protocol.allow(event), &lines)
        }
        (None, Mode::Enforce) => protocol.allow(event),
    }
}

/// The answer to an acquire that met contention: another session is taking or changing the
/// lock right now. That is the ordinary life of a lock, not a fault, and letting the call
/// through could let two sessions in, so a waiting session asks again and any other is refused
/// with "retry in a moment" (observe mode only reports it).
fn answer_busy(
    protocol: &dyn Protocol,
    event: &Event,
    error: &PolicyError,
    context: &HookContext,
    settings: &Settings,
) -> Answer {
    let line = format!(
        "session-lock: {}; refused: retry",
        one_line(&error.to_string())
    );
    match settings.mode {
        Mode::Enforce if context.waited_ms.saturating_add(WAIT_POLL_MS) <= settings.wait_ms => {
            Answer {
                retry_after_ms: Some(WAIT_POLL_MS),
                ..Answer::default()
            }
        }
        Mode::Enforce => Answer {
            stderr: format!("{line}\n"),
            ..protocol.deny(event, message::BUSY_REASON)
        },
        Mode::Observe => with_log(
            protocol.allow(event),
            &[format!(
                "would deny: {} ({})",
                message::BUSY_REASON,
                one_line(&error.to_string())
            )],
        ),
    }
}

fn describe_acquire(result: &AcquireResult) -> String {
    match result {
        AcquireResult::Acquired(r) => format!("{} acquired the lock", printable(&r.session_id)),
        AcquireResult::TakenOver {
            taken,
            previous,
            holder_gone,
        } => format!(
            "{} took over the {} lock of {}",
            printable(&taken.session_id),
            if *holder_gone { "abandoned" } else { "stale" },
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

/// Adds one observe-mode line per decision to an answer's stderr.
fn with_log(mut answer: Answer, lines: &[String]) -> Answer {
    for line in lines {
        answer
            .stderr
            .push_str(&format!("session-lock: observe: {line}\n"));
    }
    answer
}

/// Puts the settings' warnings before everything else on stderr.
fn with_warnings(mut answer: Answer, settings: &Settings) -> Answer {
    for warning in settings.warnings.iter().rev() {
        answer.stderr.insert_str(0, &format!("{warning}\n"));
    }
    answer
}

/// The answer for an event the host could not get decided (`why`: a trap, an exhausted budget,
/// an event too large to read, the deadline), in `agent`'s form (Claude Code's when the host
/// was not told): "go on" with the visible warning, as to a guarded call, and the same line
/// on stderr. The host asks for it before it needs it, so that it can be printed even from a
/// signal handler.
pub fn fault_answer(agent: Option<Agent>, why: &str) -> Answer {
    let protocol = agent.unwrap_or(Agent::ClaudeCode).protocol();
    let line = format!("session-lock: {}; allowing without the lock", one_line(why));
    let mut answer = protocol.warn_undecided(&line);
    answer.stderr = format!("{line}\n");
    answer
}

/// Allows, and says why the lock could not be checked: on stderr always, and to the person
/// when the call was one the lock should have guarded (`visible`).
fn fail_open(protocol: &dyn Protocol, event: &Event, visible: bool, why: &str) -> Answer {
    let line = format!("session-lock: {}; allowing without the lock", one_line(why));
    let mut answer = if visible {
        protocol.warn(event, &line)
    } else {
        protocol.allow(event)
    };
    answer.stderr = format!("{line}\n");
    answer
}
