//! dlp on MPI against hand-written rsmpi, in the same MPI job.
//!
//! `cargo bench --features mpi --bench mpi` starts itself under `mpiexec -n 2` (set
//! `DLP_BENCH_RANKS` for another count; `-- --quick` for fewer repetitions, `-- calls` for the
//! cost of one call alone, over 41 runs). Workloads:
//! - 20,000 trivial items through a dynamic schedule: dlp's managed split (chunk 1, and its
//!   default adaptive chunks) against a hand-written request/reply manager/worker, whose rank 0
//!   only manages (the pattern of dlp_mpi's `split_managed`);
//! - 20,000 `u64` results dealt round robin and gathered on rank 0: dlp's `split_round_robin` and
//!   `gather` against a hand-written `MPI_Gatherv`;
//! - the skew workload (40 tasks of 20 ms and 360 of 1 ms of CPU, shuffled): the makespan of
//!   dlp's managed split, of `map_unordered` and of the hand-written manager/worker against the
//!   ideal, total work / ranks. `MPIR_CVAR_NOLOCAL=1` (MPICH) runs it as if every process were
//!   on a node of its own;
//! - 200 managed splits in a row of 20 items of 50 µs each, as in a time-stepping loop: the
//!   time against the serial 200 ms, and what each split costs over the ideal;
//! - the cost of one call, over 2,000 calls in a row: `barrier`, `broadcast`, `gather` and
//!   `all_reduce` of one `u64` against rsmpi's `barrier`, `broadcast_into`, `gather_into_root`
//!   and `all_reduce_into`, and the start of a block split of two items, which hand-written code
//!   does without a call.

// Shared with the MPI tests, which also start jobs with Slurm's srun; the bench does not.
#[allow(dead_code)]
#[path = "../tests/common/launcher.rs"]
mod launcher;
#[path = "../examples/workloads/skew.rs"]
mod skew;

use std::hint::black_box;
use std::time::{Duration, Instant};

use dlp::Split;
use mpi::datatype::PartitionMut;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

const ITEMS: u64 = 20_000;
const REQUEST: i32 = 1;
const REPLY: i32 = 2;
const NO_MORE: u64 = u64::MAX;

/// The hand-written manager/worker: rank 0 answers each request with the next index; the
/// workers process what they are given. Returns how many items this rank processed.
fn manager_worker(world: &SimpleCommunicator, items: u64, work: impl Fn(u64)) -> u64 {
    let size = world.size();
    if world.rank() == 0 {
        let mut next = 0u64;
        let mut stopped = 0;
        while stopped < size - 1 {
            let (_request, status) = world.any_process().receive_with_tag::<u8>(REQUEST);
            let worker = world.process_at_rank(status.source_rank());
            if next < items {
                worker.send_with_tag(&next, REPLY);
                next += 1;
            } else {
                worker.send_with_tag(&NO_MORE, REPLY);
                stopped += 1;
            }
        }
        0
    } else {
        let manager = world.process_at_rank(0);
        let mut done = 0;
        loop {
            manager.send_with_tag(&1u8, REQUEST);
            let (index, _) = manager.receive_with_tag::<u64>(REPLY);
            if index == NO_MORE {
                return done;
            }
            work(index);
            done += 1;
        }
    }
}

/// The hand-written round robin and `MPI_Gatherv` of the results on rank 0.
fn gatherv_by_hand(world: &SimpleCommunicator) -> usize {
    let (rank, size) = (world.rank() as u64, world.size() as u64);
    let mine: Vec<u64> = (rank..ITEMS)
        .step_by(size as usize)
        .map(|x| x * 3)
        .collect();
    let root = world.process_at_rank(0);
    if world.rank() != 0 {
        root.gather_varcount_into(&mine[..]);
        return 0;
    }
    let counts: Vec<i32> = (0..size)
        .map(|r| ((ITEMS - r).div_ceil(size)) as i32)
        .collect();
    let displs: Vec<i32> = counts
        .iter()
        .scan(0, |start, &count| {
            let this = *start;
            *start += count;
            Some(this)
        })
        .collect();
    let mut all = vec![0u64; ITEMS as usize];
    let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
    root.gather_varcount_into_root(&mine[..], &mut partition);
    all.len()
}

/// The median of the ratios `these[i] / baseline[i]`, run by run.
fn median_ratio(these: &[Duration], baseline: &[Duration]) -> f64 {
    let mut ratios: Vec<f64> = (these.iter().zip(baseline))
        .map(|(this, base)| this.as_secs_f64() / base.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Times `run` on every rank from a barrier to the end of a barrier after it.
fn timed(world: &SimpleCommunicator, run: impl FnOnce()) -> Duration {
    world.barrier();
    let started = Instant::now();
    run();
    world.barrier();
    started.elapsed()
}

/// Many short splits in a row, as in a time-stepping loop: what starting and ending a split
/// costs next to its work.
const STEPS: u32 = 200;
const STEP_ITEMS: u32 = 20;
const STEP_ITEM: Duration = Duration::from_micros(50);

/// Busy for `duration` of wall time.
fn spin_for(duration: Duration) {
    let started = Instant::now();
    while started.elapsed() < duration {
        std::hint::spin_loop();
    }
}

/// Calls in a row of each per-call row.
const CALLS: u32 = 2000;

/// The time of one call of `call`, over [`CALLS`] calls between barriers.
fn per_call(world: &SimpleCommunicator, mut call: impl FnMut(u64)) -> Duration {
    timed(world, || {
        for n in 0..u64::from(CALLS) {
            call(n);
        }
    }) / CALLS
}

/// One call of each collective, dlp's and rsmpi's, in alternation; `push` records the times.
fn per_call_rows(world: &SimpleCommunicator, mut push: impl FnMut(&'static str, Duration)) {
    let root = world.process_at_rank(0);
    let is_root = world.rank() == 0;
    push("call: rsmpi barrier", per_call(world, |_| world.barrier()));
    push("call: dlp barrier", per_call(world, |_| dlp::barrier()));
    push(
        "call: rsmpi broadcast_into u64",
        per_call(world, |n| {
            let mut value = if is_root { n } else { 0 };
            root.broadcast_into(&mut value);
            black_box(value);
        }),
    );
    push(
        "call: dlp broadcast u64",
        per_call(world, |n| {
            black_box(dlp::broadcast(dlp::is_main().then_some(n)));
        }),
    );
    let mut gathered = vec![0u64; world.size() as usize];
    push(
        "call: rsmpi gather_into_root u64",
        per_call(world, |n| match is_root {
            true => root.gather_into_root(&n, &mut gathered[..]),
            false => root.gather_into(&n),
        }),
    );
    push(
        "call: dlp gather u64",
        per_call(world, |n| {
            black_box(dlp::gather(n));
        }),
    );
    push(
        "call: rsmpi all_reduce_into u64 (sum)",
        per_call(world, |n| {
            let mut sum = 0u64;
            world.all_reduce_into(&n, &mut sum, mpi::collective::SystemOperation::sum());
            black_box(sum);
        }),
    );
    push(
        "call: dlp all_reduce u64 (sum)",
        per_call(world, |n| {
            black_box(dlp::all_reduce(n, |a, b| a.wrapping_add(b)));
        }),
    );
    push(
        "call: dlp block split of 2 items, start to end",
        per_call(world, |_| {
            black_box(dlp::split_block(0..2u64).count());
        }),
    );
}

fn main() {
    let launched = ["PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE"];
    if !launched.iter().any(|name| std::env::var_os(name).is_some()) {
        // Started by cargo: start again under mpiexec.
        let ranks = std::env::var("DLP_BENCH_RANKS").map_or(2, |ranks| {
            ranks.parse().expect("DLP_BENCH_RANKS is a number of ranks")
        });
        let launcher = launcher::Launcher::of_this_build();
        let me = std::env::current_exe().expect("the bench's path");
        eprintln!("{}, started by {}", launcher.library, launcher.program());
        let status = launcher
            .command(ranks, &me)
            .args(std::env::args().skip(1))
            .status()
            .expect("mpiexec starts (is MPI installed?)");
        std::process::exit(status.code().unwrap_or(1));
    }
    let quick = std::env::args().any(|arg| arg == "--quick");
    // `-- calls`: the cost of one call alone, over more runs.
    let only_calls = std::env::args().any(|arg| arg == "calls");
    let reps = match (quick, only_calls) {
        (true, _) => 3,
        (false, false) => 15,
        (false, true) => 41,
    };
    let skew_reps = if quick { 1 } else { 5 };
    let tasks = skew::skew_tasks();

    let rows = dlp::run(|| {
        // dlp's world and a duplicate of MPI_COMM_WORLD for the hand-written code.
        let world = SimpleCommunicator::world().duplicate();
        let size = world.size() as usize;
        let mut rows: Vec<(&str, Vec<Duration>)> = Vec::new();
        let mut push = |name, time| match rows.iter_mut().find(|(row, _)| *row == name) {
            Some((_, samples)) => samples.push(time),
            None => rows.push((name, vec![time])),
        };
        for _ in 0..reps {
            if only_calls {
                break;
            }
            push(
                "hand-written request/reply, 20k trivial items",
                timed(&world, || {
                    black_box(manager_worker(&world, ITEMS, |x| {
                        black_box(x);
                    }));
                }),
            );
            push(
                "dlp managed chunk 1, 20k trivial items",
                timed(&world, || {
                    black_box(
                        Split::managed()
                            .chunk(1)
                            .over(0..ITEMS)
                            .map(black_box)
                            .count(),
                    );
                }),
            );
            push(
                "dlp managed (adaptive), 20k trivial items",
                timed(&world, || {
                    black_box(Split::managed().over(0..ITEMS).map(black_box).count());
                }),
            );
            push(
                "hand-written round robin + Gatherv, 20k u64",
                timed(&world, || {
                    black_box(gatherv_by_hand(&world));
                }),
            );
            push(
                "dlp round robin + gather, 20k u64",
                timed(&world, || {
                    let mine: Vec<u64> = dlp::split_round_robin(0..ITEMS).map(|x| x * 3).collect();
                    black_box(dlp::gather(mine).map(|all| all.len()));
                }),
            );
        }
        for _ in 0..reps {
            per_call_rows(&world, &mut push);
        }
        for _ in 0..skew_reps {
            if only_calls {
                break;
            }
            push(
                "hand-written request/reply, skew",
                timed(&world, || {
                    manager_worker(&world, tasks.len() as u64, |i| {
                        skew::burn_cpu(tasks[i as usize])
                    });
                }),
            );
            push(
                "dlp managed (adaptive), skew",
                timed(&world, || {
                    for &task in Split::managed().over(&tasks) {
                        skew::burn_cpu(task);
                    }
                }),
            );
            push(
                "dlp 200 managed splits of 20 items of 50 us, steps",
                timed(&world, || {
                    for _ in 0..STEPS {
                        let done = Split::managed()
                            .over(0..STEP_ITEMS)
                            .map(|_| spin_for(STEP_ITEM))
                            .count();
                        black_box(done);
                    }
                }),
            );
            push(
                "dlp map_unordered, skew",
                timed(&world, || {
                    let work = |task: Duration| {
                        skew::burn_cpu(task);
                        task
                    };
                    black_box(dlp::map_unordered(work, tasks.iter().copied()).count());
                }),
            );
        }
        (size, rows)
    });
    if !dlp::is_main() {
        return;
    }
    let (size, rows) = rows;
    let ideal = skew::skew_tasks().iter().sum::<Duration>() / size as u32;
    println!(
        "dlp against hand-written rsmpi, mpiexec -n {size}, medians of {reps} runs ({skew_reps} for skew)"
    );
    let mut previous_rsmpi: Option<Vec<Duration>> = None;
    for (name, samples) in rows {
        let time = median(samples.clone());
        if let Some(call) = name.strip_prefix("call: ") {
            // A dlp row follows the rsmpi row of the same call, measured right after it in
            // each run: the ratio is the median of the runs' ratios.
            let ratio = match previous_rsmpi.take() {
                Some(rsmpi) if call.starts_with("dlp") => {
                    format!("{:.2} x rsmpi", median_ratio(&samples, &rsmpi))
                }
                _ => String::new(),
            };
            if call.starts_with("rsmpi") {
                previous_rsmpi = Some(samples);
            }
            println!(
                "  {call:<48} {:>9.2} us/call  {ratio}",
                time.as_secs_f64() * 1e6
            );
        } else if name.ends_with("steps") {
            let serial = STEP_ITEM * STEP_ITEMS * STEPS;
            println!(
                "  {name:<48} {:>9.2} ms  {:.2} x serial ({:.1} ms), {:.0} us a split over ideal",
                time.as_secs_f64() * 1e3,
                time.as_secs_f64() / serial.as_secs_f64(),
                serial.as_secs_f64() * 1e3,
                (time.as_secs_f64() - serial.as_secs_f64() / size as f64) * 1e6 / STEPS as f64
            );
        } else if name.ends_with("skew") {
            println!(
                "  {name:<48} {:>9.2} ms  {:.3} x ideal ({:.1} ms)",
                time.as_secs_f64() * 1e3,
                time.as_secs_f64() / ideal.as_secs_f64(),
                ideal.as_secs_f64() * 1e3
            );
        } else {
            println!(
                "  {name:<48} {:>9.3} ms  {:>7.3} us/item",
                time.as_secs_f64() * 1e3,
                time.as_secs_f64() * 1e6 / ITEMS as f64
            );
        }
    }
}
