//! The one error type of the AMF decoders.

/// Why a byte sequence is not accepted as AMF0 or AMF3.
///
/// Every variant carries the byte `offset` (from the start of the decoder's input) at which the
/// problem was found, plus the offending values, so that a log line can point at the exact byte.
/// The encoders are infallible and never return this type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmfError {
    /// The input ended inside a value: `needed` bytes were required at `offset`.
    #[error("unexpected end of input: {needed} bytes needed at offset {offset}")]
    UnexpectedEof {
        /// Where the read started.
        offset: usize,
        /// How many bytes the read needed from `offset`.
        needed: usize,
    },
    /// A type marker not defined by the specification (AMF0 §2.1: above 0x11; AMF3 §3.1:
    /// above 0x11).
    #[error("unknown type marker {marker:#04x} at offset {offset}")]
    UnknownMarker {
        /// The marker byte.
        marker: u8,
        /// Offset of the marker.
        offset: usize,
    },
    /// The AMF0 `movieclip` (0x04) or `recordset` (0x0E) marker, reserved and never
    /// serialised (AMF0 §2.6, §2.16).
    #[error("reserved AMF0 marker {marker:#04x} at offset {offset}")]
    ReservedMarker {
        /// The marker byte.
        marker: u8,
        /// Offset of the marker.
        offset: usize,
    },
    /// An AMF0 object-end marker (0x09) where a value was expected (AMF0 §2.11: it may only
    /// close an object, typed object or ECMA array).
    #[error("object-end marker out of place at offset {offset}")]
    UnexpectedObjectEnd {
        /// Offset of the marker.
        offset: usize,
    },
    /// A string, key or XML text is not valid UTF-8 (AMF0 §1.3.1, AMF3 §1.3.2).
    #[error("invalid UTF-8 at offset {offset}")]
    InvalidUtf8 {
        /// Offset of the first byte that is not valid UTF-8.
        offset: usize,
    },
    /// A string, XML text or byte array declares more bytes than
    /// [`Limits::max_string_len`](crate::Limits::max_string_len).
    #[error("string of {len} bytes at offset {offset} exceeds the limit of {limit}")]
    StringTooLong {
        /// The declared byte length.
        len: usize,
        /// The configured limit.
        limit: usize,
        /// Offset of the length field.
        offset: usize,
    },
    /// Values nest deeper than [`Limits::max_depth`](crate::Limits::max_depth).
    #[error("nesting deeper than {limit} at offset {offset}")]
    DepthExceeded {
        /// The configured limit.
        limit: usize,
        /// Offset of the value that would be too deep.
        offset: usize,
    },
    /// One top-level value weighs more than
    /// [`Limits::max_elements`](crate::Limits::max_elements).
    #[error("more than {limit} elements in one value at offset {offset}")]
    TooManyElements {
        /// The configured limit.
        limit: usize,
        /// Offset of the value that went over the limit.
        offset: usize,
    },
    /// An AMF0 reference (§2.9) or an AMF3 object reference (§3.12) to an index that is not
    /// (yet) in the object table.
    #[error("object reference {index} at offset {offset}, but only {table_len} objects seen")]
    InvalidObjectReference {
        /// The referenced index.
        index: u32,
        /// How many objects the table held.
        table_len: usize,
        /// Offset of the reference.
        offset: usize,
    },
    /// An AMF3 string reference (§1.3.2) past the end of the string table.
    #[error("string reference {index} at offset {offset}, but only {table_len} strings seen")]
    InvalidStringReference {
        /// The referenced index.
        index: u32,
        /// How many strings the table held.
        table_len: usize,
        /// Offset of the reference.
        offset: usize,
    },
    /// An AMF3 traits reference (§3.12) past the end of the traits table.
    #[error("traits reference {index} at offset {offset}, but only {table_len} traits seen")]
    InvalidTraitReference {
        /// The referenced index.
        index: u32,
        /// How many traits the table held.
        table_len: usize,
        /// Offset of the reference.
        offset: usize,
    },
    /// An AMF3 object reference to an object that is still being decoded: a cycle, which the
    /// tree-shaped value model cannot represent.
    #[error("circular object reference {index} at offset {offset}")]
    CircularReference {
        /// The referenced index.
        index: u32,
        /// Offset of the reference.
        offset: usize,
    },
    /// An AMF3 externalizable object (§3.12, U29O-traits-ext): its body is a private format
    /// agreed between the class's reader and writer, so it cannot be skipped or decoded.
    #[error("externalizable AMF3 object of class {class:?} at offset {offset}")]
    Externalizable {
        /// The class name.
        class: String,
        /// Offset of the object marker.
        offset: usize,
    },
    /// [`crate::amf3::decode`] read one value but bytes were left over.
    #[error("{len} trailing bytes after the value at offset {offset}")]
    TrailingBytes {
        /// Offset of the first byte left over.
        offset: usize,
        /// How many bytes were left over.
        len: usize,
    },
}
