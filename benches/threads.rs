//! dlp on the threads backend against rayon on the same number of threads, in one process.
//!
//! `cargo bench --bench threads` (set `DLP_THREADS` to choose the thread count; default: one
//! per core); `-- light`, `-- heavy`, `-- skew`, `-- progress`, `-- journal` or `-- startup`
//! runs only those sections,
//! `-- --quick` fewer repetitions.
//!
//! The machines this runs on are shared and noisy, so each run of a dlp variant is paired with
//! the rayon run next to it (their order alternates), and the ratio reported is the median of
//! those per-run ratios, which slow drifts in the machine's load do not bias. Prints medians, and the ratio of each dlp variant to rayon (lower is better; 1.00
//! is parity). Workloads:
//! - the seed kernel f(n) = ln(n+1)/sqrt(n+1) over n in 0..4^10, once per item (light) and 200
//!   times per item (heavy), every result collected on the main rank;
//! - the skew workload: 400 CPU-bound tasks (40 of 20 ms, 360 of 1 ms) in a seeded shuffled
//!   order, busy-waiting on the thread's CPU clock: makespan against the ideal, total work / ranks.

#[path = "../examples/workloads/skew.rs"]
mod skew;

#[path = "../examples/workloads/kernel.rs"]
mod kernel;

use std::hint::black_box;
use std::time::{Duration, Instant};

use dlp::{Split, World};
use kernel::kernel;
use rayon::prelude::*;

const ITEMS: u64 = 1 << 20; // 4^10
const HEAVY_REPEATS: u32 = 200;

fn heavy_kernel(n: u64) -> f64 {
    (0..HEAVY_REPEATS).map(|_| kernel(black_box(n))).sum()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Times `body` on the main rank, from a barrier to the end of `body` (which ends in a
/// collective, so every rank's work is included).
fn timed_in_world<R>(body: impl FnOnce() -> R) -> Duration {
    dlp::barrier();
    let started = Instant::now();
    black_box(body());
    started.elapsed()
}

struct Row {
    name: String,
    samples: Vec<Duration>,
}

/// Prints each row's median time and the median of its per-run ratios to `baseline`.
fn print_rows(title: &str, baseline_name: &str, baseline: &[Duration], rows: &[Row]) {
    println!("\n{title}");
    let ratio_header = format!("/ {baseline_name}");
    println!("  {:<44} {:>11} {ratio_header:>9}", "variant", "median");
    for row in rows {
        let mut ratios: Vec<f64> = row
            .samples
            .iter()
            .zip(baseline.iter().cycle())
            .map(|(time, base)| time.as_secs_f64() / base.as_secs_f64())
            .collect();
        ratios.sort_by(f64::total_cmp);
        let ratio = ratios[ratios.len() / 2];
        let time = median(row.samples.clone()).as_secs_f64() * 1e3;
        println!("  {:<44} {time:>8.2} ms {ratio:>9.3}", row.name);
    }
}

/// How a rank collects its results. `share.map(f).collect()` is dlp's `ShareMap`, whose
/// `collect` runs whole runs of items through `fold`; `for_each` does the same by hand; std's
/// `Iterator::map(share, f).collect()` drives the split item by item through `next()`, as a
/// `for` loop does (a std `Vec` writes straight into place only for the unstable `TrustedLen`
/// iterators, as rayon's indexed `collect` does).
#[derive(Clone, Copy)]
enum Collect {
    Map,
    MapThenConcat,
    MapThenGatherFlat,
    ForEach,
    StdMapNext,
}

/// The kernel benchmark: the dlp variants in a world, then rayon and the serial loop outside it,
/// once per run.
///
/// Rayon runs outside the world, after dlp's waiting rank-threads have fallen asleep, and just
/// after its own pool has been woken: neither side's threads take a core from the other's
/// measurement, and neither pays for waking threads that slept (which takes milliseconds on a
/// virtual machine).
fn kernel_rows(
    ranks: usize,
    pool: &rayon::ThreadPool,
    heavy: bool,
    reps: usize,
) -> (Vec<Duration>, Vec<Row>) {
    let f: fn(u64) -> f64 = if heavy { heavy_kernel } else { kernel };
    let dlp_variants: [(&str, Split, Collect); 7] = [
        (
            "dlp managed (adaptive) + gather",
            Split::managed(),
            Collect::Map,
        ),
        ("dlp block + gather", Split::block(), Collect::Map),
        (
            "dlp round_robin + gather",
            Split::round_robin(),
            Collect::Map,
        ),
        (
            "dlp block + gather + concat (in order)",
            Split::block(),
            Collect::MapThenConcat,
        ),
        (
            "dlp block + gather_flat (in order)",
            Split::block(),
            Collect::MapThenGatherFlat,
        ),
        (
            "dlp block, std Map (next per item) + gather",
            Split::block(),
            Collect::StdMapNext,
        ),
        (
            "dlp block, for_each push + gather",
            Split::block(),
            Collect::ForEach,
        ),
    ];
    let (rayon_slot, serial_slot) = (dlp_variants.len(), dlp_variants.len() + 1);
    let world = World::threads(ranks);
    let mut samples = vec![Vec::new(); dlp_variants.len() + 2];
    for _ in 0..reps {
        let times: Vec<Duration> = world.run(|| {
            let time_variant = |(_, split, collect): &(&str, Split, Collect)| {
                timed_in_world(|| {
                    let share = split.over(0..ITEMS);
                    let mine: Vec<f64> = match collect {
                        Collect::Map | Collect::MapThenConcat | Collect::MapThenGatherFlat => {
                            share.map(f).collect()
                        }
                        Collect::StdMapNext => Iterator::map(share, f).collect(),
                        Collect::ForEach => {
                            let mut mine = Vec::with_capacity(share.size_hint().0);
                            share.for_each(|n| mine.push(f(n)));
                            mine
                        }
                    };
                    if let Collect::MapThenGatherFlat = collect {
                        return dlp::gather_flat(mine).map(|all| all.len());
                    }
                    let all = dlp::gather(mine);
                    match collect {
                        Collect::MapThenConcat => all.map(|all| all.concat().len()),
                        _ => all.map(|all| all.len()),
                    }
                })
            };
            dlp_variants.iter().map(time_variant).collect()
        });
        for (slot, time) in times.into_iter().enumerate() {
            samples[slot].push(time);
        }
        std::thread::sleep(Duration::from_millis(2));
        pool.broadcast(|_| ());
        let started = Instant::now();
        let all: Vec<f64> = pool.install(|| (0..ITEMS).into_par_iter().map(f).collect());
        black_box(all);
        samples[rayon_slot].push(started.elapsed());
        let started = Instant::now();
        let all: Vec<f64> = (0..ITEMS).map(f).collect();
        black_box(all);
        samples[serial_slot].push(started.elapsed());
    }
    let mut rows: Vec<Row> = dlp_variants
        .iter()
        .zip(&samples)
        .map(|((name, ..), samples)| Row {
            name: name.to_string(),
            samples: samples.clone(),
        })
        .collect();
    rows.push(Row {
        name: "rayon into_par_iter().map().collect()".into(),
        samples: samples[rayon_slot].clone(),
    });
    rows.push(Row {
        name: "serial (1 thread)".into(),
        samples: samples[serial_slot].clone(),
    });
    (samples[rayon_slot].clone(), rows)
}

fn skew_rows(ranks: usize, pool: &rayon::ThreadPool, reps: usize) -> (Duration, Vec<Row>) {
    let tasks = skew::skew_tasks();
    let ideal = tasks.iter().sum::<Duration>() / ranks as u32;
    let variants: [(&str, Split); 5] = [
        ("dlp managed (adaptive)", Split::managed()),
        ("dlp managed chunk 1", Split::managed().chunk(1)),
        ("dlp guided", Split::guided()),
        ("dlp round_robin", Split::round_robin()),
        ("dlp block", Split::block()),
    ];
    let samples: Vec<Vec<Duration>> = World::threads(ranks).run(|| {
        let mut samples = vec![Vec::new(); variants.len() + 1];
        for _ in 0..reps {
            for (slot, (_, split)) in variants.iter().enumerate() {
                samples[slot].push(timed_in_world(|| {
                    for &task in split.over(&tasks) {
                        skew::burn_cpu(task);
                    }
                    dlp::barrier();
                }));
            }
            dlp::barrier();
            if dlp::is_main() {
                let started = Instant::now();
                pool.install(|| tasks.par_iter().for_each(|&task| skew::burn_cpu(task)));
                samples[variants.len()].push(started.elapsed());
            }
        }
        samples
    });
    let mut rows: Vec<Row> = variants
        .iter()
        .zip(&samples)
        .map(|((name, _), samples)| Row {
            name: name.to_string(),
            samples: samples.clone(),
        })
        .collect();
    rows.push(Row {
        name: "rayon par_iter().for_each()".into(),
        samples: samples[variants.len()].clone(),
    });
    (ideal, rows)
}

/// The cost of a progress bar: trivial items (a whole split is a few milliseconds, so any
/// per-item cost would show) and the skew workload, with and without `.progress()`.
fn progress_rows(ranks: usize, reps: usize) -> Vec<(String, Vec<Duration>, Vec<Duration>)> {
    let tasks = skew::skew_tasks();
    let samples = World::threads(ranks).run(|| {
        let mut samples = vec![Vec::new(); 4];
        for rep in 0..reps {
            for shown in [rep % 2 == 0, rep % 2 == 1] {
                let split = if shown {
                    Split::managed().progress()
                } else {
                    Split::managed()
                };
                let slot = usize::from(shown);
                samples[slot].push(timed_in_world(|| {
                    let mine: u64 = split.over(0..ITEMS).map(|n| n ^ 0x5555).sum();
                    dlp::all_reduce(mine, |a, b| a + b)
                }));
                if rep < reps.div_ceil(4) {
                    samples[2 + slot].push(timed_in_world(|| {
                        for &task in split.over(&tasks) {
                            skew::burn_cpu(task);
                        }
                        dlp::barrier();
                    }));
                }
            }
        }
        samples
    });
    let mut samples = samples.into_iter();
    let mut next = || samples.next().expect("four series");
    let (trivial_without, trivial_with) = (next(), next());
    let (skew_without, skew_with) = (next(), next());
    vec![
        (
            format!("trivial items ({ITEMS}), managed"),
            trivial_with,
            trivial_without,
        ),
        ("skew workload, managed".to_owned(), skew_with, skew_without),
    ]
}

/// The items of the journal section's trivial loops.
const JOURNALED_ITEMS: u64 = 100_000;

/// The cost of a journal: trivial items and the skew workload, each split with and without
/// `.journal()`. Every journaled run writes a fresh journal (a new directory, removed outside
/// the timed part), so every item is processed and recorded.
fn journal_rows(ranks: usize, reps: usize) -> Vec<(String, Vec<Duration>, Vec<Duration>)> {
    let tasks = skew::skew_tasks();
    let scratch = std::env::temp_dir().join(format!("dlp-bench-journal-{}", std::process::id()));
    // Name, split, and whether its items are the skew workload's tasks.
    let splits = [
        (
            format!("trivial items ({JOURNALED_ITEMS}), managed"),
            Split::managed(),
            false,
        ),
        (
            format!("trivial items ({JOURNALED_ITEMS}), block"),
            Split::block(),
            false,
        ),
        ("skew workload, managed".to_owned(), Split::managed(), true),
    ];
    let samples = World::threads(ranks).run(|| {
        let mut samples = vec![Vec::new(); 2 * splits.len()];
        for rep in 0..reps {
            for (which, (_, split, skewed)) in splits.iter().enumerate() {
                if *skewed && rep >= reps.div_ceil(4) {
                    continue;
                }
                for journaled in [rep % 2 == 0, rep % 2 == 1] {
                    let journal = scratch.join(format!("{rep}-{which}"));
                    let items = 0..if *skewed {
                        tasks.len()
                    } else {
                        JOURNALED_ITEMS as usize
                    };
                    let time = timed_in_world(|| {
                        let share = match journaled {
                            true => split.journal(&journal).over(items),
                            false => split.over(items),
                        };
                        match skewed {
                            true => share.for_each(|task| skew::burn_cpu(tasks[task])),
                            false => {
                                black_box(share.map(|n| n ^ 0x5555).sum::<usize>());
                            }
                        }
                        dlp::barrier();
                    });
                    samples[2 * which + usize::from(journaled)].push(time);
                    dlp::barrier();
                    if dlp::is_main() && journaled {
                        std::fs::remove_dir_all(&journal).expect("the journal is removed");
                    }
                }
            }
        }
        samples
    });
    let _ = std::fs::remove_dir_all(&scratch);
    let mut samples = samples.into_iter();
    splits
        .into_iter()
        .map(|(name, _, _)| {
            let without = samples.next().expect("a series without");
            let with = samples.next().expect("a series with");
            (name, with, without)
        })
        .collect()
}

fn main() {
    let sections: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let wanted = |section: &str| sections.is_empty() || sections.iter().any(|s| s == section);
    let ranks = World::from_env()
        .unwrap_or_else(|error| panic!("{error}"))
        .size();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(ranks)
        .build()
        .expect("a rayon pool");
    let quick = std::env::args().any(|arg| arg == "--quick");
    let (kernel_reps, heavy_reps, skew_reps) = if quick { (3, 1, 1) } else { (31, 9, 7) };
    println!("dlp vs rayon, {ranks} threads each, in one process");
    println!("median time, and median of the per-run ratios to the baseline");

    if wanted("startup") {
        let startup: Vec<Duration> = (0..51)
            .map(|_| {
                let started = Instant::now();
                World::threads(ranks).run(dlp::barrier);
                started.elapsed()
            })
            .collect();
        let micros = median(startup).as_secs_f64() * 1e6;
        println!("\nstarting and ending a world of {ranks} rank-threads: {micros:.1} us");
    }
    if wanted("light") {
        let (rayon, rows) = kernel_rows(ranks, &pool, false, kernel_reps);
        let title =
            format!("light kernel: f(n) over {ITEMS} items, once per item; {kernel_reps} runs");
        print_rows(&title, "rayon", &rayon, &rows);
    }
    if wanted("heavy") {
        let (rayon, rows) = kernel_rows(ranks, &pool, true, heavy_reps);
        let title = format!(
            "heavy kernel: f(n) {HEAVY_REPEATS} times per item, {ITEMS} items; {heavy_reps} runs"
        );
        print_rows(&title, "rayon", &rayon, &rows);
    }
    if wanted("progress") {
        let reps = if quick { 4 } else { 31 };
        println!("\nprogress bar: with .progress() against without, same split; {reps} runs");
        for (name, with, without) in progress_rows(ranks, reps) {
            print_rows(
                &name,
                "without",
                &without,
                &[Row {
                    name: "with progress bar".into(),
                    samples: with,
                }],
            );
        }
    }
    if wanted("journal") {
        let reps = if quick { 4 } else { 31 };
        println!("\njournal: with .journal() against without, same split; {reps} runs");
        for (name, with, without) in journal_rows(ranks, reps) {
            let row = Row {
                name: "with a journal".into(),
                samples: with,
            };
            print_rows(&name, "without", &without, &[row]);
        }
    }
    if wanted("skew") {
        let (ideal, rows) = skew_rows(ranks, &pool, skew_reps);
        let ideal_ms = ideal.as_secs_f64() * 1e3;
        let title = format!(
            "skew: 40 x 20 ms + 360 x 1 ms of CPU, shuffled; ideal {ideal_ms:.1} ms; {skew_reps} runs"
        );
        print_rows(&title, "ideal", &[ideal], &rows);
    }
}
