//! What a backend provides: the small traits through which splits, maps and collectives reach
//! the other ranks of a world.
//!
//! A backend is a folder under `backend/` that implements [`Comm`] for the ranks it runs, with
//! a [`Counter`] for the dynamic splits and a [`ResultChannel`] for the maps. Everything above
//! it (numbering the calls, checking that ranks agree, encoding values, splitting, watching) is
//! written once, against these traits.
//!
//! Values cross this boundary type-erased, as a [`Value`] with the [`Codec`] of its type: a
//! backend whose ranks share memory moves the box, one whose ranks are processes encodes it.

pub(crate) mod call;
mod codec;

use std::any::Any;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub(crate) use call::{Call, ORDER_PREFIX};
pub(crate) use codec::{Codec, Value, unbox};

use crate::ranks::Ranks;

/// How `all_reduce` combines two values, type-erased.
pub(crate) type Combine<'a> = dyn FnMut(Value, Value) -> Value + 'a;

/// State that the ranks of one split or map share: made once per process by [`Comm::join`].
pub(crate) type Shared = Arc<dyn Any + Send + Sync>;

/// How one rank reaches the others of its world.
///
/// # Contract
/// - The collective methods (every method that takes a [`Call`]) are called by every rank of
///   `call.ranks`, and each rank numbers its calls of a group alike ([`Call`]). A backend
///   matches calls by that number; where two ranks disagree on a call (another operation or
///   call site, another iterable length or order, a rank that has returned without making it),
///   one rank panics through [`misuse`](crate::failure::misuse) with [`Call`]'s message rather
///   than hang or compute garbage.
/// - The values passed are of the type that `codec` describes, and so are the values returned.
///   The main rank (rank 0) is the root of `gather`, `broadcast` and `scatter`.
/// - A method that waits for other ranks unwinds the calling rank with
///   [`stop`](crate::failure::stop) once the world is aborted by another rank's failure.
pub(crate) trait Comm {
    /// Returns once every rank of `call.ranks` has called it.
    fn barrier(&self, call: &Call);

    /// Every rank's value, in rank order, on the main rank; `None` on the others.
    fn gather(&self, call: &Call, value: Value, codec: Codec) -> Option<Vec<Value>>;

    /// Every rank's value, in rank order, on every rank.
    fn all_gather(&self, call: &Call, value: Value, codec: Codec) -> Vec<Value>;

    /// Every rank's value combined with `combine` in rank order, `combine(combine(v0, v1), v2)`,
    /// on every rank: the same result everywhere. By default every rank folds what
    /// [`Comm::all_gather`] gives it.
    fn all_reduce(&self, call: &Call, value: Value, codec: Codec, combine: &mut Combine) -> Value {
        let all = self.all_gather(call, value, codec).into_iter();
        all.reduce(combine).expect("a group has at least one rank")
    }

    /// The main rank's value (`Some` there, ignored elsewhere), on every rank.
    fn broadcast(&self, call: &Call, value: Option<Value>, codec: Codec) -> Value;

    /// `parts[r]`, given by the main rank (`Some` there, ignored elsewhere), on rank `r`.
    fn scatter(&self, call: &Call, parts: Option<Vec<Value>>, codec: Codec) -> Value;

    /// The state the ranks of `call.ranks` share for one split or map. `make` runs once per
    /// process of the group, and every rank of that process gets what it made; it may call
    /// [`Comm::counter`] for counters that the group shares. Checks `call.length` and
    /// `call.order` across the ranks where they are known. Never waits for ranks of its own
    /// process.
    fn join(&self, call: &Call, make: &mut dyn FnMut() -> Shared) -> Shared;

    /// A counter at 0 that the ranks of `ranks` share; called only inside the `make` of
    /// [`Comm::join`], where it is collective over the processes of the group.
    fn counter(&self, ranks: Ranks) -> Box<dyn Counter>;

    /// The channel of one map: from every other rank of the world to the main rank.
    fn results(&self, call: &Call) -> Box<dyn ResultChannel>;

    /// Whether world rank `rank` runs in this process.
    fn hosts(&self, rank: usize) -> bool;

    /// Set when another rank fails in a way that does not end this process by itself: loops
    /// check it between runs of items and unwind. Each rank's own.
    fn abort_flag(&self) -> Option<Arc<AbortFlag>>;

    /// The signal of a stop asked of the job (SIGTERM, SIGINT, SIGUSR1), if one was: journaled
    /// splits check it between runs of items. A backend of several processes passes a stop
    /// that one of them received on to the others.
    fn stop_requested(&self) -> Option<i32> {
        crate::stop::requested()
    }
}

/// A number that the ranks of a group share: the next unclaimed index of a dynamic split, or
/// the items finished, for a progress bar.
pub(crate) trait Counter: Send + Sync {
    /// The value now; another rank may change it at once.
    fn load(&self) -> usize;

    /// Adds `count`; returns the value before.
    fn fetch_add(&self, count: usize) -> usize;

    /// Sets the value to `new` if it is `current`; returns the value found either way.
    fn compare_exchange(&self, current: usize, new: usize) -> Result<usize, usize>;

    /// Claims the next `step.size(value)` indices in one atomic step; returns them, none once
    /// `value` has reached `step.length`. A backend whose ranks reach the counter by message
    /// does it in one round trip, and may claim the next chunk ahead while this one runs.
    fn advance(&self, step: Step) -> Range<usize> {
        if let Some(size) = step.fixed() {
            let start = self.fetch_add(size);
            return start.min(step.length)..(start + size).min(step.length);
        }
        let mut at = self.load();
        loop {
            let size = step.size(at);
            if size == 0 {
                return at..at;
            }
            match self.compare_exchange(at, at + size) {
                Ok(_) => return at..at + size,
                Err(found) => at = found,
            }
        }
    }

    /// Sets the counter back to 0 for another split, where the caller holds its only handle and
    /// it lives in this process alone; false for a counter that other processes share, which
    /// only a collective call could set back.
    fn reset(&self) -> bool {
        false
    }

    /// Adds `count`, when no rank needs the sum before [`Counter::settle`]: a backend whose
    /// ranks reach the counter by message need not wait for a reply.
    fn add(&self, count: usize) {
        self.fetch_add(count);
    }

    /// Returns once every process of the group has called it: every addition made before is
    /// then seen by [`Counter::load`]. Called once per process, when the process is done with
    /// the counter; at once for a counter within one process.
    fn settle(&self);
}

/// How far a claim advances a [`Counter`] at `value`: a share of what is left below `length`,
/// `(length - value) / divisor` (rounded up with `round_up`), kept within `min..=max` and
/// what is left; nothing once `value` has reached `length`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Step {
    pub(crate) length: usize,
    pub(crate) divisor: usize,
    pub(crate) round_up: bool,
    pub(crate) min: usize,
    pub(crate) max: usize,
}

impl Step {
    /// The size of every step, where it does not depend on the value: then one addition takes
    /// it, however many ranks add at once (past the end, what it claims is empty).
    pub(crate) fn fixed(&self) -> Option<usize> {
        (self.min == self.max).then_some(self.max)
    }

    /// The size of the step from `value`.
    pub(crate) fn size(&self, value: usize) -> usize {
        let Some(left) = self.length.checked_sub(value).filter(|left| *left > 0) else {
            return 0;
        };
        let share = if self.round_up {
            left.div_ceil(self.divisor)
        } else {
            left / self.divisor
        };
        share.max(self.min).min(self.max).min(left)
    }
}

/// A rank's flag of its world's abort, alone on its cache lines: every split of the rank takes
/// a handle to it and drops it, and ranks sharing one flag (one reference count) would move its
/// line between their cores at every split.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct AbortFlag(AtomicBool);

impl AbortFlag {
    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        // Acquire: whoever sees the world aborted sees the failure recorded before it.
        self.0.load(Ordering::Acquire)
    }

    pub(crate) fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A [`Counter`] in this process's memory, alone on its cache lines: every rank of a dynamic
/// split writes it at each claim, and nothing else should move with it between cores.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct LocalCounter(AtomicUsize);

impl Counter for LocalCounter {
    fn load(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn reset(&self) -> bool {
        // Ordered before the next split's claims by the round that hands the counter out.
        self.0.store(0, Ordering::Relaxed);
        true
    }

    fn fetch_add(&self, count: usize) -> usize {
        self.0.fetch_add(count, Ordering::Relaxed)
    }

    fn compare_exchange(&self, current: usize, new: usize) -> Result<usize, usize> {
        self.0
            .compare_exchange_weak(current, new, Ordering::Relaxed, Ordering::Relaxed)
    }

    fn settle(&self) {}
}

/// The results of one map, on their way from the ranks that compute them to the main rank.
///
/// Results travel in batches, each a `Vec<(usize, R)>` of item indices and results, with the
/// codec of that vector type.
pub(crate) trait ResultChannel {
    /// On a rank other than the main one: hands a batch to the main rank; false once the main
    /// rank wants no more results.
    fn send(&self, batch: Value, codec: Codec) -> bool;

    /// On a rank other than the main one: its last batch; this rank's share is done. Called
    /// before the rank leaves the map's split, which may wait for the main rank.
    fn finish(&self, last: Value, codec: Codec);

    /// On the main rank: the batches that have arrived. With `wait`, returns only once at
    /// least one has arrived or no rank is busy any more.
    fn receive(&mut self, wait: bool, codec: Codec) -> Vec<Value>;

    /// On the main rank: whether a rank has not finished yet.
    fn senders_busy(&self) -> bool;

    /// On the main rank, when it drops the map: no more results are wanted, and none of this
    /// map's messages may be left for a later one.
    fn close(&mut self);
}
