//! What each attribute turns its function into: the body, with its loops rewritten, wrapped in a
//! call of the runtime's support for that role.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{FnArg, Ident, ItemFn, Meta, Pat, PatIdent, ReturnType, Type};

use crate::errors::Errors;
use crate::function;
use crate::par_for::{LoopRewriter, Ranks};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Main,
    Spmd,
    MainOnly,
    WorkerOnly,
}

impl Role {
    pub(crate) fn attribute(self) -> &'static str {
        match self {
            Role::Main => "#[dlp::main]",
            Role::Spmd => "#[dlp::spmd]",
            Role::MainOnly => "#[main_only]",
            Role::WorkerOnly => "#[worker_only]",
        }
    }

    /// Which ranks run the loops of the body.
    fn ranks(self) -> Ranks {
        match self {
            Role::Main | Role::Spmd => Ranks::All,
            Role::MainOnly => Ranks::Main,
            Role::WorkerOnly => Ranks::Workers,
        }
    }
}

/// Expands `role`'s attribute with arguments `args` on `item`.
pub(crate) fn annotated(role: Role, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let broadcast = parse_args(role, args, &mut errors);
    let mut function = match function::parse(role, item.clone()) {
        Ok(function) => function,
        Err(error) => {
            let error = error.to_compile_error();
            return quote!(#error #item);
        }
    };
    function::check(role, broadcast, &function, &mut errors);
    LoopRewriter::new(role.ranks(), &mut errors).visit_block_mut(&mut function.block);
    let errors = errors.to_compile_errors();
    if !errors.is_empty() {
        // The function as written, minus its markers, so that the rest of the crate still
        // type-checks against it and IDEs keep working.
        return quote!(#errors #function);
    }
    match role {
        Role::Main => main(function),
        Role::Spmd => spmd(function),
        Role::MainOnly | Role::WorkerOnly => restricted(role, broadcast, function),
    }
}

/// The options of the attribute itself: only `#[main_only(broadcast)]` takes one.
fn parse_args(role: Role, args: TokenStream, errors: &mut Errors) -> bool {
    if args.is_empty() {
        return false;
    }
    if role != Role::MainOnly {
        errors.push(
            args.span(),
            &format!("{} takes no options", role.attribute()),
        );
        return false;
    }
    match syn::parse2::<Meta>(args.clone()) {
        Ok(Meta::Path(path)) if path.is_ident("broadcast") => true,
        _ => {
            errors.push(
                args.span(),
                "#[main_only] takes one option, `broadcast`: #[main_only(broadcast)] runs the \
                 function on the main rank and returns its result on every rank",
            );
            false
        }
    }
}

/// `-> T` for a closure when `T` can be written there, so that `?` in the body knows its error
/// type; nothing otherwise, and the type is inferred.
fn closure_output(ty: Option<&Type>) -> TokenStream {
    match ty {
        Some(ty) if function::nameable_in_closure(ty) => quote!(-> #ty),
        Some(_) => TokenStream::new(),
        None => quote!(-> ()),
    }
}

fn main(function: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
        ..
    } = function;
    let (output, span) = match &sig.output {
        ReturnType::Default => (quote!(-> ()), sig.ident.span()),
        ReturnType::Type(_, ty) => (closure_output(Some(ty)), ty.span()),
    };
    // The call is spanned at the return type, where a type that is neither `()` nor a `Result`
    // is reported.
    let body = Ident::new("__dlp_body", span);
    let run = quote_spanned!(span=> ::dlp::__private::run_main(#body));
    quote! {
        #(#attrs)*
        #vis #sig {
            let #body = || #output #block;
            #run
        }
    }
}

fn spmd(function: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
        ..
    } = function;
    let mut names = Vec::new();
    let mut patterns = Vec::new();
    let mut copies = Vec::new();
    for (index, input) in sig.inputs.iter_mut().enumerate() {
        let FnArg::Typed(typed) = input else {
            continue; // `&self`: shared by the ranks, checked by `function::check`
        };
        let name = match &*typed.pat {
            Pat::Ident(PatIdent {
                by_ref: None,
                ident,
                subpat: None,
                ..
            }) => ident.clone(),
            _ => format_ident!("__dlp_argument_{index}"),
        };
        let pattern = std::mem::replace(
            &mut *typed.pat,
            Pat::Ident(PatIdent {
                attrs: Vec::new(),
                by_ref: None,
                mutability: None,
                ident: name.clone(),
                subpat: None,
            }),
        );
        // Spanned at the argument's type, so that a type that cannot be copied to every rank
        // is reported there.
        let at_type = Ident::new(&name.to_string(), typed.ty.span());
        copies.push(quote_spanned!(typed.ty.span()=> ::dlp::__private::rank_copy(#at_type)));
        names.push(name);
        patterns.push(pattern);
    }
    let output = closure_output(function::returned_type_of(&sig.output));
    quote! {
        #(#attrs)*
        #vis #sig {
            ::dlp::__private::region(
                (#(#names,)*),
                |(#(#names,)*)| (#(#copies,)*),
                |(#(#patterns,)*)| #output #block,
            )
        }
    }
}

fn restricted(role: Role, broadcast: bool, function: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
        ..
    } = function;
    let runs_here = match role {
        Role::WorkerOnly => quote!(!::dlp::is_main()),
        _ => quote!(::dlp::is_main()),
    };
    let Some(returned) = function::returned_type_of(&sig.output).cloned() else {
        return quote! {
            #(#attrs)*
            #vis #sig {
                if !(#runs_here) {
                    return;
                }
                #block
            }
        };
    };
    let output = closure_output(Some(&returned));
    let value = quote! {
        if #runs_here {
            ::core::option::Option::Some((move || #output #block)())
        } else {
            ::core::option::Option::None
        }
    };
    if broadcast {
        // Spanned at the return type: a type that is not a `Message` is reported there.
        let span = returned.span();
        let value_here = Ident::new("__dlp_value", span);
        let send = quote_spanned!(span=> ::dlp::__private::broadcast_result(#value_here));
        return quote! {
            #(#attrs)*
            #vis #sig {
                let #value_here = #value;
                #send
            }
        };
    }
    let arrow = match &sig.output {
        ReturnType::Type(arrow, _) => *arrow,
        ReturnType::Default => unreachable!("a function that returns a value has an arrow"),
    };
    sig.output = ReturnType::Type(
        arrow,
        Box::new(syn::parse_quote_spanned!(returned.span()=> ::core::option::Option<#returned>)),
    );
    quote! {
        #(#attrs)*
        #vis #sig {
            #value
        }
    }
}
