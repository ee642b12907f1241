//! Ten examples of 200 ms each, shared among the ranks by the managed split.
//!
//! `cargo run --release --example quickstart` runs it on one rank-thread per core;
//! `DLP_THREADS=8` sets the number of ranks, `DLP_BACKEND=serial` runs it on one.

use std::time::Duration;

#[dlp::main]
fn main() {
    let examples: Vec<u64> = (0..10).collect();
    let mut results = Vec::new();

    #[par_for(split = "managed")]
    for example in examples {
        std::thread::sleep(Duration::from_millis(200)); // heavy work
        results.push(example);
    }

    if let Some(all) = dlp::gather(results) {
        // Some(..) on the main rank only.
        println!("{}", all.into_iter().flatten().sum::<u64>());
    }
}
