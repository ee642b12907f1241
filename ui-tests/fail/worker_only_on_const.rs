#[dlp::worker_only]
const WORKERS: usize = 4;

fn main() {
    println!("{WORKERS}");
}
