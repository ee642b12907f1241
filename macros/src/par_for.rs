//! `#[par_for(..)]`: the options of the marker, and the rewrite of the loops that carry it.
//!
//! The marker is inert: stable Rust does not run attribute macros on statements, so the
//! attribute on the enclosing function walks its body and turns each marked `for` loop into a
//! loop over the runtime's split of the same iterable. The loop body is left as written, so
//! `break`, `continue`, labels, `return` and `?` keep their meaning.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Attribute, Expr, ExprForLoop, Lit, Local, Meta};

use crate::errors::Errors;

/// The schedules a loop can be split with, by the name the attribute takes.
const SPLITS: [(&str, &str); 4] = [
    ("round_robin", "RoundRobin"),
    ("block", "Block"),
    ("managed", "Managed"),
    ("guided", "Guided"),
];

const OPTIONS_HELP: &str = "the options are `split = \"round_robin\" | \"block\" | \"managed\" | \
                            \"guided\"` (default \"managed\"), `chunk = N` and `progress`";

/// Which ranks share the items of the loops of a function: the runtime's `Ranks`.
#[derive(Clone, Copy)]
pub(crate) enum Ranks {
    /// Every rank: the function runs on all of them (`#[dlp::main]`, `#[dlp::spmd]`).
    All,
    /// The main rank alone, in a `#[main_only]` function.
    Main,
    /// The ranks other than the main one, in a `#[worker_only]` function.
    Workers,
}

/// What `#[par_for(..)]` asks for.
struct Options {
    /// The variant of `dlp::Schedule`, with the span of the name that chose it.
    schedule: Option<(&'static str, Span)>,
    chunk: Option<Expr>,
    /// `Some(true)` for a progress bar; `Some(false)` when turned off explicitly.
    progress: Option<bool>,
}

/// Whether `attr` is the marker: `par_for`, `dlp::par_for` or `::dlp::par_for`.
pub(crate) fn is_marker(attr: &Attribute) -> bool {
    let path = attr.path();
    let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    match names.as_slice() {
        [only] => only == "par_for" && path.leading_colon.is_none(),
        [krate, name] => krate == "dlp" && name == "par_for",
        _ => false,
    }
}

fn parse_options(attr: &Attribute) -> syn::Result<Options> {
    let mut options = Options {
        schedule: None,
        chunk: None,
        progress: None,
    };
    let list = match &attr.meta {
        Meta::Path(_) => return Ok(options),
        Meta::List(list) => list,
        Meta::NameValue(name_value) => {
            return Err(syn::Error::new(
                name_value.eq_token.span(),
                format!(
                    "#[par_for] takes its options in parentheses: #[par_for(split = \"managed\")]; {OPTIONS_HELP}"
                ),
            ));
        }
    };
    if list.tokens.is_empty() {
        return Ok(options);
    }
    list.parse_nested_meta(|meta| {
        let Some(name) = meta.path.get_ident().map(ToString::to_string) else {
            return Err(meta.error(format!("unknown option of #[par_for]; {OPTIONS_HELP}")));
        };
        match name.as_str() {
            "split" => {
                if options.schedule.is_some() {
                    return Err(meta.error("`split` is given twice; keep one"));
                }
                let value = meta
                    .value()
                    .map_err(|_| meta.error("`split` needs a value: split = \"managed\""))?;
                let lit: Lit = value.parse().map_err(|error| {
                    syn::Error::new(error.span(), "`split` takes a string: split = \"managed\"")
                })?;
                let Lit::Str(text) = &lit else {
                    return Err(syn::Error::new(
                        lit.span(),
                        "`split` takes a string: split = \"managed\"",
                    ));
                };
                let wanted = text.value();
                let Some((_, variant)) = SPLITS.iter().find(|(name, _)| *name == wanted) else {
                    let known: Vec<String> = SPLITS
                        .iter()
                        .map(|(name, _)| format!("\"{name}\""))
                        .collect();
                    return Err(syn::Error::new(
                        text.span(),
                        format!(
                            "unknown split \"{wanted}\": use one of {}",
                            known.join(", ")
                        ),
                    ));
                };
                options.schedule = Some((variant, text.span()));
            }
            "chunk" => {
                if options.chunk.is_some() {
                    return Err(meta.error("`chunk` is given twice; keep one"));
                }
                let value = meta
                    .value()
                    .map_err(|_| meta.error("`chunk` needs a value: chunk = 16"))?;
                let chunk: Expr = value.parse()?;
                check_chunk(&chunk)?;
                options.chunk = Some(chunk);
            }
            "progress" => {
                if options.progress.is_some() {
                    return Err(meta.error("`progress` is given twice; keep one"));
                }
                let shown = if meta.input.peek(syn::Token![=]) {
                    match meta.value()?.parse::<Lit>()? {
                        Lit::Bool(shown) => shown.value,
                        other => {
                            return Err(syn::Error::new(
                                other.span(),
                                "`progress` is a flag: write `progress` for a progress bar, or \
                                 `progress = false` for none",
                            ));
                        }
                    }
                } else {
                    true
                };
                options.progress = Some(shown);
            }
            _ => {
                return Err(meta.error(format!(
                    "unknown option `{name}` of #[par_for]; {OPTIONS_HELP}"
                )));
            }
        }
        Ok(())
    })?;
    if let (Some(("Block", span)), Some(chunk)) = (options.schedule, &options.chunk) {
        let mut error = syn::Error::new(
            chunk.span(),
            "the block split has one block per rank and takes no chunk; remove `chunk`, or use \
             split = \"round_robin\", \"managed\" or \"guided\"",
        );
        error.combine(syn::Error::new(span, "the block split is chosen here"));
        return Err(error);
    }
    Ok(options)
}

/// A chunk is a whole number of at least 1; an expression that is not a literal is checked when
/// the loop starts.
fn check_chunk(chunk: &Expr) -> syn::Result<()> {
    let Expr::Lit(literal) = chunk else {
        return Ok(());
    };
    let message = "`chunk` takes a whole number of items, at least 1: chunk = 16";
    let Lit::Int(int) = &literal.lit else {
        return Err(syn::Error::new(literal.span(), message));
    };
    match int.base10_parse::<usize>() {
        Ok(0) => Err(syn::Error::new(
            int.span(),
            "a chunk holds at least 1 item, not 0",
        )),
        Ok(_) if int.suffix().is_empty() || int.suffix() == "usize" => Ok(()),
        Ok(_) => Err(syn::Error::new(
            int.span(),
            "`chunk` is a number of items: write it without a suffix, or with `usize`",
        )),
        Err(_) => Err(syn::Error::new(int.span(), message)),
    }
}

/// The loop with its iterable handed to the split the options ask for.
fn rewrite(for_loop: &mut ExprForLoop, options: Options, ranks: Ranks, marker_span: Span) {
    let iterable = &for_loop.expr;
    let split = match options.schedule {
        Some((variant, span)) => {
            let variant = syn::Ident::new(variant, span);
            quote_spanned!(span=> ::dlp::Split::with_schedule(::dlp::Schedule::#variant))
        }
        None => quote_spanned!(marker_span=> ::dlp::Split::managed()),
    };
    let split = match &options.chunk {
        Some(chunk) => quote!(#split.chunk(#chunk)),
        None => split,
    };
    let split = match options.progress {
        Some(true) => quote!(#split.progress()),
        _ => split,
    };
    let expr: TokenStream = match ranks {
        Ranks::All => quote_spanned!(marker_span=> #split.over(#iterable)),
        Ranks::Main => quote_spanned!(marker_span=>
            ::dlp::__private::split_among(#split, ::dlp::__private::Ranks::Main, #iterable)
        ),
        Ranks::Workers => quote_spanned!(marker_span=>
            ::dlp::__private::split_among(#split, ::dlp::__private::Ranks::Workers, #iterable)
        ),
    };
    *for_loop.expr = syn::parse2(expr).expect("a method call parses as an expression");
}

/// Rewrites the `#[par_for]` loops of a function body, collecting misuse as errors.
pub(crate) struct LoopRewriter<'a> {
    ranks: Ranks,
    errors: &'a mut Errors,
}

impl<'a> LoopRewriter<'a> {
    pub(crate) fn new(ranks: Ranks, errors: &'a mut Errors) -> Self {
        LoopRewriter { ranks, errors }
    }

    /// Removes the markers from `attrs`, returning the first (a second one is an error).
    fn take_marker(&mut self, attrs: &mut Vec<Attribute>) -> Option<Attribute> {
        let mut found: Option<Attribute> = None;
        let mut kept = Vec::with_capacity(attrs.len());
        for attr in attrs.drain(..) {
            if !is_marker(&attr) {
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
                    match parse_options(&marker) {
                        Ok(options) => rewrite(for_loop, options, self.ranks, marker.span()),
                        Err(error) => self.errors.add(error),
                    }
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

/// The error of `#[dlp::par_for]` applied where the compiler runs it: on an item, which is never
/// a loop.
pub(crate) fn misplaced(item: TokenStream) -> TokenStream {
    let message = "#[par_for] goes on a `for` loop inside a function marked #[dlp::main], \
                   #[dlp::spmd], #[main_only] or #[worker_only]; that attribute rewrites the loop";
    let error = syn::Error::new(Span::call_site(), message).to_compile_error();
    quote!(#error #item)
}
