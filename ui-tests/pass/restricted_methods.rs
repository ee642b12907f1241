//! `#[main_only]` and `#[worker_only]` on free functions and methods of every receiver kind,
//! generic ones and ones with `impl Trait` arguments; `#[main_only(broadcast)]`.

use dlp::{main_only, worker_only};
use std::cell::Cell;

struct SampleProgram {
    scale: f64,
    runs: Cell<u32>,
}

impl SampleProgram {
    #[main_only]
    fn run_main(&self) -> Vec<f64> {
        self.runs.set(self.runs.get() + 1);
        (0..4).map(|i| f64::from(i) * self.scale).collect()
    }

    #[worker_only]
    fn run_worker(&self) {
        self.runs.set(self.runs.get() + 1);
    }

    #[main_only]
    fn rescale(&mut self, factor: f64) {
        self.scale *= factor;
    }

    #[worker_only]
    fn describe<T: std::fmt::Debug>(&self, label: T) -> String
    where
        T: Clone,
    {
        format!("{label:?} x{}", self.scale)
    }

    #[main_only]
    fn into_scale(self) -> f64 {
        self.scale
    }
}

#[main_only]
fn total(items: impl IntoIterator<Item = u32>) -> u32 {
    items.into_iter().sum()
}

#[main_only(broadcast)]
fn settings() -> (u32, String) {
    (7, "fast".to_owned())
}

#[dlp::main_only]
fn checked(value: i32) -> Result<i32, String> {
    if value < 0 {
        return Err("negative".to_owned());
    }
    let doubled = value.checked_mul(2).ok_or("overflow")?;
    Ok(doubled)
}

#[dlp::main]
fn main() {
    let mut program = SampleProgram { scale: 1.0, runs: Cell::new(0) };
    program.rescale(2.0);
    let main_values = program.run_main();
    program.run_worker();
    let description = program.describe("label");
    let main = dlp::is_main();
    assert_eq!(main_values.is_some(), main);
    assert_eq!(program.runs.get(), 1, "each rank ran exactly one of the two");
    assert_eq!(description.is_some(), !main);
    assert_eq!(total([1, 2, 3]), main.then_some(6));
    assert_eq!(checked(4), main.then_some(Ok(8)));
    assert_eq!(checked(-1), main.then(|| Err("negative".to_owned())));
    // Only main rescaled: every rank sees its own scale.
    let scale = program.into_scale();
    assert_eq!(scale, main.then_some(2.0));
    if let Some(values) = main_values {
        assert_eq!(values, [0.0, 2.0, 4.0, 6.0]);
    }
    assert_eq!(settings(), (7, "fast".to_owned()));
}
