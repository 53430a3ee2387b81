//! AMF0 and AMF3 for OpenRTMP: a value model with ordered objects, bounded decoders and
//! infallible encoders.
//!
//! Implements:
//! - AMF0: Adobe, "Action Message Format -- AMF 0" (2006), every type of §2 and the AVM+
//!   switch of §3.1 ([`amf0`]);
//! - AMF3: Adobe, "Action Message Format -- AMF 3" (January 2013), every type of §3
//!   including vectors and dictionaries, with string, object and traits references
//!   ([`amf3`]); externalizable objects are rejected since their format is private;
//! - the Enhanced RTMP v2 clarification that an AVM+ switch covers one value only.
//!
//! The decoders take a complete message and borrow it; they never panic, never allocate
//! from a length or count the peer declared before the bytes are there, and stop at the
//! [`Limits`] on nesting depth, total elements and string length. Decoding then encoding
//! AMF0 is byte-exact (see [`amf0`] for the three documented exceptions), which the
//! property tests check.
//!
//! ```
//! use openrtmp_amf::{amf0, Amf0Value, Limits};
//!
//! // "connect", 1.0, {app: "live"} as an encoder sends it.
//! let body = [
//!     0x02, 0x00, 0x07, b'c', b'o', b'n', b'n', b'e', b'c', b't', // string "connect"
//!     0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, // number 1.0
//!     0x03, // {
//!     0x00, 0x03, b'a', b'p', b'p', 0x02, 0x00, 0x04, b'l', b'i', b'v', b'e', // app: "live"
//!     0x00, 0x00, 0x09, // }
//! ];
//! let values = amf0::decode_all(&body, &Limits::default()).unwrap();
//! assert_eq!(values[0].as_str(), Some("connect"));
//! assert_eq!(values[2].as_object().and_then(|o| o.get("app")), Some(&Amf0Value::from("live")));
//!
//! let mut out = bytes::BytesMut::new();
//! amf0::encode_all(&values, &mut out);
//! assert_eq!(&out[..], &body[..]);
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

pub mod amf0;
pub mod amf3;
mod error;
mod limits;
mod reader;
mod text;
mod value;

#[cfg(test)]
mod strategy;

pub use error::AmfError;
pub use limits::{Limits, DEFAULT_MAX_DEPTH, DEFAULT_MAX_ELEMENTS, DEFAULT_MAX_STRING_LEN};
pub use value::{Amf0Value, Amf3Object, Amf3Value, AmfObject};
