//! McUtils Parallelizers' `run_job`: the main rank broadcasts a flag and scatters 1000 items in
//! near-even blocks; every rank reports the length of its block. On 15 ranks the blocks are ten
//! of 67 and five of 66.
//!
//! `DLP_THREADS=15 cargo run --release --example mcutils_run_job`

#[dlp::spmd]
fn run_job() -> Option<Vec<usize>> {
    let flag = dlp::is_main().then(|| "woop".to_owned());
    let flag = dlp::broadcast(flag);
    assert_eq!(flag, "woop");
    let data = dlp::is_main().then(|| (0..1000u32).collect::<Vec<_>>());
    let data = dlp::scatter(data);
    dlp::gather(data.len())
}

fn main() {
    // Called from plain code, a #[dlp::spmd] function opens a parallel region of its own; the
    // lengths are gathered on the main rank (under mpiexec, the other processes get `None`).
    if let Some(lengths) = run_job() {
        println!("{lengths:?}");
        println!("{}", lengths.iter().sum::<usize>());
    }
}
