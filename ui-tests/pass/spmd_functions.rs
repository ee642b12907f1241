//! `#[dlp::spmd]` on free functions and methods: called from plain code it opens a parallel
//! region and returns the main rank's result; called inside a world it runs on every rank.

use std::fmt::Display;

#[dlp::spmd]
fn sum_of_squares(items: Vec<u64>, offset: u64) -> u64 {
    let mut sum = 0;
    #[par_for]
    for item in items {
        sum += (item + offset) * (item + offset);
    }
    dlp::all_reduce(sum, |a, b| a + b)
}

#[dlp::spmd]
fn labels<T: Display + Clone + Sync>(prefix: &str, items: &[T], (first, step): (usize, usize)) -> Vec<String> {
    let mut mine = Vec::new();
    #[par_for(split = "round_robin")]
    for (index, item) in items.iter().enumerate().skip(first).step_by(step) {
        mine.push((index, format!("{prefix}{item}")));
    }
    let mut all: Vec<(usize, String)> = dlp::all_gather(mine).concat();
    all.sort();
    all.into_iter().map(|(_, label)| label).collect()
}

#[dlp::spmd]
fn ranks() -> usize {
    dlp::size()
}

/// `return` inside a `#[par_for]` loop returns from the function, on the rank that took it.
#[dlp::spmd]
fn first_negative_of_mine(items: &[i32]) -> Option<i32> {
    #[par_for(split = "round_robin")]
    for item in items {
        if *item < 0 {
            return Some(*item);
        }
    }
    None
}

struct Grid {
    cells: Vec<u32>,
}

impl Grid {
    #[dlp::spmd]
    fn total(&self, scale: u32) -> u32 {
        let mut mine = 0;
        #[par_for(split = "block")]
        for cell in &self.cells {
            mine += cell * scale;
        }
        dlp::all_reduce(mine, |a, b| a + b)
    }
}

fn main() {
    // Outside any world: each call is a parallel region of its own.
    assert_eq!(sum_of_squares((0..10).collect(), 1), 385);
    assert_eq!(labels("n", &[10, 20, 30, 40, 50], (1, 2)), ["n20", "n40"]);
    assert!(ranks() >= 1);
    let grid = Grid { cells: (1..=100).collect() };
    assert_eq!(grid.total(2), 10100);

    let found = dlp::World::threads(2).run(|| {
        dlp::all_gather(first_negative_of_mine(&[1, -2, 3, 4, -5, -6]))
    });
    assert_eq!(found, [Some(-5), Some(-2)]); // rank 0 has items 0, 2, 4; rank 1 has 1, 3, 5

    // Inside a world: the body runs on every rank, with no region of its own.
    let totals = dlp::World::threads(3).run(|| {
        assert_eq!(ranks(), 3);
        (sum_of_squares((0..10).collect(), 0), grid.total(1))
    });
    assert_eq!(totals, (285, 5050));
}
