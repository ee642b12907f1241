//! Ten examples of 200 ms each, shared among the ranks by the managed split.
//!
//! `cargo run --release --example quickstart` runs it on one rank-thread per core;
//! `DLP_THREADS=8` sets the number of ranks, `DLP_BACKEND=serial` runs it on one.

use std::time::{Duration, Instant};

fn main() {
    let started = Instant::now();
    let summary = dlp::run(|| {
        let examples: Vec<u64> = (0..10).collect();
        let mut results = Vec::new();

        for example in dlp::split_managed(examples) {
            std::thread::sleep(Duration::from_millis(200)); // heavy work
            results.push(example);
        }

        // Some(..) on the main rank only.
        dlp::gather(results).map(|all| (all.into_iter().flatten().sum::<u64>(), dlp::size()))
    });
    if let Some((sum, ranks)) = summary {
        println!(
            "sum {sum}, from 10 examples of 200 ms on {ranks} ranks, in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
}
