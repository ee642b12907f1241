//! The per-rank table of `DLP_REPORT`: what each rank of a split processed, how long it was
//! busy, and how long it then waited for the last rank to finish.

use std::fmt::Write as _;
use std::time::Duration;

use super::{StatsOnWire, from_micros, micros};

/// How one rank did in one split: `done` is when it left, since a moment common to the ranks.
#[derive(Clone)]
pub(super) struct RankStats {
    pub(super) label: String,
    pub(super) rank: usize,
    pub(super) items: usize,
    pub(super) busy: Duration,
    pub(super) done: Duration,
}

impl RankStats {
    pub(super) fn to_wire(&self) -> StatsOnWire {
        let label = self.label.clone();
        (
            label,
            self.rank,
            self.items,
            micros(self.busy),
            micros(self.done),
        )
    }

    pub(super) fn from_wire((label, rank, items, busy, done): StatsOnWire) -> Self {
        RankStats {
            label,
            rank,
            items,
            busy: from_micros(busy),
            done: from_micros(done),
        }
    }
}

/// Prints one table per split, in the order the splits first appear.
pub(super) fn print_by_split(stats: Vec<RankStats>) {
    let mut labels: Vec<&str> = Vec::new();
    for stat in &stats {
        if !labels.contains(&stat.label.as_str()) {
            labels.push(&stat.label);
        }
    }
    for label in labels {
        let split: Vec<RankStats> = stats
            .iter()
            .filter(|stat| stat.label == label)
            .cloned()
            .collect();
        eprint!("{}", table(split));
    }
}

/// The table of one split.
pub(super) fn table(mut stats: Vec<RankStats>) -> String {
    stats.sort_by_key(|stat| stat.rank);
    let label = stats.first().map_or("", |stat| stat.label.as_str());
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
    for stat in &stats {
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
