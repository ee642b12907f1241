//! The claim server: the counters it holds, and the thread of the main rank's process that
//! answers requests, polling MPI.

use std::collections::HashMap;
use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use super::lock;
use super::protocol::{Kind, NOT_OPEN, REPLY, REQUEST, Reply, Request, SERVER, answer_of, apply};

/// The counters the server holds, by id: what the main rank's process and the server share.
#[derive(Default)]
pub(super) struct Counters {
    open: Mutex<HashMap<u64, Open>>,
    next_id: AtomicU64,
    /// Set when the main rank's process opens a counter, to wake the server: the other ranks'
    /// first claims of a split follow at once.
    opened: Mutex<bool>,
    wake: Condvar,
}

/// An open counter: its value, and how many of the processes that share it have settled and
/// are still to close it.
struct Open {
    value: Arc<AtomicU64>,
    settled: u64,
    closing: u64,
}

impl Counters {
    /// A new counter at 0 that `processes` processes share, each of which closes it.
    pub(super) fn open(&self, processes: u64) -> (u64, Arc<AtomicU64>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let counter = Arc::new(AtomicU64::new(0));
        let open = Open {
            value: Arc::clone(&counter),
            settled: 0,
            closing: processes,
        };
        self.lock().insert(id, open);
        *lock(&self.opened) = true;
        self.wake.notify_one();
        (id, counter)
    }

    /// Sleeps for `duration`, or until a counter is opened; whether one was.
    fn sleep(&self, duration: Duration) -> bool {
        let mut opened = lock(&self.opened);
        if !*opened {
            opened = self
                .wake
                .wait_timeout(opened, duration)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        std::mem::take(&mut *opened)
    }

    /// One of the processes that share counter `id` is done with it; the last forgets it.
    pub(super) fn close(&self, id: u64) -> Option<()> {
        let mut open = self.lock();
        let counter = open.get_mut(&id)?;
        counter.closing -= 1;
        if counter.closing == 0 {
            open.remove(&id);
        }
        Some(())
    }

    /// Counts one more process as settled if `arrive`; how many have.
    pub(super) fn settle(&self, id: u64, arrive: bool) -> Option<u64> {
        let mut open = self.lock();
        let counter = open.get_mut(&id)?;
        counter.settled += u64::from(arrive);
        Some(counter.settled)
    }

    pub(super) fn get(&self, id: u64) -> Option<Arc<AtomicU64>> {
        self.lock().get(&id).map(|open| Arc::clone(&open.value))
    }

    fn any_open(&self) -> bool {
        !self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Open>> {
        lock(&self.open)
    }

    /// What `request` asks of the counters, `[value, end]`; `None` for a counter that is not
    /// open, which only a bug in dlp can ask for.
    fn answer(&self, request: Request) -> Option<[u64; 2]> {
        let [kind, id, ..] = request;
        let [_, _, a, ..] = request;
        match Kind::of(kind)? {
            Kind::Open => Some([self.open(a).0, 0]),
            Kind::Close => self.close(id).map(|()| [0, 0]),
            Kind::Settle => Some([self.settle(id, a == 1)?, 0]),
            Kind::Add | Kind::Bump | Kind::Swap | Kind::Advance => {
                Some(apply(&*self.get(id)?, request))
            }
        }
    }
}

/// The server of this process: its communicator, and on the main rank's process its counters
/// and thread.
pub(crate) struct ClaimServer {
    /// A duplicate of `MPI_COMM_WORLD` for claims alone, shared with the server's thread.
    pub(super) comm: Arc<ThreadedComm>,
    pub(super) counters: Arc<Counters>,
    /// Held while a request that is replied to is sent and its reply's receive posted: the
    /// threads of a process then get their replies, which come back in the order of the
    /// requests, in the order of their receives.
    sending: Mutex<()>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

static SERVER_OF_PROCESS: OnceLock<ClaimServer> = OnceLock::new();

/// A communicator that several threads of this process use at once.
pub(super) struct ThreadedComm(SimpleCommunicator);

impl std::ops::Deref for ThreadedComm {
    type Target = SimpleCommunicator;

    fn deref(&self) -> &SimpleCommunicator {
        &self.0
    }
}

// SAFETY: a claim server exists only where MPI was initialized with MPI_THREAD_MULTIPLE (see
// `claims_by` of the backend), under which any thread may call MPI at any time, on any
// communicator. The handle itself is written once, when the communicator is made, and never
// freed: the server lives as long as the process.
unsafe impl Send for ThreadedComm {}
// SAFETY: as above.
unsafe impl Sync for ThreadedComm {}

impl ClaimServer {
    /// The server of this process, started by the first world that spans several nodes: a
    /// collective call of every process of the job the first time.
    pub(crate) fn of_process() -> &'static ClaimServer {
        SERVER_OF_PROCESS.get_or_init(|| {
            let comm = Arc::new(ThreadedComm(SimpleCommunicator::world().duplicate()));
            let counters = Arc::new(Counters::default());
            let stop = Arc::new(AtomicBool::new(false));
            let thread = (comm.rank() == SERVER).then(|| {
                let (comm, counters, stop) =
                    (Arc::clone(&comm), Arc::clone(&counters), Arc::clone(&stop));
                std::thread::Builder::new()
                    .name("dlp-claims".into())
                    .spawn(move || serve(&comm, &counters, &stop))
                    .expect("the claim server's thread starts")
            });
            ClaimServer {
                comm,
                counters,
                sending: Mutex::new(()),
                stop,
                thread: Mutex::new(thread),
            }
        })
    }

    /// Stops the server's thread, if this process runs one; before MPI is finalized.
    pub(crate) fn stop_if_started() {
        let Some(server) = SERVER_OF_PROCESS.get() else {
            return;
        };
        server.stop.store(true, Ordering::Release);
        let thread = server.thread.lock().map(|mut thread| thread.take());
        if let Ok(Some(thread)) = thread {
            let _ = thread.join(); // a server that panicked has already reported it
        }
    }

    /// Sends `request` to the server and returns its answer, `[value, end]`.
    pub(super) fn ask(&self, request: Request) -> [u64; 2] {
        self.post(request).wait()
    }

    /// Sends `request` to the server; its reply arrives while the caller goes on.
    pub(super) fn post(&self, request: Request) -> Pending {
        let reply = Box::into_raw(Box::new([0u64; 3]));
        let mut handle = MaybeUninit::<ffi::MPI_Request>::uninit();
        let _sending = lock(&self.sending);
        // SAFETY: MPI writes at most 3 `u64`s into `reply`, an allocation of that size which
        // stays allocated until the receive is complete (`Pending::wait`), or forever; the
        // communicator is live, and MPI writes the request's handle into `handle`.
        let handle = unsafe {
            ffi::MPI_Irecv(
                reply.cast::<c_void>(),
                3,
                ffi::RSMPI_UINT64_T,
                SERVER,
                REPLY,
                self.comm.as_raw(),
                handle.as_mut_ptr(),
            );
            handle.assume_init()
        };
        self.tell(request);
        Pending {
            request: handle,
            reply,
        }
    }

    /// Sends `request` to the server, which does not reply.
    pub(super) fn tell(&self, request: Request) {
        let server = self.comm.process_at_rank(SERVER);
        server.send_with_tag(&request[..], REQUEST);
    }
}

/// A request sent to the server, whose reply is on its way.
pub(super) struct Pending {
    request: ffi::MPI_Request,
    /// Where MPI writes the reply: allocated in `post`, freed in `wait`, and leaked by a
    /// request dropped without waiting (a panicking rank's), which MPI may still write to.
    reply: *mut Reply,
}

// SAFETY: the request handle and the reply's allocation belong to this value alone, and MPI is
// initialized for calls from any thread (a claim server needs MPI_THREAD_MULTIPLE).
unsafe impl Send for Pending {}

impl Pending {
    /// Waits for the reply; its answer.
    pub(super) fn wait(mut self) -> [u64; 2] {
        // SAFETY: `request` is the pending receive posted in `post`, completed once, here; once
        // it is complete MPI no longer writes to `reply`, which `post` allocated as a box and
        // nothing else frees.
        let reply = unsafe {
            ffi::MPI_Wait(&mut self.request, ffi::RSMPI_STATUS_IGNORE);
            Box::from_raw(self.reply)
        };
        answer_of(*reply)
    }
}

/// Answers requests until `stop`.
fn serve(comm: &SimpleCommunicator, counters: &Counters, stop: &AtomicBool) {
    quick_timers();
    let mut last_request = Instant::now();
    let mut gap = OPEN_STEP_MAX;
    let mut stopped = None;
    while !done_serving(counters, stop, &mut stopped) {
        // A probe that finds nothing moves the transport on, and a request that had reached this
        // process is then found by the next: measured here (MPICH 4.0, ch4:ucx), probing twice per
        // wake-up cut the mean claim from 280 µs to 80 µs.
        let probe = || comm.any_process().immediate_matched_probe_with_tag(REQUEST);
        let Some((message, status)) = probe().or_else(probe) else {
            if pause(counters, gap) {
                // A split has started: its claims come soon, and often at first.
                (last_request, gap) = (Instant::now(), OPEN_STEP_MIN);
            }
            continue;
        };
        let mut request: Request = [0; 7];
        message.matched_receive_into(&mut request[..]);
        let answer = counters.answer(request);
        if Kind::replied(request[0]) {
            let reply = answer.map_or(NOT_OPEN, |[value, end]| [value, end, 0]);
            comm.process_at_rank(status.source_rank())
                .send_with_tag(&reply[..], REPLY);
        }
        // The mean time between requests, its recent ones weighing most.
        gap = (gap * 7 + last_request.elapsed()) / 8;
        last_request = Instant::now();
    }
}

/// Whether to stop serving: once asked to, when every counter is closed or after
/// [`LAST_CLOSES`]. A process closes a counter without waiting for a reply, and its `Close` may
/// not have arrived when the main rank's process is done: MPI then finds it unreceived.
fn done_serving(counters: &Counters, stop: &AtomicBool, stopped: &mut Option<Instant>) -> bool {
    if !stop.load(Ordering::Acquire) {
        return false;
    }
    let since = *stopped.get_or_insert_with(Instant::now);
    !counters.any_open() || since.elapsed() > LAST_CLOSES
}

/// The longest the server waits, once the main rank's process is done, for the other processes
/// to close their counters: they have left their worlds by then, and their `Close` is on its way.
const LAST_CLOSES: Duration = Duration::from_secs(1);

/// The server's sleep between polls while a counter is open is half the mean time between
/// requests, within these bounds. A rank sends its next claim when it starts a chunk and needs
/// the reply when the chunk ends, about that long after: the reply is there in time, and the
/// server wakes twice per claim, not every few microseconds, which would take rank 0's core.
/// Measured here (skew workload, `MPIR_CVAR_NOLOCAL=1`, claims sent ahead): polling every
/// 100 µs gave 1.07× the ideal, every 300 µs 1.03–1.05×, every 1 ms 1.02–1.03×, every 3 ms
/// 1.08–1.12× (replies then come after 1 ms items have ended).
const OPEN_STEP_MIN: Duration = Duration::from_micros(20);
const OPEN_STEP_MAX: Duration = Duration::from_millis(1);
/// ... and while none is: a split's `Open` waits this long at most.
const IDLE_STEP: Duration = Duration::from_millis(2);

/// Waits before the next poll; whether a counter was opened meanwhile.
///
/// Always a sleep. Not `yield_now`: under Linux's EEVDF scheduler a thread that yields to rank
/// 0's busy main thread waits for its whole slice, milliseconds (measured: the first claim of
/// each split then took 4 ms on average). Nor a spin after each request: spinning takes a core
/// from the ranks, which use every one (measured, 200 splits of 1 ms of work in a row across
/// emulated nodes: 1.37–1.40× the serial time with 50 µs of spinning, 0.84–0.87× without).
fn pause(counters: &Counters, gap: Duration) -> bool {
    if counters.any_open() {
        counters.sleep((gap / 2).clamp(OPEN_STEP_MIN, OPEN_STEP_MAX))
    } else {
        counters.sleep(IDLE_STEP)
    }
}

/// Lets this thread's short sleeps end on time, and its wake-ups run at once on a core that the
/// main rank keeps busy.
///
/// Linux rounds a sleep up by the thread's timer slack, 50 µs by default, more than the
/// server's shortest sleep ([`OPEN_STEP_MIN`]). And its EEVDF scheduler (Linux 6.6 on) lets a thread that wakes wait until the
/// running one has used its time slice, 3 ms by default: measured here, claims then took
/// 3.5 ms each and the skew workload 1.42× its ideal time. A thread that asks for a short slice
/// (Linux 6.12 on, no privilege needed) runs at once when it wakes; older kernels ignore the
/// request, and their scheduler (CFS) runs a thread that wakes from sleep at once anyway.
fn quick_timers() {
    const SLACK_NANOS: libc::c_ulong = 1_000;
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and changes only this thread's timer
    // slack; it reads and writes no memory.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, SLACK_NANOS);
    }
    /// `struct sched_attr` of `sched_setattr(2)`, up to the fields this thread sets.
    #[repr(C)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        /// For SCHED_OTHER: the time slice, in nanoseconds.
        runtime: u64,
        deadline: u64,
        period: u64,
    }
    let attributes = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: libc::SCHED_OTHER as u32,
        flags: 0,
        nice: 0,
        priority: 0,
        runtime: SLICE.as_nanos() as u64,
        deadline: 0,
        period: 0,
    };
    // SAFETY: sched_setattr reads `size` bytes of a `struct sched_attr` through the pointer,
    // which points at `attributes`, of that size; pid 0 is the calling thread. A kernel that
    // cannot set the slice returns an error, and the thread keeps the default.
    unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0,
            &attributes as *const SchedAttr,
            0,
        );
    }
}

/// The server's time slice: a poll takes a few microseconds.
const SLICE: Duration = Duration::from_micros(100);

#[cfg(test)]
mod tests {
    use super::super::protocol::{advance_request, request};
    use super::*;
    use crate::comm::Step;

    #[test]
    fn the_server_answers_each_kind_and_refuses_counters_it_does_not_hold() {
        let counters = Counters::default();
        let [id, _] = counters.answer(request(Kind::Open, 0, 2, 0)).unwrap();
        let value = |request| counters.answer(request).map(|[value, _]| value);
        assert_eq!(value(request(Kind::Add, id, 5, 0)), Some(0));
        assert_eq!(value(request(Kind::Bump, id, 1, 0)), Some(5));
        assert_eq!(value(request(Kind::Swap, id, 0, 9)), Some(6));
        assert_eq!(value(request(Kind::Swap, id, 6, 10)), Some(6));
        let step = Step {
            length: 30,
            divisor: 4,
            round_up: false,
            min: 1,
            max: 100,
        };
        // 20 left: a quarter of them.
        assert_eq!(counters.answer(advance_request(id, step)), Some([10, 15]));
        assert_eq!(value(request(Kind::Add, id, 0, 0)), Some(15));
        assert_eq!(value(request(Kind::Settle, id, 1, 0)), Some(1));
        assert_eq!(value(request(Kind::Settle, id, 0, 0)), Some(1));
        // Open until both processes that share it have closed it.
        assert_eq!(value(request(Kind::Close, id, 0, 0)), Some(0));
        assert_eq!(value(request(Kind::Add, id, 0, 0)), Some(15));
        assert_eq!(value(request(Kind::Close, id, 0, 0)), Some(0));
        assert_eq!(value(request(Kind::Add, id, 1, 0)), None);
        assert_eq!(counters.answer([99, id, 0, 0, 0, 0, 0]), None);
    }
}
