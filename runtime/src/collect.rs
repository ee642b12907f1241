//! Typed helpers for what programs gather most: vectors to concatenate, results tagged with
//! their item index, and maps to merge.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasher, Hash};

use crate::collectives::gather;
use crate::message::Message;

/// Every rank's items, concatenated in rank order, on the main rank (`Some`); `None` on the
/// others.
///
/// The usual end of a loop whose ranks each collected their results in a `Vec`; what dlp_mpi
/// users write as a nested list comprehension after `gather`.
///
/// ```
/// let all = dlp::World::threads(3).run(|| {
///     let mine: Vec<u32> = dlp::split_block(0..7).map(|x| x * 10).collect();
///     dlp::gather_flat(mine)
/// });
/// assert_eq!(all, Some(vec![0, 10, 20, 30, 40, 50, 60]));
/// ```
#[track_caller]
pub fn gather_flat<T: Message>(items: Vec<T>) -> Option<Vec<T>> {
    gather(items).map(concatenated)
}

/// The vectors one after another, in the first one's buffer: the main rank's own items are not
/// copied (a large buffer grows in place), the others' are moved in with one copy each.
fn concatenated<T>(parts: Vec<Vec<T>>) -> Vec<T> {
    let total: usize = parts.iter().map(Vec::len).sum();
    let mut parts = parts.into_iter();
    let mut all = parts.next().unwrap_or_default();
    all.reserve_exact(total - all.len());
    for mut part in parts {
        all.append(&mut part);
    }
    all
}

/// Results tagged with the index of their item, from every rank, on the main rank (`Some`) in
/// the order of the indices; `None` on the others.
///
/// A dynamic split hands items out in no fixed order; tag each result with its index
/// ([`Share::with_index`](crate::Share::with_index) gives it) and this puts them back in input
/// order. Indices that no rank reported (items skipped by a `break`) are simply absent.
///
/// # Panics
/// If two results carry the same index: an item processed twice is a bug in the loop.
///
/// ```
/// let squares = dlp::World::threads(3).run(|| {
///     let mine: Vec<(usize, u64)> = dlp::split_managed(0..6u64)
///         .with_index()
///         .map(|(index, x)| (index, x * x))
///         .collect();
///     dlp::gather_in_order(mine)
/// });
/// assert_eq!(squares, Some(vec![0, 1, 4, 9, 16, 25]));
/// ```
#[track_caller]
pub fn gather_in_order<T: Message>(tagged: Vec<(usize, T)>) -> Option<Vec<T>> {
    let mut all = gather_flat(tagged)?;
    all.sort_unstable_by_key(|(index, _)| *index);
    if let Some(pair) = all.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        panic!(
            "dlp: gather_in_order: two results carry item index {}; each item must be processed \
             once",
            pair[0].0
        );
    }
    Some(all.into_iter().map(|(_, result)| result).collect())
}

/// A key that two ranks both wrote, found by [`gather_maps`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateKey<K> {
    /// The key.
    pub key: K,
    /// The two ranks that wrote it, the lower first.
    pub ranks: (usize, usize),
}

impl<K: fmt::Debug> fmt::Display for DuplicateKey<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "key {:?} was written by rank {} and by rank {}; each key must come from one rank",
            self.key, self.ranks.0, self.ranks.1
        )
    }
}

impl<K: fmt::Debug> std::error::Error for DuplicateKey<K> {}

/// A map that [`gather_maps`] can merge: `BTreeMap` and `HashMap` with `Clone` keys.
pub trait MergeableMap: Message + Extend<(Self::Key, Self::Value)> + IntoIterator {
    /// The key type.
    type Key;
    /// The value type.
    type Value;
    /// A key that both maps hold, if any.
    fn shared_key(&self, other: &Self) -> Option<Self::Key>;
}

impl<K, V> MergeableMap for BTreeMap<K, V>
where
    K: Message + Ord + Clone,
    V: Message,
{
    type Key = K;
    type Value = V;
    fn shared_key(&self, other: &Self) -> Option<K> {
        self.keys().find(|key| other.contains_key(key)).cloned()
    }
}

impl<K, V, S> MergeableMap for HashMap<K, V, S>
where
    K: Message + Eq + Hash + Clone,
    V: Message,
    S: BuildHasher,
    HashMap<K, V, S>: Message,
{
    type Key = K;
    type Value = V;
    fn shared_key(&self, other: &Self) -> Option<K> {
        self.keys().find(|key| other.contains_key(key)).cloned()
    }
}

/// Every rank's map merged into one on the main rank (`Ok(Some)`); `Ok(None)` on the others.
///
/// Each key must come from one rank: a key that two ranks wrote is an error that names it and
/// both ranks, rather than one value silently replacing the other (dlp_mpi's
/// `NestedDict.gather` check).
///
/// ```
/// use std::collections::BTreeMap;
///
/// let merged = dlp::World::threads(2).run(|| {
///     let mut mine = BTreeMap::new();
///     for name in dlp::split_round_robin(["a", "b", "c"]) {
///         mine.insert(name.to_owned(), name.len());
///     }
///     dlp::gather_maps(mine).unwrap()
/// });
/// assert_eq!(merged.unwrap().len(), 3);
///
/// let clash = dlp::World::threads(2).run(|| {
///     let mine = BTreeMap::from([("same".to_owned(), dlp::rank())]);
///     dlp::gather_maps(mine).err().map(|error| error.to_string())
/// });
/// assert_eq!(
///     clash.as_deref(),
///     Some("key \"same\" was written by rank 0 and by rank 1; each key must come from one rank")
/// );
/// ```
#[track_caller]
pub fn gather_maps<M>(map: M) -> Result<Option<M>, DuplicateKey<M::Key>>
where
    M: MergeableMap + IntoIterator<Item = (<M as MergeableMap>::Key, <M as MergeableMap>::Value)>,
{
    let Some(maps) = gather(map) else {
        return Ok(None);
    };
    for (later, map) in maps.iter().enumerate().skip(1) {
        for (earlier, earlier_map) in maps[..later].iter().enumerate() {
            if let Some(key) = map.shared_key(earlier_map) {
                return Err(DuplicateKey {
                    key,
                    ranks: (earlier, later),
                });
            }
        }
    }
    let mut maps = maps.into_iter();
    let mut merged = maps.next().expect("a world has at least one rank");
    for map in maps {
        merged.extend(map);
    }
    Ok(Some(merged))
}

#[cfg(test)]
mod tests {
    use super::concatenated;

    #[test]
    fn parts_come_out_in_order_whatever_is_empty() {
        assert_eq!(concatenated::<u8>(vec![]), Vec::<u8>::new());
        assert_eq!(concatenated(vec![vec![1, 2], vec![], vec![3]]), [1, 2, 3]);
        assert_eq!(concatenated(vec![vec![], vec![4], vec![5, 6]]), [4, 5, 6]);
    }

    #[test]
    fn the_first_part_keeps_its_buffer() {
        let first = Vec::with_capacity(10);
        let buffer = first.as_ptr();
        let all = concatenated(vec![first, vec![1u64; 4], vec![2; 6]]);
        assert_eq!(all.as_ptr(), buffer);
        assert_eq!(all, [[1; 4].as_slice(), &[2; 6]].concat());
    }
}
