//! The threads backend: the ranks of a world are OS threads of one process, and values move
//! between them without being encoded.

pub(super) mod board;
mod results;
mod signal;
mod slots;
mod team;

use std::ops::Range;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::comm::{
    AbortFlag, Call, Codec, Combine, Comm, Counter, LocalCounter, ResultChannel, Shared, Value,
};
use crate::config::Watch;
use crate::context::{self, RankContext};
use crate::failure::{Failure, misuse_found, run_guarded};
use crate::observe::Observer;
use crate::ranks::Ranks;
use crate::status::{RankStatus, TIMEOUT_EXIT_CODE, timeout_report};
use board::{Board, Round, Until};
use results::{Results, ThreadResults};

/// Something that blocks outside the board (a map's result queue) and must be woken on abort.
trait Wake: Send + Sync {
    fn wake(&self);
}

/// The world ranks that the rank-threads of one process run, and those of them that are
/// workers: the whole world on the threads backend; one process's share of a world of MPI
/// processes times threads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Here {
    pub(super) ranks: Range<usize>,
    pub(super) workers: Range<usize>,
    /// The processes of this machine that run rank-threads of the world, this one included:
    /// they share its cores.
    pub(super) processes_on_machine: usize,
}

impl Here {
    /// Every rank of a world of `size`.
    pub(super) fn whole(size: usize) -> Here {
        Here {
            ranks: 0..size,
            workers: Ranks::Workers.range(size),
            processes_on_machine: 1,
        }
    }

    /// The ranks of `group` that run here.
    pub(super) fn members(&self, group: Ranks) -> Range<usize> {
        match group {
            Ranks::All => self.ranks.clone(),
            Ranks::Main => self.ranks.start..(self.ranks.start + 1).min(Ranks::Main.range(1).end),
            Ranks::Workers => self.workers.clone(),
        }
    }
}

/// What the rank-threads of one world share (of one process, where the world spans several).
pub(super) struct ThreadWorld {
    /// The ranks of the world, over every process.
    size: usize,
    pub(super) here: Here,
    pub(super) observer: Option<Arc<Observer>>,
    pub(super) board: Board,
    /// Where each rank is, and how long a rank may wait.
    pub(super) waits: Arc<Waits>,
    /// Whether the world aborted: one flag for each rank here, all set when it aborts (see
    /// [`AbortFlag`]).
    aborted: Vec<Arc<AbortFlag>>,
    ending: Ending,
}

/// What a world's ranks write only when it fails, or when a map starts: on lines of their own,
/// so that the main rank's look at it as the world ends leaves alone the lines of the world that
/// the other ranks read as the next one starts.
#[repr(align(128))]
struct Ending {
    /// The first failure, which ended the world.
    failure: Mutex<Option<Failure>>,
    /// What to wake when the world aborts.
    sleepers: Mutex<Vec<Weak<dyn Wake>>>,
}

impl ThreadWorld {
    /// A world of `size` ranks, of which those of `here` run in this process. Where the world
    /// spans several processes, `others` reaches them, given the statuses of the ranks here.
    pub(super) fn new(
        size: usize,
        here: Here,
        observer: Option<Arc<Observer>>,
        timeout: Option<Duration>,
        others: ReachOthers,
    ) -> Self {
        let statuses: Vec<_> = (here.ranks.clone())
            .map(|rank| Arc::new(RankStatus::new(rank, timeout.is_some())))
            .collect();
        let waits = Arc::new(Waits {
            others: others(&statuses),
            statuses,
            first: here.ranks.start,
            timeout,
        });
        ThreadWorld {
            size,
            aborted: here.ranks.clone().map(|_| Arc::default()).collect(),
            board: Board::new(here.clone(), Arc::clone(&waits)),
            here,
            observer,
            waits,
            ending: Ending {
                failure: Mutex::new(None),
                sleepers: Mutex::new(Vec::new()),
            },
        }
    }

    /// Ends the world: records the first failure and wakes every rank, wherever it waits.
    fn abort(&self, failure: Failure) {
        self.failure().get_or_insert(failure);
        self.aborted.iter().for_each(|flag| flag.set());
        self.board.abort();
        let sleepers = std::mem::take(
            &mut *self
                .ending
                .sleepers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for sleeper in sleepers.iter().filter_map(Weak::upgrade) {
            sleeper.wake();
        }
    }

    /// A world like this one, for `size` ranks watched as `watch` says, if this one can be run
    /// again: nothing is watched (an observer belongs to one world), and it ended well.
    fn reusable(&self, size: usize, watch: &Watch) -> bool {
        self.here == Here::whole(size)
            && self.waits.timeout == watch.timeout
            && self.observer.is_none()
    }

    /// Readies a world that ended well for its next run.
    fn reset(&self) {
        // The rank statuses are reset by their own ranks as they start again
        // (`ThreadWorld::run_rank`), which keeps each on its rank's core; the sleepers of a
        // world that ended well are gone, and registering the next one prunes them.
        self.board.reset();
    }

    /// The failure that ended the world, if one did.
    pub(super) fn take_failure(&self) -> Option<Failure> {
        // A failure is recorded before the world is marked aborted: a world that ended well
        // takes no lock here.
        if !self.aborted[0].is_set() {
            return None;
        }
        self.failure().take()
    }

    /// The failure that ended the world, if one did, locked.
    pub(super) fn failure(&self) -> MutexGuard<'_, Option<Failure>> {
        (self.ending.failure.lock()).unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers something to wake when the world aborts.
    fn on_abort(&self, sleeper: Weak<dyn Wake>) {
        let mut sleepers = (self.ending.sleepers.lock()).unwrap_or_else(PoisonError::into_inner);
        sleepers.retain(|sleeper| sleeper.strong_count() > 0);
        sleepers.push(sleeper);
    }
}

/// Where the ranks of a world are, and how long one may wait for the others.
pub(super) struct Waits {
    /// The statuses of the ranks here, from world rank `first` on.
    statuses: Vec<Arc<RankStatus>>,
    first: usize,
    timeout: Option<Duration>,
    /// The world's other processes, where it spans several.
    others: Option<Arc<dyn OtherProcesses>>,
}

/// The other processes of a world that spans several, as the ranks here see them while they
/// wait with a limit.
pub(super) trait OtherProcesses: Send + Sync {
    /// Answers the other processes' questions of where the ranks here are.
    fn answer(&self);

    /// Ends the job with a report of where every rank of every process is: `waiter`, one of the
    /// ranks here, waited past the limit.
    fn report(&self, waiter: &RankStatus) -> !;
}

/// How the ranks here reach the other processes of their world, if it spans several, given
/// their statuses.
pub(super) type ReachOthers<'a> =
    &'a mut dyn FnMut(&[Arc<RankStatus>]) -> Option<Arc<dyn OtherProcesses>>;

/// How often a rank here that waits with a limit answers the other processes' questions.
const ANSWER_EVERY: Duration = Duration::from_millis(10);

impl Waits {
    /// The status of world rank `rank`, one of the ranks here.
    pub(super) fn status(&self, rank: usize) -> &Arc<RankStatus> {
        &self.statuses[rank - self.first]
    }

    /// How long `rank` may still wait, having waited since `since`; `None`: without limit.
    /// Past its limit, the rank stops the world with a report of where every rank is.
    fn remaining(&self, rank: usize, since: Instant) -> Option<Duration> {
        let limit = self.timeout?;
        let waited = since.elapsed();
        if waited < limit {
            return Some(limit - waited);
        }
        if let Some(others) = &self.others {
            others.report(self.status(rank));
        }
        let others: Vec<String> = self
            .statuses
            .iter()
            .enumerate()
            .filter(|&(other, _)| other + self.first != rank)
            .map(|(_, status)| status.describe())
            .collect();
        let report = timeout_report(&self.status(rank).describe(), limit, &others);
        // A rank stuck in its own code would never let the world end: the process ends here.
        eprintln!("dlp: {report}");
        std::process::exit(TIMEOUT_EXIT_CODE)
    }

    /// The error that `rank`'s `#[dlp::main]` returned, if it did.
    pub(super) fn error_of(&self, rank: usize) -> Option<String> {
        self.status(rank).error()
    }

    /// Waits on `changed` for `rank`, at most until its time to wait is up; `since` holds when
    /// its wait began, set (and the rank marked as waiting) on the first call.
    pub(super) fn wait<'a, T>(
        &self,
        changed: &Condvar,
        guard: MutexGuard<'a, T>,
        rank: usize,
        since: &mut Option<Instant>,
    ) -> MutexGuard<'a, T> {
        let since = *since.get_or_insert_with(|| {
            self.status(rank).waiting(true);
            Instant::now()
        });
        match self.remaining(rank, since) {
            None => changed.wait(guard).unwrap_or_else(PoisonError::into_inner),
            Some(left) => {
                let left = match &self.others {
                    Some(others) => {
                        others.answer();
                        left.min(ANSWER_EVERY)
                    }
                    None => left,
                };
                let waited = changed.wait_timeout(guard, left);
                waited.unwrap_or_else(PoisonError::into_inner).0
            }
        }
    }

    /// Ends `rank`'s wait that [`Waits::wait`] began at `since`, if it began.
    pub(super) fn done(&self, rank: usize, since: Option<Instant>) {
        if since.is_some() {
            self.status(rank).waiting(false);
        }
    }
}

/// One rank-thread's view of its world.
struct ThreadRank {
    world: Arc<ThreadWorld>,
    rank: usize,
}

impl ThreadRank {
    /// This rank's flag of the world's abort.
    fn own_abort_flag(&self) -> Arc<AbortFlag> {
        Arc::clone(&self.world.aborted[self.rank - self.world.here.ranks.start])
    }

    /// This rank's place in the group that makes `call`.
    fn place(&self, call: &Call) -> usize {
        self.world.board.place(call)
    }

    /// Moves every rank's value to rank 0, in rank order.
    fn gather_values(&self, call: &Call, value: Value) -> Option<Vec<Value>> {
        let place = self.place(call);
        let is_root = place == 0;
        let until = if is_root {
            Until::AllEntered
        } else {
            Until::Entered
        };
        self.world.board.meet(
            call,
            |round| round.sent[place] = Some(value),
            until,
            |round| {
                is_root.then(|| {
                    let sent = round.sent.iter_mut();
                    sent.map(|slot| slot.take().expect("every rank sent"))
                        .collect()
                })
            },
        )
    }

    /// On a rank other than the main one: decodes the one encoding the main rank leaves in the
    /// round of `call` (a `Message` need not be `Clone`).
    fn decode_from_root(&self, call: &Call, codec: Codec) -> Value {
        let encoded = self.world.board.meet(
            call,
            |_| {},
            Until::RootEntered,
            |round| round.encoded[0].clone(),
        );
        decode(encoded, codec, call)
    }
}

fn encode(value: &Value, codec: Codec, call: &Call) -> Arc<[u8]> {
    Arc::from(codec.encode(&**value, call.operation))
}

/// Decodes a value that a rank the caller waited for left on the round.
fn decode(encoded: Option<Arc<[u8]>>, codec: Codec, call: &Call) -> Value {
    let encoded = encoded.expect("every rank waited for left its encoding");
    codec.decode(&encoded, call.operation)
}

impl Comm for ThreadRank {
    fn barrier(&self, call: &Call) {
        self.world.board.meet_all(call);
    }

    fn gather(&self, call: &Call, value: Value, _codec: Codec) -> Option<Vec<Value>> {
        self.gather_values(call, value)
    }

    fn all_gather(&self, call: &Call, value: Value, codec: Codec) -> Vec<Value> {
        // Each rank leaves an encoding of its value and decodes the others', outside the
        // round's lock: one round, and the encoding is shared out among the ranks.
        let place = self.place(call);
        let encoded = encode(&value, codec, call);
        let all_encoded = self.world.board.meet(
            call,
            |round| round.encoded[place] = Some(encoded),
            Until::AllEntered,
            |round| round.encoded.clone(),
        );
        let mut own = Some(value);
        let decode_or_own = |(other, encoded)| match other == place {
            true => own.take().expect("its own value, once"),
            false => decode(encoded, codec, call),
        };
        all_encoded
            .into_iter()
            .enumerate()
            .map(decode_or_own)
            .collect()
    }

    fn all_reduce(&self, call: &Call, value: Value, codec: Codec, combine: &mut Combine) -> Value {
        // One meeting, without the round's lock: each rank leaves the encoding of its value in
        // a slot of its own; the last to enter folds them in rank order (its own value moved,
        // not copied) and leaves one encoding of the result, which the others decode.
        let operation = call.operation;
        let encode = |value: &Value, leave: &mut dyn FnMut(&[u8])| {
            leave(&codec.encode(&**value, operation));
        };
        let fold = |own: Value,
                    inputs: &mut dyn Iterator<Item = Option<&[u8]>>,
                    leave: &mut dyn FnMut(&[u8])| {
            let mut own = Some(own);
            let mut values = inputs.map(|bytes| match bytes {
                Some(bytes) => codec.decode(bytes, operation),
                None => own.take().expect("its own value, once"),
            });
            let first = values.next().expect("a group has at least one rank");
            let combined = values.fold(first, &mut *combine);
            leave(&codec.encode(&*combined, operation));
            combined
        };
        let read = |bytes: &[u8]| codec.decode(bytes, operation);
        self.world.board.fold(call, value, encode, fold, read)
    }

    fn broadcast(&self, call: &Call, value: Option<Value>, codec: Codec) -> Value {
        // The main rank keeps its value and leaves one encoding for the others to decode.
        let Some(value) = value.filter(|_| self.place(call) == 0) else {
            return self.decode_from_root(call, codec);
        };
        let encoded = encode(&value, codec, call);
        let leave_encoded = |round: &mut Round| round.encoded[0] = Some(encoded);
        self.world
            .board
            .meet(call, leave_encoded, Until::Entered, |_| {});
        value
    }

    fn scatter(&self, call: &Call, parts: Option<Vec<Value>>, _codec: Codec) -> Value {
        let place = self.place(call);
        let parts = parts.filter(|_| place == 0);
        self.world.board.meet(
            call,
            |round| {
                for (slot, part) in round.inbox.iter_mut().zip(parts.into_iter().flatten()) {
                    *slot = Some(part);
                }
            },
            Until::RootEntered,
            |round| {
                round.inbox[place]
                    .take()
                    .expect("the root filled every inbox")
            },
        )
    }

    fn join(&self, call: &Call, make: &mut dyn FnMut() -> Shared) -> Shared {
        self.world.board.join(call, make)
    }

    fn counter(&self, _ranks: Ranks) -> Box<dyn Counter> {
        Box::new(LocalCounter::default())
    }

    fn results(&self, call: &Call) -> Box<dyn ResultChannel> {
        let workers = self.world.size - 1;
        let shared = self.join(call, &mut || Arc::new(Results::new(workers)));
        let results = shared
            .downcast::<Results>()
            .expect("a map's round shares its results");
        if self.rank == 0 {
            let sleeper: Weak<dyn Wake> = Arc::downgrade(&results) as Weak<dyn Wake>;
            self.world.on_abort(sleeper);
        }
        Box::new(ThreadResults::new(
            results,
            self.own_abort_flag(),
            Arc::clone(&self.world.waits),
            self.rank,
        ))
    }

    fn hosts(&self, _rank: usize) -> bool {
        true
    }

    fn abort_flag(&self) -> Option<Arc<AbortFlag>> {
        Some(self.own_abort_flag())
    }
}

/// Runs `body` on `size` rank-threads, rank 0 on the calling thread, and returns rank 0's result,
/// or the first failure. The other ranks run on the calling thread's team of helper threads,
/// kept for its next world.
pub(crate) fn launch<R, F: Fn() -> R + Sync>(
    size: usize,
    watch: &Watch,
    body: &F,
) -> Result<R, Failure> {
    let observer = Observer::new(watch, size, false);
    let world = SPARE_WORLD
        .take()
        .filter(|spare| observer.is_none() && spare.reusable(size, watch))
        .unwrap_or_else(|| {
            let (here, alone) = (Here::whole(size), &mut |_: &[_]| None);
            Arc::new(ThreadWorld::new(
                size,
                here,
                observer.clone(),
                watch.timeout,
                alone,
            ))
        });
    let world_here = &world;
    let other_rank = move |rank| {
        run_rank(world_here, rank, body);
    };
    let main_result = run_here(&world.here, &other_rank, || run_rank(&world, 0, body));
    if let Some(observer) = observer {
        observer.end_world(|seen| Some(vec![seen]));
    }
    let failure = world.take_failure().or_else(|| {
        let (rank, message) = world.board.unmatched()?;
        Some(misuse_found(rank, message))
    });
    if failure.is_none() && world.observer.is_none() {
        world.reset();
        SPARE_WORLD.set(Some(world));
    }
    match (failure, main_result) {
        (None, Ok(Some(result))) => Ok(result),
        (Some(failure), _) => Err(failure),
        (None, Err(message)) => Err(Failure::new(0, None, &message)),
        (None, Ok(None)) => unreachable!("rank 0 only stops when another rank failed"),
    }
}

/// Runs `rank(r)` for every world rank `r` here but the first, on the calling thread's team of
/// helper threads, and `first` on the calling thread; returns what `first` returned once every
/// rank has returned. Fails only if a helper thread cannot be started, before anything runs.
pub(super) fn run_here<R>(
    here: &Here,
    rank: &(impl Fn(usize) + Sync),
    first: impl FnOnce() -> R,
) -> Result<R, String> {
    let _running = signal::Running::start(here.ranks.len(), here.processes_on_machine);
    let start = here.ranks.start;
    // What the helpers read of this frame as they start: two words, by value.
    let other = move |index: usize| rank(start + index);
    team::run_on_team(here.ranks.len(), &other, first)
}

thread_local! {
    /// The last world this thread ran, kept for its next world of the same size: a world
    /// started in a loop allocates nothing.
    static SPARE_WORLD: std::cell::Cell<Option<Arc<ThreadWorld>>> = const { std::cell::Cell::new(None) };
}

/// The rank a thread last ran in a world of threads alone, kept for the next run of that world
/// (see [`SPARE_WORLD`]): its context, and the world it belongs to.
struct SpareRank {
    world: Arc<ThreadWorld>,
    context: Rc<RankContext>,
}

thread_local! {
    /// A world started again on a kept team allocates nothing, and each rank touches only what
    /// it wrote itself: no reference count, no status that another thread made.
    static SPARE_RANK: std::cell::Cell<Option<SpareRank>> = const { std::cell::Cell::new(None) };
}

fn run_rank<R>(world: &Arc<ThreadWorld>, rank: usize, body: &impl Fn() -> R) -> Option<R> {
    let kept = SPARE_RANK.take().and_then(|mut spare| {
        let same = spare.context.rank == rank && Arc::ptr_eq(&spare.world, world);
        // Only a context that nothing else holds any more is run again.
        Rc::get_mut(&mut spare.context).filter(|_| same)?.restart();
        Some(spare.context)
    });
    let context = kept.unwrap_or_else(|| {
        let comm = Rc::new(ThreadRank {
            world: Arc::clone(world),
            rank,
        });
        Rc::new(world.context(rank, comm))
    });
    let result = world.run_rank(Rc::clone(&context), body).ok();
    SPARE_RANK.set(Some(SpareRank {
        world: Arc::clone(world),
        context,
    }));
    result
}

/// How a rank's body ended, if not with a result.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Ended {
    /// It failed, and the world is aborted.
    Failed,
    /// Another rank's failure stopped it.
    Stopped,
}

impl ThreadWorld {
    /// The context of world rank `rank`, one of the ranks here, which reaches the others
    /// through `comm`.
    pub(super) fn context(&self, rank: usize, comm: Rc<dyn Comm>) -> RankContext {
        let status = Arc::clone(self.waits.status(rank));
        // A world kept from an earlier run still holds where this rank was in it.
        status.reset();
        RankContext::new(rank, self.size, comm, self.observer.clone(), status)
    }

    /// Runs `body` as the rank of `context`, one of the ranks here. A failure aborts the
    /// world: it is recorded, and every rank here stops.
    pub(super) fn run_rank<R>(
        &self,
        context: Rc<RankContext>,
        body: &impl Fn() -> R,
    ) -> Result<R, Ended> {
        let rank = context.rank;
        let _rank = context::enter_shared(Rc::clone(&context));
        let status = &context.status;
        match run_guarded(rank, self.size, body) {
            Ok(result) => {
                status.left();
                self.board.mark_returned(rank);
                Ok(result)
            }
            Err(Some(failure)) => {
                self.abort(failure);
                Err(Ended::Failed)
            }
            Err(None) => Err(Ended::Stopped),
        }
    }
}
