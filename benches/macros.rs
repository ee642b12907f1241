//! Zero cost: a `#[par_for]` loop against the same loop written by hand against the runtime, in
//! one process, alternating, on the same world.
//!
//! `cargo bench --bench macros` (`DLP_THREADS` sets the number of ranks). Prints the median
//! time of each ("first" is the `#[par_for]` loop, or the copy in the A/A control) and the
//! median of the per-run ratios; 1.00 is parity.

#[path = "../examples/workloads/kernel.rs"]
mod kernel;

use std::hint::black_box;
use std::time::{Duration, Instant};

use dlp::{Split, World};
use kernel::kernel;

const ITEMS: u64 = 1 << 20; // 4^10
const RUNS: usize = 41;

/// The kernel 16 times over: about 0.2 µs an item, so that the loop's own instructions and their
/// placement in memory weigh less than with the bare kernel.
fn medium_kernel(n: u64) -> f64 {
    (0..16).map(|_| kernel(black_box(n))).sum()
}

#[dlp::spmd]
#[inline(never)]
fn medium_with_attribute(items: u64) -> f64 {
    let mut mine = 0.0;
    #[par_for(split = "managed")]
    for n in 0..items {
        mine += medium_kernel(n);
    }
    dlp::all_reduce(mine, |a, b| a + b)
}

#[inline(never)]
fn medium_by_hand(items: u64) -> f64 {
    let mut mine = 0.0;
    for n in Split::managed().over(0..items) {
        mine += medium_kernel(n);
    }
    dlp::all_reduce(mine, |a, b| a + b)
}

#[dlp::spmd]
#[inline(never)]
fn sum_with_attribute(items: u64) -> f64 {
    let mut mine = 0.0;
    #[par_for(split = "managed")]
    for n in 0..items {
        mine += kernel(n);
    }
    dlp::all_reduce(mine, |a, b| a + b)
}

#[inline(never)]
fn sum_by_hand(items: u64) -> f64 {
    let mut mine = 0.0;
    for n in Split::managed().over(0..items) {
        mine += kernel(n);
    }
    dlp::all_reduce(mine, |a, b| a + b)
}

/// `sum_by_hand` again, token for token: the A/A control. How far its ratio to `sum_by_hand`
/// strays from 1.00 is what the placement of two identical loops in memory alone does.
#[inline(never)]
fn sum_by_hand_again(items: u64) -> f64 {
    let mut mine = 0.0;
    for n in Split::managed().over(0..items) {
        mine += kernel(n);
    }
    dlp::all_reduce(mine, |a, b| a + b)
}

#[dlp::spmd]
#[inline(never)]
fn collect_with_attribute(items: u64) -> usize {
    let mut mine = Vec::new();
    #[par_for(split = "block")]
    for n in 0..items {
        mine.push(kernel(n));
    }
    dlp::gather(mine).map_or(0, |all| all.len())
}

#[inline(never)]
fn collect_by_hand(items: u64) -> usize {
    let mut mine = Vec::new();
    for n in Split::block().over(0..items) {
        mine.push(kernel(n));
    }
    dlp::gather(mine).map_or(0, |all| all.len())
}

/// Times `run` on the main rank, from a barrier to its end (which ends in a collective).
fn timed<R>(run: impl FnOnce() -> R) -> Duration {
    dlp::barrier();
    let started = Instant::now();
    black_box(run());
    started.elapsed()
}

fn median<T: Copy + PartialOrd>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    values[values.len() / 2]
}

fn report(name: &str, attribute: Vec<Duration>, by_hand: Vec<Duration>) {
    let ratios: Vec<f64> = attribute
        .iter()
        .zip(&by_hand)
        .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
        .collect();
    println!(
        "  {name:<34} first {:>7.2} ms   by hand {:>7.2} ms   ratio {:.3}",
        median(attribute).as_secs_f64() * 1e3,
        median(by_hand).as_secs_f64() * 1e3,
        median(ratios)
    );
}

fn main() {
    let world = World::from_env().unwrap_or_else(|error| panic!("{error}"));
    println!(
        "#[par_for] against the same loop by hand: {} items, {} ranks, {RUNS} runs each",
        ITEMS,
        world.size()
    );
    let samples = world.run(|| {
        let mut samples = vec![Vec::new(); 8];
        for run in 0..RUNS {
            // Alternate which goes first, so that neither always runs on a warmer machine.
            let order: [usize; 2] = if run % 2 == 0 { [0, 1] } else { [1, 0] };
            for slot in order {
                samples[slot].push(match slot {
                    0 => timed(|| sum_with_attribute(ITEMS)),
                    _ => timed(|| sum_by_hand(ITEMS)),
                });
            }
            for slot in order {
                samples[2 + slot].push(match slot {
                    0 => timed(|| collect_with_attribute(ITEMS)),
                    _ => timed(|| collect_by_hand(ITEMS)),
                });
            }
            for slot in order {
                samples[4 + slot].push(match slot {
                    0 => timed(|| medium_with_attribute(ITEMS / 16)),
                    _ => timed(|| medium_by_hand(ITEMS / 16)),
                });
            }
            for slot in order {
                samples[6 + slot].push(match slot {
                    0 => timed(|| sum_by_hand_again(ITEMS)),
                    _ => timed(|| sum_by_hand(ITEMS)),
                });
            }
        }
        samples
    });
    let mut samples = samples.into_iter();
    let mut next = || samples.next().expect("eight series");
    report("managed split, sum, light kernel", next(), next());
    report("block split, push + gather, light", next(), next());
    report("managed split, sum, 16x kernel", next(), next());
    println!("A/A control, the same hand-written loop twice:");
    report("managed split, sum, light kernel", next(), next());
}
