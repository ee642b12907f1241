//! `map_unordered` and `map_ordered`: every rank applies a function to its share, and the main
//! rank receives every result.

use std::collections::{BTreeMap, VecDeque};
use std::hash::Hash;
use std::path::Path;

use crate::comm::{Codec, ResultChannel, Value, unbox};
use crate::context;
use crate::failure::unwinding_through_item;
use crate::journal::{self, Kind, ResultLog};
use crate::message::{Message, encode};
use crate::ranks::Ranks;
use crate::split::{Fingerprint, Journaled, Share, Split, by_hash};

/// Results with the indices of their items, as they travel to the main rank.
type Batch<R> = Vec<(usize, R)>;

/// The main rank's side of a map: its own share, and the results of the others.
struct Mapping<I: Iterator, F, R> {
    share: Share<I>,
    function: F,
    /// `None` without other ranks.
    channel: Option<Box<dyn ResultChannel>>,
    received: VecDeque<(usize, R)>,
    own_share_done: bool,
    /// The index of the result last yielded: the item the caller is processing.
    current: Option<usize>,
    /// Where a journaled map records its results, on its main rank.
    log: Option<ResultLog>,
}

impl<I, F, R> Mapping<I, F, R>
where
    I: Iterator,
    F: FnMut(I::Item) -> R,
    R: Message,
{
    /// Starts a map on this rank. Worker ranks process their whole share here and get `None`.
    /// With a journal, the main rank records every result, and yields those of earlier runs
    /// first.
    #[track_caller]
    fn start(
        split: Split,
        function: F,
        items: I,
        operation: &'static str,
        journal: Option<(&Path, Option<Fingerprint<I::Item>>)>,
    ) -> Option<Self> {
        let split = split.serving(operation);
        let Some(rank) = context::with_peers() else {
            let (share, journaled) = share_out(split, items, journal);
            return Some(Mapping::new(share, function, None).resumed(journaled));
        };
        let call = rank.begin(Ranks::All, "map", None, std::panic::Location::caller());
        let channel = rank.comm.results(&call);
        let (mut share, journaled) = share_out(split, items, journal);
        if rank.rank != 0 {
            let last = work(&mut share, function, &*channel);
            // Said before the share is dropped: leaving a split may wait for every rank, the
            // main one included, and the main one waits for this.
            channel.finish(Box::new(last), Codec::of::<Batch<R>>());
            return None;
        }
        Some(Mapping::new(share, function, Some(channel)).resumed(journaled))
    }

    /// For a journaled map: the results of earlier runs, to yield first, and where to record
    /// the new ones.
    fn resumed(mut self, journaled: Option<MapJournal>) -> Self {
        if let Some(MapJournal { earlier, log }) = journaled {
            self.received.extend(journal::decode_results::<R>(earlier));
            self.log = Some(log);
        }
        self
    }

    /// Records new results in the journal, if the map has one; written at once where `write`.
    fn record<'a>(&mut self, results: impl IntoIterator<Item = &'a (usize, R)>, write: bool) {
        let Some(log) = &mut self.log else {
            return;
        };
        for (index, result) in results {
            let bytes = encode(result, "a journaled map, recording a result,");
            log.add(&journal::result_record(*index, bytes));
        }
        if write {
            log.write();
        }
    }

    /// The end of the results: where a stop was asked of a journaled map, every result the
    /// ranks sent is recorded now, and this rank stops the world.
    fn end_of_results(&mut self) -> Option<(usize, R)> {
        if let Some(log) = &mut self.log {
            log.sync();
            if let Some(signal) = journal::stop_asked() {
                crate::failure::stop_well(signal);
            }
        }
        None
    }

    fn new(share: Share<I>, function: F, channel: Option<Box<dyn ResultChannel>>) -> Self {
        Mapping {
            share,
            function,
            channel,
            received: VecDeque::new(),
            own_share_done: false,
            current: None,
            log: None,
        }
    }

    /// Moves the batches that have arrived into `received`; waits for one when this rank has
    /// nothing left to compute. False when no more will come.
    fn take_arrived(&mut self) -> bool {
        let Some(channel) = &mut self.channel else {
            return false;
        };
        let wait = self.own_share_done && channel.senders_busy();
        let mut arrived = Vec::new();
        for batch in channel.receive(wait, Codec::of::<Batch<R>>()) {
            let batch: Batch<R> = unbox(batch, || {
                format!(
                    "the ranks called a map with different result types; the main rank expected \
                     `{}`",
                    std::any::type_name::<R>()
                )
            });
            arrived.push(batch);
        }
        let busy = channel.senders_busy();
        for batch in arrived {
            self.record(&batch, true);
            self.received.extend(batch);
        }
        busy
    }

    /// The next result, from any rank, with the index of its item.
    fn next_indexed(&mut self) -> Option<(usize, R)> {
        loop {
            if let Some((index, result)) = self.received.pop_front() {
                self.current = Some(index);
                return Some((index, result));
            }
            let more_to_come = self.take_arrived();
            if !self.received.is_empty() || (self.own_share_done && more_to_come) {
                continue;
            }
            self.current = None;
            if self.own_share_done {
                return self.end_of_results();
            }
            // Received results go first; the main rank computes while none are waiting. If the
            // function panics, the share reports the item, not this map.
            match self.share.next_indexed() {
                Some((index, item)) => {
                    let computed = [((self.function)(item))].map(|result| (index, result));
                    let at_run_end = self.share.at_run_end();
                    self.record(&computed, at_run_end);
                    let [(index, result)] = computed;
                    self.current = Some(index);
                    return Some((index, result));
                }
                None => self.own_share_done = true,
            }
        }
    }
}

impl<I: Iterator, F, R> Drop for Mapping<I, F, R> {
    fn drop(&mut self) {
        unwinding_through_item(self.current);
        if let Some(log) = &mut self.log {
            log.sync();
        }
        let Some(channel) = &mut self.channel else {
            return;
        };
        // The other ranks stop at their next claim. A panicking rank ends the world instead,
        // and makes no more calls.
        if !std::thread::panicking() {
            self.share.claim_the_rest();
        }
        channel.close();
    }
}

/// The share of a map's split on this rank; with a journal, also the results of earlier runs
/// (on the main rank) and where to record new ones.
#[track_caller]
fn share_out<I: Iterator>(
    split: Split,
    items: I,
    journal: Option<(&Path, Option<Fingerprint<I::Item>>)>,
) -> (Share<I>, Option<MapJournal>) {
    let Some((directory, fingerprint)) = journal else {
        return (split.over(items), None);
    };
    let (share, opened) =
        split.over_journaled(Ranks::All, items, fingerprint, directory, Kind::Map);
    let log = opened.segment(context::rank());
    let earlier = opened.results;
    (share, Some(MapJournal { earlier, log }))
}

/// A journaled map's journal: the results that earlier runs recorded (on the main rank), and
/// where the new ones go.
struct MapJournal {
    earlier: Vec<(u64, Vec<u8>)>,
    log: ResultLog,
}

/// A worker rank's side of a map: processes the share, handing results over run by run while
/// the main rank accepts them; returns the batch not yet handed over.
fn work<I: Iterator, R: Message>(
    share: &mut Share<I>,
    mut function: impl FnMut(I::Item) -> R,
    channel: &dyn ResultChannel,
) -> Batch<R> {
    let mut batch = Vec::new();
    while let Some((index, item)) = share.next_indexed() {
        batch.push((index, function(item)));
        if share.at_run_end() {
            let full = Box::new(std::mem::take(&mut batch)) as Value;
            if !channel.send(full, Codec::of::<Batch<R>>()) {
                break;
            }
        }
    }
    batch
}

/// The results of [`map_unordered`]: on the main rank, every result as soon as it is ready; on
/// the other ranks, nothing.
///
/// ```
/// let counts = dlp::World::threads(3).run(|| {
///     let results: dlp::MapUnordered<_, _, u64> = dlp::map_unordered(|x: u64| x + 1, 0..30);
///     dlp::all_gather(results.count())
/// });
/// assert_eq!(counts, vec![30, 0, 0]);
/// ```
pub struct MapUnordered<I: Iterator, F, R> {
    mapping: Option<Mapping<I, F, R>>,
}

impl<I, F, R> Iterator for MapUnordered<I, F, R>
where
    I: Iterator,
    F: FnMut(I::Item) -> R,
    R: Message,
{
    type Item = R;

    fn next(&mut self) -> Option<R> {
        Some(self.mapping.as_mut()?.next_indexed()?.1)
    }
}

/// The results of [`map_ordered`]: on the main rank, every result in the order of the items;
/// on the other ranks, nothing.
///
/// ```
/// let doubled = dlp::World::threads(3).run(|| dlp::map_ordered(|x: u64| 2 * x, 0..5).collect::<Vec<_>>());
/// assert_eq!(doubled, vec![0, 2, 4, 6, 8]);
/// ```
pub struct MapOrdered<I: Iterator, F, R> {
    mapping: Option<Mapping<I, F, R>>,
    waiting: BTreeMap<usize, R>,
    next_index: usize,
}

impl<I, F, R> Iterator for MapOrdered<I, F, R>
where
    I: Iterator,
    F: FnMut(I::Item) -> R,
    R: Message,
{
    type Item = R;

    fn next(&mut self) -> Option<R> {
        let mapping = self.mapping.as_mut()?;
        loop {
            // The mapping pulls results ahead of the one handed out, which is the item that a
            // panic in the caller's loop is named after.
            if let Some(result) = self.waiting.remove(&self.next_index) {
                mapping.current = Some(self.next_index);
                self.next_index += 1;
                return Some(result);
            }
            match mapping.next_indexed() {
                Some((index, result)) => {
                    self.waiting.insert(index, result);
                }
                None => {
                    let (index, result) = self.waiting.pop_first()?;
                    mapping.current = Some(index);
                    return Some(result);
                }
            }
        }
    }
}

impl Split {
    /// [`map_unordered`] with this split.
    ///
    /// ```
    /// let squares = dlp::World::threads(2).run(|| {
    ///     let mut all: Vec<u32> = dlp::Split::managed().chunk(1).map_unordered(|x| x * x, 0..5).collect();
    ///     all.sort();
    ///     all
    /// });
    /// assert_eq!(squares, vec![0, 1, 4, 9, 16]);
    /// ```
    #[track_caller]
    pub fn map_unordered<I, F, R>(self, function: F, items: I) -> MapUnordered<I::IntoIter, F, R>
    where
        I: IntoIterator,
        F: FnMut(I::Item) -> R,
        R: Message,
    {
        MapUnordered {
            mapping: Mapping::start(self, function, items.into_iter(), "map_unordered", None),
        }
    }

    /// [`map_ordered`] with this split.
    ///
    /// ```
    /// let lengths = dlp::World::threads(3).run(|| {
    ///     dlp::Split::round_robin().map_ordered(str::len, ["a", "bb", "ccc", "dddd"]).collect::<Vec<_>>()
    /// });
    /// assert_eq!(lengths, vec![1, 2, 3, 4]);
    /// ```
    #[track_caller]
    pub fn map_ordered<I, F, R>(self, function: F, items: I) -> MapOrdered<I::IntoIter, F, R>
    where
        I: IntoIterator,
        F: FnMut(I::Item) -> R,
        R: Message,
    {
        MapOrdered {
            mapping: Mapping::start(self, function, items.into_iter(), "map_ordered", None),
            waiting: BTreeMap::new(),
            next_index: 0,
        }
    }
}

/// Applies `function` to every item, on every rank: on the main rank, an iterator over all the
/// results in the order they complete; on the other ranks, an empty iterator (they return once
/// their share is done).
///
/// Uses the managed split, and the main rank works too: between results from the others, it
/// computes items of its own. Results move to the main rank without being copied on the threads
/// backend. If the main rank drops the iterator early, the others stop computing. dlp_mpi's
/// `map_unordered`; [`map_ordered`] keeps the order of the items.
///
/// ```
/// let mut lengths: Vec<usize> = dlp::World::threads(3).run(|| {
///     dlp::map_unordered(|word: &str| word.len(), ["one", "three", "seven", "eleven"]).collect()
/// });
/// lengths.sort();
/// assert_eq!(lengths, vec![3, 5, 5, 6]);
/// ```
#[track_caller]
pub fn map_unordered<I, F, R>(function: F, items: I) -> MapUnordered<I::IntoIter, F, R>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> R,
    R: Message,
{
    Split::managed().map_unordered(function, items)
}

/// Like [`map_unordered`], but the main rank receives the results in the order of the items.
///
/// Results that complete early wait on the main rank until those before them are there.
///
/// ```
/// let roots: Vec<f64> = dlp::World::threads(4).run(|| {
///     dlp::map_ordered(|x: u32| f64::from(x).sqrt(), [1, 4, 9, 16]).collect()
/// });
/// assert_eq!(roots, vec![1.0, 2.0, 3.0, 4.0]);
/// ```
#[track_caller]
pub fn map_ordered<I, F, R>(function: F, items: I) -> MapOrdered<I::IntoIter, F, R>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> R,
    R: Message,
{
    Split::managed().map_ordered(function, items)
}

impl Journaled {
    /// [`map_unordered`] with this split, whose results are recorded in the journal: on the
    /// main rank, the results that earlier runs recorded come first, then the new ones as they
    /// complete; every result exactly once across runs.
    ///
    /// ```
    /// let journal = std::env::temp_dir().join(format!("dlp-doc-unordered-{}", std::process::id()));
    /// let mut all: Vec<u32> = dlp::World::threads(2).run(|| {
    ///     dlp::Split::managed().journal(&journal).map_unordered(|x: u32| x + 1, 0..4u32).collect()
    /// });
    /// all.sort();
    /// assert_eq!(all, vec![1, 2, 3, 4]);
    /// # std::fs::remove_dir_all(&journal).unwrap();
    /// ```
    #[track_caller]
    pub fn map_unordered<I, F, R>(self, function: F, items: I) -> MapUnordered<I::IntoIter, F, R>
    where
        I: IntoIterator,
        I::Item: Hash,
        F: FnMut(I::Item) -> R,
        R: Message,
    {
        MapUnordered {
            mapping: self.mapping(function, items.into_iter(), "map_unordered"),
        }
    }

    /// [`map_ordered`] with this split, whose results are recorded in the journal: on the main
    /// rank, every result in the order of the items, those of earlier runs included.
    #[track_caller]
    pub fn map_ordered<I, F, R>(self, function: F, items: I) -> MapOrdered<I::IntoIter, F, R>
    where
        I: IntoIterator,
        I::Item: Hash,
        F: FnMut(I::Item) -> R,
        R: Message,
    {
        MapOrdered {
            mapping: self.mapping(function, items.into_iter(), "map_ordered"),
            waiting: BTreeMap::new(),
            next_index: 0,
        }
    }

    /// Starts the map `operation` with this split and journal; its items are fingerprinted by
    /// their hash.
    #[track_caller]
    fn mapping<I, F, R>(
        self,
        function: F,
        items: I,
        operation: &'static str,
    ) -> Option<Mapping<I, F, R>>
    where
        I: Iterator,
        I::Item: Hash,
        F: FnMut(I::Item) -> R,
        R: Message,
    {
        let journal = Some((self.directory.as_path(), Some(by_hash as _)));
        Mapping::start(self.split, function, items, operation, journal)
    }
}
