#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
// The README, which is also the crate documentation, shows whole programs.
#![allow(clippy::needless_doctest_main)]

pub use dlp_macros::{main, main_only, par_for, spmd, worker_only};
pub use dlp_runtime::*;
