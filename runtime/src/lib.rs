//! The runtime of [dlp](https://docs.rs/dlp): SPMD worlds over threads and serial, the splits
//! that share a loop's items among ranks, and the collectives that move values between them.
//!
//! Every rank runs the same code; rank 0 is the main rank. [`run`] starts a world from the
//! environment (threads by default, one rank per core) and runs a closure on every rank. Inside
//! it, the functions of this crate act on the calling rank. Outside any world, splits and
//! collectives act as in a world of one rank, so library code that uses them works unchanged in
//! ordinary programs; `rank()` and `size()` there are the process's place in its MPI job, if a
//! launcher started it.
//!
//! ```
//! let total = dlp::World::threads(4).run(|| {
//!     let mut mine = Vec::new();
//!     for x in dlp::split_managed(0..1000u64) {
//!         mine.push(x * x);
//!     }
//!     dlp::gather(mine).map(|all| all.concat().len())
//! });
//! assert_eq!(total, Some(1000));
//! ```
//!
//! # Failure
//! A panic on any rank ends the world: the failing rank's message is printed, followed by
//! `dlp: rank R panicked at item I: ...`; ranks blocked in a collective or waiting for work are
//! woken and unwound, and [`run`] re-raises the failure on the calling thread. A rank busy in
//! code that never calls into dlp stops at its next call (the next item of its loop). A rank
//! that waits in a collective that another rank has returned without calling gets an error
//! instead of a hang, and so do ranks whose calls or items disagree; `DLP_TIMEOUT` bounds every
//! other wait. The repository's README lists what dlp checks.
//!
//! # Layout
//! The public functions above are written once, against the small traits of the `comm` module
//! (`Comm` for collectives and the state of a split, `Counter` for dynamic claims,
//! `ResultChannel` for maps). Each backend implements them in a folder of `backend/` (`solo`,
//! `threads`, `mpi`), and `backend::launch` is the one place that picks a backend, from the
//! configuration that `config` reads. `context` holds the calling thread's rank and numbers its
//! collective calls; `split`, `map` and `collectives` build on it; `observe` shows progress,
//! reports the load and writes timelines. The repository's `ARCHITECTURE.md` follows a call
//! from `#[par_for]` to a backend.

#![warn(missing_docs)]

mod backend;
mod collect;
mod collectives;
mod comm;
mod config;
mod context;
mod expansion;
mod failure;
mod journal;
mod map;
mod message;
mod observe;
mod ranks;
mod split;
mod status;
mod stop;
mod world;

pub use collect::{DuplicateKey, MergeableMap, gather_flat, gather_in_order, gather_maps};
pub use collectives::{all_gather, all_reduce, barrier, broadcast, gather, reduce, scatter};
pub use config::{Backend, ConfigError};
pub use context::{is_main, rank, size};
pub use failure::Failure;
pub use map::{MapOrdered, MapUnordered, map_ordered, map_unordered};
pub use message::Message;
pub use split::{
    Journaled, Schedule, Share, ShareMap, Split, WithIndex, split_block, split_guided,
    split_managed, split_round_robin,
};
pub use world::{World, run};

/// The serde that [`Message`] is made of, with its derives, so that a program can send its own
/// types without a serde dependency of its own. A derive through this path names it with
/// `#[serde(crate = "dlp::serde")]`:
///
/// ```
/// use dlp::serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// #[serde(crate = "dlp::serde")]
/// struct Score {
///     example: u32,
///     value: f64,
/// }
///
/// let scores = dlp::World::threads(2).run(|| {
///     let mine: Vec<Score> = dlp::split_round_robin(0..4u32)
///         .map(|example| Score { example, value: f64::from(example) / 2.0 })
///         .collect();
///     dlp::gather_flat(mine)
/// });
/// let mut scores = scores.unwrap();
/// scores.sort_by_key(|score| score.example);
/// assert_eq!(scores[3], Score { example: 3, value: 1.5 });
/// ```
pub use serde;

#[doc(hidden)]
pub mod __private {
    pub use crate::expansion::*;
}
