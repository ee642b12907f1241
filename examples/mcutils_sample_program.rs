//! McUtils Parallelizers' `SampleProgram`: a class whose methods are restricted to the main
//! rank (set up, scatter, post-process) or to the workers (just the parallel work), and a
//! method that every rank calls.
//!
//! `cargo run --release --example mcutils_sample_program`

use dlp::{main_only, worker_only};

struct SampleProgram {
    nvals: usize,
}

impl SampleProgram {
    /// Values in [0, 1), the same on every run.
    fn initialize_data(&self) -> Vec<f64> {
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        (0..self.nvals)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    /// The parallel part: every rank squares its block of the main rank's data.
    fn eval_parallel(&self, data: Option<Vec<f64>>) -> Option<Vec<f64>> {
        let mine = dlp::scatter(data);
        let squared: Vec<f64> = mine.iter().map(|value| value * value).collect();
        dlp::gather(squared).map(|blocks| blocks.concat())
    }

    /// Run by the main rank: sets up the data, scatters, gathers and post-processes.
    #[main_only]
    fn run_main(&self) -> Vec<f64> {
        let data = self.initialize_data();
        let values = self.eval_parallel(Some(data)).expect("gathered on main");
        values.iter().map(|value| value.sqrt()).collect()
    }

    /// Run by the worker ranks: just the parallel work.
    #[worker_only]
    fn run_worker(&self) {
        self.eval_parallel(None);
    }

    /// Called by every rank.
    #[dlp::spmd]
    fn run(&self) -> Option<Vec<f64>> {
        self.run_worker();
        self.run_main()
    }
}

fn main() {
    let program = SampleProgram { nvals: 10 };
    // The main rank's result; under mpiexec, the other processes get `None`.
    let Some(values) = program.run() else {
        return;
    };
    let rounded: Vec<String> = values.iter().map(|value| format!("{value:.6}")).collect();
    println!("[{}]", rounded.join(", "));
    // The square roots of the squares are the data again.
    let same = values
        .iter()
        .zip(program.initialize_data())
        .all(|(value, original)| (value - original).abs() < 1e-12);
    println!("round trip exact: {same}");
}
