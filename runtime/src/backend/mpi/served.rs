//! The claim counters of dynamic splits across nodes, served by a thread of the main rank's
//! process.
//!
//! Across nodes, MPI's one-sided atomics complete only when the process that holds the window
//! enters MPI: MPICH 4.0 (ch4:ucx) does them in software on the target (pmodels/mpich#3513), so a
//! claim waited until the main rank finished the item it was computing, and the skew workload
//! took 1.4–1.5× its ideal time. Here the counters live in the main rank's process, and a thread
//! of that process (the server) answers every claim as it arrives: one round trip, whatever the
//! main rank is computing. The main rank itself claims straight from the counter in its memory.
//!
//! The server polls MPI (a blocking receive would busy-poll and take the main rank's core): it
//! spins while claims keep coming, then sleeps half the mean time between requests while a
//! counter is open, and long steps while none is. The other ranks send their next claim when
//! they start a chunk, so the reply is there when the chunk ends, and the server need not wake
//! often. Needs MPI initialized with `MPI_THREAD_MULTIPLE`.

use std::collections::HashMap;
use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mpi::Tag;
use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use crate::comm::{Counter, Step};

/// The world rank whose process runs the server.
const SERVER: i32 = 0;
const REQUEST: Tag = 1;
const REPLY: Tag = 2;

/// What a request asks for. A request is `[kind, counter, a, b, c, d, e]`; the server replies
/// `[value, end, 0]` (`end` only to `Advance`), or [`NOT_OPEN`], to every kind but `Bump`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u64)]
enum Kind {
    /// A new counter at 0; replies with its id.
    Open = 0,
    /// Adds `a`; replies with the value before.
    Add = 1,
    /// Sets the value to `b` if it is `a`; replies with the value found.
    Swap = 2,
    /// Advances by the [`Step`] `a..=e`; replies with the value before.
    Advance = 3,
    /// Adds `a`; no reply.
    Bump = 4,
    /// Nothing: replies once every earlier request of the same rank has been served.
    Flush = 5,
    /// The counter is done with; replies with its last value.
    Close = 6,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Open,
        Kind::Add,
        Kind::Swap,
        Kind::Advance,
        Kind::Bump,
        Kind::Flush,
        Kind::Close,
    ];

    fn of(word: u64) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| *kind as u64 == word)
    }

    /// Whether the server replies to a request of this kind.
    fn replied(word: u64) -> bool {
        Kind::of(word) != Some(Kind::Bump)
    }
}

type Request = [u64; 7];

fn request(kind: Kind, counter: u64, a: u64, b: u64) -> Request {
    [kind as u64, counter, a, b, 0, 0, 0]
}

fn advance_request(counter: u64, step: Step) -> Request {
    let words = [
        step.length,
        step.divisor,
        step.round_up.into(),
        step.min,
        step.max,
    ];
    let [a, b, c, d, e] = words.map(|word| word as u64);
    [Kind::Advance as u64, counter, a, b, c, d, e]
}

fn step_of([_, _, a, b, c, d, e]: Request) -> Step {
    Step {
        length: a as usize,
        divisor: b as usize,
        round_up: c != 0,
        min: d as usize,
        max: e as usize,
    }
}

/// Advances `counter` by `step`: the indices claimed, none once it has reached `step.length`.
fn advance(counter: &AtomicU64, step: Step) -> Range<u64> {
    let length = step.length as u64;
    if let Some(size) = step.fixed() {
        let start = counter.fetch_add(size as u64, Ordering::AcqRel);
        return start.min(length)..(start + size as u64).min(length);
    }
    let advanced = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |at| {
        let size = step.size(at as usize) as u64;
        (size > 0).then_some(at + size)
    });
    match advanced {
        Ok(before) => before..before + step.size(before as usize) as u64,
        Err(at) => at..at,
    }
}

/// Locks `mutex`; what it guards is left whole by every operation of this module, so a panic
/// elsewhere cannot have broken it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The counters the server holds, by id: what the main rank's process and the server share.
#[derive(Default)]
struct Counters {
    open: Mutex<HashMap<u64, Arc<AtomicU64>>>,
    next_id: AtomicU64,
    /// Set when the main rank's process opens a counter, to wake the server: the other ranks'
    /// first claims of a split follow at once.
    opened: Mutex<bool>,
    wake: Condvar,
}

impl Counters {
    fn open(&self) -> (u64, Arc<AtomicU64>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let counter = Arc::new(AtomicU64::new(0));
        self.lock().insert(id, Arc::clone(&counter));
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

    fn close(&self, id: u64) -> Option<u64> {
        let closed = self.lock().remove(&id)?;
        Some(closed.load(Ordering::Acquire))
    }

    fn get(&self, id: u64) -> Option<Arc<AtomicU64>> {
        self.lock().get(&id).cloned()
    }

    fn any_open(&self) -> bool {
        !self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<AtomicU64>>> {
        lock(&self.open)
    }

    /// What `request` asks of the counters, `[value, end]`; `None` for a counter that is not
    /// open, which only a bug in dlp can ask for.
    fn answer(&self, request: Request) -> Option<[u64; 2]> {
        let [kind, id, a, b, ..] = request;
        let counter = || self.get(id);
        let value = match Kind::of(kind)? {
            Kind::Open => self.open().0,
            Kind::Add | Kind::Bump => counter()?.fetch_add(a, Ordering::AcqRel),
            Kind::Swap => {
                let swapped =
                    counter()?.compare_exchange(a, b, Ordering::AcqRel, Ordering::Acquire);
                let (Ok(found) | Err(found)) = swapped;
                found
            }
            Kind::Advance => {
                let chunk = advance(&*counter()?, step_of(request));
                return Some([chunk.start, chunk.end]);
            }
            Kind::Flush => 0,
            Kind::Close => self.close(id)?,
        };
        Some([value, 0])
    }
}

/// The reply to a request for a counter that is not open.
const NOT_OPEN: Reply = [0, 0, 1];

type Reply = [u64; 3];

/// The server of this process: its communicator, and on the main rank's process its counters
/// and thread.
pub(crate) struct ClaimServer {
    /// A duplicate of `MPI_COMM_WORLD` for claims alone, shared with the server's thread.
    comm: Arc<ThreadedComm>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

static SERVER_OF_PROCESS: OnceLock<ClaimServer> = OnceLock::new();

/// A communicator that several threads of this process use at once.
struct ThreadedComm(SimpleCommunicator);

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
    fn ask(&self, request: Request) -> [u64; 2] {
        let server = self.comm.process_at_rank(SERVER);
        server.send_with_tag(&request[..], REQUEST);
        let mut reply: Reply = [0; 3];
        server.receive_into_with_tag(&mut reply[..], REPLY);
        answer_of(reply)
    }

    /// Sends `request` to the server, which does not reply.
    fn tell(&self, request: Request) {
        let server = self.comm.process_at_rank(SERVER);
        server.send_with_tag(&request[..], REQUEST);
    }
}

/// The answer in `reply`.
fn answer_of(reply: Reply) -> [u64; 2] {
    assert!(
        reply != NOT_OPEN,
        "dlp: internal error: a claim for a counter the main rank's process does not hold"
    );
    [reply[0], reply[1]]
}

/// Answers requests until `stop`.
fn serve(comm: &SimpleCommunicator, counters: &Counters, stop: &AtomicBool) {
    quick_timers();
    let mut last_request = Instant::now();
    let mut gap = OPEN_STEP_MAX;
    while !stop.load(Ordering::Acquire) {
        // A probe that finds nothing moves the transport on, and a request that had reached this
        // process is then found by the next: measured here (MPICH 4.0, ch4:ucx), probing twice per
        // wake-up cut the mean claim from 280 µs to 80 µs.
        let probe = || comm.any_process().immediate_matched_probe_with_tag(REQUEST);
        let Some((message, status)) = probe().or_else(probe) else {
            if pause(counters, last_request.elapsed(), gap) {
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

/// How long the server spins after a request, or after a split has started, before it sleeps:
/// claims come in bursts.
const SPIN: Duration = Duration::from_micros(50);
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
fn pause(counters: &Counters, idle: Duration, gap: Duration) -> bool {
    if idle < SPIN {
        // Not `yield_now`: under Linux's EEVDF scheduler a thread that yields to rank 0's busy
        // main thread waits for its whole slice, milliseconds (measured: the first claim of
        // each split then took 4 ms on average, 0.2 ms with this).
        std::hint::spin_loop();
        false
    } else if counters.any_open() {
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

/// A claim sent ahead: its reply arrives into `reply` while the rank works.
struct ClaimAhead {
    request: ffi::MPI_Request,
    /// Where MPI writes the reply: allocated in `send`, freed in `wait`, and leaked by a claim
    /// dropped without waiting (a panicking rank's), which MPI may still write to.
    reply: *mut Reply,
}

impl ClaimAhead {
    /// Posts the receive of the reply, then sends `request`: replies to one rank come back in
    /// the order of its requests, and receives are matched in the order they were posted.
    fn send(comm: &ThreadedComm, request: Request) -> ClaimAhead {
        let reply = Box::into_raw(Box::new([0u64; 3]));
        let mut handle = MaybeUninit::<ffi::MPI_Request>::uninit();
        // SAFETY: MPI writes at most 3 `u64`s into `reply`, an allocation of that size which
        // stays allocated until the receive is complete (`wait`), or forever; `comm` is a live
        // communicator, and MPI writes the request's handle into `handle`.
        let handle = unsafe {
            ffi::MPI_Irecv(
                reply.cast::<c_void>(),
                3,
                ffi::RSMPI_UINT64_T,
                SERVER,
                REPLY,
                comm.as_raw(),
                handle.as_mut_ptr(),
            );
            handle.assume_init()
        };
        comm.process_at_rank(SERVER)
            .send_with_tag(&request[..], REQUEST);
        ClaimAhead {
            request: handle,
            reply,
        }
    }

    /// Waits for the reply; its answer.
    fn wait(mut self) -> [u64; 2] {
        // SAFETY: `request` is the pending receive posted in `send`, completed once, here; once
        // it is complete MPI no longer writes to `reply`, which `send` allocated as a box and
        // nothing else frees.
        let reply = unsafe {
            ffi::MPI_Wait(&mut self.request, ffi::RSMPI_STATUS_IGNORE);
            Box::from_raw(self.reply)
        };
        answer_of(*reply)
    }
}

/// A claim counter of a dynamic split across nodes, held by the server.
pub(crate) struct ServedCounter {
    id: u64,
    /// The ranks that share the counter.
    group: Arc<SimpleCommunicator>,
    server: &'static ClaimServer,
    /// The counter itself, in the main rank's process.
    local: Option<Arc<AtomicU64>>,
    /// Elsewhere: the claim of the next chunk, sent while this one runs.
    ahead: Mutex<Option<ClaimAhead>>,
}

// SAFETY: the group's handle is a plain MPI handle, used only by the rank that claims from the
// counter, and MPI is initialized for calls from any thread (MPI_THREAD_MULTIPLE, which the claim
// server needs); the rest is atomics and `Arc`s of them.
unsafe impl Send for ServedCounter {}
// SAFETY: as above.
unsafe impl Sync for ServedCounter {}

impl ServedCounter {
    /// Opens a counter at 0; a collective call of every rank of `group`.
    pub(crate) fn new(group: &Arc<SimpleCommunicator>) -> Self {
        let server = ClaimServer::of_process();
        let in_server_process = server.comm.rank() == SERVER;
        let (mut id, mut local) = (0u64, None);
        if group.rank() == 0 {
            if in_server_process {
                let (opened, counter) = server.counters.open();
                (id, local) = (opened, Some(counter));
            } else {
                id = server.ask(request(Kind::Open, 0, 0, 0))[0];
            }
        }
        group.process_at_rank(0).broadcast_into(&mut id);
        if in_server_process && local.is_none() {
            local = server.counters.get(id);
        }
        ServedCounter {
            id,
            group: Arc::clone(group),
            server,
            local,
            ahead: Mutex::new(None),
        }
    }

    /// The chunk that the claim sent ahead got, if one was sent.
    fn chunk_ahead(&self) -> Option<Range<usize>> {
        let claim = lock(&self.ahead).take()?;
        let [start, end] = claim.wait();
        Some(start as usize..end as usize)
    }
}

impl Counter for ServedCounter {
    fn load(&self) -> usize {
        self.fetch_add(0)
    }

    fn fetch_add(&self, count: usize) -> usize {
        let before = match &self.local {
            Some(counter) => counter.fetch_add(count as u64, Ordering::AcqRel),
            None => self
                .server
                .ask(request(Kind::Add, self.id, count as u64, 0))[0],
        };
        before as usize
    }

    fn compare_exchange(&self, current: usize, new: usize) -> Result<usize, usize> {
        let (expected, replacement) = (current as u64, new as u64);
        let found = match &self.local {
            Some(counter) => {
                match counter.compare_exchange(
                    expected,
                    replacement,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(found) | Err(found) => found,
                }
            }
            None => self
                .server
                .ask(request(Kind::Swap, self.id, expected, replacement))[0],
        };
        if found == expected {
            Ok(found as usize)
        } else {
            Err(found as usize)
        }
    }

    /// Away from the main rank's process, each claim also sends the next one, whose reply
    /// arrives while this chunk runs: the rank then never waits for the server to wake.
    fn advance(&self, step: Step) -> Range<usize> {
        if let Some(counter) = &self.local {
            let chunk = advance(counter, step);
            return chunk.start as usize..chunk.end as usize;
        }
        let chunk = self.chunk_ahead().unwrap_or_else(|| {
            let [start, end] = self.server.ask(advance_request(self.id, step));
            start as usize..end as usize
        });
        if !chunk.is_empty() {
            let claim = ClaimAhead::send(&self.server.comm, advance_request(self.id, step));
            *lock(&self.ahead) = Some(claim);
        }
        chunk
    }

    fn add(&self, count: usize) {
        match &self.local {
            Some(counter) => _ = counter.fetch_add(count as u64, Ordering::AcqRel),
            None => self
                .server
                .tell(request(Kind::Bump, self.id, count as u64, 0)),
        }
    }

    /// The server takes each rank's requests in the order they were sent: once it has answered
    /// a rank's `Flush`, that rank's additions are counted.
    fn settle(&self) {
        if self.local.is_none() {
            self.server.ask(request(Kind::Flush, self.id, 0, 0));
        }
        self.group.barrier();
    }
}

impl Drop for ServedCounter {
    /// Dropping is collective, as freeing a window is: once every rank of the group is done
    /// with the counter, the first closes it.
    fn drop(&mut self) {
        // A rank that is unwinding from a panic is about to end the job with MPI_Abort: it
        // must not wait here for ranks that are still working.
        if std::thread::panicking() {
            return;
        }
        // A rank that left the split early has its claim ahead answered still: its chunk is not
        // processed, as the rest of its current chunk is not.
        let _ = self.chunk_ahead();
        self.group.barrier();
        if self.group.rank() != 0 {
            return;
        }
        if self.local.is_some() {
            self.server.counters.close(self.id);
        } else {
            self.server.ask(request(Kind::Close, self.id, 0, 0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_answers_each_kind_and_refuses_counters_it_does_not_hold() {
        let counters = Counters::default();
        let [id, _] = counters.answer(request(Kind::Open, 0, 0, 0)).unwrap();
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
        assert_eq!(value(request(Kind::Close, id, 0, 0)), Some(15));
        assert_eq!(value(request(Kind::Add, id, 1, 0)), None);
        assert_eq!(counters.answer([99, id, 0, 0, 0, 0, 0]), None);
    }

    #[test]
    fn an_advance_past_the_length_leaves_the_counter_alone() {
        let counter = AtomicU64::new(30);
        let step = Step {
            length: 30,
            divisor: 2,
            round_up: true,
            min: 1,
            max: 8,
        };
        assert_eq!(advance(&counter, step), 30..30);
        assert_eq!(counter.load(Ordering::Relaxed), 30);
    }
}
