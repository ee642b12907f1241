struct Simulation {
    steps: u32,
}

impl Simulation {
    #[dlp::spmd]
    fn advance(&mut self) {
        self.steps += 1;
    }
}

fn main() {
    let mut simulation = Simulation { steps: 0 };
    simulation.advance();
}
