//! One collective call of one rank, and what is wrong when the ranks' calls disagree.
//!
//! Ranks match their calls by number, the way MPI matches collectives by call order: the n-th
//! call of a group on one rank meets the n-th call of that group on every other. The numbers
//! are handed out in one place, [`RankContext::begin`](crate::context::RankContext::begin), and
//! every message that explains a mismatch is written here.

use std::panic::Location;

use crate::ranks::Ranks;

/// How many items from the start of a split's iterable the ranks compare.
pub(crate) const ORDER_PREFIX: usize = 64;

/// A collective call (splits and maps included) as a rank makes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Call {
    /// The group that makes the call.
    pub(crate) ranks: Ranks,
    /// How many calls of the group this rank made before.
    pub(crate) number: u64,
    /// The public name of the operation: `gather`, `split_managed`, ...
    pub(crate) operation: &'static str,
    /// The world rank that makes it.
    pub(crate) rank: usize,
    /// For a split or map, the length of its iterable where it is known.
    pub(crate) length: Option<usize>,
    /// Where the program makes the call.
    pub(crate) site: &'static Location<'static>,
    /// For a split whose items can be fingerprinted, the fingerprint of their start: the same
    /// on every rank whose items come in the same order.
    pub(crate) order: Option<u64>,
}

/// The message for collective `number`, which `rank` made as `mine` (a call described) and
/// `other` as `theirs`.
pub(crate) fn calls_differ(number: u64, mine: (usize, &str), theirs: (usize, &str)) -> String {
    format!(
        "collective #{number} does not match across ranks: rank {} called {}, rank {} called {}. \
         {SAME_CALLS}",
        mine.0, mine.1, theirs.0, theirs.1
    )
}

/// The message for collective `number`, which `rank` made as `described` and rank `absent`
/// never made before it returned from the world.
pub(crate) fn never_completed(rank: usize, described: &str, number: u64, absent: usize) -> String {
    format!(
        "rank {rank} called {described} (collective #{number}), but rank {absent} returned from \
         the world without calling it, so the call never completed. {SAME_CALLS}"
    )
}

/// The end of every message about ranks that disagree: what the rule is.
const SAME_CALLS: &str = "Every rank must make the same collective calls (splits and maps \
                          included) in the same order";

impl Call {
    /// Why `other`, the same call number on another rank, cannot meet this call; `None` if it
    /// can. Lengths are compared where both are known.
    pub(crate) fn mismatch(&self, other: &Call) -> Option<String> {
        if self.operation != other.operation {
            return Some(calls_differ(
                self.number,
                (self.rank, &self.describe()),
                (other.rank, &other.describe()),
            ));
        }
        match (self.length, other.length) {
            (Some(mine), Some(theirs)) if mine != theirs => {
                return Some(self.length_mismatch(other.rank, other.length));
            }
            _ => {}
        }
        match (self.order, other.order) {
            (Some(mine), Some(theirs)) if mine != theirs => Some(self.order_mismatch(other.rank)),
            _ => None,
        }
    }

    /// The message for items that come in another order on rank `other`.
    pub(crate) fn order_mismatch(&self, other: usize) -> String {
        format!(
            "the items of {} at {} come in another order on rank {} than on rank {other}: their \
             first {ORDER_PREFIX} items differ. Every rank must see the same items in the same \
             order (only indices travel). A HashMap or HashSet iterates in an order of its own \
             in every map: iterate a BTreeMap or BTreeSet instead, or collect the items into a \
             Vec and sort it first",
            self.operation, self.site, self.rank
        )
    }

    /// The message for iterables of different lengths: this rank's, and `theirs` on rank
    /// `other` (`None`: an iterable of unknown length).
    pub(crate) fn length_mismatch(&self, other: usize, theirs: Option<usize>) -> String {
        let describe = |length: Option<usize>| match length {
            Some(length) => format!("{length} items"),
            None => "an iterable of unknown length".to_owned(),
        };
        format!(
            "the iterables of {} at {} differ between ranks: rank {} has {}, rank {other} has {}. \
             Every rank must build the same iterable (only indices travel); build it from data \
             every rank has, or broadcast it first",
            self.operation,
            self.site,
            self.rank,
            describe(self.length),
            describe(theirs)
        )
    }

    /// The message for a rank left waiting in this call by rank `absent`, which has returned
    /// from the world without making it.
    /// When that rank returned an error, the message starts with it: it is what went wrong.
    pub(crate) fn absent(&self, absent: usize, error: Option<&str>) -> String {
        let cause = match error {
            Some(error) => format!("rank {absent} returned an error: {error}; "),
            None => String::new(),
        };
        format!(
            "{cause}rank {} waits in {} at {} (collective #{}), but rank {absent} has already \
             returned from the world without calling it. {SAME_CALLS}",
            self.rank, self.operation, self.site, self.number
        )
    }

    /// The message for a call that this rank made and that rank `absent` never made before it
    /// returned from the world, found when the world ends.
    pub(crate) fn unmatched(&self, absent: usize) -> String {
        never_completed(self.rank, &self.describe(), self.number, absent)
    }

    /// The call as a message names it: `gather at src/main.rs:10:5`.
    fn describe(&self) -> String {
        format!("{} at {}", self.operation, self.site)
    }

    /// The message for a call that another rank's call of this number does not match, where
    /// that call is no longer known.
    pub(crate) fn unknown_mismatch(&self) -> String {
        format!(
            "collective #{} does not match across ranks: rank {} called {} at {}, another rank \
             called another operation. {SAME_CALLS}",
            self.number, self.rank, self.operation, self.site
        )
    }

    /// The message for ranks that called this operation with values of different types.
    pub(crate) fn type_mismatch(&self, expected: &str) -> String {
        format!(
            "the ranks called {} at {} (collective #{}) with different types; rank {} expected \
             `{expected}`",
            self.operation, self.site, self.number, self.rank
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(rank: usize, operation: &'static str, length: Option<usize>) -> Call {
        Call {
            ranks: Ranks::All,
            number: 3,
            operation,
            rank,
            length,
            site: Location::caller(),
            order: None,
        }
    }

    #[test]
    fn calls_match_when_operation_and_known_lengths_agree() {
        let split = call(0, "split_block", Some(10));
        assert_eq!(split.mismatch(&call(1, "split_block", Some(10))), None);
        assert_eq!(split.mismatch(&call(1, "split_block", None)), None);
        let other = split.mismatch(&call(2, "gather", None)).unwrap();
        assert!(
            other.starts_with(
                "collective #3 does not match across ranks: rank 0 called split_block at "
            ) && other.contains(", rank 2 called gather at "),
            "{other}"
        );
        let shorter = split.mismatch(&call(1, "split_block", Some(9))).unwrap();
        assert!(
            shorter.starts_with("the iterables of split_block at ")
                && shorter
                    .contains(" differ between ranks: rank 0 has 10 items, rank 1 has 9 items."),
            "{shorter}"
        );
    }
}
