//! How long an agent waits for `session-lock hook`, and what the WebAssembly sandbox costs.
//!
//! ```sh
//! cargo bench -p session-lock-bench --bench hook_latency
//! ```
//!
//! 1. Whole process, on one temporary workspace and lock directory, all cases alternating in
//!    every round (the order reversed every other round): the hook as shipped (`wasm`: built
//!    with `RUSTFLAGS='-C target-feature=+crt-static' cargo build --target <host triple>`, a
//!    static binary, where the host is x86_64 or aarch64 Linux with glibc), the native baseline
//!    (`native`: the same host I/O with the policy linked natively) and an empty `fn main() {}`
//!    (`empty`), all three built by that one cargo command in the bench's profile; the hook as
//!    a plain `cargo build` makes it (`wasm-d`, dynamically linked); and `/bin/true`. Each is
//!    a fresh copy in a temporary directory, its pages dropped from the page cache before the
//!    warm-up (a binary the linker just wrote starts slower than a copy read back from disk).
//!    For each kind of event an agent sends and for the fail-open path; `--version` shows what
//!    merely starting each costs. Each run is timed from spawn to reaping; its CPU time and
//!    peak RSS come from `wait4`.
//! 2. Cold phases: this benchmark re-runs itself as a fresh process that loads the component
//!    with the host library's own steps (`session_lock::artifact`, then `Policy::instantiate`:
//!    what `Policy::load` does) and handles one event, timing each phase,
//!    so the first-time costs a hook process pays are in the figures.
//! 3. Warm phases, in this process: the same steps repeated.
//! 4. The sizes of the binary and the component.
//!
//! `HOOK_BENCH_ITERATIONS` sets the runs per case (default 200). `HOOK_BENCH_ALSO` names other
//! builds of `session-lock` (paths separated by `:`) to measure in the same rounds, such as the
//! binary before a change. Without `--bench` (as
//! `cargo test --benches` runs it) it only checks, once per event, that the hook answers as the
//! policy says and the native baseline answers alike, so it stays out of test time.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use session_lock::artifact;
use session_lock::component::{HookContext, HookResponse, Policy};
use session_lock::fs_store::FsLockStore;
use session_lock::settings;
use session_lock::{hook, processes::LocalProcesses};

/// The ttl of the records the fixture writes: the policy's default.
const DEFAULT_TTL_MS: u64 = session_lock_policy::settings::DEFAULT_TTL_MS;
use session_lock::workspace;

/// The cost of starting a process that does nothing.
const TRUE_BINARY: &str = "/bin/true";

/// The target the shipped binary is built for with an explicit `--target` and a static C
/// runtime (README, "Install and use"); `None` where there is no such build.
const STATIC_TARGET: Option<&str> = if cfg!(all(
    target_arch = "x86_64",
    target_os = "linux",
    target_env = "gnu"
)) {
    Some("x86_64-unknown-linux-gnu")
} else if cfg!(all(
    target_arch = "aarch64",
    target_os = "linux",
    target_env = "gnu"
)) {
    Some("aarch64-unknown-linux-gnu")
} else {
    None
};

/// The flag that links the C runtime statically (only with an explicit `--target`, so build
/// scripts and proc macros stay dynamic).
const STATIC_RUSTFLAGS: &str = "-C target-feature=+crt-static";

/// The Rust binaries measured, built by one `cargo build` each way so that they are built
/// alike: the hook, the native baseline and an empty `fn main() {}`.
struct Built {
    hook: PathBuf,
    native: PathBuf,
    empty: PathBuf,
}

/// Builds every Rust binary of the benchmark with `cargo build`, in the profile this bench was
/// built with, into the shared target directory (an explicit `--target` gets its own
/// subdirectory); statically linked when `static_target` is given. Returns the command line
/// (for the report) and the binaries.
fn build_binaries(static_target: Option<&str>) -> (String, Built) {
    // This bench is `<target>/<profile dir>/deps/hook_latency-<hash>`.
    let this = std::env::current_exe().expect("own path");
    let profile_dir = this
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .expect("the bench runs from a cargo target directory");
    // `dev` and `test` build into `debug`; every other profile into its own name (`bench`
    // inherits `release` unchanged, so the two share artifacts).
    let profile = if profile_dir == "debug" {
        "dev"
    } else {
        profile_dir
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut command = Command::new(cargo);
    command
        .args(["build", "--profile", profile])
        .args(["-p", "session-lock", "-p", "session-lock-bench", "--bins"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit());
    let mut shown =
        format!("cargo build --profile {profile} -p session-lock -p session-lock-bench --bins");
    if let Some(target) = static_target {
        let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
        if !flags.is_empty() {
            flags.push(' ');
        }
        flags.push_str(STATIC_RUSTFLAGS);
        command.args(["--target", target]).env("RUSTFLAGS", &flags);
        shown = format!("RUSTFLAGS='{flags}' {shown} --target {target}");
    }
    let output = command.output().expect("run cargo build");
    assert!(output.status.success(), "{shown} failed");
    let executables: Vec<(String, PathBuf)> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter_map(|message| {
            let name = message["target"]["name"].as_str()?.to_owned();
            Some((name, PathBuf::from(message["executable"].as_str()?)))
        })
        .collect();
    let find = |name: &str| {
        executables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, path)| path.clone())
            .unwrap_or_else(|| panic!("cargo names no {name} executable"))
    };
    let built = Built {
        hook: find("session-lock"),
        native: find("session-lock-native"),
        empty: find("empty-main"),
    };
    (shown, built)
}

/// The binaries of one run, each a fresh copy in the fixture's directory with its pages
/// dropped from the page cache: a binary the linker just wrote starts measurably slower than a
/// copy read back from disk, so only copies that all start out equal compare fairly.
struct Binaries {
    /// The hook as shipped: statically linked where [`STATIC_TARGET`] says so.
    hook: PathBuf,
    /// The native baseline, built the same way.
    native: PathBuf,
    /// `fn main() {}`, built the same way.
    empty: PathBuf,
    /// The hook as plain `cargo build --release` (or `cargo install`) makes it.
    hook_dynamic: PathBuf,
    /// `/bin/true`.
    true_: PathBuf,
    /// How they were built and how the cache was dropped, for the report.
    notes: Vec<String>,
}

impl Binaries {
    fn new(dir: &Path) -> Binaries {
        let (static_command, built) = build_binaries(STATIC_TARGET);
        let (dynamic_command, dynamic) = if STATIC_TARGET.is_some() {
            build_binaries(None)
        } else {
            (static_command.clone(), build_binaries(None).1)
        };
        fs::create_dir_all(dir).unwrap();
        let copy = |from: &Path, name: &str| {
            let to = dir.join(name);
            fs::copy(from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
            to
        };
        let mut binaries = Binaries {
            hook: copy(&built.hook, "session-lock"),
            native: copy(&built.native, "session-lock-native"),
            empty: copy(&built.empty, "empty-main"),
            hook_dynamic: copy(&dynamic.hook, "session-lock-dynamic"),
            true_: copy(Path::new(TRUE_BINARY), "true"),
            notes: vec![
                format!("hook, native, empty: {static_command}"),
                format!("hook-dyn:            {dynamic_command}"),
            ],
        };
        let dropped = binaries.drop_cached_pages();
        binaries.notes.push(dropped);
        binaries
    }

    fn all(&self) -> [&Path; 5] {
        [
            &self.hook,
            &self.native,
            &self.empty,
            &self.hook_dynamic,
            &self.true_,
        ]
    }

    /// Writes every copy to disk and drops its pages from the page cache, so that each is read
    /// back alike in the warm-up rounds.
    fn drop_cached_pages(&self) -> String {
        for path in self.all() {
            let file = File::open(path).unwrap();
            file.sync_all().unwrap();
            // SAFETY: a valid descriptor; the advice only drops clean cached pages.
            let advised = unsafe {
                libc::posix_fadvise(
                    std::os::fd::AsRawFd::as_raw_fd(&file),
                    0,
                    0,
                    libc::POSIX_FADV_DONTNEED,
                )
            };
            assert_eq!(advised, 0, "posix_fadvise on {}", path.display());
        }
        // SAFETY: `sync` has no preconditions.
        unsafe { libc::sync() };
        match fs::write("/proc/sys/vm/drop_caches", "1") {
            Ok(()) => "page cache: each copy fsynced and posix_fadvise(DONTNEED); then sync and \
                       `echo 1 > /proc/sys/vm/drop_caches`"
                .to_owned(),
            Err(why) => format!(
                "page cache: each copy fsynced and posix_fadvise(DONTNEED) (drop_caches: {why})"
            ),
        }
    }
}

/// Runs per case unless `HOOK_BENCH_ITERATIONS` says otherwise.
const DEFAULT_ITERATIONS: usize = 200;
/// Untimed rounds first: page cache, CPU frequency, the lock directory's dentries.
const WARMUP_ROUNDS: usize = 20;
/// The argument that makes this benchmark a cold-phase child (see [`cold_phases_child`]).
const COLD_PHASES_ARG: &str = "--cold-phases";

/// The targets the hook is held to.
const MAX_RATIO_TO_NATIVE: f64 = 1.3;
const MAX_RATIO_TO_TRUE: f64 = 2.0;
const MAX_RSS_KIB: u64 = 16 * 1024;

/// Variables of the calling environment that would change what the hook does.
const AMBIENT: &[&str] = &[
    "CLAUDE_PROJECT_DIR",
    "CLAUDE_PID",
    "SESSION_LOCK_DIR",
    "SESSION_LOCK_TTL_MS",
    "SESSION_LOCK_MODE",
    "RUST_BACKTRACE",
    "RUST_LIB_BACKTRACE",
];

/// The session whose events are sent, and the one that holds the lock when it is blocked.
const ME: &str = "bench-session-a";
const OTHER: &str = "bench-session-b";

/// The lock as an event finds it.
#[derive(Clone, Copy)]
enum LockBefore {
    Free,
    /// Held by this session, refreshed just now.
    HeldBy(&'static str),
    /// Held by this session, last refreshed this many ms ago.
    RefreshedAgo(&'static str, u64),
}

/// What the hook must have done; checked once per scenario before timing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Nothing on stdout, the lock held by [`ME`] afterwards.
    Holds,
    /// A deny on stdout, the lock still [`OTHER`]'s.
    Denied,
    /// Nothing on stdout, the lock free afterwards.
    Released,
    /// Allowed (nothing on stdout, or only a `systemMessage`), one `session-lock:` line on
    /// stderr.
    FailedOpen,
    /// Not a hook run (`--version`): a diagnostic, not held to the targets.
    StartupOnly,
}

/// One kind of run, with the lock state it meets.
struct Scenario {
    name: &'static str,
    args: &'static [&'static str],
    event: Vec<u8>,
    lock_before: LockBefore,
    env: &'static [(&'static str, &'static str)],
    expect: Expect,
}

/// What is run for a scenario.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Program {
    /// The hook, as shipped.
    Wasm,
    /// The hook as a plain `cargo build --release` makes it (dynamically linked).
    WasmDynamic,
    Native,
    True,
    /// `fn main() {}`, built as the hook is.
    Empty,
    /// The `HOOK_BENCH_ALSO` binary of this index.
    Also(usize),
}

impl Program {
    fn label(self) -> String {
        match self {
            Program::Wasm => "wasm".to_owned(),
            Program::WasmDynamic => "wasm-d".to_owned(),
            Program::Native => "native".to_owned(),
            Program::True => "true".to_owned(),
            Program::Empty => "empty".to_owned(),
            Program::Also(index) => format!("also{}", index + 1),
        }
    }
}

/// Other builds of the hook to measure alongside (`HOOK_BENCH_ALSO`).
fn also_binaries() -> Vec<PathBuf> {
    std::env::var_os("HOOK_BENCH_ALSO")
        .map(|paths| std::env::split_paths(&paths).collect())
        .unwrap_or_default()
}

/// One timed run.
#[derive(Clone, Copy)]
struct Sample {
    elapsed: Duration,
    cpu: Duration,
    max_rss_kib: u64,
}

/// A temporary git workspace, a lock directory and the record path of its lock.
struct Fixture {
    root: tempfile::TempDir,
    bin: Binaries,
    workspace: PathBuf,
    lock_dir: PathBuf,
    record: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let root = tempfile::tempdir().expect("temporary directory");
        let bin = Binaries::new(&root.path().join("bin"));
        let workspace = root.path().canonicalize().unwrap().join("repo");
        fs::create_dir_all(workspace.join(".git")).unwrap();
        let lock_dir = root.path().join("locks");
        fs::create_dir_all(&lock_dir).unwrap();
        let hash = Command::new(&bin.hook)
            .arg("hash")
            .arg(&workspace)
            .output()
            .expect("session-lock hash");
        assert!(hash.status.success(), "session-lock hash failed: {hash:?}");
        let hash = String::from_utf8(hash.stdout).unwrap().trim().to_owned();
        let record = lock_dir.join(format!("session-lock-{hash}.json"));
        Fixture {
            root,
            bin,
            workspace,
            lock_dir,
            record,
        }
    }

    /// Puts the lock in the state the scenario expects (untimed).
    fn set_lock(&self, before: LockBefore) {
        match before {
            LockBefore::Free => match fs::remove_file(&self.record) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{e}"),
                _ => {}
            },
            LockBefore::HeldBy(session) => self.set_lock(LockBefore::RefreshedAgo(session, 0)),
            LockBefore::RefreshedAgo(session, age_ms) => {
                // Byte for byte as the hook writes it.
                let now = settings::now_ms() - age_ms;
                let record = session_lock_policy::record::LockRecord::new(
                    session,
                    4242,
                    now,
                    DEFAULT_TTL_MS,
                    None,
                );
                fs::write(&self.record, record.encode()).unwrap();
            }
        }
    }

    /// Who holds the lock now.
    fn holder(&self) -> Option<String> {
        let bytes = fs::read(&self.record).ok()?;
        let record: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        record["session_id"].as_str().map(str::to_owned)
    }

    /// The event of a scenario as a file, to be the child's stdin.
    fn event_file(&self, index: usize, event: &[u8]) -> PathBuf {
        let path = self.root.path().join(format!("event-{index}.json"));
        fs::write(&path, event).unwrap();
        path
    }

    /// `program` with the scenario's arguments and a clean environment pointing at this
    /// fixture, run in the workspace.
    fn command(&self, program: Program, scenario: &Scenario) -> Command {
        let mut command = match program {
            Program::Wasm => Command::new(&self.bin.hook),
            Program::WasmDynamic => Command::new(&self.bin.hook_dynamic),
            Program::Native => Command::new(&self.bin.native),
            Program::True => Command::new(&self.bin.true_),
            Program::Empty => Command::new(&self.bin.empty),
            Program::Also(index) => Command::new(&also_binaries()[index]),
        };
        if !matches!(program, Program::True | Program::Empty) {
            command.args(scenario.args);
        }
        for name in AMBIENT {
            command.env_remove(name);
        }
        command
            .current_dir(&self.workspace)
            .env("SESSION_LOCK_DIR", &self.lock_dir)
            .env("CLAUDE_PID", "4242")
            .envs(scenario.env.iter().copied());
        command
    }
}

/// A Claude Code event of session [`ME`] in `workspace`, with a realistic `Edit` input.
fn claude_event(workspace: &Path, name: &str, tool: Option<&str>) -> Vec<u8> {
    let mut event = serde_json::json!({
        "session_id": ME,
        "transcript_path": "/tmp/bench.jsonl",
        "cwd": workspace,
        "hook_event_name": name,
    });
    if let Some(tool) = tool {
        event["tool_name"] = tool.into();
        event["tool_input"] = serde_json::json!({
            "file_path": workspace.join("src/main.rs"),
            "old_string": "fn main() {}",
            "new_string": "fn main() { println!(\"hello\"); }",
        });
    }
    event.to_string().into_bytes()
}

fn scenarios(workspace: &Path) -> Vec<Scenario> {
    let hook = |name, event, lock_before, env, expect| Scenario {
        name,
        args: &["hook"],
        event,
        lock_before,
        env,
        expect,
    };
    let pre = claude_event(workspace, "PreToolUse", Some("Edit"));
    let bad_json = b"{this is not json".to_vec();
    vec![
        hook(
            "PreToolUse, lock free",
            pre.clone(),
            LockBefore::Free,
            &[],
            Expect::Holds,
        ),
        hook(
            "PreToolUse, own lock",
            pre.clone(),
            LockBefore::HeldBy(ME),
            &[],
            Expect::Holds,
        ),
        hook(
            "PreToolUse, own, refresh due",
            pre.clone(),
            // A record a minute old: the refresh is written whatever the policy's refresh
            // interval (issue 12: a refresh of a just-written record could skip the write).
            LockBefore::RefreshedAgo(ME, DEFAULT_TTL_MS / 5),
            &[],
            Expect::Holds,
        ),
        hook(
            "PreToolUse, blocked",
            pre,
            LockBefore::HeldBy(OTHER),
            &[],
            Expect::Denied,
        ),
        hook(
            "PostToolUse",
            claude_event(workspace, "PostToolUse", Some("Edit")),
            LockBefore::HeldBy(ME),
            &[],
            Expect::Holds,
        ),
        hook(
            "Stop",
            claude_event(workspace, "Stop", None),
            LockBefore::HeldBy(ME),
            &[],
            Expect::Released,
        ),
        hook(
            "fail-open (bad JSON)",
            bad_json.clone(),
            LockBefore::Free,
            &[],
            Expect::FailedOpen,
        ),
        hook(
            "fail-open, RUST_BACKTRACE=1",
            bad_json,
            LockBefore::Free,
            &[("RUST_BACKTRACE", "1")],
            Expect::FailedOpen,
        ),
        Scenario {
            name: "startup only (--version)",
            args: &["--version"],
            event: Vec::new(),
            lock_before: LockBefore::Free,
            env: &[],
            expect: Expect::StartupOnly,
        },
    ]
}

/// Runs `program` on `scenario` once, output discarded: spawn to reaping, and the child's CPU
/// time and peak RSS from `wait4` (so they are this child's alone).
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which std's wait cannot do with the rusage"
)]
fn timed_run(fixture: &Fixture, program: Program, scenario: &Scenario, event: &Path) -> Sample {
    fixture.set_lock(scenario.lock_before);
    let mut command = fixture.command(program, scenario);
    command
        .stdin(File::open(event).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let start = Instant::now();
    let child = command.spawn().expect("spawn");
    let (status, usage) = wait4(child.id());
    let elapsed = start.elapsed();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{} on {:?} exited with status {status}",
        program.label(),
        scenario.name
    );
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Sample {
        elapsed,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss as u64,
    }
}

/// Reaps child `pid`: its wait status and resource usage.
fn wait4(pid: u32) -> (libc::c_int, libc::rusage) {
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: reaps our own child, whose `Child` is dropped without waiting, so it is reaped
    // once.
    let reaped = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid as libc::pid_t, "wait4 failed");
    (status, usage)
}

/// Runs `program` on `scenario` once with its output captured; returns it and the holder after.
fn checked_run(
    fixture: &Fixture,
    program: Program,
    scenario: &Scenario,
    event: &Path,
) -> (Output, Option<String>) {
    fixture.set_lock(scenario.lock_before);
    let output = fixture
        .command(program, scenario)
        .stdin(File::open(event).unwrap())
        .output()
        .expect("run the hook");
    (output, fixture.holder())
}

/// The hook answers every scenario as the policy says, and the native baseline answers alike;
/// panics otherwise.
fn check_answers(fixture: &Fixture, scenarios: &[Scenario], events: &[PathBuf]) {
    for (scenario, event) in scenarios.iter().zip(events) {
        let name = scenario.name;
        let (wasm, holder) = checked_run(fixture, Program::Wasm, scenario, event);
        let stdout = String::from_utf8_lossy(&wasm.stdout);
        let stderr = String::from_utf8_lossy(&wasm.stderr);
        assert_eq!(wasm.status.code(), Some(0), "{name}: {stderr}");
        match scenario.expect {
            Expect::Holds => {
                assert!(stdout.is_empty(), "{name}: {stdout}");
                assert_eq!(holder.as_deref(), Some(ME), "{name}");
            }
            Expect::Denied => {
                assert!(stdout.contains("\"deny\""), "{name}: {stdout}");
                assert_eq!(holder.as_deref(), Some(OTHER), "{name}");
            }
            Expect::Released => {
                assert!(stdout.is_empty(), "{name}: {stdout}");
                assert_eq!(holder, None, "{name}");
            }
            Expect::FailedOpen => {
                // Allowed: nothing on stdout, or a note for the person (Claude Code's
                // `systemMessage`), never a decision.
                assert!(
                    stdout.is_empty() || stdout.starts_with("{\"systemMessage\""),
                    "{name}: {stdout}"
                );
                assert!(stderr.starts_with("session-lock:"), "{name}: {stderr}");
            }
            Expect::StartupOnly => continue,
        }
        let answer = |o: &Output| (o.status.code(), o.stdout.clone(), o.stderr.clone());
        let others = (0..also_binaries().len()).map(Program::Also);
        for program in [Program::Native, Program::WasmDynamic]
            .into_iter()
            .chain(others)
        {
            let (other, other_holder) = checked_run(fixture, program, scenario, event);
            assert_eq!(
                (answer(&other), other_holder),
                (answer(&wasm), holder.clone()),
                "{name}: {} answers differently from the hook",
                program.label()
            );
        }
    }
}

/// Median, min, max.
fn summary(samples: &[Duration]) -> (Duration, Duration, Duration) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    };
    (median, sorted[0], sorted[n - 1])
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn iterations() -> usize {
    std::env::var("HOOK_BENCH_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_ITERATIONS)
}

/// The samples of one case.
struct Case {
    scenario: usize,
    program: Program,
    samples: Vec<Sample>,
}

impl Case {
    fn elapsed(&self) -> Vec<Duration> {
        self.samples.iter().map(|s| s.elapsed).collect()
    }

    fn median(&self) -> Duration {
        summary(&self.elapsed()).0
    }

    fn cpu_median(&self) -> Duration {
        let cpu: Vec<Duration> = self.samples.iter().map(|s| s.cpu).collect();
        summary(&cpu).0
    }

    fn peak_rss_kib(&self) -> u64 {
        self.samples
            .iter()
            .map(|s| s.max_rss_kib)
            .max()
            .unwrap_or(0)
    }
}

/// Runs every case `iterations` times, alternating; the cases in the order they were built.
fn run_alternating(fixture: &Fixture, scenarios: &[Scenario], events: &[PathBuf]) -> Vec<Case> {
    let iterations = iterations();
    // `/bin/true` once, fed the first event; then each scenario on both binaries.
    let mut cases: Vec<Case> = [Program::True, Program::Empty]
        .into_iter()
        .map(|program| Case {
            scenario: 0,
            program,
            samples: Vec::with_capacity(iterations),
        })
        .collect();
    let also = (0..also_binaries().len()).map(Program::Also);
    let programs: Vec<Program> = [Program::Wasm, Program::Native, Program::WasmDynamic]
        .into_iter()
        .chain(also)
        .collect();
    for scenario in 0..scenarios.len() {
        for &program in &programs {
            cases.push(Case {
                scenario,
                program,
                samples: Vec::with_capacity(iterations),
            });
        }
    }
    for round in 0..WARMUP_ROUNDS + iterations {
        // Reverse the order every other round, so that no case always follows the same one.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..cases.len()).collect()
        } else {
            (0..cases.len()).rev().collect()
        };
        for index in order {
            let case = &mut cases[index];
            let sample = timed_run(
                fixture,
                case.program,
                &scenarios[case.scenario],
                &events[case.scenario],
            );
            if round >= WARMUP_ROUNDS {
                case.samples.push(sample);
            }
        }
    }
    cases
}

/// Prints the whole-process table and the verdicts; returns whether every target was met.
fn report_whole_process(scenarios: &[Scenario], cases: &[Case]) -> bool {
    let true_case = &cases[0];
    let true_median = true_case.median();
    println!(
        "whole process: {} runs per case after {WARMUP_ROUNDS} warm-up rounds, all cases \
         alternating; wall times in ms (cpu: user+sys of the child, median). peak MiB: the \
         child's ru_maxrss, which Linux never reports below this benchmark's own RSS at the \
         spawn (a spawned child shares its memory until exec): the /bin/true row is that \
         floor\n",
        true_case.samples.len()
    );
    let header = format!(
        "{:<28} {:<6} {:>7} {:>7} {:>8} {:>7} {:>7} {:>6} {:>8}",
        "case", "binary", "median", "min", "max", "cpu", "/native", "/true", "peak MiB"
    );
    println!("{header}\n{}", "-".repeat(header.len()));
    let row = |name: &str, case: &Case, to_native: Option<f64>| {
        let (median, min, max) = summary(&case.elapsed());
        println!(
            "{:<28} {:<6} {:>7} {:>7} {:>8} {:>7} {:>7} {:>6.2} {:>8}",
            name,
            case.program.label(),
            ms(median),
            ms(min),
            ms(max),
            ms(case.cpu_median()),
            to_native.map_or(String::new(), |r| format!("{r:.2}")),
            ratio(median, true_median),
            mib(case.peak_rss_kib()),
        );
    };
    row("process spawn floor", true_case, None);
    row("empty fn main, built alike", &cases[1], None);
    let mut verdicts = String::new();
    let mut all_met = true;
    for (index, scenario) in scenarios.iter().enumerate() {
        let of_scenario = |program| {
            cases
                .iter()
                .find(|c| c.scenario == index && c.program == program)
                .unwrap()
        };
        let (wasm, native) = (of_scenario(Program::Wasm), of_scenario(Program::Native));
        let to_native = ratio(wasm.median(), native.median());
        row(scenario.name, wasm, Some(to_native));
        row("", native, None);
        let dynamic = of_scenario(Program::WasmDynamic);
        row("", dynamic, Some(ratio(dynamic.median(), native.median())));
        for also in (0..also_binaries().len()).map(Program::Also) {
            let case = of_scenario(also);
            row("", case, Some(ratio(case.median(), native.median())));
        }
        if scenario.expect == Expect::StartupOnly {
            continue;
        }
        let to_true = ratio(wasm.median(), true_median);
        let rss = wasm.peak_rss_kib();
        let met =
            to_native <= MAX_RATIO_TO_NATIVE && to_true <= MAX_RATIO_TO_TRUE && rss <= MAX_RSS_KIB;
        all_met &= met;
        writeln!(
            verdicts,
            "  {:<28} {:>5.2}x native (<= {MAX_RATIO_TO_NATIVE}), {:>5.2}x /bin/true \
             (<= {MAX_RATIO_TO_TRUE}), peak {} MiB (<= {}): {}",
            scenario.name,
            to_native,
            to_true,
            mib(rss),
            MAX_RSS_KIB / 1024,
            if met { "met" } else { "MISSED" }
        )
        .unwrap();
    }
    println!(
        "\nwasm: the hook; native: the baseline; empty: fn main() {{}}; wasm-d: the hook, dynamic"
    );
    for (index, path) in also_binaries().iter().enumerate() {
        println!("{:<28} also{}: {}", "", index + 1, path.display());
    }
    println!("\ntargets of the wasm hook:\n{verdicts}");
    all_met
}

/// The phases of one hook run in a fresh process, in the order the hook runs them.
const COLD_PHASES: &[&str] = &[
    "CPU feature detection (first use, in load)",
    "engine: artifact::engine()",
    "load: artifact::load_component (deserialize)",
    "instantiate: Policy::instantiate",
    "call environment_variables and targets",
    "workspace::resolve_path (host)",
    "call handle (PreToolUse, own lock)",
    "drop: policy, component, engine",
];

/// What the first use of `std`'s CPU feature detection costs: wasmtime's load checks the
/// artifact's ISA flags against the host with it, and each `cpuid` traps in a VM. Done first
/// here so that the load phase below is without it.
fn detect_cpu_features() {
    #[cfg(target_arch = "x86_64")]
    std::hint::black_box(std::arch::is_x86_feature_detected!("sse4.1"));
}

/// The cold-phase child: one hook run of the own-lock PreToolUse, phase by phase; prints the
/// phases' nanoseconds on one line.
fn cold_phases_child(lock_dir: &str, event: &str) {
    let event = fs::read(event).unwrap();
    let cwd = workspace::as_text(&std::env::current_dir().unwrap());
    let mut marks = vec![Instant::now()];
    detect_cpu_features();
    marks.push(Instant::now());
    let engine = artifact::engine().unwrap();
    marks.push(Instant::now());
    let component = artifact::load_component(&engine).unwrap();
    marks.push(Instant::now());
    let mut policy = Policy::instantiate(
        &engine,
        &component,
        FsLockStore::new(lock_dir),
        LocalProcesses,
    )
    .unwrap();
    marks.push(Instant::now());
    let mut invocation = hook::invocation(&mut policy, None).unwrap();
    invocation.process_cwd = cwd;
    let targets = policy.targets(&event, &invocation).unwrap();
    marks.push(Instant::now());
    let resolved = targets.iter().map(|t| workspace::resolve_path(t)).collect();
    marks.push(Instant::now());
    let context = HookContext {
        invocation,
        resolved,
        now_ms: settings::now_ms(),
        waited_ms: 0,
    };
    let answer: HookResponse = policy.handle(&event, &context).unwrap();
    marks.push(Instant::now());
    drop((policy, component, engine));
    marks.push(Instant::now());
    assert!(answer.stdout.is_empty(), "{answer:?}");
    let phases: Vec<String> = marks
        .windows(2)
        .map(|w| (w[1] - w[0]).as_nanos().to_string())
        .collect();
    println!("{}", phases.join(" "));
}

/// Runs [`cold_phases_child`] `iterations` times and prints each phase's median, and what the
/// whole child took beyond them (exec, loading the binary, exit).
fn cold_phases(fixture: &Fixture, scenarios: &[Scenario], events: &[PathBuf]) {
    let iterations = iterations();
    let own_lock = 1;
    assert_eq!(scenarios[own_lock].name, "PreToolUse, own lock");
    let this = std::env::current_exe().unwrap();
    let mut phases: Vec<Vec<Duration>> = vec![Vec::new(); COLD_PHASES.len()];
    let mut outside = Vec::new();
    let mut whole = Vec::new();
    for _ in 0..iterations + WARMUP_ROUNDS {
        fixture.set_lock(scenarios[own_lock].lock_before);
        let start = Instant::now();
        let output = Command::new(&this)
            .arg(COLD_PHASES_ARG)
            .arg(&fixture.lock_dir)
            .arg(&events[own_lock])
            .current_dir(&fixture.workspace)
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        let elapsed = start.elapsed();
        assert!(output.status.success());
        let times: Vec<Duration> = String::from_utf8(output.stdout)
            .unwrap()
            .split_whitespace()
            .map(|n| Duration::from_nanos(n.parse().unwrap()))
            .collect();
        assert_eq!(times.len(), COLD_PHASES.len());
        for (phase, time) in phases.iter_mut().zip(&times) {
            phase.push(*time);
        }
        outside.push(elapsed.saturating_sub(times.iter().sum()));
        whole.push(elapsed);
    }
    let skip = |v: &[Duration]| v[WARMUP_ROUNDS..].to_vec();
    println!(
        "cold phases: a fresh process (this benchmark) per run, {iterations} runs, times in ms\n"
    );
    println!("{:<44} {:>8} {:>8} {:>8}", "phase", "median", "min", "max");
    let row = |name: &str, samples: &[Duration]| {
        let (median, min, max) = summary(&skip(samples));
        println!(
            "{:<44} {:>8} {:>8} {:>8}",
            name,
            ms(median),
            ms(min),
            ms(max)
        );
    };
    for (name, samples) in COLD_PHASES.iter().zip(&phases) {
        row(name, samples);
    }
    row("outside main: exec, load binary, exit", &outside);
    row("whole child (spawn to reaping)", &whole);
    println!();
}

/// Times `f` `iterations` times after a few untimed runs; `f` returns the duration of the part
/// it measures, so that its own set-up is left out.
fn warm_case(name: &str, iterations: usize, mut f: impl FnMut() -> Duration) {
    for _ in 0..5 {
        f();
    }
    let samples: Vec<Duration> = (0..iterations).map(|_| f()).collect();
    let (median, min, max) = summary(&samples);
    println!(
        "{:<44} {:>8} {:>8} {:>8}",
        name,
        ms(median),
        ms(min),
        ms(max)
    );
}

fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let start = Instant::now();
    let result = f();
    (result, start.elapsed())
}

/// The same phases repeated in this process: what each costs once its first-time costs
/// (lazy initialisation, page faults on the binary) are paid.
fn warm_phases(fixture: &Fixture, scenarios: &[Scenario]) {
    let iterations = iterations();
    let own_lock = &scenarios[1];
    let workspace = workspace::as_text(&fixture.workspace);
    let store = || FsLockStore::new(&fixture.lock_dir);
    println!("warm phases: repeated in this process, {iterations} runs each, times in ms\n");
    println!("{:<44} {:>8} {:>8} {:>8}", "phase", "median", "min", "max");
    warm_case(COLD_PHASES[1], iterations, || {
        timed(|| artifact::engine().unwrap()).1
    });
    warm_case(COLD_PHASES[2], iterations, || {
        let engine = artifact::engine().unwrap();
        timed(|| artifact::load_component(&engine).unwrap()).1
    });
    warm_case(COLD_PHASES[3], iterations, || {
        let engine = artifact::engine().unwrap();
        let component = artifact::load_component(&engine).unwrap();
        timed(|| Policy::instantiate(&engine, &component, store(), LocalProcesses).unwrap()).1
    });
    // Only now the process-wide runtime (`Policy::load`): the code runs in place, registered by
    // address, so the in-place loads above must not overlap with it.
    let context = {
        let mut policy = Policy::load(store()).unwrap();
        let mut invocation = hook::invocation(&mut policy, None).unwrap();
        invocation.process_cwd = workspace.clone();
        let targets = policy.targets(&own_lock.event, &invocation).unwrap();
        HookContext {
            resolved: targets.iter().map(|t| workspace::resolve_path(t)).collect(),
            invocation,
            now_ms: settings::now_ms(),
            waited_ms: 0,
        }
    };
    warm_case("Policy::load (the three above)", iterations, || {
        timed(|| Policy::load(store()).unwrap()).1
    });
    warm_case("call targets, new instance", iterations, || {
        let mut policy = Policy::load(store()).unwrap();
        timed(|| {
            policy
                .targets(&own_lock.event, &context.invocation)
                .unwrap()
        })
        .1
    });
    warm_case("call handle (own lock), new instance", iterations, || {
        let mut policy = Policy::load(store()).unwrap();
        policy
            .targets(&own_lock.event, &context.invocation)
            .unwrap();
        fixture.set_lock(own_lock.lock_before);
        timed(|| policy.handle(&own_lock.event, &context).unwrap()).1
    });
    let mut policy = Policy::load(store()).unwrap();
    warm_case("call handle (own lock), same instance", iterations, || {
        fixture.set_lock(own_lock.lock_before);
        timed(|| policy.handle(&own_lock.event, &context).unwrap()).1
    });
    let mut store = session_lock_bench::NativeStore(store());
    let invocation = session_lock_policy::hook::Invocation {
        agent: None,
        environment: Vec::new(),
        process_cwd: workspace.clone(),
        parent_pid: 4242,
    };
    let context = session_lock_bench::context(&own_lock.event, invocation, settings::now_ms());
    let mut processes = session_lock_bench::NativeProcesses;
    warm_case("native: hook::handle (own lock)", iterations, || {
        fixture.set_lock(own_lock.lock_before);
        timed(|| {
            session_lock_policy::hook::handle(&mut store, &mut processes, &own_lock.event, &context)
        })
        .1
    });
    println!();
}

fn sizes(fixture: &Fixture) {
    let component = fixture.root.path().join("policy.wasm");
    let written = Command::new(&fixture.bin.hook)
        .args(["component", "-o"])
        .arg(&component)
        .status()
        .expect("session-lock component");
    assert!(written.success());
    let size = |path: &Path| fs::metadata(path).map_or(0, |m| m.len());
    println!("sizes (bytes)");
    let bin = &fixture.bin;
    for (name, path) in [
        ("session-lock (the hook, as shipped)", &bin.hook),
        ("session-lock-native (the baseline)", &bin.native),
        ("empty fn main", &bin.empty),
        (
            "session-lock, dynamic (cargo build --release)",
            &bin.hook_dynamic,
        ),
        ("component (session-lock component -o x.wasm)", &component),
    ] {
        println!("  {name:<56} {:>9}", size(path));
    }
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, lock_dir, event] = args.as_slice()
        && flag == COLD_PHASES_ARG
    {
        return cold_phases_child(lock_dir, event);
    }
    let benchmarking = args.iter().any(|a| a == "--bench");
    let fixture = Fixture::new();
    let scenarios = scenarios(&fixture.workspace);
    let events: Vec<PathBuf> = scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| fixture.event_file(i, &s.event))
        .collect();
    for note in &fixture.bin.notes {
        println!("{note}");
    }
    check_answers(&fixture, &scenarios, &events);
    if !benchmarking {
        println!(
            "hook_latency: the hook and the native baseline answer alike; \
             run `cargo bench` to measure"
        );
        return;
    }
    println!(
        "hook_latency on {} ({} cpus)\n",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let cases = run_alternating(&fixture, &scenarios, &events);
    let all_met = report_whole_process(&scenarios, &cases);
    cold_phases(&fixture, &scenarios, &events);
    warm_phases(&fixture, &scenarios);
    sizes(&fixture);
    println!(
        "\nall targets {}",
        if all_met {
            "met"
        } else {
            "not met (see above)"
        }
    );
}
