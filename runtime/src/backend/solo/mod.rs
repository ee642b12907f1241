//! The serial backend: a world of one rank, the calling thread. Every collective is local, and
//! the smallest example of a backend.

use std::rc::Rc;
use std::sync::Arc;

use crate::comm::{
    AbortFlag, Call, Codec, Comm, Counter, LocalCounter, ResultChannel, Shared, Value,
};
use crate::config::Watch;
use crate::context::{self, RankContext};
use crate::failure::{Failure, run_guarded};
use crate::observe::Observer;
use crate::ranks::Ranks;
use crate::status::RankStatus;

/// The one rank of a world of one.
struct Solo;

impl Comm for Solo {
    fn barrier(&self, _call: &Call) {}

    fn gather(&self, _call: &Call, value: Value, _codec: Codec) -> Option<Vec<Value>> {
        Some(vec![value])
    }

    fn all_gather(&self, _call: &Call, value: Value, _codec: Codec) -> Vec<Value> {
        vec![value]
    }

    fn broadcast(&self, _call: &Call, value: Option<Value>, _codec: Codec) -> Value {
        value.expect("the main rank passes its value")
    }

    fn scatter(&self, _call: &Call, parts: Option<Vec<Value>>, _codec: Codec) -> Value {
        let mut parts = parts.expect("the main rank passes the parts");
        parts.pop().expect("one part per rank")
    }

    fn join(&self, _call: &Call, make: &mut dyn FnMut() -> Shared) -> Shared {
        make()
    }

    fn counter(&self, _ranks: Ranks) -> Box<dyn Counter> {
        Box::new(LocalCounter::default())
    }

    fn results(&self, _call: &Call) -> Box<dyn ResultChannel> {
        Box::new(NoResults)
    }

    fn hosts(&self, rank: usize) -> bool {
        rank == 0
    }

    fn abort_flag(&self) -> Option<Arc<AbortFlag>> {
        None // the only rank's failure ends the world by itself
    }
}

/// The results of a map without other ranks: the main rank computes them all.
struct NoResults;

impl ResultChannel for NoResults {
    fn send(&self, _batch: Value, _codec: Codec) -> bool {
        unreachable!("a world of one has no rank but the main one")
    }

    fn finish(&self, _last: Value, _codec: Codec) {
        unreachable!("a world of one has no rank but the main one")
    }

    fn receive(&mut self, _wait: bool, _codec: Codec) -> Vec<Value> {
        Vec::new()
    }

    fn senders_busy(&self) -> bool {
        false
    }

    fn close(&mut self) {}
}

/// The status of a lone rank: it never waits for another, so nobody reads it.
fn lone_status() -> Arc<RankStatus> {
    Arc::new(RankStatus::new(0, false))
}

/// Runs `body` on the calling rank as a team of one: a region entered inside a loop body, where
/// the rank is alone (OpenMP's nested parallel region without nesting).
pub(crate) fn team_of_one<R>(body: impl FnOnce() -> R) -> R {
    let _alone = context::enter(RankContext::new(0, 1, Rc::new(Solo), None, lone_status()));
    body()
}

/// Runs `body` as the one rank of a world, on the calling thread.
pub(crate) fn launch<R>(watch: &Watch, body: &impl Fn() -> R) -> Result<R, Failure> {
    let observer = Observer::new(watch, 1, false);
    let outcome = {
        let _rank = context::enter(RankContext::new(
            0,
            1,
            Rc::new(Solo),
            observer.clone(),
            lone_status(),
        ));
        run_guarded(0, 1, body)
            .map_err(|failure| failure.expect("a lone rank is never stopped by another"))
    };
    if let Some(observer) = observer {
        observer.end_world(|seen| Some(vec![seen]));
    }
    outcome
}
