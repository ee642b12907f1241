//! One world of processes × threads against as many processes, and as many threads, in one run.
//!
//! `cargo bench --features mpi --bench hybrid` times the same world of 4 ranks in three shapes:
//! `mpiexec -n 4` (a rank a process), `mpiexec -n 2` with `DLP_THREADS=2` (processes × threads)
//! and `mpiexec -n 1` with `DLP_THREADS=4` (threads alone); `DLP_BENCH_RANKS` and
//! `DLP_BENCH_THREADS` set other shapes. For each, medians of 5:
//! - the whole job with an empty body, as the shell sees it: `mpiexec`, MPI's start and end, and
//!   a world's;
//! - one call of `barrier`, `broadcast`, `gather` and `all_reduce` of a `u64`, over 200 calls;
//! - a managed split of 20,000 trivial items;
//! - 50 managed splits in a row of 20 items of 50 µs each, as in a time-stepping loop.
//!
//! Where the machine has fewer cores than ranks, every shape is oversubscribed alike.

// Shared with the MPI tests, which also start jobs with Slurm's srun; the bench does not.
#[allow(dead_code)]
#[path = "../tests/common/launcher.rs"]
mod launcher;

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use dlp::Split;

/// The variable that tells a child what to run.
const CHILD: &str = "DLP_BENCH_CHILD";
// Few, for oversubscribed machines: there an MPI process that waits in a collective spins
// until the scheduler runs the process it waits for, a slice later.
const REPS: usize = 5;
const STARTS: usize = 5;
const CALLS: u32 = 200;
const ITEMS: u64 = 20_000;
const STEPS: u32 = 50;
const STEP_ITEMS: u32 = 20;
const STEP_ITEM: Duration = Duration::from_micros(50);

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Times `run` on every rank, from a barrier to the end of a barrier after it.
fn timed(run: impl FnOnce()) -> Duration {
    dlp::barrier();
    let started = Instant::now();
    run();
    dlp::barrier();
    started.elapsed()
}

/// The time of one call of `call`, over [`CALLS`] calls in a row.
fn per_call(mut call: impl FnMut(u64)) -> Duration {
    timed(|| (0..u64::from(CALLS)).for_each(&mut call)) / CALLS
}

/// Busy for `duration` of wall time.
fn spin_for(duration: Duration) {
    let started = Instant::now();
    while started.elapsed() < duration {
        std::hint::spin_loop();
    }
}

/// The measurements of one shape, in a child under `mpiexec`: `name<TAB>microseconds` lines,
/// printed by the main rank.
fn measure() {
    let rows = dlp::run(|| {
        let mut rows: Vec<(&str, Vec<Duration>)> = Vec::new();
        let mut push = |name, time| match rows.iter_mut().find(|(row, _)| *row == name) {
            Some((_, samples)) => samples.push(time),
            None => rows.push((name, vec![time])),
        };
        for _ in 0..REPS {
            push("barrier, per call", per_call(|_| dlp::barrier()));
            push(
                "broadcast of a u64, per call",
                per_call(|n| {
                    black_box(dlp::broadcast(dlp::is_main().then_some(n)));
                }),
            );
            push(
                "gather of a u64, per call",
                per_call(|n| {
                    black_box(dlp::gather(n));
                }),
            );
            push(
                "all_reduce of a u64, per call",
                per_call(|n| {
                    black_box(dlp::all_reduce(n, u64::wrapping_add));
                }),
            );
            push(
                "managed split of 20k trivial items",
                timed(|| {
                    black_box(Split::managed().over(0..ITEMS).map(black_box).count());
                }),
            );
            push(
                "50 managed splits of 20 x 50 us",
                timed(|| {
                    for _ in 0..STEPS {
                        let split = Split::managed().over(0..STEP_ITEMS);
                        split.for_each(|_| spin_for(STEP_ITEM));
                    }
                }),
            );
        }
        rows.into_iter()
            .map(|(name, samples)| (name, median(samples)))
            .collect::<Vec<_>>()
    });
    if dlp::is_main() {
        for (name, time) in rows {
            println!("{name}\t{:.3}", time.as_secs_f64() * 1e6);
        }
    }
}

/// A shape of the world: processes, and rank-threads in each.
#[derive(Clone, Copy)]
struct Shape {
    processes: usize,
    threads: usize,
}

impl Shape {
    fn command(self, launcher: &launcher::Launcher, child: &str) -> Command {
        let me = std::env::current_exe().expect("the bench's path");
        let mut command = launcher.command(self.processes, &me);
        command
            .env(CHILD, child)
            .env("DLP_THREADS", self.threads.to_string())
            .env_remove("DLP_BACKEND");
        command
    }

    fn label(self) -> String {
        format!("-n {} x {}", self.processes, self.threads)
    }
}

/// The median time of a whole job of `shape` whose world does nothing.
fn start(launcher: &launcher::Launcher, shape: Shape) -> Duration {
    let samples = (0..STARTS).map(|_| {
        let started = Instant::now();
        let status = shape.command(launcher, "empty").status();
        assert!(
            status.is_ok_and(|status| status.success()),
            "{} failed",
            shape.label()
        );
        started.elapsed()
    });
    median(samples.collect())
}

/// The rows that a child of `shape` measured, in microseconds.
fn rows_of(launcher: &launcher::Launcher, shape: Shape) -> Vec<(String, f64)> {
    let output = shape.command(launcher, "measure").output();
    let output = output.expect("mpiexec starts (is MPI installed?)");
    assert!(output.status.success(), "{} failed", shape.label());
    let rows = String::from_utf8_lossy(&output.stdout).into_owned();
    rows.lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(name, micros)| (name.to_owned(), micros.parse().expect("microseconds")))
        .collect()
}

fn number(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |value| value.parse().expect("a number"))
}

fn main() {
    match std::env::var(CHILD).as_deref() {
        Ok("measure") => return measure(),
        Ok(_) => return dlp::run(|| dlp::barrier()),
        Err(_) => {}
    }
    let ranks = number("DLP_BENCH_RANKS", 4);
    let threads = number("DLP_BENCH_THREADS", 2);
    assert!(
        ranks.is_multiple_of(threads),
        "DLP_BENCH_THREADS divides DLP_BENCH_RANKS"
    );
    let shapes = [
        Shape {
            processes: ranks,
            threads: 1,
        },
        Shape {
            processes: ranks / threads,
            threads,
        },
        Shape {
            processes: 1,
            threads: ranks,
        },
    ];
    let launcher = launcher::Launcher::of_this_build();
    eprintln!("{}, started by {}", launcher.library, launcher.program());
    let (mut starts, mut measured) = (Vec::new(), Vec::new());
    for shape in shapes {
        eprintln!("{} ...", shape.label());
        starts.push(start(&launcher, shape));
        measured.push(rows_of(&launcher, shape));
    }
    println!(
        "a world of {ranks} ranks in three shapes (processes x threads), medians of {REPS} \
         ({STARTS} for the job)"
    );
    let labels: Vec<String> = shapes.iter().map(|shape| shape.label()).collect();
    println!(
        "  {:<40} {:>14} {:>14} {:>14}",
        "", labels[0], labels[1], labels[2]
    );
    let ms = |time: Duration| format!("{:.1} ms", time.as_secs_f64() * 1e3);
    let job = starts.iter().map(|&time| ms(time)).collect::<Vec<_>>();
    println!(
        "  {:<40} {:>14} {:>14} {:>14}",
        "job with an empty world", job[0], job[1], job[2]
    );
    for (row, (name, _)) in measured[0].iter().enumerate() {
        let cells: Vec<String> = measured
            .iter()
            .map(|rows| match name.contains("per call") {
                true => format!("{:.2} us", rows[row].1),
                false => format!("{:.2} ms", rows[row].1 / 1e3),
            })
            .collect();
        println!(
            "  {name:<40} {:>14} {:>14} {:>14}",
            cells[0], cells[1], cells[2]
        );
    }
}
