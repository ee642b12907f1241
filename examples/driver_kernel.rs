//! The tutorial's driver kernel, f(n) = ln(n+1)/sqrt(n+1) summed over 4^8 and 4^10 items:
//! serially, then with a `#[par_for]` loop, with the speed-up.
//!
//! `cargo run --release --example driver_kernel` (one rank per core; `DLP_THREADS=N` to choose)

use std::time::Instant;

fn kernel(n: u64) -> f64 {
    let x = (n + 1) as f64;
    x.ln() / x.sqrt()
}

#[dlp::spmd]
fn parallel_sum(items: u64) -> f64 {
    let mut mine = 0.0;
    #[par_for(split = "block")]
    for n in 0..items {
        mine += kernel(n);
    }
    dlp::all_reduce(mine, |a, b| a + b)
}

fn main() {
    for power in [8, 10] {
        let items = 4u64.pow(power);
        let started = Instant::now();
        let serial: f64 = (0..items).map(kernel).sum();
        let serial_time = started.elapsed();

        let started = Instant::now();
        let parallel = parallel_sum(items);
        let parallel_time = started.elapsed();

        // Under mpiexec every process runs `main`; the first one reports.
        if !dlp::is_main() {
            continue;
        }
        println!(
            "4^{power} = {items} items: serial {serial:.9} in {:.2} ms, parallel {parallel:.9} in {:.2} ms, speed-up {:.2}x",
            serial_time.as_secs_f64() * 1e3,
            parallel_time.as_secs_f64() * 1e3,
            serial_time.as_secs_f64() / parallel_time.as_secs_f64()
        );
    }
}
