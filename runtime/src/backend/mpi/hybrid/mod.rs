//! One world of MPI processes × rank-threads (`mpiexec -n P` with `DLP_THREADS=T`): world rank
//! `process × T + thread`. Within a process the ranks are threads that meet on the threads
//! backend's board, and values move between them; across processes, the first rank of a group
//! in each process (its leader) speaks MPI for the others.
//!
//! The messages of a group travel in the order of its calls, so one thread of a process makes
//! all of them: its leader, in the order of the group's calls. The whole
//! world and the worker ranks have a communicator each (their leaders differ in the main rank's
//! process). Dynamic splits claim from the claim server (`served`), whose counters need no
//! collective call once open: any thread may be the last to let one go. Map results travel by
//! point-to-point messages from every rank but the main one.

mod comm;

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mpi::topology::{Communicator, SimpleCommunicator};

use super::end;
use super::post::Post;
use super::served::ClaimServer;
use super::waits::ProcessWaits;
use super::{MpiRank, PANIC_EXIT_CODE, THREAD_MULTIPLE, abort_job, collectives, end_call, waits};
use crate::backend::threads::{Ended, Here, OtherProcesses, ThreadWorld, run_here};
use crate::comm::{Codec, Value};
use crate::config::Watch;
use crate::failure::{Failure, misuse_found};
use crate::observe::{Observer, Seen};
use crate::ranks::Ranks;
use comm::HybridRank;

/// What the rank-threads of one process share.
struct Process {
    /// The board on which they meet, and where each is.
    threads: Arc<ThreadWorld>,
    /// How long they may wait, with where the ranks of the other processes are.
    waits: Option<Arc<ProcessWaits>>,
    /// Every process, for the calls of the whole world.
    all: Post,
    /// Every process too, for the calls of the worker ranks, which the main rank's process also
    /// runs; a communicator of their own, since the two groups number their calls apart.
    workers: Post,
    /// The ranks of the world, over every process.
    size: usize,
}

// SAFETY: a `Process` is made only by `launch`, and only once MPI has granted
// MPI_THREAD_MULTIPLE, under which any thread may call MPI on any communicator; the
// communicators' handles are written once, when they are made, and outlive every rank-thread.
unsafe impl Send for Process {}
// SAFETY: as above.
unsafe impl Sync for Process {}

/// Runs `body` on the `threads` rank-threads of this process, in a world of every process of
/// the job times `threads`; returns the result of this process's first rank.
pub(super) fn launch<R>(
    world: MpiRank,
    threads: usize,
    watch: &Watch,
    body: &(impl Fn() -> R + Sync),
) -> Result<R, Failure> {
    if !THREAD_MULTIPLE.load(Ordering::Relaxed) {
        refuse_without_thread_multiple(&world, threads);
    }
    // Collective the first time: every process starts it here, before any split.
    ClaimServer::of_process();
    let size = world.size * threads;
    let here = here(
        world.rank,
        threads,
        processes_on_this_node(world.all.comm()),
    );
    let observer = Observer::new(watch, size, true);
    // A rank here that waits too long asks the other processes, and answers them meanwhile.
    let mut waits = None;
    let threads = Arc::new(ThreadWorld::new(
        size,
        here,
        observer,
        watch.timeout,
        &mut |statuses| {
            waits = ProcessWaits::new(world.all.comm(), statuses.to_vec(), watch.timeout);
            waits.clone().map(|waits| waits as Arc<dyn OtherProcesses>)
        },
    ));
    let process = Arc::new(Process {
        threads,
        waits,
        workers: Post::new(Arc::new(world.all.comm().duplicate()), Ranks::Workers),
        all: world.all,
        size,
    });
    let other_rank = |rank| {
        run_rank(&process, rank, body);
    };
    let here = &process.threads.here;
    let first = here.ranks.start;
    let result = run_here(here, &other_rank, || run_rank(&process, first, body));
    let result = result.map_err(|message| Failure::new(first, None, &message))?;
    end_world(&process);
    Ok(result.expect("the first rank returns a result unless its world stopped"))
}

/// How many processes of the job run on this machine, this one included: found by the first
/// world, a collective call of every process, and the same for every later one.
fn processes_on_this_node(comm: &SimpleCommunicator) -> usize {
    static FOUND: OnceLock<usize> = OnceLock::new();
    *FOUND.get_or_init(|| comm.split_shared(0).size() as usize)
}

/// The world ranks that the `threads` rank-threads of process `process` run, one of
/// `processes_on_machine` processes of this machine.
fn here(process: usize, threads: usize, processes_on_machine: usize) -> Here {
    let ranks = process * threads..(process + 1) * threads;
    let workers = ranks.start.max(Ranks::Workers.first())..ranks.end;
    Here {
        ranks,
        workers,
        processes_on_machine,
    }
}

/// Runs `body` as world rank `rank`, one of this process's threads; a failure ends the job. A
/// stop that a journaled split took returns `None` on every rank here: the process ends the
/// world once they are all back ([`end_world`]).
fn run_rank<R>(process: &Arc<Process>, rank: usize, body: &impl Fn() -> R) -> Option<R> {
    let comm = Rc::new(HybridRank::new(Arc::clone(process), rank));
    waits::limit(process.waits.as_ref(), process.threads.waits.status(rank));
    let context = Rc::new(process.threads.context(rank, comm));
    match process.threads.run_rank(context, body) {
        Ok(result) => Some(result),
        Err(_) if stop_signal(process).is_some() => None,
        // The other ranks here stop where they wait, and report nothing more.
        Err(Ended::Failed) => abort_job(PANIC_EXIT_CODE),
        Err(Ended::Stopped) => end::wait_for_the_end(REPORT_TIME),
    }
}

/// Once every rank of this process has returned: a call that one made and another never did is
/// reported, and the other processes learn that these ranks have left; what was watched goes to
/// the main rank.
fn end_world(process: &Process) {
    let stopped = stop_signal(process);
    // Ranks that stopped between calls left none unmatched that matters.
    if stopped.is_none()
        && let Some((rank, message)) = process.threads.board.unmatched()
    {
        misuse_found(rank, message);
        abort_job(PANIC_EXIT_CODE);
    }
    let waits = &process.threads.waits;
    let ranks = process.threads.here.ranks.clone();
    let error = ranks.into_iter().find_map(|rank| waits.error_of(rank));
    if let Some(signal) = end::say_end(&process.all, Some(&process.workers), error, stopped) {
        super::end_stopped(process.all.comm(), signal);
    }
    let Some(observer) = &process.threads.observer else {
        return;
    };
    observer.end_world(|seen| {
        let seen = Box::new(seen) as Value;
        let call = end_call(process.threads.here.ranks.start);
        let all = collectives::gather(&process.all, &call, seen, Codec::of::<Seen>())?;
        Some(
            all.into_iter()
                .map(|seen| *seen.downcast().expect("seen"))
                .collect(),
        )
    });
}

/// The signal of the stop that ended this process's ranks, if a journaled split took one.
fn stop_signal(process: &Process) -> Option<i32> {
    process
        .threads
        .failure()
        .as_ref()
        .and_then(Failure::stop_signal)
}

/// How long a rank stopped by another's failure waits for it to end the job.
const REPORT_TIME: Duration = Duration::from_secs(3);

/// Ends the job, with one line from the main rank's process: rank-threads in several
/// processes need an MPI that lets threads call it at once.
fn refuse_without_thread_multiple(world: &MpiRank, threads: usize) -> ! {
    if world.rank == 0 {
        eprintln!(
            "dlp: DLP_THREADS={threads} under MPI runs {threads} rank-threads in each process, \
             which needs MPI_THREAD_MULTIPLE, and this MPI did not grant it (or the program \
             initialized MPI itself with less); unset DLP_THREADS to run one rank per process"
        );
        abort_job(crate::ConfigError::EXIT_CODE);
    }
    end::wait_for_the_end(REPORT_TIME)
}
