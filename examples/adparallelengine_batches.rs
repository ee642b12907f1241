//! adparallelengine's batching: a generator of Fibonacci pairs, handed out to the ranks in
//! batches without being collected first; every call gets extra arguments; the results come
//! back flattened, in order.
//!
//! `cargo run --release --example adparallelengine_batches`

use dlp::Split;

/// Pairs of consecutive Fibonacci numbers below `limit`, two steps apart: (0, 1), (1, 2),
/// (3, 5), ... A generator: its length is not known before it runs out.
fn fibonacci_pairs(limit: u64) -> impl Iterator<Item = [u64; 2]> {
    let mut state = (0u64, 1u64);
    std::iter::from_fn(move || {
        let (a, b) = state;
        if a >= limit {
            return None;
        }
        state = (a + b, a + 2 * b);
        Some([a, b])
    })
}

/// The function applied to each element, with the extra arguments every call receives.
fn scaled(pair: [u64; 2], factor: u64, offset: u64) -> Vec<u64> {
    pair.iter().map(|value| factor * value + offset).collect()
}

#[dlp::main]
fn main() {
    let (factor, offset) = (2, 1);
    // Batches of 4 pairs: a rank claims the next batch when it is done with its last.
    let batches = Split::managed().chunk(4);
    let results: Vec<u64> = batches
        .map_ordered(
            |pair| scaled(pair, factor, offset),
            fibonacci_pairs(1_000_000),
        )
        .flatten()
        .collect();
    if dlp::is_main() {
        println!("{} values", results.len());
        println!("{results:?}");
        let serial: Vec<u64> = fibonacci_pairs(1_000_000)
            .flat_map(|pair| scaled(pair, factor, offset))
            .collect();
        println!("same as serial: {}", results == serial);
    }
}
