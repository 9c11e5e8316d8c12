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

#[path = "../../tests/support/arena.rs"]
mod arena;
#[path = "../../tests/support/events.rs"]
mod events;
#[path = "../../tests/support/race.rs"]
mod race;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

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
    println!(
        "soak: {} processes per round, seed {seed}, {:.1} s",
        args.processes,
        started.elapsed().as_secs_f64()
    );
    println!("{tally}");
    if tally.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
