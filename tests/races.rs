//! Races between real `session-lock hook` processes on the real filesystem: in every round many
//! sessions start together (all processes exist and wait on stdin before any gets its event)
//! against a free lock, a stale lock, or a lock whose holder releases it mid-race.
//!
//! The long version of the same rounds is the soak example:
//! `cargo run --release -p session-lock --example soak -- --processes 64 --rounds 1000`.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;
#[path = "support/race.rs"]
mod race;

use std::sync::Mutex;

use arena::Arena;
use race::{Round, Scenario, Tally, run_round};

const BINARY: &str = env!("CARGO_BIN_EXE_session-lock");

/// Racers per round.
const RACERS: usize = 16;
/// Rounds per scenario.
const ROUNDS: usize = 8;

/// One race at a time: the hook's 1 s deadline must measure the race, not three races of the
/// test harness sharing two cores.
static ONE_RACE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs [`ROUNDS`] rounds of `scenario`, checking each with `check`, and prints the tally.
fn race(scenario: Scenario, check: impl Fn(&Round)) -> Tally {
    let _turn = ONE_RACE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let arena = Arena::new(BINARY, &["hook"]);
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut tally = Tally::default();
    for number in 0..ROUNDS {
        let round = run_round(&arena, scenario, RACERS, number, &mut rng);
        assert!(
            round.faults.is_empty(),
            "no process errs (seed {seed}): {round:?}"
        );
        check(&round);
        assert_eq!(round.misnamed_denials(), 0, "{round:?}");
        tally.add(&round);
    }
    println!("{scenario} lock, {RACERS} racers, seed {seed}:\n{tally}");
    tally
}

fn exactly_one_wins_and_the_file_names_it(round: &Round) {
    assert_eq!(round.allowed.len(), 1, "exactly one allowed: {round:?}");
    assert_eq!(
        round.holder_after.as_ref(),
        Some(&round.allowed[0]),
        "{round:?}"
    );
    assert_eq!(
        round.denials_naming,
        vec![round.allowed[0].clone(); RACERS - 1],
        "every other racer is told the winner"
    );
}

#[test]
fn exactly_one_of_many_sessions_takes_a_free_lock() {
    let tally = race(Scenario::Free, exactly_one_wins_and_the_file_names_it);
    assert!(tally.is_clean(), "{tally}");
}

#[test]
fn exactly_one_of_many_sessions_takes_over_a_stale_lock() {
    let tally = race(Scenario::Stale, exactly_one_wins_and_the_file_names_it);
    assert!(tally.is_clean(), "{tally}");
}

#[test]
fn at_most_one_session_gets_a_lock_released_during_the_race() {
    let tally = race(Scenario::Released, |round| {
        assert!(round.allowed.len() <= 1, "at most one allowed: {round:?}");
        match round.allowed.first() {
            Some(winner) => assert_eq!(round.holder_after.as_ref(), Some(winner), "{round:?}"),
            None => assert_eq!(
                round.holder_after, None,
                "the holder's Stop released it and nobody took it: {round:?}"
            ),
        }
        let holder = round.previous_holder.as_ref().unwrap();
        let told_holder = round.denials_naming.iter().filter(|n| *n == holder);
        let told_winner = round.denials_naming.len() - told_holder.count();
        assert!(
            told_winner == 0 || !round.allowed.is_empty(),
            "denials name the holder, or the winner once there is one: {round:?}"
        );
    });
    assert!(tally.is_clean(), "{tally}");
}
