//! Journals: a split that records every item its ranks finish, so that a program started again
//! skips them and processes only the rest.
//!
//! A journal is a directory. When a journaled split starts, the first rank of its group reads
//! what earlier runs recorded there and hands the finished indices to the others (`open`);
//! the split then shares out the remaining items as it would a fresh iterable's, and each rank
//! turns the positions it gets into indices (`remaining`). Every rank records its finished runs
//! of items in a segment file of its own (`file`), one write per run, so a process killed at any
//! moment loses at most the items it was running. The crate's `stop` turns SIGTERM, SIGINT and
//! SIGUSR1 into a stop between runs of items.

mod file;
mod remaining;

use std::ops::Range;
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::comm::{Codec, unbox};
use crate::context::{self, RankContext};
use crate::failure::misuse;
use crate::ranks::Ranks;
use crate::stop;
use file::{Earlier, Segment};
pub(crate) use file::{Identity, Kind, Record};
pub(crate) use remaining::Remaining;

/// A journal as a split found it when it started.
pub(crate) struct Opened {
    directory: PathBuf,
    identity: Identity,
    run: u64,
    pub(crate) remaining: Arc<Remaining>,
    /// The results that earlier runs recorded, by index; only on the first rank of the group.
    pub(crate) results: Vec<(u64, Vec<u8>)>,
}

/// Opens the journal at `directory` for a split of the ranks of `ranks` over the iterable that
/// `identity` describes: a collective call of the group, where `rank` has peers.
pub(crate) fn open(
    rank: Option<&RankContext>,
    ranks: Ranks,
    directory: &Path,
    identity: Identity,
    site: &'static Location<'static>,
    operation: &'static str,
) -> Opened {
    // Outside any world, the split itself disarms when it ends (`Cursor`); a world does when
    // it ends.
    stop::arm();
    remember(directory, identity, operation, site);
    let earlier = match rank {
        Some(rank) => handed_round(rank, ranks, directory, identity, site),
        None => read(directory, identity),
    };
    let length = identity.length.map(|length| length as usize);
    Opened {
        directory: directory.to_owned(),
        identity,
        run: earlier.run,
        remaining: Arc::new(Remaining::new(length, &earlier.finished)),
        results: earlier.results,
    }
}

/// The journal as the first rank of the group read it.
fn handed_round(
    rank: &RankContext,
    ranks: Ranks,
    directory: &Path,
    identity: Identity,
    site: &'static Location<'static>,
) -> Earlier {
    // Every rank has written what it finished in earlier splits (a loop over the same journal
    // just before) by the time the first one reads: a broadcast's root does not wait for them.
    let written = rank.begin(ranks, "journal", None, site);
    rank.comm.barrier(&written);
    let call = rank.begin(ranks, "journal", None, site);
    let reads = ranks.place(rank.rank, rank.size).0 == 0;
    let mut results = Vec::new();
    // The results of a map stay with the rank that read them: the others need the indices.
    let handed = reads.then(|| {
        let mut earlier = read(directory, identity);
        results = std::mem::take(&mut earlier.results);
        Box::new(earlier) as crate::comm::Value
    });
    let handed = rank.comm.broadcast(&call, handed, Codec::of::<Earlier>());
    let mut earlier: Earlier = unbox(handed, || "the journal's round".to_owned());
    if reads {
        earlier.results = results;
        return earlier;
    }
    if !directory.is_dir() {
        misuse(format!(
            "the journal {} that rank {} made is not there for rank {}: a journal must be on a \
             filesystem that every process of the job sees (not a node's local disk)",
            directory.display(),
            ranks.first(),
            rank.rank
        ));
    }
    earlier
}

fn read(directory: &Path, identity: Identity) -> Earlier {
    file::read_or_create(directory, identity).unwrap_or_else(|message| misuse(message))
}

impl Opened {
    /// Where `rank` records what it finishes.
    pub(crate) fn segment(&self, rank: usize) -> Segment {
        Segment::new(&self.directory, self.run, rank, self.identity)
    }

    /// A rank's cursor through the remaining items; it records them where `records`.
    pub(crate) fn cursor(&self, rank: usize, records: bool, on_stop: OnStop) -> Cursor {
        Cursor {
            remaining: Arc::clone(&self.remaining),
            queued: Vec::new(),
            segment: records.then(|| self.segment(rank)),
            unrecorded: 0,
            on_stop,
            outside_world: context::current().is_none(),
        }
    }
}

/// What a rank does when a stop is asked for between two runs of its items.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OnStop {
    /// Unwinds: the world ends, and the program with it.
    Unwind,
    /// Takes no more items: the share of a map ends, and the map's main rank stops the world
    /// once it has recorded every result that was sent.
    End,
}

/// One rank's way through a journaled split: the indices of the positions it was given, and the
/// record of what it finished.
pub(crate) struct Cursor {
    remaining: Arc<Remaining>,
    /// Runs of indices of the last assignment, not handed out yet, last first.
    queued: Vec<Range<usize>>,
    segment: Option<Segment>,
    /// The first index of the current run not recorded yet.
    unrecorded: usize,
    pub(crate) on_stop: OnStop,
    /// Whether the split runs outside any world, where no world's end disarms the stop.
    outside_world: bool,
}

impl Drop for Cursor {
    fn drop(&mut self) {
        if self.outside_world {
            stop::disarm(false);
        }
    }
}

impl Cursor {
    /// The next run of indices of the positions already assigned, if any is left.
    pub(crate) fn queued(&mut self) -> Option<Range<usize>> {
        self.queued.pop()
    }

    /// The indices at `positions`: the first run of them, the others queued.
    pub(crate) fn indices(&mut self, positions: Range<usize>) -> Option<Range<usize>> {
        if self.remaining.is_everything() {
            return Some(positions);
        }
        let mut found = Vec::new();
        self.remaining.indices(positions, &mut found);
        found.reverse();
        self.queued = found;
        self.queued.pop()
    }

    /// A run of items starts at index `start`.
    pub(crate) fn run_starts(&mut self, start: usize) {
        self.unrecorded = start;
    }

    /// The items of the current run below `end` are finished: writes them down.
    pub(crate) fn finished_below(&mut self, end: usize) {
        if end <= self.unrecorded {
            return;
        }
        if let Some(segment) = &mut self.segment {
            segment.add(&Record::Finished {
                start: self.unrecorded as u64,
                end: end as u64,
            });
            segment.write();
        }
        self.unrecorded = end;
    }

    /// Puts what was written on disk.
    pub(crate) fn sync(&mut self) {
        if let Some(segment) = &mut self.segment {
            segment.sync();
        }
    }

    /// The signal of a stop asked of this job, if one was: here, or in another process.
    pub(crate) fn stop_asked(&self) -> Option<i32> {
        stop_asked()
    }
}

/// The signal of a stop asked of this job, if one was: here, or in another process.
pub(crate) fn stop_asked() -> Option<i32> {
    match context::current() {
        Some(rank) => rank.comm.stop_requested(),
        None => stop::requested(),
    }
}

/// The journal that the last journaled split of this process opened, for the line that says
/// how far a stopped job got.
struct Last {
    directory: PathBuf,
    identity: Identity,
    operation: &'static str,
    site: &'static Location<'static>,
}

static LAST: Mutex<Option<Last>> = Mutex::new(None);

fn remember(
    directory: &Path,
    identity: Identity,
    operation: &'static str,
    site: &'static Location<'static>,
) {
    let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *last = Some(Last {
        directory: directory.to_owned(),
        identity,
        operation,
        site,
    });
}

/// The line that tells the user a stop on `signal` ended the job: how many items of the last
/// journaled split are done, how many remain, and how to go on. Read from the journal itself,
/// once every rank has written its part.
pub(crate) fn stopped_line(signal: i32) -> String {
    let signal = stop::name(signal);
    let last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(last) = last.as_ref() else {
        return format!("dlp: stopped by {signal}");
    };
    let done: u64 = file::read_or_create(&last.directory, last.identity)
        .map(|earlier| {
            earlier
                .finished
                .iter()
                .map(|range| range.end - range.start)
                .sum()
        })
        .unwrap_or(0);
    let of = match last.identity.length {
        Some(length) => format!(
            "{done} of {length} items are done, {} remain",
            length.saturating_sub(done)
        ),
        None => format!("{done} items are done"),
    };
    format!(
        "dlp: stopped by {signal}: {of} ({} at {}); run the same command again to resume from \
         the journal {}",
        last.operation,
        last.site,
        last.directory.display()
    )
}

/// Ends the process after a stop on `signal`, saying how far the job got: the end of a world
/// whose ranks stopped, on threads or in a process of one rank.
pub(crate) fn exit_stopped(signal: i32) -> ! {
    eprintln!("{}", stopped_line(signal));
    std::process::exit(stop::exit_code(signal))
}

/// The identity of an iterable of `length` items whose first items have the fingerprint
/// `order`.
pub(crate) fn identity(kind: Kind, length: Option<usize>, order: Option<u64>) -> Identity {
    Identity {
        kind,
        length: length.map(|length| length as u64),
        order,
    }
}

/// Reads the results an earlier run of a map recorded: `(index, result)`.
pub(crate) fn decode_results<R: crate::message::Message>(
    results: Vec<(u64, Vec<u8>)>,
) -> impl Iterator<Item = (usize, R)> {
    results.into_iter().map(|(index, bytes)| {
        let result = crate::message::decode::<R>(&bytes, "a journaled map, reading its journal,");
        (index as usize, result)
    })
}

/// A map's main rank records results: `(index, encoded result)`.
pub(crate) fn result_record(index: usize, bytes: Vec<u8>) -> Record {
    Record::Result {
        index: index as u64,
        bytes,
    }
}

pub(crate) use file::Segment as ResultLog;
