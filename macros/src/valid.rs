//! Validation: what stable Rust and the runtime need of an annotated function and of a marker's
//! options.
//!
//! Every problem is reported, and the model is then narrowed to what can still be expanded
//! soundly, like tokio-macros' fallback configuration: the callers of the function should see
//! the signature the attribute gives it, so that one mistake is one error, not also a type error
//! at every call. Each check says why its fallback is the one that keeps the crate type-checking.

use syn::spanned::Spanned;
use syn::{FnArg, ReceiverKind};

use crate::ast::{Expansion, Function, LoopSplit, Role, Schedule};
use crate::errors::Errors;

impl Function {
    /// Reports what the attribute cannot apply to, and narrows the expansion accordingly.
    pub(crate) fn validate(&mut self, errors: &mut Errors) {
        self.check_async(errors);
        self.check_const(errors);
        match self.role {
            Role::Main => self.check_no_arguments(errors),
            Role::Spmd => self.check_shared_receiver(errors),
            Role::MainOnly | Role::WorkerOnly => {}
        }
        self.check_broadcast(errors);
    }

    fn check_async(&mut self, errors: &mut Errors) {
        let Some(asyncness) = &self.item.sig.asyncness else {
            return;
        };
        errors.push(
            asyncness.span,
            &format!(
                "{} does not take an `async fn`: every rank runs the body on its own thread, \
                 synchronously. Make it a plain `fn`, and block on your async runtime inside it \
                 if you need one",
                self.role.attribute()
            ),
        );
        // `#[dlp::main]` and `#[dlp::spmd]` keep the signature, so the function as written
        // satisfies its callers, and wrapping an `.await`ing body in the runtime's synchronous
        // closure would only add errors. `#[main_only]` and `#[worker_only]` change the return
        // type, which callers rely on: they keep the full expansion, which awaits the body.
        if matches!(self.role, Role::Main | Role::Spmd) {
            self.expansion = Expansion::LoopsOnly;
        }
    }

    fn check_const(&mut self, errors: &mut Errors) {
        let Some(constness) = self.item.sig.constness.take() else {
            return;
        };
        errors.push(
            constness.span,
            &format!(
                "{} does not take a `const fn`: ranks exist only at run time",
                self.role.attribute()
            ),
        );
        // Dropping `const` lets the full expansion call the runtime, so non-const callers see
        // the signature of the role; only calls in a const context get an error of their own.
    }

    fn check_no_arguments(&mut self, errors: &mut Errors) {
        let inputs = &self.item.sig.inputs;
        if inputs.is_empty() {
            return;
        }
        errors.push_spanned(
            inputs,
            "#[dlp::main] goes on a function without arguments, such as `fn main()`: every rank \
             calls it with none. Read inputs inside it (files, `std::env::args()`), or use \
             #[dlp::spmd] on a function that takes them",
        );
        // The callers pass the arguments and get the return type as written, which the
        // function as written satisfies; every rank's closure sharing the arguments would
        // reject a body that moves one.
        self.expansion = Expansion::LoopsOnly;
    }

    fn check_shared_receiver(&mut self, errors: &mut Errors) {
        let Some(FnArg::Receiver(receiver)) = self.item.sig.inputs.first() else {
            return;
        };
        if matches!(receiver.kind, ReceiverKind::Reference(_, _, None)) {
            return;
        }
        errors.push_spanned(
            receiver,
            "#[dlp::spmd] methods take `&self`: called outside a world, every rank of the region \
             runs the body at once and shares the receiver, so it cannot be mutable or moved. \
             Take `&self` and return what changes, or make the method #[main_only]",
        );
        // The signature is the caller's as written; sharing a `&mut self` or `self` among the
        // ranks' closures would add borrow errors for what the body does with it.
        self.expansion = Expansion::LoopsOnly;
    }

    fn check_broadcast(&mut self, errors: &mut Errors) {
        if !self.options.broadcast || self.returned_type().is_some() {
            return;
        }
        errors.push(
            self.item.sig.ident.span(),
            "#[main_only(broadcast)] hands the main rank's result to every rank, but this \
             function returns nothing: remove `broadcast`, or return the value",
        );
        // Without a value there is nothing to send: the plain #[main_only] expansion has the
        // same signature.
        self.options.broadcast = false;
    }
}

impl LoopSplit {
    /// Checks the options together; each was checked alone as it was read.
    pub(crate) fn validate(&self) -> syn::Result<()> {
        let (Some((Schedule::Block, span)), Some(chunk)) = (self.schedule, &self.chunk) else {
            return Ok(());
        };
        let mut error = syn::Error::new(
            chunk.span(),
            "the block split has one block per rank and takes no chunk; remove `chunk`, or use \
             split = \"round_robin\", \"managed\" or \"guided\"",
        );
        error.combine(syn::Error::new(span, "the block split is chosen here"));
        Err(error)
    }
}
