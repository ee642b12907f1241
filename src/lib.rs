#![doc = include_str!("../README.md")]

pub use dlp_runtime::*;
