//! The AMF0 decoder.

use super::marker;
use crate::limits::Budget;
use crate::reader::Reader;
use crate::{amf3, Amf0Value, AmfError, AmfObject, Limits};

/// Decodes AMF0 values one at a time from a complete message body.
///
/// The input is a whole message (RTMP reassembles messages before they are parsed), so a
/// value cut short is an error ([`AmfError::UnexpectedEof`]), never "wait for more".
/// The reference table of AMF0 §2.9 spans the decoder's lifetime: use one decoder per
/// message body, as §4.1.3 resets references per message. After an error the decoder's
/// position is unspecified; drop it.
#[derive(Debug, Clone)]
pub struct Amf0Decoder<'a> {
    reader: Reader<'a>,
    limits: Limits,
    /// Reset by every [`Amf0Decoder::decode`]: the limits are per top-level value.
    budget: Budget,
    /// How many complex values (object, typed object, ECMA array, strict array) have begun
    /// so far: the size of the §2.9 reference table. References are checked against it but
    /// not resolved, so the table itself need not be kept.
    objects: usize,
}

impl<'a> Amf0Decoder<'a> {
    /// A decoder reading `input` from its start.
    pub fn new(input: &'a [u8], limits: Limits) -> Self {
        Self { reader: Reader::new(input), limits, budget: Budget::new(&limits), objects: 0 }
    }

    /// Decodes the next value. The limits apply to this value and everything inside it.
    pub fn decode(&mut self) -> Result<Amf0Value, AmfError> {
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
    fn value(&mut self, depth: usize) -> Result<Amf0Value, AmfError> {
        let offset = self.reader.position();
        if depth > self.limits.max_depth {
            return Err(AmfError::DepthExceeded { limit: self.limits.max_depth, offset });
        }
        let marker = self.reader.u8()?;
        self.budget.value(offset)?;
        let value = match marker {
            marker::NUMBER => Amf0Value::Number(self.reader.f64()?),
            // §2.3: any non-zero byte is true.
            marker::BOOLEAN => Amf0Value::Boolean(self.reader.u8()? != 0),
            marker::STRING => Amf0Value::String(self.short_string()?),
            marker::OBJECT => {
                self.begin_complex();
                Amf0Value::Object(self.properties(depth, false)?)
            }
            marker::NULL => Amf0Value::Null,
            marker::UNDEFINED => Amf0Value::Undefined,
            marker::REFERENCE => self.reference(offset)?,
            marker::ECMA_ARRAY => {
                self.begin_complex();
                let count = self.reader.u32()?;
                Amf0Value::EcmaArray { count, entries: self.properties(depth, true)? }
            }
            marker::OBJECT_END => return Err(AmfError::UnexpectedObjectEnd { offset }),
            marker::STRICT_ARRAY => {
                self.begin_complex();
                Amf0Value::StrictArray(self.strict_array(depth)?)
            }
            marker::DATE => {
                Amf0Value::Date { millis: self.reader.f64()?, time_zone: self.reader.i16()? }
            }
            marker::LONG_STRING => Amf0Value::LongString(self.long_string()?),
            marker::UNSUPPORTED => Amf0Value::Unsupported,
            marker::XML_DOCUMENT => Amf0Value::XmlDocument(self.long_string()?),
            marker::TYPED_OBJECT => {
                let class_name = self.short_string()?;
                self.begin_complex();
                Amf0Value::TypedObject { class_name, properties: self.properties(depth, false)? }
            }
            // §3.1; each switch starts fresh AMF3 reference tables (E-RTMP v2: "the switch
            // isn't sticky"), and the AMF3 value stands in place of this one: same depth.
            marker::AVMPLUS => Amf0Value::Avmplus(amf3::decode_switched(
                &mut self.reader,
                &self.limits,
                &mut self.budget,
                depth,
            )?),
            marker::MOVIECLIP | marker::RECORDSET => {
                return Err(AmfError::ReservedMarker { marker, offset })
            }
            _ => return Err(AmfError::UnknownMarker { marker, offset }),
        };
        Ok(value)
    }

    /// Enters a complex value: it takes the next slot of the §2.9 reference table before its
    /// members do.
    fn begin_complex(&mut self) {
        self.objects = self.objects.saturating_add(1);
    }

    /// §2.9: the index must name a complex value already begun (a value may refer to one of
    /// its own ancestors: cycles are legal in AMF0 and harmless since we do not resolve).
    fn reference(&mut self, offset: usize) -> Result<Amf0Value, AmfError> {
        let index = self.reader.u16()?;
        if usize::from(index) >= self.objects {
            return Err(AmfError::InvalidObjectReference {
                index: u32::from(index),
                table_len: self.objects,
                offset,
            });
        }
        Ok(Amf0Value::Reference(index))
    }

    /// `UTF-8` (§1.3.1): a U16 length then the text.
    fn short_string(&mut self) -> Result<String, AmfError> {
        let offset = self.reader.position();
        let len = self.reader.u16()?;
        self.text(usize::from(len), offset)
    }

    /// `UTF-8-long` (§1.3.1): a U32 length then the text.
    fn long_string(&mut self) -> Result<String, AmfError> {
        let offset = self.reader.position();
        let len = self.reader.u32()?;
        self.text(usize::try_from(len).unwrap_or(usize::MAX), offset)
    }

    /// `len` bytes of text whose length field was at `len_offset`.
    fn text(&mut self, len: usize, len_offset: usize) -> Result<String, AmfError> {
        let text = self.reader.utf8(len, self.limits.max_string_len, len_offset)?;
        self.budget.text(len, len_offset)?;
        Ok(text.to_owned())
    }

    /// The `object-property` list of an object, typed object (§2.5, §2.18) or ECMA array
    /// (§2.10), up to and including the object-end type (§2.11).
    ///
    /// An ECMA array's associative-count is not trusted: encoders write counts that do not
    /// match the entries (FFmpeg writes a count before it knows every field; some write 0),
    /// so entries are read until the terminator. For ECMA arrays only, the end of input at a
    /// property boundary is also accepted as the end, as librtmp's decoder does: an
    /// `onMetaData` array is the last value of its message and writers that drop its
    /// terminator exist; nothing but the terminator can be missing there. Objects keep the
    /// strict rule, and re-encoding adds the terminator.
    fn properties(&mut self, depth: usize, ecma: bool) -> Result<AmfObject, AmfError> {
        let mut object = AmfObject::new();
        loop {
            if ecma && self.reader.is_empty() {
                return Ok(object);
            }
            let key_offset = self.reader.position();
            let key_len = self.reader.u16()?;
            if key_len == 0 && self.reader.peek_u8() == Some(marker::OBJECT_END) {
                self.reader.u8()?;
                return Ok(object);
            }
            // An empty key followed by a value is a property named "" (the grammar allows it).
            let key = self.text(usize::from(key_len), key_offset)?;
            let value = self.value(depth.saturating_add(1))?;
            object.push(key, value);
        }
    }

    /// The body of a strict array (§2.12). The count is a claim: items are allocated as
    /// they decode, never more up front than the remaining input could hold.
    fn strict_array(&mut self, depth: usize) -> Result<Vec<Amf0Value>, AmfError> {
        let count = usize::try_from(self.reader.u32()?).unwrap_or(usize::MAX);
        let capacity = self.budget.capacity(count, self.reader.remaining_len(), 1);
        let mut items = Vec::with_capacity(capacity);
        for _ in 0..count {
            items.push(self.value(depth.saturating_add(1))?);
        }
        Ok(items)
    }
}

/// Decodes every value of `input` (for example the body of an RTMP command message:
/// name, transaction id, command object, arguments) with one shared reference table.
pub fn decode_all(input: &[u8], limits: &Limits) -> Result<Vec<Amf0Value>, AmfError> {
    let mut decoder = Amf0Decoder::new(input, *limits);
    let mut values = Vec::new();
    while !decoder.is_empty() {
        values.push(decoder.decode()?);
    }
    Ok(values)
}
