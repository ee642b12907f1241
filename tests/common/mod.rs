//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test crate uses its own subset

#[cfg(feature = "mpi")]
pub mod launcher;
pub mod runner;

use std::panic::resume_unwind;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long a test may take before it counts as hung. Generous: CI machines are shared.
pub const HANG_LIMIT: Duration = Duration::from_secs(30);

/// Runs `test` on its own thread and fails if it takes longer than [`HANG_LIMIT`], so that a
/// hang fails the test instead of blocking the whole suite. A panic inside `test` propagates.
pub fn no_hang<T: Send + 'static>(test: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = mpsc::channel();
    let runner = thread::spawn(move || {
        let result = test();
        let _ = done.send(());
        result
    });
    match finished.recv_timeout(HANG_LIMIT) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
            runner.join().unwrap_or_else(|panic| resume_unwind(panic))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung: no result within {HANG_LIMIT:?}"),
    }
}

/// The failure of `body` on `world`, which must fail (under the hang guard).
pub fn failure_in<R: Send + 'static>(
    world: dlp::World,
    body: impl Fn() -> R + Sync + Send + 'static,
) -> dlp::Failure {
    no_hang(move || match world.try_run(body) {
        Ok(_) => panic!("the world was expected to fail"),
        Err(failure) => failure,
    })
}

/// Every `(index, item)` pair gathered from all ranks, sorted: what a split handed out in total.
pub fn sorted<T: Ord>(shares: Vec<Vec<T>>) -> Vec<T> {
    let mut all: Vec<T> = shares.into_iter().flatten().collect();
    all.sort();
    all
}

/// Every split, with and without chunks: what the early-exit tests run on each backend.
pub fn every_split() -> Vec<(&'static str, dlp::Split)> {
    use dlp::Split;
    vec![
        ("round_robin", Split::round_robin()),
        ("round_robin chunk 3", Split::round_robin().chunk(3)),
        ("block", Split::block()),
        ("managed", Split::managed()),
        ("managed chunk 1", Split::managed().chunk(1)),
        ("managed chunk 5", Split::managed().chunk(5)),
        ("guided", Split::guided()),
    ]
}

/// Rank 1 returns an error before the gather that the others go on to: an early `?`.
#[dlp::main]
pub fn returns_early_on_rank_one() -> Result<(), String> {
    if dlp::rank() == 1 {
        return Err("no input file on rank 1".to_owned());
    }
    dlp::gather(dlp::rank());
    Ok(())
}
