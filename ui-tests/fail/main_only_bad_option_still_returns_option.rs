// A bad option is one error: the function still returns `Option<T>`, as callers expect.
use dlp::main_only;

#[main_only(bogus)]
fn total() -> u32 {
    7
}

fn main() {
    let total: Option<u32> = total();
    println!("{total:?}");
}
