//! dlp_mpi's first column: the serial program, before any parallelism. Ten examples of 200 ms
//! each take two seconds; `dlp_mpi_split_managed` and `dlp_mpi_map_unordered` are the same
//! program, parallel.
//!
//! `cargo run --release --example dlp_mpi_serial`

use std::time::{Duration, Instant};

fn main() {
    let started = Instant::now();
    let examples: Vec<u64> = (0..10).collect();
    let mut results = Vec::new();

    for example in examples {
        // Some heavy workload: CPU or IO.
        std::thread::sleep(Duration::from_millis(200));
        let result = example;
        // Remember the results.
        results.push(result);
    }

    // Summarize the experiment.
    println!("{}", results.iter().sum::<u64>());
    eprintln!("took {:.1} s", started.elapsed().as_secs_f64());
}
