//! AMF0 golden vectors, bad-input cases and round-trip properties.
//!
//! Unless a comment says otherwise, every vector was written by hand from the grammar of the
//! AMF0 specification (section cited), doubles checked against IEEE-754 by hand
//! (1.0 = 3FF0…, 15.0 = 402E…, 252.0 = 406F8…, 4071.0 = 40AFCE…).

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;
use crate::strategy::{amf0_value, fix_references};
use crate::{Amf0Value, Amf3Object, Amf3Value, AmfError, AmfObject, Limits};

fn decode_default(bytes: &[u8]) -> Result<Vec<Amf0Value>, AmfError> {
    decode_all(bytes, &Limits::default())
}

fn encoded(values: &[Amf0Value]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_all(values, &mut out);
    out.to_vec()
}

/// `bytes` decodes to exactly `value`, and `value` encodes to exactly `bytes`.
#[track_caller]
fn golden(bytes: &[u8], value: Amf0Value) {
    assert_eq!(decode_default(bytes), Ok(vec![value.clone()]));
    assert_eq!(encoded(&[value]), bytes);
}

#[track_caller]
fn rejects(bytes: &[u8], error: AmfError) {
    assert_eq!(decode_default(bytes), Err(error));
}

const ONE: [u8; 8] = [0x3F, 0xF0, 0, 0, 0, 0, 0, 0];

#[test]
fn number_boolean_string_null_undefined() {
    golden(&[0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0], Amf0Value::Number(1.0)); // §2.2
    golden(&[0x00, 0xC0, 0x00, 0, 0, 0, 0, 0, 0], Amf0Value::Number(-2.0));
    golden(&[0x01, 0x00], Amf0Value::Boolean(false)); // §2.3
    golden(&[0x01, 0x01], Amf0Value::Boolean(true));
    // §2.3: any non-zero byte is true (re-encoded as 1: the one non-byte-exact case).
    assert_eq!(decode_default(&[0x01, 0x7F]), Ok(vec![Amf0Value::Boolean(true)]));
    golden(&[0x02, 0x00, 0x03, b'a', b'p', b'p'], Amf0Value::String("app".into())); // §2.4
    golden(&[0x02, 0x00, 0x00], Amf0Value::String(String::new()));
    golden(&[0x02, 0x00, 0x02, 0xC3, 0xA9], Amf0Value::String("é".into()));
    golden(&[0x05], Amf0Value::Null); // §2.7
    golden(&[0x06], Amf0Value::Undefined); // §2.8
}

#[test]
fn object_and_typed_object() {
    // §2.5: {a: 1.0, "": null} — an empty key followed by a value is a property.
    let mut bytes = vec![0x03, 0x00, 0x01, b'a', 0x00];
    bytes.extend_from_slice(&ONE);
    bytes.extend_from_slice(&[0x00, 0x00, 0x05, 0x00, 0x00, 0x09]);
    let object = AmfObject::from_pairs([("a", Amf0Value::Number(1.0)), ("", Amf0Value::Null)]);
    golden(&bytes, Amf0Value::Object(object));
    golden(&[0x03, 0x00, 0x00, 0x09], Amf0Value::Object(AmfObject::new()));
    // §2.18: typed object "Foo" {x: undefined}.
    golden(
        &[0x10, 0x00, 0x03, b'F', b'o', b'o', 0x00, 0x01, b'x', 0x06, 0x00, 0x00, 0x09],
        Amf0Value::TypedObject {
            class_name: "Foo".into(),
            properties: AmfObject::from_pairs([("x", Amf0Value::Undefined)]),
        },
    );
}

#[test]
fn keys_keep_wire_order_and_duplicates() {
    let bytes = [
        0x03, 0x00, 0x01, b'b', 0x05, 0x00, 0x01, b'a', 0x05, 0x00, 0x01, b'b', 0x06, 0x00, 0x00,
        0x09,
    ];
    let object = AmfObject::from_pairs([
        ("b", Amf0Value::Null),
        ("a", Amf0Value::Null),
        ("b", Amf0Value::Undefined),
    ]);
    golden(&bytes, Amf0Value::Object(object));
}

#[test]
fn reference_ecma_strict_date() {
    // §2.9: [ {}, ref 1 ]: the array is object 0 and the empty object 1.
    golden(
        &[0x0A, 0, 0, 0, 2, 0x03, 0x00, 0x00, 0x09, 0x07, 0x00, 0x01],
        Amf0Value::StrictArray(vec![Amf0Value::Object(AmfObject::new()), Amf0Value::Reference(1)]),
    );
    golden(
        &[0x03, 0x00, 0x01, b'a', 0x07, 0x00, 0x00, 0x00, 0x00, 0x09],
        Amf0Value::Object(AmfObject::from_pairs([("a", Amf0Value::Reference(0))])),
    );
    // §2.10: ECMA array declaring 1 entry {a: null}.
    golden(
        &[0x08, 0, 0, 0, 1, 0x00, 0x01, b'a', 0x05, 0x00, 0x00, 0x09],
        Amf0Value::EcmaArray { count: 1, entries: AmfObject::from_pairs([("a", Amf0Value::Null)]) },
    );
    // §2.12: strict array [null, undefined].
    golden(
        &[0x0A, 0, 0, 0, 2, 0x05, 0x06],
        Amf0Value::StrictArray(vec![Amf0Value::Null, Amf0Value::Undefined]),
    );
    golden(&[0x0A, 0, 0, 0, 0], Amf0Value::StrictArray(vec![]));
    // §2.13: date 1000.0 ms, time zone 0x0001 kept although reserved.
    golden(
        &[0x0B, 0x40, 0x8F, 0x40, 0, 0, 0, 0, 0, 0x00, 0x01],
        Amf0Value::Date { millis: 1000.0, time_zone: 1 },
    );
}

#[test]
fn long_string_unsupported_xml() {
    golden(&[0x0C, 0, 0, 0, 3, b'a', b'b', b'c'], Amf0Value::LongString("abc".into())); // §2.14
    golden(&[0x0D], Amf0Value::Unsupported); // §2.15
    golden(&[0x0F, 0, 0, 0, 4, b'<', b'a', b'/', b'>'], Amf0Value::XmlDocument("<a/>".into())); // §2.17
                                                                                                // A String too long for a U16 is written as a long string.
    let long = "x".repeat(70_000);
    let bytes = encoded(&[Amf0Value::String(long.clone())]);
    assert_eq!(bytes[..5], [0x0C, 0x00, 0x01, 0x11, 0x70]);
    assert_eq!(decode_default(&bytes), Ok(vec![Amf0Value::LongString(long)]));
}

#[test]
fn avmplus_switch() {
    // §3.1 then AMF3 §3.6 integer 5, and AMF3 §3.8 string "abc".
    golden(&[0x11, 0x04, 0x05], Amf0Value::Avmplus(Amf3Value::Integer(5)));
    golden(
        &[0x11, 0x06, 0x07, b'a', b'b', b'c'],
        Amf0Value::Avmplus(Amf3Value::String("abc".into())),
    );
    // The switch is not sticky: AMF0 resumes after one value, and each switch has fresh
    // AMF3 tables, so a string reference into an earlier switch is invalid.
    let bytes = [0x11, 0x06, 0x07, b'a', b'b', b'c', 0x05, 0x11, 0x06, 0x00];
    assert_eq!(
        decode_default(&bytes),
        Err(AmfError::InvalidStringReference { index: 0, table_len: 0, offset: 9 })
    );
    // AMF3 errors carry offsets in the AMF0 input.
    rejects(&[0x05, 0x11, 0x14], AmfError::UnknownMarker { marker: 0x14, offset: 2 });
}

#[test]
fn reserved_end_and_unknown_markers() {
    rejects(&[0x04], AmfError::ReservedMarker { marker: 0x04, offset: 0 }); // §2.6
    rejects(&[0x05, 0x0E], AmfError::ReservedMarker { marker: 0x0E, offset: 1 }); // §2.16
    rejects(&[0x09], AmfError::UnexpectedObjectEnd { offset: 0 }); // §2.11
    rejects(&[0x0A, 0, 0, 0, 1, 0x09], AmfError::UnexpectedObjectEnd { offset: 5 });
    // An object-end marker after a non-empty key is a value position: out of place.
    rejects(&[0x03, 0x00, 0x01, b'a', 0x09], AmfError::UnexpectedObjectEnd { offset: 4 });
    for marker in 0x12..=0xFF {
        rejects(&[marker], AmfError::UnknownMarker { marker, offset: 0 });
    }
}

/// The body of the connect command FFmpeg's RTMP client (Lavf 59.27.100) sends: command
/// name, transaction id 1, and the command object with its fields in FFmpeg's order
/// (RTMP 1.0 §7.2.1.1). Built by hand, field by field.
#[rustfmt::skip]
fn ffmpeg_connect_bytes() -> Vec<u8> {
    [
        &[0x02, 0x00, 0x07][..], b"connect", // string "connect"
        &[0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0], // number 1.0: transaction id
        &[0x03], // object
        &[0x00, 0x03], b"app", &[0x02, 0x00, 0x04], b"live",
        &[0x00, 0x08], b"flashVer", &[0x02, 0x00, 0x24], b"FMLE/3.0 (compatible; Lavf59.27.100)",
        &[0x00, 0x05], b"tcUrl", &[0x02, 0x00, 0x1A], b"rtmp://127.0.0.1:1935/live",
        &[0x00, 0x04], b"fpad", &[0x01, 0x00], // false
        &[0x00, 0x0C], b"capabilities", &[0x00, 0x40, 0x2E, 0, 0, 0, 0, 0, 0], // 15.0
        &[0x00, 0x0B], b"audioCodecs", &[0x00, 0x40, 0xAF, 0xCE, 0, 0, 0, 0, 0], // 4071.0
        &[0x00, 0x0B], b"videoCodecs", &[0x00, 0x40, 0x6F, 0x80, 0, 0, 0, 0, 0], // 252.0
        &[0x00, 0x0D], b"videoFunction", &[0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0], // 1.0
        &[0x00, 0x00, 0x09], // object end
    ]
    .concat()
}

fn ffmpeg_connect_values() -> Vec<Amf0Value> {
    let object = AmfObject::from_pairs([
        ("app", Amf0Value::from("live")),
        ("flashVer", "FMLE/3.0 (compatible; Lavf59.27.100)".into()),
        ("tcUrl", "rtmp://127.0.0.1:1935/live".into()),
        ("fpad", false.into()),
        ("capabilities", 15.0.into()),
        ("audioCodecs", 4071.0.into()),
        ("videoCodecs", 252.0.into()),
        ("videoFunction", 1.0.into()),
    ]);
    vec!["connect".into(), 1.0.into(), Amf0Value::Object(object)]
}

#[test]
fn ffmpeg_connect() {
    let bytes = ffmpeg_connect_bytes();
    let values = decode_default(&bytes).unwrap();
    assert_eq!(values, ffmpeg_connect_values());
    assert_eq!(values[2].as_object().unwrap().get("audioCodecs"), Some(&Amf0Value::Number(4071.0)));
    assert_eq!(encoded(&values), bytes);
}

#[test]
fn truncated_connect_fails_at_every_byte() {
    let bytes = ffmpeg_connect_bytes();
    for len in 0..bytes.len() {
        let mut decoder = Amf0Decoder::new(&bytes[..len], Limits::default());
        let result = (0..3).try_for_each(|_| decoder.decode().map(drop));
        match result {
            Err(AmfError::UnexpectedEof { offset, needed }) => {
                assert!(offset <= len && offset + needed > len, "len {len}: {offset} + {needed}")
            }
            other => panic!("prefix of {len} bytes: {other:?}"),
        }
    }
}

/// What OBS Studio (librtmp) sends to publish: `type: "nonprivate"` and `swfUrl`, no codec
/// fields. Built by hand like the FFmpeg vector.
#[test]
#[rustfmt::skip]
fn obs_connect() {
    let bytes = [
        &[0x02, 0x00, 0x07][..], b"connect",
        &[0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0], // 1.0
        &[0x03],
        &[0x00, 0x03], b"app", &[0x02, 0x00, 0x04], b"live",
        &[0x00, 0x04], b"type", &[0x02, 0x00, 0x0A], b"nonprivate",
        &[0x00, 0x08], b"flashVer", &[0x02, 0x00, 0x1F], b"FMLE/3.0 (compatible; FMSc/1.0)",
        &[0x00, 0x06], b"swfUrl", &[0x02, 0x00, 0x15], b"rtmp://localhost/live",
        &[0x00, 0x05], b"tcUrl", &[0x02, 0x00, 0x15], b"rtmp://localhost/live",
        &[0x00, 0x00, 0x09],
    ]
    .concat();
    let values = decode_default(&bytes).unwrap();
    let object = values[2].as_object().unwrap();
    let keys: Vec<_> = object.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["app", "type", "flashVer", "swfUrl", "tcUrl"]);
    assert_eq!(
        object.get("type").and_then(Amf0Value::as_str),
        Some("nonprivate")
    );
    assert_eq!(encoded(&values), bytes);
}

/// Enhanced RTMP v2 connect fields ("Enhancing NetConnection connect Command"): fourCcList as
/// a strict array of strings, videoFourCcInfoMap as an object of flag numbers, capsEx.
#[test]
#[rustfmt::skip]
fn enhanced_rtmp_connect_fields() {
    let bytes = [
        &[0x03][..],
        &[0x00, 0x0A], b"fourCcList", &[0x0A, 0, 0, 0, 3],
        &[0x02, 0x00, 0x04], b"av01", &[0x02, 0x00, 0x04], b"vp09", &[0x02, 0x00, 0x04], b"hvc1",
        &[0x00, 0x12], b"videoFourCcInfoMap", &[0x03],
        &[0x00, 0x01], b"*", &[0x00, 0x40, 0x10, 0, 0, 0, 0, 0, 0], // CanForward 4.0
        &[0x00, 0x04], b"vp09", &[0x00, 0x40, 0x08, 0, 0, 0, 0, 0, 0], // CanDecode|CanEncode 3.0
        &[0x00, 0x00, 0x09],
        &[0x00, 0x06], b"capsEx", &[0x00, 0x40, 0x1C, 0, 0, 0, 0, 0, 0], // 7.0
        &[0x00, 0x00, 0x09],
    ]
    .concat();
    let map = AmfObject::from_pairs([("*", Amf0Value::Number(4.0)), ("vp09", 3.0.into())]);
    let object = AmfObject::from_pairs([
        (
            "fourCcList",
            Amf0Value::StrictArray(vec!["av01".into(), "vp09".into(), "hvc1".into()]),
        ),
        ("videoFourCcInfoMap", Amf0Value::Object(map)),
        ("capsEx", 7.0.into()),
    ]);
    golden(&bytes, Amf0Value::Object(object));
}

#[test]
fn nesting_100000_deep_is_rejected_at_the_limit() {
    const LEVELS: usize = 100_000;
    // Objects: each level is `03 00 01 'a'` (4 bytes), so depth 65 starts at offset 260.
    let objects = [0x03, 0x00, 0x01, b'a'].repeat(LEVELS);
    rejects(&objects, AmfError::DepthExceeded { limit: 64, offset: 260 });
    // Strict arrays of one item: 5 bytes a level.
    let arrays = [0x0A, 0, 0, 0, 1].repeat(LEVELS);
    rejects(&arrays, AmfError::DepthExceeded { limit: 64, offset: 325 });
    // ECMA arrays of one entry `a`: 8 bytes a level.
    let ecma = [0x08, 0, 0, 0, 1, 0x00, 0x01, b'a'].repeat(LEVELS);
    rejects(&ecma, AmfError::DepthExceeded { limit: 64, offset: 520 });
    // Typed objects nest the same way.
    let typed = [0x10, 0x00, 0x00, 0x00, 0x01, b'a'].repeat(LEVELS);
    rejects(&typed, AmfError::DepthExceeded { limit: 64, offset: 390 });
}

#[test]
fn depth_limit_is_inclusive() {
    let limits = Limits { max_depth: 2, ..Limits::default() };
    // [[null]]: the null is at depth 2.
    let ok = [0x0A, 0, 0, 0, 1, 0x0A, 0, 0, 0, 1, 0x05];
    assert!(decode_all(&ok, &limits).is_ok());
    // [[[null]]]: the null would be at depth 3.
    let deep = [0x0A, 0, 0, 0, 1, 0x0A, 0, 0, 0, 1, 0x0A, 0, 0, 0, 1, 0x05];
    assert_eq!(decode_all(&deep, &limits), Err(AmfError::DepthExceeded { limit: 2, offset: 15 }));
}

#[test]
fn huge_counts_do_not_allocate() {
    // Strict array claiming 2^32 - 1 items with 3 bytes behind it.
    rejects(
        &[0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05, 0x05, 0x05],
        AmfError::UnexpectedEof { offset: 8, needed: 1 },
    );
    // ECMA arrays: the count is ignored; entries are read up to the terminator.
    golden(
        &[0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01, b'a', 0x05, 0x00, 0x00, 0x09],
        Amf0Value::EcmaArray {
            count: u32::MAX,
            entries: AmfObject::from_pairs([("a", Amf0Value::Null)]),
        },
    );
    // FFmpeg-style count that does not match (0 declared, 1 present).
    golden(
        &[0x08, 0, 0, 0, 0, 0x00, 0x01, b'a', 0x05, 0x00, 0x00, 0x09],
        Amf0Value::EcmaArray { count: 0, entries: AmfObject::from_pairs([("a", Amf0Value::Null)]) },
    );
    // Long string and XML claiming 4 GiB: refused on the length alone.
    let too_long = AmfError::StringTooLong { len: u32::MAX as usize, limit: 1 << 20, offset: 1 };
    rejects(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF, b'a'], too_long.clone());
    rejects(&[0x0F, 0xFF, 0xFF, 0xFF, 0xFF, b'a'], too_long);
    // Within the limit but not present.
    rejects(
        &[0x0C, 0x00, 0x00, 0x10, 0x00, b'a'],
        AmfError::UnexpectedEof { offset: 5, needed: 4096 },
    );
}

#[test]
fn ecma_array_terminator_may_be_missing_at_end_of_input() {
    let bytes = [0x08, 0, 0, 0, 1, 0x00, 0x01, b'a', 0x05];
    let value =
        Amf0Value::EcmaArray { count: 1, entries: AmfObject::from_pairs([("a", Amf0Value::Null)]) };
    assert_eq!(decode_default(&bytes), Ok(vec![value.clone()]));
    assert_eq!(encoded(&[value]), [&bytes[..], &[0x00, 0x00, 0x09]].concat());
    // A cut terminator or a cut key is still an error, and objects get no leniency.
    rejects(&[0x08, 0, 0, 0, 1, 0x00, 0x00], AmfError::UnexpectedEof { offset: 7, needed: 1 });
    rejects(&[0x08, 0, 0, 0, 1, 0x00], AmfError::UnexpectedEof { offset: 5, needed: 2 });
    rejects(&[0x03, 0x00, 0x01, b'a', 0x05], AmfError::UnexpectedEof { offset: 5, needed: 2 });
}

#[test]
fn invalid_utf8_in_strings_and_keys() {
    // 0xC3 0x28: a lead byte followed by a non-continuation byte.
    rejects(&[0x02, 0x00, 0x02, 0xC3, 0x28], AmfError::InvalidUtf8 { offset: 3 });
    rejects(&[0x0C, 0, 0, 0, 2, b'a', 0xFF], AmfError::InvalidUtf8 { offset: 6 });
    rejects(
        &[0x03, 0x00, 0x02, b'a', 0xFF, 0x05, 0x00, 0x00, 0x09],
        AmfError::InvalidUtf8 { offset: 4 },
    );
    rejects(&[0x10, 0x00, 0x01, 0xED, 0x00, 0x00, 0x09], AmfError::InvalidUtf8 { offset: 3 });
    // Surrogates encoded as UTF-8 (CESU) are not UTF-8.
    rejects(&[0x02, 0x00, 0x03, 0xED, 0xA0, 0x80], AmfError::InvalidUtf8 { offset: 3 });
}

#[test]
fn string_longer_than_the_limit() {
    let limits = Limits { max_string_len: 4, ..Limits::default() };
    let bytes = [0x02, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o'];
    assert_eq!(
        decode_all(&bytes, &limits),
        Err(AmfError::StringTooLong { len: 5, limit: 4, offset: 1 })
    );
    let key = [0x03, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o', 0x05, 0x00, 0x00, 0x09];
    assert_eq!(
        decode_all(&key, &limits),
        Err(AmfError::StringTooLong { len: 5, limit: 4, offset: 1 })
    );
    assert!(decode_all(&[0x02, 0x00, 0x04, b'h', b'e', b'l', b'l'], &limits).is_ok());
}

#[test]
fn references_to_objects_not_yet_seen() {
    rejects(
        &[0x07, 0x00, 0x00],
        AmfError::InvalidObjectReference { index: 0, table_len: 0, offset: 0 },
    );
    rejects(
        &[0x03, 0x00, 0x01, b'a', 0x07, 0x00, 0x01, 0x00, 0x00, 0x09],
        AmfError::InvalidObjectReference { index: 1, table_len: 1, offset: 4 },
    );
    // The table spans the whole message: a later value may refer to an earlier one.
    let bytes = [0x03, 0x00, 0x00, 0x09, 0x07, 0x00, 0x00];
    assert_eq!(
        decode_default(&bytes),
        Ok(vec![Amf0Value::Object(AmfObject::new()), Amf0Value::Reference(0)])
    );
}

#[test]
fn max_elements_per_top_level_value() {
    let limits = Limits { max_elements: 5, ..Limits::default() };
    // [null × 10]: the array is element 1, the nulls at offsets 5.. are 2..; the fifth
    // null (offset 9) is element 6.
    let mut bytes = vec![0x0A, 0, 0, 0, 10];
    bytes.extend_from_slice(&[0x05; 10]);
    assert_eq!(decode_all(&bytes, &limits), Err(AmfError::TooManyElements { limit: 5, offset: 9 }));
    // The budget is per top-level value.
    let two = [0x0A, 0, 0, 0, 4, 5, 5, 5, 5, 0x0A, 0, 0, 0, 4, 5, 5, 5, 5];
    assert_eq!(decode_all(&two, &limits).map(|v| v.len()), Ok(2));
    // Text weighs one element per 64 bytes: a 300-byte string is 1 + 4 elements.
    let mut long = vec![0x02, 0x01, 0x2C];
    long.extend_from_slice(&[b'x'; 300]);
    assert!(decode_all(&long, &limits).is_ok());
    let limits = Limits { max_elements: 4, ..limits };
    assert_eq!(decode_all(&long, &limits), Err(AmfError::TooManyElements { limit: 4, offset: 1 }));
}

#[test]
fn decoder_cursor() {
    let bytes = [0x05, 0x01, 0x01, 0x06];
    let mut decoder = Amf0Decoder::new(&bytes, Limits::default());
    assert_eq!(decoder.decode(), Ok(Amf0Value::Null));
    assert_eq!(decoder.position(), 1);
    assert_eq!(decoder.remaining(), &[0x01, 0x01, 0x06]);
    assert_eq!(decoder.decode(), Ok(Amf0Value::Boolean(true)));
    assert!(!decoder.is_empty());
    assert_eq!(decoder.decode(), Ok(Amf0Value::Undefined));
    assert!(decoder.is_empty());
    assert_eq!(decoder.decode(), Err(AmfError::UnexpectedEof { offset: 4, needed: 1 }));
    assert_eq!(decode_default(&[]), Ok(vec![]));
}

#[test]
fn encoder_truncates_overlong_keys_at_char_boundaries() {
    let key = format!("{}é", "k".repeat(65_534)); // 65,536 bytes; 'é' straddles the limit
    let value = Amf0Value::Object(AmfObject::from_pairs([(key, Amf0Value::Null)]));
    let bytes = encoded(&[value]);
    assert_eq!(bytes[1..3], [0xFF, 0xFE]);
    let decoded = decode_default(&bytes).unwrap();
    let (key, _) = decoded[0].as_object().unwrap().iter().next().unwrap();
    assert_eq!(key.len(), 65_534);
}

#[test]
fn amf3_values_convert_to_amf0() {
    let object = Amf3Object {
        class_name: String::new(),
        dynamic: true,
        sealed: vec![("a".into(), Amf3Value::Integer(1))],
        dynamic_members: vec![("b".into(), Amf3Value::String("x".into()))],
    };
    assert_eq!(
        Amf3Value::Object(object.clone()).to_amf0(),
        Amf0Value::Object(AmfObject::from_pairs([("a", 1.0.into()), ("b", "x".into())]))
    );
    let typed = Amf3Value::Object(Amf3Object { class_name: "Foo".into(), ..object });
    assert!(matches!(
        typed.to_amf0(),
        Amf0Value::TypedObject { class_name, properties }
            if class_name == "Foo" && properties.len() == 2
    ));
    let array = Amf3Value::Array {
        assoc: vec![("k".into(), Amf3Value::Null)],
        dense: vec![Amf3Value::Boolean(true)],
    };
    assert_eq!(
        array.to_amf0(),
        Amf0Value::EcmaArray {
            count: 2,
            entries: AmfObject::from_pairs([("0", true.into()), ("k", Amf0Value::Null)]),
        }
    );
    let dense = Amf3Value::Array { assoc: vec![], dense: vec![Amf3Value::Double(2.5)] };
    assert_eq!(dense.to_amf0(), Amf0Value::StrictArray(vec![2.5.into()]));
    let vector = Amf3Value::VectorUint { fixed: false, items: vec![7] };
    assert_eq!(vector.to_amf0(), Amf0Value::StrictArray(vec![7.0.into()]));
    let dictionary = Amf3Value::Dictionary {
        weak_keys: false,
        entries: vec![
            (Amf3Value::Integer(3), Amf3Value::Null),
            (Amf3Value::Null, Amf3Value::Null),
            (Amf3Value::String("s".into()), Amf3Value::Undefined),
        ],
    };
    assert_eq!(
        dictionary.to_amf0(),
        Amf0Value::EcmaArray {
            count: 2,
            entries: AmfObject::from_pairs([("3", Amf0Value::Null), ("s", Amf0Value::Undefined)]),
        }
    );
    assert_eq!(Amf3Value::Date(5.0).to_amf0(), Amf0Value::Date { millis: 5.0, time_zone: 0 });
    assert_eq!(Amf3Value::ByteArray(vec![1].into()).to_amf0(), Amf0Value::Unsupported);
    assert_eq!(Amf3Value::Xml("<a/>".into()).to_amf0(), Amf0Value::XmlDocument("<a/>".into()));
    assert_eq!(Amf0Value::Avmplus(Amf3Value::Integer(4)).into_amf0(), Amf0Value::Number(4.0));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary values survive encode → decode, and the bytes survive decode → encode.
    #[test]
    fn values_round_trip(mut values in prop::collection::vec(amf0_value(), 0..4)) {
        fix_references(&mut values);
        let bytes = encoded(&values);
        let decoded = decode_default(&bytes);
        prop_assert_eq!(decoded.as_ref(), Ok(&values));
        prop_assert_eq!(encoded(&decoded.unwrap_or_default()), bytes);
    }

    /// Any double, NaN payloads included, is carried bit for bit.
    #[test]
    fn numbers_round_trip_bit_exact(bits in any::<u64>()) {
        let mut bytes = vec![0x00];
        bytes.extend_from_slice(&bits.to_be_bytes());
        let values = decode_default(&bytes).unwrap();
        prop_assert_eq!(encoded(&values), bytes);
    }

    /// Arbitrary bytes never panic; whatever decodes re-encodes to bytes that decode to
    /// the same thing (compared as bytes so NaN counts as equal to itself).
    #[test]
    fn arbitrary_bytes_are_stable(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(values) = decode_default(&bytes) {
            let first = encoded(&values);
            let again = decode_default(&first).unwrap();
            prop_assert_eq!(encoded(&again), first);
        }
    }

    /// A prefix of a valid encoding either fails or decodes to values whose encoding starts
    /// with the prefix (values cut at a boundary, or ECMA arrays that lost their terminator).
    #[test]
    fn truncations_fail_cleanly(
        mut values in prop::collection::vec(amf0_value(), 1..3),
        cut in any::<prop::sample::Index>(),
    ) {
        fix_references(&mut values);
        let bytes = encoded(&values);
        let prefix = &bytes[..cut.index(bytes.len())];
        if let Ok(decoded) = decode_default(prefix) {
            prop_assert!(encoded(&decoded).starts_with(prefix));
        }
    }
}
