//! The claim counter of a dynamic split over MPI: one `u64` in an MPI window on the main rank.
//!
//! No rank serves the counter: a rank claims its next chunk without the main rank's help, so
//! the main rank works like every other. (A manager rank that answers requests would idle, and
//! MPICH's blocking receive busy-polls, which takes its core from the work.)
//!
//! When every rank runs on one node, the window is shared memory (`MPI_Win_allocate_shared`)
//! and a claim is one hardware atomic instruction. Across nodes it is an ordinary window read and
//! advanced with MPI's one-sided atomics (`MPI_Fetch_and_op`, `MPI_Compare_and_swap`). Measured
//! on this project's machine (`mpiexec -n 2`, the skew workload of the benchmarks): one-sided
//! atomics on an ordinary window gave 1.42–1.50× the ideal makespan, because MPICH completes
//! them only when the main rank enters MPI, and it is busy working; the shared-memory counter
//! removes that wait.

use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::*;

use crate::comm::Counter;

/// The rank that holds the counter.
const HOLDER: i32 = 0;

pub(crate) struct RemoteCounter {
    window: ffi::MPI_Win,
    /// The communicator of the ranks that share the counter: held, so that it outlives the
    /// window whatever outlives the world (a split's iterator returned out of it).
    comm: Arc<SimpleCommunicator>,
    /// The counter itself, when it lies in memory this process shares with the holder.
    shared: Option<*const AtomicU64>,
}

impl RemoteCounter {
    /// Creates the counter, at 0; a collective call of every rank of `comm`, whose ranks are
    /// all on one node if `one_node`.
    pub(crate) fn new(comm: &Arc<SimpleCommunicator>, one_node: bool) -> Self {
        let holder = comm.rank() == HOLDER;
        let (window, base) = allocate(comm, holder, one_node);
        // SAFETY: `window` was just allocated over `comm`, with 8 bytes at `base` on the
        // holder; the holder sets the counter to 0 before the barrier below, and no rank touches
        // it before then.
        let shared = unsafe {
            if one_node {
                let counter = holder_address(window);
                if holder {
                    counter.write(0);
                }
                Some(counter.cast_const().cast::<AtomicU64>())
            } else {
                if holder {
                    base.write(0);
                }
                // Every rank holds a shared lock on the window for the split's lifetime: claims
                // are then single atomic operations, flushed at once.
                ffi::MPI_Win_lock_all(0, window);
                None
            }
        };
        comm.barrier();
        RemoteCounter {
            window,
            comm: Arc::clone(comm),
            shared,
        }
    }

    /// Adds `count` and returns the value before.
    fn add(&self, count: usize) -> usize {
        if let Some(counter) = self.shared {
            // SAFETY: the holder's 8 bytes of the shared window, which lives until drop.
            return unsafe { &*counter }.fetch_add(count as u64, Ordering::AcqRel) as usize;
        }
        let add = count as u64;
        let mut before: u64 = 0;
        // SAFETY: one u64 at displacement 0 of the holder's window, which lives until drop.
        unsafe {
            ffi::MPI_Fetch_and_op(
                (&add as *const u64).cast::<c_void>(),
                (&mut before as *mut u64).cast::<c_void>(),
                ffi::RSMPI_UINT64_T,
                HOLDER,
                0,
                ffi::RSMPI_SUM,
                self.window,
            );
            ffi::MPI_Win_flush(HOLDER, self.window);
        }
        before as usize
    }

    /// Sets the counter to `new` if it is `current`; returns the value found.
    fn swap_if(&self, current: usize, new: usize) -> Result<usize, usize> {
        let (expected, replacement) = (current as u64, new as u64);
        if let Some(counter) = self.shared {
            // SAFETY: as in `add`.
            return unsafe { &*counter }
                .compare_exchange(expected, replacement, Ordering::AcqRel, Ordering::Acquire)
                .map(|found| found as usize)
                .map_err(|found| found as usize);
        }
        let mut found: u64 = 0;
        // SAFETY: as in `add`.
        unsafe {
            ffi::MPI_Compare_and_swap(
                (&replacement as *const u64).cast::<c_void>(),
                (&expected as *const u64).cast::<c_void>(),
                (&mut found as *mut u64).cast::<c_void>(),
                ffi::RSMPI_UINT64_T,
                HOLDER,
                0,
                self.window,
            );
            ffi::MPI_Win_flush(HOLDER, self.window);
        }
        if found == expected {
            Ok(found as usize)
        } else {
            Err(found as usize)
        }
    }
}

impl Counter for RemoteCounter {
    fn load(&self) -> usize {
        self.add(0)
    }

    fn fetch_add(&self, count: usize) -> usize {
        self.add(count)
    }

    fn compare_exchange(&self, current: usize, new: usize) -> Result<usize, usize> {
        self.swap_if(current, new)
    }

    fn settle(&self) {
        self.comm.barrier();
    }
}

/// A window over `comm` with one `u64` on the holder and nothing elsewhere, in memory that the
/// ranks share where `one_node`; returns it with this rank's base address.
fn allocate(comm: &SimpleCommunicator, holder: bool, one_node: bool) -> (ffi::MPI_Win, *mut u64) {
    let size = if holder {
        std::mem::size_of::<u64>()
    } else {
        0
    };
    let mut base: *mut u64 = std::ptr::null_mut();
    let mut window = MaybeUninit::<ffi::MPI_Win>::uninit();
    let allocate = if one_node {
        ffi::MPI_Win_allocate_shared
    } else {
        ffi::MPI_Win_allocate
    };
    // SAFETY: a collective call of every rank of `comm`, which is valid; MPI allocates `size`
    // bytes and writes their address to `base` and the new window's handle to `window`.
    unsafe {
        allocate(
            size as ffi::MPI_Aint,
            std::mem::size_of::<u64>() as i32,
            ffi::RSMPI_INFO_NULL,
            comm.as_raw(),
            (&mut base as *mut *mut u64).cast::<c_void>(),
            window.as_mut_ptr(),
        );
        (window.assume_init(), base)
    }
}

/// Where the holder's `u64` of a shared-memory window lies in this process's memory.
///
/// # Safety
/// `window` is a live window made by `MPI_Win_allocate_shared`.
unsafe fn holder_address(window: ffi::MPI_Win) -> *mut u64 {
    let mut address: *mut u64 = std::ptr::null_mut();
    let (mut bytes, mut unit): (ffi::MPI_Aint, i32) = (0, 0);
    // SAFETY: `window` is a live shared-memory window (the caller's promise); MPI writes the
    // holder's segment size, unit and address into the three locals.
    unsafe {
        ffi::MPI_Win_shared_query(
            window,
            HOLDER,
            &mut bytes,
            &mut unit,
            (&mut address as *mut *mut u64).cast::<c_void>(),
        );
    }
    address
}

// SAFETY: the window and communicator handles are plain MPI handles, and MPI is initialized for
// calls from any thread (`Threading::Multiple`, or at least one at a time): a process of the MPI
// backend is one rank, and its splits run on that rank's thread. The shared counter is an atomic in
// memory that stays mapped until the window is freed in `drop`.
unsafe impl Send for RemoteCounter {}
// SAFETY: as above; `fetch_add` and `compare_exchange` on the shared counter are atomic.
unsafe impl Sync for RemoteCounter {}

impl Drop for RemoteCounter {
    fn drop(&mut self) {
        // Freeing a window is collective. A rank that is unwinding from a panic is about to end
        // the job with MPI_Abort: it must not wait here for ranks that are still working. A
        // rank that stopped well frees it, as do the others, which stop or end the split too.
        if std::thread::panicking() && !crate::failure::unwinding_well() {
            return;
        }
        // SAFETY: the window was created in `new` and is freed once, by every rank.
        unsafe {
            if self.shared.is_none() {
                ffi::MPI_Win_unlock_all(self.window);
            }
            ffi::MPI_Win_free(&mut self.window);
        }
    }
}
