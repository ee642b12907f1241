//! Values without their type, as they cross the boundary between the generic code and a
//! backend, and the codec that encodes them when they must leave the process.

use std::any::Any;
use std::borrow::Cow;

use crate::failure::misuse;
use crate::message::{Message, wire};

/// A value on its way between ranks.
pub(crate) type Value = Box<dyn Any + Send>;

/// Turns the values of one type into bytes and back, for a backend that copies or sends them.
#[derive(Clone, Copy)]
pub(crate) struct Codec {
    encode: for<'a> fn(&'a (dyn Any + Send), &str) -> Cow<'a, [u8]>,
    decode: fn(&[u8], &str) -> Value,
}

impl Codec {
    /// The codec of `T`: plain numbers as their bytes, anything else through postcard.
    pub(crate) fn of<T: Message>() -> Codec {
        Codec {
            encode: encode_as::<T>,
            decode: decode_as::<T>,
        }
    }

    /// The bytes that carry `value`, a value of this codec's type; `operation` names the caller
    /// in errors.
    pub(crate) fn encode<'a>(&self, value: &'a (dyn Any + Send), operation: &str) -> Cow<'a, [u8]> {
        (self.encode)(value, operation)
    }

    /// The value that `bytes`, made by [`Codec::encode`] of the same codec, carry.
    pub(crate) fn decode(&self, bytes: &[u8], operation: &str) -> Value {
        (self.decode)(bytes, operation)
    }
}

fn encode_as<'a, T: Message>(value: &'a (dyn Any + Send), operation: &str) -> Cow<'a, [u8]> {
    let value = value
        .downcast_ref::<T>()
        .expect("a codec encodes values of its own type");
    wire::encode(value, operation)
}

fn decode_as<T: Message>(bytes: &[u8], operation: &str) -> Value {
    Box::new(wire::decode::<T>(bytes, operation))
}

/// The `T` in `value`; `why` explains a value of another type (ranks that called one operation
/// with different types).
#[track_caller]
pub(crate) fn unbox<T: 'static>(value: Value, why: impl FnOnce() -> String) -> T {
    match value.downcast::<T>() {
        Ok(value) => *value,
        Err(_) => misuse(why()),
    }
}
