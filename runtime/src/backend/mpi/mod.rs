//! The MPI backend: every rank is an MPI process, as started by `mpiexec` or `srun`.
//!
//! The world is a duplicate of `MPI_COMM_WORLD`, so that dlp's messages never meet the
//! program's own. Collectives are point-to-point records, each naming its call, so that ranks
//! whose calls differ find out where they read (`post`, `collectives`); between the ranks of
//! one node they travel through shared memory (`lanes`). Numbers travel as their bytes and
//! other values through postcard. The dynamic splits claim chunks from a counter in an MPI
//! window on the main rank (`counter`), so that every rank works and none waits on a manager.
//! Maps send their results to the main rank (`map`).

mod collectives;
mod counter;
mod end;
mod hybrid;
mod lanes;
mod map;
mod post;
mod record;
mod served;
mod stops;
mod waits;

use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant};

use mpi::collective::CommunicatorCollectives;
use mpi::topology::{Color, Communicator, SimpleCommunicator};

use crate::comm::{AbortFlag, Call, Codec, Comm, Counter, ResultChannel, Shared, Value};
use crate::config::Watch;
use crate::context::{self, RankContext};
use crate::failure::{Failure, run_guarded};
use crate::observe::{Observer, Seen};
use crate::ranks::Ranks;
use crate::status::RankStatus;
use counter::RemoteCounter;
use map::MpiResults;
use post::Post;
use served::{ClaimServer, ServedCounter};
use waits::ProcessWaits;

/// This process's rank in the world of MPI processes.
struct MpiRank {
    /// The post of every rank: a duplicate of `MPI_COMM_WORLD`, so that dlp's messages never
    /// meet the program's own, whose communicator the counters that outlive a split share.
    all: Post,
    /// The ranks but the main one, for the loops of `#[worker_only]` functions; `None` on the
    /// main rank.
    workers: Option<Post>,
    rank: usize,
    size: usize,
    /// How the ranks claim the chunks of dynamic splits.
    claims: ClaimsBy,
}

/// How the ranks of a world reach the counters of dynamic splits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ClaimsBy {
    /// Every rank on one node: a counter in memory they share, one atomic instruction a claim.
    SharedMemory,
    /// Across nodes: a request to the claim server of the main rank's process.
    Server,
    /// Across nodes, where MPI cannot serve claims from a thread of its own: MPI's one-sided
    /// atomics, which wait for the main rank to enter MPI.
    OneSided,
}

impl MpiRank {
    /// The post of `ranks`, on a rank that is one of them.
    fn group(&self, ranks: Ranks) -> &Post {
        match ranks {
            Ranks::All | Ranks::Main => &self.all,
            Ranks::Workers => self
                .workers
                .as_ref()
                .expect("only worker ranks run the loops of #[worker_only] functions"),
        }
    }
}

impl Comm for MpiRank {
    fn barrier(&self, call: &Call) {
        collectives::barrier(self.group(call.ranks), call);
    }

    fn gather(&self, call: &Call, value: Value, codec: Codec) -> Option<Vec<Value>> {
        collectives::gather(self.group(call.ranks), call, value, codec)
    }

    fn all_gather(&self, call: &Call, value: Value, codec: Codec) -> Vec<Value> {
        collectives::all_gather(self.group(call.ranks), call, value, codec)
    }

    fn broadcast(&self, call: &Call, value: Option<Value>, codec: Codec) -> Value {
        collectives::broadcast(self.group(call.ranks), call, value, codec)
    }

    fn scatter(&self, call: &Call, parts: Option<Vec<Value>>, codec: Codec) -> Value {
        collectives::scatter(self.group(call.ranks), call, parts, codec)
    }

    fn join(&self, call: &Call, make: &mut dyn FnMut() -> Shared) -> Shared {
        collectives::check_call(self.group(call.ranks), call);
        make()
    }

    fn counter(&self, ranks: Ranks) -> Box<dyn Counter> {
        let group = self.group(ranks).comm();
        match self.claims {
            ClaimsBy::SharedMemory => Box::new(RemoteCounter::new(group, true)),
            ClaimsBy::Server => Box::new(ServedCounter::new(group)),
            ClaimsBy::OneSided => Box::new(RemoteCounter::new(group, false)),
        }
    }

    fn results(&self, call: &Call) -> Box<dyn ResultChannel> {
        collectives::check_call(self.group(call.ranks), call);
        let senders = self.size - 1;
        Box::new(MpiResults::new(
            Arc::clone(self.all.comm()),
            call.number,
            senders,
        ))
    }

    fn hosts(&self, rank: usize) -> bool {
        rank == self.rank
    }

    fn abort_flag(&self) -> Option<Arc<AbortFlag>> {
        None // a failing rank ends the whole job with MPI_Abort
    }

    fn stop_requested(&self) -> Option<i32> {
        stops::requested()
    }
}

static INIT: Once = Once::new();
/// Whether MPI lets several threads of a process call it at once, as the claim server needs,
/// and dlp finalizes it, after stopping the server.
static THREAD_MULTIPLE: AtomicBool = AtomicBool::new(false);

/// Initializes MPI once per process, and finalizes it when the process exits.
fn initialize() {
    INIT.call_once(|| {
        let Some((universe, threading)) = mpi::initialize_with_threading(mpi::Threading::Multiple)
        else {
            // Initialized by the program itself, which finalizes it too, whenever it likes: no
            // claim server, whose thread could still be calling MPI then.
            return;
        };
        THREAD_MULTIPLE.store(threading == mpi::Threading::Multiple, Ordering::Relaxed);
        // The world lives as long as the process: finalize at exit, after `main` returns.
        std::mem::forget(universe);
        extern "C" fn finalize() {
            ClaimServer::stop_if_started();
            // SAFETY: MPI was initialized above and is finalized once, at exit, after the claim
            // server's thread, the only other thread that calls MPI, has ended.
            unsafe {
                mpi::ffi::MPI_Finalize();
            }
        }
        // SAFETY: registering a plain `extern "C" fn` with the C runtime.
        unsafe {
            libc::atexit(finalize);
        }
    });
}

/// The rank-threads of each process in the current world (`DLP_THREADS`), for naming ranks.
static THREADS_PER_PROCESS: AtomicUsize = AtomicUsize::new(1);

/// The world rank of the first rank of `group` in the process at `index` of the group's
/// communicator.
fn first_rank_of(group: Ranks, index: usize) -> usize {
    match THREADS_PER_PROCESS.load(Ordering::Relaxed) {
        // The worker ranks' communicator leaves the main rank's process out.
        1 => group.first() + index,
        threads => (index * threads).max(group.first()),
    }
}

/// Runs `body` on this process's ranks, `threads` of them (`DLP_THREADS`), and returns the
/// result of the first; a panic is reported with its rank and item and ends the whole job
/// (`MPI_Abort`), so that no rank is left waiting. What `watch` asks for is sent to the main
/// rank when the world ends.
pub(crate) fn launch<R>(
    threads: usize,
    watch: &Watch,
    body: &(impl Fn() -> R + Sync),
) -> Result<R, Failure> {
    initialize();
    let world = world();
    THREADS_PER_PROCESS.store(threads, Ordering::Relaxed);
    match (world.size, threads) {
        (1, 1) => super::solo::launch(watch, body),
        (1, _) => super::threads::launch(threads, watch, body),
        (_, 1) => launch_processes(Rc::new(world), watch, body),
        _ => hybrid::launch(world, threads, watch, body),
    }
}

/// Runs `body` as this process's rank, one rank a process.
fn launch_processes<R>(
    world: Rc<MpiRank>,
    watch: &Watch,
    body: &impl Fn() -> R,
) -> Result<R, Failure> {
    let observer = Observer::new(watch, world.size, true);
    let comm: Rc<dyn Comm> = Rc::clone(&world) as Rc<dyn Comm>;
    let status = Arc::new(RankStatus::new(world.rank, watch.timeout.is_some()));
    let process_waits =
        ProcessWaits::new(world.all.comm(), vec![Arc::clone(&status)], watch.timeout);
    waits::limit(process_waits.as_ref(), &status);
    let entered = context::enter(RankContext::new(
        world.rank,
        world.size,
        comm,
        observer.clone(),
        Arc::clone(&status),
    ));
    let result = match run_guarded(world.rank, world.size, body) {
        Ok(result) => Ok(result),
        Err(Some(failure)) => match failure.stop_signal() {
            Some(signal) => Err(signal),
            None => abort_job(PANIC_EXIT_CODE),
        },
        Err(None) => unreachable!("an MPI rank is stopped by MPI_Abort, never by unwinding"),
    };
    drop(entered);
    status.left();
    // The world's last call: a rank still waiting in a collective learns that this one has
    // left, instead of waiting forever.
    let workers = world.workers.as_ref();
    let stopped = result.as_ref().err().copied();
    if let Some(signal) = end::say_end(&world.all, workers, status.error(), stopped) {
        end_stopped(world.all.comm(), signal);
    }
    let result = result.unwrap_or_else(|_| unreachable!("a stop ends the job in say_end"));
    if let Some(observer) = observer {
        observer.end_world(|seen| {
            let seen = Box::new(seen) as Value;
            let all =
                collectives::gather(&world.all, &end_call(world.rank), seen, Codec::of::<Seen>())?;
            Some(
                all.into_iter()
                    .map(|seen| *seen.downcast().expect("seen"))
                    .collect(),
            )
        });
    }
    Ok(result)
}

/// The call that brings what every process saw to the main rank, once the world has ended.
fn end_call(rank: usize) -> Call {
    Call {
        ranks: Ranks::All,
        number: post::AFTER_THE_END + 1,
        operation: "the end of the world",
        rank,
        length: None,
        site: std::panic::Location::caller(),
        order: None,
    }
}

/// Ends this process of a job whose ranks stopped well on `signal`, every one of them done with
/// its journal: the main rank's process says how far the job got, the others wait until it has,
/// then each exits with the status of a stop on `signal`.
pub(super) fn end_stopped(world: &SimpleCommunicator, signal: i32) -> ! {
    if world.rank() == 0 {
        eprintln!("{}", crate::journal::stopped_line(signal));
    }
    world.barrier();
    // Through MPI_Finalize (at exit): mpiexec kills the processes that are still running when
    // one ends without it.
    std::process::exit(crate::stop::exit_code(signal))
}

/// The exit code of a job that a rank's panic ended: the code of a panicking Rust program.
const PANIC_EXIT_CODE: i32 = 101;

/// Ends every process of the job, after this rank's failure was reported, so that dlp's report
/// is the last thing the job prints. Every process is gone within moments; none runs MPI's
/// teardown.
///
/// `MPI_Abort` of `MPI_COMM_WORLD`, not of dlp's duplicate of it: MPICH aborts the world through
/// its launcher, which kills every process, but another communicator by a message to its ranks,
/// whose handler calls `exit` inside MPI's progress engine; there the `atexit` hook's
/// `MPI_Finalize` trips a UCX assertion (with a backtrace), and the signal it raises brings
/// mpiexec's "BAD TERMINATION" banner. `MPI_Abort` also prints a line of its own,
/// `Abort(101) on node R ...`: this process's output is flushed, then silenced, first. And
/// since the launcher stops forwarding output when it kills the job, the abort waits until the
/// launcher has read what this process wrote.
pub(super) fn abort_job(code: i32) -> ! {
    flush_output();
    wait_until_output_is_read();
    silence_output();
    SimpleCommunicator::world().abort(code)
}

/// Writes out what this process has buffered for stdout and stderr, Rust's and C's.
fn flush_output() {
    // Nothing useful is left to do with an error: the job is ending either way.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `fflush(NULL)` flushes every output stream of C's stdio, each under its own lock;
    // it reads and writes no memory of this program but the streams' buffers.
    unsafe {
        libc::fflush(std::ptr::null_mut());
    }
}

/// The longest an aborting process waits for the launcher to read its output: long enough for
/// a loaded machine, short enough that a stuck reader cannot keep the job alive.
const OUTPUT_READ_LIMIT: Duration = Duration::from_secs(2);

/// Waits, for at most [`OUTPUT_READ_LIMIT`], until the pipes of this process's stdout and stderr
/// (to mpiexec's proxy) hold nothing unread.
fn wait_until_output_is_read() {
    let deadline = Instant::now() + OUTPUT_READ_LIMIT;
    let unread = || unread_in_pipe(libc::STDOUT_FILENO) + unread_in_pipe(libc::STDERR_FILENO);
    while unread() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// How many bytes written to `fd` its reader has not read yet, if `fd` is a pipe; 0 otherwise
/// (a file or a terminal has no reader to wait for).
fn unread_in_pipe(fd: libc::c_int) -> usize {
    // SAFETY: `libc::stat` is plain data, for which all zeroes is a valid value.
    let mut status: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fstat` writes one `stat` through the pointer, which points at `status`.
    if unsafe { libc::fstat(fd, &mut status) } != 0
        || status.st_mode & libc::S_IFMT != libc::S_IFIFO
    {
        return 0;
    }
    let mut unread: libc::c_int = 0;
    // SAFETY: on a pipe, `FIONREAD` writes one `c_int` through the pointer, which points at
    // `unread`.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut unread) } != 0 {
        return 0;
    }
    usize::try_from(unread).unwrap_or(0)
}

/// Points this process's stdout and stderr at `/dev/null`, for a process about to abort.
fn silence_output() {
    // SAFETY: `open` reads a NUL-terminated path (a C string literal) and returns a new file
    // descriptor, or -1.
    let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY) };
    if null < 0 {
        return; // MPI_Abort's own line shows: a noisier end, not a wrong one
    }
    // SAFETY: `dup2` only makes descriptors 1 and 2 refer to `/dev/null`; they stay open, so
    // every handle that writes to them, Rust's or C's, stays valid. `null` stays open too: the
    // process ends in a moment.
    unsafe {
        libc::dup2(null, libc::STDOUT_FILENO);
        libc::dup2(null, libc::STDERR_FILENO);
    }
}

/// This process's rank in a new world of every process of the job.
fn world() -> MpiRank {
    let comm = SimpleCommunicator::world().duplicate();
    stops::open(&comm);
    let rank = comm.rank();
    let workers = comm.split_by_color(if rank == 0 {
        Color::undefined()
    } else {
        Color::with_value(1)
    });
    // Every process starts its clock after this, once the others arrived, so that the
    // timelines of all ranks share one origin.
    let claims = claims_by(&comm);
    comm.barrier();
    MpiRank {
        rank: rank as usize,
        size: comm.size() as usize,
        all: Post::new(Arc::new(comm), Ranks::All),
        workers: workers.map(|workers| Post::new(Arc::new(workers), Ranks::Workers)),
        claims,
    }
}

/// How this job's ranks claim chunks: found by the first world, a collective call of every
/// process, and the same for every later one (processes do not move between nodes).
fn claims_by(comm: &SimpleCommunicator) -> ClaimsBy {
    static FOUND: OnceLock<ClaimsBy> = OnceLock::new();
    *FOUND.get_or_init(|| {
        if comm.split_shared(0).size() == comm.size() {
            ClaimsBy::SharedMemory
        } else if THREAD_MULTIPLE.load(Ordering::Relaxed) {
            ClaimServer::of_process();
            ClaimsBy::Server
        } else {
            ClaimsBy::OneSided
        }
    })
}
