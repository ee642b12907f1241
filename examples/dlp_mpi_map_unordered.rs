//! dlp_mpi's third column: the loop body as a function, applied in parallel by `map_unordered`.
//! The main rank receives every result as it completes, and computes too.
//!
//! `DLP_THREADS=8 cargo run --release --example dlp_mpi_map_unordered`

use std::time::{Duration, Instant};

fn workload(example: u64) -> u64 {
    // Some heavy workload: CPU or IO.
    std::thread::sleep(Duration::from_millis(200));
    example
}

#[dlp::main]
fn main() {
    let started = Instant::now();
    let examples: Vec<u64> = (0..10).collect();
    let mut results = Vec::new();

    // On the main rank, every result; on the others, nothing.
    for result in dlp::map_unordered(workload, examples) {
        // Remember the results.
        results.push(result);
    }

    if dlp::is_main() {
        results.sort();
        // Summarize the experiment.
        println!("{results:?}");
        println!("{}", results.iter().sum::<u64>());
        eprintln!(
            "took {:.1} s on {} ranks",
            started.elapsed().as_secs_f64(),
            dlp::size()
        );
    }
}
