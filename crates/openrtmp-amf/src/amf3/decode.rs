//! The AMF3 decoder.

use bytes::Bytes;

use super::marker;
use crate::limits::Budget;
use crate::reader::Reader;
use crate::{Amf3Object, Amf3Value, AmfError, Limits};

/// Decodes AMF3 values one at a time from a complete input.
///
/// Owns the string, object and traits reference tables of §2.2. They live as long as the
/// decoder, across [`Amf3Decoder::decode`] calls (§4.1: one table set per message; use a new
/// decoder per message). They hold borrowed slices and input offsets, about 16 bytes per
/// entry and at most one entry per two input bytes. After an error the decoder's position
/// and tables are unspecified; drop it.
#[derive(Debug, Clone)]
pub struct Amf3Decoder<'a> {
    reader: Reader<'a>,
    limits: Limits,
    /// Reset by every [`Amf3Decoder::decode`]: the limits are per top-level value.
    budget: Budget,
    /// Non-empty strings in the order they were first sent (§1.3.2; "" is never referenced).
    strings: Vec<&'a str>,
    /// Traits in the order they were first sent (§3.12).
    traits: Vec<Traits<'a>>,
    /// Complex values in the order they began (§2.2): where each starts in the input.
    objects: Vec<ObjectSlot>,
    /// Non-zero while a referenced value is being decoded again from its start: its strings,
    /// traits and objects are in the tables already and must not be added twice.
    replaying: usize,
}

/// Resolved traits (§3.12): what a traits reference stands for.
#[derive(Debug, Clone)]
struct Traits<'a> {
    class_name: &'a str,
    dynamic: bool,
    /// Sealed member names, in the order their values follow.
    sealed: Vec<&'a str>,
}

/// An entry of the object reference table.
#[derive(Debug, Clone, Copy)]
struct ObjectSlot {
    /// Offset of the value's marker.
    start: usize,
    /// False while the value is being decoded: a reference to it then is a cycle.
    complete: bool,
}

impl<'a> Amf3Decoder<'a> {
    /// A decoder reading `input` from its start, with empty reference tables.
    pub fn new(input: &'a [u8], limits: Limits) -> Self {
        Self::at(Reader::new(input), limits, Budget::new(&limits))
    }

    fn at(reader: Reader<'a>, limits: Limits, budget: Budget) -> Self {
        Self {
            reader,
            limits,
            budget,
            strings: Vec::new(),
            traits: Vec::new(),
            objects: Vec::new(),
            replaying: 0,
        }
    }

    /// Decodes the next value. The limits apply to this value and everything inside it.
    pub fn decode(&mut self) -> Result<Amf3Value, AmfError> {
        self.budget = Budget::new(&self.limits);
        self.value(0)
    }

    /// Whether the whole input has been consumed.
    pub fn is_empty(&self) -> bool {
        self.reader.is_empty()
    }

    /// Offset of the next byte to decode.
    pub fn position(&self) -> usize {
        self.reader.position()
    }

    /// The input not yet decoded.
    pub fn remaining(&self) -> &'a [u8] {
        self.reader.remaining()
    }

    /// The value at the cursor, nested `depth` levels deep.
    fn value(&mut self, depth: usize) -> Result<Amf3Value, AmfError> {
        let offset = self.reader.position();
        if depth > self.limits.max_depth {
            return Err(AmfError::DepthExceeded { limit: self.limits.max_depth, offset });
        }
        let marker = self.reader.u8()?;
        self.budget.value(offset)?;
        let value = match marker {
            marker::UNDEFINED => Amf3Value::Undefined,
            marker::NULL => Amf3Value::Null,
            marker::FALSE => Amf3Value::Boolean(false),
            marker::TRUE => Amf3Value::Boolean(true),
            marker::INTEGER => Amf3Value::Integer(sign_extend(self.u29()?)),
            marker::DOUBLE => Amf3Value::Double(self.reader.f64()?),
            marker::STRING => {
                let text = self.string()?;
                Amf3Value::String(self.owned(text, offset)?)
            }
            marker::XML_DOC..=marker::DICTIONARY => self.complex(marker, offset, depth)?,
            _ => return Err(AmfError::UnknownMarker { marker, offset }),
        };
        Ok(value)
    }

    /// A U29 (§1.3.1): up to three bytes of 7 bits with a continuation flag, then a byte of 8.
    fn u29(&mut self) -> Result<u32, AmfError> {
        let mut value = 0u32;
        for _ in 0..3 {
            let byte = self.reader.u8()?;
            value = (value << 7) | u32::from(byte & 0x7F);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        let byte = self.reader.u8()?;
        Ok((value << 8) | u32::from(byte))
    }

    /// A `UTF-8-vr` (§1.3.2): a literal (added to the string table unless empty) or a
    /// reference into the table. Borrowed from the input: nothing is allocated.
    fn string(&mut self) -> Result<&'a str, AmfError> {
        let offset = self.reader.position();
        let header = self.u29()?;
        let index_or_len = header >> 1;
        if header & 1 == 0 {
            return self.strings.get(index_or_len as usize).copied().ok_or(
                AmfError::InvalidStringReference {
                    index: index_or_len,
                    table_len: self.strings.len(),
                    offset,
                },
            );
        }
        let text = self.reader.utf8(index_or_len as usize, self.limits.max_string_len, offset)?;
        if !text.is_empty() && self.replaying == 0 {
            self.strings.push(text);
        }
        Ok(text)
    }

    /// Copies text out of the input, charging it to the budget first.
    fn owned(&mut self, text: &str, offset: usize) -> Result<String, AmfError> {
        self.budget.text(text.len(), offset)?;
        Ok(text.to_owned())
    }

    /// A complex value (§2.2: XMLDocument, date, array, object, XML, byte array, vector,
    /// dictionary): a U29 whose low bit says whether it is a reference or inline.
    fn complex(&mut self, marker: u8, offset: usize, depth: usize) -> Result<Amf3Value, AmfError> {
        let header_offset = self.reader.position();
        let header = self.u29()?;
        if header & 1 == 0 {
            return self.resolve(header >> 1, header_offset, depth);
        }
        // The value takes its table slot before its members do (§2.2 order of appearance).
        let slot = (self.replaying == 0).then(|| {
            self.objects.push(ObjectSlot { start: offset, complete: false });
            self.objects.len() - 1
        });
        let bits = header >> 1;
        let value = match marker {
            marker::XML_DOC => Amf3Value::XmlDocument(self.xml(bits, header_offset)?),
            marker::DATE => Amf3Value::Date(self.reader.f64()?),
            marker::ARRAY => self.array(bits, depth)?,
            marker::OBJECT => Amf3Value::Object(self.object(bits, offset, depth)?),
            marker::XML => Amf3Value::Xml(self.xml(bits, header_offset)?),
            marker::BYTE_ARRAY => {
                let bytes =
                    self.reader.raw(bits as usize, self.limits.max_string_len, header_offset)?;
                self.budget.text(bytes.len(), header_offset)?;
                Amf3Value::ByteArray(Bytes::copy_from_slice(bytes))
            }
            marker::VECTOR_INT => {
                let (fixed, items) = self.vector(bits, 4, |r| Ok(r.u32()? as i32))?;
                Amf3Value::VectorInt { fixed, items }
            }
            marker::VECTOR_UINT => {
                let (fixed, items) = self.vector(bits, 4, Reader::u32)?;
                Amf3Value::VectorUint { fixed, items }
            }
            marker::VECTOR_DOUBLE => {
                let (fixed, items) = self.vector(bits, 8, Reader::f64)?;
                Amf3Value::VectorDouble { fixed, items }
            }
            marker::VECTOR_OBJECT => self.vector_object(bits, depth)?,
            marker::DICTIONARY => self.dictionary(bits, depth)?,
            _ => return Err(AmfError::UnknownMarker { marker, offset }),
        };
        if let Some(slot) = slot.and_then(|slot| self.objects.get_mut(slot)) {
            slot.complete = true;
        }
        Ok(value)
    }

    /// An object reference (U29O-ref): decodes the referenced value again from its start,
    /// in place of the reference (same depth), without adding to the tables. Every entry the
    /// replayed bytes refer to was in the tables when they were first decoded, and tables
    /// only grow, so the replay yields the same value.
    fn resolve(&mut self, index: u32, offset: usize, depth: usize) -> Result<Amf3Value, AmfError> {
        let slot =
            self.objects.get(index as usize).copied().ok_or(AmfError::InvalidObjectReference {
                index,
                table_len: self.objects.len(),
                offset,
            })?;
        if !slot.complete {
            return Err(AmfError::CircularReference { index, offset });
        }
        let resume = self.reader.position();
        self.reader.seek(slot.start);
        self.replaying += 1;
        let value = self.value(depth);
        self.replaying -= 1;
        self.reader.seek(resume);
        value
    }

    /// XML or XMLDocument text (§3.9, §3.13): `len` bytes of UTF-8, not in the string table.
    fn xml(&mut self, len: u32, header_offset: usize) -> Result<String, AmfError> {
        let text = self.reader.utf8(len as usize, self.limits.max_string_len, header_offset)?;
        self.owned(text, header_offset)
    }

    /// An array body (§3.11): name/value pairs up to the empty name, then `dense_len` values.
    fn array(&mut self, dense_len: u32, depth: usize) -> Result<Amf3Value, AmfError> {
        let depth = depth.saturating_add(1);
        let mut assoc = Vec::new();
        loop {
            let key_offset = self.reader.position();
            let key = self.string()?;
            if key.is_empty() {
                break;
            }
            let key = self.owned(key, key_offset)?;
            assoc.push((key, self.value(depth)?));
        }
        let capacity = self.budget.capacity(dense_len as usize, self.reader.remaining_len(), 1);
        let mut dense = Vec::with_capacity(capacity);
        for _ in 0..dense_len {
            dense.push(self.value(depth)?);
        }
        Ok(Amf3Value::Array { assoc, dense })
    }

    /// An object body (§3.12): traits, sealed member values, then dynamic members.
    fn object(&mut self, bits: u32, offset: usize, depth: usize) -> Result<Amf3Object, AmfError> {
        let traits = self.traits(bits, offset)?;
        let depth = depth.saturating_add(1);
        let capacity = self.budget.capacity(traits.sealed.len(), self.reader.remaining_len(), 1);
        let mut object = Amf3Object {
            class_name: self.owned(traits.class_name, offset)?,
            dynamic: traits.dynamic,
            sealed: Vec::with_capacity(capacity),
            dynamic_members: Vec::new(),
        };
        for name in traits.sealed {
            let value_offset = self.reader.position();
            let name = self.owned(name, value_offset)?;
            object.sealed.push((name, self.value(depth)?));
        }
        if traits.dynamic {
            loop {
                let name_offset = self.reader.position();
                let name = self.string()?;
                if name.is_empty() {
                    break;
                }
                let name = self.owned(name, name_offset)?;
                object.dynamic_members.push((name, self.value(depth)?));
            }
        }
        Ok(object)
    }

    /// The traits of an object (§3.12), from `bits` (the U29O header without its low bit):
    /// a traits reference, externalizable traits (rejected), or inline traits.
    fn traits(&mut self, bits: u32, offset: usize) -> Result<Traits<'a>, AmfError> {
        if bits & 1 == 0 {
            let index = bits >> 1;
            return self.traits.get(index as usize).cloned().ok_or(
                AmfError::InvalidTraitReference { index, table_len: self.traits.len(), offset },
            );
        }
        if bits & 2 != 0 {
            // U29O-traits-ext: the body that follows is private to the class; it cannot even
            // be skipped, so the message cannot be decoded.
            let class = self.string()?.to_owned();
            return Err(AmfError::Externalizable { class, offset });
        }
        let dynamic = bits & 4 != 0;
        let count = bits >> 3;
        let class_name = self.string()?;
        let capacity = self.budget.capacity(count as usize, self.reader.remaining_len(), 1);
        let mut sealed = Vec::with_capacity(capacity);
        for _ in 0..count {
            // A member name costs an element: the traits table is not otherwise bounded.
            self.budget.value(self.reader.position())?;
            sealed.push(self.string()?);
        }
        let traits = Traits { class_name, dynamic, sealed };
        if self.replaying == 0 {
            self.traits.push(traits.clone());
        }
        Ok(traits)
    }

    /// A vector of int, uint or double (§3.15): a fixed-length flag then `count` items of
    /// `item_len` bytes, each charged as an element.
    fn vector<T>(
        &mut self,
        count: u32,
        item_len: usize,
        read: impl Fn(&mut Reader<'a>) -> Result<T, AmfError>,
    ) -> Result<(bool, Vec<T>), AmfError> {
        let fixed = self.reader.u8()? != 0;
        let capacity = self.budget.capacity(count as usize, self.reader.remaining_len(), item_len);
        let mut items = Vec::with_capacity(capacity);
        for _ in 0..count {
            self.budget.value(self.reader.position())?;
            items.push(read(&mut self.reader)?);
        }
        Ok((fixed, items))
    }

    /// A vector of objects (§3.15): fixed-length flag, element type name, `count` values.
    fn vector_object(&mut self, count: u32, depth: usize) -> Result<Amf3Value, AmfError> {
        let fixed = self.reader.u8()? != 0;
        let name_offset = self.reader.position();
        let type_name = self.string()?;
        let type_name = self.owned(type_name, name_offset)?;
        let capacity = self.budget.capacity(count as usize, self.reader.remaining_len(), 1);
        let mut items = Vec::with_capacity(capacity);
        for _ in 0..count {
            items.push(self.value(depth.saturating_add(1))?);
        }
        Ok(Amf3Value::VectorObject { fixed, type_name, items })
    }

    /// A dictionary (§3.16): weak-keys flag, then `count` key/value pairs.
    fn dictionary(&mut self, count: u32, depth: usize) -> Result<Amf3Value, AmfError> {
        let weak_keys = self.reader.u8()? != 0;
        let depth = depth.saturating_add(1);
        let capacity = self.budget.capacity(count as usize, self.reader.remaining_len(), 2);
        let mut entries = Vec::with_capacity(capacity);
        for _ in 0..count {
            let key = self.value(depth)?;
            entries.push((key, self.value(depth)?));
        }
        Ok(Amf3Value::Dictionary { weak_keys, entries })
    }
}

/// §3.6: the integer type is a U29 holding a 29-bit two's-complement value.
fn sign_extend(u29: u32) -> i32 {
    ((u29 << 3) as i32) >> 3
}

/// Decodes exactly one AMF3 value filling all of `input` (for example the payload of an
/// AMF3 data message after its format byte). Fails with [`AmfError::TrailingBytes`] if bytes
/// are left over; use [`Amf3Decoder`] to read a value from the front of a longer input.
pub fn decode(input: &[u8], limits: &Limits) -> Result<Amf3Value, AmfError> {
    let mut decoder = Amf3Decoder::new(input, *limits);
    let value = decoder.decode()?;
    match decoder.remaining().len() {
        0 => Ok(value),
        len => Err(AmfError::TrailingBytes { offset: decoder.position(), len }),
    }
}

/// The AMF3 value after an AMF0 avmplus-object-marker (AMF0 §3.1), with fresh reference
/// tables, sharing the AMF0 decoder's cursor and budget.
pub(crate) fn decode_switched(
    reader: &mut Reader<'_>,
    limits: &Limits,
    budget: &mut Budget,
    depth: usize,
) -> Result<Amf3Value, AmfError> {
    let mut decoder = Amf3Decoder::at(*reader, *limits, *budget);
    let value = decoder.value(depth);
    *reader = decoder.reader;
    *budget = decoder.budget;
    value
}
