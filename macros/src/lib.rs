//! The attributes of [dlp](https://docs.rs/dlp); use them through the `dlp` crate, which
//! documents them: `#[dlp::main]`, `#[dlp::spmd]`, `#[par_for]`, `#[main_only]` and
//! `#[worker_only]`.
//!
//! Each attribute parses its function (`function`), checks what stable Rust and the runtime
//! need (`function::check`), rewrites the `#[par_for]` loops of the body (`par_for`) and wraps
//! the body in a call of the runtime (`expand`). On any error the function is still emitted,
//! with its markers removed, beside the errors, so that IDEs keep working.

mod errors;
mod expand;
mod function;
mod par_for;

use proc_macro::TokenStream;

use expand::Role;

/// See `dlp::main`.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::annotated(Role::Main, args.into(), item.into()).into()
}

/// See `dlp::spmd`.
#[proc_macro_attribute]
pub fn spmd(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::annotated(Role::Spmd, args.into(), item.into()).into()
}

/// See `dlp::main_only`.
#[proc_macro_attribute]
pub fn main_only(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::annotated(Role::MainOnly, args.into(), item.into()).into()
}

/// See `dlp::worker_only`.
#[proc_macro_attribute]
pub fn worker_only(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::annotated(Role::WorkerOnly, args.into(), item.into()).into()
}

/// See `dlp::par_for`.
#[proc_macro_attribute]
pub fn par_for(_args: TokenStream, item: TokenStream) -> TokenStream {
    par_for::misplaced(item.into()).into()
}
