#[dlp::main]
fn main() {
    #[par_for(split = "managed", chunk = 0)]
    for example in 0..10 {
        println!("{example}");
    }
}
