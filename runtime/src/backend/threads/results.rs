//! The results of a map on threads: batches handed to the main rank through a shared queue.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::{Waits, Wake};
use crate::comm::{AbortFlag, Codec, ResultChannel, Value};
use crate::failure::stop;

/// The queue that the ranks of one map share.
pub(super) struct Results {
    inbox: Mutex<Inbox>,
    arrived: Condvar,
}

struct Inbox {
    batches: Vec<Value>,
    /// Worker ranks that have not finished their share yet.
    workers_busy: usize,
    /// Set when the main rank stops consuming: the workers stop computing.
    cancelled: bool,
}

impl Results {
    pub(super) fn new(workers: usize) -> Self {
        Results {
            inbox: Mutex::new(Inbox {
                batches: Vec::new(),
                workers_busy: workers,
                cancelled: false,
            }),
            arrived: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inbox> {
        // A rank that panicked while holding the lock left the queue consistent (each change
        // is one push or one assignment), and the world is aborting anyway.
        self.inbox.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Wake for Results {
    fn wake(&self) {
        let _inbox = self.lock();
        self.arrived.notify_all();
    }
}

/// One rank's end of the queue.
pub(super) struct ThreadResults {
    results: Arc<Results>,
    aborted: Arc<AbortFlag>,
    waits: Arc<Waits>,
    rank: usize,
}

impl ThreadResults {
    pub(super) fn new(
        results: Arc<Results>,
        aborted: Arc<AbortFlag>,
        waits: Arc<Waits>,
        rank: usize,
    ) -> Self {
        ThreadResults {
            results,
            aborted,
            waits,
            rank,
        }
    }
}

impl ResultChannel for ThreadResults {
    fn send(&self, batch: Value, _codec: Codec) -> bool {
        let mut inbox = self.results.lock();
        if inbox.cancelled {
            return false;
        }
        inbox.batches.push(batch);
        self.results.arrived.notify_one();
        true
    }

    fn finish(&self, last: Value, codec: Codec) {
        self.send(last, codec);
        self.results.lock().workers_busy -= 1;
        self.results.arrived.notify_one();
    }

    fn receive(&mut self, wait: bool, _codec: Codec) -> Vec<Value> {
        let mut inbox = self.results.lock();
        let mut waiting_since = None;
        while wait && inbox.batches.is_empty() && inbox.workers_busy > 0 {
            if self.aborted.is_set() {
                drop(inbox);
                stop();
            }
            let arrived = &self.results.arrived;
            inbox = self
                .waits
                .wait(arrived, inbox, self.rank, &mut waiting_since);
        }
        self.waits.done(self.rank, waiting_since);
        std::mem::take(&mut inbox.batches)
    }

    fn senders_busy(&self) -> bool {
        self.results.lock().workers_busy > 0
    }

    fn close(&mut self) {
        self.results.lock().cancelled = true;
    }
}
