//! Collective operations: every rank calls them, in the same order.

use std::rc::Rc;
use std::sync::Arc;

use crate::context::{self, Link, RankContext};
use crate::failure::misuse;
use crate::message::{self, Message};
use crate::split::block_range;
use crate::threads::{Members, ThreadWorld};

/// The calling rank and its world, when the world has other ranks; `None` when alone.
pub(crate) fn team() -> Option<(Rc<RankContext>, Arc<ThreadWorld>)> {
    let rank = context::current()?;
    match &rank.link {
        Link::Solo => None,
        Link::Threads(world) => {
            let world = Arc::clone(world);
            Some((rank, world))
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
    if let Some((rank, world)) = team() {
        world.barrier(rank.rank, rank.next_call(Members::All));
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
    let Some((rank, world)) = team() else {
        return value.unwrap_or_else(|| root_passed_none("broadcast"));
    };
    broadcast_in(&rank, &world, "broadcast", value)
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
    let call = rank.next_call(Members::All);
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
    match team() {
        None => Some(vec![value]),
        Some((rank, world)) => {
            world.gather(rank.rank, rank.next_call(Members::All), "gather", value)
        }
    }
}

/// Every rank's value, in rank order, on every rank.
///
/// ```
/// let all = dlp::World::threads(3).run(|| dlp::all_gather(dlp::rank() * 10));
/// assert_eq!(all, vec![0, 10, 20]);
/// ```
pub fn all_gather<T: Message>(value: T) -> Vec<T> {
    let Some((rank, world)) = team() else {
        return vec![value];
    };
    let gathered = world.gather(rank.rank, rank.next_call(Members::All), "all_gather", value);
    broadcast_in(&rank, &world, "all_gather", gathered)
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
    let Some((rank, world)) = team() else {
        return items.unwrap_or_else(|| root_passed_none("scatter"));
    };
    let call = rank.next_call(Members::All);
    let parts = (rank.rank == 0).then(|| {
        let mut items = items.unwrap_or_else(|| root_passed_none("scatter"));
        let length = items.len();
        let mut parts: Vec<Vec<T>> = (0..rank.size)
            .rev()
            .map(|to| items.split_off(block_range(length, rank.size, to).start))
            .collect();
        parts.reverse();
        parts
    });
    world.distribute(rank.rank, call, "scatter", parts)
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
    let all = match team() {
        None => Some(vec![value]),
        Some((rank, world)) => {
            world.gather(rank.rank, rank.next_call(Members::All), "reduce", value)
        }
    };
    all.map(|all| {
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
    let Some((rank, world)) = team() else {
        return value;
    };
    let combined = world
        .gather(rank.rank, rank.next_call(Members::All), "all_reduce", value)
        .map(|all| {
            all.into_iter()
                .reduce(combine)
                .expect("a world has at least one rank")
        });
    broadcast_in(&rank, &world, "all_reduce", combined)
}
