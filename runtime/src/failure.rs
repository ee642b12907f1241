//! What a failed world reports, and how the ranks that did not fail are unwound.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};

thread_local! {
    /// The index of the item whose processing panicked, published by the innermost split or map
    /// being unwound, for the failure report.
    static FAILED_ITEM: Cell<Option<usize>> = const { Cell::new(None) };
    /// Whether this thread runs a rank's body, whose panics [`run_guarded`] reports.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    /// Whether this thread unwinds because its rank stopped well ([`stop_well`]).
    static STOPPING_WELL: Cell<bool> = const { Cell::new(false) };
}

/// The start of every message of a misuse that dlp detects.
const MISUSE: &str = "dlp: ";

/// The text of a panic's payload, if it has one.
fn panic_text(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Whether a payload is one of dlp's own misuse messages, which say everything themselves.
fn is_misuse(payload: &(dyn Any + Send)) -> bool {
    panic_text(payload).is_some_and(|text| text.starts_with(MISUSE))
}

/// Installs, once, a panic hook that keeps quiet about dlp's misuse panics on a rank: the rank
/// reports them in one line, without the internal file and line the default hook would print.
/// Every other panic goes to the hook that was there before.
fn install_quiet_misuse_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) && is_misuse(info.payload()) {
                return;
            }
            previous(info);
        }));
    });
}

/// Called by a split or map dropped during unwinding with the item it was processing: the
/// innermost one is dropped first, and its item is the one that failed.
pub(crate) fn unwinding_through_item(item: Option<usize>) {
    // A rank that stops well failed at no item.
    if std::thread::panicking() && !unwinding_well() {
        FAILED_ITEM.with(|failed| {
            if failed.get().is_none() {
                failed.set(item);
            }
        });
    }
}

/// Forgets an item published by a panic that the user's code caught, so that it is not
/// reported for a later one.
pub(crate) fn forget_failed_item() {
    FAILED_ITEM.with(|failed| failed.set(None));
}

/// The first panic of a world: which rank, at which item, and what it said.
///
/// [`World::try_run`](crate::World::try_run) returns it; [`run`](crate::run) and
/// [`World::run`](crate::World::run) re-raise it as a panic whose message is its `Display`.
///
/// ```
/// let failure = dlp::World::threads(3)
///     .try_run(|| {
///         for x in dlp::split_round_robin(0..10) {
///             if x == 7 { panic!("bad example"); }
///         }
///     })
///     .unwrap_err();
/// assert_eq!((failure.rank(), failure.item()), (1, Some(7)));
/// assert_eq!(failure.message(), "bad example");
/// assert_eq!(failure.to_string(), "rank 1 panicked at item 7: bad example");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    rank: usize,
    item: Option<usize>,
    message: String,
    /// The signal of a stop that a journaled split took, where the world ended that way.
    signal: Option<i32>,
}

impl Failure {
    pub(crate) fn new(rank: usize, item: Option<usize>, payload: &(dyn Any + Send)) -> Self {
        let message = panic_text(payload).unwrap_or("a panic with a non-string payload");
        let message = message.to_owned();
        Failure {
            rank,
            item,
            message,
            signal: None,
        }
    }

    /// The end of a world whose rank `rank` stopped, on `signal`, between two runs of items of
    /// a journaled split.
    pub(crate) fn stopped(rank: usize, signal: i32) -> Self {
        Failure {
            rank,
            item: None,
            message: format!("stopped by {}", crate::stop::name(signal)),
            signal: Some(signal),
        }
    }

    /// The signal (SIGTERM, SIGINT, SIGUSR1) on which the ranks stopped, if the world ended
    /// because a journaled split took a stop (see [`Journaled`](crate::Journaled)) rather than
    /// because a rank panicked. [`World::run`](crate::World::run) ends the process then.
    pub fn stop_signal(&self) -> Option<i32> {
        self.signal
    }

    /// The rank that panicked.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The 0-based index, in its split or map, of the item the rank was processing, if any.
    pub fn item(&self) -> Option<usize> {
        self.item
    }

    /// The panic's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.signal.is_some() {
            return write!(f, "rank {} {}", self.rank, self.message);
        }
        match self.item {
            Some(item) => write!(
                f,
                "rank {} panicked at item {item}: {}",
                self.rank, self.message
            ),
            None => write!(f, "rank {} panicked: {}", self.rank, self.message),
        }
    }
}

impl std::error::Error for Failure {}

/// The unwinding payload of a rank stopped because another rank failed. It is never reported:
/// the failure that caused it already was.
pub(crate) struct Stopped;

/// Unwinds this rank because its world was aborted, without invoking the panic hook.
pub(crate) fn stop() -> ! {
    std::panic::resume_unwind(Box::new(Stopped))
}

/// The unwinding payload of a rank that stopped well, on a signal, between two runs of items of
/// a journaled split.
struct Interrupted(i32);

/// Unwinds this rank, which has stopped well on `signal` with its journal written: the world
/// ends, and `run_guarded` reports it as a stop, not as a failure.
pub(crate) fn stop_well(signal: i32) -> ! {
    STOPPING_WELL.with(|stopping| stopping.set(true));
    std::panic::resume_unwind(Box::new(Interrupted(signal)))
}

/// Whether this thread is unwinding because its rank stopped well: every rank of the world
/// stops, so what is torn down collectively (an MPI window) is torn down as after a loop that
/// ended, where a panic skips it.
pub(crate) fn unwinding_well() -> bool {
    std::thread::panicking() && STOPPING_WELL.with(Cell::get)
}

/// Panics with a message that says how to fix a mismatch between ranks. Used where continuing
/// would hang or compute garbage. On a rank, the message is reported in one line.
#[track_caller]
pub(crate) fn misuse(message: String) -> ! {
    panic!("{MISUSE}{message}")
}

/// The failure of a misuse found outside any rank's body (when a world ends), reported in one
/// line as a misuse on a rank is.
pub(crate) fn misuse_found(rank: usize, message: String) -> Failure {
    let failure = Failure::new(rank, None, &format!("{MISUSE}{message}"));
    print_whole_line(failure.message());
    failure
}

/// Runs a rank's body, turning its panic into a reported [`Failure`]. `Err(None)` means the rank
/// was stopped because another one failed.
pub(crate) fn run_guarded<R>(
    rank: usize,
    size: usize,
    body: &impl Fn() -> R,
) -> Result<R, Option<Failure>> {
    install_quiet_misuse_hook();
    let enclosing = FAILED_ITEM.with(|failed| failed.take());
    let was_guarded = GUARDED.with(|guarded| guarded.replace(true));
    let outcome = catch_unwind(AssertUnwindSafe(body));
    GUARDED.with(|guarded| guarded.set(was_guarded));
    let item = FAILED_ITEM.with(|failed| failed.replace(enclosing));
    outcome.map_err(|payload| {
        if payload.is::<Stopped>() {
            return None;
        }
        if let Some(Interrupted(signal)) = payload.downcast_ref() {
            STOPPING_WELL.with(|stopping| stopping.set(false));
            return Some(Failure::stopped(rank, *signal));
        }
        let failure = Failure::new(rank, item, &*payload);
        if is_misuse(&*payload) {
            print_whole_line(failure.message());
        } else if size > 1 {
            print_whole_line(&format!("dlp: {failure}; stopping all {size} ranks"));
        } else {
            print_whole_line(&format!("dlp: {failure}"));
        }
        Some(failure)
    })
}

/// Prints `line` on stderr in one write. `eprintln!` writes its pieces one by one, and an MPI
/// process killed in between, because another rank aborted the job, would leave half a line.
fn print_whole_line(line: &str) {
    let line = format!("{line}\n");
    // Nothing useful is left to do when stderr is gone.
    let _ = std::io::stderr().write_all(line.as_bytes());
}
