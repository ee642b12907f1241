//! Before every collective call, the ranks of its group say which call they are making: one
//! `MPI_Allgather` of a few numbers per rank, which also carries what the call's first step
//! needs (a byte count, an iterable's length), and a value small enough to travel inside it (a
//! number, a short vector): a gather or broadcast of such values needs no second message. MPI itself matches collectives by order only, so
//! ranks that make different calls would hang or exchange garbage; here they find out, all at
//! once, and the lowest rank of the group explains it, naming both call sites.
//!
//! A rank whose body has returned makes one last such call, [`Said::End`], on every communicator
//! of its process at once ([`say_end`]): a rank still waiting in a collective, of the whole world
//! or of the worker ranks, learns that the rank it waits for has left the world.

use std::ffi::c_void;
use std::panic::Location;

use mpi::collective::CommunicatorCollectives;
use mpi::datatype::PartitionMut;
use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::{Communicator, SimpleCommunicator};

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::waits;
use crate::comm::Call;
use crate::failure::misuse;
use crate::ranks::Ranks;

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
    let of_workers = matches!(said, Said::Call(call) if call.ranks == Ranks::Workers);
    all_gather_words(comm, &mine, &mut words, of_workers);
    let headers: Vec<&[u64]> = words.chunks(SENT).collect();
    if headers.iter().any(|other| other[..3] != header[..3]) {
        if let Some(signal) = stop_said(&headers) {
            // Another rank stopped well: a rank in a call stops too, and one that has ended
            // says so again, until every rank has ended (`say_end`).
            match said {
                Said::Call(_) => crate::failure::stop_well(signal as i32),
                Said::End(_) => return Agreed { words },
            }
        }
        disagree(comm, &said, &headers);
    }
    // The same call everywhere; the first rank compares the items and reports.
    if let Said::Call(call) = &said {
        compare_items(comm, call, &headers);
    }
    Agreed { words }
}

/// The last call of a process whose ranks have all returned: says [`Said::End`], with the error
/// the body returned if any, on the whole world's communicator and on the worker ranks', if this
/// process has ranks among them, and returns once every rank of each has said it too. A rank
/// that waits in a call of either finds that these ranks have left, instead of waiting forever.
///
/// `stopped` is the signal of a stop that this process's ranks took in a journaled split. Where
/// any process says one, a rank still waiting in a call stops too, and says its end; returns
/// that signal once every rank of the world has ended, and the job ends that way.
///
/// The worker ranks' exchange is started first, and is nonblocking (as every exchange of theirs
/// is, [`all_gather_words`]): it completes while this process waits in the world's, so a worker
/// rank that waits for this one in a call of theirs learns it has left, whatever the world's
/// ranks are doing.
pub(crate) fn say_end(
    world: &SimpleCommunicator,
    workers: Option<&SimpleCommunicator>,
    error: Option<String>,
    stopped: Option<i32>,
) -> Option<i32> {
    let stopped = stopped.map_or(0, |signal| signal as u64);
    let mut mine = [0u64; SENT];
    mine[..WORDS].copy_from_slice(&Said::End(None).words(stopped));
    let mut exchange = workers.map(|workers| Exchange::start(workers, mine));
    loop {
        let agreed = agree(world, Said::End(error.clone()), stopped, &[]);
        let headers: Vec<&[u64]> = agreed.words.chunks(SENT).collect();
        let everyone_ended = headers.iter().all(|header| header[0] == END);
        match stop_said(&headers) {
            // The worker ranks' exchange may never complete: a process that stopped in one of
            // their calls has said its end there already. It is left, with the process.
            Some(signal) if everyone_ended => {
                if exchange
                    .as_mut()
                    .is_some_and(|exchange| exchange.test().is_none())
                {
                    EXCHANGE_LEFT.store(true, Ordering::Relaxed);
                }
                return Some(signal as i32);
            }
            Some(_) => continue,
            None => break,
        }
    }
    let Some(exchange) = &mut exchange else {
        return None;
    };
    let mut words = None;
    let mut done = || {
        words = exchange.test();
        words.is_some()
    };
    match waits::current() {
        Some(waits) => waits.poll(done),
        None => {
            while !done() {
                std::hint::spin_loop();
            }
        }
    }
    let words = words.expect("polled until done");
    if words.chunks(SENT).any(|other| other[..3] != mine[..3]) {
        // A worker rank waits in a call: it reports that this one has left.
        wait_for_the_end(REPORT_TIME);
    }
    None
}

/// Set when this process ends with its last exchange among the worker ranks still pending,
/// which MPI_Finalize could wait for.
static EXCHANGE_LEFT: AtomicBool = AtomicBool::new(false);

/// Whether this process has left an exchange pending ([`say_end`] after a stop).
pub(crate) fn exchange_left() -> bool {
    EXCHANGE_LEFT.load(Ordering::Relaxed)
}

/// The signal of a stop that a rank which has ended says it took, if any.
fn stop_said(headers: &[&[u64]]) -> Option<u64> {
    headers
        .iter()
        .find(|header| header[0] == END && header[WORDS - 1] != 0)
        .map(|header| header[WORDS - 1])
}

/// This rank's words on their way to every rank of the worker ranks' communicator, by
/// `MPI_Iallgather` (which matches the other ranks' [`all_gather_words`]).
struct Exchange {
    request: ffi::MPI_Request,
    /// This rank's words, then every rank's as they arrive: allocated in `start`, freed once the
    /// exchange is complete, and leaked by an exchange that never completes (a process that
    /// stops on a mismatch of the world's ranks), whose buffers MPI may still use.
    buffer: *mut [u64],
}

impl Exchange {
    fn start(comm: &SimpleCommunicator, mine: [u64; SENT]) -> Exchange {
        let ranks = comm.size() as usize;
        let mut buffer = vec![0u64; SENT * (ranks + 1)].into_boxed_slice();
        buffer[..SENT].copy_from_slice(&mine);
        let buffer = Box::into_raw(buffer);
        let base = buffer.cast::<u64>();
        let mut request = std::mem::MaybeUninit::<ffi::MPI_Request>::uninit();
        // SAFETY: `buffer` holds SENT words to send, then SENT words for each rank of `comm` to
        // receive; it stays allocated, and untouched, until `test` finds the exchange complete,
        // or forever. `comm` is a live communicator, and MPI writes the request's handle.
        let request = unsafe {
            ffi::MPI_Iallgather(
                base.cast::<c_void>(),
                SENT as i32,
                ffi::RSMPI_UINT64_T,
                base.add(SENT).cast::<c_void>(),
                SENT as i32,
                ffi::RSMPI_UINT64_T,
                comm.as_raw(),
                request.as_mut_ptr(),
            );
            request.assume_init()
        };
        Exchange { request, buffer }
    }

    /// Every rank's words, once the exchange is complete.
    fn test(&mut self) -> Option<Box<[u64]>> {
        let mut done: i32 = 0;
        // SAFETY: `request` is the pending exchange started in `start`, tested until complete
        // and not after (the caller drops the exchange once this returns words).
        unsafe {
            ffi::MPI_Test(&mut self.request, &mut done, ffi::RSMPI_STATUS_IGNORE);
        }
        if done == 0 {
            return None;
        }
        // SAFETY: the exchange is complete, so MPI no longer uses the buffer, which `start`
        // allocated as a box and nothing else frees.
        let buffer = unsafe { Box::from_raw(self.buffer) };
        Some(buffer[SENT..].into())
    }
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
    let rank = comm.rank() as usize;
    if let Said::Call(call) = said
        && call.ranks == Ranks::Workers
        && let Some(ended) = headers.iter().position(|header| header[0] == END)
    {
        // A process that has left says so to the worker ranks without waiting for them (see
        // `say_end`): it takes no part in an exchange of what each said.
        let reporter = headers.iter().position(|header| header[0] != END);
        if reporter != Some(rank) {
            wait_for_the_end(REPORT_TIME);
        }
        misuse(call.absent(super::first_rank_of(call.ranks, ended), None));
    }
    let described = all_descriptions(comm, said);
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
///
/// The worker ranks' exchanges are MPI's nonblocking all-gather, even where this rank just waits
/// for it: a nonblocking collective never matches a blocking one, and a process that has left
/// says so to them with one ([`say_end`]). The whole world's are blocking where nothing is
/// polled, which costs MPICH a third less.
fn all_gather_words(comm: &SimpleCommunicator, mine: &[u64], all: &mut [u64], of_workers: bool) {
    let waits = waits::current();
    if waits.is_none() && !of_workers {
        comm.all_gather_into(mine, all);
        return;
    }
    mpi::request::scope(|scope| {
        let request = comm.immediate_all_gather_into(scope, mine, all);
        let Some(waits) = waits else {
            request.wait();
            return;
        };
        let mut request = Some(request);
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
