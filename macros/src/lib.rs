//! The attributes of [dlp](https://docs.rs/dlp); use them through the `dlp` crate, which
//! documents them: `#[dlp::main]`, `#[dlp::spmd]`, `#[par_for]`, `#[main_only]` and
//! `#[worker_only]`.
//!
//! The crate has the shape of thiserror-impl, one job per module: `ast` is the typed model
//! (roles, the annotated function, a marker's split), `attr` parses the attributes' arguments
//! into it, `valid` checks it and narrows it to what can still be expanded after an error, and
//! `expand` turns it into code, rewriting the `#[par_for]` loops of the body and wrapping the body
//! in a call of the runtime. On an error the expansion goes on as far as it is sound, beside the
//! errors, so that one mistake gives one error and IDEs keep working.

mod ast;
mod attr;
mod errors;
mod expand;
mod valid;

use proc_macro::TokenStream;

use ast::Role;

/// Runs `main` (or any function without arguments) on every rank of a world started from the
/// environment, and enables `#[par_for]` loops inside it.
///
/// Every rank runs the whole body (SPMD); rank 0 is the main rank. The function may return `()`
/// or `Result<(), E>`: an error returned on the main rank is returned from the function as
/// usual, and an error returned on another rank is printed with its rank and makes the process
/// exit with status 1. A panic on any rank ends every rank and the process exits non-zero, with
/// the rank and the item named on stderr.
///
/// ```
/// #[dlp::main]
/// fn main() {
///     let examples: Vec<u64> = (0..10).collect();
///     let mut results = Vec::new();
///     #[par_for(split = "managed")]
///     for example in examples {
///         results.push(example * example);
///     }
///     if let Some(all) = dlp::gather(results) {
///         assert_eq!(all.into_iter().flatten().sum::<u64>(), 285);
///     }
/// }
/// ```
///
/// It expands to a call of `dlp::run` with the body as the closure that every rank runs.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::annotated(Role::Main, args.into(), item.into()).into()
}

/// Makes a function or `&self` method SPMD code: `#[par_for]` loops inside it share their
/// items among the ranks.
///
/// Called inside a world (from `#[dlp::main]`, `dlp::run`, or another SPMD function), the body
/// runs on every rank as written. Called from ordinary code outside any world, the call opens a
/// parallel region: a world on the default backend (`DLP_BACKEND`, `DLP_THREADS`) runs the body
/// on each rank with its own clone of the arguments, and the call returns the main rank's
/// result. This parallelises one function of a larger program, like OpenMP's `parallel`.
///
/// Arguments must be `Clone` (a reference is) and `Sync`; a method takes `&self`.
///
/// ```
/// #[dlp::spmd]
/// fn sum_of_squares(items: Vec<u64>) -> u64 {
///     let mut mine = 0;
///     #[par_for]
///     for item in items {
///         mine += item * item;
///     }
///     dlp::all_reduce(mine, |a, b| a + b)
/// }
///
/// // Plain code: the call is a parallel region of its own.
/// assert_eq!(sum_of_squares((0..10).collect()), 285);
/// ```
#[proc_macro_attribute]
pub fn spmd(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::annotated(Role::Spmd, args.into(), item.into()).into()
}

/// Runs a function or method on the main rank only.
///
/// A function returning `()` does nothing on the other ranks. A function returning `T` returns
/// `Option<T>` instead: `Some` on the main rank, `None` on the others. With
/// `#[main_only(broadcast)]` it keeps `-> T`: the main rank computes the value and every rank
/// gets it (`T` must be a `dlp::Message`), like dlp_mpi's `call_on_root_and_broadcast`.
///
/// A `#[par_for]` loop inside runs every item on the main rank.
///
/// ```
/// use dlp::main_only;
///
/// struct Experiment { name: String }
///
/// impl Experiment {
///     #[main_only]
///     fn report(&self, total: u64) -> String {
///         format!("{}: {total}", self.name)
///     }
///
///     #[main_only(broadcast)]
///     fn seed(&self) -> u64 {
///         42 // read from a file, say: once, on the main rank
///     }
/// }
///
/// let experiment = Experiment { name: "demo".into() };
/// let reports = dlp::World::threads(3).run(|| {
///     assert_eq!(experiment.seed(), 42); // on every rank
///     dlp::all_gather(experiment.report(7))
/// });
/// assert_eq!(reports, vec![Some("demo: 7".to_owned()), None, None]);
/// ```
#[proc_macro_attribute]
pub fn main_only(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::annotated(Role::MainOnly, args.into(), item.into()).into()
}

/// Runs a function or method on every rank but the main one.
///
/// A function returning `()` does nothing on the main rank; one returning `T` returns
/// `Option<T>`, `None` on the main rank. A `#[par_for]` loop inside shares its items among the
/// worker ranks only. In a world of one rank there are no workers, and the function never runs.
///
/// ```
/// use dlp::worker_only;
///
/// #[worker_only]
/// fn work(items: &[u32]) -> u32 {
///     let mut mine = 0;
///     #[par_for(split = "round_robin")]
///     for item in items {
///         mine += item;
///     }
///     mine
/// }
///
/// let items: Vec<u32> = (1..=10).collect();
/// let sums = dlp::World::threads(3).run(|| dlp::all_gather(work(&items)));
/// assert_eq!(sums[0], None);
/// assert_eq!(sums[1].unwrap() + sums[2].unwrap(), 55);
/// ```
#[proc_macro_attribute]
pub fn worker_only(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::annotated(Role::WorkerOnly, args.into(), item.into()).into()
}

/// Shares the items of a `for` loop among the ranks.
///
/// ```text
/// #[par_for]                                       // the managed split
/// #[par_for(split = "round_robin")]                // or "block", "managed", "guided"
/// #[par_for(split = "managed", chunk = 16)]        // claim 16 items at a time
/// ```
///
/// Stable Rust runs no attribute macro on a statement, so `#[par_for]` is a marker that the
/// attribute of the enclosing function rewrites: it works anywhere inside a function marked
/// `#[dlp::main]`, `#[dlp::spmd]`, `#[main_only]` or `#[worker_only]` (nested in blocks, `if`s,
/// closures and other loops), needs no import, and may be spelled `#[dlp::par_for]`. The loop
/// becomes a loop over `dlp::Split::..()`'s share of the iterable; its body is left as written,
/// so `continue`, labelled `break` and `continue`, `return` and `?` keep their meaning, and
/// leaving the loop early is local to the rank.
///
/// When the loop starts, the ranks compare the order of their items (a fingerprint of the first
/// 64, by `Hash`, by a pair's key, or by `Debug`, whichever the item type has): a `HashMap`
/// iterates in another order on every rank, and such a loop stops with an error that says so
/// instead of processing some items twice and others never. A `#[par_for]` loop nested in
/// another one's body runs all its items on the rank that runs the outer item.
///
/// Outside such a function the compiler stops before any macro runs: `#[par_for]` is "cannot
/// find attribute `par_for` in this scope", and `#[dlp::par_for]` on a loop is "custom
/// attributes cannot be applied to expressions". On an item, this attribute reports where it
/// belongs.
///
/// ```
/// #[dlp::main]
/// fn main() {
///     let mut found = Vec::new();
///     #[par_for(split = "guided", chunk = 2)]
///     'numbers: for n in 2..50u32 {
///         for divisor in 2..n {
///             if n % divisor == 0 {
///                 continue 'numbers;
///             }
///         }
///         found.push(n);
///     }
///     if let Some(all) = dlp::gather(found) {
///         assert_eq!(all.concat().len(), 15); // the primes below 50
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn par_for(_args: TokenStream, item: TokenStream) -> TokenStream {
    expand::misplaced(item.into()).into()
}
