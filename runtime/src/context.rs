//! The rank the current thread runs as, if any.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use crate::observe::Observer;
use crate::threads::{Members, ThreadWorld};

/// How a rank reaches the others.
pub(crate) enum Link {
    /// A world of one rank: every operation is local.
    Solo,
    /// One of the rank-threads of a process.
    Threads(Arc<ThreadWorld>),
}

/// The rank a thread runs as, with the world it belongs to.
pub(crate) struct RankContext {
    pub(crate) rank: usize,
    pub(crate) size: usize,
    pub(crate) link: Link,
    /// What the world watches (`DLP_REPORT`, `DLP_TRACE`), if anything.
    pub(crate) observer: Option<Arc<Observer>>,
    /// How many collectives (splits and maps included) this rank has entered: collectives are
    /// matched across ranks by this number, as MPI matches them by call order.
    calls: Cell<u64>,
    /// The same count for the loops that the worker ranks share among themselves.
    worker_calls: Cell<u64>,
}

impl RankContext {
    pub(crate) fn new(
        rank: usize,
        size: usize,
        link: Link,
        observer: Option<Arc<Observer>>,
    ) -> Self {
        RankContext {
            rank,
            size,
            link,
            observer,
            calls: Cell::new(0),
            worker_calls: Cell::new(0),
        }
    }

    /// Numbers the next collective call of this rank among `members`.
    pub(crate) fn next_call(&self, members: Members) -> u64 {
        let calls = match members {
            Members::All => &self.calls,
            Members::Workers => &self.worker_calls,
        };
        let call = calls.get();
        calls.set(call + 1);
        call
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<RankContext>>> = const { RefCell::new(None) };
}

/// The rank of this thread, or `None` outside any world.
pub(crate) fn current() -> Option<Rc<RankContext>> {
    CURRENT.with(|current| current.borrow().clone())
}

/// Makes `context` the current rank of this thread until the guard is dropped.
pub(crate) fn enter(context: RankContext) -> EnteredRank {
    let previous = CURRENT.with(|current| current.replace(Some(Rc::new(context))));
    EnteredRank { previous }
}

pub(crate) struct EnteredRank {
    previous: Option<Rc<RankContext>>,
}

impl Drop for EnteredRank {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

/// The rank of the calling thread: 0 on the main rank, `0..size()` in general.
///
/// Outside any world (plain code that never entered [`run`](crate::run)) it is 0, the single
/// rank of a world of size 1. A thread that you spawn yourself from inside a rank is outside any
/// world too.
///
/// ```
/// assert_eq!(dlp::rank(), 0);
/// let ranks = dlp::World::threads(3).run(|| dlp::gather(dlp::rank()));
/// assert_eq!(ranks, Some(vec![0, 1, 2]));
/// ```
pub fn rank() -> usize {
    current().map_or(0, |context| context.rank)
}

/// The number of ranks in the calling thread's world; 1 outside any world.
///
/// ```
/// assert_eq!(dlp::size(), 1);
/// assert_eq!(dlp::World::threads(4).run(dlp::size), 4);
/// ```
pub fn size() -> usize {
    current().map_or(1, |context| context.size)
}

/// Whether the calling thread is the main rank (rank 0). True outside any world.
///
/// ```
/// let mains = dlp::World::threads(3).run(|| dlp::all_gather(dlp::is_main()));
/// assert_eq!(mains, vec![true, false, false]);
/// ```
pub fn is_main() -> bool {
    rank() == 0
}
