//! McUtils Parallelizers' `map_applier`: the main rank has the data; each rank applies the
//! function to its scattered block, and the main rank gathers the results in order.
//!
//! `cargo run --release --example mcutils_map_applier` prints `[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]`.

fn mapped_func(data: &[i64]) -> Vec<i64> {
    data.iter().map(|value| 1 + value).collect()
}

#[dlp::spmd]
fn map_applier(n: i64) -> Option<Vec<i64>> {
    let data = dlp::is_main().then(|| (0..n).collect::<Vec<_>>());
    let mine = dlp::scatter(data);
    dlp::gather(mapped_func(&mine)).map(|blocks| blocks.concat())
}

fn main() {
    if let Some(results) = map_applier(10) {
        println!("{results:?}");
    }
}
