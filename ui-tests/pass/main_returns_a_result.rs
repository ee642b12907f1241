//! `#[dlp::main]` on `fn main() -> Result<(), E>`: `?` works in the body and inside loops.

use std::num::ParseIntError;

#[dlp::main]
fn main() -> Result<(), ParseIntError> {
    let lines = vec!["1", "2", "3", "4"];
    let mut sum = 0u64;
    #[par_for(split = "managed", chunk = 1)]
    for line in lines {
        sum += line.parse::<u64>()?;
    }
    let total = dlp::all_reduce(sum, |a, b| a + b);
    assert_eq!(total, 10);
    Ok(())
}
