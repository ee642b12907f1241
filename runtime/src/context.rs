//! The rank the current thread runs as, if any, and the numbering of its collective calls.

use std::cell::{Cell, RefCell};
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;

use crate::comm::{Call, Comm, Shared};
use crate::config::process_rank;
use crate::observe::Observer;
use crate::ranks::Ranks;
use crate::status::RankStatus;

/// The rank a thread runs as, with the world it belongs to.
pub(crate) struct RankContext {
    pub(crate) rank: usize,
    pub(crate) size: usize,
    /// How this rank reaches the others.
    pub(crate) comm: Rc<dyn Comm>,
    /// What the world watches (`DLP_REPORT`, `DLP_TRACE`), if anything.
    pub(crate) observer: Option<Arc<Observer>>,
    /// Where this rank is, for a report of a rank that waited too long.
    pub(crate) status: Arc<RankStatus>,
    /// How many calls of the whole world, and of the worker ranks, this rank has made.
    calls: Cell<u64>,
    worker_calls: Cell<u64>,
    /// The splits whose loop bodies this rank is running, innermost last: where each began.
    bodies: RefCell<Vec<&'static Location<'static>>>,
    /// What the ranks of this rank's earlier dynamic splits shared, kept for its later ones to
    /// take again once nobody holds it (see `Split::join`): made through `comm`, so fit for
    /// this world only.
    pub(crate) spare_splits: RefCell<Vec<Shared>>,
}

impl RankContext {
    pub(crate) fn new(
        rank: usize,
        size: usize,
        comm: Rc<dyn Comm>,
        observer: Option<Arc<Observer>>,
        status: Arc<RankStatus>,
    ) -> Self {
        RankContext {
            rank,
            size,
            comm,
            observer,
            status,
            calls: Cell::new(0),
            worker_calls: Cell::new(0),
            bodies: RefCell::new(Vec::new()),
            spare_splits: RefCell::new(Vec::new()),
        }
    }

    /// Readies the context of a world that ended well for its next run: calls are numbered from
    /// 0 again, and the rank runs no loop body.
    pub(crate) fn restart(&mut self) {
        self.calls.set(0);
        self.worker_calls.set(0);
        self.bodies.get_mut().clear();
        self.status.reset();
    }

    /// This rank's next collective call of `ranks`: the only place where calls are numbered.
    pub(crate) fn begin(
        &self,
        ranks: Ranks,
        operation: &'static str,
        length: Option<usize>,
        site: &'static Location<'static>,
    ) -> Call {
        let calls = match ranks {
            Ranks::All | Ranks::Main => &self.calls,
            Ranks::Workers => &self.worker_calls,
        };
        let number = calls.get();
        calls.set(number + 1);
        log::trace!("dlp: rank {} enters {operation} #{number}", self.rank);
        let call = Call {
            ranks,
            number,
            operation,
            rank: self.rank,
            length,
            site,
            order: None,
        };
        self.status.called(&call);
        call
    }

    /// The split (where it began) whose loop body this rank is running, if any.
    pub(crate) fn body(&self) -> Option<&'static Location<'static>> {
        self.bodies.borrow().last().copied()
    }
}

/// Marks the calling rank as running the body of the split that began at `site`, until
/// [`body_ended`]: collectives are then errors, and splits inside it are this rank's alone.
pub(crate) fn body_started(site: &'static Location<'static>) {
    if let Some(rank) = current() {
        rank.bodies.borrow_mut().push(site);
        rank.status.in_body(Some(site));
    }
}

/// Ends the body of the split that began at `site`, when it is the innermost one marked (a
/// split's iterator may be dropped in another world than the one it began in).
pub(crate) fn body_ended(site: &'static Location<'static>) {
    if let Some(rank) = current() {
        let mut bodies = rank.bodies.borrow_mut();
        if bodies.last().is_some_and(|last| std::ptr::eq(*last, site)) {
            bodies.pop();
            rank.status.in_body(bodies.last().copied());
        }
    }
}

/// The split whose loop body the calling rank is running, if any.
pub(crate) fn body() -> Option<&'static Location<'static>> {
    current()?.body()
}

/// The calling rank, when it has others to call: `None` outside any world, in a world of one
/// rank, and inside a loop body, where every split and map is the rank's own.
pub(crate) fn with_peers() -> Option<Rc<RankContext>> {
    current().filter(|rank| rank.size > 1 && rank.body().is_none())
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
    enter_shared(Rc::new(context))
}

/// [`enter`] for a context held elsewhere too: one kept for the next run of its world.
pub(crate) fn enter_shared(context: Rc<RankContext>) -> EnteredRank {
    let previous = CURRENT.with(|current| current.replace(Some(context)));
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
/// Outside any world (plain code that never entered [`run`](crate::run)) it is the process's
/// rank in the job that an MPI launcher (`mpiexec`, `srun`) started, and 0 in a process that no
/// launcher started: every process of a job runs `main`, and `is_main()` picks one of them. A
/// thread that you spawn yourself from inside a rank is outside any world too.
///
/// ```
/// assert_eq!(dlp::rank(), 0); // not started by a launcher
/// let ranks = dlp::World::threads(3).run(|| dlp::gather(dlp::rank()));
/// assert_eq!(ranks, Some(vec![0, 1, 2]));
/// ```
pub fn rank() -> usize {
    current().map_or_else(process_rank, |context| context.rank)
}

/// The number of ranks in the calling thread's world.
///
/// Outside any world it is the number of processes that the MPI launcher started, so that
/// `rank() < size()` holds there too, and 1 in a process that no launcher started.
///
/// ```
/// assert_eq!(dlp::size(), 1); // not started by a launcher
/// assert_eq!(dlp::World::threads(4).run(dlp::size), 4);
/// ```
pub fn size() -> usize {
    current().map_or_else(crate::config::process_count, |context| context.size)
}

/// Whether the calling thread is the main rank (rank 0). Outside any world, whether this is
/// the first process of its job: true in a process that no launcher started.
///
/// ```
/// assert!(dlp::is_main()); // not started by a launcher
/// let mains = dlp::World::threads(3).run(|| dlp::all_gather(dlp::is_main()));
/// assert_eq!(mains, vec![true, false, false]);
/// ```
pub fn is_main() -> bool {
    rank() == 0
}
