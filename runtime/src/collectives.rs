//! Collective operations: every rank calls them, in the same order.

use std::rc::Rc;
use std::sync::Arc;

use crate::context::{self, Link, RankContext};
use crate::failure::misuse;
use crate::message::{self, Message};
#[cfg(feature = "mpi")]
use crate::message_passing as mpi;
use crate::ranks::Ranks;
use crate::split::block_range;
use crate::threads::ThreadWorld;

/// The calling rank and its world, when the world has other ranks on threads; `None` when
/// alone or over MPI.
pub(crate) fn team() -> Option<(Rc<RankContext>, Arc<ThreadWorld>)> {
    let rank = context::current()?;
    match &rank.link {
        Link::Threads(world) => {
            let world = Arc::clone(world);
            Some((rank, world))
        }
        _ => None,
    }
}

/// The ranks a collective call reaches.
enum Peers {
    /// None: the calling rank is alone.
    Alone,
    Threads(Rc<RankContext>, Arc<ThreadWorld>),
    #[cfg(feature = "mpi")]
    Mpi(Rc<crate::message_passing::MpiWorld>),
}

/// The calling rank's peers, numbering the collective call it is about to make.
fn peers() -> Peers {
    let Some(rank) = context::current() else {
        return Peers::Alone;
    };
    match &rank.link {
        Link::Solo => Peers::Alone,
        Link::Threads(world) => {
            let world = Arc::clone(world);
            Peers::Threads(rank, world)
        }
        #[cfg(feature = "mpi")]
        Link::Mpi(world) => {
            // MPI matches collectives by their order itself; the count keeps splits and maps
            // numbered the same on every backend.
            rank.next_call(Ranks::All);
            Peers::Mpi(Rc::clone(world))
        }
    }
}

/// Waits until every rank has reached this barrier.
///
/// ```
/// dlp::World::threads(3).run(|| {
///     // ... each rank writes its part of a file ...
///     dlp::barrier();
///     // ... every part is written ...
/// });
/// ```
pub fn barrier() {
    match peers() {
        Peers::Alone => {}
        Peers::Threads(rank, world) => world.barrier(rank.rank, rank.next_call(Ranks::All)),
        #[cfg(feature = "mpi")]
        Peers::Mpi(world) => mpi::barrier(&world.comm),
    }
}

/// The main rank's value, on every rank.
///
/// The main rank passes `Some(value)`; the others' argument is ignored (pass `None`). The main
/// rank keeps its value; on the threads backend the others get a copy decoded from one encoding
/// of it. dlp_mpi's `bcast`, rsmpi's `broadcast_into`.
///
/// # Panics
/// If the main rank passes `None`.
///
/// ```
/// let seeds = dlp::World::threads(3).run(|| {
///     let seed = dlp::is_main().then(|| 42u64);
///     dlp::all_gather(dlp::broadcast(seed))
/// });
/// assert_eq!(seeds, vec![42, 42, 42]);
/// ```
#[track_caller]
pub fn broadcast<T: Message>(value: Option<T>) -> T {
    match peers() {
        Peers::Alone => value.unwrap_or_else(|| root_passed_none("broadcast")),
        Peers::Threads(rank, world) => broadcast_in(&rank, &world, "broadcast", value),
        #[cfg(feature = "mpi")]
        Peers::Mpi(world) => {
            if world.rank == 0 && value.is_none() {
                root_passed_none("broadcast");
            }
            mpi::broadcast(&world.comm, value, "broadcast")
        }
    }
}

#[track_caller]
fn root_passed_none(operation: &str) -> ! {
    misuse(format!(
        "{operation}: the main rank passed None; it must pass Some(value)"
    ))
}

#[track_caller]
fn broadcast_in<T: Message>(
    rank: &RankContext,
    world: &ThreadWorld,
    operation: &'static str,
    value: Option<T>,
) -> T {
    let call = rank.next_call(Ranks::All);
    if rank.rank == 0 {
        let value = value.unwrap_or_else(|| root_passed_none(operation));
        let copy = Arc::new(message::encode(&value, operation));
        let parts = (0..rank.size)
            .map(|to| (to != 0).then(|| Arc::clone(&copy)))
            .collect();
        world.distribute::<Option<Arc<Vec<u8>>>>(0, call, operation, Some(parts));
        value
    } else {
        let copy = world
            .distribute::<Option<Arc<Vec<u8>>>>(rank.rank, call, operation, None)
            .expect("every rank but the main one gets a copy");
        message::decode(&copy, operation)
    }
}

/// Every rank's value, in rank order, on the main rank (`Some`); `None` on the others.
///
/// On the threads backend the values are moved, not copied. dlp_mpi's `gather`.
///
/// ```
/// let all = dlp::World::threads(3).run(|| dlp::gather(vec![dlp::rank(); dlp::rank()]));
/// assert_eq!(all, Some(vec![vec![], vec![1], vec![2, 2]]));
/// ```
pub fn gather<T: Message>(value: T) -> Option<Vec<T>> {
    gather_as("gather", value)
}

fn gather_as<T: Message>(operation: &'static str, value: T) -> Option<Vec<T>> {
    match peers() {
        Peers::Alone => Some(vec![value]),
        Peers::Threads(rank, world) => {
            world.gather(rank.rank, rank.next_call(Ranks::All), operation, value)
        }
        #[cfg(feature = "mpi")]
        Peers::Mpi(world) => mpi::gather(&world.comm, value, operation),
    }
}

/// Every rank's value, in rank order, on every rank.
///
/// ```
/// let all = dlp::World::threads(3).run(|| dlp::all_gather(dlp::rank() * 10));
/// assert_eq!(all, vec![0, 10, 20]);
/// ```
pub fn all_gather<T: Message>(value: T) -> Vec<T> {
    match peers() {
        Peers::Alone => vec![value],
        Peers::Threads(rank, world) => {
            let gathered = world.gather(rank.rank, rank.next_call(Ranks::All), "all_gather", value);
            broadcast_in(&rank, &world, "all_gather", gathered)
        }
        #[cfg(feature = "mpi")]
        Peers::Mpi(world) => mpi::all_gather(&world.comm, value, "all_gather"),
    }
}

/// The main rank's items cut into near-even contiguous blocks, one per rank, in rank order;
/// returns this rank's block.
///
/// The first `len % size` ranks get one item more: 1000 items over 15 ranks are ten blocks of 67
/// and five of 66. The main rank passes `Some(items)`; the others' argument is ignored. On the
/// threads backend the items are moved, not copied. McUtils' `scatter`.
///
/// # Panics
/// If the main rank passes `None`.
///
/// ```
/// let sizes = dlp::World::threads(4).run(|| {
///     let items = dlp::is_main().then(|| (0..10).collect::<Vec<u32>>());
///     dlp::gather(dlp::scatter(items))
/// });
/// assert_eq!(sizes, Some(vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7], vec![8, 9]]));
/// ```
#[track_caller]
pub fn scatter<T: Message>(items: Option<Vec<T>>) -> Vec<T> {
    /// The main rank's items, cut into one block per rank.
    #[track_caller]
    fn blocks<T>(items: Option<Vec<T>>, size: usize) -> Vec<Vec<T>> {
        let mut items = items.unwrap_or_else(|| root_passed_none("scatter"));
        let length = items.len();
        let mut parts: Vec<Vec<T>> = (0..size)
            .rev()
            .map(|to| items.split_off(block_range(length, size, to).start))
            .collect();
        parts.reverse();
        parts
    }
    match peers() {
        Peers::Alone => items.unwrap_or_else(|| root_passed_none("scatter")),
        Peers::Threads(rank, world) => {
            let call = rank.next_call(Ranks::All);
            let parts = (rank.rank == 0).then(|| blocks(items, rank.size));
            world.distribute(rank.rank, call, "scatter", parts)
        }
        #[cfg(feature = "mpi")]
        Peers::Mpi(world) => {
            let parts = (world.rank == 0).then(|| blocks(items, world.size));
            mpi::scatter(&world.comm, parts, "scatter")
        }
    }
}

/// The ranks' values combined with `combine`, on the main rank (`Some`); `None` on the others.
///
/// The values are folded in rank order, `combine(combine(v0, v1), v2)...`, so the result is the
/// same on every run even when `combine` is not associative (floating-point sums). OpenMP's
/// `reduction` clause; rsmpi's `reduce_into_root`.
///
/// ```
/// let sum = dlp::World::threads(4).run(|| dlp::reduce(dlp::rank() as f64, |a, b| a + b));
/// assert_eq!(sum, Some(6.0));
/// ```
pub fn reduce<T: Message>(value: T, combine: impl Fn(T, T) -> T) -> Option<T> {
    gather_as("reduce", value).map(|all| {
        all.into_iter()
            .reduce(combine)
            .expect("a world has at least one rank")
    })
}

/// The ranks' values combined with `combine` (in rank order, as [`reduce`]), on every rank.
///
/// ```
/// let longest = dlp::World::threads(3).run(|| dlp::all_reduce(dlp::rank() * 7 % 5, usize::max));
/// assert_eq!(longest, 4);
/// ```
pub fn all_reduce<T: Message>(value: T, combine: impl Fn(T, T) -> T) -> T {
    let fold = |all: Vec<T>| {
        all.into_iter()
            .reduce(&combine)
            .expect("a world has at least one rank")
    };
    match peers() {
        Peers::Alone => value,
        Peers::Threads(rank, world) => {
            let combined = world
                .gather(rank.rank, rank.next_call(Ranks::All), "all_reduce", value)
                .map(fold);
            broadcast_in(&rank, &world, "all_reduce", combined)
        }
        // Every rank folds every value, in rank order: the same result everywhere, with one
        // collective instead of a gather and a broadcast.
        #[cfg(feature = "mpi")]
        Peers::Mpi(world) => fold(mpi::all_gather(&world.comm, value, "all_reduce")),
    }
}
