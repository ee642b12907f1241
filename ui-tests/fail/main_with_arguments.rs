#[dlp::main]
fn run(examples: Vec<u64>) {
    println!("{examples:?}");
}

fn main() {
    run(vec![1, 2, 3]);
}
