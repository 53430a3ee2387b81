//! The AMF0 encoder.

use bytes::{BufMut, BytesMut};

use super::marker;
use crate::text::truncate_utf8;
use crate::{amf3, Amf0Value, AmfObject};

/// Appends `value` to `out` in AMF0.
///
/// Byte-exact inverse of the decoder for every value it produces. For values built by hand:
/// a [`Amf0Value::String`] longer than 65,535 bytes is written with the long-string marker
/// (§2.14) and so decodes as [`Amf0Value::LongString`]; a property key longer than 65,535
/// bytes is truncated at a char boundary (AMF0 keys have a U16 length, §2.5; the decoder
/// never produces such keys); long strings and strict arrays beyond `u32::MAX` bytes/items
/// are likewise truncated. The encoder recurses once per nesting level, so values nested
/// thousands deep (which the decoder never produces) can exhaust the stack.
pub fn encode(value: &Amf0Value, out: &mut BytesMut) {
    match value {
        Amf0Value::Number(n) => {
            out.put_u8(marker::NUMBER);
            out.put_f64(*n);
        }
        Amf0Value::Boolean(b) => {
            out.put_u8(marker::BOOLEAN);
            out.put_u8(u8::from(*b));
        }
        Amf0Value::String(s) => match u16::try_from(s.len()) {
            Ok(len) => {
                out.put_u8(marker::STRING);
                out.put_u16(len);
                out.put_slice(s.as_bytes());
            }
            Err(_) => put_long_string(out, marker::LONG_STRING, s),
        },
        Amf0Value::Object(object) => {
            out.put_u8(marker::OBJECT);
            put_properties(out, object);
        }
        Amf0Value::Null => out.put_u8(marker::NULL),
        Amf0Value::Undefined => out.put_u8(marker::UNDEFINED),
        Amf0Value::Reference(index) => {
            out.put_u8(marker::REFERENCE);
            out.put_u16(*index);
        }
        Amf0Value::EcmaArray { count, entries } => {
            out.put_u8(marker::ECMA_ARRAY);
            out.put_u32(*count);
            put_properties(out, entries);
        }
        Amf0Value::StrictArray(items) => {
            out.put_u8(marker::STRICT_ARRAY);
            let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
            out.put_u32(count);
            for item in items.iter().take(count as usize) {
                encode(item, out);
            }
        }
        Amf0Value::Date { millis, time_zone } => {
            out.put_u8(marker::DATE);
            out.put_f64(*millis);
            out.put_i16(*time_zone);
        }
        Amf0Value::LongString(s) => put_long_string(out, marker::LONG_STRING, s),
        Amf0Value::Unsupported => out.put_u8(marker::UNSUPPORTED),
        Amf0Value::XmlDocument(s) => put_long_string(out, marker::XML_DOCUMENT, s),
        Amf0Value::TypedObject { class_name, properties } => {
            out.put_u8(marker::TYPED_OBJECT);
            put_short_string(out, class_name);
            put_properties(out, properties);
        }
        Amf0Value::Avmplus(value) => {
            out.put_u8(marker::AVMPLUS);
            amf3::encode(value, out);
        }
    }
}

/// Appends every value in order (an RTMP command or data message body).
pub fn encode_all(values: &[Amf0Value], out: &mut BytesMut) {
    for value in values {
        encode(value, out);
    }
}

/// `UTF-8` (§1.3.1), truncated to 65,535 bytes at a char boundary.
fn put_short_string(out: &mut BytesMut, s: &str) {
    let s = truncate_utf8(s, usize::from(u16::MAX));
    out.put_u16(u16::try_from(s.len()).unwrap_or(u16::MAX));
    out.put_slice(s.as_bytes());
}

/// `marker UTF-8-long` (§2.14, §2.17), truncated to `u32::MAX` bytes at a char boundary.
fn put_long_string(out: &mut BytesMut, marker: u8, s: &str) {
    let s = truncate_utf8(s, u32::MAX as usize);
    out.put_u8(marker);
    out.put_u32(u32::try_from(s.len()).unwrap_or(u32::MAX));
    out.put_slice(s.as_bytes());
}

/// `*(object-property)` then the object-end type (§2.5, §2.11).
fn put_properties(out: &mut BytesMut, object: &AmfObject) {
    for (key, value) in object.iter() {
        put_short_string(out, key);
        encode(value, out);
    }
    out.put_slice(&[0x00, 0x00, marker::OBJECT_END]);
}
