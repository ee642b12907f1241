//! The collectives over MPI, as records through the group's post (`post.rs`): values are
//! encoded once; a broadcast goes down a binomial tree from the main rank, a gather and a
//! scatter go straight to and from it, and the calls in which every rank must hear from every
//! other (a barrier, an all-gather, the start of a split) take Bruck's all-gather, ⌈log₂ p⌉
//! rounds of one message each.

use std::sync::Arc;

use super::end::wait_for_the_end;
use super::post::{Post, REPORT_TIME};
use super::record::{Kind, Record};
use crate::comm::{Call, Codec, Value};
use crate::failure::misuse;

const ROOT: usize = 0;

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

/// Several encodings as one message: each one's length (8 bytes), then its bytes.
pub(super) fn frame<'a>(encodings: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut message = Vec::new();
    for bytes in encodings {
        message.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        message.extend_from_slice(bytes);
    }
    message
}

/// The encodings of a message made by [`frame`].
pub(super) fn unframe(mut message: &[u8]) -> Vec<&[u8]> {
    let mut encodings = Vec::new();
    while let Some((length, rest)) = message.split_first_chunk::<8>() {
        let length = (u64::from_le_bytes(*length) as usize).min(rest.len());
        let (bytes, rest) = rest.split_at(length);
        encodings.push(bytes);
        message = rest;
    }
    encodings
}

/// Every rank's record of `call`, with `extra` and the bytes it carries, on every rank, in rank
/// order: Bruck's all-gather, in which rank `r` sends what it knows to rank `r - d` and hears
/// from rank `r + d`, for `d` = 1, 2, 4, ... below the size of the group.
pub(super) fn all_records(post: &Post, call: &Call, extra: u64, payload: &[u8]) -> Vec<Record> {
    let (rank, size) = (post.rank(), post.size());
    // known[i] is the record of rank (rank + i) % size.
    let mut known = Vec::with_capacity(size);
    known.push(Record::new(Kind::Call, call, extra, payload));
    let mut distance = 1;
    while distance < size {
        // One record travels as it is; more, framed in a record of this rank's call.
        let count = distance.min(size - distance);
        let message = match count {
            1 => known[0].clone(),
            _ => {
                let forwarded = frame(known[..count].iter().map(Record::bytes));
                Record::new(Kind::Call, call, extra, &forwarded)
            }
        };
        post.send((rank + size - distance) % size, message, call);
        let received = post.receive((rank + distance) % size, call);
        if count == 1 {
            known.push(received);
        } else {
            let records = unframe(received.payload()).into_iter().take(count);
            known.extend(records.filter_map(|bytes| Record::from_bytes(bytes.to_vec())));
        }
        distance *= 2;
    }
    assert_eq!(
        known.len(),
        size,
        "every rank's record of {}",
        call.operation
    );
    known.rotate_right(rank);
    known
}

/// The main rank's bytes, on every rank.
pub(crate) fn broadcast_bytes(post: &Post, call: &Call, bytes: Option<Vec<u8>>) -> Vec<u8> {
    match broadcast_record(post, call, bytes.as_deref()) {
        Some(record) => record.payload().to_vec(),
        None => bytes.expect("the main rank passes its bytes"),
    }
}

/// The record of the main rank's `bytes`, on every rank but the main one (`None` there): down a
/// binomial tree, in which rank `r` hears from `r` less its lowest set bit and passes the
/// record on to `r + 2^k` for each `2^k` below that bit.
fn broadcast_record(post: &Post, call: &Call, bytes: Option<&[u8]>) -> Option<Record> {
    let (rank, size) = (post.rank(), post.size());
    let mut received = None;
    let mut bit = 1;
    while bit < size {
        if rank & bit != 0 {
            received = Some(post.receive(rank - bit, call));
            break;
        }
        bit <<= 1;
    }
    // The children: rank + 2^k for each 2^k below the bit this rank heard on.
    let children: Vec<usize> = std::iter::successors(Some(bit >> 1), |bit| Some(bit >> 1))
        .take_while(|&bit| bit > 0)
        .map(|bit| rank + bit)
        .filter(|&child| child < size)
        .collect();
    if children.is_empty() {
        return received;
    }
    // The children share one record's bytes.
    let record = Arc::new(match &received {
        Some(record) => record.clone(),
        None => Record::new(
            Kind::Call,
            call,
            0,
            bytes.expect("the main rank passes its bytes"),
        ),
    });
    for child in children {
        post.send_shared(child, &record, call);
    }
    received
}

/// Returns once every rank of the group has made the same call: the dissemination barrier,
/// Bruck's rounds with nothing to pass on (a rank has heard from every other, through those it
/// heard from, once `d` reaches the size of the group).
pub(crate) fn barrier(post: &Post, call: &Call) {
    let (rank, size) = (post.rank(), post.size());
    let mut distance = 1;
    while distance < size {
        let here = Record::new(Kind::Call, call, 0, &[]);
        post.send((rank + size - distance) % size, here, call);
        post.receive((rank + distance) % size, call);
        distance *= 2;
    }
}

/// Checks that every rank of the group makes the same call, with an iterable of the same
/// length and order where they are known.
pub(crate) fn check_call(post: &Post, call: &Call) {
    let records = all_records(post, call, 0, &[]);
    compare_items(post, call, &records);
}

/// Stops the ranks if their iterables differ in length or in the order of their items; the
/// first rank of the group reports it.
fn compare_items(post: &Post, call: &Call, records: &[Record]) {
    let length = records
        .iter()
        .position(|record| record.length() != call.length);
    let known_and_differs = |record: &Record| matches!((call.order, record.order()), (Some(mine), Some(theirs)) if mine != theirs);
    let order = records.iter().position(known_and_differs);
    let message = match (length, order) {
        (None, None) => return,
        (Some(other), _) => call.length_mismatch(post.world_rank(other), records[other].length()),
        (None, Some(other)) => call.order_mismatch(post.world_rank(other)),
    };
    // Every rank saw every record: the first of the group reports.
    if post.rank() != 0 {
        wait_for_the_end(REPORT_TIME);
    }
    misuse(message)
}

pub(crate) fn broadcast(post: &Post, call: &Call, value: Option<Value>, codec: Codec) -> Value {
    let operation = call.operation;
    if post.rank() == ROOT {
        let value = value.expect("the main rank passes its value");
        broadcast_record(post, call, Some(&codec.encode(&*value, operation)));
        value
    } else {
        let record = broadcast_record(post, call, None).expect("a record from the main rank");
        codec.decode(record.payload(), operation)
    }
}

/// The bytes of every rank, each in the record that brought it; in a gather, not the root's
/// own, which the caller has.
pub(crate) struct Pieces(Vec<Option<Record>>);

impl Pieces {
    /// Every rank's bytes, in rank order (none for a gather's root).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (self.0.iter()).map(|record| record.as_ref().map_or(&[][..], Record::payload))
    }
}

/// Every rank's `bytes` on the root, but its own, `None` elsewhere: each rank sends its record
/// to the root.
pub(crate) fn gather_bytes(post: &Post, call: &Call, bytes: &[u8]) -> Option<Pieces> {
    if post.rank() != ROOT {
        post.send(ROOT, Record::new(Kind::Call, call, 0, bytes), call);
        return None;
    }
    let others = (1..post.size()).map(|from| Some(post.receive(from, call)));
    Some(Pieces(std::iter::once(None).chain(others).collect()))
}

/// Every rank's `bytes` on every rank.
pub(crate) fn all_gather_bytes(post: &Post, call: &Call, bytes: &[u8]) -> Pieces {
    Pieces(
        all_records(post, call, 0, bytes)
            .into_iter()
            .map(Some)
            .collect(),
    )
}

pub(crate) fn gather(post: &Post, call: &Call, value: Value, codec: Codec) -> Option<Vec<Value>> {
    let operation = call.operation;
    if post.rank() != ROOT {
        gather_bytes(post, call, &codec.encode(&*value, operation));
        return None;
    }
    // The root's own value is moved, not sent.
    let all = gather_bytes(post, call, &[])?;
    Some(assemble(all.iter(), ROOT, value, codec, operation))
}

pub(crate) fn all_gather(post: &Post, call: &Call, value: Value, codec: Codec) -> Vec<Value> {
    let operation = call.operation;
    let bytes = codec.encode(&*value, operation);
    let all = all_gather_bytes(post, call, &bytes);
    drop(bytes);
    let own = post.rank();
    assemble(all.iter(), own, value, codec, operation)
}

/// Sends `parts[r]`, given by the main rank, to rank `r`; returns this rank's part.
pub(crate) fn scatter(post: &Post, call: &Call, parts: Option<Vec<Value>>, codec: Codec) -> Value {
    let operation = call.operation;
    let Some(parts) = parts.filter(|_| post.rank() == ROOT) else {
        return codec.decode(&scatter_bytes(post, call, None), operation);
    };
    let mut parts = parts.into_iter();
    let own = parts.next().expect("one part per rank");
    // The main rank's own part stays here: it sends nothing to itself.
    let encoded: Vec<Vec<u8>> = std::iter::once(Vec::new())
        .chain(parts.map(|part| codec.encode(&*part, operation).into_owned()))
        .collect();
    scatter_bytes(post, call, Some(encoded));
    own
}

/// Sends `parts[r]`, given by the root, to rank `r`; returns this rank's part (nothing on the
/// root, whose own part stays where it is).
pub(crate) fn scatter_bytes(post: &Post, call: &Call, parts: Option<Vec<Vec<u8>>>) -> Vec<u8> {
    if post.rank() != ROOT {
        return post.receive(ROOT, call).payload().to_vec();
    }
    let parts = parts.expect("the root passes the parts");
    for (to, part) in parts.iter().enumerate().skip(1) {
        post.send(to, Record::new(Kind::Call, call, 0, part), call);
    }
    Vec::new()
}
