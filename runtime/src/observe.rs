//! Watching the loops run: the progress bar, the per-rank load report (`DLP_REPORT`) and the
//! timeline (`DLP_TRACE`).
//!
//! Each split has one [`SplitWatch`], shared by the ranks that take part in it; each rank's
//! [`Share`](crate::Share) holds a [`RankWatch`] that it tells when a run of items is done. Runs
//! last about 100 µs, so none of this costs anything per item.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::config::ConfigError;

/// What the environment asks to watch: `DLP_REPORT` and `DLP_TRACE`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) report: bool,
    pub(crate) trace: Option<PathBuf>,
}

impl Settings {
    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let report = match var("DLP_REPORT").as_deref().map(str::trim) {
            None | Some("" | "0" | "false" | "no" | "off") => false,
            Some("1" | "true" | "yes" | "on") => true,
            Some(other) => return Err(ConfigError::BadReport(other.to_owned())),
        };
        let trace = var("DLP_TRACE")
            .filter(|path| !path.trim().is_empty())
            .map(PathBuf::from);
        Ok(Settings { report, trace })
    }

    fn any(&self) -> bool {
        self.report || self.trace.is_some()
    }
}

/// One item run of one rank, for the timeline; times since the world's epoch.
struct Event {
    label: Arc<str>,
    rank: usize,
    start: Duration,
    end: Duration,
    first: usize,
    items: usize,
}

/// An [`Event`] as it travels to the main rank: label, rank, start and end (µs), first index,
/// items.
#[cfg(feature = "mpi")]
pub(crate) type EventOnWire = (String, usize, f64, f64, usize, usize);

/// A rank's [`RankStats`] in one split as it travels to the main rank: label, rank, items, busy
/// and done (µs since the epoch).
pub(crate) type StatsOnWire = (String, usize, usize, f64, f64);

/// What a world watches, shared by its ranks.
pub(crate) struct Observer {
    settings: Settings,
    epoch: Instant,
    size: usize,
    events: Mutex<Vec<Event>>,
    /// Over MPI, each process keeps its ranks' split statistics until the world ends.
    deferred_stats: Mutex<Vec<StatsOnWire>>,
    /// Whether the statistics wait for the end of the world (MPI) instead of being printed when
    /// the last rank leaves a split (threads).
    deferred: bool,
}

impl Observer {
    /// The observer of a world of `size` ranks, if the environment asks for one.
    pub(crate) fn for_world(settings: Settings, size: usize) -> Option<Arc<Observer>> {
        Observer::new(settings, size, false)
    }

    /// The observer of one process of an MPI world: it sends what it saw to the main rank when
    /// the world ends ([`Observer::export`], [`Observer::finish_job`]).
    #[cfg(feature = "mpi")]
    pub(crate) fn for_process(settings: Settings, size: usize) -> Option<Arc<Observer>> {
        Observer::new(settings, size, true)
    }

    fn new(settings: Settings, size: usize, deferred: bool) -> Option<Arc<Observer>> {
        settings.any().then(|| {
            Arc::new(Observer {
                settings,
                epoch: Instant::now(),
                size,
                events: Mutex::new(Vec::new()),
                deferred_stats: Mutex::new(Vec::new()),
                deferred,
            })
        })
    }

    /// What this process saw, to send to the main rank.
    #[cfg(feature = "mpi")]
    pub(crate) fn export(&self) -> (Vec<EventOnWire>, Vec<StatsOnWire>) {
        let micros = |at: Duration| at.as_secs_f64() * 1e6;
        let events = self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .map(|event| {
                (
                    event.label.to_string(),
                    event.rank,
                    micros(event.start),
                    micros(event.end),
                    event.first,
                    event.items,
                )
            })
            .collect();
        let stats = std::mem::take(
            &mut *self
                .deferred_stats
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        (events, stats)
    }

    /// On the main rank of an MPI world: prints the reports and writes the timeline of what
    /// every process saw.
    #[cfg(feature = "mpi")]
    pub(crate) fn finish_job(&self, all: Vec<(Vec<EventOnWire>, Vec<StatsOnWire>)>) {
        let from_micros = |micros: f64| Duration::from_secs_f64(micros.max(0.0) / 1e6);
        let mut labels: Vec<String> = Vec::new();
        let mut stats: Vec<(String, RankStats)> = Vec::new();
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        for (process_events, process_stats) in all {
            for (label, rank, start, end, first, items) in process_events {
                events.push(Event {
                    label: label.into(),
                    rank,
                    start: from_micros(start),
                    end: from_micros(end),
                    first,
                    items,
                });
            }
            for (label, rank, items, busy, done) in process_stats {
                if !labels.contains(&label) {
                    labels.push(label.clone());
                }
                let busy = from_micros(busy);
                let done = from_micros(done);
                stats.push((
                    label,
                    RankStats {
                        rank,
                        items,
                        busy,
                        done,
                    },
                ));
            }
        }
        drop(events);
        if self.settings.report {
            for label in &labels {
                let mut split: Vec<RankStats> = stats
                    .iter()
                    .filter(|(of, _)| of == label)
                    .map(|(_, stat)| stat.clone())
                    .collect();
                split.sort_by_key(|stat| stat.rank);
                eprint!("{}", load_report(label, &split));
            }
        }
        self.finish_world();
    }

    /// Writes the timeline, if one was asked for; called once the world has ended.
    pub(crate) fn finish_world(&self) {
        let Some(path) = &self.settings.trace else {
            return;
        };
        let events =
            std::mem::take(&mut *self.events.lock().unwrap_or_else(PoisonError::into_inner));
        let json = chrome_trace(&events, self.size);
        match std::fs::write(path, json) {
            Ok(()) => log::info!(
                "dlp: wrote {} trace events to {}",
                events.len(),
                path.display()
            ),
            Err(error) => eprintln!(
                "dlp: could not write the trace to {}: {error}",
                path.display()
            ),
        }
    }
}

/// The trace-event format of Chrome's tracing and of Perfetto: a complete event ("X") per run
/// of items, one row (thread) per rank.
fn chrome_trace(events: &[Event], size: usize) -> String {
    let micros = |at: Duration| at.as_secs_f64() * 1e6;
    let mut trace_events: Vec<serde_json::Value> = (0..size)
        .map(|rank| {
            serde_json::json!({
                "name": "thread_name", "ph": "M", "pid": 0, "tid": rank,
                "args": { "name": format!("rank {rank}") }
            })
        })
        .collect();
    trace_events.extend(events.iter().map(|event| {
        let last = event.first + event.items.saturating_sub(1);
        serde_json::json!({
            "name": format!("{} items {}..={last}", event.label, event.first),
            "cat": &*event.label,
            "ph": "X",
            "pid": 0,
            "tid": event.rank,
            "ts": micros(event.start),
            "dur": (micros(event.end) - micros(event.start)).max(0.0),
            "args": { "first": event.first, "items": event.items }
        })
    }));
    serde_json::json!({ "traceEvents": trace_events, "displayTimeUnit": "ms" }).to_string()
}

/// How one rank did in one split: `done` is when it left, since a moment common to the ranks.
#[derive(Clone)]
struct RankStats {
    rank: usize,
    items: usize,
    busy: Duration,
    done: Duration,
}

/// What the ranks of one split share to show its progress and report its load.
pub(crate) struct SplitWatch {
    label: Arc<str>,
    bar: Option<ProgressBar>,
    /// When the split started, and whether its bar is drawn yet: a bar appears only once the
    /// split has run for [`BAR_DELAY`], so that short loops print nothing and pay nothing.
    started: Instant,
    bar_shown: AtomicBool,
    report: bool,
    observer: Option<Arc<Observer>>,
    ranks_iterating: AtomicUsize,
    stats: Mutex<Vec<RankStats>>,
    /// Over MPI: the count of items finished on all ranks, in an MPI window, which the ranks
    /// add to and the drawing rank reads.
    #[cfg(feature = "mpi")]
    finished_on_all: Option<crate::message_passing::RemoteCounter>,
}

impl SplitWatch {
    /// Over MPI, where each process has its own watch: counts into `finished_on_all`, and
    /// draws the bar only where `draws` (the first rank of the split's group).
    #[cfg(feature = "mpi")]
    pub(crate) fn counting_into(
        mut self,
        finished_on_all: crate::message_passing::RemoteCounter,
        draws: bool,
    ) -> Self {
        if !draws {
            self.bar = None;
        }
        self.finished_on_all = Some(finished_on_all);
        self
    }

    /// The watch of split `label` over `length` items among `members` ranks; `None` when
    /// nothing is to be watched.
    pub(crate) fn new(
        label: String,
        length: Option<usize>,
        members: usize,
        progress: bool,
        observer: Option<Arc<Observer>>,
    ) -> Option<SplitWatch> {
        if !progress && observer.is_none() {
            return None;
        }
        // On the bar, the file without its folders: a terminal line has little room.
        let prefix = match label.rsplit_once(" at ") {
            Some((operation, place)) => {
                let file = place.rsplit(['/', '\\']).next().unwrap_or(place);
                format!("{operation} at {file}")
            }
            None => label.clone(),
        };
        let bar = progress.then(|| progress_bar(&prefix, length));
        Some(SplitWatch {
            report: observer
                .as_ref()
                .is_some_and(|observer| observer.settings.report),
            label: label.into(),
            bar,
            started: Instant::now(),
            bar_shown: AtomicBool::new(false),
            observer,
            ranks_iterating: AtomicUsize::new(members),
            stats: Mutex::new(Vec::with_capacity(members)),
            #[cfg(feature = "mpi")]
            finished_on_all: None,
        })
    }
}

/// How long a split runs before its progress bar appears.
const BAR_DELAY: Duration = Duration::from_millis(200);

/// A bar that draws nothing until [`SplitWatch::show_bar`] points it at stderr.
impl SplitWatch {
    fn show_bar_when_due(&self, bar: &ProgressBar) {
        if !self.bar_shown.load(Ordering::Relaxed)
            && self.started.elapsed() >= BAR_DELAY
            && !self.bar_shown.swap(true, Ordering::AcqRel)
        {
            // Drawn on stderr, at most 20 times a second, and not at all when stderr is not a
            // terminal.
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }
}

fn progress_bar(label: &str, length: Option<usize>) -> ProgressBar {
    let (bar, template) = match length {
        Some(length) => (
            ProgressBar::with_draw_target(Some(length as u64), ProgressDrawTarget::hidden()),
            "{prefix} {wide_bar} {pos}/{len} items, {rate}, ETA {eta}",
        ),
        None => (
            ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
            "{prefix} {spinner} {pos} items, {rate}, {elapsed}",
        ),
    };
    let style = ProgressStyle::with_template(template)
        .expect("a valid template")
        .with_key(
            "rate",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = write!(out, "{:.0} items/s", state.per_sec());
            },
        );
    bar.set_style(style);
    bar.set_prefix(label.to_owned());
    bar
}

#[cfg(feature = "mpi")]
impl Drop for SplitWatch {
    /// Over MPI, the bar ends once every rank has left the split: the ranks meet here (every rank
    /// drops its watch when it leaves the loop), and the drawing rank shows the final count.
    fn drop(&mut self) {
        let Some(finished) = &self.finished_on_all else {
            return;
        };
        if std::thread::panicking() {
            return; // the job is about to end; do not wait for the others
        }
        finished.barrier();
        if let Some(bar) = &self.bar {
            bar.set_position(finished.fetch_add(0) as u64);
            bar.finish();
            if !bar.is_hidden() {
                eprintln!();
            }
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
        #[cfg(feature = "mpi")]
        if let Some(finished) = &self.shared.finished_on_all {
            let before = finished.fetch_add(items);
            if let Some(bar) = &self.shared.bar {
                bar.set_position((before + items) as u64);
                self.shared.show_bar_when_due(bar);
            }
        }
        #[cfg(feature = "mpi")]
        let counted_locally = self.shared.finished_on_all.is_none();
        #[cfg(not(feature = "mpi"))]
        let counted_locally = true;
        if let Some(bar) = &self.shared.bar
            && counted_locally
        {
            bar.inc(items as u64);
            self.shared.show_bar_when_due(bar);
        }
        if let Some(observer) = &self.shared.observer
            && observer.settings.trace.is_some()
        {
            let since = |at: Instant| at.saturating_duration_since(observer.epoch);
            let event = Event {
                label: Arc::clone(&self.shared.label),
                rank: self.rank,
                start: since(self.run_started),
                end: since(Instant::now()),
                first,
                items,
            };
            observer
                .events
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(event);
        }
    }

    /// This rank has left the split; the last rank to leave ends the bar and prints the report.
    pub(crate) fn rank_done(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let now = Instant::now();
        let busy = self.started.map_or(Duration::ZERO, |started| now - started);
        if let Some(observer) = &self.shared.observer
            && observer.deferred
        {
            if observer.settings.report {
                let micros = |at: Duration| at.as_secs_f64() * 1e6;
                observer
                    .deferred_stats
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((
                        self.shared.label.to_string(),
                        self.rank,
                        self.items,
                        micros(busy),
                        micros(now.saturating_duration_since(observer.epoch)),
                    ));
            }
            return;
        }
        let mut stats = self
            .shared
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        stats.push(RankStats {
            rank: self.rank,
            items: self.items,
            busy,
            done: now.saturating_duration_since(self.shared.started),
        });
        log::trace!(
            "dlp: rank {} is done with {}: {} items",
            self.rank,
            self.shared.label,
            self.items
        );
        if self.shared.ranks_iterating.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        // A failure ends the world: the bar stays where it was and no report is printed.
        let failed = std::thread::panicking();
        if let Some(bar) = &self.shared.bar {
            if failed {
                bar.abandon();
            } else {
                bar.finish();
            }
            if !bar.is_hidden() {
                // Leave the finished bar on its own line: the cursor stays at its end otherwise.
                eprintln!();
            }
        }
        if self.shared.report && !failed {
            stats.sort_by_key(|stat| stat.rank);
            eprint!("{}", load_report(&self.shared.label, &stats));
        }
    }
}

/// The per-rank table of `DLP_REPORT`: what each rank processed, how long it was busy, and how
/// long it then waited for the last rank to finish.
fn load_report(label: &str, stats: &[RankStats]) -> String {
    let total: usize = stats.iter().map(|stat| stat.items).sum();
    let last = stats.iter().map(|stat| stat.done).max();
    let mut table = format!(
        "dlp report: {label}, {total} items on {} ranks\n",
        stats.len()
    );
    let _ = writeln!(
        table,
        "  {:>5} {:>10} {:>12} {:>12} {:>7}",
        "rank", "items", "busy ms", "waiting ms", "share"
    );
    for stat in stats {
        let waiting = last.map_or(Duration::ZERO, |last| last - stat.done);
        let share = if total == 0 {
            0.0
        } else {
            100.0 * stat.items as f64 / total as f64
        };
        let _ = writeln!(
            table,
            "  {:>5} {:>10} {:>12.2} {:>12.2} {:>6.1}%",
            stat.rank,
            stat.items,
            stat.busy.as_secs_f64() * 1e3,
            waiting.as_secs_f64() * 1e3,
            share
        );
    }
    table
}
