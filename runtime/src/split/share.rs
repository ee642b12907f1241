//! `Share`: the iterator over the items that fall to this rank.

use std::ops::Range;
use std::panic::Location;
use std::sync::Arc;

use super::SplitShared;
use super::plan::{Sizer, Want, dealt_below};
use crate::comm::AbortFlag;
use crate::context;
use crate::failure::{forget_failed_item, stop, unwinding_through_item};
use crate::journal::{Cursor, OnStop};
use crate::observe::RankWatch;
use crate::status::RankStatus;

/// Assignments this short are processed in one run, without timing it: round robin with small
/// chunks asks for a new assignment every few items, and reading the clock each time would cost
/// more than the items.
const UNTIMED_RUN: usize = 64;

/// The items of a split that fall to this rank, in increasing index order.
///
/// Made by [`split_round_robin`](crate::split_round_robin), [`split_block`](crate::split_block),
/// [`split_managed`](crate::split_managed), [`split_guided`](crate::split_guided) or
/// [`Split::over`](crate::Split::over). Every rank builds the same iterable and skips the items
/// that are not its own, so only indices travel between ranks.
///
/// Leaving the loop early (`break`, `return`, `?`, a panic) is local to the rank: the others are
/// never left waiting. What happens to the items the leaving rank did not process depends on the
/// split:
/// - `round_robin`, `block`: they were this rank's by construction, and nobody processes them.
/// - `managed`, `guided`: items not yet claimed go to the ranks still iterating. Items this rank
///   had claimed but not yet been given, the rest of its current chunk, are not processed: none
///   with `chunk(1)`, at most `chunk - 1` with a fixed chunk, and with the default adaptive chunk
///   at most what this rank would have processed in about 100 µs.
///
/// ```
/// let seen = dlp::World::threads(3).run(|| {
///     let mine: Vec<(usize, char)> = dlp::split_round_robin("abcdefg".chars()).with_index().collect();
///     dlp::gather(mine).unwrap_or_default()
/// });
/// assert_eq!(seen[1], vec![(1, 'b'), (4, 'e')]);
/// ```
pub struct Share<I: Iterator> {
    source: Source<I>,
    /// The index of the item `source` yields next, as of the start of the current run.
    position: usize,
    /// The current run: indices `run_start, run_start + stride, ...` below `end`; `next` is the
    /// next one to yield.
    run_start: usize,
    next: usize,
    end: usize,
    /// `end` where the run's next items come straight from the iterable, `stride` apart, with
    /// no status to tell; else 0: the per-item path then checks one number for all of these.
    straight_end: usize,
    /// 1, or the number of ranks for round robin with chunks of one item.
    stride: usize,
    /// What is left of the indices the plan gave this rank last (with the same stride); it is
    /// handed out in runs.
    assigned: Range<usize>,
    /// How long the runs are: about 100 µs of work, so that an abort is noticed that soon
    /// without a check on every item.
    run_sizer: Sizer,
    plan: Plan,
    /// Set when another rank's failure aborts the world, where the backend has such a flag.
    aborted: Option<Arc<AbortFlag>>,
    finished: bool,
    /// Progress, report and timeline, when asked for; told once per run.
    watch: Option<RankWatch>,
    /// The first index yielded since the watch was last told.
    untold: usize,
    /// Where the split began, and whether this rank is running its loop body: from its first
    /// run of items until it finishes.
    site: &'static Location<'static>,
    in_body: bool,
    /// Where this rank's report of its whereabouts reads the item it is on.
    status: Option<Arc<RankStatus>>,
    /// For a journaled split: the indices of the positions the plan gives, and the record of
    /// the items finished.
    journal: Option<Box<Cursor>>,
}

/// Where the indices of a rank come from.
pub(crate) enum Plan {
    /// One assignment, taken once: every index, one contiguous block, or every `stride`-th index.
    Single(Option<Range<usize>>),
    /// Chunks of `chunk` indices dealt round robin; `run` counts this rank's chunks so far.
    Dealt {
        run: usize,
        chunk: usize,
        rank: usize,
        size: usize,
        length: Option<usize>,
    },
    /// Chunks claimed at run time from a counter shared by the ranks.
    Claimed {
        shared: Arc<SplitShared>,
        sizer: Sizer,
        ranks: usize,
        /// The length of the chunk claimed last, which sizes the next.
        last_chunk: usize,
    },
}

/// The items the ranks compared at the start of a split, then the rest.
pub(crate) type Prefixed<I> = std::iter::Chain<std::vec::IntoIter<<I as Iterator>::Item>, I>;

enum Source<I: Iterator> {
    Live(I),
    /// Items collected up front, where a split needs the length and the iterator has none.
    Collected(std::vec::IntoIter<I::Item>),
    /// Items whose start the ranks compared.
    Prefixed(Prefixed<I>),
}

impl<I: Iterator> Source<I> {
    /// The item after skipping `skip` items.
    #[inline(always)]
    fn next_after(&mut self, skip: usize) -> Option<I::Item> {
        match (self, skip) {
            (Source::Live(items), 0) => items.next(),
            (Source::Live(items), _) => items.nth(skip),
            (Source::Collected(items), 0) => items.next(),
            (Source::Collected(items), _) => items.nth(skip),
            (Source::Prefixed(items), 0) => items.next(),
            (Source::Prefixed(items), _) => items.nth(skip),
        }
    }

    /// Drops the next `count` items; false if the items ran out first.
    fn skip(&mut self, count: usize) -> bool {
        count == 0 || self.next_after(count - 1).is_some()
    }
}

/// The length of an iterator, if its size hint says exactly.
pub(crate) fn exact_length(items: &impl Iterator) -> Option<usize> {
    match items.size_hint() {
        (lower, Some(upper)) if lower == upper => Some(lower),
        _ => None,
    }
}

/// Collects `items`, the items of an `I`, so that their number is known.
pub(crate) fn collected<I: Iterator>(
    items: impl Iterator<Item = I::Item>,
) -> (CollectedItems<I>, usize) {
    let items: Vec<I::Item> = items.collect();
    let length = items.len();
    (CollectedItems(items.into_iter()), length)
}

pub(crate) struct CollectedItems<I: Iterator>(std::vec::IntoIter<I::Item>);

/// How a rank takes its share of a split, besides the plan: given to the share as it is made,
/// in one piece (a share is large, and each builder step moved it).
pub(crate) struct Sharing {
    /// 1, or the number of ranks for round robin with chunks of one item.
    pub(crate) stride: usize,
    pub(crate) aborted: Option<Arc<AbortFlag>>,
    /// This rank's part in watching the split, if it is watched.
    pub(crate) watch: Option<RankWatch>,
    /// For a journaled split, where this rank records its finished items.
    pub(crate) journal: Option<Cursor>,
}

impl<I: Iterator> Share<I> {
    #[track_caller]
    pub(crate) fn live(items: I, plan: Plan, sharing: Sharing) -> Self {
        Share::new(Source::Live(items), plan, sharing)
    }

    #[track_caller]
    pub(crate) fn prefixed(items: Prefixed<I>, plan: Plan, sharing: Sharing) -> Self {
        Share::new(Source::Prefixed(items), plan, sharing)
    }

    #[track_caller]
    pub(crate) fn of_collected(items: CollectedItems<I>, plan: Plan, sharing: Sharing) -> Self {
        let sharing = Sharing {
            stride: 1,
            ..sharing
        };
        Share::new(Source::Collected(items.0), plan, sharing)
    }

    #[track_caller]
    fn new(source: Source<I>, plan: Plan, sharing: Sharing) -> Self {
        forget_failed_item();
        Share {
            source,
            position: 0,
            run_start: 0,
            next: 0,
            end: 0,
            straight_end: 0,
            stride: sharing.stride,
            assigned: 0..0,
            run_sizer: Sizer::adaptive(),
            plan,
            aborted: sharing.aborted,
            finished: false,
            watch: sharing.watch,
            untold: 0,
            site: Location::caller(),
            in_body: false,
            status: context::current()
                .filter(|rank| rank.status.tracks_items())
                .map(|rank| Arc::clone(&rank.status)),
            journal: sharing.journal.map(Box::new),
        }
    }

    /// Records the items of the current run below `end` as finished, in a journaled split.
    fn record_below(&mut self, end: usize) {
        if let Some(journal) = &mut self.journal {
            journal.finished_below(end);
        }
    }

    /// Between two runs of a journaled split: records the run just finished, and takes a stop
    /// that was asked for. False when this rank's share ends here.
    fn journal_between_runs(&mut self) -> bool {
        let next = self.next;
        let Some(journal) = &mut self.journal else {
            return true;
        };
        journal.finished_below(next);
        let Some(signal) = journal.stop_asked() else {
            return true;
        };
        journal.sync();
        match journal.on_stop {
            // Outside any world there is no rank to unwind: the program ends here.
            _ if context::current().is_none() => crate::journal::exit_stopped(signal),
            OnStop::Unwind => crate::failure::stop_well(signal),
            OnStop::End => false,
        }
    }

    /// Tells the watch about the items yielded since it was last told.
    fn tell_watch(&mut self) {
        let items = self.indices_in(self.untold..self.next);
        if let Some(watch) = &mut self.watch {
            watch.run_done(self.untold, items);
        }
        self.untold = self.next;
    }

    /// [`Iterator::map`], whose `collect` runs whole runs of items at a time (see
    /// [`ShareMap`]): `split_block(items).map(f).collect()` costs what a `for_each` does.
    ///
    /// ```
    /// let squares: Vec<u64> = dlp::split_block(0..4u64).map(|x| x * x).collect();
    /// assert_eq!(squares, vec![0, 1, 4, 9]); // outside a world: one rank, every item
    /// ```
    pub fn map<B, F: FnMut(I::Item) -> B>(self, function: F) -> ShareMap<I, F> {
        ShareMap {
            share: self,
            function,
        }
    }

    /// Pairs each item with its 0-based index in the iterable.
    ///
    /// ```
    /// let pairs: Vec<(usize, &str)> = dlp::split_managed(["a", "b"]).with_index().collect();
    /// assert_eq!(pairs, vec![(0, "a"), (1, "b")]); // outside a world: one rank, every item
    /// ```
    pub fn with_index(self) -> WithIndex<I> {
        WithIndex(self)
    }

    /// For a dynamic split, claims every item that no rank has claimed yet, so that the other
    /// ranks stop at their next claim.
    pub(crate) fn claim_the_rest(&mut self) {
        if let Plan::Claimed { shared, .. } = &self.plan {
            shared.claims.exhaust();
        }
    }

    /// Whether the next item starts a new run, so that buffered results are worth sending.
    pub(crate) fn at_run_end(&self) -> bool {
        self.next >= self.end
    }

    /// The index of the item last yielded, while it is being processed.
    fn current(&self) -> Option<usize> {
        (!self.finished && self.next > self.run_start).then(|| self.next - self.stride)
    }

    /// The number of indices of `range` in this share's stride.
    #[inline]
    fn indices_in(&self, range: Range<usize>) -> usize {
        let span = range.end.saturating_sub(range.start);
        // A division costs more than a whole claim of a dynamic split: skip it for stride 1.
        match self.stride {
            1 => span,
            stride => span.div_ceil(stride),
        }
    }

    /// The next item of this rank, with its index.
    ///
    /// Always inlined: in a loop whose body is large the compiler would otherwise call it, and
    /// a call per item costs more than the item's own path.
    #[inline(always)]
    pub(crate) fn next_indexed(&mut self) -> Option<(usize, I::Item)> {
        // The common case, kept small for the loop it is inlined into: the next item of the
        // current run, straight from the iterable, with no report to tell.
        if self.next < self.straight_end
            && let Source::Live(items) = &mut self.source
        {
            let index = self.next;
            let item = match self.stride {
                1 => items.next(),
                stride => items.nth(stride - 1),
            };
            let Some(item) = item else {
                self.record_below(index);
                return self.finish();
            };
            self.next += self.stride;
            return Some((index, item));
        }
        self.next_indexed_in_general()
    }

    /// [`Share::next_indexed`] for every other case: a new run, the first item of a run with a
    /// stride, a report, items that ran out.
    #[inline(never)]
    fn next_indexed_in_general(&mut self) -> Option<(usize, I::Item)> {
        if self.next >= self.end && !self.next_run() {
            return None;
        }
        let index = self.next;
        let skip = if index == self.run_start {
            0
        } else {
            self.stride - 1
        };
        match self.source.next_after(skip) {
            Some(item) => {
                self.next += self.stride;
                if let Some(status) = &self.status {
                    status.at_item(index);
                } else if self.stride > 1 && matches!(self.source, Source::Live(_)) {
                    // The source stands at this item: the run's next items are `stride` on.
                    self.straight_end = self.end;
                }
                Some((index, item))
            }
            None => {
                self.record_below(index);
                self.finish()
            }
        }
    }

    /// Moves to this rank's next run of indices; false when there is none. Kept out of line so
    /// that the per-item path stays small.
    #[inline(never)]
    fn next_run(&mut self) -> bool {
        if let Some(more) = self.next_chunk_as_run() {
            return more;
        }
        if self.finished {
            return false;
        }
        if !self.journal_between_runs() {
            return self.finish::<()>().is_some();
        }
        if let Some(aborted) = &self.aborted
            && aborted.is_set()
        {
            stop();
        }
        self.tell_watch();
        let finished_run = self.indices_in(self.run_start..self.end);
        if finished_run > 0 {
            let last = self.run_start + (finished_run - 1) * self.stride;
            self.position = last + 1;
        }
        if self.assigned.is_empty() {
            match self.next_assignment() {
                Some(assigned) => self.assigned = assigned,
                None => return self.finish::<()>().is_some(),
            }
        }
        let available = self.indices_in(self.assigned.clone());
        // A journaled split records its items run by run: its runs stay short, so that a stop
        // or a kill finds little unrecorded.
        let length = if available <= UNTIMED_RUN && self.journal.is_none() {
            available
        } else {
            let Want::About(length) = self.run_sizer.next_want(finished_run) else {
                unreachable!("an adaptive sizer wants about so many items")
            };
            length.min(available)
        };
        let start = self.assigned.start;
        let end = start
            .saturating_add(length.saturating_mul(self.stride))
            .min(self.assigned.end);
        if !self.begin_run(start, end) {
            return false;
        }
        if let Some(journal) = &mut self.journal {
            journal.run_starts(start);
        }
        if let Some(watch) = &mut self.watch {
            watch.run_starts();
        }
        if !self.in_body {
            self.in_body = true;
            context::body_started(self.site);
        }
        self.assigned.start = end;
        start < end || self.next_run()
    }

    /// [`Share::next_run`] for a dynamic split with a fixed chunk of at most [`UNTIMED_RUN`]
    /// items, where the run after a finished one is simply the next chunk claimed: no journal, no
    /// watch, no assignment left, past the first run. The claim alone, close to what an OpenMP
    /// runtime does, where `managed().chunk(1)` claims for every item. `None` where the general
    /// path must take it.
    #[inline]
    fn next_chunk_as_run(&mut self) -> Option<bool> {
        let Plan::Claimed {
            shared,
            sizer: Sizer::Fixed(chunk),
            ranks,
            last_chunk,
        } = &mut self.plan
        else {
            return None;
        };
        let general = *chunk > UNTIMED_RUN
            || self.stride != 1
            || self.finished
            || !self.in_body
            || self.journal.is_some()
            || self.watch.is_some()
            || !self.assigned.is_empty();
        if general {
            return None;
        }
        if let Some(aborted) = &self.aborted
            && aborted.is_set()
        {
            stop();
        }
        if self.end > self.run_start {
            self.position = self.end; // the finished run's items were all taken
        }
        let claimed = shared.claims.claim(Want::Exactly(*chunk), *ranks);
        let Some(Range { start, end }) = claimed else {
            return Some(self.finish::<()>().is_some());
        };
        *last_chunk = end - start;
        Some(self.begin_run(start, end) && (start < end || self.next_run()))
    }

    /// Makes `start..end` (in the stride) the current run, the source moved to its first item;
    /// false, the share finished, where the items ran out before it.
    #[inline(always)]
    fn begin_run(&mut self, start: usize, end: usize) -> bool {
        if !self.source.skip(start - self.position) {
            return self.finish::<()>().is_some();
        }
        self.position = start;
        (self.run_start, self.next, self.end, self.untold) = (start, start, end, start);
        // With a stride the source stands `stride` items before the next only from the run's
        // second item on: the general path yields the first and sets `straight_end` then.
        let straight = self.stride == 1 && self.status.is_none();
        self.straight_end = if straight { end } else { 0 };
        true
    }

    /// The next indices the plan gives this rank, in increasing order.
    fn next_assignment(&mut self) -> Option<Range<usize>> {
        if let Some(queued) = self.journal.as_mut().and_then(|journal| journal.queued()) {
            return Some(queued);
        }
        let positions = self.next_positions()?;
        match &mut self.journal {
            Some(journal) => journal.indices(positions),
            None => Some(positions),
        }
    }

    /// The next positions the plan gives this rank: the indices themselves, except in a
    /// journaled split, where they number the items left.
    fn next_positions(&mut self) -> Option<Range<usize>> {
        match &mut self.plan {
            Plan::Single(assignment) => assignment.take(),
            Plan::Dealt {
                run,
                chunk,
                rank,
                size,
                length,
            } => {
                let start = (*run * *size + *rank) * *chunk;
                *run += 1;
                let end = length.map_or(start + *chunk, |length| (start + *chunk).min(length));
                (start < end).then_some(start..end)
            }
            Plan::Claimed {
                shared,
                sizer,
                ranks,
                last_chunk,
            } => {
                let chunk = shared.claims.claim(sizer.next_want(*last_chunk), *ranks)?;
                *last_chunk = chunk.len();
                Some(chunk)
            }
        }
    }

    fn finish<T>(&mut self) -> Option<T> {
        if std::mem::take(&mut self.in_body) {
            context::body_ended(self.site);
        }
        if !self.finished {
            self.tell_watch();
            if let Some(watch) = &mut self.watch {
                watch.rank_done();
            }
            if let Some(journal) = &mut self.journal {
                journal.sync();
            }
        }
        self.finished = true;
        (self.run_start, self.next, self.end, self.straight_end) = (0, 0, 0, 0);
        self.assigned = 0..0;
        None
    }

    /// How many items this rank has left, if the plan knows.
    fn remaining(&self) -> (usize, Option<usize>) {
        if self.finished {
            return (0, Some(0));
        }
        if self.journal.is_some() {
            return (0, None); // positions, not indices, until they are taken
        }
        let unstarted = match &self.plan {
            Plan::Single(Some(assignment)) => Some(assignment.clone()),
            _ => None,
        };
        let unbounded = |range: &Range<usize>| range.end == usize::MAX;
        if unbounded(&self.assigned) || unstarted.as_ref().is_some_and(unbounded) {
            return (0, None); // every index of an iterable of unknown length
        }
        let held = self.indices_in(self.next..self.end) + self.indices_in(self.assigned.clone());
        match &self.plan {
            Plan::Single(Some(assignment)) => {
                let all = self.indices_in(assignment.clone());
                (all, Some(all))
            }
            Plan::Single(None) => (held, Some(held)),
            Plan::Dealt {
                run,
                chunk,
                rank,
                size,
                length: Some(length),
            } => {
                let later =
                    dealt_below(*length, *chunk, *size, *rank).saturating_sub(*run * *chunk);
                (held + later, Some(held + later))
            }
            Plan::Dealt { length: None, .. } => (0, None),
            Plan::Claimed { shared, .. } => match shared.claims.length() {
                Some(length) => (held, Some(length)),
                None => (0, None),
            },
        }
    }
}

impl<I: Iterator> Iterator for Share<I> {
    type Item = I::Item;

    #[inline(always)]
    fn next(&mut self) -> Option<I::Item> {
        self.next_indexed().map(|(_, item)| item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.remaining()
    }

    /// Collects through [`Iterator::fold`] (see [`ShareMap`]).
    fn collect<B: FromIterator<I::Item>>(self) -> B {
        collect_by_runs(self)
    }

    /// Runs through whole runs at a time, so that `sum`, `for_each`, `extend` and friends get
    /// the source iterator's own tight loop.
    fn fold<B, F: FnMut(B, I::Item) -> B>(mut self, init: B, mut f: F) -> B {
        let mut accumulated = init;
        // A run that `next` began continues item by item: its next item may lie `stride` ahead.
        while self.stride != 1 && self.next > self.run_start && self.next < self.end {
            match self.next_indexed() {
                Some((_, item)) => accumulated = f(accumulated, item),
                None => return accumulated,
            }
        }
        let stride = self.stride;
        while self.next < self.end || self.next_run() {
            let (run_end, run) = (self.end, self.indices_in(self.next..self.end));
            let next = &mut self.next;
            let status = self.status.as_deref();
            // `next` moves before `f` runs, so that a panic in `f` reports this item.
            let step = |accumulated, item| {
                if let Some(status) = status {
                    status.at_item(*next);
                }
                *next += stride;
                f(accumulated, item)
            };
            accumulated = match &mut self.source {
                Source::Live(items) => fold_run(items, stride, run, accumulated, step),
                Source::Collected(items) => fold_run(items, stride, run, accumulated, step),
                Source::Prefixed(items) => fold_run(items, stride, run, accumulated, step),
            };
            if self.next < run_end {
                self.record_below(self.next);
                self.finish::<()>(); // the items ran out before the run did
                break;
            }
        }
        accumulated
    }
}

/// Folds the `run` items of a fresh run, every `stride`-th from where `items` stand, in one loop.
#[inline]
fn fold_run<J: Iterator, B>(
    items: &mut J,
    stride: usize,
    run: usize,
    init: B,
    step: impl FnMut(B, J::Item) -> B,
) -> B {
    match stride {
        1 => items.take(run).fold(init, step),
        _ => items.step_by(stride).take(run).fold(init, step),
    }
}

impl<I: Iterator> Drop for Share<I> {
    fn drop(&mut self) {
        let current = self.current();
        unwinding_through_item(current);
        // The item the body was on when it left did not finish.
        self.record_below(current.unwrap_or(self.next));
        // A rank that leaves the loop early is done with the split too.
        self.finish::<()>();
    }
}

/// Collects `items` into a `Vec` through `fold`, then into `B`.
///
/// `Vec`'s `collect` writes straight into place only for iterators that implement the unstable
/// `TrustedLen`; for any other it checks its capacity at each item it gets from `next`, which
/// costs a light kernel a third of its time. `fold` runs each run of items in one loop, and a
/// `Vec` collected into a `Vec` keeps its buffer: for `B = Vec` this is one pass, without a copy.
fn collect_by_runs<T, B: FromIterator<T>>(items: impl Iterator<Item = T>) -> B {
    let mut collected = Vec::with_capacity(items.size_hint().0);
    items.for_each(|item| collected.push(item));
    collected.into_iter().collect()
}

/// A [`Share`] with a function applied to each item: what [`Share::map`] returns.
///
/// An ordinary iterator, like [`std::iter::Map`], with one difference: its `collect` goes through
/// `fold`, which a [`Share`] runs a whole run of items at a time, so `split.map(f).collect()`
/// into a `Vec` takes the tight loop that `for_each` takes rather than one call of `next` per
/// item. Into another collection (a `HashMap`, a `String`) it collects a `Vec` first.
///
/// ```
/// let lengths = dlp::World::threads(2).run(|| {
///     let mine: Vec<usize> = dlp::split_block(["a", "bb", "ccc", "dddd"]).map(str::len).collect();
///     dlp::gather(mine).map(|all| all.concat())
/// });
/// assert_eq!(lengths, Some(vec![1, 2, 3, 4]));
/// ```
pub struct ShareMap<I: Iterator, F> {
    share: Share<I>,
    function: F,
}

impl<B, I: Iterator, F: FnMut(I::Item) -> B> Iterator for ShareMap<I, F> {
    type Item = B;

    #[inline]
    fn next(&mut self) -> Option<B> {
        self.share.next().map(&mut self.function)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.share.size_hint()
    }

    fn collect<C: FromIterator<B>>(self) -> C {
        collect_by_runs(self)
    }

    fn fold<Acc, G: FnMut(Acc, B) -> Acc>(self, init: Acc, mut g: G) -> Acc {
        let mut function = self.function;
        self.share.fold(init, move |accumulated, item| {
            g(accumulated, function(item))
        })
    }
}

/// A [`Share`] whose items come with their 0-based index in the iterable; see
/// [`Share::with_index`].
///
/// ```
/// let mine: Vec<(usize, char)> = dlp::World::threads(2).run(|| {
///     dlp::split_block("dlp!".chars()).with_index().collect()
/// });
/// assert_eq!(mine, vec![(0, 'd'), (1, 'l')]);
/// ```
pub struct WithIndex<I: Iterator>(Share<I>);

impl<I: Iterator> Iterator for WithIndex<I> {
    type Item = (usize, I::Item);

    fn next(&mut self) -> Option<(usize, I::Item)> {
        self.0.next_indexed()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}
