//! The meeting point of the rank-threads: every collective call is a numbered round on one board.
//!
//! Ranks match their calls by number (the n-th collective of every rank meets in round n), the
//! way MPI matches collectives by call order. A round remembers which ranks entered it, so a rank
//! that waits for one that has already returned from the world, or that called a different
//! operation, gets an error instead of a hang.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::Waits;

use crate::comm::{Call, Shared, Value};
use crate::failure::{misuse, stop};
use crate::ranks::Ranks;

pub(crate) struct Board {
    size: usize,
    waits: Arc<Waits>,
    state: Mutex<BoardState>,
    changed: Condvar,
}

struct BoardState {
    rounds: HashMap<(Ranks, u64, Step), Round>,
    /// Ranks whose body has returned: they will never enter another round.
    returned: Vec<bool>,
    aborted: bool,
}

/// Which round of a call: most calls are one round; `all_gather` and `broadcast` copy what the
/// main rank has in a second one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Step {
    First,
    Second,
}

/// One round of a collective call, as seen by all ranks.
pub(crate) struct Round {
    /// The call of the rank that opened the round, which the others' must match.
    opened_by: Call,
    members: std::ops::Range<usize>,
    entered: Vec<bool>,
    left: usize,
    /// The first known iterable length's call.
    length_of: Option<Call>,
    /// What each rank sent (indexed by sender).
    pub(crate) sent: Vec<Option<Value>>,
    /// What each rank is to receive (indexed by receiver).
    pub(crate) inbox: Vec<Option<Value>>,
    /// State shared by every rank for the length of a split or map.
    pub(crate) shared: Option<Shared>,
}

impl Round {
    fn new(call: &Call, size: usize) -> Self {
        Round {
            opened_by: call.clone(),
            members: call.ranks.range(size),
            entered: vec![false; size],
            left: 0,
            length_of: None,
            sent: (0..size).map(|_| None).collect(),
            inbox: (0..size).map(|_| None).collect(),
            shared: None,
        }
    }

    pub(crate) fn all_entered(&self) -> bool {
        self.members.clone().all(|rank| self.entered[rank])
    }

    /// Records that `call`'s rank entered; the error text if its call differs from another's.
    fn enter(&mut self, call: &Call) -> Result<(), String> {
        if let Some(mismatch) = call.mismatch(&self.opened_by) {
            return Err(mismatch);
        }
        if let Some(first) = &self.length_of
            && let Some(mismatch) = call.mismatch(first)
        {
            return Err(mismatch);
        }
        if self.length_of.is_none() && call.length.is_some() {
            self.length_of = Some(call.clone());
        }
        self.entered[call.rank] = true;
        Ok(())
    }
}

impl Board {
    pub(super) fn new(size: usize, waits: Arc<Waits>) -> Self {
        Board {
            size,
            waits,
            state: Mutex::new(BoardState {
                rounds: HashMap::new(),
                returned: vec![false; size],
                aborted: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BoardState> {
        // A rank that panicked while holding the lock left the board consistent (rounds are
        // updated in single assignments), and the world is aborting anyway.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes part in round `step` of `call`: runs `arrive` on entering, waits until `ready`
    /// holds, then runs `depart` and leaves. The last rank to leave removes the round.
    ///
    /// Unwinds this rank if the world aborts while it waits; panics with a clear message if the
    /// round cannot complete because of a mismatch between ranks.
    pub(crate) fn meet<R>(
        &self,
        call: &Call,
        step: Step,
        arrive: impl FnOnce(&mut Round),
        ready: impl Fn(&Round) -> bool,
        depart: impl FnOnce(&mut Round) -> R,
    ) -> R {
        let key = (call.ranks, call.number, step);
        let mut guard = self.lock();
        let round = guard
            .rounds
            .entry(key)
            .or_insert_with(|| Round::new(call, self.size));
        if let Err(message) = round.enter(call) {
            drop(guard);
            misuse(message);
        }
        arrive(round);
        self.changed.notify_all();
        guard = self.wait_until(guard, key, call, ready);
        let state = &mut *guard;
        let round = state
            .rounds
            .get_mut(&key)
            .expect("a round stays until every rank left it");
        let result = depart(round);
        round.left += 1;
        if round.left == round.members.len() {
            state.rounds.remove(&key);
        }
        result
    }

    /// Waits until the round of `call` is `ready`, the world aborts (this rank unwinds), a rank
    /// it waits for has returned from the world (a misuse), or it has waited longer than
    /// `DLP_TIMEOUT` (a report of where every rank is).
    fn wait_until<'a>(
        &'a self,
        guard: MutexGuard<'a, BoardState>,
        key: (Ranks, u64, Step),
        call: &Call,
        ready: impl Fn(&Round) -> bool,
    ) -> MutexGuard<'a, BoardState> {
        let mut waiting_since = None;
        let guard = self.wait_for(guard, key, call, ready, &mut waiting_since);
        self.waits.done(call.rank, waiting_since);
        guard
    }

    fn wait_for<'a>(
        &'a self,
        mut guard: MutexGuard<'a, BoardState>,
        key: (Ranks, u64, Step),
        call: &Call,
        ready: impl Fn(&Round) -> bool,
        waiting_since: &mut Option<Instant>,
    ) -> MutexGuard<'a, BoardState> {
        loop {
            let state = &*guard;
            if state.aborted {
                drop(guard);
                stop();
            }
            let round = &state.rounds[&key];
            if ready(round) {
                return guard;
            }
            if let Some(absent) = round
                .members
                .clone()
                .find(|&rank| state.returned[rank] && !round.entered[rank])
            {
                drop(guard);
                misuse(call.absent(absent, self.waits.error_of(absent).as_deref()));
            }
            guard = self
                .waits
                .wait(&self.changed, guard, call.rank, waiting_since);
        }
    }

    /// Records that `rank`'s body has returned, waking ranks that may be waiting for it.
    pub(crate) fn mark_returned(&self, rank: usize) {
        self.lock().returned[rank] = true;
        self.changed.notify_all();
    }

    /// Wakes every waiting rank so that it unwinds.
    pub(crate) fn abort(&self) {
        self.lock().aborted = true;
        self.changed.notify_all();
    }
}
