//! The meeting point of the rank-threads: every collective call is a numbered round on one board.
//!
//! Ranks match their calls by number (the n-th collective of every rank meets in round n), the
//! way MPI matches collectives by call order. A round remembers which ranks entered it, so a rank
//! that waits for one that has already returned from the world, or that called a different
//! operation, gets an error instead of a hang.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::failure::{misuse, stop};
use crate::ranks::Ranks;

pub(crate) struct Board {
    size: usize,
    state: Mutex<BoardState>,
    changed: Condvar,
}

struct BoardState {
    rounds: HashMap<(Ranks, u64), Round>,
    /// Ranks whose body has returned: they will never enter another round.
    returned: Vec<bool>,
    aborted: bool,
}

/// One collective call, as seen by all ranks.
pub(crate) struct Round {
    operation: &'static str,
    opened_by: usize,
    members: std::ops::Range<usize>,
    entered: Vec<bool>,
    left: usize,
    /// The first known iterable length and the rank that had it.
    length: Option<(usize, usize)>,
    /// What each rank sent (indexed by sender).
    pub(crate) sent: Vec<Option<Box<dyn Any + Send>>>,
    /// What each rank is to receive (indexed by receiver).
    pub(crate) inbox: Vec<Option<Box<dyn Any + Send>>>,
    /// State shared by every rank for the length of a split or map.
    pub(crate) shared: Option<Arc<dyn Any + Send + Sync>>,
}

impl Round {
    fn new(operation: &'static str, opened_by: usize, members: Ranks, size: usize) -> Self {
        Round {
            operation,
            opened_by,
            members: members.range(size),
            entered: vec![false; size],
            left: 0,
            length: None,
            sent: (0..size).map(|_| None).collect(),
            inbox: (0..size).map(|_| None).collect(),
            shared: None,
        }
    }

    pub(crate) fn all_entered(&self) -> bool {
        self.members.clone().all(|rank| self.entered[rank])
    }

    /// Records `rank`'s iterable length; returns the error text if it differs from another's.
    fn check_length(&mut self, rank: usize, length: usize, call: u64) -> Result<(), String> {
        match self.length {
            None => {
                self.length = Some((length, rank));
                Ok(())
            }
            Some((first, _)) if first == length => Ok(()),
            Some((first, first_rank)) => Err(format!(
                "the iterables of {} #{call} differ between ranks: rank {rank} has {length} \
                 items, rank {first_rank} has {first} items. Every rank must build the same iterable \
                 (only indices travel); build it from data every rank has, or broadcast it first",
                self.operation
            )),
        }
    }
}

/// What a rank brings to a round.
pub(crate) struct Entry {
    pub(crate) call: u64,
    pub(crate) operation: &'static str,
    pub(crate) rank: usize,
    /// The length of the iterable of a split or map, where it is known.
    pub(crate) length: Option<usize>,
    pub(crate) members: Ranks,
}

impl Board {
    pub(crate) fn new(size: usize) -> Self {
        Board {
            size,
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

    /// Takes part in round `entry.call`: runs `arrive` on entering, waits until `ready` holds,
    /// then runs `depart` and leaves. The last rank to leave removes the round.
    ///
    /// Unwinds this rank if the world aborts while it waits; panics with a clear message if the
    /// round cannot complete because of a mismatch between ranks.
    pub(crate) fn meet<R>(
        &self,
        entry: Entry,
        arrive: impl FnOnce(&mut Round),
        ready: impl Fn(&Round) -> bool,
        depart: impl FnOnce(&mut Round) -> R,
    ) -> R {
        let Entry {
            call,
            operation,
            rank,
            length,
            members,
        } = entry;
        let key = (members, call);
        let mut guard = self.lock();
        let state = &mut *guard;
        let round = state
            .rounds
            .entry(key)
            .or_insert_with(|| Round::new(operation, rank, members, self.size));
        if round.operation != operation {
            let message = format!(
                "collective #{call} does not match across ranks: rank {rank} called {operation}, \
                 rank {} called {}. Every rank must make the same collective calls (splits and \
                 maps included) in the same order",
                round.opened_by, round.operation
            );
            drop(guard);
            misuse(message);
        }
        round.entered[rank] = true;
        if let Some(length) = length
            && let Err(message) = round.check_length(rank, length, call)
        {
            drop(guard);
            misuse(message);
        }
        arrive(round);
        self.changed.notify_all();

        loop {
            let state = &mut *guard;
            if state.aborted {
                drop(guard);
                stop();
            }
            let round = &state.rounds[&key];
            if ready(round) {
                break;
            }
            if let Some(absent) = round
                .members
                .clone()
                .find(|&r| state.returned[r] && !round.entered[r])
            {
                let message = format!(
                    "rank {rank} waits in {operation} (collective #{call}), but rank {absent} has \
                     already returned from the world without calling it. Every rank must make \
                     the same collective calls in the same order"
                );
                drop(guard);
                misuse(message);
            }
            guard = self
                .changed
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }

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
