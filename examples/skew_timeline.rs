//! The skew workload (40 tasks of 20 ms and 360 of 1 ms of CPU, shuffled), first with the round
//! robin split, then with the managed one: what `DLP_REPORT` and `DLP_TRACE` are for.
//!
//! ```sh
//! DLP_REPORT=1 DLP_TRACE=skew.json cargo run --release --example skew_timeline
//! ```
//!
//! then open `skew.json` in <https://ui.perfetto.dev> or `chrome://tracing`: one row per rank,
//! one bar per run of items. With round robin, ranks that drew more long tasks are still busy
//! while the others wait; with managed, every rank finishes within a task of the others.

#[path = "workloads/skew.rs"]
mod skew;

use std::time::{Duration, Instant};

#[dlp::main]
fn main() {
    let tasks = skew::skew_tasks();
    let ideal = tasks.iter().sum::<Duration>() / dlp::size() as u32;

    dlp::barrier();
    let started = Instant::now();
    #[par_for(split = "round_robin")]
    for task in &tasks {
        skew::burn_cpu(*task);
    }
    dlp::barrier();
    let round_robin = started.elapsed();

    let started = Instant::now();
    #[par_for(split = "managed", progress)]
    for task in &tasks {
        skew::burn_cpu(*task);
    }
    dlp::barrier();
    let managed = started.elapsed();

    if dlp::is_main() {
        for (split, time) in [("round robin", round_robin), ("managed", managed)] {
            println!(
                "{split:>11}: {:6.1} ms, {:.3} x the ideal of {:.1} ms",
                time.as_secs_f64() * 1e3,
                time.as_secs_f64() / ideal.as_secs_f64(),
                ideal.as_secs_f64() * 1e3
            );
        }
    }
}
