//! Every rank must see the same items in the same order: only indices travel between ranks, so
//! a rank whose iterable comes in another order processes other items than the others think.
//!
//! Two checks, both made when a split starts:
//! - Where the items can be fingerprinted (a `#[par_for]` loop over items that are `Hash`,
//!   pairs whose first element is `Hash`, or `Debug`), every rank hashes the first
//!   [`ORDER_PREFIX`] items and the ranks compare the hashes with the iterable's length. Orders
//!   that differ anywhere in those items are caught; orders that agree on them and differ only
//!   later are not.
//! - Otherwise, an iterator over a std or hashbrown `HashMap`/`HashSet` is refused: each map
//!   has hash keys of its own, so its order differs from rank to rank.

use std::cell::Cell;
use std::hash::{DefaultHasher, Hash, Hasher};

pub(crate) use crate::comm::ORDER_PREFIX;
use crate::failure::misuse;

/// A fingerprint of one item, the same for equal items on every rank of a job.
pub type Fingerprint<T> = fn(&T) -> u64;

/// The fingerprint of an item that is `Hash`. `DefaultHasher::new` has fixed keys, so equal
/// items hash alike in every process of the program.
pub(crate) fn by_hash<T: Hash>(item: &T) -> u64 {
    let mut hasher = DefaultHasher::new();
    item.hash(&mut hasher);
    hasher.finish()
}

/// The fingerprint of a pair, by its first element (a map's key).
pub(crate) fn by_key<K: Hash, V>(item: &(K, V)) -> u64 {
    by_hash(&item.0)
}

/// The fingerprint of an item by its `Debug` text.
pub(crate) fn by_debug<T: std::fmt::Debug>(item: &T) -> u64 {
    by_hash(&format!("{item:?}"))
}

/// Takes up to [`ORDER_PREFIX`] items from `items`; returns them with their fingerprint.
pub(crate) fn prefix<I: Iterator>(
    items: &mut I,
    fingerprint: Fingerprint<I::Item>,
) -> (Vec<I::Item>, u64) {
    let head: Vec<I::Item> = items.by_ref().take(ORDER_PREFIX).collect();
    let mut hasher = DefaultHasher::new();
    for item in &head {
        hasher.write_u64(fingerprint(item));
    }
    (head, hasher.finish())
}

thread_local! {
    /// The name of the iterator type this thread last found not to be a hash map's: a loop
    /// started again and again (in a time step) searches its type's name once, not at every
    /// start (searching it was a quarter of the instructions of a block split's start).
    static LAST_CLEARED: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Refuses an iterator over a hash map or set, whose order differs between ranks.
pub(crate) fn refuse_hash_order<I>(operation: &str, site: &std::panic::Location<'_>) {
    let name = std::any::type_name::<I>();
    if LAST_CLEARED
        .get()
        .is_some_and(|cleared| std::ptr::eq(cleared, name))
    {
        return;
    }
    if name.contains("collections::hash::") || name.contains("hashbrown::") {
        misuse(format!(
            "{operation} at {site} iterates a HashMap or HashSet (`{name}`), whose order differs \
             between ranks: each rank's map has hash keys of its own, and only indices travel. \
             Iterate a BTreeMap or BTreeSet instead, or collect the items into a Vec and sort \
             it first"
        ));
    }
    LAST_CLEARED.set(Some(name));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_taken_and_the_rest_left() {
        let mut items = 0..100u32;
        let (head, first) = prefix(&mut items, by_hash);
        assert_eq!(head, (0..64).collect::<Vec<_>>());
        assert_eq!(items.next(), Some(64));
        let (_, again) = prefix(&mut (0..100u32), by_hash);
        let (_, other) = prefix(&mut (1..100u32).chain([0]), by_hash);
        assert_eq!(first, again);
        assert_ne!(first, other);
    }
}
