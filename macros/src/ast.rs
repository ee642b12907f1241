//! The typed model the attributes work on: the roles, the annotated function, and what a
//! `#[par_for]` marker asks for.

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Item, ItemFn, ReturnType, Signature, Token, Type, Visibility};

/// The attribute on the function, which says where its body runs.
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

    /// Which ranks share the items of the loops of the body.
    pub(crate) fn ranks(self) -> Ranks {
        match self {
            Role::Main | Role::Spmd => Ranks::All,
            Role::MainOnly => Ranks::Main,
            Role::WorkerOnly => Ranks::Workers,
        }
    }
}

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

/// The options of the function's attribute: only `#[main_only(broadcast)]` takes one.
#[derive(Default)]
pub(crate) struct FunctionOptions {
    pub(crate) broadcast: bool,
}

/// How much of its role's expansion a function gets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expansion {
    /// The body wrapped in the runtime's support for the role, its loops rewritten.
    Full,
    /// The function as written with only its loops rewritten: for errors where wrapping the
    /// body would add errors of its own (`valid` says which).
    LoopsOnly,
}

/// A function under one of the attributes.
pub(crate) struct Function {
    pub(crate) role: Role,
    pub(crate) options: FunctionOptions,
    pub(crate) item: ItemFn,
    pub(crate) expansion: Expansion,
}

impl Function {
    /// The function `item` under `role`'s attribute; the error is the one to show beside an
    /// item that is not a function with a body.
    pub(crate) fn from_syn(
        role: Role,
        options: FunctionOptions,
        item: TokenStream,
    ) -> syn::Result<Function> {
        match syn::parse2(item)? {
            Item::Fn(item) => Ok(Function {
                role,
                options,
                item,
                expansion: Expansion::Full,
            }),
            other => Err(not_a_function(role, other)),
        }
    }

    /// The return type, if the function returns something other than `()`.
    pub(crate) fn returned_type(&self) -> Option<&Type> {
        match &self.item.sig.output {
            ReturnType::Type(_, ty) if !is_unit(ty) => Some(ty),
            _ => None,
        }
    }
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(tuple) if tuple.elems.is_empty())
}

/// The error for an item that the attribute cannot apply to.
fn not_a_function(role: Role, item: Item) -> syn::Error {
    let attribute = role.attribute();
    if let Item::Verbatim(tokens) = &item
        && let Ok(signature) = bodyless_signature.parse2(tokens.clone())
    {
        return syn::Error::new_spanned(
            signature,
            format!(
                "{attribute} needs the function's body: put it on the method's definition in an \
                 `impl` block, or on a trait method with a default body"
            ),
        );
    }
    let (kind, span) = match item {
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
        other => ("this item", other.span()),
    };
    syn::Error::new(
        span,
        format!("{attribute} goes on a function or a method, not on {kind}"),
    )
}

/// A function declared without a body, as in a trait or an `extern` block: syn keeps it as
/// verbatim tokens, which this reads back as the signature.
fn bodyless_signature(input: ParseStream) -> syn::Result<Signature> {
    input.call(Attribute::parse_outer)?;
    input.parse::<Visibility>()?;
    let signature = input.parse()?;
    input.parse::<Token![;]>()?;
    Ok(signature)
}

/// The schedules a loop can be split with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Schedule {
    RoundRobin,
    Block,
    Managed,
    Guided,
}

impl Schedule {
    pub(crate) const ALL: [Schedule; 4] = [
        Schedule::RoundRobin,
        Schedule::Block,
        Schedule::Managed,
        Schedule::Guided,
    ];

    /// The name `#[par_for(split = "..")]` takes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Schedule::RoundRobin => "round_robin",
            Schedule::Block => "block",
            Schedule::Managed => "managed",
            Schedule::Guided => "guided",
        }
    }

    /// The variant of the runtime's `dlp::Schedule`.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Schedule::RoundRobin => "RoundRobin",
            Schedule::Block => "Block",
            Schedule::Managed => "Managed",
            Schedule::Guided => "Guided",
        }
    }
}

/// What a `#[par_for(..)]` marker asks for; the default is a bare `#[par_for]`.
#[derive(Default)]
pub(crate) struct LoopSplit {
    /// The schedule, with the span of the name that chose it; `None` for the default.
    pub(crate) schedule: Option<(Schedule, Span)>,
    pub(crate) chunk: Option<Expr>,
    pub(crate) progress: bool,
    /// Where the loop records its finished items, if it does.
    pub(crate) journal: Option<Expr>,
}
