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
//! The server polls MPI (a blocking receive would busy-poll and take the main rank's core),
//! and sleeps in between: half the mean time between requests while a counter is open, long
//! steps while none is (it is woken when the main rank's process opens one). The other ranks send their next claim when
//! they start a chunk, so the reply is there when the chunk ends, and the server need not wake
//! often. Needs MPI initialized with `MPI_THREAD_MULTIPLE`.

mod protocol;
mod server;

use std::ops::Range;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use crate::comm::{Counter, Step};
use protocol::{Kind, Request, SERVER, advance_request, apply, request};
pub(crate) use server::ClaimServer;
use server::Pending;

/// Locks `mutex`; what it guards is left whole by every operation of this module, so a panic
/// elsewhere cannot have broken it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A claim counter of a dynamic split across nodes, held by the server.
///
/// Nothing about it is collective once it is open, so that any thread of a process may be the
/// last to let it go (a process may run several ranks, as threads).
pub(crate) struct ServedCounter {
    id: u64,
    /// The processes that share the counter.
    processes: u64,
    server: &'static ClaimServer,
    /// The counter itself, in the main rank's process.
    local: Option<Arc<AtomicU64>>,
    /// Elsewhere: the claim of its next chunk that each rank-thread of this process sent while
    /// it runs a chunk. Each rank's own: a rank's chunks come in increasing order, as its
    /// iterator moves only forward.
    ahead: Mutex<Vec<(ThreadId, Pending)>>,
}

impl ServedCounter {
    /// Opens a counter at 0; a collective call of every process of `group`.
    pub(crate) fn new(group: &SimpleCommunicator) -> Self {
        let server = ClaimServer::of_process();
        let in_server_process = server.comm.rank() == SERVER;
        let processes = group.size() as u64;
        let (mut id, mut local) = (0u64, None);
        if group.rank() == 0 {
            if in_server_process {
                let (opened, counter) = server.counters.open(processes);
                (id, local) = (opened, Some(counter));
            } else {
                id = server.ask(request(Kind::Open, 0, processes, 0))[0];
            }
        }
        group.process_at_rank(0).broadcast_into(&mut id);
        if in_server_process && local.is_none() {
            local = server.counters.get(id);
        }
        ServedCounter {
            id,
            processes,
            server,
            local,
            ahead: Mutex::new(Vec::new()),
        }
    }

    /// The chunk that the calling rank's claim sent ahead got, if it sent one.
    fn chunk_ahead(&self) -> Option<Range<usize>> {
        let me = std::thread::current().id();
        let claim = {
            let mut ahead = lock(&self.ahead);
            let at = ahead.iter().position(|(rank, _)| *rank == me)?;
            ahead.swap_remove(at).1
        };
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
            let next = self.server.post(claim);
            lock(&self.ahead).push((std::thread::current().id(), next));
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

    /// The server takes each process's requests in the order they were sent: once it has
    /// answered a process's `Settle`, that process's additions are counted. Then waits until
    /// every process has settled, asking now and then (rarely: once per split).
    fn settle(&self) {
        let settle = |arrive| match &self.local {
            Some(_) => self.server.counters.settle(self.id, arrive),
            None => Some(
                self.server
                    .ask(request(Kind::Settle, self.id, arrive.into(), 0))[0],
            ),
        };
        let mut settled = settle(true);
        while settled.is_some_and(|settled| settled < self.processes) {
            std::thread::sleep(SETTLE_POLL);
            settled = settle(false);
        }
    }
}

/// How often a settling process asks whether the others have settled.
const SETTLE_POLL: Duration = Duration::from_micros(200);

impl Drop for ServedCounter {
    /// Each process closes the counter once its ranks are done with it; the server forgets it
    /// once every process has.
    fn drop(&mut self) {
        // A rank that is unwinding from a panic is about to end the job with MPI_Abort: it
        // must not wait here for replies.
        if std::thread::panicking() {
            return;
        }
        // A rank that left the split early has its claims ahead answered still: their chunks
        // are not processed, as the rest of its current chunk is not.
        for (_, claim) in lock(&self.ahead).drain(..) {
            claim.wait();
        }
        match &self.local {
            Some(_) => _ = self.server.counters.close(self.id),
            None => self.server.tell(request(Kind::Close, self.id, 0, 0)),
        }
    }
}
