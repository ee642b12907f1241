//! The messages of `map_unordered` and `map_ordered` over MPI: worker ranks send batches of
//! results to the main rank as their runs of items complete, then a last message that says they
//! are done. A main rank that stops consuming early claims every item left (the split's
//! counter), so the workers run out of items at their next claim; no stop message is needed.
//!
//! Each map has its own tag, from its collective call number, so that the messages of
//! consecutive maps never meet.

use std::collections::VecDeque;
use std::rc::Rc;

use mpi::Tag;
use mpi::point_to_point::{MatchedReceiveVec, Message as Incoming, Status};
use mpi::traits::*;

use super::MpiWorld;
use crate::message::{self, Message};

/// A batch of results, and whether the worker is done.
type Batch<R> = (bool, Vec<(usize, R)>);

fn tag(call: u64) -> Tag {
    // MPI guarantees tags up to 32767; cycling, consecutive maps get different ones.
    (call % 32_000) as Tag + 1
}

/// A map's messages, seen from one rank.
pub(crate) struct MpiResults {
    world: Rc<MpiWorld>,
    results_tag: Tag,
    /// On the main rank: workers that have not said they are done.
    workers_busy: usize,
}

impl MpiResults {
    pub(crate) fn new(world: Rc<MpiWorld>, call: u64) -> Self {
        let workers_busy = world.size - 1;
        MpiResults {
            world,
            results_tag: tag(call),
            workers_busy,
        }
    }

    /// On a worker: sends a batch of results.
    pub(crate) fn deliver<R: Message>(&self, batch: &mut Vec<(usize, R)>) {
        if !batch.is_empty() {
            self.send(false, std::mem::take(batch));
        }
    }

    /// On a worker: says it is done.
    pub(crate) fn worker_finished<R: Message>(&self, batch: Vec<(usize, R)>) {
        self.send(true, batch);
    }

    fn send<R: Message>(&self, done: bool, results: Vec<(usize, R)>) {
        let batch: Batch<R> = (done, results);
        let bytes = message::encode(&batch, "map");
        self.world
            .comm
            .process_at_rank(0)
            .send_with_tag(&bytes[..], self.results_tag);
    }

    /// On the main rank: whether any worker is still busy.
    pub(crate) fn workers_busy(&self) -> bool {
        self.workers_busy > 0
    }

    /// On the main rank: moves the results that have arrived into `received`; with `wait`,
    /// waits for at least one message first.
    pub(crate) fn receive<R: Message>(&mut self, received: &mut VecDeque<(usize, R)>, wait: bool) {
        self.receive_bytes(wait, |bytes| {
            let (done, results): Batch<R> = message::decode(bytes, "map");
            received.extend(results);
            done
        });
    }

    /// Takes in the messages that have arrived (at least one with `wait`); `take` returns
    /// whether the message was its sender's last.
    fn receive_bytes(&mut self, wait: bool, mut take: impl FnMut(&[u8]) -> bool) {
        let mut waited = !wait;
        loop {
            let any = self.world.comm.any_process();
            let incoming: Option<(Incoming, Status)> = if waited {
                any.immediate_matched_probe_with_tag(self.results_tag)
            } else {
                waited = true;
                Some(any.matched_probe_with_tag(self.results_tag))
            };
            let Some(incoming) = incoming else {
                return;
            };
            let (bytes, _status) = incoming.matched_receive_vec::<u8>();
            if take(&bytes) {
                self.workers_busy -= 1;
            }
        }
    }

    /// On the main rank, when it stops consuming early: takes in what the workers still send,
    /// without decoding it, so that no message of this map is left for a later one.
    pub(crate) fn drain(&mut self) {
        while self.workers_busy() {
            // A batch is encoded as `(done, results)`, and postcard writes a bool as one byte.
            self.receive_bytes(true, |bytes| bytes.first() == Some(&1));
        }
    }
}
