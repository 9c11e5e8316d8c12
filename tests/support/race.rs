//! One race round: many `session-lock hook` processes of distinct sessions started together
//! against one lock, then judged by their answers and by the lock file they leave. Shared by
//! `tests/races.rs` and the soak example (`host/examples/soak.rs`); needs `arena` beside it.

// The soak example and the test use different parts of this file.
#![allow(dead_code)]

use std::fmt;
use std::process::Child;

use crate::arena::{Arena, check_record, now_ms};
use crate::events::{Answer, answer, feed};

/// The lock when the racers start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// No lock: exactly one racer takes it.
    Free,
    /// Another session's record whose `refreshed_at + ttl_ms` lies in the past: exactly one
    /// racer takes it over.
    Stale,
    /// Another session's fresh lock, whose holder's Stop is sent among the racers' events: at
    /// most one racer takes it, and only after the release.
    Released,
}

impl Scenario {
    /// The three, in order.
    pub const ALL: [Scenario; 3] = [Scenario::Free, Scenario::Stale, Scenario::Released];
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scenario::Free => "free",
            Scenario::Stale => "stale",
            Scenario::Released => "released",
        })
    }
}

/// What one round did.
#[derive(Debug)]
pub struct Round {
    /// The lock the racers started against.
    pub scenario: Scenario,
    /// How many racers there were (the holder's Stop not counted).
    pub racers: usize,
    /// The holder before the round, if any.
    pub previous_holder: Option<String>,
    /// The racers whose PreToolUse was allowed.
    pub allowed: Vec<String>,
    /// The racers allowed without the lock (a fail-open warning): they go on and change the
    /// workspace like a holder, so they count towards double holders.
    pub allowed_unlocked: Vec<String>,
    /// The racers refused because the store was busy (the lock being taken right now): the
    /// answer to contention, and no fault.
    pub busy: usize,
    /// The holder each denied racer was told about.
    pub denials_naming: Vec<String>,
    /// The session the lock file names after the round.
    pub holder_after: Option<String>,
    /// Anything that must not happen to a single process or file: a non-zero exit, a stderr
    /// line, an answer of another form, a lock file that is not a complete valid record.
    pub faults: Vec<String>,
}

impl Round {
    /// More than one racer went on to change the workspace: allowed with the lock, or
    /// without it.
    pub fn double_holder(&self) -> bool {
        self.allowed.len() + self.allowed_unlocked.len() > 1
    }

    /// The lock file does not match the answers: in `Free` and `Stale` rounds nobody won or the
    /// file does not name the winner; in `Released` rounds a winner the file does not name, or
    /// a file left when nobody won (the holder's release was lost).
    pub fn lost_lock(&self) -> bool {
        match (self.scenario, self.allowed.first()) {
            (Scenario::Free | Scenario::Stale, None) => true,
            (_, Some(winner)) => self.holder_after.as_ref() != Some(winner),
            (Scenario::Released, None) => self.holder_after.is_some(),
        }
    }

    /// Denials naming a session that did not hold the lock at any time in the round.
    pub fn misnamed_denials(&self) -> usize {
        let legitimate = |named: &String| {
            self.allowed.first().is_some_and(|id| names(named, id))
                || (self.scenario == Scenario::Released
                    && self
                        .previous_holder
                        .as_ref()
                        .is_some_and(|id| names(named, id)))
        };
        self.denials_naming
            .iter()
            .filter(|n| !legitimate(n))
            .count()
    }

    /// Whether the round broke nothing.
    pub fn is_clean(&self) -> bool {
        self.faults.is_empty()
            && !self.double_holder()
            && !self.lost_lock()
            && self.misnamed_denials() == 0
    }
}

/// Runs round `number`: sets up the lock for `scenario`, starts `racers` hook processes (and,
/// for `Released`, the holder's Stop) with their stdin open, and only once all are started
/// feeds every one its event, in an order drawn from `rng`.
pub fn run_round(
    arena: &Arena,
    scenario: Scenario,
    racers: usize,
    number: usize,
    rng: &mut fastrand::Rng,
) -> Round {
    let previous_holder = set_up(arena, scenario, number);
    let racer_ids: Vec<String> = (0..racers)
        .map(|n| format!("r{number}-racer-{n}"))
        .collect();
    let mut events: Vec<Vec<u8>> = racer_ids
        .iter()
        .map(|id| arena.claude_event("PreToolUse", id, Some("Bash")))
        .collect();
    let stop_at = (scenario == Scenario::Released).then(|| {
        let at = rng.usize(..=racers);
        let holder = previous_holder.as_deref().unwrap();
        events.insert(at, arena.claude_event("Stop", holder, None));
        at
    });
    // The barrier: every process exists and waits on stdin before any gets its event.
    let mut children: Vec<Child> = events.iter().map(|_| arena.spawn(&[])).collect();
    let mut order: Vec<usize> = (0..children.len()).collect();
    rng.shuffle(&mut order);
    for &n in &order {
        feed(&mut children[n], &events[n]);
    }
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("the hook runs"))
        .collect();

    let mut round = Round {
        scenario,
        racers,
        previous_holder,
        allowed: Vec::new(),
        allowed_unlocked: Vec::new(),
        busy: 0,
        denials_naming: Vec::new(),
        holder_after: None,
        faults: Vec::new(),
    };
    let mut racer = racer_ids.iter();
    for (n, output) in outputs.iter().enumerate() {
        let is_stop = stop_at == Some(n);
        let who = if is_stop {
            "the holder's Stop".to_owned()
        } else {
            racer.next().unwrap().clone()
        };
        let answered = answer(output);
        // A busy refusal says why on stderr; anything else there is a fault.
        if !output.stderr.is_empty() && answered != Answer::Busy {
            let err = String::from_utf8_lossy(&output.stderr);
            round.faults.push(format!("{who}: stderr {err:?}"));
        }
        match (answered, is_stop) {
            (Answer::Allow, true) => {}
            (Answer::Allow, false) => round.allowed.push(who),
            (Answer::Deny(holder), false) => round.denials_naming.push(holder),
            (Answer::Busy, false) => round.busy += 1,
            (Answer::FailedOpen(why), false) => {
                round
                    .faults
                    .push(format!("{who}: allowed without the lock: {why}"));
                round.allowed_unlocked.push(who);
            }
            (other, _) => round.faults.push(format!("{who}: answered {other:?}")),
        }
    }
    match arena.record_bytes().map(|b| check_record(&b)) {
        None => {}
        Some(Ok(holder)) => round.holder_after = Some(holder),
        Some(Err(why)) => round.faults.push(format!("lock file: {why}")),
    }
    round
}

/// Puts the lock in the scenario's starting state; the holder it names, if any.
fn set_up(arena: &Arena, scenario: Scenario, number: usize) -> Option<String> {
    arena.clear_record();
    let holder = format!("r{number}-holder");
    match scenario {
        Scenario::Free => return None,
        // Refreshed ten minutes ago with a five-minute ttl.
        Scenario::Stale => arena.write_record(&holder, now_ms() - 600_000, 300_000),
        Scenario::Released => arena.write_record(&holder, now_ms(), 300_000),
    }
    Some(holder)
}

/// Totals over many rounds.
#[derive(Debug, Default)]
pub struct Tally {
    /// Rounds run.
    pub rounds: usize,
    /// Hook processes run (racers and Stops).
    pub processes: usize,
    /// Rounds with more than one racer allowed (with the lock or without it).
    pub double_holders: usize,
    /// Racers allowed without the lock (fail open): contention let through.
    pub allowed_unlocked: usize,
    /// Racers refused because the store was busy.
    pub busy: usize,
    /// Rounds whose lock file did not match the answers.
    pub lost_locks: usize,
    /// Denials naming a session that never held the lock in their round.
    pub misnamed_denials: usize,
    /// Process or file faults (see [`Round::faults`]).
    pub faults: usize,
    /// `Released` rounds, and those in which a racer won after the release.
    pub released_rounds: usize,
    /// See `released_rounds`.
    pub released_rounds_won: usize,
    /// The first faults seen, for the report.
    pub examples: Vec<String>,
}

impl Tally {
    /// Counts `round` in.
    pub fn add(&mut self, round: &Round) {
        self.rounds += 1;
        self.processes += round.racers + usize::from(round.scenario == Scenario::Released);
        self.double_holders += usize::from(round.double_holder());
        self.allowed_unlocked += round.allowed_unlocked.len();
        self.busy += round.busy;
        self.lost_locks += usize::from(round.lost_lock());
        self.misnamed_denials += round.misnamed_denials();
        self.faults += round.faults.len();
        if round.scenario == Scenario::Released {
            self.released_rounds += 1;
            self.released_rounds_won += usize::from(!round.allowed.is_empty());
        }
        if !round.is_clean() && self.examples.len() < 5 {
            self.examples.push(format!("{round:?}"));
        }
    }

    /// Whether every round was clean.
    pub fn is_clean(&self) -> bool {
        self.double_holders == 0
            && self.allowed_unlocked == 0
            && self.lost_locks == 0
            && self.misnamed_denials == 0
            && self.faults == 0
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rounds: {}", self.rounds)?;
        writeln!(f, "processes: {}", self.processes)?;
        writeln!(f, "double holders: {}", self.double_holders)?;
        writeln!(f, "allowed without the lock: {}", self.allowed_unlocked)?;
        writeln!(f, "refused as busy (retry): {}", self.busy)?;
        writeln!(f, "lost locks: {}", self.lost_locks)?;
        writeln!(f, "misnamed denials: {}", self.misnamed_denials)?;
        writeln!(f, "process faults: {}", self.faults)?;
        write!(
            f,
            "released rounds won after the release: {} of {}",
            self.released_rounds_won, self.released_rounds
        )?;
        for example in &self.examples {
            write!(f, "\n  {example}")?;
        }
        Ok(())
    }
}

/// Whether a refusal's holder, as the model reads it, names session `id`: the whole id, or a
/// long id's last characters after `…`.
fn names(shown: &str, id: &str) -> bool {
    shown == id
        || shown
            .strip_prefix('…')
            .is_some_and(|tail| id.ends_with(tail))
}
