//! The skew workload of the benchmarks and the `skew_timeline` example: 40 tasks of 20 ms and
//! 360 of 1 ms of CPU time, in a shuffled order that is the same on every run and every rank.

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

/// Busy-waits for `duration` of this thread's CPU time, so that a task costs the same whatever
/// else the machine runs.
pub fn burn_cpu(duration: Duration) {
    fn thread_cpu_time() -> Duration {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid timespec for clock_gettime to write.
        let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
        assert_eq!(status, 0, "the thread CPU clock is readable");
        Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
    }
    let end = thread_cpu_time() + duration;
    while thread_cpu_time() < end {
        std::hint::spin_loop();
    }
}
