//! The `#[par_for]` loops of a body: each marked `for` loop becomes a loop over the runtime's
//! split of the same iterable.
//!
//! The marker is inert: stable Rust does not run attribute macros on statements, so the
//! attribute on the enclosing function walks its body. The loop body is left as written, so
//! `break`, `continue`, labels, `return` and `?` keep their meaning.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Attribute, Block, Expr, ExprForLoop, Local};

use crate::ast::{LoopSplit, Ranks};
use crate::attr;
use crate::errors::Errors;

/// Rewrites the marked loops of `block`, reporting misplaced and misused markers to `errors`.
pub(super) fn rewrite(ranks: Ranks, block: &mut Block, errors: &mut Errors) {
    LoopRewriter { ranks, errors }.visit_block_mut(block);
}

/// The split a marker asks for. A marker with a bad option is reported where it is, and its
/// loop takes the default split: the rest of the function expands as usual, and the loop still
/// meets the split's requirements on its iterable, which the user meets once the option is
/// fixed. Leaving it serial would hide those until then.
fn split_of(marker: &Attribute, errors: &mut Errors) -> LoopSplit {
    let split = attr::loop_split(marker).and_then(|split| split.validate().map(|()| split));
    split.unwrap_or_else(|error| {
        errors.add(error);
        LoopSplit::default()
    })
}

/// The loop with its iterable handed to the split the options ask for.
/// The split of `iterable` among the ranks of `group`, whose ranks compare the order of their
/// items where the items can be fingerprinted: the runtime's probe picks, by autoref
/// specialization on the concrete item type, `Hash`, then the `Hash` of a pair's first element,
/// then `Debug`, then nothing. Matching on the probe keeps the iterable's temporaries alive for
/// the whole loop, as in the loop as written.
fn compared_split(
    splitter: &TokenStream,
    group: &syn::Ident,
    iterable: &syn::Expr,
    journal: Option<&syn::Expr>,
    marker_span: Span,
) -> TokenStream {
    let probe = syn::Ident::new("__dlp_probe", Span::mixed_site());
    let order = syn::Ident::new("__dlp_order", Span::mixed_site());
    // A journaled loop passes its journal on, after the same arguments.
    let (split_among, journal) = match journal {
        Some(journal) => (quote!(split_among_journaled), quote!(, #journal)),
        None => (quote!(split_among), quote!()),
    };
    quote_spanned! {marker_span=>
        match ::dlp::__private::Probe::new(#iterable) {
            #probe => {
                use ::dlp::__private::PickFingerprint as _;
                let #order = (&&&&#probe).fingerprint();
                ::dlp::__private::#split_among(
                    #splitter,
                    ::dlp::__private::Ranks::#group,
                    #probe.into_inner(),
                    #order
                    #journal
                )
            }
        }
    }
}

fn rewrite_loop(for_loop: &mut ExprForLoop, split: LoopSplit, ranks: Ranks, marker_span: Span) {
    let iterable = &for_loop.expr;
    let mut splitter = match split.schedule {
        Some((schedule, span)) => {
            let variant = syn::Ident::new(schedule.variant(), span);
            quote_spanned!(span=> ::dlp::Split::with_schedule(::dlp::Schedule::#variant))
        }
        None => quote_spanned!(marker_span=> ::dlp::Split::managed()),
    };
    if let Some(chunk) = &split.chunk {
        splitter = quote!(#splitter.chunk(#chunk));
    }
    if split.progress {
        splitter = quote!(#splitter.progress());
    }
    let group = syn::Ident::new(
        match ranks {
            Ranks::All => "All",
            Ranks::Main => "Main",
            Ranks::Workers => "Workers",
        },
        marker_span,
    );
    let journal = split.journal.as_ref();
    let expr = compared_split(&splitter, &group, iterable, journal, marker_span);
    *for_loop.expr = syn::parse2(expr).expect("a method call parses as an expression");
}

/// Rewrites the `#[par_for]` loops of a function body, collecting misuse as errors. Every
/// marker is removed, misplaced or not, so that the compiler does not report it a second time as
/// an unknown attribute.
struct LoopRewriter<'a> {
    ranks: Ranks,
    errors: &'a mut Errors,
}

impl LoopRewriter<'_> {
    /// Removes the markers from `attrs`, returning the first (a second one is an error).
    fn take_marker(&mut self, attrs: &mut Vec<Attribute>) -> Option<Attribute> {
        let mut found: Option<Attribute> = None;
        let mut kept = Vec::with_capacity(attrs.len());
        for attr in attrs.drain(..) {
            if !attr::is_marker(&attr) {
                kept.push(attr);
            } else if found.is_some() {
                self.errors
                    .push_spanned(&attr, "#[par_for] is given twice on this loop; keep one");
            } else {
                found = Some(attr);
            }
        }
        *attrs = kept;
        found
    }
}

impl VisitMut for LoopRewriter<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        // Inner loops first, so that a marked loop inside a marked loop is rewritten too.
        visit_mut::visit_expr_mut(self, expr);
        match expr {
            Expr::ForLoop(for_loop) => {
                if let Some(marker) = self.take_marker(&mut for_loop.attrs) {
                    let split = split_of(&marker, self.errors);
                    rewrite_loop(for_loop, split, self.ranks, marker.span());
                }
            }
            Expr::While(while_loop) => {
                if let Some(marker) = self.take_marker(&mut while_loop.attrs) {
                    self.errors.push_spanned(
                        &marker,
                        "#[par_for] shares the items of a `for` loop among the ranks; a `while` \
                         loop has no items to share. Write it as `for item in iterable`",
                    );
                }
            }
            Expr::Loop(plain_loop) => {
                if let Some(marker) = self.take_marker(&mut plain_loop.attrs) {
                    self.errors.push_spanned(
                        &marker,
                        "#[par_for] shares the items of a `for` loop among the ranks; a `loop` \
                         has no items to share. Write it as `for item in iterable`",
                    );
                }
            }
            other => {
                if let Some(attrs) = attrs_of(other)
                    && let Some(marker) = self.take_marker(attrs)
                {
                    self.errors.push_spanned(&marker, NOT_A_LOOP);
                }
            }
        }
    }

    fn visit_local_mut(&mut self, local: &mut Local) {
        visit_mut::visit_local_mut(self, local);
        if let Some(marker) = self.take_marker(&mut local.attrs) {
            self.errors.push_spanned(&marker, NOT_A_LOOP);
        }
    }
}

const NOT_A_LOOP: &str =
    "#[par_for] goes on a `for` loop: `#[par_for] for item in iterable { .. }`";

/// The attributes of an expression that can carry them.
fn attrs_of(expr: &mut Expr) -> Option<&mut Vec<Attribute>> {
    use syn::*;
    Some(match expr {
        Expr::Array(ExprArray { attrs, .. })
        | Expr::Assign(ExprAssign { attrs, .. })
        | Expr::Async(ExprAsync { attrs, .. })
        | Expr::Await(ExprAwait { attrs, .. })
        | Expr::Binary(ExprBinary { attrs, .. })
        | Expr::Block(ExprBlock { attrs, .. })
        | Expr::Break(ExprBreak { attrs, .. })
        | Expr::Call(ExprCall { attrs, .. })
        | Expr::Cast(ExprCast { attrs, .. })
        | Expr::Closure(ExprClosure { attrs, .. })
        | Expr::Const(ExprConst { attrs, .. })
        | Expr::Continue(ExprContinue { attrs, .. })
        | Expr::Field(ExprField { attrs, .. })
        | Expr::If(ExprIf { attrs, .. })
        | Expr::Index(ExprIndex { attrs, .. })
        | Expr::Macro(ExprMacro { attrs, .. })
        | Expr::Match(ExprMatch { attrs, .. })
        | Expr::MethodCall(ExprMethodCall { attrs, .. })
        | Expr::Paren(ExprParen { attrs, .. })
        | Expr::Path(ExprPath { attrs, .. })
        | Expr::Range(ExprRange { attrs, .. })
        | Expr::Reference(ExprReference { attrs, .. })
        | Expr::Return(ExprReturn { attrs, .. })
        | Expr::Struct(ExprStruct { attrs, .. })
        | Expr::Try(ExprTry { attrs, .. })
        | Expr::Tuple(ExprTuple { attrs, .. })
        | Expr::Unary(ExprUnary { attrs, .. })
        | Expr::Unsafe(ExprUnsafe { attrs, .. }) => attrs,
        _ => return None,
    })
}
