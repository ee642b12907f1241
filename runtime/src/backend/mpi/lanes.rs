//! Lanes: the records between the ranks of one node, through memory they share. Each rank has,
//! in an MPI shared-memory window, one ring of slots for every other rank of the communicator to
//! write its records into, in order. A record is one copy into a slot and one counter moved on;
//! the reader finds it with one load, and no MPI call is made on either side: MPI's own
//! point-to-point messages cost more than that on one node.
//!
//! A record too large for a slot goes by MPI; a marker in its slot keeps its place among the
//! others, so a rank still reads each other rank's records in the order they were sent. A rank
//! whose ring to another is full waits for room, and takes in what arrives for it meanwhile, so
//! that two ranks that send each other more than a ring holds both go on. (Keeping the record
//! back instead, to push it at the rank's next call, would leave its receiver waiting while
//! the sender is in its own code, or in a call of MPI's own.)
//!
//! The rings belong to the process, not to one world: later worlds over the same ranks use them
//! again (every record of a world is read before it ends), and they are never freed, since
//! freeing a window is a collective call that a process still holding a world's post (in a
//! split's iterator returned out of it) would never make.

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::mem::{MaybeUninit, size_of};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use mpi::collective::CommunicatorCollectives;
use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::{Communicator, SimpleCommunicator};

use crate::ranks::Ranks;

/// The bytes of a slot: its length word, then the record. Most records of small values (the
/// eight words, the operation's and the file's names, the value) take about 100.
const SLOT: usize = 256;
/// The length word of a slot: a `u32`, padded to keep the record aligned.
const LENGTH_BYTES: usize = 8;
/// How many records a rank may have under way to another before it keeps them back.
const SLOTS: usize = 32;
/// The length that marks a record sent by MPI instead.
const BY_MPI: u32 = u32::MAX;
/// The largest communicator given lanes: every pair of ranks has a ring (8 KiB), so the memory
/// grows with the square of the ranks on the node.
const MOST_RANKS: usize = 64;

/// The bytes of a cache line.
const LINE: usize = 64;

/// A counter alone on its cache line, so that the writer of one does not slow the reader of
/// the other.
#[repr(C, align(64))]
struct Line(AtomicU64);

/// The records one rank sends another, in order: written by the sender alone, read by the
/// receiver alone (each under its post's lock: the threads of a process take turns).
#[repr(C)]
pub(super) struct Ring {
    /// How many records the sender has written, ever.
    written: Line,
    /// How many the receiver has read, ever.
    read: Line,
    slots: [UnsafeCell<[u8; SLOT]>; SLOTS],
}

// SAFETY: the slots are reached only through `try_push` and `try_take`, whose callers promise
// one writer and one reader at a time; the counters that hand the slots over are atomics.
unsafe impl Sync for Ring {}

/// What a ring holds next.
pub(super) enum Taken {
    Bytes(Vec<u8>),
    /// The next record from this sender comes by MPI.
    ByMpi,
}

impl Ring {
    /// Whether a record of `length` bytes fits a slot.
    pub(super) fn carries(length: usize) -> bool {
        length <= SLOT - LENGTH_BYTES
    }

    /// Writes `bytes` (a marker where `None`) into the next slot; `false` if the ring is full.
    ///
    /// # Safety
    /// No other thread or process writes to this ring meanwhile.
    pub(super) unsafe fn try_push(&self, bytes: Option<&[u8]>) -> bool {
        let written = self.written.0.load(Ordering::Relaxed);
        let read = self.read.0.load(Ordering::Acquire);
        if written - read == SLOTS as u64 {
            return false;
        }
        let length = bytes.map_or(BY_MPI, |bytes| {
            assert!(Ring::carries(bytes.len()), "a record larger than a slot");
            bytes.len() as u32
        });
        let slot = self.slots[written as usize % SLOTS].get().cast::<u8>();
        // SAFETY: no other sender writes (the caller's promise); the receiver is done with this
        // slot (it has read past it: `read` was loaded with Acquire, and `written - read <
        // SLOTS`), and reads it again only once `written` has moved past it, below with
        // Release; the length and the bytes fit the slot.
        unsafe {
            slot.cast::<u32>().write_unaligned(length.to_le());
            if let Some(bytes) = bytes {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), slot.add(LENGTH_BYTES), bytes.len());
            }
        }
        self.written.0.store(written + 1, Ordering::Release);
        true
    }

    /// Takes the next record, if one was written.
    ///
    /// # Safety
    /// No other thread or process reads from this ring meanwhile.
    pub(super) unsafe fn try_take(&self) -> Option<Taken> {
        let read = self.read.0.load(Ordering::Relaxed);
        if read == self.written.0.load(Ordering::Acquire) {
            return None;
        }
        let slot = self.slots[read as usize % SLOTS]
            .get()
            .cast::<u8>()
            .cast_const();
        // SAFETY: no other receiver reads (the caller's promise); the sender wrote this slot
        // before it moved `written` past it (loaded above with Acquire), and writes it again
        // only once `read` has moved past it, below; the length is clamped to the slot.
        let taken = unsafe {
            match u32::from_le(slot.cast::<u32>().read_unaligned()) {
                BY_MPI => Taken::ByMpi,
                length => {
                    let length = (length as usize).min(SLOT - LENGTH_BYTES);
                    let bytes = std::slice::from_raw_parts(slot.add(LENGTH_BYTES), length);
                    Taken::Bytes(bytes.to_vec())
                }
            }
        };
        self.read.0.store(read + 1, Ordering::Release);
        Some(taken)
    }
}

/// The rings of one communicator's ranks, as this rank sees them.
pub(super) struct Rings {
    /// The ring that each rank writes to this one (none from itself).
    inbound: Vec<*const Ring>,
    /// The ring of each other rank that this one writes to.
    outbound: Vec<*const Ring>,
}

// SAFETY: the rings lie in a shared-memory window that is never freed; a ring is written by one
// rank and read by one (each under its post's lock), through atomics and the slots they guard.
unsafe impl Send for Rings {}
// SAFETY: as above.
unsafe impl Sync for Rings {}

impl Rings {
    /// The rings of `comm`, the communicator of `group`'s calls, where its ranks are all on
    /// this node and not too many; made by the first post of these ranks, a collective call,
    /// and the same for every later one.
    pub(super) fn of(comm: &SimpleCommunicator, group: Ranks) -> Option<&'static Rings> {
        type Made = Vec<((Ranks, i32), Option<&'static Rings>)>;
        static MADE: Mutex<Made> = Mutex::new(Vec::new());
        let mut made = MADE.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (group, comm.size());
        if let Some((_, rings)) = made.iter().find(|(made, _)| *made == key) {
            return *rings;
        }
        let size = comm.size() as usize;
        let one_node = size > 1 && size <= MOST_RANKS && comm.split_shared(0).size() == comm.size();
        let rings = one_node.then(|| Rings::new(comm));
        made.push((key, rings));
        rings
    }

    /// Allocates every rank's rings in a window of its own.
    fn new(comm: &SimpleCommunicator) -> &'static Rings {
        let (size, rank) = (comm.size() as usize, comm.rank() as usize);
        // The window's communicator, never freed: it outlives every world's.
        let comm = comm.duplicate();
        // MPI need not align a segment to a cache line (Open MPI does not): each has room to
        // start its rings at the next line. A process maps the window at an address of its
        // own, but page by page, so the next line is the same memory in every process.
        let window = allocate_shared(&comm, size * size_of::<Ring>() + LINE);
        let base = |of: usize| {
            let start = segment(window, of);
            start.wrapping_add(start.align_offset(LINE)).cast::<Ring>()
        };
        // SAFETY: this rank's own segment holds `size` rings from its first line; all-zero
        // bytes are empty rings. No rank reads them before the barrier below.
        unsafe { base(rank).write_bytes(0, size) };
        comm.barrier();
        std::mem::forget(comm);
        // SAFETY (the `add`s): offsets of rings within each rank's segment of `size` rings.
        let inbound = (0..size).map(|from| unsafe { base(rank).add(from) }.cast_const());
        let outbound = (0..size).map(|to| unsafe { base(to).add(rank) }.cast_const());
        Box::leak(Box::new(Rings {
            inbound: inbound.collect(),
            outbound: outbound.collect(),
        }))
    }

    fn inbound(&self, from: usize) -> &Ring {
        // SAFETY: a ring of the never-freed window, zeroed before any rank used it.
        unsafe { &*self.inbound[from] }
    }

    fn outbound(&self, to: usize) -> &Ring {
        // SAFETY: as in `inbound`.
        unsafe { &*self.outbound[to] }
    }
}

/// A window over `comm` with `bytes` of memory that its ranks share on this rank.
fn allocate_shared(comm: &SimpleCommunicator, bytes: usize) -> ffi::MPI_Win {
    let mut base: *mut c_void = std::ptr::null_mut();
    let mut window = MaybeUninit::<ffi::MPI_Win>::uninit();
    // SAFETY: a collective call of every rank of `comm`, which is valid; MPI allocates `bytes`
    // and writes their address to `base` and the window's handle to `window`.
    unsafe {
        ffi::MPI_Win_allocate_shared(
            bytes as ffi::MPI_Aint,
            1,
            ffi::RSMPI_INFO_NULL,
            comm.as_raw(),
            (&mut base as *mut *mut c_void).cast::<c_void>(),
            window.as_mut_ptr(),
        );
        window.assume_init()
    }
}

/// Where the segment of rank `of` of a shared window lies in this process's memory.
fn segment(window: ffi::MPI_Win, of: usize) -> *mut u8 {
    let mut address: *mut u8 = std::ptr::null_mut();
    let (mut bytes, mut unit): (ffi::MPI_Aint, i32) = (0, 0);
    // SAFETY: `window` is a live shared-memory window, `of` one of its ranks; MPI writes the
    // segment's size, unit and address into the three locals.
    unsafe {
        ffi::MPI_Win_shared_query(
            window,
            of as i32,
            &mut bytes,
            &mut unit,
            (&mut address as *mut *mut u8).cast::<c_void>(),
        );
    }
    address
}

/// A post's use of the rings: where it reads next, and the senders whose next record comes by
/// MPI.
pub(super) struct Lanes {
    rings: &'static Rings,
    /// For each rank, whether its next record comes by MPI.
    by_mpi: Vec<bool>,
    /// How many ranks' next record comes by MPI.
    awaited: usize,
    /// The rank whose ring is looked at first next time, so that none is left behind.
    next_from: usize,
    rank: usize,
}

impl Lanes {
    pub(super) fn new(rings: &'static Rings, rank: usize) -> Lanes {
        let size = rings.inbound.len();
        Lanes {
            rings,
            by_mpi: vec![false; size],
            awaited: 0,
            next_from: 0,
            rank,
        }
    }

    /// Writes `record` into the ring to rank `to` (a marker of a record sent by MPI where
    /// `None`); `false` if the ring is full.
    pub(super) fn try_send(&mut self, to: usize, record: Option<&[u8]>) -> bool {
        // SAFETY: this rank's ring to `to` is written by its post of these ranks alone (one at
        // a time in a process, a world's), under the post's lock (`&mut self`).
        unsafe { self.rings.outbound(to).try_push(record) }
    }

    /// The next record that arrived in a ring, with its sender: its bytes, or the news that
    /// the sender's next comes by MPI. Skips the senders whose record by MPI is awaited.
    pub(super) fn take(&mut self) -> Option<(usize, Taken)> {
        let size = self.by_mpi.len();
        for step in 0..size {
            let from = (self.next_from + step) % size;
            if from == self.rank || self.by_mpi[from] {
                continue;
            }
            // SAFETY: this rank's ring from `from` is read by its post of these ranks alone (one
            // at a time in a process, a world's), under the post's lock (`&mut self`).
            if let Some(taken) = unsafe { self.rings.inbound(from).try_take() } {
                self.next_from = (from + 1) % size;
                if let Taken::ByMpi = taken {
                    self.by_mpi[from] = true;
                    self.awaited += 1;
                }
                return Some((from, taken));
            }
        }
        None
    }

    /// The senders whose next record comes by MPI.
    pub(super) fn awaited_by_mpi(&self) -> impl Iterator<Item = usize> + '_ {
        let by_mpi = if self.awaited == 0 {
            &[][..]
        } else {
            &self.by_mpi[..]
        };
        (by_mpi.iter().enumerate()).filter_map(|(from, &awaited)| awaited.then_some(from))
    }

    /// The record by MPI from `from` has arrived: its ring is read on.
    pub(super) fn arrived_by_mpi(&mut self, from: usize) {
        self.by_mpi[from] = false;
        self.awaited -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Box<Ring> {
        // SAFETY: all-zero bytes are an empty ring (atomics and bytes).
        unsafe { Box::new(std::mem::zeroed()) }
    }

    // The tests below write from one thread and read from one.
    fn push(ring: &Ring, bytes: Option<&[u8]>) -> bool {
        // SAFETY: one writer at a time (see above).
        unsafe { ring.try_push(bytes) }
    }

    fn take(ring: &Ring) -> Option<Taken> {
        // SAFETY: one reader at a time (see above).
        unsafe { ring.try_take() }
    }

    fn bytes(taken: Option<Taken>) -> Option<Vec<u8>> {
        match taken {
            Some(Taken::Bytes(bytes)) => Some(bytes),
            Some(Taken::ByMpi) => panic!("a marker"),
            None => None,
        }
    }

    #[test]
    fn records_come_out_in_order_and_a_full_ring_refuses_more() {
        let ring = ring();
        for n in 0..SLOTS as u8 {
            assert!(push(&ring, Some(&[n; 3])));
        }
        assert!(!push(&ring, Some(&[0])));
        assert_eq!(bytes(take(&ring)), Some(vec![0; 3]));
        assert!(push(&ring, None));
        for n in 1..SLOTS as u8 {
            assert_eq!(bytes(take(&ring)), Some(vec![n; 3]));
        }
        assert!(matches!(take(&ring), Some(Taken::ByMpi)));
        assert!(take(&ring).is_none());
    }

    #[test]
    fn a_slot_carries_a_record_of_its_size_and_no_more() {
        let ring = ring();
        let largest = vec![7u8; SLOT - LENGTH_BYTES];
        assert!(Ring::carries(largest.len()) && !Ring::carries(largest.len() + 1));
        assert!(push(&ring, Some(&largest)));
        assert!(push(&ring, Some(&[])));
        assert_eq!(bytes(take(&ring)), Some(largest));
        assert_eq!(bytes(take(&ring)), Some(vec![]));
    }

    #[test]
    fn a_reader_on_another_thread_gets_every_record_once_in_order() {
        let ring = ring();
        const RECORDS: u32 = 100_000;
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for n in 0..RECORDS {
                    while !push(&ring, Some(&n.to_le_bytes())) {
                        std::hint::spin_loop();
                    }
                }
            });
            let mut next = 0;
            while next < RECORDS {
                if let Some(bytes) = bytes(take(&ring)) {
                    assert_eq!(bytes, next.to_le_bytes());
                    next += 1;
                }
            }
        });
        assert!(take(&ring).is_none());
    }
}
