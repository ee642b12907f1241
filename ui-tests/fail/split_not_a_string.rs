#[dlp::main]
fn main() {
    #[par_for(split = managed)]
    for example in 0..10 {
        println!("{example}");
    }
}
