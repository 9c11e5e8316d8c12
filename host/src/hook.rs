//! `session-lock hook`: one agent hook event from stdin through the component, its answer to
//! stdout, stderr and the exit code. Every fault of this tool fails open: exit 0, nothing on
//! stdout, one `session-lock:` line on stderr.

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::component::{Agent, HookContext, HookResponse, Policy};
use crate::fs_store::FsLockStore;
use crate::settings::{self, Settings};
use crate::workspace;

/// Events larger than this are not read whole (Claude Code's `Write` events carry the file).
pub const MAX_EVENT_BYTES: u64 = 16 << 20;

/// Whatever the filesystem does, the hook answers within this time (agents allow 3 s, and
/// Claude Code's SessionEnd hooks share 1.5 s).
pub const DEADLINE: Duration = Duration::from_millis(1000);

/// Set by whichever answers first: the hook, or the deadline.
static ANSWERED: AtomicBool = AtomicBool::new(false);

fn claim_answer() -> bool {
    !ANSWERED.swap(true, Ordering::SeqCst)
}

/// Runs the hook; the exit code to return.
pub fn run(agent: Option<Agent>) -> ExitCode {
    serve(|event, settings| {
        let mut policy = Policy::load(FsLockStore::new(&settings.lock_dir))
            .map_err(|e| format!("cannot load the policy component: {e}"))?;
        let failed = |e: wasmtime::Error| format!("policy component failed: {e}");
        let project_dir = settings::project_dir();
        let dir = policy
            .workspace_dir(event, project_dir.as_deref(), &process_cwd())
            .map_err(failed)?;
        let context = context(settings, &dir, agent)?;
        let response = policy.handle(event, &context).map_err(failed);
        // The process ends right after the answer: tearing the runtime down only costs time.
        std::mem::forget(policy);
        response
    })
}

/// The hook's frame, whatever answers the event: reads it and the settings, calls `respond`,
/// and prints the response, all within [`DEADLINE`]. Any error fails open.
pub fn serve(respond: impl FnOnce(&[u8], &Settings) -> Result<HookResponse, String>) -> ExitCode {
    thread::spawn(|| {
        thread::sleep(DEADLINE);
        if claim_answer() {
            eprintln!("session-lock: no answer within {DEADLINE:?}; allowing without the lock");
            std::process::exit(0);
        }
    });
    let answer = read_event(io::stdin().lock()).and_then(|event| {
        let settings = Settings::from_env()?;
        let mut response = respond(&event, &settings)?;
        for warning in settings.warnings.iter().rev() {
            response.stderr.insert_str(0, &format!("{warning}\n"));
        }
        Ok(response)
    });
    if !claim_answer() {
        // The deadline answered first and is exiting the process.
        thread::park();
    }
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

/// The context of an event whose workspace directory is `dir`: the workspace resolved, the
/// session's pid, the clock, and the settings.
pub fn context(
    settings: &Settings,
    dir: &str,
    agent: Option<Agent>,
) -> Result<HookContext, String> {
    let workspace = workspace::resolve(Path::new(dir))?;
    Ok(HookContext {
        workspace: workspace::as_text(&workspace),
        pid: settings::session_pid(),
        now_ms: settings::now_ms(),
        ttl_ms: settings.ttl_ms,
        agent,
        mode: settings.mode,
    })
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
