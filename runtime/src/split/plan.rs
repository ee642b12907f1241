//! Which indices a rank takes: block boundaries, round-robin dealing, chunk sizes.

use std::ops::Range;
use std::time::{Duration, Instant};

/// The block of `rank` when `length` items are cut into `size` contiguous near-even blocks, the
/// first `length % size` one item longer.
pub(crate) fn block_range(length: usize, size: usize, rank: usize) -> Range<usize> {
    let (base, longer) = (length / size, length % size);
    let start = rank * base + rank.min(longer);
    start..start + base + usize::from(rank < longer)
}

/// How many of the indices `0..end` fall to `rank` when chunks of `chunk` are dealt round robin.
pub(crate) fn dealt_below(end: usize, chunk: usize, size: usize, rank: usize) -> usize {
    let cycle = chunk * size;
    let in_last_cycle = (end % cycle).saturating_sub(rank * chunk).min(chunk);
    end / cycle * chunk + in_last_cycle
}

/// The next chunk a rank asks the shared claim counter for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// Exactly this many items.
    Exactly(usize),
    /// About this many items, fewer near the end so that the last chunks stay small.
    About(usize),
    /// The remaining items divided by `divisor`, at least `min` (OpenMP's guided).
    Share { min: usize, divisor: usize },
}

/// How long an adaptive chunk should take: long enough that claiming costs nothing next to it,
/// short enough that the ranks finish within about this much of each other.
const ADAPTIVE_CHUNK_TIME: Duration = Duration::from_micros(100);

/// How a rank sizes its chunks of a dynamic split.
#[derive(Debug)]
pub(crate) enum Sizer {
    Fixed(usize),
    Guided {
        min: usize,
        ranks: usize,
    },
    /// Chunks sized from the measured time per item: one item at first, then as many as fit in
    /// [`ADAPTIVE_CHUNK_TIME`], growing at most fourfold per chunk.
    Adaptive {
        last: usize,
        started: Option<Instant>,
    },
}

impl Sizer {
    pub(crate) fn adaptive() -> Sizer {
        Sizer::Adaptive {
            last: 1,
            started: None,
        }
    }

    /// The next request, after a chunk of `finished` items (0 for the first). Inlined: a
    /// dynamic split with a fixed chunk asks at every claim.
    #[inline]
    pub(crate) fn next_want(&mut self, finished: usize) -> Want {
        match self {
            Sizer::Fixed(chunk) => Want::Exactly(*chunk),
            Sizer::Guided { min, ranks } => Want::Share {
                min: *min,
                divisor: *ranks,
            },
            Sizer::Adaptive { last, started } => Want::About(adapted(last, started, finished)),
        }
    }
}

/// The next adaptive chunk after `last`, begun at `started`, of which `finished` items are done.
fn adapted(last: &mut usize, started: &mut Option<Instant>, finished: usize) -> usize {
    let now = Instant::now();
    if let Some(previous) = started.replace(now)
        && finished > 0
    {
        let per_item = (now - previous).as_nanos() / finished as u128;
        let fitting = ADAPTIVE_CHUNK_TIME.as_nanos() / per_item.max(1);
        let fitting = usize::try_from(fitting).unwrap_or(usize::MAX);
        *last = fitting.clamp(1, last.saturating_mul(4));
    }
    *last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_near_even_with_the_longer_ones_first() {
        let lengths: Vec<usize> = (0..15)
            .map(|rank| block_range(1000, 15, rank).len())
            .collect();
        assert_eq!(lengths, [[67; 10].as_slice(), &[66; 5]].concat());
        assert_eq!(block_range(2, 4, 3), 2..2);
        let covered: Vec<usize> = (0..7).flat_map(|rank| block_range(50, 7, rank)).collect();
        assert_eq!(covered, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn dealt_counts_match_a_direct_count() {
        for (chunk, size) in [(1, 1), (1, 3), (2, 3), (5, 2), (3, 8)] {
            for rank in 0..size {
                for end in 0..60 {
                    let direct = (0..end).filter(|i| i / chunk % size == rank).count();
                    assert_eq!(
                        dealt_below(end, chunk, size, rank),
                        direct,
                        "{chunk} {size} {rank} {end}"
                    );
                }
            }
        }
    }

    #[test]
    fn adaptive_chunks_start_at_one_and_grow_at_most_fourfold() {
        let mut sizer = Sizer::adaptive();
        assert_eq!(sizer.next_want(0), Want::About(1));
        // Items that take no measurable time: the chunk grows, by at most 4x each time.
        let mut previous = 1;
        for _ in 0..5 {
            let Want::About(next) = sizer.next_want(previous) else {
                unreachable!()
            };
            assert!(
                next <= previous * 4 && next >= previous,
                "{previous} -> {next}"
            );
            previous = next;
        }
        assert!(previous > 1);
    }

    #[test]
    fn adaptive_chunks_stay_at_one_for_slow_items() {
        let mut sizer = Sizer::adaptive();
        sizer.next_want(0);
        std::thread::sleep(ADAPTIVE_CHUNK_TIME * 3);
        assert_eq!(sizer.next_want(1), Want::About(1));
    }
}
