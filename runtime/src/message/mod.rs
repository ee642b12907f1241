//! What can travel between ranks, and how a value is copied when several ranks must own it.

pub(crate) mod wire;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A value that can travel between ranks.
///
/// Every `Serialize + DeserializeOwned + Send + 'static` type is a `Message`; there is nothing to
/// implement. The bound is the same on every backend, so a program that compiles on threads also
/// compiles for MPI.
///
/// On the threads backend a value that goes to exactly one rank (`gather`, `scatter`, `reduce`,
/// the results of `map_unordered`) is moved, never encoded. A value that every rank must own
/// (`broadcast`, `all_gather`, `all_reduce`) is kept by the main rank and copied to the others
/// through one compact [postcard](https://docs.rs/postcard) encoding, which is why `Message` does
/// not ask for `Clone`.
///
/// ```
/// fn needs_message<T: dlp::Message>(_: &T) {}
/// needs_message(&vec![(1u64, String::from("a"))]);
/// ```
pub trait Message: Serialize + DeserializeOwned + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> Message for T {}

/// Encodes `value` for the ranks that need a copy of it; `operation` names the caller in errors.
pub(crate) fn encode<T: Message>(value: &T, operation: &str) -> Vec<u8> {
    postcard::to_allocvec(value).unwrap_or_else(|error| {
        panic!(
            "dlp: {operation} cannot encode a `{}`: {error}. Its Serialize impl must work with \
             a non-self-describing format (postcard)",
            std::any::type_name::<T>()
        )
    })
}

/// Decodes a copy made by [`encode`].
pub(crate) fn decode<T: Message>(bytes: &[u8], operation: &str) -> T {
    postcard::from_bytes(bytes).unwrap_or_else(|error| {
        panic!(
            "dlp: {operation} cannot decode a `{}`: {error}. Its Deserialize impl must work with \
             a non-self-describing format (postcard): no `deserialize_any`, no untagged enums",
            std::any::type_name::<T>()
        )
    })
}
