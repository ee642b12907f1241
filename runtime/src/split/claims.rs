//! The counter from which the ranks of a dynamic split claim their chunks.

use std::ops::Range;

use super::plan::Want;
use crate::comm::{Counter, Step};

/// The largest chunk handed out at once. Claims past the end of an iterable of unknown length
/// still advance the counter, so it must never come near wrapping around.
const MAX_CHUNK: usize = 1 << 40;

/// The next unclaimed index of a dynamic split, shared by the ranks of a world.
pub(crate) struct Claims {
    next: Box<dyn Counter>,
    length: Option<usize>,
}

impl Claims {
    /// Claims from `next`, a counter at 0 that the ranks of the split share.
    pub(crate) fn on(next: Box<dyn Counter>, length: Option<usize>) -> Self {
        Claims { next, length }
    }

    /// Claims from a counter of this rank's own.
    #[cfg(test)]
    fn new(length: Option<usize>) -> Self {
        Claims::on(Box::new(crate::comm::LocalCounter::default()), length)
    }

    /// Starts the claims again at 0, for a split over `length` items; false where the counter
    /// cannot be set back (see [`Counter::reset`]).
    pub(crate) fn restart(&mut self, length: Option<usize>) -> bool {
        self.length = length;
        self.next.reset()
    }

    /// The length of the iterable, if known.
    pub(crate) fn length(&self) -> Option<usize> {
        self.length
    }

    /// Claims every index not claimed yet, so that the other ranks find nothing left.
    pub(crate) fn exhaust(&self) {
        self.next.fetch_add(MAX_CHUNK);
    }

    /// Claims the next chunk, or `None` once every index of a known length is claimed. With an
    /// unknown length the chunk may lie past the end: the rank finds that out from its iterator.
    pub(crate) fn claim(&self, want: Want, ranks: usize) -> Option<Range<usize>> {
        let Some(length) = self.length else {
            let (Want::Exactly(wanted) | Want::About(wanted) | Want::Share { min: wanted, .. }) =
                want;
            let wanted = wanted.clamp(1, MAX_CHUNK);
            let start = self.next.fetch_add(wanted);
            return Some(start..start + wanted);
        };
        let step = match want {
            Want::Exactly(wanted) => Step {
                length,
                divisor: 1,
                round_up: false,
                min: wanted.clamp(1, MAX_CHUNK),
                max: wanted.clamp(1, MAX_CHUNK),
            },
            // Never more than a 1/(2 ranks) share of what is left, so the last chunks shrink and
            // the ranks finish together.
            Want::About(wanted) => Step {
                length,
                divisor: 2 * ranks,
                round_up: false,
                min: 1,
                max: wanted.clamp(1, MAX_CHUNK),
            },
            Want::Share { min, divisor } => Step {
                length,
                divisor,
                round_up: true,
                min: min.min(MAX_CHUNK),
                max: MAX_CHUNK,
            },
        };
        let chunk = self.next.advance(step);
        (!chunk.is_empty()).then_some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guided_chunks_shrink_with_what_is_left() {
        let claims = Claims::new(Some(100));
        let chunks: Vec<usize> =
            std::iter::from_fn(|| claims.claim(Want::Share { min: 2, divisor: 4 }, 4))
                .map(|range| range.len())
                .collect();
        assert_eq!(chunks.iter().sum::<usize>(), 100);
        assert_eq!(&chunks[..4], &[25, 19, 14, 11]);
        assert!(chunks.windows(2).all(|pair| pair[0] >= pair[1]));
        assert_eq!(*chunks.last().unwrap(), 2);
    }

    #[test]
    fn about_chunks_shrink_near_the_end() {
        let claims = Claims::new(Some(40));
        assert_eq!(claims.claim(Want::About(100), 2), Some(0..10));
        assert_eq!(claims.claim(Want::About(100), 2), Some(10..17));
        assert_eq!(claims.claim(Want::Exactly(100), 2), Some(17..40));
        assert_eq!(claims.claim(Want::About(1), 2), None);
    }

    #[test]
    fn unknown_lengths_hand_out_what_is_asked() {
        let claims = Claims::new(None);
        assert_eq!(
            claims.claim(Want::Share { min: 3, divisor: 2 }, 2),
            Some(0..3)
        );
        assert_eq!(claims.claim(Want::About(5), 2), Some(3..8));
    }
}
