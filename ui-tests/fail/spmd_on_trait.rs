#[dlp::spmd]
trait Simulation {
    fn step(&self);
}

fn main() {}
