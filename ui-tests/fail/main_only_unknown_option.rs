use dlp::main_only;

#[main_only(gather)]
fn total() -> u64 {
    1
}

fn main() {
    println!("{:?}", total());
}
