//! The last call of a process: its ranks have returned. It sends an end record to every other
//! rank, on the whole world's post and on the worker ranks': a rank still waiting for one of
//! these in a collective learns that it has left, instead of waiting forever. Then it reads what
//! every other rank sent it up to that rank's own end: a record of a call that this process
//! never made is a call left unmatched, or one that differs from this process's call of that
//! number. A last all-gather shares what each process found, and a stop that any rank took, so
//! that one process reports for the job.

use std::panic::Location;
use std::time::Duration;

use super::collectives::all_records;
use super::post::{AFTER_THE_END, Post, REPORT_TIME};
use super::record::Record;
use super::{PANIC_EXIT_CODE, abort_job};
use crate::comm::Call;
use crate::failure::misuse_found;
use crate::ranks::Ranks;

/// Says that this process's ranks have returned, with the error the body returned if any, and
/// `stopped`, the signal of a stop that they took in a journaled split; returns once every rank
/// of the world has ended. Where any rank says it stopped, returns that signal, and the job ends
/// that way; a call left unmatched is reported, once for the job.
pub(crate) fn say_end(
    world: &Post,
    workers: Option<&Post>,
    error: Option<String>,
    stopped: Option<i32>,
) -> Option<i32> {
    let end = Record::end(error.as_deref(), stopped.map_or(0, |signal| signal as u64));
    let posts: Vec<&Post> = std::iter::once(world).chain(workers).collect();
    for post in &posts {
        post.send_end(end.clone());
    }
    let mut signal = stopped;
    let mut found: Option<String> = None;
    for post in &posts {
        for other in others(post) {
            let mut unmatched = None;
            let their_end = post.read_to_end(other, &mut unmatched);
            if their_end.extra() != 0 {
                signal = signal.or(Some(their_end.extra() as i32));
            }
            if let (None, Some(call)) = (&found, unmatched) {
                found = Some(post.unmatched(other, &call));
            }
        }
    }
    let last = last_call(world.world_rank(world.rank()));
    let signal_word = signal.map_or(0, |signal| signal as u64);
    let message = found.unwrap_or_default();
    let said = all_records(world, &last, signal_word, message.as_bytes());
    for post in &posts {
        post.finish_sends();
    }
    if let Some(signal) = said.iter().map(Record::extra).find(|&signal| signal != 0) {
        return Some(signal as i32);
    }
    match said.iter().position(|record| !record.payload().is_empty()) {
        None => None,
        Some(reporter) if reporter == world.rank() => {
            misuse_found(world.world_rank(reporter), message);
            abort_job(PANIC_EXIT_CODE)
        }
        Some(_) => wait_for_the_end(REPORT_TIME),
    }
}

/// The ranks of `post` but this one.
fn others(post: &Post) -> impl Iterator<Item = usize> + '_ {
    (0..post.size()).filter(move |&other| other != post.rank())
}

/// The exchange that ends the world, after every end record.
fn last_call(rank: usize) -> Call {
    Call {
        ranks: Ranks::All,
        number: AFTER_THE_END,
        operation: "the end of the world",
        rank,
        length: None,
        site: Location::caller(),
        order: None,
    }
}

/// Leaves the report to the reporting rank: gives it `time` to print and end the job, then ends
/// this process if it is still there.
pub(super) fn wait_for_the_end(time: Duration) -> ! {
    std::thread::sleep(time);
    // SAFETY: `_exit` ends the process at once. It skips the `atexit` hook on purpose: its
    // MPI_Finalize would wait for ranks that are gone.
    unsafe { libc::_exit(1) }
}
