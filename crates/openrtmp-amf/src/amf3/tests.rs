//! AMF3 golden vectors, reference handling, bad-input cases and round-trip properties.
//!
//! Every vector was written by hand from the grammar of the AMF3 specification (section
//! cited); U29 headers are worked out in the comment next to them.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::strategy::amf3_value;
use crate::{Amf3Object, Amf3Value, AmfError, Limits};

fn decode_default(bytes: &[u8]) -> Result<Amf3Value, AmfError> {
    decode(bytes, &Limits::default())
}

fn encoded(value: &Amf3Value) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(value, &mut out);
    out.to_vec()
}

/// `bytes` decodes to `value`, and `value` encodes to exactly `bytes` (for vectors written
/// without references).
#[track_caller]
fn golden(bytes: &[u8], value: Amf3Value) {
    assert_eq!(decode_default(bytes), Ok(value.clone()));
    assert_eq!(encoded(&value), bytes);
}

#[track_caller]
fn rejects(bytes: &[u8], error: AmfError) {
    assert_eq!(decode_default(bytes), Err(error));
}

fn dense(items: Vec<Amf3Value>) -> Amf3Value {
    Amf3Value::Array { assoc: vec![], dense: items }
}

fn string(s: &str) -> Amf3Value {
    Amf3Value::String(s.into())
}

fn anonymous(members: &[(&str, Amf3Value)]) -> Amf3Value {
    Amf3Value::Object(Amf3Object {
        class_name: String::new(),
        dynamic: true,
        sealed: vec![],
        dynamic_members: members.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
    })
}

#[test]
fn scalars() {
    golden(&[0x00], Amf3Value::Undefined); // §3.2
    golden(&[0x01], Amf3Value::Null); // §3.3
    golden(&[0x02], Amf3Value::Boolean(false)); // §3.4
    golden(&[0x03], Amf3Value::Boolean(true)); // §3.5
    golden(&[0x05, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0], Amf3Value::Double(1.5)); // §3.7
}

/// §3.6 with the U29 forms of §1.3.1 and sign extension from bit 28.
#[test]
fn integers() {
    golden(&[0x04, 0x00], Amf3Value::Integer(0));
    golden(&[0x04, 0x7F], Amf3Value::Integer(127));
    golden(&[0x04, 0x81, 0x00], Amf3Value::Integer(128)); // 1_0000000
    golden(&[0x04, 0xFF, 0x7F], Amf3Value::Integer(0x3FFF));
    golden(&[0x04, 0x81, 0x80, 0x00], Amf3Value::Integer(0x4000));
    golden(&[0x04, 0x80, 0xC0, 0x80, 0x00], Amf3Value::Integer(0x20_0000)); // 4-byte form
    golden(&[0x04, 0xBF, 0xFF, 0xFF, 0xFF], Amf3Value::Integer(MAX_INTEGER)); // 0x0FFFFFFF
    golden(&[0x04, 0xFF, 0xFF, 0xFF, 0xFF], Amf3Value::Integer(-1)); // 0x1FFFFFFF
    golden(&[0x04, 0xC0, 0x80, 0x80, 0x00], Amf3Value::Integer(MIN_INTEGER)); // 0x10000000
                                                                              // The 4th byte carries 8 bits, continuation bit included.
    assert_eq!(decode_default(&[0x04, 0x80, 0x80, 0x80, 0xFF]), Ok(Amf3Value::Integer(0xFF)));
    // Non-canonical (padded) forms decode too.
    assert_eq!(decode_default(&[0x04, 0x80, 0x05]), Ok(Amf3Value::Integer(5)));
    // Out of the 29-bit range: written as a double, like Flash Player (§3.6).
    let big = MAX_INTEGER + 1;
    assert_eq!(
        encoded(&Amf3Value::Integer(big)),
        [&[0x05][..], &f64::from(big).to_be_bytes()].concat()
    );
    assert_eq!(encoded(&Amf3Value::Integer(i32::MIN))[0], 0x05);
    rejects(&[0x04, 0x80, 0x80, 0x80], AmfError::UnexpectedEof { offset: 4, needed: 1 });
}

#[test]
fn strings_and_string_references() {
    // §3.8, U29S-value (3<<1)|1 = 07.
    golden(&[0x06, 0x07, b'a', b'b', b'c'], string("abc"));
    // UTF-8-empty.
    golden(&[0x06, 0x01], string(""));
    // ["abc", ref 0]: U29A-value (2<<1)|1 = 05, empty assoc 01, U29S-ref 0<<1 = 00.
    let bytes = [0x09, 0x05, 0x01, 0x06, 0x07, b'a', b'b', b'c', 0x06, 0x00];
    assert_eq!(decode_default(&bytes), Ok(dense(vec![string("abc"), string("abc")])));
    // The empty string is never in the table: ["", "ab", ref 0] refers to "ab".
    let bytes = [0x09, 0x07, 0x01, 0x06, 0x01, 0x06, 0x05, b'a', b'b', 0x06, 0x00];
    assert_eq!(decode_default(&bytes), Ok(dense(vec![string(""), string("ab"), string("ab")])));
    // Keys share the table with values: {ab: ref 0}.
    let bytes = [0x0A, 0x0B, 0x01, 0x05, b'a', b'b', 0x06, 0x00, 0x01];
    assert_eq!(decode_default(&bytes), Ok(anonymous(&[("ab", string("ab"))])));
}

#[test]
fn xml_date_bytearray() {
    golden(&[0x07, 0x09, b'<', b'a', b'/', b'>'], Amf3Value::XmlDocument("<a/>".into())); // §3.9
    golden(&[0x0B, 0x09, b'<', b'a', b'/', b'>'], Amf3Value::Xml("<a/>".into())); // §3.13
    golden(&[0x08, 0x01, 0x40, 0x8F, 0x40, 0, 0, 0, 0, 0], Amf3Value::Date(1000.0)); // §3.10
    golden(&[0x0C, 0x07, 1, 2, 3], Amf3Value::ByteArray(Bytes::from_static(&[1, 2, 3]))); // §3.14
                                                                                          // XML text is not in the string table: ["<a/>" as XML, string ref 0] is invalid.
    let bytes = [0x09, 0x05, 0x01, 0x0B, 0x09, b'<', b'a', b'/', b'>', 0x06, 0x00];
    rejects(&bytes, AmfError::InvalidStringReference { index: 0, table_len: 0, offset: 10 });
    // [date, ref 1]: the date is object 1 (the array is 0), U29O-ref 1<<1 = 02.
    let bytes = [0x09, 0x05, 0x01, 0x08, 0x01, 0x40, 0x8F, 0x40, 0, 0, 0, 0, 0, 0x08, 0x02];
    assert_eq!(
        decode_default(&bytes),
        Ok(dense(vec![Amf3Value::Date(1000.0), Amf3Value::Date(1000.0)]))
    );
}

#[test]
fn arrays() {
    // §3.11: dense 1 (03), assoc a: 1, end (01), then "b".
    golden(
        &[0x09, 0x03, 0x03, b'a', 0x04, 0x01, 0x01, 0x06, 0x03, b'b'],
        Amf3Value::Array {
            assoc: vec![("a".into(), Amf3Value::Integer(1))],
            dense: vec![string("b")],
        },
    );
    golden(&[0x09, 0x01, 0x01], dense(vec![]));
}

#[test]
fn objects_and_traits() {
    // §3.12 anonymous dynamic object: U29O-traits 0b1011 (inline object, inline traits,
    // not externalizable, dynamic, 0 sealed) = 0B, class "" 01, a: 1, end 01.
    golden(
        &[0x0A, 0x0B, 0x01, 0x03, b'a', 0x04, 0x01, 0x01],
        anonymous(&[("a", Amf3Value::Integer(1))]),
    );
    // Typed sealed object Foo {x: 5}: 1 sealed, not dynamic: (1<<4)|0b0011 = 13.
    let foo = |x| {
        Amf3Value::Object(Amf3Object {
            class_name: "Foo".into(),
            dynamic: false,
            sealed: vec![("x".into(), Amf3Value::Integer(x))],
            dynamic_members: vec![],
        })
    };
    golden(&[0x0A, 0x13, 0x07, b'F', b'o', b'o', 0x03, b'x', 0x04, 0x05], foo(5));
    // [Foo{x:1}, Foo{x:2} by traits reference 0]: U29O-traits-ref (0<<2)|0b01 = 01.
    let bytes = [
        0x09, 0x05, 0x01, 0x0A, 0x13, 0x07, b'F', b'o', b'o', 0x03, b'x', 0x04, 0x01, 0x0A, 0x01,
        0x04, 0x02,
    ];
    assert_eq!(decode_default(&bytes), Ok(dense(vec![foo(1), foo(2)])));
    // Sealed and dynamic members together: (1<<4)|0b1011 = 1B.
    golden(
        &[0x0A, 0x1B, 0x01, 0x03, b's', 0x02, 0x03, b'd', 0x03, 0x01],
        Amf3Value::Object(Amf3Object {
            class_name: String::new(),
            dynamic: true,
            sealed: vec![("s".into(), Amf3Value::Boolean(false))],
            dynamic_members: vec![("d".into(), Amf3Value::Boolean(true))],
        }),
    );
}

#[test]
fn object_references_resolve_to_copies() {
    // [X, ref X, "z", ref "z"] with X = {a: "bc"}: the array is object 0, X object 1.
    // Decoding ref X again must not add X's strings ("a", "bc") to the table a second
    // time, or string ref 2 would name "a" instead of "z".
    let bytes = [
        0x09, 0x09, 0x01, // array, dense 4, no assoc
        0x0A, 0x0B, 0x01, 0x03, b'a', 0x06, 0x05, b'b', b'c', 0x01, // X
        0x0A, 0x02, // object ref 1
        0x06, 0x03, b'z', // "z" is string 2
        0x06, 0x04, // string ref 2
    ];
    let x = anonymous(&[("a", string("bc"))]);
    assert_eq!(decode_default(&bytes), Ok(dense(vec![x.clone(), x, string("z"), string("z")])));
    // Nor traits: ref X then an object by traits ref 1 (never defined) is invalid.
    let bytes = [0x09, 0x07, 0x01, 0x0A, 0x0B, 0x01, 0x01, 0x0A, 0x02, 0x0A, 0x05];
    rejects(&bytes, AmfError::InvalidTraitReference { index: 1, table_len: 1, offset: 9 });
}

#[test]
fn vectors_and_dictionary() {
    // §3.15: 2 items (05), not fixed, 1 and -1.
    golden(
        &[0x0D, 0x05, 0x00, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF],
        Amf3Value::VectorInt { fixed: false, items: vec![1, -1] },
    );
    golden(
        &[0x0E, 0x03, 0x01, 0xFF, 0xFF, 0xFF, 0xFF],
        Amf3Value::VectorUint { fixed: true, items: vec![u32::MAX] },
    );
    golden(
        &[0x0F, 0x03, 0x00, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0],
        Amf3Value::VectorDouble { fixed: false, items: vec![1.5] },
    );
    // Vector.<*> of [null, 3]: type name "*" (03 2A).
    golden(
        &[0x10, 0x05, 0x00, 0x03, b'*', 0x01, 0x04, 0x03],
        Amf3Value::VectorObject {
            fixed: false,
            type_name: "*".into(),
            items: vec![Amf3Value::Null, Amf3Value::Integer(3)],
        },
    );
    // §3.16: 1 entry (03), weak keys, "k" => 1.
    golden(
        &[0x11, 0x03, 0x01, 0x06, 0x03, b'k', 0x04, 0x01],
        Amf3Value::Dictionary {
            weak_keys: true,
            entries: vec![(string("k"), Amf3Value::Integer(1))],
        },
    );
}

#[test]
fn externalizable_and_circular_objects_are_rejected() {
    // U29O-traits-ext 0b0111 = 07, class "Foo".
    rejects(
        &[0x0A, 0x07, 0x07, b'F', b'o', b'o', 0xDE, 0xAD],
        AmfError::Externalizable { class: "Foo".into(), offset: 0 },
    );
    // {a: ref 0}: the object refers to itself while being decoded.
    rejects(
        &[0x0A, 0x0B, 0x01, 0x03, b'a', 0x0A, 0x00, 0x01],
        AmfError::CircularReference { index: 0, offset: 6 },
    );
}

#[test]
fn invalid_references() {
    rejects(&[0x06, 0x00], AmfError::InvalidStringReference { index: 0, table_len: 0, offset: 1 });
    rejects(&[0x09, 0x00], AmfError::InvalidObjectReference { index: 0, table_len: 0, offset: 1 });
    rejects(&[0x0C, 0x04], AmfError::InvalidObjectReference { index: 2, table_len: 0, offset: 1 });
    rejects(&[0x0A, 0x01], AmfError::InvalidTraitReference { index: 0, table_len: 0, offset: 0 });
}

#[test]
fn huge_declared_lengths_do_not_allocate() {
    // U29 0x1FFFFFFF: inline, 2^28 - 1 dense items, then nothing but the assoc terminator.
    rejects(
        &[0x09, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        AmfError::UnexpectedEof { offset: 6, needed: 1 },
    );
    rejects(
        &[0x0D, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 1, 2],
        AmfError::UnexpectedEof { offset: 6, needed: 4 },
    );
    rejects(
        &[0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01],
        AmfError::UnexpectedEof { offset: 7, needed: 1 },
    );
    rejects(
        &[0x11, 0xFF, 0xFF, 0xFF, 0xFF, 0x00],
        AmfError::UnexpectedEof { offset: 6, needed: 1 },
    );
    // 2^25 - 1 sealed member names declared (0xFFFFFFF3 → bits 0x1FFFFFF3 has the ext bit
    // clear): the names run out.
    rejects(
        &[0x0A, 0xFF, 0xFF, 0xFF, 0xF3, 0x01],
        AmfError::UnexpectedEof { offset: 6, needed: 1 },
    );
    // Byte arrays, strings and XML are refused on their declared length.
    let too_long = AmfError::StringTooLong { len: (1 << 28) - 1, limit: 1 << 20, offset: 1 };
    rejects(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF], too_long.clone());
    rejects(&[0x06, 0xFF, 0xFF, 0xFF, 0xFF], too_long.clone());
    rejects(&[0x0B, 0xFF, 0xFF, 0xFF, 0xFF], too_long);
}

#[test]
fn nesting_100000_deep_is_rejected_at_the_limit() {
    const LEVELS: usize = 100_000;
    // Arrays of one dense item: `09 03 01`, 3 bytes a level.
    rejects(&[0x09, 0x03, 0x01].repeat(LEVELS), AmfError::DepthExceeded { limit: 64, offset: 195 });
    // Anonymous objects {a: …}: `0A 0B 01 03 61`, 5 bytes a level.
    rejects(
        &[0x0A, 0x0B, 0x01, 0x03, b'a'].repeat(LEVELS),
        AmfError::DepthExceeded { limit: 64, offset: 325 },
    );
    // Vectors of objects and dictionaries too.
    rejects(
        &[0x10, 0x03, 0x00, 0x01].repeat(LEVELS),
        AmfError::DepthExceeded { limit: 64, offset: 260 },
    );
    // Dictionaries {null: …}: the null key of the dictionary at depth 64 is the first value
    // at depth 65, at 4 × 64 + 3.
    rejects(
        &[0x11, 0x03, 0x00, 0x01].repeat(LEVELS),
        AmfError::DepthExceeded { limit: 64, offset: 259 },
    );
}

#[test]
fn string_reference_bomb_is_bounded() {
    // [s, ref s × 1000] with s 10,000 bytes: each reference copies 10 kB, about 156
    // elements, so the copies stop near 420 references instead of expanding to 10 MB.
    let mut bytes = vec![0x09, 0x8F, 0x53, 0x01]; // dense 1001: (1001<<1)|1 = 0x7D3
    bytes.extend_from_slice(&[0x06, 0x81, 0x9C, 0x21]); // U29S-value (10000<<1)|1 = 0x4E21
    bytes.extend_from_slice(&[b's'; 10_000]);
    bytes.extend_from_slice(&[0x06, 0x00].repeat(1000));
    assert!(matches!(decode_default(&bytes), Err(AmfError::TooManyElements { limit: 65_536, .. })));
    let limits = Limits { max_elements: 200_000, ..Limits::default() };
    assert!(decode(&bytes, &limits).is_ok());
}

#[test]
fn object_reference_bomb_is_bounded() {
    // A_k = [A_(k-1), ref A_(k-1)], 40 levels: 2^40 values if copies were free. The
    // outermost array is object 0, A_(k-1) inside A_k is object n-k+1.
    const N: u32 = 40;
    let mut bytes = vec![0x09, 0x01, 0x01]; // A_0 = []
    for k in 1..=N {
        let mut level = vec![0x09, 0x05, 0x01];
        level.extend_from_slice(&bytes);
        level.push(0x09);
        level.push(((N - k + 1) << 1) as u8); // U29O-ref, one byte below 64
        bytes = level;
    }
    let started = std::time::Instant::now();
    assert!(matches!(decode_default(&bytes), Err(AmfError::TooManyElements { .. })));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Small enough to fit: 4 levels is 2^5 - 1 = 31 arrays, plus 15 reference markers.
    let mut small = vec![0x09, 0x01, 0x01];
    for k in 1..=4u32 {
        small = [&[0x09, 0x05, 0x01][..], &small, &[0x09, ((4 - k + 1) << 1) as u8]].concat();
    }
    let limits = Limits { max_elements: 46, ..Limits::default() };
    assert!(decode(&small, &limits).is_ok());
    let limits = Limits { max_elements: 45, ..Limits::default() };
    assert!(matches!(decode(&small, &limits), Err(AmfError::TooManyElements { .. })));
}

#[test]
fn invalid_utf8() {
    rejects(&[0x06, 0x05, b'a', 0xFF], AmfError::InvalidUtf8 { offset: 3 });
    rejects(&[0x0A, 0x0B, 0x01, 0x03, 0xC0, 0x01, 0x01], AmfError::InvalidUtf8 { offset: 4 });
    rejects(&[0x09, 0x01, 0x03, 0x80, 0x01, 0x01], AmfError::InvalidUtf8 { offset: 3 });
    rejects(&[0x07, 0x03, 0xFE], AmfError::InvalidUtf8 { offset: 2 });
}

#[test]
fn unknown_markers_and_trailing_bytes() {
    for marker in 0x12..=0xFF {
        rejects(&[marker], AmfError::UnknownMarker { marker, offset: 0 });
    }
    rejects(&[0x01, 0x01, 0x01], AmfError::TrailingBytes { offset: 1, len: 2 });
    let mut decoder = Amf3Decoder::new(&[0x01, 0x03], Limits::default());
    assert_eq!(decoder.decode(), Ok(Amf3Value::Null));
    assert_eq!((decoder.position(), decoder.remaining()), (1, &[0x03][..]));
    assert_eq!(decoder.decode(), Ok(Amf3Value::Boolean(true)));
    assert!(decoder.is_empty());
}

#[test]
fn limits_on_strings_and_elements() {
    let limits = Limits { max_string_len: 2, ..Limits::default() };
    assert_eq!(
        decode(&[0x06, 0x07, b'a', b'b', b'c'], &limits),
        Err(AmfError::StringTooLong { len: 3, limit: 2, offset: 1 })
    );
    assert_eq!(
        decode(&[0x0C, 0x07, 1, 2, 3], &limits),
        Err(AmfError::StringTooLong { len: 3, limit: 2, offset: 1 })
    );
    // A vector's items count: the vector is element 1, items 2 and 3, the third item 4.
    let limits = Limits { max_elements: 3, ..Limits::default() };
    let bytes = [0x0D, 0x07, 0x00, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
    assert_eq!(decode(&bytes, &limits), Err(AmfError::TooManyElements { limit: 3, offset: 11 }));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn values_round_trip(value in amf3_value()) {
        let bytes = encoded(&value);
        prop_assert_eq!(decode_default(&bytes), Ok(value));
    }

    /// Arbitrary bytes never panic; whatever decodes re-encodes to bytes that decode to the
    /// same thing (compared as bytes so NaN counts as equal to itself).
    #[test]
    fn arbitrary_bytes_are_stable(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(value) = decode_default(&bytes) {
            let first = encoded(&value);
            let again = decode_default(&first).unwrap();
            prop_assert_eq!(encoded(&again), first);
        }
    }
}
