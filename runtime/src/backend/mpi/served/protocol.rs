//! The messages between the ranks and the claim server (a request is seven words, a reply
//! three), and the step a claim takes on a counter, on the server or in the main rank's process.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use mpi::Tag;

use crate::comm::Step;

/// The world rank whose process runs the server.
pub(super) const SERVER: i32 = 0;
pub(super) const REQUEST: Tag = 1;
pub(super) const REPLY: Tag = 2;

/// What a request asks for. A request is `[kind, counter, a, b, c, d, e]`; the server replies
/// `[value, end, 0]` (`end` only to `Advance`), or [`NOT_OPEN`], to every kind but `Bump` and
/// `Close`. Requests of one process are served in the order it sent them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u64)]
pub(super) enum Kind {
    /// A new counter at 0 that `a` processes share; replies with its id.
    Open = 0,
    /// Adds `a`; replies with the value before.
    Add = 1,
    /// Sets the value to `b` if it is `a`; replies with the value found.
    Swap = 2,
    /// Advances by the [`Step`] `a..=e`; replies with the value before.
    Advance = 3,
    /// Adds `a`; no reply.
    Bump = 4,
    /// Counts the sending process as settled if `a` is 1; replies with how many processes
    /// have settled.
    Settle = 5,
    /// The sending process is done with the counter: once every process that shares it is, the
    /// server forgets it. No reply.
    Close = 6,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Open,
        Kind::Add,
        Kind::Swap,
        Kind::Advance,
        Kind::Bump,
        Kind::Settle,
        Kind::Close,
    ];

    pub(super) fn of(word: u64) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| *kind as u64 == word)
    }

    /// Whether the server replies to a request of this kind.
    pub(super) fn replied(word: u64) -> bool {
        !matches!(Kind::of(word), Some(Kind::Bump | Kind::Close))
    }
}

pub(super) type Request = [u64; 7];

pub(super) fn request(kind: Kind, counter: u64, a: u64, b: u64) -> Request {
    [kind as u64, counter, a, b, 0, 0, 0]
}

pub(super) fn advance_request(counter: u64, step: Step) -> Request {
    let words = [
        step.length,
        step.divisor,
        step.round_up.into(),
        step.min,
        step.max,
    ];
    let [a, b, c, d, e] = words.map(|word| word as u64);
    [Kind::Advance as u64, counter, a, b, c, d, e]
}

fn step_of([_, _, a, b, c, d, e]: Request) -> Step {
    Step {
        length: a as usize,
        divisor: b as usize,
        round_up: c != 0,
        min: d as usize,
        max: e as usize,
    }
}

/// What `request` does to `counter`, `[value, end]` (`end` only for `Advance`): the same on the
/// server and in the main rank's process. Only for the kinds that act on one open counter's
/// value; `Open`, `Settle` and `Close` act on the server's set of counters.
pub(super) fn apply(counter: &AtomicU64, request: Request) -> [u64; 2] {
    let [kind, _, a, b, ..] = request;
    let value = match Kind::of(kind) {
        Some(Kind::Add | Kind::Bump) => counter.fetch_add(a, Ordering::AcqRel),
        Some(Kind::Swap) => {
            let swapped = counter.compare_exchange(a, b, Ordering::AcqRel, Ordering::Acquire);
            let (Ok(found) | Err(found)) = swapped;
            found
        }
        Some(Kind::Advance) => {
            let chunk = advance(counter, step_of(request));
            return [chunk.start, chunk.end];
        }
        Some(Kind::Open | Kind::Settle | Kind::Close) | None => 0,
    };
    [value, 0]
}

/// Advances `counter` by `step`: the indices claimed, none once it has reached `step.length`.
fn advance(counter: &AtomicU64, step: Step) -> Range<u64> {
    let length = step.length as u64;
    if let Some(size) = step.fixed() {
        let start = counter.fetch_add(size as u64, Ordering::AcqRel);
        return start.min(length)..(start + size as u64).min(length);
    }
    let advanced = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |at| {
        let size = step.size(at as usize) as u64;
        (size > 0).then_some(at + size)
    });
    match advanced {
        Ok(before) => before..before + step.size(before as usize) as u64,
        Err(at) => at..at,
    }
}

/// The reply to a request for a counter that is not open.
pub(super) const NOT_OPEN: Reply = [0, 0, 1];

pub(super) type Reply = [u64; 3];

/// The answer in `reply`.
pub(super) fn answer_of(reply: Reply) -> [u64; 2] {
    assert!(
        reply != NOT_OPEN,
        "dlp: internal error: a claim for a counter the main rank's process does not hold"
    );
    [reply[0], reply[1]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advance_past_the_length_leaves_the_counter_alone() {
        let counter = AtomicU64::new(30);
        let step = Step {
            length: 30,
            divisor: 2,
            round_up: true,
            min: 1,
            max: 8,
        };
        assert_eq!(advance(&counter, step), 30..30);
        assert_eq!(counter.load(Ordering::Relaxed), 30);
    }
}
