//! The messages of `map_unordered` and `map_ordered` over MPI: worker ranks send batches of
//! results to the main rank as their runs of items complete, then a last message that says they
//! are done. A main rank that stops consuming early claims every item left (the split's
//! counter), so the workers run out of items at their next claim; no stop message is needed.
//!
//! Each map has its own tag, from its collective call number, so that the messages of
//! consecutive maps never meet.

use std::sync::Arc;

use mpi::Tag;
use mpi::point_to_point::{MatchedReceiveVec, Message as Incoming, Status};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use crate::comm::{Codec, ResultChannel, Value};

/// The first byte of a message: whether it is its sender's last.
const MORE: u8 = 0;
const LAST: u8 = 1;

fn tag(call: u64) -> Tag {
    // MPI guarantees tags up to 32767; cycling, consecutive maps get different ones.
    (call % 32_000) as Tag + 1
}

/// A map's messages, seen from one rank.
pub(crate) struct MpiResults {
    comm: Arc<SimpleCommunicator>,
    results_tag: Tag,
    /// On the main rank: senders that have not said they are done.
    workers_busy: usize,
}

impl MpiResults {
    /// The channel of the map of collective call `call`, to which `senders` ranks send.
    pub(crate) fn new(comm: Arc<SimpleCommunicator>, call: u64, senders: usize) -> Self {
        MpiResults {
            comm,
            results_tag: tag(call),
            workers_busy: senders,
        }
    }

    fn send_batch(&self, flag: u8, batch: &Value, codec: Codec) {
        let encoded = codec.encode(&**batch, "map");
        let mut bytes = Vec::with_capacity(1 + encoded.len());
        bytes.push(flag);
        bytes.extend_from_slice(&encoded);
        self.comm
            .process_at_rank(0)
            .send_with_tag(&bytes[..], self.results_tag);
    }

    /// Takes in the messages that have arrived (at least one with `wait`), each without its
    /// first byte.
    fn receive_bytes(&mut self, wait: bool, mut take: impl FnMut(&[u8])) {
        let mut waited = !wait;
        loop {
            let incoming: Option<(Incoming, Status)> = if waited {
                self.comm
                    .any_process()
                    .immediate_matched_probe_with_tag(self.results_tag)
            } else {
                waited = true;
                Some(self.wait_for_a_message())
            };
            let Some(incoming) = incoming else {
                return;
            };
            let (bytes, _status) = incoming.matched_receive_vec::<u8>();
            let (&flag, batch) = bytes.split_first().expect("a flag starts every message");
            if flag == LAST {
                self.workers_busy -= 1;
            }
            take(batch);
        }
    }
}

impl MpiResults {
    /// The next message of this map; polled where the rank's waits have a limit.
    fn wait_for_a_message(&self) -> (Incoming, Status) {
        let any = self.comm.any_process();
        let Some(waits) = super::waits::current() else {
            return any.matched_probe_with_tag(self.results_tag);
        };
        let mut arrived = None;
        waits.poll(|| {
            arrived = any.immediate_matched_probe_with_tag(self.results_tag);
            arrived.is_some()
        });
        arrived.expect("polled until one arrived")
    }
}

impl ResultChannel for MpiResults {
    fn send(&self, batch: Value, codec: Codec) -> bool {
        // A main rank that wants no more results claims every item left, so a worker finds out
        // at its next claim; no stop message travels.
        self.send_batch(MORE, &batch, codec);
        true
    }

    fn finish(&self, last: Value, codec: Codec) {
        self.send_batch(LAST, &last, codec);
    }

    fn receive(&mut self, wait: bool, codec: Codec) -> Vec<Value> {
        let mut batches = Vec::new();
        self.receive_bytes(wait, |bytes| batches.push(codec.decode(bytes, "map")));
        batches
    }

    fn senders_busy(&self) -> bool {
        self.workers_busy > 0
    }

    /// Takes in what the workers still send, without decoding it, so that no message of this
    /// map is left for a later one. A panicking rank ends the job instead, and must not wait.
    fn close(&mut self) {
        if std::thread::panicking() {
            return;
        }
        while self.senders_busy() {
            self.receive_bytes(true, |_| {});
        }
    }
}
