//! `Share`: the iterator over the items that fall to this rank.

use std::sync::Arc;

use super::claims::Claims;
use super::plan::{Sizer, dealt_below};
use crate::failure::{current_item, set_current_item};
use crate::threads::ThreadWorld;

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
    cursor: Cursor<I>,
    plan: Plan,
    /// The world to check for an abort, when there are other ranks.
    world: Option<Arc<ThreadWorld>>,
    /// The item of an enclosing split, restored when this one ends, for failure reports.
    enclosing_item: Option<usize>,
    finished: bool,
}

/// Which indices this rank takes.
pub(crate) enum Plan {
    /// Every index, in order: a world of one rank.
    All { length: Option<usize> },
    /// Chunks of `chunk` indices dealt round robin; `next` is this rank's next index.
    Dealt { next: usize, chunk: usize, rank: usize, size: usize, length: Option<usize> },
    /// One contiguous block.
    Block { next: usize, end: usize },
    /// Chunks claimed at run time from a counter shared by the ranks.
    /// `start..end` is the chunk claimed last.
    Claimed { claims: Arc<Claims>, start: usize, next: usize, end: usize, sizer: Sizer, ranks: usize },
}

/// An iterator that remembers the index of the item it will yield next.
struct Cursor<I: Iterator> {
    source: Source<I>,
    position: usize,
}

enum Source<I: Iterator> {
    Live(I),
    /// Items collected up front, where a split needs the length and the iterator has none.
    Collected(std::vec::IntoIter<I::Item>),
}

impl<I: Iterator> Cursor<I> {
    /// The item at `index`, which must not be behind the cursor; `None` past the end.
    fn seek(&mut self, index: usize) -> Option<I::Item> {
        let skip = index - self.position;
        self.position = index + 1;
        match &mut self.source {
            Source::Live(items) => items.nth(skip),
            Source::Collected(items) => items.nth(skip),
        }
    }
}

/// The length of an iterator, if its size hint says exactly.
pub(crate) fn exact_length(items: &impl Iterator) -> Option<usize> {
    match items.size_hint() {
        (lower, Some(upper)) if lower == upper => Some(lower),
        _ => None,
    }
}

/// Collects `items` so that its length is known.
pub(crate) fn collected<I: Iterator>(items: I) -> (CollectedItems<I>, usize) {
    let items: Vec<I::Item> = items.collect();
    let length = items.len();
    (CollectedItems(items.into_iter()), length)
}

pub(crate) struct CollectedItems<I: Iterator>(std::vec::IntoIter<I::Item>);

impl<I: Iterator> Share<I> {
    pub(crate) fn live(items: I, plan: Plan, world: Option<Arc<ThreadWorld>>) -> Self {
        Share::new(Source::Live(items), plan, world)
    }

    pub(crate) fn of_collected(items: CollectedItems<I>, plan: Plan, world: Option<Arc<ThreadWorld>>) -> Self {
        Share::new(Source::Collected(items.0), plan, world)
    }

    fn new(source: Source<I>, plan: Plan, world: Option<Arc<ThreadWorld>>) -> Self {
        Share {
            cursor: Cursor { source, position: 0 },
            plan,
            world,
            enclosing_item: current_item(),
            finished: false,
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

    /// Whether the next item starts a new chunk, so that buffered results are worth sending.
    pub(crate) fn at_chunk_end(&self) -> bool {
        match &self.plan {
            Plan::Claimed { next, end, .. } => next == end,
            _ => true,
        }
    }

    /// The next item of this rank, with its index.
    pub(crate) fn next_indexed(&mut self) -> Option<(usize, I::Item)> {
        if self.finished {
            return None;
        }
        let index = match &mut self.plan {
            Plan::All { .. } => Some(self.cursor.position),
            Plan::Dealt { next, chunk, size, length, .. } => {
                let index = *next;
                *next += if (index + 1) % *chunk == 0 { 1 + (*size - 1) * *chunk } else { 1 };
                length.is_none_or(|length| index < length).then_some(index)
            }
            Plan::Block { next, end } => (*next < *end).then(|| {
                *next += 1;
                *next - 1
            }),
            Plan::Claimed { claims, start, next, end, sizer, ranks } => {
                if next == end {
                    if let Some(world) = &self.world {
                        world.check_aborted();
                    }
                    let want = sizer.next_want(*end - *start);
                    if let Some(chunk) = claims.claim(want, *ranks) {
                        (*start, *next, *end) = (chunk.start, chunk.start, chunk.end);
                    }
                }
                (next < end).then(|| {
                    *next += 1;
                    *next - 1
                })
            }
        };
        if !matches!(self.plan, Plan::Claimed { .. }) {
            if let Some(world) = &self.world {
                world.check_aborted();
            }
        }
        match index.and_then(|index| Some((index, self.cursor.seek(index)?))) {
            Some((index, item)) => {
                set_current_item(Some(index));
                Some((index, item))
            }
            None => {
                self.finished = true;
                set_current_item(self.enclosing_item);
                None
            }
        }
    }

    /// How many items this rank has left, if the plan knows.
    fn remaining(&self) -> (usize, Option<usize>) {
        if self.finished {
            return (0, Some(0));
        }
        match &self.plan {
            Plan::All { length: Some(length) } => {
                let left = length - self.cursor.position.min(*length);
                (left, Some(left))
            }
            Plan::Dealt { next, chunk, rank, size, length: Some(length) } => {
                let left = dealt_below(*length, *chunk, *size, *rank)
                    - dealt_below((*next).min(*length), *chunk, *size, *rank);
                (left, Some(left))
            }
            Plan::Block { next, end } => (end - next, Some(end - next)),
            Plan::Claimed { claims, next, end, .. } => (end - next, claims.length()),
            _ => (0, None),
        }
    }
}

impl<I: Iterator> Iterator for Share<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        self.next_indexed().map(|(_, item)| item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.remaining()
    }
}

impl<I: Iterator> Drop for Share<I> {
    fn drop(&mut self) {
        // While unwinding, keep the failing item for the report.
        if !std::thread::panicking() {
            set_current_item(self.enclosing_item);
        }
    }
}

/// A [`Share`] whose items come with their 0-based index in the iterable; see
/// [`Share::with_index`].
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
