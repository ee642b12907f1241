//! Parsing of the attributes' arguments: the function attribute's options and the options of
//! each `#[par_for(..)]` marker.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Lit, Meta};

use crate::ast::{FunctionOptions, LoopSplit, Role, Schedule};

const OPTIONS_HELP: &str = "the options are `split = \"round_robin\" | \"block\" | \"managed\" | \
                            \"guided\"` (default \"managed\"), `chunk = N`, `progress` and \
                            `journal = \"path\"`";

/// The arguments of the function's attribute.
pub(crate) fn function_options(role: Role, args: TokenStream) -> syn::Result<FunctionOptions> {
    if args.is_empty() {
        return Ok(FunctionOptions::default());
    }
    if role != Role::MainOnly {
        let message = format!("{} takes no options", role.attribute());
        return Err(syn::Error::new(args.span(), message));
    }
    match syn::parse2::<Meta>(args.clone()) {
        Ok(Meta::Path(path)) if path.is_ident("broadcast") => {
            Ok(FunctionOptions { broadcast: true })
        }
        _ => Err(syn::Error::new(
            args.span(),
            "#[main_only] takes one option, `broadcast`: #[main_only(broadcast)] runs the \
             function on the main rank and returns its result on every rank",
        )),
    }
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

/// The options of the marker `attr`.
pub(crate) fn loop_split(attr: &Attribute) -> syn::Result<LoopSplit> {
    let list = match &attr.meta {
        Meta::Path(_) => return Ok(LoopSplit::default()),
        Meta::List(list) => list,
        Meta::NameValue(name_value) => {
            return Err(syn::Error::new(
                name_value.eq_token.span(),
                format!(
                    "#[par_for] takes its options in parentheses: \
                     #[par_for(split = \"managed\")]; {OPTIONS_HELP}"
                ),
            ));
        }
    };
    let mut builder = LoopSplitBuilder::default();
    if !list.tokens.is_empty() {
        list.parse_nested_meta(|meta| builder.option(meta))?;
    }
    Ok(builder.build())
}

/// The options of one marker as they are read, each at most once.
#[derive(Default)]
struct LoopSplitBuilder {
    schedule: Option<(Schedule, Span)>,
    chunk: Option<Expr>,
    /// `Some(false)` when turned off explicitly, so that a second `progress` is still caught.
    progress: Option<bool>,
    journal: Option<Expr>,
}

impl LoopSplitBuilder {
    fn option(&mut self, meta: ParseNestedMeta) -> syn::Result<()> {
        let Some(name) = meta.path.get_ident().map(ToString::to_string) else {
            return Err(meta.error(format!("unknown option of #[par_for]; {OPTIONS_HELP}")));
        };
        match name.as_str() {
            "split" => self.split(meta),
            "chunk" => self.chunk(meta),
            "progress" => self.progress(meta),
            "journal" => self.journal(meta),
            _ => Err(meta.error(format!(
                "unknown option `{name}` of #[par_for]; {OPTIONS_HELP}"
            ))),
        }
    }

    /// `split = "managed"`
    fn split(&mut self, meta: ParseNestedMeta) -> syn::Result<()> {
        if self.schedule.is_some() {
            return Err(meta.error("`split` is given twice; keep one"));
        }
        let value = meta
            .value()
            .map_err(|_| meta.error("`split` needs a value: split = \"managed\""))?;
        let not_a_string =
            |span| syn::Error::new(span, "`split` takes a string: split = \"managed\"");
        let name = match value.parse::<Lit>() {
            Ok(Lit::Str(name)) => name,
            Ok(other) => return Err(not_a_string(other.span())),
            Err(error) => return Err(not_a_string(error.span())),
        };
        let wanted = name.value();
        let Some(schedule) = Schedule::ALL.into_iter().find(|s| s.name() == wanted) else {
            let known: Vec<String> = Schedule::ALL
                .iter()
                .map(|schedule| format!("\"{}\"", schedule.name()))
                .collect();
            return Err(syn::Error::new(
                name.span(),
                format!(
                    "unknown split \"{wanted}\": use one of {}",
                    known.join(", ")
                ),
            ));
        };
        self.schedule = Some((schedule, name.span()));
        Ok(())
    }

    /// `chunk = 16`, or any expression of type `usize`.
    fn chunk(&mut self, meta: ParseNestedMeta) -> syn::Result<()> {
        if self.chunk.is_some() {
            return Err(meta.error("`chunk` is given twice; keep one"));
        }
        let value = meta
            .value()
            .map_err(|_| meta.error("`chunk` needs a value: chunk = 16"))?;
        let chunk: Expr = value.parse()?;
        check_chunk(&chunk)?;
        self.chunk = Some(chunk);
        Ok(())
    }

    /// `progress`, or `progress = true | false`.
    fn progress(&mut self, meta: ParseNestedMeta) -> syn::Result<()> {
        if self.progress.is_some() {
            return Err(meta.error("`progress` is given twice; keep one"));
        }
        if !meta.input.peek(syn::Token![=]) {
            self.progress = Some(true);
            return Ok(());
        }
        match meta.value()?.parse::<Lit>()? {
            Lit::Bool(shown) => {
                self.progress = Some(shown.value);
                Ok(())
            }
            other => Err(syn::Error::new(
                other.span(),
                "`progress` is a flag: write `progress` for a progress bar, or \
                 `progress = false` for none",
            )),
        }
    }

    /// `journal = "out/loop.journal"`, or any expression of a type that is `AsRef<Path>`.
    fn journal(&mut self, meta: ParseNestedMeta) -> syn::Result<()> {
        if self.journal.is_some() {
            return Err(meta.error("`journal` is given twice; keep one"));
        }
        let value = meta
            .value()
            .map_err(|_| meta.error("`journal` needs a path: journal = \"out/loop.journal\""))?;
        let journal: Expr = value.parse()?;
        if let Expr::Lit(literal) = &journal {
            let message = match &literal.lit {
                Lit::Str(path) if path.value().is_empty() => {
                    "a journal needs a path, not an empty string: journal = \"out/loop.journal\""
                }
                Lit::Str(_) => "",
                _ => "`journal` takes a path: journal = \"out/loop.journal\"",
            };
            if !message.is_empty() {
                return Err(syn::Error::new(literal.span(), message));
            }
        }
        self.journal = Some(journal);
        Ok(())
    }

    fn build(self) -> LoopSplit {
        LoopSplit {
            schedule: self.schedule,
            chunk: self.chunk,
            progress: self.progress.unwrap_or(false),
            journal: self.journal,
        }
    }
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
