//! Bytes that ranks leave for each other in a round beside the round's lock: a slot is written by
//! one rank and read by others, in an order that the round's atomics fix (see [`Slot`]).

use std::cell::UnsafeCell;

/// Bytes that travel in a slot itself; a longer encoding is boxed.
const INLINE: usize = 96;

/// One rank's bytes in a round, on lines of its own.
///
/// # Contract
/// A slot has one writer at a time, and its readers read only what was written before a
/// `Release` store that they `Acquire`d; nobody writes it again until every reader is done with
/// what it read. The board's rounds keep to this: see where it calls [`Slot::write`].
#[repr(align(128))]
#[derive(Default)]
pub(super) struct Slot(UnsafeCell<Held>);

struct Held {
    length: usize,
    inline: [u8; INLINE],
    boxed: Option<Box<[u8]>>,
}

impl Default for Held {
    fn default() -> Self {
        Held {
            length: 0,
            inline: [0; INLINE],
            boxed: None,
        }
    }
}

// SAFETY: the slot is shared between rank-threads only under its contract, which orders every
// write before the reads of it, and every read before the next write.
unsafe impl Sync for Slot {}

impl Slot {
    /// Leaves `bytes` in the slot; returns whether they were boxed (the slot then holds an
    /// allocation until [`Slot::clear`]).
    ///
    /// # Safety
    /// The caller is the slot's one writer now (its contract).
    pub(super) unsafe fn write(&self, bytes: &[u8]) -> bool {
        // SAFETY: no other thread reads or writes the slot meanwhile (the caller's promise).
        let held = unsafe { &mut *self.0.get() };
        held.length = bytes.len();
        if bytes.len() <= INLINE {
            held.inline[..bytes.len()].copy_from_slice(bytes);
            false
        } else {
            held.boxed = Some(bytes.into());
            true
        }
    }

    /// The bytes last written.
    ///
    /// # Safety
    /// The write was published to the caller, and nobody writes the slot until the caller is
    /// done with the bytes (its contract).
    pub(super) unsafe fn read(&self) -> &[u8] {
        // SAFETY: the write happened before this read, and no write comes before the caller is
        // done (the caller's promise).
        let held = unsafe { &*self.0.get() };
        match &held.boxed {
            Some(boxed) if held.length > INLINE => boxed,
            _ => &held.inline[..held.length],
        }
    }

    /// Frees a boxed encoding.
    ///
    /// # Safety
    /// As for [`Slot::write`].
    pub(super) unsafe fn clear(&self) {
        // SAFETY: no other thread reads or writes the slot meanwhile (the caller's promise).
        let held = unsafe { &mut *self.0.get() };
        held.boxed = None;
    }
}
