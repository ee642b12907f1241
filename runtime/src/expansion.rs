//! What the attributes of `dlp-macros` expand to. Not a public API: reached as
//! `dlp::__private`, and free to change with the macros.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::context;
use crate::failure::misuse;
use crate::message::Message;
use crate::split::{Fingerprint, Share, Split, by_debug, by_hash, by_key};

/// Set when a rank other than the main one returned an error from `#[dlp::main]`.
static A_RANK_RETURNED_AN_ERROR: AtomicBool = AtomicBool::new(false);

/// What a `#[dlp::main]` function may return: `()` or a `Result`.
#[diagnostic::on_unimplemented(
    message = "#[dlp::main] functions return `()` or `Result<(), E>`, not `{Self}`",
    label = "this return type"
)]
pub trait MainOutcome {
    /// The error to report, if this outcome is one.
    fn error(&self) -> Option<String>;
}

impl MainOutcome for () {
    fn error(&self) -> Option<String> {
        None
    }
}

impl<T, E: Debug> MainOutcome for Result<T, E> {
    fn error(&self) -> Option<String> {
        self.as_ref().err().map(|error| format!("{error:?}"))
    }
}

/// `#[dlp::main]`: runs the body on every rank and returns the main rank's outcome. An error
/// returned on another rank is printed with its rank, and the process exits with status 1 once
/// the world has ended.
pub fn run_main<R: MainOutcome>(body: impl Fn() -> R + Sync) -> R {
    let outcome = crate::run(|| {
        let outcome = body();
        if !context::is_main()
            && let Some(error) = outcome.error()
        {
            eprintln!("dlp: rank {} returned an error: {error}", context::rank());
            if let Some(rank) = context::current() {
                rank.status.returned_error(error);
            }
            A_RANK_RETURNED_AN_ERROR.store(true, Ordering::SeqCst);
        }
        outcome
    });
    if outcome.error().is_none() && A_RANK_RETURNED_AN_ERROR.load(Ordering::SeqCst) {
        std::process::exit(1);
    }
    outcome
}

/// An argument of a `#[dlp::spmd]` function: every rank of a region gets its own copy.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a #[dlp::spmd] function: it is not `Clone`",
    label = "every rank of a parallel region gets its own clone of this argument",
    note = "pass a reference (`&{Self}`), or derive or implement `Clone`"
)]
pub trait RankCopy {
    /// This rank's copy.
    fn rank_copy(&self) -> Self;
}

impl<T: Clone> RankCopy for T {
    fn rank_copy(&self) -> Self {
        self.clone()
    }
}

/// A rank's copy of an argument of a `#[dlp::spmd]` function.
pub fn rank_copy<T: RankCopy>(value: &T) -> T {
    value.rank_copy()
}

/// `#[dlp::spmd]`: inside a world, runs `body` with `arguments` on this rank. Outside any world,
/// opens one: every rank runs `body` with its own copy of the arguments (made by `copy`), and
/// the main rank's result is returned.
pub fn region<A: Sync, R>(
    arguments: A,
    copy: impl Fn(&A) -> A + Sync,
    body: impl Fn(A) -> R + Sync,
) -> R {
    if context::current().is_some() {
        return match context::body() {
            Some(_) => crate::backend::team_of_one(|| body(arguments)),
            None => body(arguments),
        };
    }
    crate::run(|| body(copy(&arguments)))
}

/// A value that `#[main_only(broadcast)]` can hand to every rank.
#[diagnostic::on_unimplemented(
    message = "#[main_only(broadcast)] cannot send a `{Self}` to the other ranks: it is not a `dlp::Message`",
    label = "the return type must be `Serialize + DeserializeOwned + Send + 'static`",
    note = "derive `Serialize` and `Deserialize` for it (serde's, or `dlp::serde`'s with `#[serde(crate = \"dlp::serde\")]`), or drop `broadcast` to return `Option<{Self}>`"
)]
pub trait Broadcastable: Message {}

impl<T: Message> Broadcastable for T {}

/// `#[main_only(broadcast)]`: the main rank's value, on every rank.
#[track_caller]
pub fn broadcast_result<T: Broadcastable>(value: Option<T>) -> T {
    crate::broadcast(value)
}

/// Which ranks run a `#[par_for]` loop: all of them (`#[dlp::main]`, `#[dlp::spmd]`), the main
/// rank alone (`#[main_only]`), or the others (`#[worker_only]`).
pub use crate::ranks::Ranks;
/// A `#[par_for]` loop: the items are shared by `ranks` only, and where `order` is given, the
/// ranks compare the order of their items with it.
#[track_caller]
pub fn split_among<I: IntoIterator>(
    split: Split,
    ranks: Ranks,
    items: I,
    order: Option<Fingerprint<I::Item>>,
) -> Share<I::IntoIter> {
    if !ranks.contains(context::rank(), context::size()) {
        misuse(ranks.misplaced_loop_message(context::rank()));
    }
    split.over_among(ranks, items, order)
}

/// A `#[par_for(journal = ...)]` loop: [`split_among`] with the finished items recorded in the
/// journal at `directory`. Its items must be fingerprintable (`Hash` or `Debug`), so that a
/// journal made for other items is told apart.
#[track_caller]
pub fn split_among_journaled<I: IntoIterator>(
    split: Split,
    ranks: Ranks,
    items: I,
    order: Option<Fingerprint<I::Item>>,
    directory: impl JournalPath,
) -> Share<I::IntoIter> {
    if !ranks.contains(context::rank(), context::size()) {
        misuse(ranks.misplaced_loop_message(context::rank()));
    }
    if order.is_none() {
        misuse(format!(
            "the items of the journaled #[par_for] loop at {} are neither `Hash` nor `Debug`, so \
             its journal cannot tell them from another iterable's; derive one of them for `{}`",
            std::panic::Location::caller(),
            std::any::type_name::<I::Item>()
        ));
    }
    let directory = directory.journal_path();
    split
        .over_journaled(ranks, items, order, directory, crate::journal::Kind::Loop)
        .0
}

/// What `#[par_for(journal = ..)]` takes: a path.
#[diagnostic::on_unimplemented(
    message = "a journal is a path, and `{Self}` is not one (`AsRef<Path>`)",
    label = "the journal of this #[par_for] loop",
    note = "write `journal = \"out/loop.journal\"`, or pass a `&Path`, `PathBuf` or `String`"
)]
pub trait JournalPath {
    /// The path.
    fn journal_path(&self) -> &std::path::Path;
}

impl<T: AsRef<std::path::Path> + ?Sized> JournalPath for T {
    fn journal_path(&self) -> &std::path::Path {
        self.as_ref()
    }
}

/// The iterable of a `#[par_for]` loop, held while the expansion picks how to fingerprint its
/// items (see [`PickFingerprint`]).
pub struct Probe<T>(T);

impl<T> Probe<T> {
    /// Holds `items`.
    pub fn new(items: T) -> Self {
        Probe(items)
    }

    /// The items.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// How the items of a `#[par_for]` loop are fingerprinted, so that the ranks can compare their
/// order. Called as `(&&&&probe).fingerprint()`: method lookup tries the receiver types from the
/// most references down, so the first impl that applies to the item type wins: `Hash`, then a
/// pair whose first element is `Hash` (a map's entries, by key), then `Debug`, then nothing.
/// The impls are for different types, so they never overlap.
pub trait PickFingerprint {
    /// The item type.
    type Item;
    /// How to fingerprint an item, if it can be.
    fn fingerprint(self) -> Option<Fingerprint<Self::Item>>;
}

impl<T: IntoIterator> PickFingerprint for &&&&Probe<T>
where
    T::Item: Hash,
{
    type Item = T::Item;
    fn fingerprint(self) -> Option<Fingerprint<T::Item>> {
        Some(by_hash::<T::Item>)
    }
}

impl<T, K: Hash, V> PickFingerprint for &&&Probe<T>
where
    T: IntoIterator<Item = (K, V)>,
{
    type Item = (K, V);
    fn fingerprint(self) -> Option<Fingerprint<(K, V)>> {
        Some(by_key::<K, V>)
    }
}

impl<T: IntoIterator> PickFingerprint for &&Probe<T>
where
    T::Item: Debug,
{
    type Item = T::Item;
    fn fingerprint(self) -> Option<Fingerprint<T::Item>> {
        Some(by_debug::<T::Item>)
    }
}

impl<T: IntoIterator> PickFingerprint for &Probe<T> {
    type Item = T::Item;
    fn fingerprint(self) -> Option<Fingerprint<T::Item>> {
        None
    }
}
