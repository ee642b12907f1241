#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub use dlp_macros::{main, main_only, par_for, spmd, worker_only};
pub use dlp_runtime::*;
