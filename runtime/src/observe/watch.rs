//! The accounting of one split: what each rank processed and when, told once per run of items.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::Observer;
use super::progress::Bar;
use super::report::{self, RankStats};
use super::trace::Event;
use crate::comm::Counter;
use crate::config::Progress;

/// What the ranks of one split in this process share to show its progress and report its load.
pub(crate) struct SplitWatch {
    label: Arc<str>,
    bar: Option<Bar>,
    started: Instant,
    observer: Option<Arc<Observer>>,
    /// The ranks of the split in this process that have not left it yet.
    ranks_here: AtomicUsize,
    stats: Mutex<Vec<RankStats>>,
    /// The count of the items finished on every rank of the split, for its progress bar.
    finished: Option<Finished>,
}

struct Finished {
    counter: Box<dyn Counter>,
    /// Whether every rank of the split runs in this process: then the last of them to leave
    /// ends the bar, without waiting for other processes.
    whole_split_here: bool,
}

impl SplitWatch {
    /// The watch of the split named `label()` over `length` items among `ranks_here` ranks of
    /// this process; `None`, without naming it, when nothing is to be watched.
    pub(crate) fn new(
        label: impl FnOnce() -> String,
        length: Option<usize>,
        ranks_here: usize,
        progress: bool,
        observer: Option<Arc<Observer>>,
    ) -> Option<SplitWatch> {
        let progress = progress && Progress::of_process() != Progress::Never;
        if !progress && observer.is_none() {
            return None;
        }
        let label = label();
        Some(SplitWatch {
            bar: progress.then(|| Bar::new(&label, length)),
            label: label.into(),
            started: Instant::now(),
            observer,
            ranks_here: AtomicUsize::new(ranks_here),
            stats: Mutex::new(Vec::with_capacity(ranks_here)),
            finished: None,
        })
    }

    /// Counts the finished items of every rank in `counter`, which the split's ranks share, and
    /// draws the bar only where `drawn_here`.
    pub(crate) fn counting_into(
        mut self,
        counter: Box<dyn Counter>,
        drawn_here: bool,
        whole_split_here: bool,
    ) -> Self {
        if !drawn_here {
            self.bar = None;
        }
        self.finished = Some(Finished {
            counter,
            whole_split_here,
        });
        self
    }

    fn reports_now(&self) -> bool {
        self.observer
            .as_ref()
            .is_some_and(|observer| observer.reports() && !observer.deferred)
    }

    /// Whether the last rank here to leave ends the bar.
    fn ended_here(&self) -> bool {
        self.finished
            .as_ref()
            .is_none_or(|finished| finished.whole_split_here)
    }

    /// `items` more are finished on this rank.
    fn count(&self, items: usize) {
        match (&self.finished, &self.bar) {
            (Some(finished), Some(bar)) => bar.set(finished.counter.fetch_add(items) + items),
            (Some(finished), None) => finished.counter.add(items),
            (None, Some(bar)) => bar.advance(items),
            (None, None) => {}
        }
    }

    /// Rank `rank` here has left the split at `now`, after `items` items and `busy` time; the
    /// last one here ends the bar and prints the report, unless they wait for other processes.
    fn rank_left(&self, rank: usize, items: usize, busy: Duration, now: Instant) {
        let stats = |since: Instant| RankStats {
            label: self.label.to_string(),
            rank,
            items,
            busy,
            done: now.saturating_duration_since(since),
        };
        let mut all = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        match &self.observer {
            // The report waits for the end of the world: times since the world's epoch.
            Some(observer) if observer.deferred => {
                if observer.reports() {
                    observer.defer(stats(observer.epoch).to_wire());
                }
            }
            _ => all.push(stats(self.started)),
        }
        if self.ranks_here.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        // A failure ends the world: the bar stays where it was and no report is printed.
        let failed = std::thread::panicking();
        if let Some(bar) = &self.bar
            && self.ended_here()
        {
            bar.end(failed);
        }
        if self.reports_now() && !failed {
            eprint!("{}", report::table(std::mem::take(&mut *all)));
        }
    }
}

impl Drop for SplitWatch {
    /// Where the split's ranks are in several processes, the bar ends once every process has
    /// left it: they meet here, and the drawing one shows the final count.
    fn drop(&mut self) {
        let Some(finished) = &self.finished else {
            return;
        };
        if finished.whole_split_here || std::thread::panicking() {
            return; // a panicking rank ends the job: it must not wait for the others
        }
        finished.counter.settle();
        if let Some(bar) = &self.bar {
            bar.set(finished.counter.load());
            bar.end(false);
        }
    }
}

/// One rank's part in watching a split.
pub(crate) struct RankWatch {
    shared: Arc<SplitWatch>,
    rank: usize,
    items: usize,
    started: Option<Instant>,
    run_started: Instant,
    done: bool,
}

impl RankWatch {
    pub(crate) fn new(shared: Arc<SplitWatch>, rank: usize) -> Self {
        RankWatch {
            shared,
            rank,
            items: 0,
            started: None,
            run_started: Instant::now(),
            done: false,
        }
    }

    /// A run of items starts now.
    pub(crate) fn run_starts(&mut self) {
        let now = Instant::now();
        self.started.get_or_insert(now);
        self.run_started = now;
    }

    /// The run that started last is done: `items` items from index `first`.
    pub(crate) fn run_done(&mut self, first: usize, items: usize) {
        if items == 0 || self.done {
            return;
        }
        self.items += items;
        self.shared.count(items);
        if let Some(observer) = &self.shared.observer
            && observer.traces()
        {
            let since = |at: Instant| at.saturating_duration_since(observer.epoch);
            observer.record(Event {
                label: Arc::clone(&self.shared.label),
                rank: self.rank,
                start: since(self.run_started),
                end: since(Instant::now()),
                first,
                items,
            });
        }
    }

    /// This rank has left the split.
    pub(crate) fn rank_done(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let now = Instant::now();
        let busy = self.started.map_or(Duration::ZERO, |started| now - started);
        log::trace!(
            "dlp: rank {} is done with {}: {} items",
            self.rank,
            self.shared.label,
            self.items
        );
        self.shared.rank_left(self.rank, self.items, busy, now);
    }
}
