//! The collectives over MPI: values are encoded once, and travel in MPI's own collectives.

use mpi::Count;
use mpi::datatype::{Partition, PartitionMut};
use mpi::traits::*;

use super::wire;
use crate::failure::misuse;
use crate::message::Message;
use mpi::topology::SimpleCommunicator;

const ROOT: i32 = 0;

/// Byte counts as MPI takes them: a message over 2 GiB is an error that says so.
fn count(bytes: usize, operation: &str) -> Count {
    Count::try_from(bytes).unwrap_or_else(|_| {
        misuse(format!(
            "{operation}: a message of {bytes} bytes is over MPI's 2 GiB limit for one \
             message; send it in parts"
        ))
    })
}

/// Where each rank's bytes start in the concatenation of all of them.
fn displacements(counts: &[Count]) -> Vec<Count> {
    counts
        .iter()
        .scan(0, |start, &count| {
            let this = *start;
            *start += count;
            Some(this)
        })
        .collect()
}

/// A receive buffer for the pieces of `counts`, with where each piece starts.
fn receive_buffer(counts: &[Count]) -> (Vec<u8>, Vec<Count>) {
    let total: usize = counts.iter().map(|&count| count as usize).sum();
    (vec![0u8; total], displacements(counts))
}

/// Cuts `bytes` into the pieces of `counts` and decodes each, but for piece `own`: that is the
/// calling rank's `value`, moved in rather than decoded again.
fn assemble<T: Message>(
    bytes: &[u8],
    counts: &[Count],
    own: usize,
    value: T,
    operation: &str,
) -> Vec<T> {
    let mut value = Some(value);
    let mut start = 0;
    counts
        .iter()
        .enumerate()
        .map(|(rank, &count)| {
            let end = start + count as usize;
            let piece = &bytes[start..end];
            start = end;
            if rank == own {
                value.take().expect("one piece is this rank's")
            } else {
                wire::decode(piece, operation)
            }
        })
        .collect()
}

pub(crate) fn barrier(comm: &SimpleCommunicator) {
    comm.barrier();
}

/// The main rank's bytes, on every rank.
fn broadcast_bytes(comm: &SimpleCommunicator, bytes: Option<Vec<u8>>, operation: &str) -> Vec<u8> {
    let root = comm.process_at_rank(ROOT);
    let mut length = bytes.as_ref().map_or(0, Vec::len) as u64;
    root.broadcast_into(&mut length);
    let mut bytes = bytes.unwrap_or_else(|| vec![0; length as usize]);
    count(bytes.len(), operation);
    root.broadcast_into(&mut bytes[..]);
    bytes
}

pub(crate) fn broadcast<T: Message>(
    comm: &SimpleCommunicator,
    value: Option<T>,
    operation: &str,
) -> T {
    if comm.rank() == ROOT {
        let value = value.expect("checked by the caller");
        broadcast_bytes(
            comm,
            Some(wire::encode(&value, operation).into_owned()),
            operation,
        );
        value
    } else {
        wire::decode(&broadcast_bytes(comm, None, operation), operation)
    }
}

pub(crate) fn gather<T: Message>(
    comm: &SimpleCommunicator,
    value: T,
    operation: &str,
) -> Option<Vec<T>> {
    let bytes = wire::encode(&value, operation);
    let root = comm.process_at_rank(ROOT);
    let mine = count(bytes.len(), operation);
    if comm.rank() != ROOT {
        root.gather_into(&mine);
        root.gather_varcount_into(&bytes[..]);
        return None;
    }
    let mut counts = vec![0 as Count; comm.size() as usize];
    root.gather_into_root(&mine, &mut counts[..]);
    let (mut all, displs) = receive_buffer(&counts);
    {
        let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
        root.gather_varcount_into_root(&bytes[..], &mut partition);
    }
    Some(assemble(&all, &counts, ROOT as usize, value, operation))
}

pub(crate) fn all_gather<T: Message>(
    comm: &SimpleCommunicator,
    value: T,
    operation: &str,
) -> Vec<T> {
    let bytes = wire::encode(&value, operation);
    let mine = count(bytes.len(), operation);
    let mut counts = vec![0 as Count; comm.size() as usize];
    comm.all_gather_into(&mine, &mut counts[..]);
    let (mut all, displs) = receive_buffer(&counts);
    {
        let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
        comm.all_gather_varcount_into(&bytes[..], &mut partition);
    }
    assemble(&all, &counts, comm.rank() as usize, value, operation)
}

/// Sends `parts[r]`, given by the main rank, to rank `r`; returns this rank's part.
pub(crate) fn scatter<T: Message>(
    comm: &SimpleCommunicator,
    parts: Option<Vec<Vec<T>>>,
    operation: &str,
) -> Vec<T> {
    let root = comm.process_at_rank(ROOT);
    let mut mine_count: Count = 0;
    if comm.rank() != ROOT {
        root.scatter_into(&mut mine_count);
        let mut bytes = vec![0u8; mine_count as usize];
        root.scatter_varcount_into(&mut bytes[..]);
        return wire::decode(&bytes, operation);
    }
    let mut parts = parts.expect("the main rank passes the parts");
    let own = std::mem::take(&mut parts[0]);
    let encoded: Vec<Vec<u8>> = parts
        .iter()
        .enumerate()
        .map(|(to, part)| {
            if to == 0 {
                Vec::new()
            } else {
                wire::encode(part, operation).into_owned()
            }
        })
        .collect();
    let counts: Vec<Count> = encoded
        .iter()
        .map(|bytes| count(bytes.len(), operation))
        .collect();
    root.scatter_into_root(&counts[..], &mut mine_count);
    let displs = displacements(&counts);
    let all: Vec<u8> = encoded.concat();
    let partition = Partition::new(&all[..], &counts[..], &displs[..]);
    let mut nothing: [u8; 0] = [];
    root.scatter_varcount_into_root(&partition, &mut nothing[..]);
    own
}

/// Checks that every rank's iterable has the same length, where the lengths are known.
pub(crate) fn check_lengths(
    comm: &SimpleCommunicator,
    length: Option<usize>,
    operation: &str,
    call: u64,
) {
    let mine = length.map_or(u64::MAX, |length| length as u64);
    let mut all = vec![0u64; comm.size() as usize];
    comm.all_gather_into(&mine, &mut all[..]);
    let Some(other) = all.iter().position(|&theirs| theirs != mine) else {
        return;
    };
    let describe = |length: u64| {
        if length == u64::MAX {
            "an iterable of unknown length".to_owned()
        } else {
            format!("{length} items")
        }
    };
    misuse(format!(
        "the iterables of {operation} #{call} differ between ranks: rank {} has {}, rank {other} \
         has {}. Every rank must build the same iterable (only indices travel); build it from \
         data every rank has, or broadcast it first",
        comm.rank(),
        describe(mine),
        describe(all[other])
    ))
}
