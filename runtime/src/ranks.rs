//! Which ranks take part in a call: the one vocabulary of splits, collectives and the attributes.

use std::ops::Range;

/// A group of ranks of a world.
///
/// Splits and collectives are calls of a group: every rank of the group makes them, in the same
/// order, and each group numbers its calls on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ranks {
    /// Every rank of the world: the loops of `#[dlp::main]` and `#[dlp::spmd]` functions.
    All,
    /// The main rank alone: the loops of `#[main_only]` functions.
    Main,
    /// Every rank but the main one: the loops of `#[worker_only]` functions.
    Workers,
}

impl Ranks {
    /// The world ranks of the group, in a world of `size` ranks.
    pub(crate) fn range(self, size: usize) -> Range<usize> {
        let end = match self {
            Ranks::Main => 1,
            Ranks::All | Ranks::Workers => size,
        };
        self.first().min(size)..end.min(size)
    }

    /// The lowest world rank of the group.
    pub(crate) fn first(self) -> usize {
        match self {
            Ranks::All | Ranks::Main => 0,
            Ranks::Workers => 1,
        }
    }

    pub(crate) fn contains(self, rank: usize, size: usize) -> bool {
        self.range(size).contains(&rank)
    }

    /// Where `rank` stands in the group, and how many ranks the group has.
    pub(crate) fn place(self, rank: usize, size: usize) -> (usize, usize) {
        let range = self.range(size);
        (rank - range.start, range.len())
    }

    /// What a loop of this group's function, running on `rank` outside it, did wrong.
    pub(crate) fn misplaced_loop_message(self, rank: usize) -> String {
        match self {
            Ranks::Main => format!(
                "a #[par_for] loop of a #[main_only] function runs on rank {rank}; a #[main_only] \
                 function runs on the main rank only"
            ),
            Ranks::Workers => "a #[par_for] loop of a #[worker_only] function runs on the main \
                               rank; a #[worker_only] function runs on the other ranks only"
                .to_owned(),
            Ranks::All => unreachable!("every rank belongs to the whole world"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_place_their_ranks_from_zero() {
        assert_eq!(Ranks::All.place(2, 4), (2, 4));
        assert_eq!(Ranks::Workers.place(2, 4), (1, 3));
        assert_eq!(Ranks::Main.place(0, 4), (0, 1));
        assert!(!Ranks::Workers.contains(0, 4) && Ranks::Workers.contains(3, 4));
        assert!(!Ranks::Main.contains(1, 4));
        assert_eq!(Ranks::Workers.range(1), 1..1);
    }
}
