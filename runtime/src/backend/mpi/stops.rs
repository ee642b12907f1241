//! A stop that one process is asked for reaches the others: `mpiexec` forwards SIGINT and
//! SIGUSR1 to every process, but a signal sent to one process (Slurm's `scancel --signal` to
//! one task, `kill` of one PID, SIGTERM, which MPICH's `mpiexec` turns into a kill) reaches only
//! that one. Its first journaled split to notice the stop sends a notice to every other process,
//! on a communicator of its own; the others find it between two runs of their items.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use mpi::point_to_point::Source;
use mpi::request::StaticScope;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::Destination;

use crate::stop;

/// The communicator of the notices: a duplicate of the world's, made by the first world.
struct Notices(SimpleCommunicator);

// SAFETY: the communicator's handle is written once, when the first world makes it, before any
// rank-thread starts. Several threads use it only in a world of rank-threads, which runs only
// under MPI_THREAD_MULTIPLE; probing and receiving go through one lock.
unsafe impl Send for Notices {}
// SAFETY: as above.
unsafe impl Sync for Notices {}

static NOTICES: OnceLock<Notices> = OnceLock::new();
/// Whether this process has sent its notices, or received one (whose sender told everyone).
static TOLD: AtomicBool = AtomicBool::new(false);
/// One thread at a time probes, so that a notice is received once.
static PROBING: Mutex<()> = Mutex::new(());
const NOTICE: i32 = 1;

/// Makes the notices' communicator: a collective call of every process, in the first world.
pub(super) fn open(world: &SimpleCommunicator) {
    NOTICES.get_or_init(|| Notices(world.duplicate()));
}

/// The signal of a stop asked of this job: received here (and then passed on), or noticed from
/// another process.
pub(super) fn requested() -> Option<i32> {
    let notices = &NOTICES.get()?.0;
    if let Some(signal) = stop::requested() {
        if !TOLD.swap(true, Ordering::Relaxed) {
            tell_the_others(notices, signal);
        }
        return Some(signal);
    }
    let _probing = PROBING.try_lock().ok()?;
    let (notice, _) = notices
        .any_process()
        .immediate_matched_probe_with_tag(NOTICE)?;
    let (signal, _) = notice.matched_receive::<i32>();
    TOLD.store(true, Ordering::Relaxed);
    stop::request(signal);
    Some(signal)
}

fn tell_the_others(notices: &SimpleCommunicator, signal: i32) {
    // The buffer of a send must outlive it, and nobody waits for these: one static cell per
    // stop signal.
    static SIGNALS: [i32; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1];
    let buffer = SIGNALS
        .iter()
        .find(|&&known| known == signal)
        .unwrap_or(&SIGNALS[0]);
    let me = notices.rank();
    for other in (0..notices.size()).filter(|&other| other != me) {
        let sent =
            notices
                .process_at_rank(other)
                .immediate_send_with_tag(StaticScope, buffer, NOTICE);
        // Nobody waits for a notice: the process that sent it ends once every process has
        // stopped, without finalizing MPI.
        std::mem::forget(sent);
    }
}
