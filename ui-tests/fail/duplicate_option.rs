#[dlp::main]
fn main() {
    #[par_for(split = "managed", split = "block")]
    for example in 0..10 {
        println!("{example}");
    }
}
