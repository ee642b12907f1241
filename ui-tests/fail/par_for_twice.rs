#[dlp::main]
fn main() {
    #[par_for]
    #[dlp::par_for(split = "block")]
    for example in 0..10 {
        println!("{example}");
    }
}
