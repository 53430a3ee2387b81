//! Proptest strategies for arbitrary AMF values (tests only).

use bytes::Bytes;
use proptest::prelude::*;

use crate::amf3::{MAX_INTEGER, MIN_INTEGER};
use crate::{Amf0Value, Amf3Object, Amf3Value, AmfObject};

/// Any double but NaN (NaN != NaN would defeat value equality; byte-level tests cover it).
fn number() -> impl Strategy<Value = f64> + Clone {
    any::<f64>().prop_filter("NaN", |n| !n.is_nan())
}

fn text() -> impl Strategy<Value = String> + Clone {
    ".{0,6}"
}

fn key() -> impl Strategy<Value = String> + Clone {
    ".{1,6}"
}

/// AMF3 values the encoder writes back as themselves: integers in the 29-bit range, no NaN,
/// dynamic members only on dynamic objects, no empty array keys or dynamic member names.
pub(crate) fn amf3_value() -> impl Strategy<Value = Amf3Value> {
    let leaf = prop_oneof![
        Just(Amf3Value::Undefined),
        Just(Amf3Value::Null),
        any::<bool>().prop_map(Amf3Value::Boolean),
        (MIN_INTEGER..=MAX_INTEGER).prop_map(Amf3Value::Integer),
        number().prop_map(Amf3Value::Double),
        text().prop_map(Amf3Value::String),
        text().prop_map(Amf3Value::XmlDocument),
        text().prop_map(Amf3Value::Xml),
        number().prop_map(Amf3Value::Date),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(|b| Amf3Value::ByteArray(Bytes::from(b))),
        (any::<bool>(), prop::collection::vec(any::<i32>(), 0..4))
            .prop_map(|(fixed, items)| Amf3Value::VectorInt { fixed, items }),
        (any::<bool>(), prop::collection::vec(any::<u32>(), 0..4))
            .prop_map(|(fixed, items)| Amf3Value::VectorUint { fixed, items }),
        (any::<bool>(), prop::collection::vec(number(), 0..4))
            .prop_map(|(fixed, items)| Amf3Value::VectorDouble { fixed, items }),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        let pairs = prop::collection::vec((key(), inner.clone()), 0..4);
        prop_oneof![
            (pairs.clone(), prop::collection::vec(inner.clone(), 0..4))
                .prop_map(|(assoc, dense)| Amf3Value::Array { assoc, dense }),
            (text(), any::<bool>(), prop::collection::vec((text(), inner.clone()), 0..4), pairs)
                .prop_map(|(class_name, dynamic, sealed, dynamic_members)| {
                    let dynamic_members = if dynamic { dynamic_members } else { Vec::new() };
                    Amf3Value::Object(Amf3Object { class_name, dynamic, sealed, dynamic_members })
                }),
            (any::<bool>(), text(), prop::collection::vec(inner.clone(), 0..4)).prop_map(
                |(fixed, type_name, items)| Amf3Value::VectorObject { fixed, type_name, items }
            ),
            (any::<bool>(), prop::collection::vec((inner.clone(), inner), 0..3))
                .prop_map(|(weak_keys, entries)| Amf3Value::Dictionary { weak_keys, entries }),
        ]
    })
}

/// AMF0 values the encoder writes back as themselves (short `String`s, no NaN); references
/// may point anywhere, so pass the result through [`fix_references`].
pub(crate) fn amf0_value() -> impl Strategy<Value = Amf0Value> {
    let leaf = prop_oneof![
        number().prop_map(Amf0Value::Number),
        any::<bool>().prop_map(Amf0Value::Boolean),
        text().prop_map(Amf0Value::String),
        Just(Amf0Value::Null),
        Just(Amf0Value::Undefined),
        any::<u16>().prop_map(Amf0Value::Reference),
        (number(), any::<i16>())
            .prop_map(|(millis, time_zone)| Amf0Value::Date { millis, time_zone }),
        text().prop_map(Amf0Value::LongString),
        Just(Amf0Value::Unsupported),
        text().prop_map(Amf0Value::XmlDocument),
        amf3_value().prop_map(Amf0Value::Avmplus),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        // Keys may be empty: "" followed by a value is a property, not the object end.
        let object =
            prop::collection::vec((text(), inner.clone()), 0..4).prop_map(AmfObject::from_pairs);
        prop_oneof![
            object.clone().prop_map(Amf0Value::Object),
            (any::<u32>(), object.clone())
                .prop_map(|(count, entries)| Amf0Value::EcmaArray { count, entries }),
            prop::collection::vec(inner, 0..4).prop_map(Amf0Value::StrictArray),
            (text(), object).prop_map(|(class_name, properties)| Amf0Value::TypedObject {
                class_name,
                properties
            }),
        ]
    })
}

/// Rewrites every reference to name a complex value begun before it (in encoding order), or
/// to `Null` when there is none, so that the values decode.
pub(crate) fn fix_references(values: &mut [Amf0Value]) {
    let mut seen = 0u16;
    for value in values {
        fix(value, &mut seen);
    }
}

fn fix(value: &mut Amf0Value, seen: &mut u16) {
    match value {
        Amf0Value::Reference(_) if *seen == 0 => *value = Amf0Value::Null,
        Amf0Value::Reference(index) => *index %= *seen,
        Amf0Value::Object(object)
        | Amf0Value::EcmaArray { entries: object, .. }
        | Amf0Value::TypedObject { properties: object, .. } => {
            *seen += 1;
            let mut pairs = std::mem::take(object).into_pairs();
            pairs.iter_mut().for_each(|(_, v)| fix(v, seen));
            *object = AmfObject::from_pairs(pairs);
        }
        Amf0Value::StrictArray(items) => {
            *seen += 1;
            items.iter_mut().for_each(|v| fix(v, seen));
        }
        _ => {}
    }
}
