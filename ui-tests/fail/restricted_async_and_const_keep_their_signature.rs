// `async fn` and `const fn` are one error each: the functions still return `Option<T>`.
use dlp::{main_only, worker_only};

#[main_only]
async fn fetch(name: &str) -> Result<u32, std::num::ParseIntError> {
    let value: u32 = name.parse()?;
    Ok(value)
}

#[worker_only]
const fn workers() -> usize {
    3
}

async fn caller() -> Option<Result<u32, std::num::ParseIntError>> {
    fetch("3").await
}

fn main() {
    let workers: Option<usize> = workers();
    println!("{workers:?}");
    let _ = caller();
}
