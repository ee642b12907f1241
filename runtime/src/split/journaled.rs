//! `Split::journal`: a split whose finished items are recorded, so that a program started again
//! processes only the rest.

use std::hash::Hash;
use std::path::{Path, PathBuf};

use super::{Share, Split, by_hash};
use crate::journal::Kind;
use crate::ranks::Ranks;

/// A [`Split`] with a journal: made by [`Split::journal`].
///
/// Every item a rank finishes is recorded in the journal, a directory. When the program runs
/// again with the same journal, the finished items are skipped on every rank and the split
/// shares out the rest; a map's recorded results are yielded again, so a resumed map yields
/// every result exactly once. An item counts as finished once the loop asks for the next one
/// (or ends): an item whose body panicked, returned early or broke out is processed again.
///
/// While a world runs a journaled split, SIGTERM, SIGINT and SIGUSR1 stop it well: each rank
/// finishes the items it is on, the journal is written out, and the program exits with status
/// 128 + the signal's number after one line that says how many items are done and that running
/// the same command resumes. A second signal ends the program at once. A process killed without
/// warning (`kill -9`, a node that fails) loses only the items its ranks were running.
///
/// The items must be the same, in the same order, from run to run: a journal records indices.
/// It remembers the number of items (where known) and a fingerprint of the first 64, and a
/// journal made for another iterable is an error. The journal must be on a filesystem that every
/// process of an MPI job sees.
///
/// ```
/// let journal = std::env::temp_dir().join(format!("dlp-doc-journal-{}", std::process::id()));
/// let squares = |journal: &std::path::Path| {
///     dlp::World::threads(2).run(|| {
///         dlp::Split::managed().journal(journal).map_ordered(|x: u64| x * x, 0..5u64).collect::<Vec<_>>()
///     })
/// };
/// assert_eq!(squares(&journal), vec![0, 1, 4, 9, 16]);
/// // Run again: every result comes from the journal, none is computed.
/// assert_eq!(squares(&journal), vec![0, 1, 4, 9, 16]);
/// # std::fs::remove_dir_all(&journal).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Journaled {
    pub(crate) split: Split,
    pub(crate) directory: PathBuf,
}

impl Split {
    /// This split, with its finished items recorded in the journal at `directory` (see
    /// [`Journaled`]).
    ///
    /// ```
    /// let journal = std::env::temp_dir().join(format!("dlp-doc-split-journal-{}", std::process::id()));
    /// let done = dlp::World::threads(2).run(|| {
    ///     let mine = dlp::Split::block().journal(&journal).over(0..10u32).count();
    ///     dlp::all_reduce(mine, |a, b| a + b)
    /// });
    /// assert_eq!(done, 10);
    /// // Started again, the loop finds every item done.
    /// let again = dlp::World::threads(2).run(|| dlp::Split::block().journal(&journal).over(0..10u32).count());
    /// assert_eq!(again, 0);
    /// # std::fs::remove_dir_all(&journal).unwrap();
    /// ```
    pub fn journal(self, directory: impl AsRef<Path>) -> Journaled {
        Journaled {
            split: self,
            directory: directory.as_ref().to_owned(),
        }
    }
}

impl Journaled {
    /// The items of `items` that fall to this rank and that no earlier run finished, in
    /// increasing index order; [`Share::with_index`] gives their indices in `items`.
    #[track_caller]
    pub fn over<I: IntoIterator>(self, items: I) -> Share<I::IntoIter>
    where
        I::Item: Hash,
    {
        self.split
            .over_journaled(
                Ranks::All,
                items,
                Some(by_hash),
                &self.directory,
                Kind::Loop,
            )
            .0
    }
}
