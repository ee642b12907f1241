//! How values travel between MPI processes: numbers and vectors of numbers as their bytes,
//! everything else through postcard.
//!
//! Every rank calls a collective with the same type, so sender and receiver always agree on
//! which of the two a value took. (The ranks of one job share a byte order, as MPICH assumes for
//! its own byte messages.)

use std::any::Any;
use std::borrow::Cow;

use crate::message::{self, Message};

/// Tries each plain number type `$t`, as a scalar and as a `Vec<$t>`.
macro_rules! plain_types {
    ($value:ident, $found:ident; $($t:ty),*) => {
        $(
            if let Some($found) = ($value as &dyn Any).downcast_ref::<Vec<$t>>() {
                return Some(as_bytes($found));
            }
            if let Some($found) = ($value as &dyn Any).downcast_ref::<$t>() {
                return Some(as_bytes(std::slice::from_ref($found)));
            }
        )*
    };
}

/// The bytes of numbers that may hold any bit pattern.
fn as_bytes<N: Copy>(numbers: &[N]) -> &[u8] {
    // SAFETY: `N` is one of the primitive number types listed below: no padding, no invalid
    // bit patterns, and a byte has no alignment requirement.
    unsafe {
        std::slice::from_raw_parts(
            numbers.as_ptr().cast::<u8>(),
            std::mem::size_of_val(numbers),
        )
    }
}

/// Numbers read back from their bytes.
fn from_bytes<N: Copy + Default>(bytes: &[u8]) -> Vec<N> {
    let mut numbers = vec![N::default(); bytes.len() / std::mem::size_of::<N>()];
    // SAFETY: as in `as_bytes`; the vector has room for exactly these bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            numbers.as_mut_ptr().cast::<u8>(),
            numbers.len() * std::mem::size_of::<N>(),
        );
    }
    numbers
}

fn plain<T: 'static>(value: &T) -> Option<&[u8]> {
    plain_types!(value, found; u8, i8, u16, i16, u32, i32, u64, i64, u128, i128, usize, isize, f32, f64);
    None
}

macro_rules! unplain_types {
    ($bytes:ident; $($t:ty),*) => {
        $(
            if std::any::TypeId::of::<T>() == std::any::TypeId::of::<Vec<$t>>() {
                let boxed: Box<dyn Any> = Box::new(from_bytes::<$t>($bytes));
                return Some(*boxed.downcast::<T>().expect("checked by TypeId"));
            }
            if std::any::TypeId::of::<T>() == std::any::TypeId::of::<$t>() {
                let boxed: Box<dyn Any> = Box::new(from_bytes::<$t>($bytes)[0]);
                return Some(*boxed.downcast::<T>().expect("checked by TypeId"));
            }
        )*
    };
}

fn unplain<T: 'static>(bytes: &[u8]) -> Option<T> {
    unplain_types!(bytes; u8, i8, u16, i16, u32, i32, u64, i64, u128, i128, usize, isize, f32, f64);
    None
}

/// The bytes that carry `value`.
pub(crate) fn encode<'a, T: Message>(value: &'a T, operation: &str) -> Cow<'a, [u8]> {
    match plain(value) {
        Some(bytes) => Cow::Borrowed(bytes),
        None => Cow::Owned(message::encode(value, operation)),
    }
}

/// The value that `bytes`, made by [`encode`] for the same type, carry.
pub(crate) fn decode<T: Message>(bytes: &[u8], operation: &str) -> T {
    unplain(bytes).unwrap_or_else(|| message::decode(bytes, operation))
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
