//! Splits: which items of an iterable each rank processes.

mod claims;
mod journaled;
mod order;
mod plan;
mod share;

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, OnceLock};

pub use journaled::Journaled;
pub use order::Fingerprint;
pub(crate) use order::{by_debug, by_hash, by_key};
pub(crate) use plan::block_range;
pub use share::{Share, ShareMap, WithIndex};

use crate::comm::{Call, Comm, LocalCounter, Shared};
use crate::context::{self, RankContext};
use crate::journal::{self, Kind, OnStop, Opened};
use crate::observe::{RankWatch, SplitWatch};
use crate::ranks::Ranks;
use claims::Claims;
use plan::Sizer;
use share::{CollectedItems, Plan, Prefixed, Sharing, collected, exact_length};

/// How the items of a split are assigned to ranks.
///
/// | schedule | item `i` goes to | OpenMP |
/// |---|---|---|
/// | `RoundRobin` | rank `(i / chunk) % size` (chunk 1 by default) | `static, chunk` |
/// | `Block` | a contiguous near-even block per rank, the first `len % size` one item longer | `static` |
/// | `Managed` | whichever rank asks first for the next chunk (adaptive by default) | `dynamic, chunk` |
/// | `Guided` | the same, with chunks of the remaining items / size, at least `chunk` | `guided, chunk` |
///
/// ```
/// use dlp::{Schedule, Split};
/// let split = Split::with_schedule(Schedule::Guided);
/// assert_eq!(split, Split::guided());
/// assert_eq!(split.schedule(), Schedule::Guided);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Schedule {
    /// Static: chunks dealt round robin.
    RoundRobin,
    /// Static: one contiguous block per rank.
    Block,
    /// Dynamic: a rank claims the next chunk when it is done with its last.
    Managed,
    /// Dynamic, with chunks that shrink as the work runs out.
    Guided,
}

impl Schedule {
    fn operation(self) -> &'static str {
        match self {
            Schedule::RoundRobin => "split_round_robin",
            Schedule::Block => "split_block",
            Schedule::Managed => "split_managed",
            Schedule::Guided => "split_guided",
        }
    }
}

/// A split to apply: a [`Schedule`] and its chunk size.
///
/// The free functions [`split_round_robin`], [`split_block`], [`split_managed`] and
/// [`split_guided`] use the defaults; `Split` sets the chunk.
///
/// **Chunks.** `round_robin` deals chunks of `chunk` items (default 1). `managed` claims
/// `chunk` items at a time; without a chunk it adapts: each rank starts with one item and then
/// claims as many as it processes in about 100 µs, by its own measurement, and never more than
/// 1/(2·size) of what is left. Slow items are thus handed out one by one, and fast items in
/// chunks large enough that claiming costs nothing. `guided` claims the remaining items divided
/// by the number of ranks, but at least `chunk` (default 1).
///
/// ```
/// use dlp::Split;
/// let counts = dlp::World::threads(2).run(|| {
///     let mine = Split::managed().chunk(4).over(0..100).count();
///     dlp::all_gather(mine)
/// });
/// assert_eq!(counts.iter().sum::<usize>(), 100);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Split {
    schedule: Schedule,
    chunk: Option<NonZeroUsize>,
    progress: bool,
    /// The operation the split serves, where it is not a loop of its own (a map), for its
    /// progress bar, report, timeline and errors.
    serves: Option<&'static str>,
}

impl Default for Split {
    /// The managed split with adaptive chunks.
    fn default() -> Self {
        Split::managed()
    }
}

impl Split {
    /// Item `i` goes to rank `i % size`; see [`split_round_robin`].
    ///
    /// ```
    /// let mine: Vec<u8> = dlp::World::threads(2).run(|| dlp::Split::round_robin().over(0..5).collect());
    /// assert_eq!(mine, vec![0, 2, 4]);
    /// ```
    pub const fn round_robin() -> Split {
        Split {
            schedule: Schedule::RoundRobin,
            chunk: None,
            progress: false,
            serves: None,
        }
    }

    /// Contiguous near-even blocks; see [`split_block`].
    ///
    /// ```
    /// let mine: Vec<u8> = dlp::World::threads(2).run(|| dlp::Split::block().over(0..5).collect());
    /// assert_eq!(mine, vec![0, 1, 2]);
    /// ```
    pub const fn block() -> Split {
        Split {
            schedule: Schedule::Block,
            chunk: None,
            progress: false,
            serves: None,
        }
    }

    /// Dynamic, with adaptive chunks unless [`chunk`](Split::chunk) fixes them; see
    /// [`split_managed`].
    ///
    /// ```
    /// let total = dlp::World::threads(3).run(|| {
    ///     dlp::all_reduce(dlp::Split::managed().over(1..=10u32).sum::<u32>(), |a, b| a + b)
    /// });
    /// assert_eq!(total, 55);
    /// ```
    pub const fn managed() -> Split {
        Split {
            schedule: Schedule::Managed,
            chunk: None,
            progress: false,
            serves: None,
        }
    }

    /// Dynamic, with shrinking chunks; see [`split_guided`].
    ///
    /// ```
    /// let count = dlp::World::threads(2).run(|| {
    ///     dlp::all_reduce(dlp::Split::guided().chunk(8).over(0..100).count(), |a, b| a + b)
    /// });
    /// assert_eq!(count, 100);
    /// ```
    pub const fn guided() -> Split {
        Split {
            schedule: Schedule::Guided,
            chunk: None,
            progress: false,
            serves: None,
        }
    }

    /// The split with this schedule and default chunks.
    ///
    /// ```
    /// assert_eq!(dlp::Split::with_schedule(dlp::Schedule::Block), dlp::Split::block());
    /// ```
    pub const fn with_schedule(schedule: Schedule) -> Split {
        Split {
            schedule,
            chunk: None,
            progress: false,
            serves: None,
        }
    }

    /// Sets the chunk size: dealt chunks for `round_robin`, claimed chunks for `managed`, the
    /// smallest chunk for `guided`.
    ///
    /// # Panics
    /// If `items` is 0, or for the `block` split, whose blocks are one per rank.
    ///
    /// ```
    /// let mine: Vec<u32> = dlp::World::threads(2).run(|| {
    ///     dlp::Split::round_robin().chunk(2).over(0..8).collect()
    /// });
    /// assert_eq!(mine, vec![0, 1, 4, 5]); // rank 0 gets chunks 0 and 2
    /// ```
    #[track_caller]
    pub fn chunk(self, items: usize) -> Split {
        let Some(chunk) = NonZeroUsize::new(items) else {
            panic!("dlp: a chunk holds at least 1 item, not 0");
        };
        assert!(
            self.schedule != Schedule::Block,
            "dlp: the block split has one block per rank and takes no chunk size; use \
             round_robin, managed or guided to set one"
        );
        Split {
            chunk: Some(chunk),
            ..self
        }
    }

    /// Shows a progress bar on stderr while the split runs: the items finished on all ranks,
    /// the rate and the time left. Nothing is drawn when stderr is not a terminal (a file, a
    /// pipe, a batch job's log). The bar is updated once per run of items (about 100 µs of
    /// work), never per item.
    ///
    /// ```
    /// let count = dlp::World::threads(2).run(|| {
    ///     dlp::all_reduce(dlp::Split::managed().progress().over(0..1000).count(), |a, b| a + b)
    /// });
    /// assert_eq!(count, 1000);
    /// ```
    pub const fn progress(self) -> Split {
        Split {
            progress: true,
            ..self
        }
    }

    /// Whether [`progress`](Split::progress) was asked for.
    ///
    /// ```
    /// assert!(dlp::Split::block().progress().shows_progress());
    /// assert!(!dlp::Split::block().shows_progress());
    /// ```
    pub fn shows_progress(&self) -> bool {
        self.progress
    }

    /// The schedule.
    ///
    /// ```
    /// assert_eq!(dlp::Split::default().schedule(), dlp::Schedule::Managed);
    /// ```
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// The chunk size set with [`chunk`](Split::chunk), if any.
    ///
    /// ```
    /// assert_eq!(dlp::Split::managed().chunk(16).chunk_size(), Some(16));
    /// assert_eq!(dlp::Split::managed().chunk_size(), None);
    /// ```
    pub fn chunk_size(&self) -> Option<usize> {
        self.chunk.map(NonZeroUsize::get)
    }

    /// The items of `items` that fall to this rank.
    ///
    /// Every rank must call it, in the same order relative to its other collective calls, on an
    /// iterable with the same items; where the lengths are known and differ, the rank that
    /// notices panics with a message that says so. `block` needs the length: an iterable without
    /// an exact size hint is collected first.
    ///
    /// ```
    /// let words = ["alpha", "beta", "gamma", "delta"];
    /// let lengths = dlp::World::threads(2).run(|| {
    ///     let mine: Vec<usize> = dlp::Split::block().over(words).map(str::len).collect();
    ///     dlp::gather(mine).map(|all| all.concat())
    /// });
    /// assert_eq!(lengths, Some(vec![5, 4, 5, 5]));
    /// ```
    #[track_caller]
    pub fn over<I: IntoIterator>(self, items: I) -> Share<I::IntoIter> {
        self.over_among(Ranks::All, items, None)
    }

    /// Every item, for a rank that processes them all, with no call to the other ranks: in a
    /// journaled split, every item left.
    #[track_caller]
    fn alone<I: Iterator>(
        self,
        items: Items<I>,
        length: Option<usize>,
        journal: Option<&Opened>,
    ) -> Share<I> {
        let observer = context::current().and_then(|rank| rank.observer.clone());
        let site = std::panic::Location::caller();
        let left = journal.map_or(length, |journal| journal.remaining.count());
        let watch = SplitWatch::new(|| self.label(site), left, 1, self.progress, observer)
            .map(|watch| RankWatch::new(Arc::new(watch), context::rank()));
        let every_position = 0..left.unwrap_or(usize::MAX);
        let cursor = journal.map(|journal| journal.cursor(context::rank(), true, OnStop::Unwind));
        let sharing = Sharing {
            stride: 1,
            aborted: None,
            watch,
            journal: cursor,
        };
        items.share(Plan::Single(Some(every_position)), sharing)
    }

    /// How the split is named in progress bars, reports and timelines: by the place in the
    /// program that started it.
    fn label(&self, at: &std::panic::Location<'_>) -> String {
        format!("{} at {}:{}", self.operation(), at.file(), at.line())
    }

    /// The public name of what the split does: its own, or that of the map it serves.
    fn operation(&self) -> &'static str {
        self.serves.unwrap_or(self.schedule.operation())
    }

    /// The split as the one a map (`operation`) runs on.
    pub(crate) fn serving(self, operation: &'static str) -> Split {
        Split {
            serves: Some(operation),
            ..self
        }
    }

    fn is_dynamic(&self) -> bool {
        matches!(self.schedule, Schedule::Managed | Schedule::Guided)
    }

    /// The items of `items` that fall to this rank when only the ranks of `ranks` share them;
    /// where `fingerprint` is given, the ranks compare the order of their items with it.
    #[track_caller]
    pub(crate) fn over_among<I: IntoIterator>(
        self,
        ranks: Ranks,
        items: I,
        fingerprint: Option<Fingerprint<I::Item>>,
    ) -> Share<I::IntoIter> {
        self.share_out(ranks, items.into_iter(), fingerprint, None)
            .0
    }

    /// [`Split::over_among`] with the journal at `directory`, which records the finished items
    /// of a loop (`Kind::Loop`: every rank records its own) or the results of a map (`Kind::Map`:
    /// its main rank records them, and the shares do not). Returns the share, and the journal
    /// as it was found (with, on the first rank of the group, the results of earlier runs).
    #[track_caller]
    pub(crate) fn over_journaled<I: IntoIterator>(
        self,
        ranks: Ranks,
        items: I,
        fingerprint: Option<Fingerprint<I::Item>>,
        directory: &Path,
        kind: Kind,
    ) -> (Share<I::IntoIter>, Opened) {
        let (share, opened) = self.share_out(
            ranks,
            items.into_iter(),
            fingerprint,
            Some((directory, kind)),
        );
        (share, opened.expect("a journaled split opens its journal"))
    }

    #[track_caller]
    fn share_out<I: Iterator>(
        self,
        ranks: Ranks,
        items: I,
        fingerprint: Option<Fingerprint<I::Item>>,
        journal: Option<(&Path, Kind)>,
    ) -> (Share<I>, Option<Opened>) {
        let peers = context::with_peers().filter(|_| ranks != Ranks::Main);
        let site = std::panic::Location::caller();
        let operation = self.operation();
        let length = exact_length(&items);
        let (items, order) = match fingerprint {
            Some(fingerprint) if peers.is_some() || journal.is_some() => {
                checked_order(items, fingerprint)
            }
            _ => {
                if peers.is_some() {
                    order::refuse_hash_order::<I>(operation, site);
                }
                (Items::Live(items), None)
            }
        };
        // A block split needs the length: collect an iterable that does not know it.
        let (items, length) = match (self.schedule, length) {
            (Schedule::Block, None) if peers.is_some() => items.collected(),
            _ => (items, length),
        };
        let opened = journal.map(|(directory, kind)| {
            let identity = journal::identity(kind, length, order);
            journal::open(
                peers.as_deref(),
                ranks,
                directory,
                identity,
                site,
                operation,
            )
        });
        let Some(rank) = peers else {
            return (self.alone(items, length, opened.as_ref()), opened);
        };
        let left = opened
            .as_ref()
            .map_or(length, |opened| opened.remaining.count());
        let mut call = rank.begin(ranks, operation, left, site);
        call.order = order;
        let shared = self.join(&rank, &call);
        let watch = shared
            .watch
            .as_ref()
            .map(|watch| RankWatch::new(Arc::clone(watch), rank.rank));
        let (me, size) = ranks.place(rank.rank, rank.size);
        let (plan, stride) = self.plan(me, size, left, shared, opened.is_some());
        let cursor = opened.as_ref().zip(journal).map(|(opened, (_, kind))| {
            let is_map = kind == Kind::Map;
            let on_stop = if is_map { OnStop::End } else { OnStop::Unwind };
            opened.cursor(rank.rank, !is_map, on_stop)
        });
        let sharing = Sharing {
            stride,
            aborted: rank.comm.abort_flag(),
            watch,
            journal: cursor,
        };
        let share = items.share(plan, sharing);
        (share, opened)
    }

    /// What the ranks of `call` share for this split, made once per process.
    fn join(&self, rank: &RankContext, call: &Call) -> Arc<SplitShared> {
        let comm = &*rank.comm;
        let watched = self.progress || rank.observer.is_some();
        let shares_nothing = !self.is_dynamic() && !watched;
        let reusable = self.is_dynamic() && !watched;
        let mut make = || -> Shared {
            if shares_nothing {
                return nothing_shared();
            }
            if reusable && let Some(spare) = reuse_spare(rank, call) {
                return spare;
            }
            let next = match self.is_dynamic() {
                true => comm.counter(call.ranks),
                false => Box::new(LocalCounter::default()),
            };
            let kept = reusable && next.reset();
            let watch = self.watch(comm, rank, call);
            let shared: Shared = Arc::new(SplitShared {
                claims: Claims::on(next, call.length),
                watch: watch.map(Arc::new),
            });
            let mut spares = rank.spare_splits.borrow_mut();
            if kept && spares.len() < MAX_SPARE_SPLITS {
                spares.push(Arc::clone(&shared));
            }
            shared
        };
        let shared = comm.join(call, &mut make);
        // Ranks that disagree on the operation were stopped by the backend: a split's round
        // holds a split's state.
        shared
            .downcast::<SplitShared>()
            .unwrap_or_else(|_| unreachable!("the round of a split holds its SplitShared"))
    }

    /// The watch of this process's ranks of the split, if anything is watched.
    fn watch(&self, comm: &dyn Comm, rank: &RankContext, call: &Call) -> Option<SplitWatch> {
        let members = call.ranks.range(rank.size);
        let here = members.clone().filter(|&member| comm.hosts(member)).count();
        let mut watch = SplitWatch::new(
            || self.label(call.site),
            call.length,
            here,
            self.progress,
            rank.observer.clone(),
        )?;
        if self.progress {
            // Every rank adds its finished items to one count; the bar is drawn where the first
            // rank of the split runs.
            let drawn_here = comm.hosts(members.start);
            watch =
                watch.counting_into(comm.counter(call.ranks), drawn_here, here == members.len());
        }
        Some(watch)
    }

    /// Where rank `me` of `size` finds its indices, and their stride. A journaled split's
    /// plan gives positions, which the rank turns into runs of indices: its stride is 1.
    fn plan(
        &self,
        me: usize,
        size: usize,
        length: Option<usize>,
        shared: Arc<SplitShared>,
        journaled: bool,
    ) -> (Plan, usize) {
        let chunk = self.chunk.map_or(1, NonZeroUsize::get);
        let plan = match self.schedule {
            // One strided run: every size-th index from this rank's.
            Schedule::RoundRobin if chunk == 1 && !journaled => {
                return (Plan::Single(Some(me..length.unwrap_or(usize::MAX))), size);
            }
            Schedule::RoundRobin => Plan::Dealt {
                run: 0,
                chunk,
                rank: me,
                size,
                length,
            },
            Schedule::Block => {
                let length = length.expect("collected above");
                Plan::Single(Some(block_range(length, size, me)))
            }
            Schedule::Managed | Schedule::Guided => Plan::Claimed {
                shared,
                sizer: match (self.schedule, self.chunk) {
                    (Schedule::Guided, _) => Sizer::Guided {
                        min: chunk,
                        ranks: size,
                    },
                    (_, Some(chunk)) => Sizer::Fixed(chunk.get()),
                    (_, None) => Sizer::adaptive(),
                },
                ranks: size,
                last_chunk: 0,
            },
        };
        (plan, 1)
    }
}

/// The most shared states of finished dynamic splits a rank keeps: as many as it may hold
/// splits unfinished at once in a common program.
const MAX_SPARE_SPLITS: usize = 4;

/// What the ranks of one of `rank`'s earlier dynamic splits shared, if nobody holds it any more,
/// started again for `call`. Making it anew allocates its counter on a line of its own, and the
/// rank that drops it last frees what another rank's thread allocated: together they cost
/// a dynamic split's start from 0.5 to several microseconds, depending on the allocator's state.
fn reuse_spare(rank: &RankContext, call: &Call) -> Option<Shared> {
    let mut spares = rank.spare_splits.borrow_mut();
    spares.iter_mut().find_map(|spare| {
        let state = Arc::get_mut(spare)?.downcast_mut::<SplitShared>()?;
        state.claims.restart(call.length).then(|| Arc::clone(spare))
    })
}

/// What the ranks of one split share: the claim counter of a dynamic split, and the watch.
pub(crate) struct SplitShared {
    pub(crate) claims: Claims,
    pub(crate) watch: Option<Arc<SplitWatch>>,
}

/// What the ranks of a static split that nothing watches share: nothing. One value for every
/// such split, so that starting one allocates nothing (and frees nothing that another rank's
/// thread allocated, which makes the allocator take a lock).
fn nothing_shared() -> Shared {
    static NOTHING: OnceLock<Arc<SplitShared>> = OnceLock::new();
    let nothing = NOTHING.get_or_init(|| {
        let unused = Box::new(LocalCounter::default());
        Arc::new(SplitShared {
            claims: Claims::on(unused, None),
            watch: None,
        })
    });
    Arc::clone(nothing) as Shared
}

/// `items`, with the fingerprint of their start.
fn checked_order<I: Iterator>(
    mut items: I,
    fingerprint: Fingerprint<I::Item>,
) -> (Items<I>, Option<u64>) {
    let (head, order) = order::prefix(&mut items, fingerprint);
    (Items::Prefixed(head.into_iter().chain(items)), Some(order))
}

/// The items of a split: as given, after their compared start, or collected to learn their
/// length.
enum Items<I: Iterator> {
    Live(I),
    Prefixed(Prefixed<I>),
    Collected(CollectedItems<I>),
}

impl<I: Iterator> Items<I> {
    /// The items collected, with their number.
    fn collected(self) -> (Items<I>, Option<usize>) {
        let (collected, length) = match self {
            Items::Live(items) => collected::<I>(items),
            Items::Prefixed(items) => collected::<I>(items),
            Items::Collected(items) => return (Items::Collected(items), None),
        };
        (Items::Collected(collected), Some(length))
    }

    #[track_caller]
    fn share(self, plan: Plan, sharing: Sharing) -> Share<I> {
        match self {
            Items::Live(items) => Share::live(items, plan, sharing),
            Items::Prefixed(items) => Share::prefixed(items, plan, sharing),
            Items::Collected(items) => Share::of_collected(items, plan, sharing),
        }
    }
}

/// This rank's items, dealt round robin: item `i` goes to rank `i % size`.
///
/// The static split of dlp_mpi's `split_round_robin` and OpenMP's `schedule(static, 1)`: no
/// communication while iterating, and good balance when the items cost about the same. Works on
/// iterables of unknown length.
///
/// ```
/// let mine: Vec<u32> = dlp::World::threads(3).run(|| dlp::split_round_robin(0..10).collect());
/// assert_eq!(mine, vec![0, 3, 6, 9]); // rank 0's share
/// ```
#[track_caller]
pub fn split_round_robin<I: IntoIterator>(items: I) -> Share<I::IntoIter> {
    Split::round_robin().over(items)
}

/// This rank's contiguous block: `len` items in near-even blocks, the first `len % size` one
/// item longer.
///
/// OpenMP's `schedule(static)`; good for neighbouring items that share data. An iterable
/// without an exact size hint is collected first to learn its length.
///
/// ```
/// let mine: Vec<u32> = dlp::World::threads(3).run(|| dlp::split_block(0..10).collect());
/// assert_eq!(mine, vec![0, 1, 2, 3]); // rank 0's block; ranks 1 and 2 get 3 items each
/// ```
#[track_caller]
pub fn split_block<I: IntoIterator>(items: I) -> Share<I::IntoIter> {
    Split::block().over(items)
}

/// This rank's items, handed out at run time: a rank claims the next chunk when it is done.
///
/// dlp_mpi's `split_managed` and OpenMP's `schedule(dynamic)`, but no rank idles as a manager:
/// every rank works, and claims from a shared counter. Chunks adapt to the cost of the items
/// (see [`Split`]); the right split when item costs vary.
///
/// ```
/// let total = dlp::World::threads(4).run(|| {
///     let mine: u64 = dlp::split_managed(1..=100u64).sum();
///     dlp::reduce(mine, |a, b| a + b)
/// });
/// assert_eq!(total, Some(5050));
/// ```
#[track_caller]
pub fn split_managed<I: IntoIterator>(items: I) -> Share<I::IntoIter> {
    Split::managed().over(items)
}

/// This rank's items, handed out at run time in chunks of the remaining items divided by the
/// number of ranks: OpenMP's `schedule(guided)`. Without a known length, chunks of one item.
///
/// ```
/// let counts = dlp::World::threads(2).run(|| dlp::all_gather(dlp::split_guided(0..1000).count()));
/// assert_eq!(counts.iter().sum::<usize>(), 1000);
/// ```
#[track_caller]
pub fn split_guided<I: IntoIterator>(items: I) -> Share<I::IntoIter> {
    Split::guided().over(items)
}
