#[dlp::main]
fn main() {
    #[par_for(split = "dynamic")]
    for example in 0..10 {
        println!("{example}");
    }
}
