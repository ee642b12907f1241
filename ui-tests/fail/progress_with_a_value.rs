#[dlp::main]
fn main() {
    #[par_for(progress = 3)]
    for example in 0..10 {
        println!("{example}");
    }
}
