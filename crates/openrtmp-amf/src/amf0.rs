//! AMF0 (Adobe, "Action Message Format -- AMF 0", 2006): every type of §2, and the AVM+
//! switch to AMF3 of §3.1.
//!
//! [`Amf0Decoder`] reads values one at a time from a complete message body; [`decode_all`]
//! reads every value to the end (an RTMP command or data message, RTMP 1.0 §7.1.1/§7.1.2).
//! [`encode`] is the exact inverse: for every input the decoder accepts, encoding the
//! decoded values gives back the input bytes, with three documented exceptions (a boolean
//! byte other than 0 or 1 becomes 1; AMF3 content after an AVM+ marker is re-encoded in
//! canonical form without references; an ECMA array missing its terminator at the end of
//! input gets one).

mod decode;
mod encode;

pub use decode::{decode_all, Amf0Decoder};
pub use encode::{encode, encode_all};

/// The AMF0 type markers (§2.1).
pub mod marker {
    /// number-marker (§2.2).
    pub const NUMBER: u8 = 0x00;
    /// boolean-marker (§2.3).
    pub const BOOLEAN: u8 = 0x01;
    /// string-marker (§2.4).
    pub const STRING: u8 = 0x02;
    /// object-marker (§2.5).
    pub const OBJECT: u8 = 0x03;
    /// movieclip-marker (§2.6), reserved.
    pub const MOVIECLIP: u8 = 0x04;
    /// null-marker (§2.7).
    pub const NULL: u8 = 0x05;
    /// undefined-marker (§2.8).
    pub const UNDEFINED: u8 = 0x06;
    /// reference-marker (§2.9).
    pub const REFERENCE: u8 = 0x07;
    /// ecma-array-marker (§2.10).
    pub const ECMA_ARRAY: u8 = 0x08;
    /// object-end-marker (§2.11).
    pub const OBJECT_END: u8 = 0x09;
    /// strict-array-marker (§2.12).
    pub const STRICT_ARRAY: u8 = 0x0A;
    /// date-marker (§2.13).
    pub const DATE: u8 = 0x0B;
    /// long-string-marker (§2.14).
    pub const LONG_STRING: u8 = 0x0C;
    /// unsupported-marker (§2.15).
    pub const UNSUPPORTED: u8 = 0x0D;
    /// recordset-marker (§2.16), reserved.
    pub const RECORDSET: u8 = 0x0E;
    /// xml-document-marker (§2.17).
    pub const XML_DOCUMENT: u8 = 0x0F;
    /// typed-object-marker (§2.18).
    pub const TYPED_OBJECT: u8 = 0x10;
    /// avmplus-object-marker (§3.1): an AMF3 value follows.
    pub const AVMPLUS: u8 = 0x11;
}

#[cfg(test)]
mod tests;
