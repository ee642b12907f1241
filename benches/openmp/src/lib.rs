//! The OpenMP side of dlp's synchronisation benchmark (`cargo bench --bench sync`): EPCC-style
//! tests written in C and built with gcc's libgomp, so that dlp's figures stand next to
//! OpenMP's measured in the same run, on the same threads, with the same delay code.
//!
//! Each test returns how long `reps` repetitions took; the benchmark subtracts the reference
//! (the same delays on one thread) as EPCC does.

use std::os::raw::c_int;
use std::time::Duration;

unsafe extern "C" {
    fn epcc_delay(iterations: c_int);
    fn epcc_reference(reps: c_int, delay: c_int) -> f64;
    fn epcc_barrier(threads: c_int, reps: c_int, delay: c_int) -> f64;
    fn epcc_region(threads: c_int, reps: c_int, delay: c_int) -> f64;
    fn epcc_reduction(threads: c_int, reps: c_int, delay: c_int) -> f64;
    fn epcc_broadcast(threads: c_int, reps: c_int, delay: c_int) -> f64;
    fn epcc_loop(
        threads: c_int,
        schedule: c_int,
        chunk: c_int,
        items: c_int,
        reps: c_int,
        delay: c_int,
    ) -> f64;
}

/// An OpenMP loop schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// `schedule(static)`: one block per thread.
    Static,
    /// `schedule(static, chunk)`: chunks dealt round robin.
    StaticChunk(u32),
    /// `schedule(dynamic, chunk)`.
    Dynamic(u32),
    /// `schedule(guided, chunk)`.
    Guided(u32),
}

fn seconds(seconds: f64, test: &str) -> Duration {
    assert!(
        seconds >= 0.0,
        "the OpenMP {test} test computed a wrong result"
    );
    Duration::from_secs_f64(seconds)
}

fn int(value: usize) -> c_int {
    c_int::try_from(value).expect("a count that fits a C int")
}

/// About `iterations` dependent additions, the delay of every test, Rust's and C's.
pub fn delay(iterations: usize) {
    // SAFETY: a plain C function of an int, which touches only its own locals and a static.
    unsafe { epcc_delay(int(iterations)) }
}

/// `reps` delays on the calling thread.
pub fn reference(reps: usize, delay: usize) -> Duration {
    // SAFETY: as `delay`.
    seconds(
        unsafe { epcc_reference(int(reps), int(delay)) },
        "reference",
    )
}

/// One parallel region; `reps` times a delay and `#pragma omp barrier`.
pub fn barrier(threads: usize, reps: usize, delay: usize) -> Duration {
    // SAFETY: OpenMP code over the arguments and locals only.
    seconds(
        unsafe { epcc_barrier(int(threads), int(reps), int(delay)) },
        "barrier",
    )
}

/// `reps` parallel regions, each a delay.
pub fn region(threads: usize, reps: usize, delay: usize) -> Duration {
    // SAFETY: as `barrier`.
    seconds(
        unsafe { epcc_region(int(threads), int(reps), int(delay)) },
        "region",
    )
}

/// `reps` parallel regions with a `reduction(+)` clause, each a delay.
pub fn reduction(threads: usize, reps: usize, delay: usize) -> Duration {
    // SAFETY: as `barrier`.
    seconds(
        unsafe { epcc_reduction(int(threads), int(reps), int(delay)) },
        "reduction",
    )
}

/// One parallel region; `reps` times a delay and a `single copyprivate` of one value.
pub fn broadcast(threads: usize, reps: usize, delay: usize) -> Duration {
    // SAFETY: as `barrier`.
    seconds(
        unsafe { epcc_broadcast(int(threads), int(reps), int(delay)) },
        "broadcast",
    )
}

/// One parallel region; `reps` times an `omp for` over `items` delays with `schedule`.
pub fn parallel_for(
    threads: usize,
    schedule: Schedule,
    items: usize,
    reps: usize,
    delay: usize,
) -> Duration {
    let (kind, chunk) = match schedule {
        Schedule::Static => (0, 1),
        Schedule::StaticChunk(chunk) => (1, chunk),
        Schedule::Dynamic(chunk) => (2, chunk),
        Schedule::Guided(chunk) => (3, chunk),
    };
    let chunk = int(chunk as usize);
    // SAFETY: as `barrier`.
    let elapsed =
        unsafe { epcc_loop(int(threads), kind, chunk, int(items), int(reps), int(delay)) };
    seconds(elapsed, "loop")
}
