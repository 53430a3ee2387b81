//! AMF3 (Adobe, "Action Message Format -- AMF 3", January 2013): every type of §3,
//! including the Flash Player 10 vector (§3.15) and dictionary (§3.16) types.
//!
//! [`Amf3Decoder`] keeps the three reference tables of §2.2 (strings, complex objects,
//! traits) and resolves every reference, so an [`Amf3Value`](crate::Amf3Value) is
//! self-contained. The tables hold positions in the input and borrowed slices, never copies:
//! an object reference is resolved by decoding the referenced object again from where it
//! starts in the input, and that second decode is charged to the element budget like the
//! first (see [`Limits::max_elements`](crate::Limits::max_elements)), so a value referenced
//! many times costs its full size each time and a reference bomb stops at the limit. Objects
//! that refer to themselves or an ancestor (cycles) fail with
//! [`AmfError::CircularReference`](crate::AmfError::CircularReference): the value model is a
//! tree.
//!
//! [`encode`] writes every value inline, without references, which any AMF3 reader accepts.

mod decode;
mod encode;

pub(crate) use decode::decode_switched;
pub use decode::{decode, Amf3Decoder};
pub use encode::encode;

/// The AMF3 type markers (§3.1).
pub mod marker {
    /// undefined-marker (§3.2).
    pub const UNDEFINED: u8 = 0x00;
    /// null-marker (§3.3).
    pub const NULL: u8 = 0x01;
    /// false-marker (§3.4).
    pub const FALSE: u8 = 0x02;
    /// true-marker (§3.5).
    pub const TRUE: u8 = 0x03;
    /// integer-marker (§3.6).
    pub const INTEGER: u8 = 0x04;
    /// double-marker (§3.7).
    pub const DOUBLE: u8 = 0x05;
    /// string-marker (§3.8).
    pub const STRING: u8 = 0x06;
    /// xml-doc-marker (§3.9).
    pub const XML_DOC: u8 = 0x07;
    /// date-marker (§3.10).
    pub const DATE: u8 = 0x08;
    /// array-marker (§3.11).
    pub const ARRAY: u8 = 0x09;
    /// object-marker (§3.12).
    pub const OBJECT: u8 = 0x0A;
    /// xml-marker (§3.13).
    pub const XML: u8 = 0x0B;
    /// byte-array-marker (§3.14).
    pub const BYTE_ARRAY: u8 = 0x0C;
    /// vector-int-marker (§3.15).
    pub const VECTOR_INT: u8 = 0x0D;
    /// vector-uint-marker (§3.15).
    pub const VECTOR_UINT: u8 = 0x0E;
    /// vector-double-marker (§3.15).
    pub const VECTOR_DOUBLE: u8 = 0x0F;
    /// vector-object-marker (§3.15).
    pub const VECTOR_OBJECT: u8 = 0x10;
    /// dictionary-marker (§3.16).
    pub const DICTIONARY: u8 = 0x11;
}

/// The largest value a U29 can hold (§1.3.1): 29 bits.
pub const MAX_U29: u32 = (1 << 29) - 1;
/// The largest length, count or reference index a U29 with a flag bit can carry (§1.3.2,
/// §3.11–§3.16): 28 bits.
pub const MAX_U28: u32 = (1 << 28) - 1;
/// The smallest integer the integer type holds (§3.6): -2^28.
pub const MIN_INTEGER: i32 = -(1 << 28);
/// The largest integer the integer type holds (§3.6): 2^28 - 1.
pub const MAX_INTEGER: i32 = (1 << 28) - 1;

#[cfg(test)]
mod tests;
