//! The meeting point of the rank-threads: every collective call is a numbered round on a board.
//!
//! Ranks match their calls by number (the n-th collective of every rank of a group meets in
//! round n), the way MPI matches collectives by call order. A round remembers which ranks entered
//! it, so a rank that waits for one that has already returned from the world, or that called a
//! different operation, gets an error instead of a hang.
//!
//! Rounds in flight live in a ring of cells, one ring per group: a rank can run a few rounds
//! ahead of the others (a gather does not wait on the ranks that send) without anything being
//! allocated per round. What ranks wait for is counted in atomics on the cell, so waiting costs
//! no lock; what they exchange, and the calls they compare, sit behind the cell's mutex.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use super::signal::{Signal, spin_until};
use super::slots::Slot;
use super::{Here, Waits};

use crate::comm::{Call, Shared, Value};
use crate::failure::{misuse, stop};
use crate::ranks::Ranks;

/// Rounds of one group that can be in flight at once; a rank this far ahead waits.
const RING: u64 = 8;
/// The opener of a round that no rank has opened yet.
const NOBODY: usize = usize::MAX;

/// What a round's `opened` holds for `operation`: the address and length of its name, never 0.
/// Equal keys are the same bytes, so the same name (one name may start another at the same
/// address, but not with the same length); a name can be held at two addresses (one copy per
/// unit of code), so different keys are only a sign of a mismatch, which the calls confirm.
fn operation_key(operation: &'static str) -> u64 {
    let (address, length) = (operation.as_ptr() as u64, operation.len() as u64);
    // User-space addresses fit in 48 bits, and dlp's operation names in far fewer than 16.
    debug_assert!(address < 1 << 48 && length < 1 << 16);
    (length << 48) | address
}

pub(crate) struct Board {
    /// The ranks that meet here.
    here: Here,
    /// The ring of the whole world and, made when first used, that of the worker ranks (the
    /// main rank alone never meets anyone).
    all: Ring,
    workers: OnceLock<Ring>,
    /// The run of the board: 1 in its first world, one more in each world it is kept for.
    run: AtomicU64,
    /// For each rank here, the last run in which its body returned: it will never enter another
    /// round of that run.
    returned: Box<[Returned]>,
    aborted: AtomicBool,
    signal: Signal,
    waits: Arc<Waits>,
}

/// The last run of the board in which a rank's body returned (0 for none): on lines of its own,
/// which its rank writes without taking a line that another rank writes, and which the next
/// world leaves as they are (a new run makes the number stale).
#[repr(align(128))]
struct Returned(AtomicU64);

/// What a rank waits for in a round before it leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Until {
    /// Nothing: it leaves at once.
    Entered,
    /// Every rank of the group has entered.
    AllEntered,
    /// The first rank of the group (the root) has entered.
    RootEntered,
}

/// Whether the ranks of a round wrote what it holds behind its lock, which its last rank to
/// leave then empties.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Touched {
    Yes,
    No,
}

/// A round a rank takes part in: where it is held.
#[derive(Clone, Copy)]
struct Entered<'a> {
    ring: &'a Ring,
    cell: &'a Cell,
    number: u64,
    /// The number of ranks in the group.
    size: usize,
}

struct Ring {
    members: Range<usize>,
    cells: Box<[Cell]>,
}

/// The place of the rounds whose call number is its index, modulo the ring's length, one at a
/// time.
// Cells are written by every rank of a group: one to a cache line pair, so that a round in
// flight does not slow the next one down.
#[repr(align(128))]
struct Cell {
    /// The call number of the round the cell holds or will hold next.
    number: AtomicU64,
    entered: AtomicUsize,
    root_entered: AtomicBool,
    /// Set once the round's shared state is made (see [`Board::join`]).
    shared_made: AtomicBool,
    left: AtomicUsize,
    /// The [`operation_key`] of the call that opened the round, 0 before one did: each rank
    /// checks its call's operation against it without taking the round's lock.
    opened: AtomicU64,
    /// The world rank that opened the round, [`NOBODY`] before one did.
    opener: AtomicUsize,
    /// Set once a fold's result is in `result` (see [`Board::fold`]).
    folded: AtomicBool,
    /// Whether a slot holds a boxed encoding, which the last rank to leave frees.
    boxed: AtomicBool,
    round: Mutex<Round>,
    /// What each rank of the group leaves for the others without the lock, by place.
    slots: Box<[Slot]>,
    /// A fold's result.
    result: Slot,
}

/// One round of a collective call, as seen by all ranks.
#[derive(Default)]
pub(crate) struct Round {
    /// The call of the rank that opened the round, which the others' must match.
    opened_by: Option<Call>,
    /// Which ranks entered, by place in the group.
    entered: Vec<bool>,
    /// The first known iterable length's call.
    length_of: Option<Call>,
    /// What each rank sent (indexed by place in the group).
    pub(crate) sent: Vec<Option<Value>>,
    /// What each rank sent as bytes, for the others to decode copies of (indexed by place).
    pub(crate) encoded: Vec<Option<Arc<[u8]>>>,
    /// What each rank is to receive (indexed by place in the group).
    pub(crate) inbox: Vec<Option<Value>>,
    /// State shared by every rank for the length of a split or map, and whether a rank is
    /// making it.
    pub(crate) shared: Option<Shared>,
    making: bool,
}

impl Round {
    /// Records that `call`'s rank, at `place` of a group of `size`, entered; the error text if
    /// its call differs from another's.
    fn enter(&mut self, call: &Call, place: usize, size: usize) -> Result<(), String> {
        if self.entered.is_empty() {
            self.entered.resize(size, false);
            self.sent.resize_with(size, || None);
            self.encoded.resize_with(size, || None);
            self.inbox.resize_with(size, || None);
        }
        self.check(call)?;
        if self.length_of.is_none() && call.length.is_some() {
            self.length_of = Some(call.clone());
        }
        self.entered[place] = true;
        Ok(())
    }

    /// Whether `call` is the call the ranks that entered made (the first one opens the round);
    /// the error text if not.
    fn check(&mut self, call: &Call) -> Result<(), String> {
        let opened_by = self.opened_by.get_or_insert_with(|| call.clone());
        if let Some(mismatch) = call.mismatch(opened_by) {
            return Err(mismatch);
        }
        match &self.length_of {
            Some(first) => call.mismatch(first).map_or(Ok(()), Err),
            None => Ok(()),
        }
    }

    /// Empties the round for the next one of its cell, keeping what it allocated.
    fn clear(&mut self) {
        self.opened_by = None;
        self.length_of = None;
        self.shared = None;
        self.making = false;
        self.entered.fill(false);
        self.sent.iter_mut().for_each(|slot| *slot = None);
        self.encoded.iter_mut().for_each(|slot| *slot = None);
        self.inbox.iter_mut().for_each(|slot| *slot = None);
    }
}

impl Ring {
    fn new(members: Range<usize>) -> Self {
        let size = members.len();
        let cells = (0..RING).map(|number| Cell {
            number: AtomicU64::new(number),
            entered: AtomicUsize::new(0),
            root_entered: AtomicBool::new(false),
            shared_made: AtomicBool::new(false),
            left: AtomicUsize::new(0),
            opened: AtomicU64::new(0),
            opener: AtomicUsize::new(NOBODY),
            folded: AtomicBool::new(false),
            boxed: AtomicBool::new(false),
            round: Mutex::new(Round::default()),
            slots: (0..size).map(|_| Slot::default()).collect(),
            result: Slot::default(),
        });
        Ring {
            members,
            cells: cells.collect(),
        }
    }
}

impl Cell {
    fn lock(&self) -> MutexGuard<'_, Round> {
        // A rank that panicked while holding the lock left the round consistent (it is updated
        // in single assignments), and the world is aborting anyway.
        self.round.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens the round for `call`'s operation, or finds it opened by the same one; false if
    /// another operation may have opened it.
    fn claim(&self, call: &Call) -> bool {
        let key = operation_key(call.operation);
        let opened = self
            .opened
            .compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire);
        match opened {
            Ok(_) => {
                self.opener.store(call.rank, Ordering::Release);
                true
            }
            Err(opened) => opened == key,
        }
    }

    /// Counts the rank at `place` of the group in, once it has done all it does on entering.
    fn count_in(&self, place: usize) {
        self.entered.fetch_add(1, Ordering::Release);
        if place == 0 {
            self.root_entered.store(true, Ordering::Release);
        }
    }

    fn holds(&self, number: u64) -> bool {
        self.number.load(Ordering::Acquire) == number
    }

    fn reached(&self, until: Until, size: usize) -> bool {
        match until {
            Until::Entered => true,
            Until::AllEntered => self.entered.load(Ordering::Acquire) == size,
            Until::RootEntered => self.root_entered.load(Ordering::Acquire),
        }
    }
}

impl Board {
    pub(super) fn new(here: Here, waits: Arc<Waits>) -> Self {
        Board {
            all: Ring::new(here.members(Ranks::All)),
            workers: OnceLock::new(),
            run: AtomicU64::new(1),
            returned: (here.ranks.clone())
                .map(|_| Returned(AtomicU64::new(0)))
                .collect(),
            here,
            aborted: AtomicBool::new(false),
            signal: Signal::default(),
            waits,
        }
    }

    fn ring(&self, ranks: Ranks) -> &Ring {
        match ranks {
            Ranks::All | Ranks::Main => &self.all,
            Ranks::Workers => self
                .workers
                .get_or_init(|| Ring::new(self.here.members(Ranks::Workers))),
        }
    }

    /// The place of `call`'s rank among the ranks of its group that meet here.
    pub(crate) fn place(&self, call: &Call) -> usize {
        call.rank - self.here.members(call.ranks).start
    }

    /// Whether `rank`'s body has returned in this world.
    fn has_returned(&self, rank: usize) -> bool {
        // The run changes only between worlds, which the team's hand-over orders.
        let run = self.run.load(Ordering::Relaxed);
        self.returned[rank - self.here.ranks.start]
            .0
            .load(Ordering::Acquire)
            == run
    }

    /// Takes part in the round of `call`: runs `arrive` on entering, waits `until`, then
    /// runs `depart` and leaves. The last rank to leave empties the round's cell for the round
    /// that comes `RING` rounds later.
    ///
    /// Unwinds this rank if the world aborts while it waits; panics with a clear message if the
    /// round cannot complete because of a mismatch between ranks.
    pub(crate) fn meet<R>(
        &self,
        call: &Call,
        arrive: impl FnOnce(&mut Round),
        until: Until,
        depart: impl FnOnce(&mut Round) -> R,
    ) -> R {
        let entered = self.enter(call, arrive);
        let Entered { cell, size, .. } = entered;
        self.wait(call, &entered, || cell.reached(until, size));
        let result = depart(&mut cell.lock());
        self.leave(&entered, Touched::Yes);
        result
    }

    /// Takes part in the round of `call` with nothing to exchange, until every rank of the
    /// group entered: a barrier, without taking the round's lock unless the calls differ.
    pub(crate) fn meet_all(&self, call: &Call) {
        // The check of the call is the claim alone: a barrier leaves nothing in the round, so
        // its ranks never take the round's lock, nor write its lines.
        let entered = self.locate(call);
        let Entered {
            cell, number, size, ..
        } = entered;
        self.wait(call, &entered, || cell.holds(number));
        if !cell.claim(call) {
            drop(self.confirm_opener(cell, cell.lock(), call));
        }
        cell.count_in(self.place(call));
        self.signal.notify();
        self.wait(call, &entered, || cell.reached(Until::AllEntered, size));
        self.leave(&entered, Touched::No);
    }

    /// Takes part in the round of `call` as a barrier does (the round's lock only if the calls
    /// differ), leaving `mine`, this rank's value, in its slot: `encode` hands its encoding to the
    /// function it is given. The last
    /// rank of the group to enter runs `fold` on its value and every rank's bytes in place order
    /// (its own as `None`), which hands the encoding of the result to the function it is given
    /// and returns the result; the others turn that encoding into theirs with `read`.
    pub(crate) fn fold<V, T>(
        &self,
        call: &Call,
        mine: V,
        encode: impl FnOnce(&V, &mut dyn FnMut(&[u8])),
        fold: impl FnOnce(V, &mut dyn Iterator<Item = Option<&[u8]>>, &mut dyn FnMut(&[u8])) -> T,
        read: impl FnOnce(&[u8]) -> T,
    ) -> T {
        let entered = self.locate(call);
        let Entered {
            cell, number, size, ..
        } = entered;
        let place = self.place(call);
        self.wait(call, &entered, || cell.holds(number));
        if !cell.claim(call) {
            drop(self.confirm_opener(cell, cell.lock(), call));
        }
        // SAFETY (of the slots, their contract): this rank alone writes its slot in this round,
        // before it counts itself in (`entered`, Release); only the last rank to count in reads
        // the slots, after its count (AcqRel). That rank alone writes the result, before it
        // sets `folded` (Release), which the others wait for (Acquire) before they read it.
        // Slots are written again, or cleared, only once every rank has left (`leave`).
        encode(&mine, &mut |bytes| {
            if unsafe { cell.slots[place].write(bytes) } {
                cell.boxed.store(true, Ordering::Relaxed);
            }
        });
        let last = cell.entered.fetch_add(1, Ordering::AcqRel) + 1 == size;
        let result = if last {
            let mut inputs = (cell.slots.iter().enumerate())
                .map(|(other, slot)| (other != place).then(|| unsafe { slot.read() }));
            let result = fold(mine, &mut inputs, &mut |encoded| {
                if unsafe { cell.result.write(encoded) } {
                    cell.boxed.store(true, Ordering::Relaxed);
                }
            });
            cell.folded.store(true, Ordering::Release);
            self.signal.notify();
            result
        } else {
            self.wait(call, &entered, || cell.folded.load(Ordering::Acquire));
            read(unsafe { cell.result.read() })
        };
        self.leave(&entered, Touched::No);
        result
    }

    /// Takes part in the round of `call` and returns the state its ranks share, which the first
    /// rank to enter makes with `make`, outside the round's lock (making it allocates, and the
    /// others would wait on the lock meanwhile); the others wait until it is made.
    pub(crate) fn join(&self, call: &Call, make: &mut dyn FnMut() -> Shared) -> Shared {
        let mut maker = false;
        let entered = self.enter(call, |round| {
            maker = round.shared.is_none() && !round.making;
            round.making |= maker;
        });
        let cell = entered.cell;
        let shared = if maker {
            let shared = make();
            cell.lock().shared = Some(Arc::clone(&shared));
            cell.shared_made.store(true, Ordering::Release);
            self.signal.notify();
            shared
        } else {
            self.wait(call, &entered, || cell.shared_made.load(Ordering::Acquire));
            let made = cell.lock().shared.clone();
            made.expect("made before it is read")
        };
        self.leave(&entered, Touched::Yes);
        shared
    }

    /// Takes part in the round of `call` as the first rank of its group here, which does the
    /// group's work for the others: waits until every other rank of the group has entered, runs
    /// `take` on the round, then `work` on what it took, outside the round's lock (the others
    /// wait, `Until::RootEntered`), then enters with `publish` and leaves.
    // The rounds of a world of processes × threads use it; those of threads alone do not.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub(crate) fn lead<T, U, R>(
        &self,
        call: &Call,
        take: impl FnOnce(&mut Round) -> T,
        work: impl FnOnce(T) -> U,
        publish: impl FnOnce(&mut Round, U) -> R,
    ) -> R {
        let round = self.locate(call);
        let Entered {
            cell, number, size, ..
        } = round;
        let others_entered =
            || cell.holds(number) && cell.entered.load(Ordering::Acquire) + 1 == size;
        self.wait(call, &round, others_entered);
        let taken = {
            let mut locked = cell.lock();
            if let Err(message) = locked.check(call) {
                drop(locked);
                self.mismatched(message);
            }
            take(&mut locked)
        };
        let done = work(taken);
        let mut published = None;
        let entered = self.enter(call, |round| published = Some(publish(round, done)));
        self.leave(&entered, Touched::Yes);
        published.expect("published on entering")
    }

    /// Where the round of `call` is held.
    fn locate(&self, call: &Call) -> Entered<'_> {
        let ring = self.ring(call.ranks);
        let size = self.here.members(call.ranks).len();
        let number = call.number;
        Entered {
            ring,
            cell: &ring.cells[(number % RING) as usize],
            number,
            size,
        }
    }

    /// Enters the round of `call` once its cell holds it, checks the call against the
    /// others', and runs `arrive`.
    fn enter(&self, call: &Call, arrive: impl FnOnce(&mut Round)) -> Entered<'_> {
        let entered = self.locate(call);
        let Entered {
            cell, number, size, ..
        } = entered;
        let place = self.place(call);
        self.wait(call, &entered, || cell.holds(number));
        {
            let mut round = cell.lock();
            if !cell.claim(call) {
                round = self.confirm_opener(cell, round, call);
            }
            if let Err(message) = round.enter(call, place, size) {
                drop(round);
                self.mismatched(message);
            }
            arrive(&mut round);
            cell.count_in(place);
        }
        self.signal.notify();
        entered
    }

    /// Leaves the round `number` of `cell`; the last rank to leave readies the cell for its next
    /// round.
    fn leave(&self, entered: &Entered<'_>, touched: Touched) {
        let Entered {
            cell, number, size, ..
        } = *entered;
        if cell.left.fetch_add(1, Ordering::AcqRel) + 1 < size {
            return;
        }
        if touched == Touched::Yes {
            cell.lock().clear();
        }
        if cell.boxed.swap(false, Ordering::Relaxed) {
            for slot in cell.slots.iter().chain([&cell.result]) {
                // SAFETY: every rank has left the round, done with what it read, and none
                // writes a slot of this cell before `number` moves on, below.
                unsafe { slot.clear() };
            }
        }
        cell.folded.store(false, Ordering::Relaxed);
        cell.opened.store(0, Ordering::Relaxed);
        cell.opener.store(NOBODY, Ordering::Relaxed);
        cell.entered.store(0, Ordering::Relaxed);
        cell.root_entered.store(false, Ordering::Relaxed);
        cell.shared_made.store(false, Ordering::Relaxed);
        cell.left.store(0, Ordering::Relaxed);
        cell.number.store(number + RING, Ordering::Release);
        self.signal.notify();
    }

    /// Waits until `ready`, the world aborts (this rank unwinds), a rank of the group that has
    /// not entered the cell's round has returned from the world (a misuse), or it has waited
    /// longer than `DLP_TIMEOUT` (a report of where every rank is).
    fn wait(&self, call: &Call, entered: &Entered<'_>, ready: impl Fn() -> bool) {
        if spin_until(|| ready() || self.aborted.load(Ordering::Relaxed)) {
            return self.stop_if_aborted();
        }
        let mut waiting_since: Option<Instant> = None;
        while !ready() {
            self.stop_if_aborted();
            // A rank that entered a round without taking its lock is not marked in it: one that
            // has returned since entered it only if the round has moved on far enough for
            // `ready` (it left the round, which only happens then).
            if let Some(absent) = self.absent(entered).filter(|_| !ready()) {
                self.waits.done(call.rank, waiting_since);
                let error = self.waits.error_of(absent);
                self.mismatched(call.absent(absent, error.as_deref()));
            }
            // A rank that returns after the check above but before this one registers as a
            // sleeper finds no sleeper to wake: the check is made again once it has registered.
            let awake = || {
                ready() || self.aborted.load(Ordering::Relaxed) || self.absent(entered).is_some()
            };
            self.signal.sleep(awake, |changed, guard| {
                self.waits
                    .wait(changed, guard, call.rank, &mut waiting_since)
            });
        }
        self.waits.done(call.rank, waiting_since);
        self.stop_if_aborted();
    }

    /// After a failed [`Cell::claim`] of `call`: stops the world if `call` cannot meet the call
    /// that opened the round (`round`, locked), or gives the lock back if it can (the same
    /// operation, its name held at another address).
    fn confirm_opener<'a>(
        &self,
        cell: &Cell,
        round: MutexGuard<'a, Round>,
        call: &Call,
    ) -> MutexGuard<'a, Round> {
        match self.mismatch_with_opener(cell, &round, call) {
            // The lock goes first: stopping wakes the sleepers, who check rounds under it.
            Some(message) => {
                drop(round);
                self.mismatched(message)
            }
            None => round,
        }
    }

    /// Why `call` cannot meet the call that opened the round of `cell`, which may differ; `None`
    /// if it can. The opener's call is in the round (`round`, locked), or, if a barrier opened
    /// it, in the opener's status (a barrier's ranks wait in it: the status is still this call).
    fn mismatch_with_opener(&self, cell: &Cell, round: &Round, call: &Call) -> Option<String> {
        let opened_by = round.opened_by.clone().or_else(|| {
            // The opener records itself right after its claim.
            let opener = loop {
                match cell.opener.load(Ordering::Acquire) {
                    NOBODY => std::thread::yield_now(),
                    opener => break opener,
                }
            };
            let (operation, site, number) = self.waits.status(opener).last_call()?;
            (number == call.number).then(|| Call {
                rank: opener,
                operation,
                site,
                length: None,
                order: None,
                ..call.clone()
            })
        });
        match opened_by {
            Some(other) => call.mismatch(&other),
            None => Some(call.unknown_mismatch()),
        }
    }

    /// Stops the world for a mismatch that this rank found (another call, or a rank that has
    /// returned without making this one): it reports it, unless another rank found one first
    /// (that one reports, and this rank stops).
    fn mismatched(&self, message: String) -> ! {
        if self.aborted.swap(true, Ordering::AcqRel) {
            stop();
        }
        self.signal.notify();
        misuse(message)
    }

    fn stop_if_aborted(&self) {
        if self.aborted.load(Ordering::Relaxed) {
            stop();
        }
    }

    /// A rank of the ring's group that has returned from the world without entering the round
    /// that `cell` holds: it never will.
    fn absent(&self, entered: &Entered<'_>) -> Option<usize> {
        let Entered { ring, cell, .. } = *entered;
        let round = cell.lock();
        ring.members.clone().find(|&rank| {
            let place = rank - ring.members.start;
            self.has_returned(rank) && !round.entered.get(place).copied().unwrap_or(false)
        })
    }

    /// A call that some rank made and another never did, once every rank has returned: the
    /// caller, and the message. A rank that does not wait in its call (a gather's sender, the
    /// start of a split) leaves such a round behind.
    pub(crate) fn unmatched(&self) -> Option<(usize, String)> {
        let rings = std::iter::once(&self.all).chain(self.workers.get());
        rings
            .flat_map(|ring| ring.cells.iter().map(move |cell| (ring, cell)))
            // A round that every rank left is cleared, `opened` included: only one in flight
            // is looked at, under its lock.
            .filter(|(_, cell)| cell.opened.load(Ordering::Acquire) != 0)
            .find_map(|(ring, cell)| {
                let round = cell.lock();
                let opened_by = round.opened_by.as_ref()?;
                let absent = ring
                    .members
                    .clone()
                    .find(|&rank| !round.entered[rank - ring.members.start])?;
                Some((opened_by.rank, opened_by.unmatched(absent)))
            })
    }

    /// Readies a board whose world ended without a failure or an unmatched call (every round
    /// then is complete and empty) for a new world: calls are numbered from 0 again.
    pub(crate) fn reset(&self) {
        let rings = std::iter::once(&self.all).chain(self.workers.get());
        // Only what changed is written: a line that the other ranks will read next stays
        // shared with them.
        for ring in rings {
            for (number, cell) in (0..RING).zip(ring.cells.iter()) {
                debug_assert!(
                    cell.opened.load(Ordering::Relaxed) == 0,
                    "every round was left"
                );
                if cell.number.load(Ordering::Relaxed) != number {
                    cell.number.store(number, Ordering::Relaxed);
                }
            }
        }
        // The thread that runs the world is the one that writes the run: no read-modify-write,
        // which would wait for the line that the other ranks read.
        let next = self.run.load(Ordering::Relaxed) + 1;
        self.run.store(next, Ordering::Relaxed);
    }

    /// Records that `rank`'s body has returned, waking ranks that may be waiting for it.
    pub(crate) fn mark_returned(&self, rank: usize) {
        let run = self.run.load(Ordering::Relaxed);
        self.returned[rank - self.here.ranks.start]
            .0
            .store(run, Ordering::Release);
        self.signal.notify();
    }

    /// Wakes every waiting rank so that it unwinds.
    pub(crate) fn abort(&self) {
        self.aborted.store(true, Ordering::Release);
        self.signal.notify();
    }
}
