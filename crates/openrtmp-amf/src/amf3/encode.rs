//! The AMF3 encoder.

use bytes::{BufMut, BytesMut};

use super::{marker, MAX_INTEGER, MAX_U28, MIN_INTEGER};
use crate::text::truncate_utf8;
use crate::{Amf3Object, Amf3Value};

/// Appends `value` to `out` in AMF3, every string, trait and object inline (no references;
/// §2.2 makes references optional for the writer).
///
/// Decoding the output gives back `value` for every value the decoder produces. For values
/// built by hand: an [`Amf3Value::Integer`] outside the 29-bit range of §3.6 is written as a
/// double (as Flash Player does) and decodes as [`Amf3Value::Double`]; an object with dynamic
/// members is written with dynamic traits even if `dynamic` is false; array keys and dynamic
/// member names that are empty are skipped (the empty string ends those lists, §3.11,
/// §3.12); strings, byte arrays and item counts beyond 2^28 - 1 (sealed member counts
/// beyond 2^25 - 1) are truncated. The encoder recurses once per nesting level.
pub fn encode(value: &Amf3Value, out: &mut BytesMut) {
    match value {
        Amf3Value::Undefined => out.put_u8(marker::UNDEFINED),
        Amf3Value::Null => out.put_u8(marker::NULL),
        Amf3Value::Boolean(false) => out.put_u8(marker::FALSE),
        Amf3Value::Boolean(true) => out.put_u8(marker::TRUE),
        Amf3Value::Integer(n) if (MIN_INTEGER..=MAX_INTEGER).contains(n) => {
            out.put_u8(marker::INTEGER);
            // Two's complement in 29 bits (§3.6).
            put_u29(out, (*n as u32) & super::MAX_U29);
        }
        Amf3Value::Integer(n) => {
            out.put_u8(marker::DOUBLE);
            out.put_f64(f64::from(*n));
        }
        Amf3Value::Double(n) => {
            out.put_u8(marker::DOUBLE);
            out.put_f64(*n);
        }
        Amf3Value::String(s) => {
            out.put_u8(marker::STRING);
            put_string(out, s);
        }
        Amf3Value::XmlDocument(s) => {
            out.put_u8(marker::XML_DOC);
            put_string(out, s);
        }
        Amf3Value::Date(millis) => {
            out.put_u8(marker::DATE);
            put_u29(out, 1); // U29D-value: inline, no other bits used (§3.10)
            out.put_f64(*millis);
        }
        Amf3Value::Array { assoc, dense } => {
            out.put_u8(marker::ARRAY);
            let len = put_inline_len(out, dense.len());
            for (key, value) in assoc.iter().filter(|(key, _)| !key.is_empty()) {
                put_string(out, key);
                encode(value, out);
            }
            put_string(out, "");
            dense.iter().take(len).for_each(|item| encode(item, out));
        }
        Amf3Value::Object(object) => {
            out.put_u8(marker::OBJECT);
            put_object(out, object);
        }
        Amf3Value::Xml(s) => {
            out.put_u8(marker::XML);
            put_string(out, s);
        }
        Amf3Value::ByteArray(bytes) => {
            out.put_u8(marker::BYTE_ARRAY);
            let len = put_inline_len(out, bytes.len());
            out.put_slice(bytes.get(..len).unwrap_or_default());
        }
        Amf3Value::VectorInt { fixed, items } => {
            out.put_u8(marker::VECTOR_INT);
            let len = put_vector_header(out, items.len(), *fixed);
            items.iter().take(len).for_each(|n| out.put_i32(*n));
        }
        Amf3Value::VectorUint { fixed, items } => {
            out.put_u8(marker::VECTOR_UINT);
            let len = put_vector_header(out, items.len(), *fixed);
            items.iter().take(len).for_each(|n| out.put_u32(*n));
        }
        Amf3Value::VectorDouble { fixed, items } => {
            out.put_u8(marker::VECTOR_DOUBLE);
            let len = put_vector_header(out, items.len(), *fixed);
            items.iter().take(len).for_each(|n| out.put_f64(*n));
        }
        Amf3Value::VectorObject { fixed, type_name, items } => {
            out.put_u8(marker::VECTOR_OBJECT);
            let len = put_vector_header(out, items.len(), *fixed);
            put_string(out, type_name);
            items.iter().take(len).for_each(|item| encode(item, out));
        }
        Amf3Value::Dictionary { weak_keys, entries } => {
            out.put_u8(marker::DICTIONARY);
            let len = put_vector_header(out, entries.len(), *weak_keys);
            for (key, value) in entries.iter().take(len) {
                encode(key, out);
                encode(value, out);
            }
        }
    }
}

/// The largest sealed member count inline traits can declare (§3.12, U29O-traits): 25 bits.
const MAX_SEALED: usize = (1 << 25) - 1;

/// An object body with inline traits (§3.12, U29O-traits).
fn put_object(out: &mut BytesMut, object: &Amf3Object) {
    let dynamic = object.dynamic || !object.dynamic_members.is_empty();
    let sealed = object.sealed.get(..object.sealed.len().min(MAX_SEALED)).unwrap_or_default();
    // Flags from the low bit: inline object, inline traits, not externalizable, dynamic.
    let header = ((sealed.len() as u32) << 4) | (u32::from(dynamic) << 3) | 0b011;
    put_u29(out, header);
    put_string(out, &object.class_name);
    for (name, _) in sealed {
        put_string(out, name);
    }
    for (_, value) in sealed {
        encode(value, out);
    }
    if dynamic {
        for (name, value) in object.dynamic_members.iter().filter(|(name, _)| !name.is_empty()) {
            put_string(out, name);
            encode(value, out);
        }
        put_string(out, "");
    }
}

/// A U29 (§1.3.1); `n` must be at most 2^29 - 1 (higher bits are dropped).
fn put_u29(out: &mut BytesMut, n: u32) {
    let n = n & super::MAX_U29;
    if n < 0x80 {
        out.put_u8(n as u8);
    } else if n < 0x4000 {
        out.put_slice(&[(n >> 7) as u8 | 0x80, (n & 0x7F) as u8]);
    } else if n < 0x20_0000 {
        out.put_slice(&[(n >> 14) as u8 | 0x80, (n >> 7) as u8 | 0x80, (n & 0x7F) as u8]);
    } else {
        // The fourth byte carries 8 bits, so the first three carry bits 28..8.
        out.put_slice(&[
            (n >> 22) as u8 | 0x80,
            (n >> 15) as u8 | 0x80,
            (n >> 8) as u8 | 0x80,
            n as u8,
        ]);
    }
}

/// An inline length or count: `(len << 1) | 1`, with `len` capped at 2^28 - 1. Returns the
/// length written.
fn put_inline_len(out: &mut BytesMut, len: usize) -> usize {
    let len = len.min(MAX_U28 as usize);
    put_u29(out, ((len as u32) << 1) | 1);
    len
}

/// A vector or dictionary header (§3.15, §3.16): inline count, then a U8 flag.
fn put_vector_header(out: &mut BytesMut, len: usize, flag: bool) -> usize {
    let len = put_inline_len(out, len);
    out.put_u8(u8::from(flag));
    len
}

/// A `UTF-8-vr` literal (§1.3.2), truncated at a char boundary to 2^28 - 1 bytes.
fn put_string(out: &mut BytesMut, s: &str) {
    let s = truncate_utf8(s, MAX_U28 as usize);
    put_inline_len(out, s.len());
    out.put_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// U29 vectors worked out by hand from the table of AMF3 §1.3.1.
    #[test]
    fn u29_boundaries() {
        let cases: &[(u32, &[u8])] = &[
            (0, &[0x00]),
            (0x7F, &[0x7F]),
            (0x80, &[0x81, 0x00]),
            (0x3FFF, &[0xFF, 0x7F]),
            (0x4000, &[0x81, 0x80, 0x00]),
            (0x1F_FFFF, &[0xFF, 0xFF, 0x7F]),
            (0x20_0000, &[0x80, 0xC0, 0x80, 0x00]),
            (0x1FFF_FFFF, &[0xFF, 0xFF, 0xFF, 0xFF]),
        ];
        for (n, bytes) in cases {
            let mut out = BytesMut::new();
            put_u29(&mut out, *n);
            assert_eq!(&out[..], *bytes, "{n:#x}");
        }
    }
}
