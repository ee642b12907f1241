//! The rank the current thread runs as, if any.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use crate::observe::Observer;
use crate::ranks::Ranks;
use crate::threads::ThreadWorld;

/// How a rank reaches the others.
pub(crate) enum Link {
    /// A world of one rank: every operation is local.
    Solo,
    /// One of the rank-threads of a process.
    Threads(Arc<ThreadWorld>),
    /// One of the MPI processes of a job.
    #[cfg(feature = "mpi")]
    Mpi(Rc<crate::message_passing::MpiWorld>),
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
    pub(crate) fn next_call(&self, members: Ranks) -> u64 {
        let calls = match members {
            Ranks::All | Ranks::Main => &self.calls,
            Ranks::Workers => &self.worker_calls,
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

/// This process's rank in the MPI job that started it, read from the launcher's variables; 0
/// for a process that no MPI launcher started.
pub(crate) fn rank_in_job() -> usize {
    static RANK: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *RANK.get_or_init(|| {
        [
            "PMI_RANK",
            "PMIX_RANK",
            "OMPI_COMM_WORLD_RANK",
            "SLURM_PROCID",
        ]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.trim().parse().ok())
        .unwrap_or(0)
    })
}

/// The rank of the calling thread: 0 on the main rank, `0..size()` in general.
///
/// Outside any world (plain code that never entered [`run`](crate::run)) it is 0, the single
/// rank of a world of size 1; in a process that an MPI launcher started, it is the process's
/// rank in the job, so that `is_main()` still picks one process of the job. A thread that you
/// spawn yourself from inside a rank is outside any world too.
///
/// ```
/// assert_eq!(dlp::rank(), 0);
/// let ranks = dlp::World::threads(3).run(|| dlp::gather(dlp::rank()));
/// assert_eq!(ranks, Some(vec![0, 1, 2]));
/// ```
pub fn rank() -> usize {
    current().map_or_else(rank_in_job, |context| context.rank)
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

/// Whether the calling thread is the main rank (rank 0). True outside any world, but in the
/// processes other than the first of an MPI job.
///
/// ```
/// let mains = dlp::World::threads(3).run(|| dlp::all_gather(dlp::is_main()));
/// assert_eq!(mains, vec![true, false, false]);
/// ```
pub fn is_main() -> bool {
    rank() == 0
}
