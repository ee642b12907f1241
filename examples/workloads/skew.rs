//! The skew workload of the benchmarks and the `skew_timeline` example: 40 tasks of 20 ms and
//! 360 of 1 ms, in a shuffled order that is the same on every run and every rank.

use std::time::Duration;

/// The tasks' durations, shuffled with a fixed seed (Fisher-Yates, xorshift64).
pub fn skew_tasks() -> Vec<Duration> {
    let mut tasks: Vec<Duration> = (0..400)
        .map(|i| Duration::from_millis(if i < 40 { 20 } else { 1 }))
        .collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..tasks.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        tasks.swap(i, (state % (i as u64 + 1)) as usize);
    }
    tasks
}
