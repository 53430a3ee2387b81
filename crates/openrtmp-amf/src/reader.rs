//! A bounds-checked cursor over the decoder's input, shared by the AMF0 and AMF3 decoders.

use crate::AmfError;

/// A position in an input slice. Every read checks the length first and reports
/// [`AmfError::UnexpectedEof`] with the offset where the read started; nothing here can panic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    /// Invariant: `pos <= input.len()`.
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Moves to an offset previously returned by [`Reader::position`] (AMF3 reference replay).
    pub(crate) fn seek(&mut self, pos: usize) {
        self.pos = pos.min(self.input.len());
    }

    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.input.get(self.pos..).unwrap_or_default()
    }

    pub(crate) fn remaining_len(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining_len() == 0
    }

    pub(crate) fn peek_u8(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// The next `len` bytes.
    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8], AmfError> {
        let eof = AmfError::UnexpectedEof { offset: self.pos, needed: len };
        let end = self.pos.checked_add(len).ok_or(eof.clone())?;
        let bytes = self.input.get(self.pos..end).ok_or(eof)?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], AmfError> {
        let offset = self.pos;
        let bytes = self.bytes(N)?;
        bytes.try_into().map_err(|_| AmfError::UnexpectedEof { offset, needed: N })
    }

    pub(crate) fn u8(&mut self) -> Result<u8, AmfError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, AmfError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn i16(&mut self) -> Result<i16, AmfError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, AmfError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn f64(&mut self) -> Result<f64, AmfError> {
        Ok(f64::from_be_bytes(self.array()?))
    }

    /// `len` bytes of UTF-8 whose length field was at `len_offset`; the length is checked
    /// against `max_len` before the bytes are looked at.
    pub(crate) fn utf8(
        &mut self,
        len: usize,
        max_len: usize,
        len_offset: usize,
    ) -> Result<&'a str, AmfError> {
        let start = self.pos;
        let bytes = self.raw(len, max_len, len_offset)?;
        std::str::from_utf8(bytes)
            .map_err(|e| AmfError::InvalidUtf8 { offset: start + e.valid_up_to() })
    }

    /// `len` raw bytes (AMF3 byte array) whose length field was at `len_offset`, checked
    /// against `max_len` first.
    pub(crate) fn raw(
        &mut self,
        len: usize,
        max_len: usize,
        len_offset: usize,
    ) -> Result<&'a [u8], AmfError> {
        if len > max_len {
            return Err(AmfError::StringTooLong { len, limit: max_len, offset: len_offset });
        }
        self.bytes(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_and_reports_eof_offsets() {
        let mut r = Reader::new(&[0x01, 0x02, 0x03, 0xFF, 0xFE, 0x00, 0x00, 0x00]);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(0x0203));
        assert_eq!(r.i16(), Ok(-2));
        assert_eq!(r.position(), 5);
        assert_eq!(r.u32(), Err(AmfError::UnexpectedEof { offset: 5, needed: 4 }));
        // A failed read does not move the cursor.
        assert_eq!(r.position(), 5);
        assert_eq!(r.remaining(), &[0, 0, 0]);
        assert_eq!(
            r.bytes(usize::MAX),
            Err(AmfError::UnexpectedEof { offset: 5, needed: usize::MAX })
        );
    }

    #[test]
    fn utf8_checks_limit_then_bytes_then_encoding() {
        let mut r = Reader::new(b"ab\xFFcd");
        assert_eq!(r.utf8(10, 4, 0), Err(AmfError::StringTooLong { len: 10, limit: 4, offset: 0 }));
        assert_eq!(r.utf8(9, 10, 0), Err(AmfError::UnexpectedEof { offset: 0, needed: 9 }));
        assert_eq!(r.utf8(4, 10, 0), Err(AmfError::InvalidUtf8 { offset: 2 }));
        let mut r = Reader::new("é!".as_bytes());
        assert_eq!(r.utf8(3, 10, 0), Ok("é!"));
        assert!(r.is_empty());
        assert_eq!(r.peek_u8(), None);
    }
}
