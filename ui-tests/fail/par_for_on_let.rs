#[dlp::main]
fn main() {
    #[par_for]
    let examples: Vec<u64> = (0..10).collect();
    println!("{examples:?}");
}
