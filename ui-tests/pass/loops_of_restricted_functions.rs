//! A `#[par_for]` loop of a `#[main_only]` function runs every item on the main rank; one of a
//! `#[worker_only]` function shares the items among the other ranks.

use dlp::{main_only, worker_only};

#[main_only]
fn on_main(items: &[u32]) -> Vec<u32> {
    let mut seen = Vec::new();
    #[par_for(split = "managed")]
    for item in items {
        seen.push(*item);
    }
    seen
}

#[worker_only]
fn on_workers(items: &[u32]) -> Vec<u32> {
    let mut seen = Vec::new();
    #[par_for(split = "managed", chunk = 2)]
    for item in items {
        seen.push(*item);
    }
    #[par_for(split = "block")]
    for item in items {
        seen.push(1000 + *item);
    }
    seen
}

#[dlp::main]
fn main() {
    let items: Vec<u32> = (0..50).collect();
    let main_share = on_main(&items);
    let worker_share = on_workers(&items).unwrap_or_default();
    if let Some(main_share) = &main_share {
        assert_eq!(*main_share, items);
    }
    if let Some(all) = dlp::gather(worker_share) {
        let mut all = all.concat();
        all.sort();
        let mut expected = items.clone();
        expected.extend(items.iter().map(|item| 1000 + item));
        if dlp::size() == 1 {
            expected.clear(); // no workers
        }
        assert_eq!(all, expected);
    }
}
