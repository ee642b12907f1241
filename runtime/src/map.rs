//! `map_unordered` and `map_ordered`: every rank applies a function to its share, and the main
//! rank receives every result.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};

use crate::collectives::team;
use crate::failure::{stop, unwinding_through_item};
use crate::message::Message;
#[cfg(feature = "mpi")]
use crate::message_passing::MpiResults;
use crate::ranks::Ranks;
use crate::split::{Share, Split};
use crate::threads::{ThreadWorld, Wake};
#[cfg(feature = "mpi")]
use std::rc::Rc;

/// The results that worker ranks hand to the main rank.
struct Results<R> {
    inbox: Mutex<Inbox<R>>,
    arrived: Condvar,
}

struct Inbox<R> {
    results: Vec<(usize, R)>,
    /// Worker ranks that have not finished their share yet.
    workers_busy: usize,
    /// Set when the main rank stops consuming: the workers stop computing.
    cancelled: bool,
}

impl<R> Results<R> {
    fn new(workers: usize) -> Self {
        Results {
            inbox: Mutex::new(Inbox {
                results: Vec::new(),
                workers_busy: workers,
                cancelled: false,
            }),
            arrived: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inbox<R>> {
        self.inbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `batch` to the main rank; false if it no longer wants results.
    fn deliver(&self, batch: &mut Vec<(usize, R)>) -> bool {
        let mut inbox = self.lock();
        if inbox.cancelled {
            return false;
        }
        if !batch.is_empty() {
            inbox.results.append(batch);
            self.arrived.notify_one();
        }
        true
    }

    fn worker_finished(&self) {
        self.lock().workers_busy -= 1;
        self.arrived.notify_one();
    }
}

impl<R: Send> Wake for Results<R> {
    fn wake(&self) {
        let _inbox = self.lock();
        self.arrived.notify_all();
    }
}

/// Where the main rank finds the other ranks' results.
enum Workers<R> {
    /// There are none.
    None,
    /// Rank-threads hand them over in `Results`; the world is watched for an abort.
    Threads(Arc<Results<R>>, Arc<ThreadWorld>),
    /// MPI processes send them.
    #[cfg(feature = "mpi")]
    Mpi(MpiResults),
}

/// The main rank's side of a map: its own share, and the results of the others.
struct Mapping<I: Iterator, F, R> {
    share: Share<I>,
    function: F,
    workers: Workers<R>,
    received: VecDeque<(usize, R)>,
    own_share_done: bool,
    /// The index of the result last yielded: the item the caller is processing.
    current: Option<usize>,
}

impl<I, F, R> Mapping<I, F, R>
where
    I: Iterator,
    F: FnMut(I::Item) -> R,
    R: Message,
{
    /// Starts a map on this rank. Worker ranks process their whole share here and get `None`.
    #[track_caller]
    fn start(split: Split, function: F, items: I) -> Option<Self> {
        #[cfg(feature = "mpi")]
        if let Some(rank) = crate::context::current()
            && let crate::context::Link::Mpi(world) = &rank.link
        {
            let results = MpiResults::new(Rc::clone(world), rank.next_call(Ranks::All));
            let mut share = split.over(items);
            if rank.rank != 0 {
                let last = work(&mut share, function, |batch| {
                    results.deliver(batch);
                    true
                });
                // Said before the share is dropped: ending a dynamic split waits for every
                // rank, the main one included, and the main one waits for this message.
                results.worker_finished(last);
                return None;
            }
            return Some(Mapping::new(share, function, Workers::Mpi(results)));
        }
        let Some((rank, world)) = team() else {
            return Some(Mapping::new(split.over(items), function, Workers::None));
        };
        let call = rank.next_call(Ranks::All);
        let results = world.join(Ranks::All, rank.rank, call, "map", None, || {
            Results::<R>::new(rank.size - 1)
        });
        let mut share = split.over(items);
        if rank.rank != 0 {
            let mut last = work(&mut share, function, |batch| results.deliver(batch));
            results.deliver(&mut last);
            results.worker_finished();
            return None;
        }
        let sleeper: Weak<dyn Wake> = Arc::downgrade(&results) as Weak<dyn Wake>;
        world.on_abort(sleeper);
        Some(Mapping::new(
            share,
            function,
            Workers::Threads(results, world),
        ))
    }

    fn new(share: Share<I>, function: F, workers: Workers<R>) -> Self {
        Mapping {
            share,
            function,
            workers,
            received: VecDeque::new(),
            own_share_done: false,
            current: None,
        }
    }

    /// The next result, from any rank, with the index of its item.
    fn next_indexed(&mut self) -> Option<(usize, R)> {
        loop {
            if let Some((index, result)) = self.received.pop_front() {
                self.current = Some(index);
                return Some((index, result));
            }
            match &mut self.workers {
                Workers::None => {}
                Workers::Threads(results, world) => {
                    let mut inbox = results.lock();
                    if self.own_share_done {
                        // Nothing left to compute here: wait for the workers.
                        while inbox.results.is_empty() && inbox.workers_busy > 0 {
                            if world.is_aborted() {
                                drop(inbox);
                                stop();
                            }
                            inbox = results
                                .arrived
                                .wait(inbox)
                                .unwrap_or_else(PoisonError::into_inner);
                        }
                    }
                    if !inbox.results.is_empty() {
                        self.received.extend(inbox.results.drain(..));
                        continue;
                    }
                }
                #[cfg(feature = "mpi")]
                Workers::Mpi(results) => {
                    // Nothing left to compute here: wait for the workers' next message.
                    let wait = self.own_share_done && results.workers_busy();
                    results.receive(&mut self.received, wait);
                    // A worker's last message may carry no result: then wait for the next.
                    if !self.received.is_empty() || (self.own_share_done && results.workers_busy())
                    {
                        continue;
                    }
                }
            }
            if self.own_share_done {
                self.current = None;
                return None;
            }
            // Received results go first; the main rank computes while none are waiting. If the
            // function panics, the share reports the item, not this map.
            self.current = None;
            match self.share.next_indexed() {
                Some((index, item)) => {
                    let result = (self.function)(item);
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
        match &mut self.workers {
            Workers::None => {}
            Workers::Threads(results, _) => results.lock().cancelled = true,
            // The workers stop at their next claim; what they still send is taken in, so that
            // no message of this map is left for a later one. A panicking rank ends the job
            // instead, and must not wait.
            #[cfg(feature = "mpi")]
            Workers::Mpi(results) => {
                if !std::thread::panicking() {
                    self.share.claim_the_rest();
                    results.drain();
                }
            }
        }
    }
}

/// A worker rank's side of a map: processes the share, handing results over run by run while
/// `deliver` accepts them; returns the batch not yet handed over.
fn work<I: Iterator, R>(
    share: &mut Share<I>,
    mut function: impl FnMut(I::Item) -> R,
    mut deliver: impl FnMut(&mut Vec<(usize, R)>) -> bool,
) -> Vec<(usize, R)> {
    let mut batch = Vec::new();
    while let Some((index, item)) = share.next_indexed() {
        batch.push((index, function(item)));
        if share.at_run_end() && !deliver(&mut batch) {
            break;
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
            if let Some(result) = self.waiting.remove(&self.next_index) {
                self.next_index += 1;
                return Some(result);
            }
            match mapping.next_indexed() {
                Some((index, result)) => {
                    self.waiting.insert(index, result);
                }
                None => return self.waiting.pop_first().map(|(_, result)| result),
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
            mapping: Mapping::start(self, function, items.into_iter()),
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
            mapping: Mapping::start(self, function, items.into_iter()),
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
