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

mod protocol;
mod server;

use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use crate::comm::{Counter, Step};
use protocol::{
    Kind, REPLY, REQUEST, Reply, Request, SERVER, advance_request, answer_of, apply, request,
};
pub(crate) use server::ClaimServer;
use server::ThreadedComm;

/// Locks `mutex`; what it guards is left whole by every operation of this module, so a panic
/// elsewhere cannot have broken it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

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

impl ServedCounter {
    /// Does `request` to the counter: in memory in the main rank's process, through the server
    /// elsewhere; its answer, `[value, end]`.
    fn perform(&self, request: Request) -> [u64; 2] {
        match &self.local {
            Some(counter) => apply(counter, request),
            None => self.server.ask(request),
        }
    }
}

impl Counter for ServedCounter {
    fn load(&self) -> usize {
        self.fetch_add(0)
    }

    fn fetch_add(&self, count: usize) -> usize {
        self.perform(request(Kind::Add, self.id, count as u64, 0))[0] as usize
    }

    fn compare_exchange(&self, current: usize, new: usize) -> Result<usize, usize> {
        let swap = request(Kind::Swap, self.id, current as u64, new as u64);
        let found = self.perform(swap)[0] as usize;
        if found == current {
            Ok(found)
        } else {
            Err(found)
        }
    }

    /// Away from the main rank's process, each claim also sends the next one, whose reply
    /// arrives while this chunk runs: the rank then never waits for the server to wake.
    fn advance(&self, step: Step) -> Range<usize> {
        let claim = advance_request(self.id, step);
        let chunk = match self.chunk_ahead() {
            Some(chunk) => chunk,
            None => {
                let [start, end] = self.perform(claim);
                start as usize..end as usize
            }
        };
        if self.local.is_none() && !chunk.is_empty() {
            *lock(&self.ahead) = Some(ClaimAhead::send(&self.server.comm, claim));
        }
        chunk
    }

    fn add(&self, count: usize) {
        let bump = request(Kind::Bump, self.id, count as u64, 0);
        match &self.local {
            Some(counter) => _ = apply(counter, bump),
            None => self.server.tell(bump),
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
