//! The rank-threads kept alive between worlds, as OpenMP keeps its thread team between parallel
//! regions: a world started again from the same thread reuses them instead of spawning threads.
//!
//! Each thread that starts worlds has a team of its own, held in a thread-local: helper `r`
//! (from 1) always runs rank `r`, so its thread keeps the name `dlp-rank-r`. A helper that has
//! run its rank waits for the next world, spinning briefly, then sleeping; helpers end when the
//! thread that owns them ends.

use std::cell::{RefCell, UnsafeCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, PoisonError};
use std::thread;

use super::signal::{self, Signal, spin_until, spin_until_in};

thread_local! {
    static TEAM: RefCell<Option<Team>> = const { RefCell::new(None) };
}

/// The helpers of one thread, and where it waits for them.
#[derive(Default)]
struct Team {
    helpers: Vec<Helper>,
    owner: Arc<Signal>,
}

/// The calling thread's end of one helper thread.
struct Helper {
    inbox: Arc<Inbox>,
}

/// A job as a helper takes it: a function, and the closure it calls with the helper's rank.
#[derive(Clone, Copy)]
struct Job {
    call: unsafe fn(*const (), usize),
    closure: *const (),
}

/// The states of an inbox.
const IDLE: u8 = 0;
const POSTED: u8 = 1;
const CLOSED: u8 = 2;

/// What a helper and the thread that owns it share: one line pair, which the owner writes to
/// start a world, the helper reads, and the helper writes when done, which the owner reads.
///
/// # Contract
/// The owner writes `job` only while the state is `IDLE`, then stores `POSTED` (Release); the
/// helper reads `job` once it loads `POSTED` (Acquire), and stores `IDLE` (Release) once it is
/// done with the job, which the owner loads (Acquire) before it writes `job` again.
#[repr(align(128))]
struct Inbox {
    state: AtomicU8,
    job: UnsafeCell<Option<Job>>,
    /// Whether the cores were crowded as the last job was posted: how the helper waits for the
    /// next, without reading what every world that starts or ends writes.
    crowded: AtomicBool,
    signal: Signal,
}

// SAFETY: `job` is written and read under the inbox's contract, which orders every write of it
// before the helper's read, and that read before the next write; the job's closure is `Sync`.
unsafe impl Sync for Inbox {}
// SAFETY: as above; the pointers of a job are only followed under that contract.
unsafe impl Send for Inbox {}

impl Drop for Helper {
    fn drop(&mut self) {
        self.inbox.state.store(CLOSED, Ordering::Release);
        self.inbox.signal.notify();
    }
}

/// Calls the closure of type `F` at `closure` with `rank`.
///
/// # Safety
/// `closure` points to a live `F`.
unsafe fn call<F: Fn(usize)>(closure: *const (), rank: usize) {
    // SAFETY: the caller's promise.
    let closure = unsafe { &*closure.cast::<F>() };
    closure(rank);
}

/// Runs `job(rank)` for every rank `1..size` on the calling thread's helpers, and `main` on the
/// calling thread; returns what `main` returned once every call has returned. Fails only if a
/// helper thread that did not exist yet cannot be started, before anything runs.
///
/// `job` should not unwind: a panic in it is caught and ends that rank's call silently. Helpers
/// read the job itself from the owner's memory as they start: a job that holds what they need
/// by value costs them the fewest lines of another core.
pub(super) fn run_on_team<F: Fn(usize) + Sync, R>(
    size: usize,
    job: &F,
    main: impl FnOnce() -> R,
) -> Result<R, String> {
    // Taken out of the thread-local while they run: a world started from inside `job(0)` builds
    // a team of its own.
    let mut team = TEAM.take().unwrap_or_default();
    while team.helpers.len() + 1 < size {
        let rank = team.helpers.len() + 1;
        team.helpers
            .push(Helper::spawn(rank, Arc::clone(&team.owner))?);
    }
    let helpers = &team.helpers[..size - 1];
    // From the first job posted on, this frame ends only once every helper has run its job,
    // even if it unwinds: `job`, which the helpers call, is borrowed for longer.
    let wait = WaitForHelpers {
        helpers,
        owner: &team.owner,
    };
    let crowded = signal::crowded();
    let posted = Job {
        call: call::<F>,
        closure: std::ptr::from_ref(job).cast(),
    };
    for helper in helpers {
        helper.post(posted, crowded);
    }
    let result = main();
    drop(wait);
    TEAM.with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept
            .as_ref()
            .is_none_or(|kept| kept.helpers.len() < team.helpers.len())
        {
            *kept = Some(team);
        }
    });
    Ok(result)
}

/// Waits, when dropped, until every helper of a world has run its rank.
struct WaitForHelpers<'a> {
    helpers: &'a [Helper],
    owner: &'a Signal,
}

impl Drop for WaitForHelpers<'_> {
    fn drop(&mut self) {
        let done = || (self.helpers.iter()).all(|helper| helper.inbox.idle());
        if spin_until(done) {
            return;
        }
        while !done() {
            self.owner.sleep(done, |changed, guard| {
                changed.wait(guard).unwrap_or_else(PoisonError::into_inner)
            });
        }
    }
}

impl Helper {
    /// Starts the helper that runs rank `rank` of its owner's worlds, and tells `owner` when
    /// it is done with one.
    fn spawn(rank: usize, owner: Arc<Signal>) -> Result<Helper, String> {
        let inbox = Arc::new(Inbox {
            state: AtomicU8::new(IDLE),
            job: UnsafeCell::new(None),
            crowded: AtomicBool::new(false),
            signal: Signal::default(),
        });
        let helper_inbox = Arc::clone(&inbox);
        rank_thread(rank)
            .spawn(move || helper_inbox.serve(rank, &owner))
            .map_err(|error| format!("could not start the thread of rank {rank}: {error}"))?;
        Ok(Helper { inbox })
    }

    /// Posts `job`; the helper is idle (the owner waited for it after the last job).
    fn post(&self, job: Job, crowded: bool) {
        let inbox = &self.inbox;
        debug_assert!(inbox.idle(), "a helper runs one job at a time");
        // SAFETY: the state is IDLE, so the helper does not read `job` until the store below
        // (the inbox's contract).
        unsafe { *inbox.job.get() = Some(job) };
        inbox.crowded.store(crowded, Ordering::Relaxed);
        inbox.state.store(POSTED, Ordering::Release);
        inbox.signal.notify();
    }
}

impl Inbox {
    fn idle(&self) -> bool {
        self.state.load(Ordering::Acquire) == IDLE
    }

    /// The helper's life: run rank `rank` of each job posted, until the owner is gone.
    fn serve(&self, rank: usize, owner: &Signal) {
        while let Some(job) = self.next() {
            // SAFETY: the owner keeps the job's closure alive until this inbox is idle again,
            // which happens only below, after the call.
            let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
                (job.call)(job.closure, rank)
            }));
            self.state.store(IDLE, Ordering::Release);
            owner.notify();
        }
    }

    /// The next job, once posted; `None` once the owner is gone.
    fn next(&self) -> Option<Job> {
        let ready = || self.state.load(Ordering::Acquire) != IDLE;
        if !spin_until_in(self.crowded.load(Ordering::Relaxed), ready) {
            while !ready() {
                self.signal.sleep(ready, |changed, guard| {
                    changed.wait(guard).unwrap_or_else(PoisonError::into_inner)
                });
            }
        }
        match self.state.load(Ordering::Acquire) {
            // SAFETY: the state is POSTED, so the owner wrote the job and does not write it
            // again until this helper is idle (the inbox's contract).
            POSTED => unsafe { *self.job.get() },
            _ => None,
        }
    }
}

fn rank_thread(rank: usize) -> thread::Builder {
    let builder = thread::Builder::new().name(format!("dlp-rank-{rank}"));
    // The body of `main` runs on these threads: give them the main thread's usual 8 MiB rather
    // than the 2 MiB of a spawned thread, unless the user chose a size.
    if std::env::var_os("RUST_MIN_STACK").is_some() {
        builder
    } else {
        builder.stack_size(8 << 20)
    }
}
