//! What each attribute turns its function into: the body, its loops already rewritten, wrapped
//! in a call of the runtime's support for that role.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{FnArg, Ident, ItemFn, Lifetime, Pat, PatIdent, ReturnType, Type};

use crate::ast::{Expansion, Function, Role};

pub(super) fn expand(function: Function) -> TokenStream {
    match (function.expansion, function.role) {
        (Expansion::LoopsOnly, _) => function.item.into_token_stream(),
        (Expansion::Full, Role::Main) => main(function),
        (Expansion::Full, Role::Spmd) => spmd(function),
        (Expansion::Full, Role::MainOnly | Role::WorkerOnly) => restricted(function),
    }
}

/// `-> T` for a closure when `T` can be written there, so that `?` in the body knows its error
/// type; nothing otherwise, and the type is inferred.
fn closure_output(ty: Option<&Type>) -> TokenStream {
    match ty {
        Some(ty) if nameable_in_closure(ty) => quote!(-> #ty),
        Some(_) => TokenStream::new(),
        None => quote!(-> ()),
    }
}

/// Whether a type can be written as the return type of a closure: not with `impl Trait`, and
/// not with elided or named lifetimes, whose meaning differs in a closure's signature. A macro
/// in the type could expand to any of these, so it counts as one.
fn nameable_in_closure(ty: &Type) -> bool {
    let mut finder = UnnameableInClosure::default();
    finder.visit_type(ty);
    !finder.found
}

#[derive(Default)]
struct UnnameableInClosure {
    found: bool,
}

impl<'ast> Visit<'ast> for UnnameableInClosure {
    fn visit_type(&mut self, ty: &'ast Type) {
        match ty {
            Type::ImplTrait(_) | Type::Reference(_) | Type::Macro(_) | Type::Verbatim(_) => {
                self.found = true;
            }
            _ => visit::visit_type(self, ty),
        }
    }

    fn visit_lifetime(&mut self, _: &'ast Lifetime) {
        self.found = true;
    }
}

fn main(function: Function) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
        ..
    } = function.item;
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

/// The arguments of a #[dlp::spmd] function, as the region takes them.
#[derive(Default)]
struct RegionArguments {
    /// What the region hands over: each argument under a name.
    names: Vec<Ident>,
    /// Each rank's copy of each argument.
    copies: Vec<TokenStream>,
    /// The patterns the user wrote, which the body's closure destructures the copies with.
    patterns: Vec<Pat>,
}

/// Names every typed argument of `inputs` in place, so that the region can hand it to the
/// ranks; the receiver is left alone, shared by the ranks.
fn region_arguments<'a>(inputs: impl Iterator<Item = &'a mut FnArg>) -> RegionArguments {
    let mut arguments = RegionArguments::default();
    for (index, input) in inputs.enumerate() {
        let FnArg::Typed(typed) = input else {
            continue;
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
        let named = Pat::Ident(PatIdent {
            attrs: Vec::new(),
            by_ref: None,
            mutability: None,
            ident: name.clone(),
            subpat: None,
        });
        arguments
            .patterns
            .push(std::mem::replace(&mut *typed.pat, named));
        // Spanned at the argument's type, so that a type that cannot be copied to every rank
        // is reported there.
        let span = typed.ty.span();
        let at_type = Ident::new(&name.to_string(), span);
        let copy = quote_spanned!(span=> ::dlp::__private::rank_copy(#at_type));
        arguments.copies.push(copy);
        arguments.names.push(name);
    }
    arguments
}

fn spmd(function: Function) -> TokenStream {
    let output = closure_output(function.returned_type());
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
        ..
    } = function.item;
    let RegionArguments {
        names,
        copies,
        patterns,
    } = region_arguments(sig.inputs.iter_mut());
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

/// #[main_only] and #[worker_only]: the body runs on some ranks; the others get `None`, or the
/// main rank's value with `broadcast`.
fn restricted(function: Function) -> TokenStream {
    let runs_here = match function.role {
        Role::WorkerOnly => quote!(!::dlp::is_main()),
        _ => quote!(::dlp::is_main()),
    };
    let Some(returned) = function.returned_type().cloned() else {
        let ItemFn {
            attrs,
            vis,
            sig,
            block,
            ..
        } = function.item;
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
    let body = body_value(&function.item, &returned);
    let value = quote! {
        if #runs_here {
            ::core::option::Option::Some(#body)
        } else {
            ::core::option::Option::None
        }
    };
    if function.options.broadcast {
        broadcast(function.item, &returned, value)
    } else {
        optional(function.item, &returned, value)
    }
}

/// The value the body returns, computed in place. A closure is what gives `return` and `?` the
/// body's own meaning; an `async fn` (an error, see `valid`) awaits an async block instead,
/// which does the same.
fn body_value(item: &ItemFn, returned: &Type) -> TokenStream {
    let block = &item.block;
    if item.sig.asyncness.is_some() {
        return quote!(async move #block.await);
    }
    let output = closure_output(Some(returned));
    quote!((move || #output #block)())
}

/// `-> T` on every rank: the main rank's value, sent to the others.
fn broadcast(item: ItemFn, returned: &Type, value: TokenStream) -> TokenStream {
    let ItemFn {
        attrs, vis, sig, ..
    } = item;
    // Spanned at the return type: a type that is not a `Message` is reported there.
    let span = returned.span();
    let value_here = Ident::new("__dlp_value", span);
    let send = quote_spanned!(span=> ::dlp::__private::broadcast_result(#value_here));
    quote! {
        #(#attrs)*
        #vis #sig {
            let #value_here = #value;
            #send
        }
    }
}

/// `-> T` becomes `-> Option<T>`: `None` where the body does not run.
fn optional(item: ItemFn, returned: &Type, value: TokenStream) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        ..
    } = item;
    if let ReturnType::Type(_, ty) = &mut sig.output {
        **ty = syn::parse_quote_spanned!(returned.span()=> ::core::option::Option<#returned>);
    }
    quote! {
        #(#attrs)*
        #vis #sig {
            #value
        }
    }
}

#[cfg(test)]
mod tests {
    use super::nameable_in_closure;

    fn nameable(ty: &str) -> bool {
        nameable_in_closure(&syn::parse_str(ty).unwrap())
    }

    #[test]
    fn owned_types_are_nameable() {
        assert!(nameable("u32"));
        assert!(nameable("Result<Vec<(u8, String)>, std::io::Error>"));
        assert!(nameable("[Option<f64>; 4]"));
        // Once matched by a search for "impl" in the type's text.
        assert!(nameable("Implementation"));
        assert!(nameable("simple::Impls<u8>"));
    }

    #[test]
    fn impl_trait_references_and_lifetimes_are_not() {
        assert!(!nameable("impl Iterator<Item = u32>"));
        assert!(!nameable("Vec<impl Fn()>"));
        assert!(!nameable("&str"));
        assert!(!nameable("Option<&'static [u8]>"));
        assert!(!nameable("Cow<'_, str>"));
        assert!(!nameable("Box<dyn Error + 'a>"));
        assert!(!nameable("my_type!()"));
    }
}
