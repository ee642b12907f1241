//! Collective operations: every rank calls them, in the same order.

use std::panic::Location;

use crate::comm::{Call, Codec, Value, unbox};
use crate::context::{self, RankContext};
use crate::failure::misuse;
use crate::message::Message;
use crate::ranks::Ranks;
use crate::split::block_range;

/// The calling rank and its call of `operation`, when it has peers to call.
///
/// # Panics
/// Inside a loop body: each rank would make the call once per item of its own, so the ranks'
/// calls could not match.
#[track_caller]
fn begin(operation: &'static str) -> Option<(std::rc::Rc<RankContext>, Call)> {
    let site = Location::caller();
    if let Some(split) = context::body() {
        misuse(format!(
            "{operation} at {site} is called inside the body of the loop of the split at \
             {split}. A collective runs once on every rank, but a loop body runs once per item \
             on whichever rank holds the item, so the ranks' calls cannot match: call it after \
             the loop (collect what the body computes, then {operation} it). A split's iterator \
             that is left unfinished counts as a loop still running: let it run out, or drop it"
        ));
    }
    let rank = context::with_peers()?;
    let call = rank.begin(Ranks::All, operation, None, site);
    Some((rank, call))
}

/// The `T` of a value that a collective returned.
fn unboxed<T: 'static>(value: Value, call: &Call) -> T {
    unbox(value, || call.type_mismatch(std::any::type_name::<T>()))
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
#[track_caller]
pub fn barrier() {
    if let Some((rank, call)) = begin("barrier") {
        rank.comm.barrier(&call);
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
    let Some((rank, call)) = begin("broadcast") else {
        return value.unwrap_or_else(|| root_passed_none("broadcast"));
    };
    if rank.rank == 0 && value.is_none() {
        root_passed_none("broadcast");
    }
    let value = value.map(|value| Box::new(value) as Value);
    unboxed(rank.comm.broadcast(&call, value, Codec::of::<T>()), &call)
}

#[track_caller]
fn root_passed_none(operation: &str) -> ! {
    misuse(format!(
        "{operation}: the main rank passed None; it must pass Some(value)"
    ))
}

/// Every rank's value, in rank order, on the main rank (`Some`); `None` on the others.
///
/// On the threads backend the values are moved, not copied. dlp_mpi's `gather`.
///
/// ```
/// let all = dlp::World::threads(3).run(|| dlp::gather(vec![dlp::rank(); dlp::rank()]));
/// assert_eq!(all, Some(vec![vec![], vec![1], vec![2, 2]]));
/// ```
#[track_caller]
pub fn gather<T: Message>(value: T) -> Option<Vec<T>> {
    gather_as("gather", value)
}

#[track_caller]
fn gather_as<T: Message>(operation: &'static str, value: T) -> Option<Vec<T>> {
    let Some((rank, call)) = begin(operation) else {
        return Some(vec![value]);
    };
    let all = rank.comm.gather(&call, Box::new(value), Codec::of::<T>())?;
    Some(all.into_iter().map(|value| unboxed(value, &call)).collect())
}

#[track_caller]
fn all_gather_as<T: Message>(operation: &'static str, value: T) -> Vec<T> {
    let Some((rank, call)) = begin(operation) else {
        return vec![value];
    };
    let all = rank
        .comm
        .all_gather(&call, Box::new(value), Codec::of::<T>());
    all.into_iter().map(|value| unboxed(value, &call)).collect()
}

/// Every rank's value, in rank order, on every rank.
///
/// ```
/// let all = dlp::World::threads(3).run(|| dlp::all_gather(dlp::rank() * 10));
/// assert_eq!(all, vec![0, 10, 20]);
/// ```
#[track_caller]
pub fn all_gather<T: Message>(value: T) -> Vec<T> {
    all_gather_as("all_gather", value)
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
    let Some((rank, call)) = begin("scatter") else {
        return items.unwrap_or_else(|| root_passed_none("scatter"));
    };
    let parts = (rank.rank == 0).then(|| {
        let parts = blocks(items, rank.size).into_iter();
        parts.map(|part| Box::new(part) as Value).collect()
    });
    unboxed(
        rank.comm.scatter(&call, parts, Codec::of::<Vec<T>>()),
        &call,
    )
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
#[track_caller]
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
#[track_caller]
pub fn all_reduce<T: Message>(value: T, combine: impl Fn(T, T) -> T) -> T {
    let Some((rank, call)) = begin("all_reduce") else {
        return value;
    };
    let mut combine_values =
        |a: Value, b: Value| -> Value { Box::new(combine(unboxed(a, &call), unboxed(b, &call))) };
    let value = Box::new(value);
    let combined = rank
        .comm
        .all_reduce(&call, value, Codec::of::<T>(), &mut combine_values);
    unboxed(combined, &call)
}
