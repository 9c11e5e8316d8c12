//! The race rounds of `tests/races.rs`, many more of them: a free lock, a stale lock and a lock
//! released mid-race, in turn, each round with `--processes` hook processes started together.
//!
//! ```sh
//! cargo run --release -p session-lock --example soak -- --processes 64 --rounds 1000
//! ```
//!
//! By default the racers are this program re-run as `soak hook`, which runs
//! `session_lock::hook::run`, the very function behind `session-lock hook`, built from the same
//! sources as this example (a `session-lock` binary lying beside it may be older). `--binary`
//! races a built `session-lock` instead. Prints the totals; exits 1 if any round broke the lock.
//!
//! `--cpu-load N` keeps N threads spinning and `--writeback-mb M` keeps a writer dirtying M MiB
//! at a time beside the lock directory while another thread forces them out (`syncfs`), so
//! the racers run on a loaded machine whose disk is busy flushing: there a swap can keep the
//! mutex for hundreds of milliseconds, and the others meet contention.
//!
//! ```sh
//! cargo run --release -p session-lock --example soak -- --processes 16 --rounds 60 \
//!     --cpu-load 2 --writeback-mb 256
//! ```

#[path = "../../tests/support/arena.rs"]
mod arena;
#[path = "../../tests/support/events.rs"]
mod events;
#[path = "../../tests/support/race.rs"]
mod race;

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;

use arena::Arena;
use race::{Scenario, Tally, run_round};

/// Races many `session-lock hook` processes for one lock, round after round.
#[derive(Parser)]
struct Args {
    /// Racing processes per round.
    #[arg(long, default_value_t = 64)]
    processes: usize,
    /// Rounds (free, stale and released locks in turn).
    #[arg(long, default_value_t = 1000)]
    rounds: usize,
    /// A `session-lock` binary to race (`<binary> hook`); default: this program's own hook.
    #[arg(long)]
    binary: Option<PathBuf>,
    /// The seed of the event order (default: random).
    #[arg(long)]
    seed: Option<u64>,
    /// Threads kept spinning while the rounds run (CPU load).
    #[arg(long, default_value_t = 0)]
    cpu_load: usize,
    /// MiB a writer keeps dirtying beside the lock directory while another thread flushes
    /// them (write-back load); 0: none.
    #[arg(long, default_value_t = 0)]
    writeback_mb: usize,
}

/// Background load that runs until dropped.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Load {
    /// `cpu` spinning threads, and with `writeback_mb` above 0 a writer dirtying that many
    /// MiB in `dir` over and over and a flusher forcing them to disk every 100 ms.
    fn start(cpu: usize, writeback_mb: usize, dir: &Path) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for _ in 0..cpu {
            let stop = stop.clone();
            threads.push(thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }));
        }
        if writeback_mb > 0 {
            let file = dir.join("writeback.bin");
            let writer_stop = stop.clone();
            let path = file.clone();
            threads.push(thread::spawn(move || {
                let chunk = vec![0x5a_u8; 1 << 20];
                while !writer_stop.load(Ordering::Relaxed) {
                    let mut out = File::create(&path).expect("the write-back file");
                    for _ in 0..writeback_mb {
                        if writer_stop.load(Ordering::Relaxed) {
                            break;
                        }
                        out.write_all(&chunk).expect("write-back");
                    }
                }
                let _ = fs::remove_file(&path);
            }));
            let flusher_stop = stop.clone();
            let dir = dir.to_owned();
            threads.push(thread::spawn(move || {
                let handle = File::open(&dir).expect("the lock directory's parent");
                while !flusher_stop.load(Ordering::Relaxed) {
                    // SAFETY: a valid open descriptor.
                    unsafe { libc::syncfs(handle.as_raw_fd()) };
                    thread::sleep(Duration::from_millis(100));
                }
            }));
        }
        Load { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("hook") {
        return session_lock::hook::run(None);
    }
    let args = Args::parse();
    let arena = match &args.binary {
        Some(binary) => Arena::new(binary, &["hook"]),
        None => Arena::new(std::env::current_exe().expect("own path"), &["hook"]),
    };
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let load_dir = arena
        .lock_dir
        .parent()
        .expect("the arena's root")
        .to_owned();
    let load = Load::start(args.cpu_load, args.writeback_mb, &load_dir);
    let started = Instant::now();
    let mut tally = Tally::default();
    for number in 0..args.rounds {
        let scenario = Scenario::ALL[number % Scenario::ALL.len()];
        tally.add(&run_round(
            &arena,
            scenario,
            args.processes,
            number,
            &mut rng,
        ));
    }
    drop(load);
    println!(
        "soak: {} processes per round, seed {seed}, {:.1} s, {} spinning threads, {} MiB of \
         write-back",
        args.processes,
        started.elapsed().as_secs_f64(),
        args.cpu_load,
        args.writeback_mb
    );
    println!("{tally}");
    if tally.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
