//! Expansion: an annotated function turned into code, its `#[par_for]` loops rewritten
//! (`loops`) and its body wrapped in the runtime's support for its role (`function`).

mod function;
mod loops;

use proc_macro2::{Span, TokenStream};
use quote::quote;

use crate::ast::{FunctionOptions, Role};
use crate::errors::Errors;
use crate::{ast, attr};

/// Expands `role`'s attribute with arguments `args` on `item`: the code, and beside it every
/// error found. `valid` narrows the expansion after an error rather than dropping it, so that an
/// error is not followed by type errors wherever the function is called.
pub(crate) fn annotated(role: Role, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    // A bad option reads as no option: the plain attribute's signature (`Option<T>` for
    // #[main_only]) is what the callers most likely expect.
    let options = attr::function_options(role, args).unwrap_or_else(|error| {
        errors.add(error);
        FunctionOptions::default()
    });
    let mut function = match ast::Function::from_syn(role, options, item.clone()) {
        Ok(function) => function,
        Err(error) => {
            // Not a function: nothing to expand. The item stays as written, so that the rest
            // of the crate still finds it.
            let error = error.to_compile_error();
            return quote!(#error #item);
        }
    };
    function.validate(&mut errors);
    loops::rewrite(role.ranks(), &mut function.item.block, &mut errors);
    let function = function::expand(function);
    let errors = errors.to_compile_errors();
    quote!(#errors #function)
}

/// The error of `#[dlp::par_for]` applied where the compiler runs it: on an item, which is never
/// a loop.
pub(crate) fn misplaced(item: TokenStream) -> TokenStream {
    let message = "#[par_for] goes on a `for` loop inside a function marked #[dlp::main], \
                   #[dlp::spmd], #[main_only] or #[worker_only]; that attribute rewrites the loop";
    let error = syn::Error::new(Span::call_site(), message).to_compile_error();
    quote!(#error #item)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(role: Role, args: &str, item: &str) -> String {
        let args: TokenStream = args.parse().unwrap();
        annotated(role, args, item.parse().unwrap()).to_string()
    }

    fn errors_in(expansion: &str) -> usize {
        expansion.matches("compile_error").count()
    }

    #[test]
    fn a_bad_loop_option_leaves_the_other_loops_and_the_wrapping() {
        let expansion = expand(
            Role::Main,
            "",
            r#"fn main() {
                #[par_for(split = "nope")] for a in x {}
                #[par_for(split = "block")] for b in y {}
            }"#,
        );
        assert_eq!(errors_in(&expansion), 1);
        assert!(expansion.contains(":: dlp :: __private :: Probe :: new (x)"));
        assert!(expansion.contains(":: dlp :: __private :: Probe :: new (y)"));
        assert!(expansion.contains(":: dlp :: Split :: managed ()"));
        assert!(expansion.contains(":: dlp :: Schedule :: Block)"));
        assert!(expansion.contains(":: dlp :: __private :: run_main"));
        assert!(!expansion.contains("par_for"));
    }

    #[test]
    fn a_bad_function_option_expands_as_no_option() {
        let expansion = expand(Role::MainOnly, "bogus", "fn f() -> u32 { 7 }");
        assert_eq!(errors_in(&expansion), 1);
        assert!(expansion.contains("-> :: core :: option :: Option < u32 >"));
    }

    #[test]
    fn broadcast_without_a_value_expands_as_plain_main_only() {
        let expansion = expand(Role::MainOnly, "broadcast", "fn f() { }");
        assert_eq!(errors_in(&expansion), 1);
        assert!(!expansion.contains("broadcast_result"));
        assert!(expansion.contains("return ;"));
    }

    #[test]
    fn async_main_only_keeps_the_optional_signature() {
        let expansion = expand(Role::MainOnly, "", "async fn f() -> u32 { 7 }");
        assert_eq!(errors_in(&expansion), 1);
        assert!(expansion.contains("-> :: core :: option :: Option < u32 >"));
        assert!(expansion.contains("async move { 7 } . await"));
    }

    #[test]
    fn const_is_dropped_and_the_body_wrapped() {
        let expansion = expand(Role::WorkerOnly, "", "const fn f() -> u32 { 7 }");
        assert_eq!(errors_in(&expansion), 1);
        assert!(!expansion.contains("const fn f"));
        assert!(expansion.contains("! :: dlp :: is_main ()"));
    }

    #[test]
    fn main_with_arguments_is_emitted_unwrapped_with_its_loops_rewritten() {
        let expansion = expand(
            Role::Main,
            "",
            "fn run(items: Vec<u64>) { #[par_for] for item in items {} }",
        );
        assert_eq!(errors_in(&expansion), 1);
        assert!(!expansion.contains("run_main"));
        assert!(expansion.contains("fn run (items : Vec < u64 >)"));
        assert!(expansion.contains(":: dlp :: __private :: Probe :: new (items)"));
        assert!(expansion.contains(":: dlp :: __private :: split_among"));
    }

    #[test]
    fn spmd_with_a_mutable_receiver_is_emitted_unwrapped() {
        let expansion = expand(Role::Spmd, "", "fn step(&mut self) { self.n += 1; }");
        assert_eq!(errors_in(&expansion), 1);
        assert!(!expansion.contains("__private :: region"));
        assert!(expansion.contains("fn step (& mut self) { self . n += 1 ; }"));
    }

    #[test]
    fn a_bodyless_method_is_reported_and_left_as_written() {
        let expansion = expand(Role::MainOnly, "", "fn write(&self) -> String;");
        assert_eq!(errors_in(&expansion), 1);
        assert!(expansion.contains("needs the function's body"));
        assert!(expansion.ends_with("fn write (& self) -> String ;"));
    }

    #[test]
    fn a_struct_is_reported_and_left_as_written() {
        let expansion = expand(Role::Spmd, "", "struct S;");
        assert!(expansion.contains("not on a struct"));
        assert!(expansion.ends_with("struct S ;"));
    }
}
