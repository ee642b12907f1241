//! Before every collective call, the ranks of its group say which call they are making: one
//! `MPI_Allgather` of a few numbers per rank, which also carries what the call's first step
//! needs (a byte count, an iterable's length), and a value small enough to travel inside it (a
//! number, a short vector): a gather or broadcast of such values needs no second message. MPI itself matches collectives by order only, so
//! ranks that make different calls would hang or exchange garbage; here they find out, all at
//! once, and the lowest rank of the group explains it, naming both call sites.
//!
//! A rank whose body has returned makes one last such call, [`Said::End`]: a rank still waiting
//! in a collective learns that the rank it waits for has left the world.

use std::panic::Location;

use mpi::collective::CommunicatorCollectives;
use mpi::datatype::PartitionMut;
use mpi::topology::{Communicator, SimpleCommunicator};

use std::time::Duration;

use super::waits;
use crate::comm::Call;
use crate::failure::misuse;

/// What a rank says before a collective: a call, or that its body has returned.
pub(crate) enum Said<'a> {
    Call(&'a Call),
    /// The body has returned; with the error it returned, if any.
    End(Option<String>),
}

/// The numbers a rank sends: call number, operation, call site, iterable length, the
/// fingerprint of the order of its items, and one number of the operation's own.
const WORDS: usize = 6;
const LENGTH: usize = 3;
const ORDER: usize = 4;
const UNKNOWN: u64 = u64::MAX;

/// The bytes of a value that travel inside the agreement itself.
pub(crate) const INLINE_BYTES: usize = 32;
const INLINE_WORDS: usize = INLINE_BYTES / 8;
/// The words a rank sends: its header, then its inline bytes.
const SENT: usize = WORDS + INLINE_WORDS;

/// What the ranks said, once they agree.
pub(crate) struct Agreed {
    /// Every rank's words, in rank order, [`SENT`] each.
    words: Vec<u64>,
}

/// Bytes that a rank sent inline, copied out of the agreement's words.
pub(crate) struct Inline {
    bytes: [u8; INLINE_BYTES],
    length: usize,
}

impl AsRef<[u8]> for Inline {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.length]
    }
}

impl Agreed {
    /// Every rank's number of the operation's own, in rank order.
    pub(crate) fn extras(&self) -> Vec<u64> {
        self.words
            .chunks(SENT)
            .map(|sent| sent[WORDS - 1])
            .collect()
    }

    /// The first `length` bytes (at most [`INLINE_BYTES`]) that `rank` sent inline.
    pub(crate) fn inline(&self, rank: usize, length: usize) -> Inline {
        let slot = &self.words[rank * SENT + WORDS..(rank + 1) * SENT];
        let mut bytes = [0u8; INLINE_BYTES];
        for (eight, word) in bytes.chunks_exact_mut(8).zip(slot) {
            eight.copy_from_slice(&word.to_ne_bytes());
        }
        Inline { bytes, length }
    }
}

/// How long the rank that explains a mismatch may take to print it and end the job.
const REPORT_TIME: Duration = Duration::from_secs(3);
const END: u64 = u64::MAX;

/// A stable 64-bit hash (FNV-1a) of `bytes`, continuing from `hash`: the ranks run the same
/// program, so equal texts give equal numbers on every rank.
fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

fn fingerprint(text: &str) -> u64 {
    fnv(FNV_START, text.as_bytes())
}

/// The fingerprint of a call site: its file, line and column (not its address, which differs
/// between processes).
fn site_fingerprint(site: &Location<'_>) -> u64 {
    let file = fnv(FNV_START, site.file().as_bytes());
    let line = fnv(file, &site.line().to_le_bytes());
    fnv(line, &site.column().to_le_bytes())
}

impl Said<'_> {
    fn words(&self, extra: u64) -> [u64; WORDS] {
        match self {
            Said::Call(call) => [
                call.number,
                fingerprint(call.operation),
                site_fingerprint(call.site),
                call.length.map_or(UNKNOWN, |length| length as u64),
                call.order.unwrap_or(UNKNOWN),
                extra,
            ],
            Said::End(_) => [END, END, END, UNKNOWN, UNKNOWN, extra],
        }
    }

    fn describe(&self) -> String {
        match self {
            Said::Call(call) => format!("{} at {}", call.operation, call.site),
            Said::End(error) => error.clone().unwrap_or_default(),
        }
    }
}

/// Says `said` to the ranks of `comm`, with `extra` and the `inline` bytes (at most
/// [`INLINE_BYTES`]); returns what every rank said once every rank has said the same call, with
/// the same iterable length. Where they disagree, one rank reports why and ends the job (the
/// lowest that is still in its body); the others leave the report to it.
pub(crate) fn agree(
    comm: &SimpleCommunicator,
    said: Said<'_>,
    extra: u64,
    inline: &[u8],
) -> Agreed {
    debug_assert!(
        inline.len() <= INLINE_BYTES,
        "only small values travel inline"
    );
    let header = said.words(extra);
    let mut mine = [0u64; SENT];
    mine[..WORDS].copy_from_slice(&header);
    for (word, bytes) in mine[WORDS..].iter_mut().zip(inline.chunks(8)) {
        let mut eight = [0u8; 8];
        eight[..bytes.len()].copy_from_slice(bytes);
        *word = u64::from_ne_bytes(eight);
    }
    let mut words = vec![0u64; SENT * comm.size() as usize];
    all_gather_words(comm, &mine, &mut words);
    let headers: Vec<&[u64]> = words.chunks(SENT).collect();
    if headers.iter().any(|other| other[..3] != header[..3]) {
        disagree(comm, &said, &headers);
    }
    // The same call everywhere; the first rank compares the items and reports.
    if let Said::Call(call) = &said {
        compare_items(comm, call, &headers);
    }
    Agreed { words }
}

/// Stops the ranks if their iterables differ in length or in the order of their items; the
/// first rank of the group reports it.
fn compare_items(comm: &SimpleCommunicator, call: &Call, headers: &[&[u64]]) {
    let differs = |word: usize| {
        let first = headers[0][word];
        let known = |value: u64| value != UNKNOWN;
        headers
            .iter()
            .position(|header| known(first) && known(header[word]) && header[word] != first)
    };
    let length = headers
        .iter()
        .position(|header| header[LENGTH] != headers[0][LENGTH]);
    let message = match (length, differs(ORDER)) {
        (None, None) => return,
        (Some(other), _) => {
            let theirs = headers[other][LENGTH];
            let theirs = (theirs != UNKNOWN).then_some(theirs as usize);
            call.length_mismatch(super::first_rank_of(call.ranks, other), theirs)
        }
        (None, Some(other)) => call.order_mismatch(super::first_rank_of(call.ranks, other)),
    };
    if comm.rank() != 0 {
        wait_for_the_end(REPORT_TIME);
    }
    misuse(message)
}

/// Every rank of `comm` has seen that the calls differ: they exchange what they called, and the
/// lowest rank still in its body explains it; the others stop and wait for the job to end.
fn disagree(comm: &SimpleCommunicator, said: &Said<'_>, headers: &[&[u64]]) -> ! {
    let described = all_descriptions(comm, said);
    let rank = comm.rank() as usize;
    let reporter = headers.iter().position(|header| header[0] != END);
    if reporter != Some(rank) {
        wait_for_the_end(REPORT_TIME);
    }
    let Said::Call(call) = said else {
        unreachable!("the reporter is in its body")
    };
    let other = (0..headers.len())
        .find(|&other| headers[other][..3] != headers[rank][..3])
        .expect("the calls differ");
    let other_world_rank = super::first_rank_of(call.ranks, other);
    if headers[other][0] == END {
        let error = Some(described[other].as_str()).filter(|error| !error.is_empty());
        misuse(call.absent(other_world_rank, error));
    }
    misuse(format!(
        "collective #{} does not match across ranks: rank {} called {}, rank {other_world_rank} \
         called {}. Every rank must make the same collective calls (splits and maps included) \
         in the same order",
        call.number, call.rank, described[rank], described[other]
    ))
}

/// Every rank's words, in rank order: polled where the rank's waits have a limit.
fn all_gather_words(comm: &SimpleCommunicator, mine: &[u64], all: &mut [u64]) {
    let Some(waits) = waits::current() else {
        comm.all_gather_into(mine, all);
        return;
    };
    mpi::request::scope(|scope| {
        let mut request = Some(comm.immediate_all_gather_into(scope, mine, all));
        waits.poll(|| match request.take().expect("polled until done").test() {
            Ok(_) => true,
            Err(pending) => {
                request = Some(pending);
                false
            }
        });
    });
}

/// Leaves the report to the reporting rank: gives it `time` to print and end the job, then ends
/// this process if it is still there.
pub(super) fn wait_for_the_end(time: Duration) -> ! {
    std::thread::sleep(time);
    // SAFETY: `_exit` ends the process at once. It skips the `atexit` hook on purpose: its
    // MPI_Finalize would wait for ranks that are gone.
    unsafe { libc::_exit(1) }
}

/// What each rank of `comm` said, as text, in rank order.
fn all_descriptions(comm: &SimpleCommunicator, said: &Said<'_>) -> Vec<String> {
    let text = said.describe().into_bytes();
    let size = comm.size() as usize;
    let mut counts = vec![0i32; size];
    comm.all_gather_into(&(text.len() as i32), &mut counts[..]);
    let (mut all, displacements) = super::collectives::receive_buffer(&counts);
    {
        let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displacements[..]);
        comm.all_gather_varcount_into(&text[..], &mut partition);
    }
    let mut texts = Vec::with_capacity(size);
    let mut start = 0;
    for &count in &counts {
        let end = start + count as usize;
        texts.push(String::from_utf8_lossy(&all[start..end]).into_owned());
        start = end;
    }
    texts
}
