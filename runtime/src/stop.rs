//! Stopping well: while a world runs a journaled split, SIGTERM, SIGINT and SIGUSR1 ask its
//! ranks to finish the items they are on and stop, instead of ending the process at once. A
//! rank that takes the stop unwinds through `failure::stop_well`.
//!
//! The handler only records the signal; the ranks look at it between runs of items. Outside a
//! world that has started a journaled split, and for a second signal, the signal does what it
//! did before (by default, it ends the process): a user who presses Ctrl-C twice is not kept
//! waiting.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// The signal that asked for a stop, 0 for none.
static REQUESTED: AtomicI32 = AtomicI32::new(0);
/// Whether a stop is taken now, rather than the signal's previous action.
static ARMED: AtomicBool = AtomicBool::new(false);

/// The signal that asked this process to stop, if one did.
pub(crate) fn requested() -> Option<i32> {
    match REQUESTED.load(Ordering::Relaxed) {
        0 => None,
        signal => Some(signal),
    }
}

/// Asks this process to stop on `signal`, received here or by another process of the job;
/// true for the first request.
pub(crate) fn request(signal: i32) -> bool {
    REQUESTED
        .compare_exchange(0, signal, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
}

/// The exit status of a process that stopped on `signal`, as a shell reports a process that
/// the signal ended: 128 + its number.
pub(crate) fn exit_code(signal: i32) -> i32 {
    128 + signal
}

/// The name of `signal`.
pub(crate) fn name(signal: i32) -> String {
    #[cfg(unix)]
    match signal {
        libc::SIGTERM => return "SIGTERM".to_owned(),
        libc::SIGINT => return "SIGINT".to_owned(),
        libc::SIGUSR1 => return "SIGUSR1".to_owned(),
        _ => {}
    }
    format!("signal {signal}")
}

/// From now until [`disarm`], the stop signals ask for a stop.
pub(crate) fn arm() {
    if !ARMED.swap(true, Ordering::SeqCst) {
        #[cfg(unix)]
        signals::install();
    }
}

/// Gives the stop signals back their previous action, at the end of a world. A signal that came
/// and that no rank `taken` as a stop (it came after the journaled loops, or during other work)
/// is raised again, and does now what it would have done then.
pub(crate) fn disarm(taken: bool) {
    // Most worlds run no journaled split: a load spares them the swap.
    if !ARMED.load(Ordering::SeqCst) || !ARMED.swap(false, Ordering::SeqCst) {
        return;
    }
    #[cfg(unix)]
    signals::restore();
    let signal = REQUESTED.swap(0, Ordering::Relaxed);
    if signal != 0 && !taken {
        #[cfg(unix)]
        // SAFETY: `raise` sends a signal to this process; it reads and writes no memory.
        unsafe {
            libc::raise(signal);
        }
    }
}

#[cfg(unix)]
mod signals {
    use std::sync::Mutex;
    use std::sync::atomic::Ordering;

    use super::ARMED;

    const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1];

    /// The actions the stop signals had before [`install`], in the order of `STOP_SIGNALS`.
    static PREVIOUS: Mutex<Option<[libc::sigaction; 3]>> = Mutex::new(None);

    /// Records the first stop signal; gives a second one, or one that arrives unarmed, the
    /// signal's default action.
    extern "C" fn on_signal(signal: libc::c_int) {
        if super::request(signal) && ARMED.load(Ordering::SeqCst) {
            return;
        }
        // Async-signal-safe: no lock, no allocation. The previous actions are read without the
        // mutex: they were written before this handler was installed, and are not written again
        // until it is replaced.
        // SAFETY: `signal(2)` and `raise(3)` are async-signal-safe; restoring the default action
        // and raising the signal again ends the process as the signal would have.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }

    pub(super) fn install() {
        let mut previous = PREVIOUS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // SAFETY: `sigaction` is plain data, for which all zeroes is a valid value.
        let mut saved: [libc::sigaction; 3] = unsafe { std::mem::zeroed() };
        for (signal, saved) in STOP_SIGNALS.into_iter().zip(&mut saved) {
            // SAFETY: as above; the handler is an `extern "C" fn(c_int)`, which is what
            // `sa_sigaction` holds without SA_SIGINFO, and `sigaction` writes the old action
            // through a pointer to a live value.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, saved);
            }
        }
        *previous = Some(saved);
    }

    pub(super) fn restore() {
        let previous = PREVIOUS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(saved) = previous.as_ref() else {
            return;
        };
        for (signal, saved) in STOP_SIGNALS.into_iter().zip(saved) {
            // SAFETY: `saved` is the action `sigaction` returned for this signal in `install`.
            unsafe {
                libc::sigaction(signal, saved, std::ptr::null_mut());
            }
        }
    }
}
