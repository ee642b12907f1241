//! The collectives over MPI: values are encoded once, and travel in MPI's own collectives.

use mpi::Count;
use mpi::datatype::{Partition, PartitionMut};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use crate::comm::{Call, Codec, Value};
use crate::failure::misuse;

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
fn assemble(
    bytes: &[u8],
    counts: &[Count],
    own: usize,
    value: Value,
    codec: Codec,
    operation: &str,
) -> Vec<Value> {
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
                codec.decode(piece, operation)
            }
        })
        .collect()
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

pub(crate) fn broadcast(
    comm: &SimpleCommunicator,
    value: Option<Value>,
    codec: Codec,
    operation: &str,
) -> Value {
    if comm.rank() == ROOT {
        let value = value.expect("the main rank passes its value");
        let bytes = codec.encode(&*value, operation).into_owned();
        broadcast_bytes(comm, Some(bytes), operation);
        value
    } else {
        codec.decode(&broadcast_bytes(comm, None, operation), operation)
    }
}

pub(crate) fn gather(
    comm: &SimpleCommunicator,
    value: Value,
    codec: Codec,
    operation: &str,
) -> Option<Vec<Value>> {
    let bytes = codec.encode(&*value, operation);
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
    drop(bytes);
    Some(assemble(
        &all,
        &counts,
        ROOT as usize,
        value,
        codec,
        operation,
    ))
}

pub(crate) fn all_gather(
    comm: &SimpleCommunicator,
    value: Value,
    codec: Codec,
    operation: &str,
) -> Vec<Value> {
    let bytes = codec.encode(&*value, operation);
    let mine = count(bytes.len(), operation);
    let mut counts = vec![0 as Count; comm.size() as usize];
    comm.all_gather_into(&mine, &mut counts[..]);
    let (mut all, displs) = receive_buffer(&counts);
    {
        let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
        comm.all_gather_varcount_into(&bytes[..], &mut partition);
    }
    drop(bytes);
    assemble(&all, &counts, comm.rank() as usize, value, codec, operation)
}

/// Sends `parts[r]`, given by the main rank, to rank `r`; returns this rank's part.
pub(crate) fn scatter(
    comm: &SimpleCommunicator,
    parts: Option<Vec<Value>>,
    codec: Codec,
    operation: &str,
) -> Value {
    let root = comm.process_at_rank(ROOT);
    let mut mine_count: Count = 0;
    if comm.rank() != ROOT {
        root.scatter_into(&mut mine_count);
        let mut bytes = vec![0u8; mine_count as usize];
        root.scatter_varcount_into(&mut bytes[..]);
        return codec.decode(&bytes, operation);
    }
    let mut parts = parts.expect("the main rank passes the parts").into_iter();
    let own = parts.next().expect("one part per rank");
    // The main rank's own part stays here: it sends nothing to itself.
    let encoded: Vec<Vec<u8>> = std::iter::once(Vec::new())
        .chain(parts.map(|part| codec.encode(&*part, operation).into_owned()))
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

/// Checks that every rank's iterable has the same length as this rank's (`call.length`, where
/// unknown lengths count as one more length).
pub(crate) fn check_lengths(comm: &SimpleCommunicator, call: &Call) {
    const UNKNOWN: u64 = u64::MAX;
    let mine = call.length.map_or(UNKNOWN, |length| length as u64);
    let mut all = vec![0u64; comm.size() as usize];
    comm.all_gather_into(&mine, &mut all[..]);
    let Some(other) = all.iter().position(|&theirs| theirs != mine) else {
        return;
    };
    let theirs = (all[other] != UNKNOWN).then_some(all[other] as usize);
    misuse(call.length_mismatch(call.ranks.first() + other, theirs))
}
