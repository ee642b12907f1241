#[dlp::main]
fn main() {
    #[par_for(split = "block", chunk = 4)]
    for example in 0..10 {
        println!("{example}");
    }
}
