//! AMF value model shared by the AMF0 and AMF3 codecs.

use bytes::Bytes;

/// An AMF0 value (AMF0 spec §2). Every marker of §2.1 has a variant, except the
/// reserved `movieclip` (0x04) and `recordset` (0x0E) markers, which the decoder
/// rejects with [`crate::AmfError::ReservedMarker`].
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    /// number-marker 0x00 (§2.2): an IEEE-754 double.
    Number(f64),
    /// boolean-marker 0x01 (§2.3).
    Boolean(bool),
    /// string-marker 0x02 (§2.4): UTF-8, at most 65535 bytes on the wire. A longer string is
    /// encoded with the long-string marker.
    String(String),
    /// object-marker 0x03 (§2.5): anonymous object, keys in wire order.
    Object(AmfObject),
    /// null-marker 0x05 (§2.7).
    Null,
    /// undefined-marker 0x06 (§2.8).
    Undefined,
    /// reference-marker 0x07 (§2.9): index into the objects table of this message.
    /// Kept as-is (not resolved) so re-encoding is byte-exact.
    Reference(u16),
    /// ecma-array-marker 0x08 (§2.10): associative array. `count` is the declared
    /// associative-count, kept for byte-exact re-encoding (encoders such as FFmpeg write 0).
    EcmaArray {
        /// The associative-count as declared on the wire.
        count: u32,
        /// Entries in wire order.
        entries: AmfObject,
    },
    /// strict-array-marker 0x0A (§2.12).
    StrictArray(Vec<Amf0Value>),
    /// date-marker 0x0B (§2.13): milliseconds since the Unix epoch, and the reserved
    /// time-zone field (should be 0).
    Date {
        /// Milliseconds since 1970-01-01T00:00:00Z (UTC).
        millis: f64,
        /// The reserved time-zone S16, kept for byte-exact re-encoding.
        time_zone: i16,
    },
    /// long-string-marker 0x0C (§2.14): UTF-8 with a 32-bit length.
    LongString(String),
    /// unsupported-marker 0x0D (§2.15).
    Unsupported,
    /// xml-document-marker 0x0F (§2.17): a long string holding XML.
    XmlDocument(String),
    /// typed-object-marker 0x10 (§2.18): class name then properties like an object.
    TypedObject {
        /// The registered class name.
        class_name: String,
        /// Properties in wire order.
        properties: AmfObject,
    },
    /// avmplus-object-marker 0x11 (§3.1): the value that follows is AMF3.
    Avmplus(Amf3Value),
}

/// An AMF3 value (AMF3 spec §3). Traits, strings and objects sent by reference are
/// resolved by the decoder, so a value here is always self-contained.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf3Value {
    /// undefined-marker 0x00.
    Undefined,
    /// null-marker 0x01.
    Null,
    /// false-marker 0x02 / true-marker 0x03.
    Boolean(bool),
    /// integer-marker 0x04: a 29-bit signed integer (U29).
    Integer(i32),
    /// double-marker 0x05.
    Double(f64),
    /// string-marker 0x06.
    String(String),
    /// xml-doc-marker 0x07.
    XmlDocument(String),
    /// date-marker 0x08: milliseconds since the Unix epoch.
    Date(f64),
    /// array-marker 0x09: associative part (in wire order) then dense part.
    Array {
        /// Name/value pairs before the empty-string terminator.
        assoc: Vec<(String, Amf3Value)>,
        /// The dense (ordinal) part.
        dense: Vec<Amf3Value>,
    },
    /// object-marker 0x0A.
    Object(Amf3Object),
    /// xml-marker 0x0B.
    Xml(String),
    /// byte-array-marker 0x0C.
    ByteArray(Bytes),
    /// vector-int-marker 0x0D.
    VectorInt {
        /// fixed-vector flag.
        fixed: bool,
        /// Items.
        items: Vec<i32>,
    },
    /// vector-uint-marker 0x0E.
    VectorUint {
        /// fixed-vector flag.
        fixed: bool,
        /// Items.
        items: Vec<u32>,
    },
    /// vector-double-marker 0x0F.
    VectorDouble {
        /// fixed-vector flag.
        fixed: bool,
        /// Items.
        items: Vec<f64>,
    },
    /// vector-object-marker 0x10.
    VectorObject {
        /// fixed-vector flag.
        fixed: bool,
        /// The object-type-name ("*" for any).
        type_name: String,
        /// Items.
        items: Vec<Amf3Value>,
    },
    /// dictionary-marker 0x11.
    Dictionary {
        /// weak-keys flag.
        weak_keys: bool,
        /// Key/value pairs in wire order.
        entries: Vec<(Amf3Value, Amf3Value)>,
    },
}

/// An AMF3 object (AMF3 spec §3.12) with its traits resolved.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Amf3Object {
    /// Class name; empty for an anonymous object.
    pub class_name: String,
    /// Whether the traits are dynamic (dynamic members follow the sealed ones).
    pub dynamic: bool,
    /// Sealed members, in trait order.
    pub sealed: Vec<(String, Amf3Value)>,
    /// Dynamic members, in wire order.
    pub dynamic_members: Vec<(String, Amf3Value)>,
}

/// An AMF0 object body: properties in wire order (duplicates kept) so that a decoded
/// object re-encodes byte for byte.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AmfObject {
    entries: Vec<(String, Amf0Value)>,
}

impl AmfObject {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds an object from pairs, keeping their order.
    pub fn from_pairs<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Amf0Value)>) -> Self {
        Self { entries: pairs.into_iter().map(|(k, v)| (k.into(), v)).collect() }
    }

    /// The first value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key`: replaces the first existing value in place, or appends.
    pub fn insert(&mut self, key: impl Into<String>, value: Amf0Value) {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Appends a pair without looking for an existing key (wire order, duplicates allowed).
    pub fn push(&mut self, key: impl Into<String>, value: Amf0Value) {
        self.entries.push((key.into(), value));
    }

    /// Removes and returns the first value stored under `key`.
    pub fn remove(&mut self, key: &str) -> Option<Amf0Value> {
        let idx = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(idx).1)
    }

    /// Properties in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Amf0Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no properties.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The property list.
    pub fn into_pairs(self) -> Vec<(String, Amf0Value)> {
        self.entries
    }
}

impl Amf0Value {
    /// A string value (`String`, or `LongString` when longer than 65535 bytes).
    pub fn string(s: impl Into<String>) -> Self {
        let s = s.into();
        if s.len() > usize::from(u16::MAX) {
            Amf0Value::LongString(s)
        } else {
            Amf0Value::String(s)
        }
    }

    /// The number, for `Number` (and AMF3 `Integer`/`Double` behind `Avmplus`).
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Amf0Value::Number(n) => Some(*n),
            Amf0Value::Avmplus(Amf3Value::Double(n)) => Some(*n),
            Amf0Value::Avmplus(Amf3Value::Integer(n)) => Some(f64::from(*n)),
            _ => None,
        }
    }

    /// The text, for `String`, `LongString` (and AMF3 `String` behind `Avmplus`).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0Value::String(s) | Amf0Value::LongString(s) => Some(s),
            Amf0Value::Avmplus(Amf3Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The flag, for `Boolean` (and AMF3 booleans behind `Avmplus`).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Amf0Value::Boolean(b) | Amf0Value::Avmplus(Amf3Value::Boolean(b)) => Some(*b),
            _ => None,
        }
    }

    /// The properties, for `Object`, `EcmaArray` and `TypedObject`.
    /// (AMF3 objects behind `Avmplus` are first turned into AMF0 with [`Amf3Value::to_amf0`].)
    pub fn as_object(&self) -> Option<&AmfObject> {
        match self {
            Amf0Value::Object(o)
            | Amf0Value::EcmaArray { entries: o, .. }
            | Amf0Value::TypedObject { properties: o, .. } => Some(o),
            _ => None,
        }
    }

    /// Whether this is `Null` or `Undefined` (in AMF0 or behind `Avmplus`).
    pub fn is_null_or_undefined(&self) -> bool {
        matches!(
            self,
            Amf0Value::Null
                | Amf0Value::Undefined
                | Amf0Value::Avmplus(Amf3Value::Null | Amf3Value::Undefined)
        )
    }

    /// Replaces an `Avmplus` wrapper by the nearest AMF0 equivalent (see [`Amf3Value::to_amf0`]).
    pub fn into_amf0(self) -> Amf0Value {
        match self {
            Amf0Value::Avmplus(v) => v.to_amf0(),
            other => other,
        }
    }
}

impl From<f64> for Amf0Value {
    fn from(n: f64) -> Self {
        Amf0Value::Number(n)
    }
}
impl From<bool> for Amf0Value {
    fn from(b: bool) -> Self {
        Amf0Value::Boolean(b)
    }
}
impl From<&str> for Amf0Value {
    fn from(s: &str) -> Self {
        Amf0Value::string(s)
    }
}
impl From<String> for Amf0Value {
    fn from(s: String) -> Self {
        Amf0Value::string(s)
    }
}
impl From<AmfObject> for Amf0Value {
    fn from(o: AmfObject) -> Self {
        Amf0Value::Object(o)
    }
}

impl Amf3Value {
    /// The nearest AMF0 equivalent, for code that only understands AMF0 (such as a command
    /// parser reading a connect object sent after an avmplus switch).
    ///
    /// - `Undefined`, `Null`, `Boolean`: the same.
    /// - `Integer`, `Double`: `Number`.
    /// - `String`: `String`, or `LongString` beyond 65,535 bytes (see [`Amf0Value::string`]).
    /// - `XmlDocument`, `Xml`: `XmlDocument` (AMF0 §2.17 is the only XML type).
    /// - `Date(ms)`: `Date { millis: ms, time_zone: 0 }`.
    /// - `Array` without an associative part: `StrictArray`.
    /// - `Array` with an associative part: `EcmaArray` holding the dense items under keys
    ///   `"0"`, `"1"`, … (AMF0 §2.10 treats ordinal indices as string keys), then the
    ///   associative pairs; `count` is the number of entries.
    /// - `Object`: `Object` with the sealed then the dynamic members, or `TypedObject` if the
    ///   class name is not empty.
    /// - `VectorInt`, `VectorUint`, `VectorDouble`: `StrictArray` of `Number`.
    /// - `VectorObject`: `StrictArray` of the converted items.
    /// - `Dictionary`: `EcmaArray` keyed by the string form of the keys that are strings,
    ///   numbers or booleans (Flash Player serialises integer keys as strings, AMF3 §3.16);
    ///   entries with other keys are dropped.
    /// - `ByteArray`: `Unsupported` (AMF0 has no binary type; §2.15 is its "cannot be
    ///   serialised" marker).
    pub fn to_amf0(&self) -> Amf0Value {
        match self {
            Amf3Value::Undefined => Amf0Value::Undefined,
            Amf3Value::Null => Amf0Value::Null,
            Amf3Value::Boolean(b) => Amf0Value::Boolean(*b),
            Amf3Value::Integer(n) => Amf0Value::Number(f64::from(*n)),
            Amf3Value::Double(n) => Amf0Value::Number(*n),
            Amf3Value::String(s) => Amf0Value::string(s.clone()),
            Amf3Value::XmlDocument(s) | Amf3Value::Xml(s) => Amf0Value::XmlDocument(s.clone()),
            Amf3Value::Date(millis) => Amf0Value::Date { millis: *millis, time_zone: 0 },
            Amf3Value::Array { assoc, dense } if assoc.is_empty() => {
                Amf0Value::StrictArray(dense.iter().map(Amf3Value::to_amf0).collect())
            }
            Amf3Value::Array { assoc, dense } => {
                let ordinal = dense.iter().enumerate().map(|(i, v)| (i.to_string(), v.to_amf0()));
                let named = assoc.iter().map(|(k, v)| (k.clone(), v.to_amf0()));
                ecma_array(ordinal.chain(named))
            }
            Amf3Value::Object(object) => {
                let properties = AmfObject::from_pairs(
                    object
                        .sealed
                        .iter()
                        .chain(&object.dynamic_members)
                        .map(|(k, v)| (k.clone(), v.to_amf0())),
                );
                if object.class_name.is_empty() {
                    Amf0Value::Object(properties)
                } else {
                    Amf0Value::TypedObject { class_name: object.class_name.clone(), properties }
                }
            }
            Amf3Value::ByteArray(_) => Amf0Value::Unsupported,
            Amf3Value::VectorInt { items, .. } => Amf0Value::StrictArray(
                items.iter().map(|n| Amf0Value::Number(f64::from(*n))).collect(),
            ),
            Amf3Value::VectorUint { items, .. } => Amf0Value::StrictArray(
                items.iter().map(|n| Amf0Value::Number(f64::from(*n))).collect(),
            ),
            Amf3Value::VectorDouble { items, .. } => {
                Amf0Value::StrictArray(items.iter().map(|n| Amf0Value::Number(*n)).collect())
            }
            Amf3Value::VectorObject { items, .. } => {
                Amf0Value::StrictArray(items.iter().map(Amf3Value::to_amf0).collect())
            }
            Amf3Value::Dictionary { entries, .. } => {
                ecma_array(entries.iter().filter_map(|(k, v)| Some((k.key_string()?, v.to_amf0()))))
            }
        }
    }

    /// The string form of a dictionary key, for keys that have one.
    fn key_string(&self) -> Option<String> {
        match self {
            Amf3Value::String(s) => Some(s.clone()),
            Amf3Value::Integer(n) => Some(n.to_string()),
            Amf3Value::Double(n) => Some(n.to_string()),
            Amf3Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// An ECMA array whose declared count is its number of entries.
fn ecma_array(pairs: impl Iterator<Item = (String, Amf0Value)>) -> Amf0Value {
    let entries = AmfObject::from_pairs(pairs);
    let count = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    Amf0Value::EcmaArray { count, entries }
}
