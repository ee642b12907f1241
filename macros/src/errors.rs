//! Errors gathered while expanding, so that every misuse is reported at once.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
}

impl Errors {
    pub(crate) fn add(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    pub(crate) fn push(&mut self, span: Span, message: &str) {
        self.add(syn::Error::new(span, message));
    }

    /// An error that underlines all of `tokens`, not only their first token.
    pub(crate) fn push_spanned(&mut self, tokens: impl ToTokens, message: &str) {
        self.add(syn::Error::new_spanned(tokens, message));
    }

    /// The errors as `compile_error!` invocations; empty when there are none.
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.combined
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }
}
