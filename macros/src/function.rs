//! The function an attribute is placed on: what it is, and whether the attribute can apply.

use proc_macro2::TokenStream;
use syn::spanned::Spanned;
use syn::{FnArg, Item, ItemFn, ReceiverKind, ReturnType, Type};

use crate::errors::Errors;
use crate::expand::Role;

/// The annotated function, or the error to show beside the item when it is not one.
pub(crate) fn parse(role: Role, item: TokenStream) -> Result<ItemFn, syn::Error> {
    let parsed: Item = syn::parse2(item)?;
    let (kind, span) = match parsed {
        Item::Fn(function) => return Ok(function),
        Item::Struct(item) => ("a struct", item.struct_token.span),
        Item::Enum(item) => ("an enum", item.enum_token.span),
        Item::Union(item) => ("a union", item.union_token.span),
        Item::Const(item) => ("a const", item.const_token.span),
        Item::Static(item) => ("a static", item.static_token.span),
        Item::Trait(item) => ("a trait", item.trait_token.span),
        Item::Impl(item) => ("an impl block", item.impl_token.span),
        Item::Mod(item) => ("a module", item.mod_token.span),
        Item::Type(item) => ("a type alias", item.type_token.span),
        Item::Use(item) => ("a use declaration", item.use_token.span),
        Item::Verbatim(tokens) if tokens.to_string().contains("fn") => {
            return Err(syn::Error::new(
                tokens.span(),
                format!(
                    "{} needs the function's body: put it on the method's definition in an \
                     `impl` block, or on a trait method with a default body",
                    role.attribute()
                ),
            ));
        }
        other => ("this item", other.span()),
    };
    Err(syn::Error::new(
        span,
        format!(
            "{} goes on a function or a method, not on {kind}",
            role.attribute()
        ),
    ))
}

/// The return type, if the function returns something other than `()`.
pub(crate) fn returned_type_of(output: &ReturnType) -> Option<&Type> {
    match output {
        ReturnType::Type(_, ty) if !is_unit(ty) => Some(ty),
        _ => None,
    }
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(tuple) if tuple.elems.is_empty())
}

/// Reports what the attribute cannot apply to.
pub(crate) fn check(role: Role, broadcast: bool, function: &ItemFn, errors: &mut Errors) {
    let sig = &function.sig;
    if let Some(asyncness) = &sig.asyncness {
        errors.push(
            asyncness.span,
            &format!(
                "{} does not take an `async fn`: every rank runs the body on its own thread, \
                 synchronously. Make it a plain `fn`, and block on your async runtime inside it \
                 if you need one",
                role.attribute()
            ),
        );
    }
    if let Some(constness) = &sig.constness {
        errors.push(
            constness.span,
            &format!(
                "{} does not take a `const fn`: ranks exist only at run time",
                role.attribute()
            ),
        );
    }
    match role {
        Role::Main => {
            if !sig.inputs.is_empty() {
                errors.push_spanned(
                    &sig.inputs,
                    "#[dlp::main] goes on a function without arguments, such as `fn main()`: \
                     every rank calls it with none. Read inputs inside it (files, \
                     `std::env::args()`), or use #[dlp::spmd] on a function that takes them",
                );
            }
        }
        Role::Spmd => {
            if let Some(FnArg::Receiver(receiver)) = sig.inputs.first() {
                let shared = matches!(receiver.kind, ReceiverKind::Reference(_, _, None));
                if !shared {
                    errors.push_spanned(
                        receiver,
                        "#[dlp::spmd] methods take `&self`: called outside a world, every rank of \
                         the region runs the body at once and shares the receiver, so it cannot \
                         be mutable or moved. Take `&self` and return what changes, or make the \
                         method #[main_only]",
                    );
                }
            }
        }
        Role::MainOnly | Role::WorkerOnly => {}
    }
    if broadcast && returned_type_of(&sig.output).is_none() {
        errors.push(
            sig.ident.span(),
            "#[main_only(broadcast)] hands the main rank's result to every rank, but this \
             function returns nothing: remove `broadcast`, or return the value",
        );
    }
}

/// Whether a type can be written as the return type of a closure: not with `impl Trait`, and
/// not with elided or named lifetimes, whose meaning differs in a closure's signature.
pub(crate) fn nameable_in_closure(ty: &Type) -> bool {
    let text = quote::quote!(#ty).to_string();
    !(text.contains("impl") || text.contains('&') || text.contains('\''))
}
