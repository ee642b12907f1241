//! One rank-thread's [`Comm`] in a world of processes × threads: each collective meets on the
//! process's board, where the group's leader (its first rank here) takes what the others
//! left, makes the MPI call for all of them, and leaves what they receive.

use std::ops::Range;
use std::sync::Arc;

use super::super::collectives::{
    self, Pieces, all_gather_bytes, broadcast_bytes, frame, gather_bytes, scatter_bytes, unframe,
};
use super::super::map::MpiResults;
use super::super::post::Post;
use super::super::served::ServedCounter;
use super::Process;
use crate::backend::threads::Here;
use crate::backend::threads::board::{Board, Round, Until};
use crate::comm::{AbortFlag, Call, Codec, Comm, Counter, ResultChannel, Shared, Value};
use crate::ranks::Ranks;

/// One rank-thread of a process.
pub(super) struct HybridRank {
    process: Arc<Process>,
    rank: usize,
}

impl HybridRank {
    pub(super) fn new(process: Arc<Process>, rank: usize) -> Self {
        HybridRank { process, rank }
    }

    fn board(&self) -> &Board {
        &self.process.threads.board
    }

    /// The post of `group`'s leaders.
    fn leaders(&self, group: Ranks) -> &Post {
        match group {
            Ranks::All | Ranks::Main => &self.process.all,
            Ranks::Workers => &self.process.workers,
        }
    }

    /// Whether this rank speaks MPI for its group here.
    fn leads(&self, call: &Call) -> bool {
        self.board().place(call) == 0
    }

    /// The world ranks of `call`'s group that run in the process at `index` of the group's
    /// communicator.
    fn members_of(&self, call: &Call, index: usize) -> Range<usize> {
        let threads = self.here().ranks.len();
        super::here(index, threads, 1).members(call.ranks)
    }

    /// The world ranks that run in this process.
    fn here(&self) -> &Here {
        &self.process.threads.here
    }

    /// On a rank that does not lead: enters `call`'s round with `arrive`, waits for the leader,
    /// and takes what it left with `depart`.
    fn follow<R>(
        &self,
        call: &Call,
        arrive: impl FnOnce(&mut Round),
        depart: impl FnOnce(&mut Round) -> R,
    ) -> R {
        self.board().meet(call, arrive, Until::RootEntered, depart)
    }
}

/// Every process's message, each the framed encodings of its ranks: every rank's encoding, in
/// rank order.
fn all_encodings(messages: &Pieces) -> Vec<&[u8]> {
    messages.iter().flat_map(unframe).collect()
}

/// The values the ranks of the round left in `sent`, with the leader's own first.
fn take_sent(round: &mut Round, own: Value) -> Vec<Value> {
    let others = round.sent.iter_mut().skip(1);
    let others = others.map(|sent| sent.take().expect("every rank here sent"));
    std::iter::once(own).chain(others).collect()
}

impl Comm for HybridRank {
    fn barrier(&self, call: &Call) {
        if !self.leads(call) {
            return self.follow(call, |_| {}, |_| ());
        }
        let leaders = self.leaders(call.ranks);
        self.board().lead(
            call,
            |_| (),
            |()| collectives::barrier(leaders, call),
            |_, ()| (),
        );
    }

    fn gather(&self, call: &Call, value: Value, codec: Codec) -> Option<Vec<Value>> {
        let place = self.board().place(call);
        if place != 0 {
            let send = |round: &mut Round| round.sent[place] = Some(value);
            self.board().meet(call, send, Until::Entered, |_| ());
            return None;
        }
        let leaders = self.leaders(call.ranks);
        let root = leaders.rank() == 0;
        let gather_here = |values: Vec<Value>| {
            // The root's process sends nothing: its values are moved, the others' decoded.
            let encodings: Vec<_> = (values.iter().filter(|_| !root))
                .map(|value| codec.encode(&**value, call.operation))
                .collect();
            let message = frame(encodings.iter().map(|bytes| &bytes[..]));
            let messages = gather_bytes(leaders, call, &message)?;
            let others: Vec<Value> = all_encodings(&messages)
                .into_iter()
                .map(|bytes| codec.decode(bytes, call.operation))
                .collect();
            Some(values.into_iter().chain(others).collect())
        };
        self.board().lead(
            call,
            |round| take_sent(round, value),
            gather_here,
            |_, all| all,
        )
    }

    fn all_gather(&self, call: &Call, value: Value, codec: Codec) -> Vec<Value> {
        // Every rank encodes its own value; the leader sends them as one message and leaves
        // every rank's encoding for each rank here to decode, but for its own value.
        let place = self.board().place(call);
        let encoded: Arc<[u8]> = Arc::from(codec.encode(&*value, call.operation));
        let messages = if place != 0 {
            let leave_encoding = |round: &mut Round| round.encoded[place] = Some(encoded);
            let take_all = |round: &mut Round| {
                let all = round.inbox[place].take().expect("the leader left them");
                *all.downcast::<Arc<Pieces>>()
                    .expect("every process's messages")
            };
            self.follow(call, leave_encoding, take_all)
        } else {
            let leaders = self.leaders(call.ranks);
            let take = |round: &mut Round| {
                let others = round.encoded.iter().skip(1);
                let others = others.map(|bytes| bytes.clone().expect("every rank here left it"));
                std::iter::once(encoded).chain(others).collect::<Vec<_>>()
            };
            let exchange = |encodings: Vec<Arc<[u8]>>| {
                let message = frame(encodings.iter().map(|bytes| &bytes[..]));
                Arc::new(all_gather_bytes(leaders, call, &message))
            };
            let publish = |round: &mut Round, messages: Arc<Pieces>| {
                for inbox in round.inbox.iter_mut().skip(1) {
                    *inbox = Some(Box::new(Arc::clone(&messages)) as Value);
                }
                messages
            };
            self.board().lead(call, take, exchange, publish)
        };
        let own = self.rank - call.ranks.first();
        let mut value = Some(value);
        let decode = |(at, bytes): (usize, &[u8])| match at == own {
            true => value.take().expect("its own value, once"),
            false => codec.decode(bytes, call.operation),
        };
        all_encodings(&messages)
            .into_iter()
            .enumerate()
            .map(decode)
            .collect()
    }

    fn broadcast(&self, call: &Call, value: Option<Value>, codec: Codec) -> Value {
        if !self.leads(call) {
            let encoded = self.follow(call, |_| {}, |round| round.encoded[0].clone());
            let encoded = encoded.expect("the leader left the encoding");
            return codec.decode(&encoded, call.operation);
        }
        let leaders = self.leaders(call.ranks);
        let root = leaders.rank() == 0;
        let (value, bytes) = match value.filter(|_| root) {
            Some(value) => {
                let bytes = codec.encode(&*value, call.operation).into_owned();
                (Some(value), broadcast_bytes(leaders, call, Some(bytes)))
            }
            None => (None, broadcast_bytes(leaders, call, None)),
        };
        let value = value.unwrap_or_else(|| codec.decode(&bytes, call.operation));
        let encoded: Arc<[u8]> = Arc::from(bytes);
        let leave = |round: &mut Round| round.encoded[0] = Some(encoded);
        self.board().meet(call, leave, Until::Entered, |_| ());
        value
    }

    fn scatter(&self, call: &Call, parts: Option<Vec<Value>>, codec: Codec) -> Value {
        let place = self.board().place(call);
        let take_part = |round: &mut Round| round.inbox[place].take().expect("the leader left it");
        if place != 0 {
            return self.follow(call, |_| {}, take_part);
        }
        let leaders = self.leaders(call.ranks);
        let here = self.here().members(call.ranks).len();
        let mine: Vec<Value> = match parts.filter(|_| leaders.rank() == 0) {
            Some(parts) => {
                let mut parts = parts.into_iter();
                let mine = parts.by_ref().take(here).collect();
                let messages = (0..leaders.size()).map(|index| {
                    let members = self.members_of(call, index);
                    let theirs = parts
                        .by_ref()
                        .take(if index == 0 { 0 } else { members.len() });
                    let encodings: Vec<_> = theirs
                        .map(|part| codec.encode(&*part, call.operation).into_owned())
                        .collect();
                    frame(encodings.iter().map(|bytes| &bytes[..]))
                });
                scatter_bytes(leaders, call, Some(messages.collect()));
                mine
            }
            None => {
                let message = scatter_bytes(leaders, call, None);
                let parts = unframe(&message).into_iter();
                parts
                    .map(|bytes| codec.decode(bytes, call.operation))
                    .collect()
            }
        };
        let leave = |round: &mut Round| {
            for (inbox, part) in round.inbox.iter_mut().zip(mine) {
                *inbox = Some(part);
            }
        };
        self.board().meet(call, leave, Until::Entered, take_part)
    }

    fn join(&self, call: &Call, make: &mut dyn FnMut() -> Shared) -> Shared {
        if !self.leads(call) {
            let shared = self.follow(call, |_| {}, |round| round.shared.clone());
            return shared.expect("the leader left it");
        }
        collectives::check_call(self.leaders(call.ranks), call);
        let shared = make();
        let leave = |round: &mut Round| round.shared = Some(Arc::clone(&shared));
        self.board().meet(call, leave, Until::Entered, |_| ());
        shared
    }

    fn counter(&self, ranks: Ranks) -> Box<dyn Counter> {
        Box::new(ServedCounter::new(self.leaders(ranks).comm()))
    }

    fn results(&self, call: &Call) -> Box<dyn ResultChannel> {
        // Every rank but the main one sends its results by message, from whichever process.
        self.join(call, &mut || Arc::new(()));
        let senders = self.process.size - 1;
        Box::new(MpiResults::new(
            Arc::clone(self.process.all.comm()),
            call.number,
            senders,
        ))
    }

    fn hosts(&self, rank: usize) -> bool {
        self.here().ranks.contains(&rank)
    }

    fn abort_flag(&self) -> Option<Arc<AbortFlag>> {
        None // a failing rank ends the whole job with MPI_Abort
    }

    fn stop_requested(&self) -> Option<i32> {
        super::super::stops::requested()
    }
}
