#[dlp::main]
fn main() {
    let mut left = 10;
    #[par_for]
    while left > 0 {
        left -= 1;
    }
}
