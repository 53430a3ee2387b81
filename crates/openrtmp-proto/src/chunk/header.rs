//! Chunk header wire format (RTMP 1.0 §5.3.1): basic header, message header, extended
//! timestamp. Parsing never indexes: every read goes through [`Reader`], which answers `None`
//! when the bytes have not arrived yet.

use bytes::{BufMut, BytesMut};

/// Value of a 24-bit timestamp field that announces an Extended Timestamp (§5.3.1.3).
pub(super) const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;

/// Longest chunk header: 3 (basic) + 11 (type 0) + 4 (extended timestamp).
pub(super) const MAX_HEADER_LEN: usize = 18;

/// The message header of one chunk, by chunk type (§5.3.1.2.1 - §5.3.1.2.4). Timestamp
/// fields are the raw 24-bit values; [`EXTENDED_TIMESTAMP`] means 4 more bytes follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MessageHeader {
    /// Type 0: absolute timestamp, length, type id, message stream id (little-endian).
    Type0 { timestamp: u32, length: u32, type_id: u8, stream_id: u32 },
    /// Type 1: timestamp delta, length, type id; same message stream id.
    Type1 { delta: u32, length: u32, type_id: u8 },
    /// Type 2: timestamp delta only.
    Type2 { delta: u32 },
    /// Type 3: nothing; everything comes from the previous header of the chunk stream.
    Type3,
}

impl MessageHeader {
    /// The fmt field value (§5.3.1.1).
    pub(super) fn fmt(&self) -> u8 {
        match self {
            Self::Type0 { .. } => 0,
            Self::Type1 { .. } => 1,
            Self::Type2 { .. } => 2,
            Self::Type3 => 3,
        }
    }

    /// The raw 24-bit timestamp or delta field, if this type has one.
    pub(super) fn time_field(&self) -> Option<u32> {
        match *self {
            Self::Type0 { timestamp, .. } => Some(timestamp),
            Self::Type1 { delta, .. } | Self::Type2 { delta } => Some(delta),
            Self::Type3 => None,
        }
    }
}

/// A parsed basic header plus message header; the extended timestamp is left to the caller,
/// because whether a type-3 chunk carries one depends on chunk stream state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ParsedHeader {
    pub(super) csid: u32,
    pub(super) header: MessageHeader,
    /// Bytes taken by the basic and message headers.
    pub(super) len: usize,
}

/// Parses a basic header and message header from the front of `buf`.
/// `None` means more bytes are needed; every bit pattern is otherwise valid.
pub(super) fn parse_header(buf: &[u8]) -> Option<ParsedHeader> {
    let mut r = Reader::new(buf);
    let first = r.u8()?;
    let fmt = first >> 6;
    // §5.3.1.1: 0 escapes to a 2-byte form, 1 to a 3-byte form (low byte first).
    let csid = match first & 0x3F {
        0 => 64 + u32::from(r.u8()?),
        1 => {
            let low = u32::from(r.u8()?);
            let high = u32::from(r.u8()?);
            64 + low + high * 256
        }
        id => u32::from(id),
    };
    let header = match fmt {
        0 => MessageHeader::Type0 {
            timestamp: r.u24()?,
            length: r.u24()?,
            type_id: r.u8()?,
            stream_id: r.u32_le()?,
        },
        1 => MessageHeader::Type1 { delta: r.u24()?, length: r.u24()?, type_id: r.u8()? },
        2 => MessageHeader::Type2 { delta: r.u24()? },
        _ => MessageHeader::Type3,
    };
    Some(ParsedHeader { csid, header, len: r.pos })
}

/// Writes a basic header in its smallest form (§5.3.1.1 "SHOULD use the smallest
/// representation"). `csid` must be in 2..=65599; the encoder guarantees it.
pub(super) fn put_basic_header(dst: &mut BytesMut, fmt: u8, csid: u32) {
    let fmt_bits = fmt << 6;
    match csid {
        0..=63 => dst.put_u8(fmt_bits | csid as u8),
        64..=319 => {
            dst.put_u8(fmt_bits);
            dst.put_u8((csid - 64) as u8);
        }
        _ => {
            let id = csid.saturating_sub(64);
            dst.put_u8(fmt_bits | 1);
            dst.put_u8(id as u8);
            dst.put_u8((id >> 8) as u8);
        }
    }
}

/// Writes a message header (§5.3.1.2). Timestamp fields must already be clamped to 24 bits
/// by the caller (which writes the extended timestamp after it).
pub(super) fn put_message_header(dst: &mut BytesMut, header: &MessageHeader) {
    match *header {
        MessageHeader::Type0 { timestamp, length, type_id, stream_id } => {
            put_u24(dst, timestamp);
            put_u24(dst, length);
            dst.put_u8(type_id);
            dst.put_u32_le(stream_id);
        }
        MessageHeader::Type1 { delta, length, type_id } => {
            put_u24(dst, delta);
            put_u24(dst, length);
            dst.put_u8(type_id);
        }
        MessageHeader::Type2 { delta } => put_u24(dst, delta),
        MessageHeader::Type3 => {}
    }
}

fn put_u24(dst: &mut BytesMut, v: u32) {
    let [_, a, b, c] = v.to_be_bytes();
    dst.put_slice(&[a, b, c]);
}

/// Reads big-endian integers from the front of a slice without indexing.
#[derive(Debug)]
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let end = self.pos.checked_add(N)?;
        let bytes: [u8; N] = self.buf.get(self.pos..end)?.try_into().ok()?;
        self.pos = end;
        Some(bytes)
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    pub(super) fn u24(&mut self) -> Option<u32> {
        self.take::<3>().map(|[a, b, c]| u32::from_be_bytes([0, a, b, c]))
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_be_bytes)
    }

    pub(super) fn u32_le(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(fmt: u8, csid: u32) -> Vec<u8> {
        let mut b = BytesMut::new();
        put_basic_header(&mut b, fmt, csid);
        b.to_vec()
    }

    #[test]
    fn basic_header_forms() {
        // §5.3.1.1: 1 byte for 2..=63, 2 bytes for 64..=319, 3 bytes above; the spec's own
        // example: "ID 365 would be represented by a 1 in cs id, and a 16-bit 301 here".
        assert_eq!(basic(0, 2), [0x02]);
        assert_eq!(basic(3, 63), [0xFF]);
        assert_eq!(basic(1, 64), [0x40, 0x00]);
        assert_eq!(basic(2, 319), [0x80, 0xFF]);
        assert_eq!(basic(0, 320), [0x01, 0x00, 0x01]);
        assert_eq!(basic(3, 365), [0xC1, 45, 1]);
        assert_eq!(basic(0, 65_599), [0x01, 0xFF, 0xFF]);
    }

    #[test]
    fn parse_accepts_every_form() {
        for csid in [2, 3, 63, 64, 100, 319, 320, 365, 65_599] {
            let mut b = BytesMut::new();
            put_basic_header(&mut b, 3, csid);
            let parsed = parse_header(&b).map(|h| (h.csid, h.header, h.len));
            assert_eq!(parsed, Some((csid, MessageHeader::Type3, b.len())));
        }
        // The 3-byte form may also carry ids 64..=319.
        let parsed = parse_header(&[0xC1, 0x05, 0x00]).map(|h| (h.csid, h.len));
        assert_eq!(parsed, Some((69, 3)));
    }

    #[test]
    fn parse_needs_whole_header() {
        let mut b = BytesMut::new();
        put_basic_header(&mut b, 0, 320);
        let header = MessageHeader::Type0 {
            timestamp: 0x01_0203,
            length: 0x04_0506,
            type_id: 9,
            stream_id: 0x0A0B_0C0D,
        };
        put_message_header(&mut b, &header);
        assert_eq!(b.len(), 14);
        for cut in 0..b.len() {
            assert_eq!(parse_header(&b[..cut]), None, "cut at {cut}");
        }
        let parsed = parse_header(&b).map(|h| (h.csid, h.header, h.len));
        assert_eq!(parsed, Some((320, header, 14)));
        assert_eq!(&b[10..], [0x0D, 0x0C, 0x0B, 0x0A]);
    }
}
