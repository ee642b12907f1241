//! The threads backend: the ranks of a world are OS threads of one process, and values move
//! between them without being encoded.

mod board;

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread;

use crate::context::{self, Link, RankContext};
use crate::failure::{Failure, run_guarded, stop};
use crate::observe::Observer;
use crate::ranks::Ranks;
use board::{Board, Entry};

/// Something that blocks outside the board (a map's result queue) and must be woken on abort.
pub(crate) trait Wake: Send + Sync {
    fn wake(&self);
}

pub(crate) struct ThreadWorld {
    size: usize,
    observer: Option<Arc<Observer>>,
    board: Board,
    aborted: AtomicBool,
    failure: Mutex<Option<Failure>>,
    sleepers: Mutex<Vec<Weak<dyn Wake>>>,
}

impl ThreadWorld {
    fn new(size: usize, observer: Option<Arc<Observer>>) -> Self {
        ThreadWorld {
            size,
            observer,
            board: Board::new(size),
            aborted: AtomicBool::new(false),
            failure: Mutex::new(None),
            sleepers: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Relaxed)
    }

    /// Unwinds this rank if another one has failed.
    pub(crate) fn check_aborted(&self) {
        if self.is_aborted() {
            stop();
        }
    }

    /// Ends the world: records the first failure and wakes every rank, wherever it waits.
    fn abort(&self, failure: Failure) {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(failure);
        self.aborted.store(true, Ordering::SeqCst);
        self.board.abort();
        let sleepers =
            std::mem::take(&mut *self.sleepers.lock().unwrap_or_else(PoisonError::into_inner));
        for sleeper in sleepers.iter().filter_map(Weak::upgrade) {
            sleeper.wake();
        }
    }

    /// Registers something to wake when the world aborts.
    pub(crate) fn on_abort(&self, sleeper: Weak<dyn Wake>) {
        let mut sleepers = self.sleepers.lock().unwrap_or_else(PoisonError::into_inner);
        sleepers.retain(|sleeper| sleeper.strong_count() > 0);
        sleepers.push(sleeper);
    }

    pub(crate) fn barrier(&self, rank: usize, call: u64) {
        let entry = Entry {
            call,
            operation: "barrier",
            rank,
            length: None,
            members: Ranks::All,
        };
        self.board
            .meet(entry, |_| {}, board::Round::all_entered, |_| ());
    }

    /// Moves every rank's value to rank 0, in rank order.
    pub(crate) fn gather<T: Send + 'static>(
        &self,
        rank: usize,
        call: u64,
        operation: &'static str,
        value: T,
    ) -> Option<Vec<T>> {
        let is_root = rank == 0;
        let entry = Entry {
            call,
            operation,
            rank,
            length: None,
            members: Ranks::All,
        };
        self.board.meet(
            entry,
            |round| round.sent[rank] = Some(Box::new(value)),
            |round| !is_root || round.sent.iter().all(Option::is_some),
            |round| {
                is_root.then(|| {
                    round
                        .sent
                        .iter_mut()
                        .map(|slot| unbox(slot.take(), operation))
                        .collect()
                })
            },
        )
    }

    /// Moves `parts[r]`, given by rank 0, to rank `r`; returns this rank's part.
    pub(crate) fn distribute<T: Send + 'static>(
        &self,
        rank: usize,
        call: u64,
        operation: &'static str,
        parts: Option<Vec<T>>,
    ) -> T {
        let entry = Entry {
            call,
            operation,
            rank,
            length: None,
            members: Ranks::All,
        };
        self.board.meet(
            entry,
            |round| {
                if let Some(parts) = parts {
                    for (slot, part) in round.inbox.iter_mut().zip(parts) {
                        *slot = Some(Box::new(part));
                    }
                }
            },
            |round| round.inbox[rank].is_some(),
            |round| unbox(round.inbox[rank].take(), operation),
        )
    }

    /// Joins the state the `members` share for one split or map, made by the first of them to
    /// arrive. Never waits for the others.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn join<S: Send + Sync + 'static>(
        &self,
        members: Ranks,
        rank: usize,
        call: u64,
        operation: &'static str,
        length: Option<usize>,
        make: impl FnOnce() -> S,
    ) -> Arc<S> {
        let entry = Entry {
            call,
            operation,
            rank,
            length,
            members,
        };
        let shared = self.board.meet(
            entry,
            |round| {
                round.shared.get_or_insert_with(|| Arc::new(make()));
            },
            |_| true,
            |round| Arc::clone(round.shared.as_ref().expect("made on arrival")),
        );
        shared.downcast::<S>().unwrap_or_else(|_| {
            panic!(
                "dlp: the ranks' calls of {operation} #{call} have different item or result types"
            )
        })
    }
}

fn unbox<T: 'static>(slot: Option<Box<dyn Any + Send>>, operation: &str) -> T {
    let value = slot.expect("a slot is read once, after it was filled");
    *value.downcast::<T>().unwrap_or_else(|_| {
        panic!(
            "dlp: the ranks called {operation} with different types; this rank expected `{}`",
            std::any::type_name::<T>()
        )
    })
}

/// Runs `body` on `size` rank-threads, rank 0 on the calling thread, and returns rank 0's result,
/// or the first failure.
pub(crate) fn launch<R, F: Fn() -> R + Sync>(
    size: usize,
    observer: Option<Arc<Observer>>,
    body: &F,
) -> Result<R, Failure> {
    let world = Arc::new(ThreadWorld::new(size, observer));
    let main_result = thread::scope(|scope| {
        for rank in 1..size {
            let world_of_rank = Arc::clone(&world);
            let spawned = rank_thread(rank).spawn_scoped(scope, move || {
                run_rank(&world_of_rank, rank, body);
            });
            if let Err(error) = spawned {
                let message = format!("could not start the thread of rank {rank}: {error}");
                world.abort(Failure::new(rank, None, &message));
                return None;
            }
        }
        run_rank(&world, 0, body)
    });
    let failure = world
        .failure
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    match (failure, main_result) {
        (None, Some(result)) => Ok(result),
        (Some(failure), _) => Err(failure),
        (None, None) => unreachable!("rank 0 only stops when another rank failed"),
    }
}

fn rank_thread(rank: usize) -> thread::Builder {
    let builder = thread::Builder::new().name(format!("dlp-rank-{rank}"));
    // The body of `main` runs on these threads: give them the main thread's usual 8 MiB rather
    // than the 2 MiB of a spawned thread, unless the user chose a size.
    if std::env::var_os("RUST_MIN_STACK").is_some() {
        builder
    } else {
        builder.stack_size(8 << 20)
    }
}

fn run_rank<R>(world: &Arc<ThreadWorld>, rank: usize, body: &impl Fn() -> R) -> Option<R> {
    let _rank = context::enter(RankContext::new(
        rank,
        world.size,
        Link::Threads(Arc::clone(world)),
        world.observer.clone(),
    ));
    match run_guarded(rank, world.size, body) {
        Ok(result) => {
            world.board.mark_returned(rank);
            Some(result)
        }
        Err(Some(failure)) => {
            world.abort(failure);
            None
        }
        Err(None) => None,
    }
}
