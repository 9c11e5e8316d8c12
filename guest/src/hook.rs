//! One hook event in, one answer out: the whole of what `session-lock hook` decides.
//!
//! A host runs an event in two calls: [`targets`] names the paths the event touches, the host
//! resolves them, and [`handle`] decides on the resolved paths.

use crate::agents::{Action, Agent, Answer, Event, Protocol, Touches};
use crate::decision::decide_with;
use crate::decision_log::{self, About, DecisionLog, Kind as Decided, NoLog};
use crate::lock::{self, AcquireResult, PolicyError, RefreshResult, ReleaseResult, Session};
use crate::message::{self, WayOut, one_line, printable};
use crate::processes::Processes;
use crate::record::LockRecord;
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
                        let scope = shell::scope::of_line(line, &start);
                        // The session's own workspace, whatever the command `cd`s to: a word
                        // that expands may name it (`$CLAUDE_PROJECT_DIR/src`). Not where the
                        // agent's shell tool runs the command in a directory of its own
                        // (Codex's `workdir`, Gemini CLI's `dir_path`) and the line shows all
                        // it names, so that a session refused here can work on in its new
                        // worktree; nor when all the line makes is new work trees, which is
                        // how it makes one.
                        let tool_moved_it = workdir.is_some() && !scope.hides_paths;
                        if targets[0].0 != start && !tool_moved_it && !scope.only_new_work_trees {
                            targets.push((targets[0].0.clone(), Kind::Directory));
                        }
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
    handle_logged(store, processes, &mut NoLog, event, context)
}

/// [`handle`], telling `log` every decision a person may later ask about (see
/// [`decision_log`]). What is logged, or whether logging works, never changes the answer.
pub fn handle_logged(
    store: &mut impl LockStore,
    processes: &mut impl Processes,
    log: &mut dyn DecisionLog,
    event: &[u8],
    context: &HookContext,
) -> Answer {
    let invocation = &context.invocation;
    let settings = Settings::read(&invocation.environment);
    let plan = match Plan::read(event, invocation) {
        Ok(plan) => plan,
        Err(why) => {
            let agent = invocation.agent.unwrap_or(Agent::ClaudeCode);
            let mut ledger = Ledger {
                log,
                about: About {
                    agent: Some(agent.protocol().name()),
                    ..About::default()
                },
                workspace: None,
                now: context.now_ms,
            };
            let answer = fail_open(agent.protocol(), &Event::default(), true, &why, &mut ledger);
            return with_warnings(answer, &settings);
        }
    };
    let answer = run(store, processes, log, &plan, context, &settings);
    with_warnings(answer, &settings)
}

/// Where an event's decisions are logged, and what they are about.
struct Ledger<'a> {
    log: &'a mut dyn DecisionLog,
    about: About<'a>,
    /// The session's own workspace, once known.
    workspace: Option<String>,
    now: u64,
}

impl Ledger<'_> {
    /// Logs one decision on the lock `key` of `workspace`.
    fn note(
        &mut self,
        kind: Decided,
        workspace: Option<&str>,
        key: Option<&str>,
        holder: Option<&LockRecord>,
        why: Option<&str>,
    ) {
        let decision = decision_log::Decision {
            kind,
            workspace: workspace.or(self.workspace.as_deref()),
            key,
            holder,
            why,
        };
        let line = decision_log::line(&self.about, &decision, self.now);
        self.log.append(&line);
    }
}

fn run(
    store: &mut impl LockStore,
    processes: &mut impl Processes,
    log: &mut dyn DecisionLog,
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
    if *action == Action::Inform {
        return inform(store, plan, context, settings);
    }
    let environment = &context.invocation.environment;
    let claimed = settings::session_pid(protocol, environment, context.invocation.parent_pid);
    let (pid, pid_is_session) = crate::processes::session_pid(processes, claimed);
    let mut ledger = Ledger {
        log,
        about: About {
            session: protocol.session_id(event),
            agent: Some(protocol.name()),
            pid: Some(pid),
            event: event.hook_event_name.as_deref(),
            tool: event.tool_name.as_deref(),
            observe: settings.mode == Mode::Observe,
        },
        workspace: None,
        now: context.now_ms,
    };
    let ledger = &mut ledger;
    let Some(session_id) = protocol.session_id(event) else {
        let why = format!("{} event has no session id", event.name());
        return fail_open(protocol, event, acquiring, &why, ledger);
    };
    let workspaces = match workspaces(plan, &context.resolved) {
        Ok(workspaces) => workspaces,
        Err(why) => return fail_open(protocol, event, acquiring, &why, ledger),
    };
    ledger.workspace = Some(workspaces.session.clone());
    let session = Session {
        agent: Some(protocol.name().to_owned()),
        ..Session::new(session_id, pid, pid_is_session)
    };
    let now = context.now_ms;
    let ttl = settings.ttl_ms;
    let mut lines = Vec::new();
    let outcome = match action {
        Action::Acquire(touches) => {
            let (limit, warning) = time_limit(touches);
            let mut keys = named_keys(&workspaces.touched);
            // A command that may change any workspace needs every lock in the store.
            let failed = match plan.anywhere.is_some() {
                true => every_key(store, &mut keys).err(),
                false => None,
            };
            let answer = match failed {
                Some(error) => refused_or_open(plan, &error, context, settings, ledger),
                None => {
                    let ttl = ttl.saturating_add(limit);
                    let way_out = (protocol.way_out(), &*workspaces.session_directory);
                    acquire_answer(
                        store, processes, plan, &keys, &session, ttl, way_out, context, settings,
                        ledger,
                    )
                }
            };
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
            let result = lock::release_session(store, processes, key, &session)?;
            if let ReleaseResult::Released(record) = &result {
                ledger.note(
                    Decided::Released,
                    record.workspace.as_deref(),
                    Some(key),
                    None,
                    None,
                );
            }
            Ok(describe_release(&result))
        })
        .map(|done| lines.extend(done)),
        Action::Nothing | Action::Inform => unreachable!("handled above"),
    };
    match outcome {
        Err(error) => fail_open(protocol, event, acquiring, &error.to_string(), ledger),
        Ok(()) if settings.mode == Mode::Observe => with_log(protocol.allow(event), &lines),
        Ok(()) => protocol.allow(event),
    }
}

/// Takes every lock of `keys` for `session` and answers: allow, deny naming the holder and
/// the way out (the agent's, from the session's own workspace directory), refuse with "retry"
/// on contention, or fail open visibly on a fault.
#[allow(
    clippy::too_many_arguments,
    reason = "the pieces of one acquire, each distinct"
)]
fn acquire_answer(
    store: &mut impl LockStore,
    processes: &mut impl Processes,
    plan: &Plan,
    keys: &[(String, String)],
    session: &Session,
    ttl: u64,
    (way_out, directory): (WayOut, &str),
    context: &HookContext,
    settings: &Settings,
    ledger: &mut Ledger,
) -> Answer {
    let (protocol, event) = (plan.protocol, &plan.event);
    match acquire_all(store, processes, keys, session, context.now_ms, ttl) {
        Ok(result) => {
            let refusal = Refusal {
                anywhere: plan.anywhere.as_deref(),
                way_out,
                session_id: &session.id,
                directory,
            };
            answer_acquire(
                protocol, event, session, &result, context, settings, &refusal, ledger,
            )
        }
        Err(error) => refused_or_open(plan, &error, context, settings, ledger),
    }
}

/// A guarded call whose store call failed: refused as busy when the store was contended,
/// else let through with the visible warning.
fn refused_or_open(
    plan: &Plan,
    error: &PolicyError,
    context: &HookContext,
    settings: &Settings,
    ledger: &mut Ledger,
) -> Answer {
    let (protocol, event) = (plan.protocol, &plan.event);
    match error.is_contention() {
        true => answer_busy(protocol, event, error, context, settings),
        false => fail_open(protocol, event, true, &error.to_string(), ledger),
    }
}

/// The answer to a session-start or prompt event: context for the model and a line for the
/// person when another session holds the session's workspace fresh; nothing when it is free,
/// stale, the session's own, or cannot be read (the first guarded call reports that), and in
/// observe mode, where nothing is refused. Reads one record; writes nothing.
///
/// Settings the hook could not take as written (each fell back to a safe value) are also said
/// here where the person sees them, once per session and prompt rather than on every tool
/// call; every event says them on stderr.
fn inform(
    store: &mut impl LockStore,
    plan: &Plan,
    context: &HookContext,
    settings: &Settings,
) -> Answer {
    let Plan {
        event, protocol, ..
    } = plan;
    let notice = settings.warnings.join(" ");
    match (
        held_by_another(store, plan, context, settings),
        notice.is_empty(),
    ) {
        (Some((model, person)), true) => protocol.inform(event, &model, &person),
        (Some((model, person)), false) => {
            protocol.inform(event, &model, &format!("{person}. {notice}"))
        }
        (None, false) => protocol.warn(event, &notice),
        (None, true) => protocol.allow(event),
    }
}

/// What a session-start or prompt event tells the model and the person when another session
/// holds the session's workspace fresh ([`inform`]); `None` otherwise.
fn held_by_another(
    store: &mut impl LockStore,
    plan: &Plan,
    context: &HookContext,
    settings: &Settings,
) -> Option<(String, String)> {
    let Plan {
        event, protocol, ..
    } = plan;
    let session_id = protocol.session_id(event)?;
    let workspaces = workspaces(plan, &context.resolved).ok()?;
    if settings.mode == Mode::Observe {
        return None;
    }
    let key = workspace::workspace_hash(&workspaces.session);
    let now = context.now_ms;
    match lock::inspect(store, &key, now) {
        Ok(Some(state)) if !state.stale && state.record.session_id != session_id => {
            // The way on a refusal would name, so the model plans with it from the start.
            let way_out = protocol
                .way_out()
                .says(session_id, &workspaces.session_directory);
            let model = message::held_context(&state.record, now, &way_out);
            let person = message::held_notice(&state.record, now);
            Some((model, person))
        }
        _ => None,
    }
}

/// The workspaces of an event: the session's own, and those its tool touches.
struct Workspaces {
    session: String,
    /// The directory of the session's own workspace, which its name is not when the host
    /// names checkouts by identity (`checkout:…`): where a way on makes a worktree beside.
    session_directory: String,
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
    let (session, session_directory) = match &resolved[0] {
        Some(found) => (
            workspace::of_session(found),
            found.git_top.as_ref().unwrap_or(&found.real_path).clone(),
        ),
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
    Ok(Workspaces {
        session,
        session_directory,
        touched,
    })
}

/// The lock keys of `workspaces`, each once, in a fixed order, with the workspace each names.
fn named_keys(workspaces: &[String]) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = workspaces
        .iter()
        .map(|w| (workspace::workspace_hash(w), w.clone()))
        .collect();
    keys.sort_unstable();
    keys.dedup_by(|a, b| a.0 == b.0);
    keys
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
/// workspace's first, then every other lock the store shows it holding. One failure does not
/// stop the others; the first is reported once every lock was tried.
fn sweep<S: LockStore>(
    store: &mut S,
    session_workspace: &str,
    session_id: &str,
    mut step: impl FnMut(&mut S, &str) -> Result<String, PolicyError>,
) -> Result<Vec<String>, PolicyError> {
    let mut lines = Vec::new();
    let mut first_error = None;
    let mut step = |store: &mut S, key: &str| match step(store, key) {
        Ok(line) => lines.push(line),
        Err(error) => {
            first_error.get_or_insert(error);
        }
    };
    // Its own workspace first: one record, done before the walk through every other record,
    // which among tens of thousands of files on a cold cache can outlast the hook's deadline.
    let own = workspace::workspace_hash(session_workspace);
    step(store, &own);
    let holdings = lock::held_by(store, session_id);
    let (mut keys, listing_error) = match holdings {
        Ok(holdings) => (holdings.keys, holdings.error),
        Err(error) => (Vec::new(), Some(error)),
    };
    keys.retain(|key| *key != own);
    keys.sort_unstable();
    keys.dedup();
    for key in &keys {
        step(store, key);
    }
    first_error.or(listing_error).map_or(Ok(lines), Err)
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

/// What [`acquire_all`] did on one lock.
struct Locked<'k> {
    key: &'k str,
    workspace: &'k str,
    result: AcquireResult,
}

/// Takes every lock of `keys` (each with the workspace it names), or none: when one is held by
/// another session, the locks this call took are let go again and that holder is reported.
fn acquire_all<'k>(
    store: &mut impl LockStore,
    processes: &mut impl Processes,
    keys: &'k [(String, String)],
    session: &Session,
    now: u64,
    ttl: u64,
) -> Result<Vec<Locked<'k>>, PolicyError> {
    let mut results = Vec::new();
    for (key, workspace) in keys {
        let naming = Session {
            workspace: Some(workspace.clone()).filter(|w| !w.is_empty()),
            ..session.clone()
        };
        let result = lock::acquire_when_due(store, processes, key, &naming, now, ttl);
        let blocked = matches!(result, Ok(AcquireResult::Blocked(_)) | Err(_));
        if blocked {
            undo(store, &results, &session.id);
            return result.map(|result| {
                vec![Locked {
                    key,
                    workspace,
                    result,
                }]
            });
        }
        results.push(Locked {
            key,
            workspace,
            result: result?,
        });
    }
    Ok(results)
}

/// Adds the key of every lock in the store to `keys`, for a call that may change any
/// workspace.
/// Such a lock is named by its key alone: its record keeps the workspace it names.
fn every_key(
    store: &mut impl LockStore,
    keys: &mut Vec<(String, String)>,
) -> Result<(), PolicyError> {
    // A key the call already names keeps its workspace's name. A set, not a scan: the store
    // may list tens of thousands.
    let named: std::collections::HashSet<String> =
        keys.iter().map(|(key, _)| key.clone()).collect();
    for key in store.keys()? {
        if !named.contains(&key) {
            keys.push((key, String::new()));
        }
    }
    keys.sort_unstable();
    Ok(())
}

/// Lets go of the locks an unfinished [`acquire_all`] newly took (never one the session held
/// before). Best effort: a lock not let go frees by its ttl.
fn undo(store: &mut impl LockStore, locked: &[Locked], session_id: &str) {
    for Locked { key, result, .. } in locked {
        if matches!(
            result,
            AcquireResult::Acquired(_) | AcquireResult::TakenOver { .. }
        ) {
            let _ = lock::release(store, key, session_id);
        }
    }
}

/// Logs what an acquire took: free locks taken and locks taken over (a lock the session
/// already held is a refresh, not logged).
fn note_taken(ledger: &mut Ledger, locked: &[Locked]) {
    for Locked {
        key,
        workspace,
        result,
    } in locked
    {
        let (kind, previous) = match result {
            AcquireResult::Acquired(_) => (Decided::Taken, None),
            AcquireResult::TakenOver {
                previous,
                holder_gone,
                ..
            } => (
                Decided::TakenOver {
                    holder_gone: *holder_gone,
                },
                Some(previous),
            ),
            AcquireResult::Reacquired(_) | AcquireResult::Blocked(_) => continue,
        };
        ledger.note(kind, Some(workspace), Some(key), previous, None);
    }
}

/// What a refusal says besides who holds the lock.
struct Refusal<'a> {
    /// Why the call needed every lock, when it did.
    anywhere: Option<&'a str>,
    /// How the session can go on now, in its agent's terms: worded only for a refusal.
    way_out: WayOut,
    /// The refused session, which names the worktree a way out makes.
    session_id: &'a str,
    /// The directory of the session's own workspace, beside or in which it is made.
    directory: &'a str,
}

/// The answer to an acquire: deny when another session holds a fresh lock, unless observing.
#[allow(
    clippy::too_many_arguments,
    reason = "the pieces of one acquire's answer, each distinct"
)]
fn answer_acquire(
    protocol: &dyn Protocol,
    event: &Event,
    session: &Session,
    locked: &[Locked],
    context: &HookContext,
    settings: &Settings,
    refusal: &Refusal,
    ledger: &mut Ledger,
) -> Answer {
    let blocked = locked
        .iter()
        .find(|l| matches!(l.result, AcquireResult::Blocked(_)))
        .and_then(|l| {
            let way_out = refusal.way_out.says(refusal.session_id, refusal.directory);
            decide_with(Some(&l.result), context.now_ms, &way_out).reason
        })
        .map(|reason| match refusal.anywhere {
            Some(why) => message::anywhere_reason(why, &reason),
            None => reason,
        });
    let waiting = context.waited_ms.saturating_add(WAIT_POLL_MS) <= settings.wait_ms;
    match (&blocked, locked) {
        (Some(_), _) if settings.mode == Mode::Enforce && waiting => {}
        (Some(_), [refused, ..]) => {
            let holder = match &refused.result {
                AcquireResult::Blocked(holder) => Some(holder),
                _ => None,
            };
            let (key, workspace) = (Some(refused.key), Some(refused.workspace));
            ledger.note(Decided::Refused, workspace, key, holder, None);
        }
        _ => note_taken(ledger, locked),
    }
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
            let lines: Vec<String> = locked.iter().map(|l| describe_acquire(&l.result)).collect();
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

/// The decision-log line of a [`fault_answer`] the host gave at `now` (`why`: a trap, an
/// exhausted budget, an event that could not be read, an `--agent` naming none): a fail-open
/// by `agent` (none named when the host was not told: the answer's form is Claude Code's, but
/// the log must not guess who asked), about no session or workspace, since none was decided.
pub fn fault_entry(agent: Option<Agent>, why: &str, now: u64) -> String {
    let about = About {
        agent: agent.map(|agent| agent.protocol().name()),
        ..About::default()
    };
    let decision = decision_log::Decision {
        kind: Decided::FailOpen,
        workspace: None,
        key: None,
        holder: None,
        why: Some(why),
    };
    decision_log::line(&about, &decision, now)
}

/// Allows, and says why the lock could not be checked: on stderr always, and to the person
/// when the call was one the lock should have guarded (`visible`).
fn fail_open(
    protocol: &dyn Protocol,
    event: &Event,
    visible: bool,
    why: &str,
    ledger: &mut Ledger,
) -> Answer {
    ledger.note(Decided::FailOpen, None, None, None, Some(why));
    let line = format!("session-lock: {}; allowing without the lock", one_line(why));
    let mut answer = if visible {
        protocol.warn(event, &line)
    } else {
        protocol.allow(event)
    };
    answer.stderr = format!("{line}\n");
    answer
}
