//! The rank-threads kept alive between worlds, as OpenMP keeps its thread team between parallel
//! regions: a world started again from the same thread reuses them instead of spawning threads.
//!
//! Each thread that starts worlds has a team of its own, held in a thread-local: helper `r`
//! (from 1) always runs rank `r`, so its thread keeps the name `dlp-rank-r`. A helper that has
//! run its rank waits for the next world, spinning briefly, then sleeping; helpers end when the
//! thread that owns them ends.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use super::signal::{Signal, spin_until};

/// What a helper runs: its rank of the world being started.
type RankJob<'a> = dyn Fn(usize) + Sync + 'a;

thread_local! {
    static TEAM: RefCell<Team> = RefCell::default();
}

/// The helpers of one thread, and the count of those still running a rank of its world.
#[derive(Default)]
struct Team {
    helpers: Vec<Helper>,
    outstanding: Arc<Outstanding>,
}

/// The calling thread's end of one helper thread.
struct Helper {
    inbox: Arc<Inbox>,
}

/// What a helper and the thread that owns it share.
struct Inbox {
    job: Mutex<Option<Posted>>,
    posted: AtomicBool,
    /// Set when the owner is gone: the helper ends.
    closed: AtomicBool,
    signal: Signal,
}

/// A job handed to a helper, with the count it decrements when done.
struct Posted {
    job: *const RankJob<'static>,
    rank: usize,
    outstanding: Arc<Outstanding>,
}

// SAFETY: `job` points to a `Sync` closure, which any thread may call through a shared
// reference; `run_on_team` keeps it alive until every helper has counted itself done.
unsafe impl Send for Posted {}

/// The helpers of one world still running their rank, and where the owner waits for them.
#[derive(Default)]
struct Outstanding {
    helpers: AtomicUsize,
    signal: Signal,
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.inbox.closed.store(true, Ordering::Release);
        self.inbox.signal.notify();
    }
}

/// Runs `job(rank)` for every rank `1..size` on the calling thread's helpers, and `main` on the
/// calling thread; returns what `main` returned once every call has returned. Fails only if a
/// helper thread that did not exist yet cannot be started, before anything runs.
///
/// `job` should not unwind: a panic in it is caught and ends that rank's call silently.
pub(super) fn run_on_team<R>(
    size: usize,
    job: &RankJob<'_>,
    main: impl FnOnce() -> R,
) -> Result<R, String> {
    // Taken out of the thread-local while they run: a world started from inside `job(0)` builds
    // a team of its own.
    let mut team = TEAM.with(|team| team.take());
    let Team {
        helpers,
        outstanding,
    } = &mut team;
    while helpers.len() + 1 < size {
        helpers.push(Helper::spawn(helpers.len() + 1)?);
    }
    // The guard comes first: from the first job posted on, this frame ends only once every
    // helper has run its job, even if it unwinds.
    let wait = WaitForHelpers(outstanding);
    // SAFETY: the lifetime is erased only while helpers may call the job: every job is posted
    // after `wait` exists and counted in `outstanding` before it is posted, and `wait` returns
    // (or, when unwinding, drops) only once every helper has counted itself done, after its
    // last use of the job; `job` is borrowed for longer than this frame.
    let job_ptr: *const RankJob<'static> =
        unsafe { std::mem::transmute::<&RankJob<'_>, &RankJob<'static>>(job) };
    for (index, helper) in helpers.iter().take(size - 1).enumerate() {
        outstanding.helpers.fetch_add(1, Ordering::Relaxed);
        helper.post(Posted {
            job: job_ptr,
            rank: index + 1,
            outstanding: Arc::clone(outstanding),
        });
    }
    let result = main();
    drop(wait);
    TEAM.with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept.helpers.len() < team.helpers.len() {
            std::mem::swap(&mut *kept, &mut team);
        }
    });
    Ok(result)
}

/// Waits, when dropped, until every helper of a world has run its rank.
struct WaitForHelpers<'a>(&'a Outstanding);

impl Drop for WaitForHelpers<'_> {
    fn drop(&mut self) {
        let outstanding = self.0;
        let done = || outstanding.helpers.load(Ordering::Acquire) == 0;
        if spin_until(done) {
            return;
        }
        while !done() {
            outstanding.signal.sleep(done, |changed, guard| {
                changed.wait(guard).unwrap_or_else(PoisonError::into_inner)
            });
        }
    }
}

impl Helper {
    fn spawn(rank: usize) -> Result<Helper, String> {
        let inbox = Arc::new(Inbox {
            job: Mutex::new(None),
            posted: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            signal: Signal::default(),
        });
        let helper_inbox = Arc::clone(&inbox);
        rank_thread(rank)
            .spawn(move || helper_inbox.serve())
            .map_err(|error| format!("could not start the thread of rank {rank}: {error}"))?;
        Ok(Helper { inbox })
    }

    fn post(&self, posted: Posted) {
        *self.inbox.lock() = Some(posted);
        self.inbox.posted.store(true, Ordering::Release);
        self.inbox.signal.notify();
    }
}

impl Inbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Posted>> {
        // The slot is written in single assignments: a poisoned lock still holds a whole value.
        self.job.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The helper's life: run each job posted, until the owner is gone.
    fn serve(&self) {
        while let Some(posted) = self.next() {
            // SAFETY: the owner keeps the job alive until `outstanding.helpers` reaches 0, which
            // happens only below, after the call.
            let job = unsafe { &*posted.job };
            let _ = catch_unwind(AssertUnwindSafe(|| job(posted.rank)));
            let outstanding = posted.outstanding;
            outstanding.helpers.fetch_sub(1, Ordering::Release);
            outstanding.signal.notify();
        }
    }

    /// The next job, once posted; `None` once the owner is gone.
    fn next(&self) -> Option<Posted> {
        let ready = || self.posted.load(Ordering::Acquire) || self.closed.load(Ordering::Acquire);
        if !spin_until(ready) {
            while !ready() {
                self.signal.sleep(ready, |changed, guard| {
                    changed.wait(guard).unwrap_or_else(PoisonError::into_inner)
                });
            }
        }
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        self.posted.store(false, Ordering::Relaxed);
        self.lock().take()
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
