#[dlp::main]
fn main() {
    #[par_for(chunk = "4")]
    for example in 0..10 {
        println!("{example}");
    }
    #[par_for(chunk = 2.5)]
    for example in 0..10 {
        println!("{example}");
    }
}
