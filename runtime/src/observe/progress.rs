//! The progress bar of a split: hidden until the split has run for a while, then drawn on
//! stderr at most 20 times a second; where stderr is not a terminal, only with
//! `DLP_PROGRESS=always`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::above_bar;
use crate::config::Progress;

/// How long a split runs before its progress bar appears, so that short loops print nothing.
const BAR_DELAY: Duration = Duration::from_millis(200);

pub(super) struct Bar {
    bar: ProgressBar,
    started: Instant,
    shown: AtomicBool,
    /// Whether this bar has the process's stdout, to write its lines above the bar.
    has_stdout: AtomicBool,
}

impl Bar {
    /// The bar of split `label` (`operation at file:line`) over `length` items.
    pub(super) fn new(label: &str, length: Option<usize>) -> Bar {
        // On the bar, the file without its folders: a terminal line has little room.
        let prefix = match label.rsplit_once(" at ") {
            Some((operation, place)) => {
                let file = place.rsplit(['/', '\\']).next().unwrap_or(place);
                format!("{operation} at {file}")
            }
            None => label.to_owned(),
        };
        Bar {
            bar: hidden_bar(&prefix, length),
            started: Instant::now(),
            shown: AtomicBool::new(false),
            has_stdout: AtomicBool::new(false),
        }
    }

    /// `items` more are finished.
    pub(super) fn advance(&self, items: usize) {
        self.bar.inc(items as u64);
        self.show_when_due();
    }

    /// `finished` items are finished in all.
    pub(super) fn set(&self, finished: usize) {
        self.bar.set_position(finished as u64);
        self.show_when_due();
    }

    /// Leaves the bar as it is, on a line of its own: finished, or abandoned after a failure.
    pub(super) fn end(&self, failed: bool) {
        self.give_back_stdout();
        if failed {
            self.bar.abandon();
        } else {
            self.bar.finish();
        }
        if !self.bar.is_hidden() {
            // The cursor stays at the bar's end otherwise.
            eprintln!();
        }
    }

    /// Lines printed from now on go below the bar.
    fn give_back_stdout(&self) {
        if self.has_stdout.swap(false, Ordering::AcqRel) {
            above_bar::give_back();
        }
    }

    fn show_when_due(&self) {
        if !self.shown.load(Ordering::Relaxed)
            && self.started.elapsed() >= BAR_DELAY
            && !self.shown.swap(true, Ordering::AcqRel)
        {
            self.bar.set_draw_target(draw_target());
            // Where stdout and the bar share a screen, lines printed would land on the bar's.
            let same_screen =
                Progress::of_process() == Progress::Always || std::io::stdout().is_terminal();
            if !self.bar.is_hidden() && same_screen && above_bar::take_for(&self.bar) {
                self.has_stdout.store(true, Ordering::Release);
            }
        }
    }
}

/// Where `DLP_PROGRESS` draws a bar that is due: indicatif's stderr target hides itself where
/// stderr is not a terminal; a terminal-like target over stderr does not.
fn draw_target() -> ProgressDrawTarget {
    const DRAWS_PER_SECOND: u8 = 20;
    match Progress::of_process() {
        Progress::Always => ProgressDrawTarget::term_like_with_hz(
            Box::new(console::Term::buffered_stderr()),
            DRAWS_PER_SECOND,
        ),
        Progress::Auto | Progress::Never => ProgressDrawTarget::stderr_with_hz(DRAWS_PER_SECOND),
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.give_back_stdout();
    }
}

fn hidden_bar(prefix: &str, length: Option<usize>) -> ProgressBar {
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
    bar.set_prefix(prefix.to_owned());
    bar
}
