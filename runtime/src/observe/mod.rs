//! Watching the loops run: the progress bar, the per-rank load report (`DLP_REPORT`) and the
//! timeline (`DLP_TRACE`).
//!
//! Each split has one [`SplitWatch`] per process, shared by the ranks of the split that run
//! there; each rank's [`Share`](crate::Share) holds a [`RankWatch`] that it tells when a run of
//! items is done. Runs last about 100 µs, so none of this costs anything per item.
//!
//! - this module: the [`Observer`] of a world, which keeps what its ranks saw and, when the
//!   world ends, brings what every process saw to the main rank;
//! - `watch`: the accounting of one split, rank by rank;
//! - `progress`: the progress bar, and `above_bar`: the program's stdout above it;
//! - `report`: the load table of `DLP_REPORT`;
//! - `trace`: the Chrome/Perfetto timeline of `DLP_TRACE`.

#[cfg(unix)]
mod above_bar;
mod progress;
mod report;
mod trace;
mod watch;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub(crate) use watch::{RankWatch, SplitWatch};

/// Where descriptors cannot be rearranged, stdout stays where it is.
#[cfg(not(unix))]
mod above_bar {
    pub(super) fn take_for(_bar: &indicatif::ProgressBar) -> bool {
        false
    }

    pub(super) fn give_back() {}
}

use crate::config::Watch;
use report::RankStats;
use trace::Event;

/// What one process saw, as it travels to the main rank: its events and, where reports wait
/// for the end of the world, its ranks' statistics (times in µs since the epoch).
pub(crate) type Seen = (Vec<EventOnWire>, Vec<StatsOnWire>);

/// An [`Event`]: label, rank, start and end (µs), first index, items.
type EventOnWire = (String, usize, f64, f64, usize, usize);

/// A rank's [`RankStats`] in one split: label, rank, items, busy and done (µs).
type StatsOnWire = (String, usize, usize, f64, f64);

/// What a world watches, shared by the ranks of a process.
pub(crate) struct Observer {
    watch: Watch,
    epoch: Instant,
    size: usize,
    events: Mutex<Vec<Event>>,
    /// Split statistics kept until the world ends, where the ranks of a split are in several
    /// processes.
    deferred_stats: Mutex<Vec<StatsOnWire>>,
    /// Whether reports wait for the end of the world (ranks in several processes) instead of
    /// being printed when the last rank leaves a split (every rank in this process).
    deferred: bool,
}

fn micros(at: Duration) -> f64 {
    at.as_secs_f64() * 1e6
}

fn from_micros(micros: f64) -> Duration {
    Duration::from_secs_f64(micros.max(0.0) / 1e6)
}

impl Observer {
    /// The observer of this process's ranks of a world of `size`, if `watch` asks for one;
    /// `deferred` when the world's ranks are in several processes.
    pub(crate) fn new(watch: &Watch, size: usize, deferred: bool) -> Option<Arc<Observer>> {
        watch.any().then(|| {
            Arc::new(Observer {
                watch: watch.clone(),
                epoch: Instant::now(),
                size,
                events: Mutex::new(Vec::new()),
                deferred_stats: Mutex::new(Vec::new()),
                deferred,
            })
        })
    }

    fn reports(&self) -> bool {
        self.watch.report
    }

    fn traces(&self) -> bool {
        self.watch.trace.is_some()
    }

    /// Keeps a rank's statistics of one split until the world ends.
    fn defer(&self, stats: StatsOnWire) {
        self.deferred_stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(stats);
    }

    fn record(&self, event: Event) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }

    /// Ends the world: `to_main` brings what each process saw to the main rank (`None`
    /// elsewhere), which prints the reports that waited and writes the timeline.
    pub(crate) fn end_world(&self, to_main: impl FnOnce(Seen) -> Option<Vec<Seen>>) {
        if let Some(all) = to_main(self.export()) {
            self.import(all);
        }
    }

    /// What this process saw, to send to the main rank.
    fn export(&self) -> Seen {
        let events =
            std::mem::take(&mut *self.events.lock().unwrap_or_else(PoisonError::into_inner));
        let events = events.iter().map(Event::to_wire).collect();
        let stats = std::mem::take(
            &mut *self
                .deferred_stats
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        (events, stats)
    }

    /// On the main rank: prints the reports that waited and writes the timeline of what every
    /// process saw.
    fn import(&self, all: Vec<Seen>) {
        let mut events = Vec::new();
        let mut stats = Vec::new();
        for (process_events, process_stats) in all {
            events.extend(process_events.into_iter().map(Event::from_wire));
            stats.extend(process_stats.into_iter().map(RankStats::from_wire));
        }
        if self.reports() {
            report::print_by_split(stats);
        }
        if let Some(path) = &self.watch.trace {
            trace::write(path, &events, self.size);
        }
    }
}
