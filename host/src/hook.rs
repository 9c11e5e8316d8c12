//! `session-lock hook`: one agent hook event from stdin through the component, its answer to
//! stdout, stderr and the exit code. Every fault of this tool fails open: exit 0, nothing on
//! stdout, one `session-lock:` line on stderr.

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::thread;
use std::time::Duration;

use crate::component::processes;
use crate::component::{Agent, HookContext, HookResponse, Invocation, Policy, lock_store};
use crate::decision_log::LogFile;
use crate::settings;
use crate::stores::AnyStore;
use crate::workspace;

/// Events larger than this are not read whole (Claude Code's `Write` events carry the file).
pub const MAX_EVENT_BYTES: u64 = 16 << 20;

/// Whatever the filesystem does, the hook answers within this time (agents allow 3 s, and
/// Claude Code's SessionEnd hooks share 1.5 s).
pub const DEADLINE: Duration = Duration::from_millis(1000);

/// The longest the hook sleeps for a lock, whatever the component asks: a safety net only (the
/// component's own limit is far below it).
pub const MAX_WAIT: Duration = Duration::from_secs(900);

/// Set by whichever answers first: the hook, or the deadline.
static ANSWERED: AtomicBool = AtomicBool::new(false);

/// What the deadline prints, as one `write(2)` (it is written from a signal handler), until
/// the component's answer in the agent's form is prepared ([`DEADLINE_ANSWER`]).
const DEADLINE_LINE: &[u8] = b"session-lock: no answer within 1s; allowing without the lock\n";

/// What the deadline prints once the component has given it (`hook.fault-answer`): the
/// agent's form, with the warning the person sees. Leaked, never freed: the signal handler
/// may read it at any moment until the process ends. Null until then.
static DEADLINE_ANSWER: AtomicPtr<Prepared> = AtomicPtr::new(std::ptr::null_mut());

/// An answer's bytes, ready for a signal handler to write.
struct Prepared {
    stdout: Box<[u8]>,
    stderr: Box<[u8]>,
}

fn claim_answer() -> bool {
    !ANSWERED.swap(true, Ordering::SeqCst)
}

/// Makes `response` what the deadline answers from now on.
fn prepare_deadline_answer(response: &HookResponse) {
    let prepared = Box::new(Prepared {
        stdout: response.stdout.as_bytes().into(),
        stderr: response.stderr.as_bytes().into(),
    });
    let old = DEADLINE_ANSWER.swap(Box::into_raw(prepared), Ordering::SeqCst);
    // An earlier answer stays leaked: the handler may be reading it right now.
    let _ = old;
}

/// Writes all of `bytes` to `fd` with `write(2)` alone (async-signal-safe), giving up on an
/// error other than `EINTR`.
fn write_fully(fd: libc::c_int, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: a valid buffer of that length.
        let written = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if written > 0 {
            bytes = &bytes[written as usize..];
        } else if written < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        } else {
            return;
        }
    }
}

/// The deadline: `SIGALRM` from the process's real-time interval timer. It only does what a
/// signal handler may (an atomic swap, `write(2)`, `_exit(2)`): if the hook has not claimed
/// the answer, it fails open; if it has, the hook is printing its answer and goes on.
extern "C" fn on_deadline(_signal: libc::c_int) {
    if claim_answer() {
        let prepared = DEADLINE_ANSWER.load(Ordering::SeqCst);
        if prepared.is_null() {
            write_fully(2, DEADLINE_LINE);
        } else {
            // SAFETY: a leaked `Prepared`, never freed.
            let prepared = unsafe { &*prepared };
            write_fully(1, &prepared.stdout);
            write_fully(2, &prepared.stderr);
        }
        // SAFETY: `_exit` is async-signal-safe.
        unsafe { libc::_exit(0) };
    }
}

/// Arms the deadline to fire `after` from now (replacing any earlier arming). No thread: the
/// kernel's `ITIMER_REAL` timer (millisecond precision) and a `SIGALRM` handler.
fn arm_deadline(after: Duration) -> io::Result<()> {
    let timer = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: libc::timeval {
            // `as _`, not `as libc::time_t`: the libc crate marks `time_t` and `suseconds_t`
            // deprecated on musl (their width changes with musl 1.2), and the field's own type
            // is the one to cast to on every libc. A deadline is seconds, far below any limit.
            tv_sec: after.as_secs() as _,
            // At least 1 µs: an all-zero value would disarm the timer instead.
            tv_usec: after.subsec_micros().max(u32::from(after.is_zero())) as _,
        },
    };
    // SAFETY: a valid `itimerval`; the old value is not asked for.
    if unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What is left of the armed deadline (zero when it is not armed).
fn deadline_left() -> Duration {
    // SAFETY: an all-zero `itimerval` is a valid value of the plain C struct.
    let mut timer: libc::itimerval = unsafe { std::mem::zeroed() };
    // SAFETY: `getitimer` fills in `timer`.
    if unsafe { libc::getitimer(libc::ITIMER_REAL, &mut timer) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        timer.it_value.tv_sec as u64,
        timer.it_value.tv_usec as u32 * 1000,
    )
}

/// Installs [`on_deadline`] and arms it for [`DEADLINE`]. `SIGALRM` is unblocked first: a
/// parent that started the hook with it blocked (the mask is inherited) would otherwise turn
/// the deadline off.
fn start_deadline() -> io::Result<()> {
    // SAFETY: an all-zero `sigaction` is a valid value of the plain C struct; the handler only
    // does async-signal-safe work. SA_RESTART: reads and writes the signal interrupts resume
    // (sleeps resume by themselves: `thread::sleep` sleeps the rest after EINTR).
    unsafe {
        let mut alarm: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut alarm);
        libc::sigaddset(&mut alarm, libc::SIGALRM);
        let status = libc::pthread_sigmask(libc::SIG_UNBLOCK, &alarm, std::ptr::null_mut());
        if status != 0 {
            return Err(io::Error::from_raw_os_error(status));
        }
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_deadline as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    arm_deadline(DEADLINE)
}

/// Moves the deadline by `pause`, before the hook sleeps that long waiting for a lock: the
/// deadline covers the hook's own work, not the wait.
fn extend_deadline(pause: Duration) {
    let left = deadline_left();
    if !left.is_zero() {
        // Cannot fail once `start_deadline` armed it (the value is valid); if it did, the
        // deadline stays as it was, which errs towards answering sooner.
        let _ = arm_deadline(left + pause);
    }
}

/// Runs the hook for the agent named `agent` (as `--agent` gave it; recognised from the event
/// when `None`); the exit code to return.
///
/// The deadline is armed first, before anything is loaded or read: it must also answer an
/// agent that never closes stdin, and the agents' own hook timeouts (3 s, and 1.5 s shared
/// at Claude Code's SessionEnd) count from the start too. As soon as the component is loaded
/// it gives the deadline its answer in the agent's form, so from then on a deadline that
/// fires (stdin that never ends, a huge event, a slow store) is shown to the person. A call
/// the component could not decide (a trap, an exhausted budget, an event over
/// [`MAX_EVENT_BYTES`]) is answered the same way by a fresh instance.
pub fn run(agent: Option<&str>) -> ExitCode {
    if let Err(code) = begin() {
        return code;
    }
    let loaded = (|| {
        let mut policy = Policy::load(AnyStore::for_hook().within(deadline_left))
            .map_err(|e| format!("cannot load the policy component: {e}"))?;
        if let Some(log) = LogFile::beside(policy.lock_store()) {
            policy.set_decision_log(log);
        }
        let agent = match agent {
            Some(name) => match policy.agent_named(name).map_err(failed)? {
                Ok(agent) => Some(agent),
                Err(unknown) => return Ok((policy, Err(unknown))),
            },
            None => None,
        };
        let reason = format!("no answer within {}s", DEADLINE.as_secs_f32());
        prepare_deadline_answer(&policy.fault_answer(agent, &reason).map_err(failed)?);
        Ok::<_, String>((policy, Ok(agent)))
    })();
    let (mut policy, agent) = match loaded {
        Ok((policy, Ok(agent))) => (policy, agent),
        // A registration naming no agent (`--agent` misspelt in settings edited by hand): each
        // event says so where the person sees it (in Claude Code's form, which Codex and
        // Gemini CLI share), rather than the lock going off with a line on stderr alone.
        Ok((policy, Err(unknown))) => {
            std::mem::forget(policy);
            return finish(undecided(None, &unknown));
        }
        Err(why) => return finish(Err(why)),
    };
    let response = read_event(io::stdin().lock()).and_then(|event| {
        let invocation = invocation(&mut policy, agent)?;
        answer(&mut policy, &event, invocation, settings::now_ms())
    });
    // The process ends right after the answer: tearing the runtime down only costs time.
    std::mem::forget(policy);
    finish(response.or_else(|why| undecided(agent, &why)))
}

/// The component's answer for a call it could not decide (`why`), from a fresh instance (the
/// one that trapped may be in any state), and its fail-open in the decision log
/// (`hook.fault-entry`); `Err(why)` when even the answer cannot be had.
fn undecided(agent: Option<Agent>, why: &str) -> Result<HookResponse, String> {
    let store = AnyStore::for_hook();
    let log = LogFile::beside(&store);
    let mut fresh = Policy::load(store).map_err(|_| why.to_owned())?;
    let response = fresh.fault_answer(agent, why).map_err(|_| why.to_owned());
    if let (Ok(_), Some(log)) = (&response, log)
        && let Ok(line) = fresh.fault_entry(agent, why, settings::now_ms())
    {
        // As for the component's own lines: logging never changes the answer.
        let _ = log.append_line(&line);
    }
    std::mem::forget(fresh);
    response
}

/// What this process knows before it reads anything: the agent, the variables the component
/// reads, its working directory and its parent.
pub fn invocation<S, P>(
    policy: &mut Policy<S, P>,
    agent: Option<Agent>,
) -> Result<Invocation, String>
where
    S: lock_store::Host + Send + 'static,
    P: processes::Host + Send + 'static,
{
    let names = policy.environment_variables().map_err(failed)?;
    Ok(Invocation {
        agent,
        environment: settings::environment(&names),
        process_cwd: process_cwd(),
        parent_pid: std::os::unix::process::parent_id(),
    })
}

/// One event through the component: the paths it names resolved on this filesystem, then
/// handled at `now_ms`.
pub fn answer<S, P>(
    policy: &mut Policy<S, P>,
    event: &[u8],
    invocation: Invocation,
    now_ms: u64,
) -> Result<HookResponse, String>
where
    S: lock_store::Host + Send + 'static,
    P: processes::Host + Send + 'static,
{
    let targets = policy.targets(event, &invocation).map_err(failed)?;
    let resolved = targets
        .iter()
        .map(|target| workspace::resolve_path(target))
        .collect();
    let mut context = HookContext {
        invocation,
        resolved,
        now_ms,
        waited_ms: 0,
    };
    loop {
        let response = policy.handle(event, &context).map_err(failed)?;
        let Some(pause) = response.retry_after_ms else {
            return Ok(response);
        };
        // The session waits for the lock (`SESSION_LOCK_WAIT_MS`): sleep, then ask again.
        let pause = Duration::from_millis(pause);
        if Duration::from_millis(context.waited_ms) + pause > MAX_WAIT {
            return Err(format!("the policy asked to wait longer than {MAX_WAIT:?}"));
        }
        extend_deadline(pause);
        thread::sleep(pause);
        context.waited_ms += pause.as_millis() as u64;
        context.now_ms = settings::now_ms();
    }
}

fn failed(error: wasmtime::Error) -> String {
    format!("policy component failed: {error}")
}

/// The hook's frame, whatever answers the event: reads it, calls `respond`, and prints the
/// response, all within [`DEADLINE`]. Any error fails open.
pub fn serve(respond: impl FnOnce(&[u8]) -> Result<HookResponse, String>) -> ExitCode {
    if let Err(code) = begin() {
        return code;
    }
    finish(read_event(io::stdin().lock()).and_then(|event| respond(&event)))
}

/// Starts the frame: the deadline armed. `Err`: it cannot be, and the hook has failed open.
fn begin() -> Result<(), ExitCode> {
    start_deadline().map_err(|why| {
        eprintln!(
            "session-lock: cannot set the {DEADLINE:?} deadline: {why}; allowing without the lock"
        );
        ExitCode::SUCCESS
    })
}

/// Ends the frame: prints `answer` unless the deadline answered first; an error fails open
/// with one stderr line.
fn finish(answer: Result<HookResponse, String>) -> ExitCode {
    if !claim_answer() {
        // The deadline answered first and is exiting the process (from its handler, on this
        // thread or another): wait for it.
        loop {
            thread::park();
        }
    }
    // The answer is claimed: the deadline, should it fire while the answer is printed, does
    // nothing.
    match answer {
        Ok(response) => {
            let stdout_ok = io::stdout().write_all(response.stdout.as_bytes()).is_ok();
            let _ = io::stderr().write_all(response.stderr.as_bytes());
            if !stdout_ok {
                eprintln!("session-lock: cannot write the answer to stdout");
                return ExitCode::SUCCESS;
            }
            ExitCode::from(response.exit_code)
        }
        Err(why) => {
            eprintln!("session-lock: {why}; allowing without the lock");
            ExitCode::SUCCESS
        }
    }
}

/// The process's working directory (empty when it is gone).
pub fn process_cwd() -> String {
    std::env::current_dir()
        .map(|d| workspace::as_text(&d))
        .unwrap_or_default()
}

/// Reads the whole event, refusing one larger than [`MAX_EVENT_BYTES`].
fn read_event(input: impl Read) -> Result<Vec<u8>, String> {
    let mut event = Vec::new();
    input
        .take(MAX_EVENT_BYTES + 1)
        .read_to_end(&mut event)
        .map_err(|e| format!("cannot read the hook event from stdin: {e}"))?;
    if event.len() as u64 > MAX_EVENT_BYTES {
        return Err(format!("hook event is larger than {MAX_EVENT_BYTES} bytes"));
    }
    Ok(event)
}
