//! The files of a journal: a directory of segments, one per rank and run, each a header and then
//! records.
//!
//! A record is its length (4 bytes), its bytes, and a checksum of them (8 bytes, FNV-1a). A
//! process killed while writing leaves at most its last record short or unchecked: the reader
//! stops at the first record that is incomplete or whose checksum fails, and keeps what came
//! before. Each run writes segments of its own (`run-R-rank-N`), so a torn record is never
//! followed by a later one in the same file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The first bytes of every segment, with the format's version.
const MAGIC: &[u8; 8] = b"dlpjrnl1";

/// What a journal records: the finished items of a loop, or the results of a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Kind {
    Loop,
    Map,
}

/// The iterable a journal was made for: its length where known, and the fingerprint of its
/// first items where they can be fingerprinted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Identity {
    pub(crate) kind: Kind,
    pub(crate) length: Option<u64>,
    pub(crate) order: Option<u64>,
}

impl Identity {
    /// How the iterable is described in an error.
    pub(crate) fn describe(&self) -> String {
        let what = match self.kind {
            Kind::Loop => "loop",
            Kind::Map => "map",
        };
        let length = self
            .length
            .map_or_else(|| "an unknown number of".to_owned(), |n| n.to_string());
        let order = self
            .order
            .map_or_else(String::new, |order| format!(", first items {order:016x}"));
        format!("a {what} over {length} items{order}")
    }
}

/// One record of a segment.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Record {
    /// The first record of every segment.
    Header(Identity),
    /// The items at these indices are finished.
    Finished { start: u64, end: u64 },
    /// The item at `index` is finished, and the map's function returned this (its encoding).
    Result { index: u64, bytes: Vec<u8> },
}

/// A stable 64-bit hash (FNV-1a): the same bytes give the same checksum in any build.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Appends `record`, framed, to `out`.
pub(crate) fn frame(record: &Record, out: &mut Vec<u8>) {
    let bytes = postcard::to_allocvec(record).expect("a journal record encodes");
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&bytes);
    out.extend_from_slice(&checksum(&bytes).to_le_bytes());
}

/// The whole records at the start of `bytes`, up to the first that is cut short or damaged.
pub(crate) fn records(mut bytes: &[u8]) -> Vec<Record> {
    let mut found = Vec::new();
    while let Some((record, rest)) = next_record(bytes) {
        found.push(record);
        bytes = rest;
    }
    found
}

fn next_record(bytes: &[u8]) -> Option<(Record, &[u8])> {
    let (length, rest) = bytes.split_first_chunk::<4>()?;
    let length = u32::from_le_bytes(*length) as usize;
    let body = rest.get(..length)?;
    let (sum, rest) = rest.get(length..)?.split_first_chunk::<8>()?;
    if u64::from_le_bytes(*sum) != checksum(body) {
        return None;
    }
    Some((postcard::from_bytes(body).ok()?, rest))
}

/// The segment of one rank in one run, made when it writes its first record.
pub(crate) struct Segment {
    path: PathBuf,
    identity: Identity,
    file: Option<File>,
    /// Records framed but not written yet.
    pending: Vec<u8>,
}

impl Segment {
    pub(crate) fn new(directory: &Path, run: u64, rank: usize, identity: Identity) -> Segment {
        Segment {
            path: directory.join(format!("run-{run}-rank-{rank}")),
            identity,
            file: None,
            pending: Vec::new(),
        }
    }

    /// Frames `record`, to be written at the next [`Segment::write`].
    pub(crate) fn add(&mut self, record: &Record) {
        frame(record, &mut self.pending);
    }

    /// Writes what was added, in one call: a process killed later loses none of it.
    pub(crate) fn write(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let written = match &mut self.file {
            Some(file) => file.write_all(&self.pending),
            None => self.create().and_then(|mut file| {
                let written = file.write_all(&self.pending);
                self.file = Some(file);
                written
            }),
        };
        if let Err(error) = written {
            crate::failure::misuse(format!(
                "cannot write the journal {}: {error}",
                self.path.display()
            ));
        }
        self.pending.clear();
    }

    /// Writes what was added and waits until it is on disk, where a crash of the machine keeps
    /// it too.
    pub(crate) fn sync(&mut self) {
        self.write();
        if let Some(file) = &self.file {
            // A journal that cannot be synced is still written: the next run reads what the
            // disk kept, and redoes the rest.
            let _ = file.sync_data();
        }
    }

    fn create(&mut self) -> std::io::Result<File> {
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&self.path)?;
        let mut header = MAGIC.to_vec();
        frame(&Record::Header(self.identity), &mut header);
        file.write_all(&header)?;
        Ok(file)
    }
}

/// What the runs before this one left in a journal.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Earlier {
    /// The number of the next run.
    pub(crate) run: u64,
    /// The finished indices, sorted and merged.
    pub(crate) finished: Vec<Range<u64>>,
    /// The results of a map's finished items, by index.
    pub(crate) results: Vec<(u64, Vec<u8>)>,
}

/// Reads the journal at `directory`, made for `identity`, creating it if it does not exist.
/// Fails with a message for the user when it is not a journal, or one made for another
/// iterable.
pub(crate) fn read_or_create(directory: &Path, identity: Identity) -> Result<Earlier, String> {
    let shown = directory.display();
    if directory.is_file() {
        return Err(format!(
            "the journal {shown} is a file; a journal is a directory that dlp makes: give a path \
             that does not exist yet"
        ));
    }
    std::fs::create_dir_all(directory)
        .map_err(|error| format!("cannot make the journal {shown}: {error}"))?;
    let entries = std::fs::read_dir(directory)
        .map_err(|error| format!("cannot read the journal {shown}: {error}"))?;
    let mut earlier = Earlier::default();
    let mut finished = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|error| format!("cannot read the journal {shown}: {error}"))?
            .path();
        let Some(run) = run_of(&path) else {
            continue; // not a segment: a user's note, an editor's backup
        };
        earlier.run = earlier.run.max(run + 1);
        let bytes = std::fs::read(&path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let Some(records) = bytes.strip_prefix(MAGIC).map(records) else {
            continue; // killed before its header was whole: it holds nothing
        };
        let mut records = records.into_iter();
        match records.next() {
            Some(Record::Header(made_for)) if made_for == identity => {}
            Some(Record::Header(made_for)) => {
                return Err(format!(
                    "the journal {shown} was made for {}, and this is {}: another iterable. \
                     Give this one a journal of its own, or delete {shown} to start over",
                    made_for.describe(),
                    identity.describe()
                ));
            }
            _ => continue,
        }
        for record in records {
            match record {
                Record::Finished { start, end } => finished.push(start..end),
                Record::Result { index, bytes } => {
                    finished.push(index..index + 1);
                    earlier.results.push((index, bytes));
                }
                Record::Header(_) => {}
            }
        }
    }
    earlier.finished = merged(finished);
    earlier.results.sort_by_key(|(index, _)| *index);
    earlier.results.dedup_by_key(|(index, _)| *index);
    Ok(earlier)
}

/// The run number in a segment's file name.
fn run_of(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let (run, _rank) = name.strip_prefix("run-")?.split_once("-rank-")?;
    run.parse().ok()
}

/// `ranges`, sorted, with overlapping and touching ones merged.
pub(crate) fn merged(mut ranges: Vec<Range<u64>>) -> Vec<Range<u64>> {
    ranges.retain(|range| !range.is_empty());
    ranges.sort_by_key(|range| range.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match out.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => out.push(range),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(length: u64) -> Identity {
        Identity {
            kind: Kind::Loop,
            length: Some(length),
            order: Some(7),
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let directory =
            std::env::temp_dir().join(format!("dlp-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        directory
    }

    #[test]
    fn a_cut_or_damaged_last_record_is_left_out() {
        let mut bytes = Vec::new();
        frame(&Record::Finished { start: 0, end: 4 }, &mut bytes);
        let whole = bytes.len();
        frame(&Record::Finished { start: 9, end: 12 }, &mut bytes);
        for cut in whole..bytes.len() {
            assert_eq!(records(&bytes[..cut]).len(), 1, "cut at {cut}");
        }
        assert_eq!(records(&bytes).len(), 2);
        let mut damaged = bytes.clone();
        damaged[whole + 5] ^= 1;
        assert_eq!(
            records(&damaged),
            vec![Record::Finished { start: 0, end: 4 }]
        );
    }

    #[test]
    fn runs_add_up_and_another_iterable_is_refused() {
        let directory = scratch("runs");
        assert_eq!(read_or_create(&directory, identity(10)).unwrap().run, 0);
        for (run, rank, range) in [(0, 0, 0..3), (0, 1, 5..6), (1, 0, 3..5)] {
            let mut segment = Segment::new(&directory, run, rank, identity(10));
            segment.add(&Record::Finished {
                start: range.start,
                end: range.end,
            });
            segment.sync();
        }
        let earlier = read_or_create(&directory, identity(10)).unwrap();
        assert_eq!(earlier.run, 2);
        assert_eq!(earlier.finished, std::iter::once(0..6).collect::<Vec<_>>());
        let error = read_or_create(&directory, identity(11)).unwrap_err();
        assert!(error.contains("another iterable"), "{error}");
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn ranges_merge() {
        assert_eq!(merged(vec![5..7, 0..2, 2..3, 6..9, 4..4]), vec![0..3, 5..9]);
    }
}
