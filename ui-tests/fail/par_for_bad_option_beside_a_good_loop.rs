// A bad option of one loop is one error, at its marker: the function is still wrapped (callers
// get `Option<u64>`) and its other loops still rewritten.
use dlp::main_only;

#[main_only]
fn sum_of_squares(items: &[u64]) -> u64 {
    let mut sum = 0;
    #[par_for(split = "nope")]
    for item in items {
        sum += item * item;
    }
    #[par_for(split = "round_robin")]
    for item in items {
        sum += item;
    }
    sum
}

fn main() {
    let items: Vec<u64> = (0..10).collect();
    let sum: Option<u64> = sum_of_squares(&items);
    println!("{sum:?}");
}
