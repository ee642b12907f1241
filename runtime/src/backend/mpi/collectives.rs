//! The collectives over MPI: values are encoded once, and travel in MPI's own collectives.

use mpi::Count;
use mpi::datatype::{Partition, PartitionMut};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use super::agree::{Agreed, INLINE_BYTES, Said, agree};
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
pub(super) fn receive_buffer(counts: &[Count]) -> (Vec<u8>, Vec<Count>) {
    let total: usize = counts.iter().map(|&count| count as usize).sum();
    (vec![0u8; total], displacements(counts))
}

/// Cuts `bytes` into the pieces of `counts`, end to end.
fn pieces<'a>(bytes: &'a [u8], counts: &'a [Count]) -> impl Iterator<Item = &'a [u8]> {
    counts.iter().scan(0, move |start, &count| {
        let end = *start + count as usize;
        let piece = &bytes[*start..end];
        *start = end;
        Some(piece)
    })
}

/// Decodes each rank's piece, but for piece `own`: that is the calling rank's `value`, moved in
/// rather than decoded again.
fn assemble<P: AsRef<[u8]>>(
    pieces: impl Iterator<Item = P>,
    own: usize,
    value: Value,
    codec: Codec,
    operation: &str,
) -> Vec<Value> {
    let mut value = Some(value);
    let decode = |(rank, piece): (usize, P)| match rank == own {
        true => value.take().expect("one piece is this rank's"),
        false => codec.decode(piece.as_ref(), operation),
    };
    pieces.enumerate().map(decode).collect()
}

/// `bytes` if they are small enough to travel inside the agreement.
fn inline(bytes: &[u8]) -> &[u8] {
    if bytes.len() <= INLINE_BYTES {
        bytes
    } else {
        &[]
    }
}

/// The main rank's bytes, on every rank: inside the agreement when they are small.
pub(crate) fn broadcast_bytes(
    comm: &SimpleCommunicator,
    call: &Call,
    bytes: Option<Vec<u8>>,
) -> Vec<u8> {
    let mine = bytes.as_deref().unwrap_or_default();
    let agreed = agree(comm, Said::Call(call), mine.len() as u64, inline(mine));
    let length = agreed.extras()[ROOT as usize] as usize;
    if length <= INLINE_BYTES {
        return bytes.unwrap_or_else(|| agreed.inline(ROOT as usize, length).as_ref().to_vec());
    }
    let mut bytes = bytes.unwrap_or_else(|| vec![0; length]);
    count(bytes.len(), call.operation);
    comm.process_at_rank(ROOT).broadcast_into(&mut bytes[..]);
    bytes
}

/// Returns once every rank of `comm` has made the same call.
pub(crate) fn barrier(comm: &SimpleCommunicator, call: &Call) {
    agree(comm, Said::Call(call), 0, &[]);
}

/// Checks that every rank of `comm` makes the same call, with an iterable of the same length
/// where it is known.
pub(crate) fn check_call(comm: &SimpleCommunicator, call: &Call) {
    agree(comm, Said::Call(call), 0, &[]);
}

pub(crate) fn broadcast(
    comm: &SimpleCommunicator,
    call: &Call,
    value: Option<Value>,
    codec: Codec,
) -> Value {
    let operation = call.operation;
    if comm.rank() == ROOT {
        let value = value.expect("the main rank passes its value");
        let bytes = codec.encode(&*value, operation).into_owned();
        broadcast_bytes(comm, call, Some(bytes));
        value
    } else {
        codec.decode(&broadcast_bytes(comm, call, None), operation)
    }
}

/// Every rank's byte count once the ranks agree on `call`, and what they said, which holds
/// every rank's `bytes` if [`all_inline`].
fn agreed_counts(comm: &SimpleCommunicator, call: &Call, bytes: &[u8]) -> (Vec<Count>, Agreed) {
    count(bytes.len(), call.operation);
    let agreed = agree(comm, Said::Call(call), bytes.len() as u64, inline(bytes));
    let counts = agreed.extras().into_iter().map(|bytes| bytes as Count);
    (counts.collect(), agreed)
}

/// Whether every rank's bytes came with the agreement.
fn all_inline(counts: &[Count]) -> bool {
    counts.iter().all(|&count| count as usize <= INLINE_BYTES)
}

/// The bytes of every rank, end to end, and how many are each rank's.
pub(crate) struct Pieces {
    bytes: Vec<u8>,
    counts: Vec<Count>,
}

impl Pieces {
    /// Every rank's bytes, in rank order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        pieces(&self.bytes, &self.counts)
    }

    /// Every rank's inline bytes, copied out of the agreement.
    fn inline(agreed: &Agreed, counts: Vec<Count>) -> Pieces {
        let mut bytes = Vec::new();
        for (rank, &count) in counts.iter().enumerate() {
            bytes.extend_from_slice(agreed.inline(rank, count as usize).as_ref());
        }
        Pieces { bytes, counts }
    }
}

/// Every rank's `bytes` on the root, `None` elsewhere.
pub(crate) fn gather_bytes(comm: &SimpleCommunicator, call: &Call, bytes: &[u8]) -> Option<Pieces> {
    let (counts, agreed) = agreed_counts(comm, call, bytes);
    if all_inline(&counts) {
        return (comm.rank() == ROOT).then(|| Pieces::inline(&agreed, counts));
    }
    let root = comm.process_at_rank(ROOT);
    if comm.rank() != ROOT {
        root.gather_varcount_into(bytes);
        return None;
    }
    let (mut all, displs) = receive_buffer(&counts);
    {
        let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
        root.gather_varcount_into_root(bytes, &mut partition);
    }
    Some(Pieces { bytes: all, counts })
}

/// Every rank's `bytes` on every rank.
pub(crate) fn all_gather_bytes(comm: &SimpleCommunicator, call: &Call, bytes: &[u8]) -> Pieces {
    let (counts, agreed) = agreed_counts(comm, call, bytes);
    if all_inline(&counts) {
        return Pieces::inline(&agreed, counts);
    }
    let (mut all, displs) = receive_buffer(&counts);
    {
        let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
        comm.all_gather_varcount_into(bytes, &mut partition);
    }
    Pieces { bytes: all, counts }
}

pub(crate) fn gather(
    comm: &SimpleCommunicator,
    call: &Call,
    value: Value,
    codec: Codec,
) -> Option<Vec<Value>> {
    let operation = call.operation;
    let bytes = codec.encode(&*value, operation);
    let all = gather_bytes(comm, call, &bytes)?;
    drop(bytes);
    let own = ROOT as usize;
    Some(assemble(all.iter(), own, value, codec, operation))
}

pub(crate) fn all_gather(
    comm: &SimpleCommunicator,
    call: &Call,
    value: Value,
    codec: Codec,
) -> Vec<Value> {
    let operation = call.operation;
    let bytes = codec.encode(&*value, operation);
    let all = all_gather_bytes(comm, call, &bytes);
    drop(bytes);
    let own = comm.rank() as usize;
    assemble(all.iter(), own, value, codec, operation)
}

/// Sends `parts[r]`, given by the main rank, to rank `r`; returns this rank's part.
pub(crate) fn scatter(
    comm: &SimpleCommunicator,
    call: &Call,
    parts: Option<Vec<Value>>,
    codec: Codec,
) -> Value {
    let operation = call.operation;
    let Some(parts) = parts.filter(|_| comm.rank() == ROOT) else {
        return codec.decode(&scatter_bytes(comm, call, None), operation);
    };
    let mut parts = parts.into_iter();
    let own = parts.next().expect("one part per rank");
    // The main rank's own part stays here: it sends nothing to itself.
    let encoded: Vec<Vec<u8>> = std::iter::once(Vec::new())
        .chain(parts.map(|part| codec.encode(&*part, operation).into_owned()))
        .collect();
    scatter_bytes(comm, call, Some(encoded));
    own
}

/// Sends `parts[r]`, given by the root, to rank `r`; returns this rank's part (nothing on the
/// root, whose own part stays where it is).
pub(crate) fn scatter_bytes(
    comm: &SimpleCommunicator,
    call: &Call,
    parts: Option<Vec<Vec<u8>>>,
) -> Vec<u8> {
    let operation = call.operation;
    agree(comm, Said::Call(call), 0, &[]);
    let root = comm.process_at_rank(ROOT);
    let mut mine_count: Count = 0;
    if comm.rank() != ROOT {
        root.scatter_into(&mut mine_count);
        let mut bytes = vec![0u8; mine_count as usize];
        root.scatter_varcount_into(&mut bytes[..]);
        return bytes;
    }
    let parts = parts.expect("the root passes the parts");
    let counts: Vec<Count> = parts
        .iter()
        .map(|bytes| count(bytes.len(), operation))
        .collect();
    root.scatter_into_root(&counts[..], &mut mine_count);
    let displs = displacements(&counts);
    let all: Vec<u8> = parts.concat();
    let partition = Partition::new(&all[..], &counts[..], &displs[..]);
    let mut nothing: [u8; 0] = [];
    root.scatter_varcount_into_root(&partition, &mut nothing[..]);
    Vec::new()
}
