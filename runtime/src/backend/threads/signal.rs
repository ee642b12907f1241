//! Waiting between rank-threads: spin briefly, then sleep until told that something changed.
//!
//! A rank that waits for another usually waits for less than a microsecond (the other is a few
//! instructions behind), and putting a thread to sleep and waking it costs tens of microseconds:
//! so a waiter first spins, as OpenMP runtimes do, and sleeps only when the wait lasts. On a
//! machine with more running rank-threads than cores, spinning would take the core from the very
//! rank being waited for: there a waiter only yields a few times before it sleeps.

use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long a waiter spins before it sleeps, when every running rank-thread has a core.
const SPIN_TIME: Duration = Duration::from_micros(300);
/// How often a waiter yields before it sleeps, when rank-threads outnumber the cores.
const YIELDS_WHEN_CROWDED: usize = 4;

/// How crowded the cores are: written as each world starts and ends, so on lines of their own,
/// where they slow down no other data that the ranks read.
#[repr(align(128))]
struct Crowd {
    /// Rank-threads of this process that run a body now, in any world.
    running: AtomicUsize,
    /// Processes of this machine, this one included, that run as many rank-threads on its
    /// cores at once, as the last world started said (a world of processes × threads, several
    /// to a machine).
    processes_here: AtomicUsize,
}

static CROWD: Crowd = Crowd {
    running: AtomicUsize::new(0),
    processes_here: AtomicUsize::new(1),
};

/// Counts the rank-threads of a world among the running ones while the guard lives.
pub(super) struct Running(usize);

impl Running {
    /// `ranks` rank-threads start, in each of `processes` processes of this machine.
    pub(super) fn start(ranks: usize, processes: usize) -> Running {
        CROWD.running.fetch_add(ranks, Ordering::Relaxed);
        CROWD
            .processes_here
            .store(processes.max(1), Ordering::Relaxed);
        Running(ranks)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        CROWD.running.fetch_sub(self.0, Ordering::Relaxed);
    }
}

fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Whether running rank-threads outnumber the cores now.
pub(super) fn crowded() -> bool {
    let running =
        CROWD.running.load(Ordering::Relaxed) * CROWD.processes_here.load(Ordering::Relaxed);
    running > cores()
}

/// Returns true as soon as `ready` holds, or false once the waiter should sleep instead.
pub(super) fn spin_until(ready: impl FnMut() -> bool) -> bool {
    spin_until_in(crowded(), ready)
}

/// [`spin_until`] where the caller knows whether the cores are [`crowded`].
pub(super) fn spin_until_in(crowded: bool, mut ready: impl FnMut() -> bool) -> bool {
    if crowded {
        for _ in 0..YIELDS_WHEN_CROWDED {
            if ready() {
                return true;
            }
            std::thread::yield_now();
        }
        return ready();
    }
    // The clock is read only once the first polls failed: most waits end within them, and
    // reading it costs about as much as a whole barrier's own work.
    let mut start = None;
    loop {
        for _ in 0..64 {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        if start.get_or_insert_with(Instant::now).elapsed() > SPIN_TIME {
            return ready();
        }
    }
}

/// Where waiters sleep, and how those who change what they wait for wake them.
///
/// # Contract
/// A changer first makes its change visible (any atomic store or a mutex release), then calls
/// [`Signal::notify`]. A sleeper calls [`Signal::sleep`] with a check of what it waits for.
/// Then no wake-up is lost: either the sleeper's check sees the change, or the changer sees the
/// sleeper and wakes it.
#[derive(Default)]
pub(super) struct Signal {
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    changed: Condvar,
}

impl Signal {
    /// Wakes every sleeper, if there is one; costs a fence otherwise.
    pub(super) fn notify(&self) {
        // Pairs with the fence in `sleep`: either this load sees the sleeper, or its check
        // sees the change made before this call.
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::Relaxed) > 0 {
            let _lock = self.lock();
            self.changed.notify_all();
        }
    }

    /// Sleeps until a notification, unless `awake` holds once the sleeper is registered.
    /// `wait` does the sleeping (with a time limit, say); it may return early.
    pub(super) fn sleep<'a>(
        &'a self,
        awake: impl FnOnce() -> bool,
        wait: impl FnOnce(&'a Condvar, MutexGuard<'a, ()>) -> MutexGuard<'a, ()>,
    ) {
        let guard = self.lock();
        self.sleepers.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let guard = if awake() {
            guard
        } else {
            wait(&self.changed, guard)
        };
        self.sleepers.fetch_sub(1, Ordering::Relaxed);
        drop(guard);
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        // The mutex guards nothing but the hand-over between a sleeper and a notifier.
        self.lock.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
