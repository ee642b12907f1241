#[dlp::main]
fn main() {
    #[par_for(schedule = "managed")]
    for example in 0..10 {
        println!("{example}");
    }
}
