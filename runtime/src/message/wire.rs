//! How values travel as bytes: numbers and vectors of numbers as their own bytes, everything
//! else through postcard.
//!
//! Every rank calls a collective with the same type, so sender and receiver always agree on
//! which of the two a value took. (The ranks of one job share a byte order, as MPICH assumes for
//! its own byte messages.)

use std::any::{Any, TypeId};
use std::borrow::Cow;

use crate::message::{self, Message};

/// A type whose values are their bytes: no padding, and every bit pattern of its size is a
/// value. Such values travel as they are, without encoding.
///
/// # Safety
/// An implementation promises exactly that. The trait is private to this crate and implemented
/// below for the primitive number types only; `bool`, `char` and structs are not plain.
unsafe trait Plain: Copy + Default + 'static {}

/// Implements [`Plain`], and lists the types for [`plain_bytes`] and [`from_plain_bytes`].
macro_rules! plain_types {
    ($($t:ty),*) => {
        // SAFETY: primitive integers and floats have no padding, and every bit pattern of their
        // size is a value of the type.
        $(unsafe impl Plain for $t {})*

        /// The bytes of `value`, when it is a plain number or a vector of them.
        fn plain_bytes<T: 'static>(value: &T) -> Option<&[u8]> {
            let value = value as &dyn Any;
            $(
                if let Some(numbers) = value.downcast_ref::<Vec<$t>>() {
                    return Some(as_bytes(numbers));
                }
                if let Some(number) = value.downcast_ref::<$t>() {
                    return Some(as_bytes(std::slice::from_ref(number)));
                }
            )*
            None
        }

        /// The plain number or vector of them that `bytes` carry, when `T` is one.
        fn from_plain_bytes<T: 'static>(bytes: &[u8]) -> Option<T> {
            $(
                if TypeId::of::<T>() == TypeId::of::<Vec<$t>>() {
                    return Some(downcast(from_bytes::<$t>(bytes)));
                }
                if TypeId::of::<T>() == TypeId::of::<$t>() {
                    let [number] = from_bytes::<$t>(bytes)[..] else {
                        panic!("dlp: a plain number arrived as {} bytes", bytes.len());
                    };
                    return Some(downcast(number));
                }
            )*
            None
        }
    };
}

plain_types!(
    u8, i8, u16, i16, u32, i32, u64, i64, u128, i128, usize, isize, f32, f64
);

/// `value` as the `T` that a `TypeId` comparison showed it to be.
fn downcast<T: 'static>(value: impl Any) -> T {
    let boxed: Box<dyn Any> = Box::new(value);
    *boxed.downcast::<T>().expect("checked by TypeId")
}

/// The bytes of plain numbers.
fn as_bytes<N: Plain>(numbers: &[N]) -> &[u8] {
    // SAFETY: `N: Plain` has no padding, so all `size_of_val` bytes are initialized; a byte has
    // no alignment requirement; the slice borrows `numbers` for its lifetime.
    unsafe {
        std::slice::from_raw_parts(
            numbers.as_ptr().cast::<u8>(),
            std::mem::size_of_val(numbers),
        )
    }
}

/// Plain numbers read back from their bytes; a trailing part of a number is ignored.
fn from_bytes<N: Plain>(bytes: &[u8]) -> Vec<N> {
    let mut numbers = vec![N::default(); bytes.len() / std::mem::size_of::<N>()];
    // SAFETY: the vector owns `numbers.len() * size_of::<N>()` bytes, no more than `bytes`
    // holds, and the two do not overlap; every bit pattern is a value of `N: Plain`.
    unsafe {
        std::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            numbers.as_mut_ptr().cast::<u8>(),
            numbers.len() * std::mem::size_of::<N>(),
        );
    }
    numbers
}

/// The bytes that carry `value`.
pub(crate) fn encode<'a, T: Message>(value: &'a T, operation: &str) -> Cow<'a, [u8]> {
    match plain_bytes(value) {
        Some(bytes) => Cow::Borrowed(bytes),
        None => Cow::Owned(message::encode(value, operation)),
    }
}

/// The value that `bytes`, made by [`encode`] for the same type, carry.
pub(crate) fn decode<T: Message>(bytes: &[u8], operation: &str) -> T {
    from_plain_bytes(bytes).unwrap_or_else(|| message::decode(bytes, operation))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Message + PartialEq + std::fmt::Debug + Clone>(value: T) {
        let bytes = encode(&value, "test").into_owned();
        assert_eq!(decode::<T>(&bytes, "test"), value);
    }

    #[test]
    fn numbers_and_other_values_come_back_the_same() {
        round_trip(vec![1u64, u64::MAX, 0]);
        round_trip(vec![-1.5f64, f64::MAX]);
        round_trip(Vec::<i32>::new());
        round_trip(42usize);
        round_trip((1u8, String::from("text")));
        round_trip(vec![vec![1u32], vec![]]);
        assert_eq!(
            encode(&vec![1u32, 2], "test").len(),
            8,
            "plain bytes, no framing"
        );
    }
}
