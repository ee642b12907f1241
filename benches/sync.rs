//! Synchronisation and loop scheduling: dlp on threads against OpenMP (gcc's libgomp), side by
//! side in one run, by EPCC's method (syncbench, schedbench): a test times `reps` operations
//! between delays, and its overhead per operation is that time less the same delays on one
//! thread, divided by `reps`. Both sides use the same delay code (C, in `benches/openmp`).
//!
//! `cargo bench --bench sync` (`-- sync` or `-- loops` for one section; `DLP_THREADS` sets the
//! threads of both sides; default one per core). Prints the median overhead of each side over the rounds, interleaved, and their ratio.

use std::time::{Duration, Instant};

use dlp::{Split, World};
use dlp_openmp_twin::{self as omp, Schedule};

/// Rounds of every synchronisation test, and of every loop test, whose overhead is a few
/// microseconds over 150 us of items and needs more rounds for a steady median; each round runs
/// the OpenMP side, then dlp's, each after its own reference run.
const SYNC_ROUNDS: usize = 31;
const LOOP_ROUNDS: usize = 101;
/// EPCC's delay between synchronisations, and the work of one loop item.
const SYNC_DELAY: Duration = Duration::from_nanos(100);
const ITEM_DELAY: Duration = Duration::from_nanos(150);
/// Items of a loop per thread, as in EPCC's schedbench.
const ITEMS_PER_THREAD: usize = 1024;

/// The delay's iterations that take about `target`.
fn calibrate(target: Duration) -> usize {
    const PROBE: usize = 1000;
    const REPS: usize = 2000;
    let per_iteration = (0..5)
        .map(|_| omp::reference(REPS, PROBE).as_secs_f64() / (REPS * PROBE) as f64)
        .fold(f64::INFINITY, f64::min);
    ((target.as_secs_f64() / per_iteration).round() as usize).max(1)
}

/// One test: how to time `reps` operations on each side, and the delays they contain.
struct Test {
    name: String,
    reps: usize,
    rounds: usize,
    /// The delays of one repetition on one thread, the reference: iterations and count.
    delay: usize,
    delays_per_rep: usize,
    openmp: Box<dyn Fn(usize) -> Duration>,
    dlp: Box<dyn Fn(usize) -> Duration>,
}

fn overhead(elapsed: Duration, reference: Duration, reps: usize) -> f64 {
    (elapsed.as_secs_f64() - reference.as_secs_f64()) / reps as f64 * 1e6
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Lets libgomp's idle threads, which spin for a while after a region, fall asleep, so that
/// they do not take the cores from the next measurement.
fn settle() {
    std::thread::sleep(Duration::from_millis(20));
}

/// Runs every round of `test`; returns the median overheads (µs per operation) of both sides.
///
/// Each timed run follows an untimed one of a tenth of the operations on the same side: a
/// thread woken from sleep can take milliseconds to run again on a virtual machine, and that
/// wake-up is not the synchronisation being measured.
fn measure(test: &Test) -> (f64, f64) {
    let mut openmp = Vec::with_capacity(test.rounds);
    let mut dlp = Vec::with_capacity(test.rounds);
    let reference = || omp::reference(test.reps * test.delays_per_rep, test.delay);
    let warm_up = (test.reps / 10).max(1);
    for _ in 0..test.rounds {
        let before_openmp = reference();
        settle();
        (test.openmp)(warm_up);
        openmp.push(overhead((test.openmp)(test.reps), before_openmp, test.reps));
        let before_dlp = reference();
        settle();
        (test.dlp)(warm_up);
        dlp.push(overhead((test.dlp)(test.reps), before_dlp, test.reps));
    }
    (median(openmp), median(dlp))
}

fn sync_tests(threads: usize, delay: usize) -> Vec<Test> {
    let world = World::threads(threads);
    let timed = |run: Box<dyn Fn(usize)>| -> Box<dyn Fn(usize) -> Duration> {
        Box::new(move |reps| {
            let start = Instant::now();
            run(reps);
            start.elapsed()
        })
    };
    let test = |name: &str, reps, openmp, dlp| Test {
        name: name.to_owned(),
        reps,
        rounds: SYNC_ROUNDS,
        delay,
        delays_per_rep: 1,
        openmp,
        dlp,
    };
    let (barrier_world, region_world, reduce_world, broadcast_world) =
        (world.clone(), world.clone(), world.clone(), world);
    vec![
        test(
            "barrier",
            20000,
            Box::new(move |reps| omp::barrier(threads, reps, delay)),
            timed(Box::new(move |reps| {
                barrier_world.run(|| {
                    for _ in 0..reps {
                        omp::delay(delay);
                        dlp::barrier();
                    }
                })
            })),
        ),
        test(
            "region: omp parallel / World::run",
            5000,
            Box::new(move |reps| omp::region(threads, reps, delay)),
            timed(Box::new(move |reps| {
                for _ in 0..reps {
                    region_world.run(|| omp::delay(delay));
                }
            })),
        ),
        test(
            "region + reduction: reduction(+) / all_reduce",
            5000,
            Box::new(move |reps| omp::reduction(threads, reps, delay)),
            timed(Box::new(move |reps| {
                for _ in 0..reps {
                    let total = reduce_world.run(|| {
                        omp::delay(delay);
                        dlp::all_reduce(1usize, |a, b| a + b)
                    });
                    assert_eq!(total, threads);
                }
            })),
        ),
        test(
            "broadcast: single copyprivate / broadcast",
            20000,
            Box::new(move |reps| omp::broadcast(threads, reps, delay)),
            timed(Box::new(move |reps| {
                broadcast_world.run(|| {
                    for rep in 0..reps {
                        omp::delay(delay);
                        let value = dlp::broadcast(dlp::is_main().then_some(rep));
                        assert_eq!(value, rep);
                    }
                })
            })),
        ),
    ]
}

fn loop_tests(threads: usize, delay: usize, reps: usize) -> Vec<Test> {
    let items = ITEMS_PER_THREAD * threads;
    let schedules = [
        ("static / block", Schedule::Static, Split::block()),
        (
            "static,1 / round_robin",
            Schedule::StaticChunk(1),
            Split::round_robin(),
        ),
        (
            "dynamic,1 / managed chunk 1",
            Schedule::Dynamic(1),
            Split::managed().chunk(1),
        ),
        (
            "dynamic,8 / managed chunk 8",
            Schedule::Dynamic(8),
            Split::managed().chunk(8),
        ),
        (
            "dynamic,64 / managed chunk 64",
            Schedule::Dynamic(64),
            Split::managed().chunk(64),
        ),
        (
            "guided,1 / guided chunk 1",
            Schedule::Guided(1),
            Split::guided().chunk(1),
        ),
        (
            "guided,8 / guided chunk 8",
            Schedule::Guided(8),
            Split::guided().chunk(8),
        ),
    ];
    schedules
        .into_iter()
        .map(|(name, schedule, split)| {
            let world = World::threads(threads);
            Test {
                name: name.to_owned(),
                reps,
                rounds: LOOP_ROUNDS,
                delay,
                delays_per_rep: ITEMS_PER_THREAD,
                openmp: Box::new(move |reps| {
                    omp::parallel_for(threads, schedule, items, reps, delay)
                }),
                dlp: Box::new(move |reps| {
                    let start = Instant::now();
                    let done = world.run(|| {
                        let mut done = 0;
                        for _ in 0..reps {
                            for _ in split.over(0..items) {
                                omp::delay(delay);
                                done += 1;
                            }
                            // An `omp for` ends with a barrier; so does this loop.
                            dlp::barrier();
                        }
                        dlp::all_reduce(done, |a, b| a + b)
                    });
                    let elapsed = start.elapsed();
                    assert_eq!(done, items * reps);
                    elapsed
                }),
            }
        })
        .collect()
}

fn report(title: &str, tests: &[Test]) {
    println!("\n{title}");
    println!(
        "  {:<46} {:>12} {:>12} {:>10}",
        "test (OpenMP / dlp)", "libgomp us", "dlp us", "dlp/omp"
    );
    for test in tests {
        let (openmp, dlp) = measure(test);
        println!(
            "  {:<46} {:>12.2} {:>12.2} {:>9.1}x",
            test.name,
            openmp,
            dlp,
            dlp / openmp.max(0.01)
        );
    }
}

fn main() {
    let threads = std::env::var("DLP_THREADS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
    let sync_delay = calibrate(SYNC_DELAY);
    let item_delay = calibrate(ITEM_DELAY);
    println!(
        "dlp against OpenMP (gcc's libgomp), {threads} threads each, EPCC's method: overhead per \
         operation in us, medians of {SYNC_ROUNDS} (synchronisation) and {LOOP_ROUNDS} (loops) \
         interleaved rounds"
    );
    // `cargo bench --bench sync -- sync` or `-- loops` runs one section.
    let sections: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let wanted = |section: &str| sections.is_empty() || sections.iter().any(|s| s == section);
    if wanted("sync") {
        report(
            &format!(
                "synchronisation, {} ns delay between operations",
                SYNC_DELAY.as_nanos()
            ),
            &sync_tests(threads, sync_delay),
        );
    }
    if wanted("loops") {
        report(
            &format!(
                "loop scheduling: {threads} x {ITEMS_PER_THREAD} items of {} ns, then a barrier",
                ITEM_DELAY.as_nanos()
            ),
            &loop_tests(threads, item_delay, 100),
        );
        // Items of no work: what is left is each side's own cost per loop (start, claims, the
        // path of each item, the barrier), without the 150 us of items in which a difference
        // between the two cores' speeds shows as overhead (see BENCHMARKS.md).
        report(
            &format!(
                "the same loops, {threads} x {ITEMS_PER_THREAD} items of no work (a call of \
                 the delay function with 0 iterations)"
            ),
            &loop_tests(threads, 0, 2000),
        );
    }
}
