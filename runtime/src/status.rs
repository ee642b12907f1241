//! Where a rank is, for the report of a rank that waited too long (`DLP_TIMEOUT`): the dlp call
//! it is in or made last, and the item of the loop it is running.
//!
//! Each rank writes its own [`RankStatus`]; a rank that times out reads everyone's it can reach
//! (on threads, every rank's; over MPI, those of the ranks that answer) and reports them.

use std::fmt;
use std::panic::Location;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};
use std::time::{Duration, Instant};

use crate::comm::Call;

/// What one rank is doing, as far as dlp knows.
// Each rank writes its own as it starts, calls and ends: on lines of its own, so that ranks
// made one after another do not share them.
#[repr(align(128))]
pub(crate) struct RankStatus {
    rank: usize,
    /// Apart from the rest: every collective writes it, and a lock would cost more than the
    /// call's own work on one node.
    last_call: LastCall,
    state: Mutex<State>,
    /// The split whose loop body the rank runs (its `&'static Location`), null for none: apart
    /// from the rest too, as every split writes it twice.
    body: AtomicPtr<Location<'static>>,
    /// The index of the item the rank's innermost loop yielded last, plus one; 0 for none.
    item: AtomicUsize,
    /// Whether loops tell [`RankStatus::at_item`] each item: only where a report can be made
    /// (`DLP_TIMEOUT` is set), so that loops pay nothing per item otherwise.
    tracks_items: bool,
}

#[derive(Default)]
struct State {
    /// Since when the rank waits in that call, if it does.
    waiting_since: Option<Instant>,
    /// Whether the rank's body has returned.
    left: bool,
    /// The error the rank's `#[dlp::main]` returned, if it did.
    error: Option<String>,
}

impl RankStatus {
    pub(crate) fn new(rank: usize, tracks_items: bool) -> Self {
        RankStatus {
            rank,
            last_call: LastCall::default(),
            state: Mutex::new(State::default()),
            body: AtomicPtr::new(std::ptr::null_mut()),
            item: AtomicUsize::new(0),
            tracks_items,
        }
    }

    /// Whether loops should tell this status each item.
    pub(crate) fn tracks_items(&self) -> bool {
        self.tracks_items
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The rank makes `call`.
    pub(crate) fn called(&self, call: &Call) {
        self.last_call
            .set(Some((call.operation, call.site, call.number)));
    }

    /// The last call the rank made: its operation, site and number.
    pub(crate) fn last_call(&self) -> Option<MadeCall> {
        self.last_call.get()
    }

    /// The rank starts, or stops, waiting in its last call.
    pub(crate) fn waiting(&self, waits: bool) {
        self.state().waiting_since = waits.then(Instant::now);
    }

    /// The rank runs the body of the loop of the split at `site` (`None`: no loop).
    pub(crate) fn in_body(&self, site: Option<&'static Location<'static>>) {
        let site = site.map_or(std::ptr::null_mut(), |site| {
            std::ptr::from_ref(site).cast_mut()
        });
        self.body.store(site, Ordering::Release);
        if site.is_null() {
            self.item.store(0, Ordering::Relaxed);
        }
    }

    /// The rank's loop yielded item `index`.
    #[inline]
    pub(crate) fn at_item(&self, index: usize) {
        self.item.store(index + 1, Ordering::Relaxed);
    }

    /// The split whose loop body the rank runs, if any.
    fn body(&self) -> Option<&'static Location<'static>> {
        // SAFETY: `body` holds null or a pointer made from a `&'static Location` (`in_body`).
        unsafe { self.body.load(Ordering::Acquire).as_ref() }
    }

    /// Forgets everything: the rank is about to run in a new world.
    pub(crate) fn reset(&self) {
        *self.state() = State::default();
        self.body.store(std::ptr::null_mut(), Ordering::Relaxed);
        self.last_call.set(None);
        self.item.store(0, Ordering::Relaxed);
    }

    /// The rank's body has returned.
    pub(crate) fn left(&self) {
        self.state().left = true;
    }

    /// The rank's `#[dlp::main]` returned `error`.
    pub(crate) fn returned_error(&self, error: String) {
        self.state().error = Some(error);
    }

    /// The error the rank returned, if any.
    pub(crate) fn error(&self) -> Option<String> {
        self.state().error.clone()
    }

    /// One line of the report: where the rank is.
    pub(crate) fn describe(&self) -> String {
        let state = self.state();
        let item = self.item.load(Ordering::Relaxed).checked_sub(1);
        Where {
            rank: self.rank,
            state: &state,
            body: self.body(),
            last_call: self.last_call(),
            item,
        }
        .to_string()
    }
}

struct Where<'a> {
    rank: usize,
    state: &'a State,
    body: Option<&'static Location<'static>>,
    last_call: Option<MadeCall>,
    item: Option<usize>,
}

impl fmt::Display for Where<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state;
        write!(f, "rank {}: ", self.rank)?;
        match (&self.last_call, state.waiting_since) {
            _ if state.left => write!(f, "has returned from the world")?,
            (Some((operation, site, number)), Some(since)) => write!(
                f,
                "waits in {operation} at {site} (collective #{number}) for {}",
                seconds(since.elapsed())
            )?,
            (call, _) => {
                match (self.body, self.item) {
                    (Some(split), Some(item)) => {
                        write!(f, "runs item {item} of the loop of the split at {split}")?
                    }
                    (Some(split), None) => write!(f, "runs the loop of the split at {split}")?,
                    _ => write!(f, "runs its own code")?,
                }
                if let Some((operation, site, number)) = call {
                    write!(
                        f,
                        "; its last dlp call: {operation} at {site} (collective #{number})"
                    )?;
                }
            }
        }
        Ok(())
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

/// The exit code of a job that a rank ended because it waited longer than `DLP_TIMEOUT`: that
/// of the `timeout` command.
pub(crate) const TIMEOUT_EXIT_CODE: i32 = 124;

/// The report of a rank that waited longer than `limit`: its own line first, then the others'.
pub(crate) fn timeout_report(waiter: &str, limit: Duration, others: &[String]) -> String {
    let mut report = format!(
        "a rank waited in dlp longer than DLP_TIMEOUT={}. Where every rank is:\n  {waiter}",
        seconds(limit)
    );
    for line in others {
        report.push_str("\n  ");
        report.push_str(line);
    }
    report.push_str(
        "\nA rank that runs its own code for that long is stuck there, or the timeout is too \
         short for the work: raise DLP_TIMEOUT, or unset it to wait without limit",
    );
    report
}

/// A call as the status remembers it: its operation, site and number.
pub(crate) type MadeCall = (&'static str, &'static Location<'static>, u64);

/// The last call of a rank: written by that rank alone, at every call, and read by others
/// rarely (a report, a mismatch). A sequence lock over atomics: the writer makes plain stores,
/// and a reader that met a write in progress reads again.
#[derive(Default)]
struct LastCall {
    /// Odd while a write is in progress.
    sequence: AtomicU64,
    /// The call's operation (its address and length) and site; a null site for none.
    operation: AtomicPtr<u8>,
    operation_length: AtomicUsize,
    site: AtomicPtr<Location<'static>>,
    number: AtomicU64,
}

impl LastCall {
    /// Sets the last call. Only the rank whose status this is calls it (or, between worlds,
    /// the thread that readies it for the next).
    fn set(&self, call: Option<MadeCall>) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        self.sequence.store(sequence + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        let (operation, site, number) = match call {
            Some((operation, site, number)) => (operation, std::ptr::from_ref(site), number),
            None => ("", std::ptr::null(), 0),
        };
        self.operation
            .store(operation.as_ptr().cast_mut(), Ordering::Relaxed);
        self.operation_length
            .store(operation.len(), Ordering::Relaxed);
        self.site.store(site.cast_mut(), Ordering::Relaxed);
        self.number.store(number, Ordering::Relaxed);
        self.sequence.store(sequence + 2, Ordering::Release);
    }

    fn get(&self) -> Option<MadeCall> {
        loop {
            let before = self.sequence.load(Ordering::Acquire);
            let operation = self.operation.load(Ordering::Relaxed);
            let length = self.operation_length.load(Ordering::Relaxed);
            let site = self.site.load(Ordering::Relaxed);
            let number = self.number.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if before % 2 == 1 || self.sequence.load(Ordering::Relaxed) != before {
                std::hint::spin_loop();
                continue;
            }
            if site.is_null() {
                return None;
            }
            // SAFETY: no write began or ended between the two reads of an even sequence, so the
            // fields are those of one `set`: the address and length of a `&'static str` and the
            // address of a `&'static Location`.
            let (operation, site) = unsafe {
                let bytes = std::slice::from_raw_parts(operation.cast_const(), length);
                (std::str::from_utf8_unchecked(bytes), &*site)
            };
            return Some((operation, site, number));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_call_reads_back_and_resets() {
        let last = LastCall::default();
        assert_eq!(last.get(), None);
        let site = Location::caller();
        last.set(Some(("gather", site, 7)));
        assert_eq!(last.get(), Some(("gather", site, 7)));
        last.set(None);
        assert_eq!(last.get(), None);
    }

    #[test]
    fn a_reader_never_sees_half_of_a_call() {
        let last = LastCall::default();
        let (barrier, broadcast) = (Location::caller(), Location::caller());
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for number in 0..200_000u64 {
                    let call = if number % 2 == 0 {
                        ("barrier", barrier, number)
                    } else {
                        ("a broadcast", broadcast, number)
                    };
                    last.set(Some(call));
                }
            });
            for _ in 0..200_000 {
                if let Some((operation, site, number)) = last.get() {
                    let expected = if number % 2 == 0 {
                        ("barrier", barrier)
                    } else {
                        ("a broadcast", broadcast)
                    };
                    assert_eq!((operation, site), expected);
                }
            }
        });
    }
}
