//! A bounds-checked big-endian reader over a byte slice.
//!
//! Every read checks the remaining length first and reports [`MediaError::Truncated`]
//! instead of panicking; nothing here allocates.

use crate::MediaError;

/// Reads big-endian fields from a slice (FLV and E-RTMP store multi-byte integers
/// big-endian, FLV 10.1 §E.1).
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len()
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], MediaError> {
        match self.data.split_at_checked(n) {
            Some((head, tail)) => {
                self.data = tail;
                Ok(head)
            }
            None => Err(MediaError::Truncated { what, needed: n, available: self.data.len() }),
        }
    }

    /// Takes everything that is left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], MediaError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, MediaError> {
        let [b] = self.array::<1>(what)?;
        Ok(b)
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, MediaError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// UI24.
    pub(crate) fn u24(&mut self, what: &'static str) -> Result<u32, MediaError> {
        let [a, b, c] = self.array(what)?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    /// SI24, sign-extended.
    pub(crate) fn i24(&mut self, what: &'static str) -> Result<i32, MediaError> {
        let [a, b, c] = self.array(what)?;
        // Placing the 24 bits at the top and shifting back arithmetically sign-extends.
        Ok(i32::from_be_bytes([a, b, c, 0]) >> 8)
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, MediaError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn bytes4(&mut self, what: &'static str) -> Result<[u8; 4], MediaError> {
        self.array(what)
    }
}

/// Writes an SI24 (two's complement, big-endian), or fails if `value` does not fit.
pub(crate) fn put_i24(
    out: &mut bytes::BytesMut,
    value: i32,
    field: &'static str,
) -> Result<(), MediaError> {
    if !(-(1 << 23)..(1 << 23)).contains(&value) {
        return Err(MediaError::FieldOutOfRange { field, value: i64::from(value) });
    }
    let [_, a, b, c] = value.to_be_bytes();
    out.extend_from_slice(&[a, b, c]);
    Ok(())
}

/// Writes a UI24, or fails if `value` does not fit.
pub(crate) fn put_u24(
    out: &mut bytes::BytesMut,
    value: usize,
    field: &'static str,
) -> Result<(), MediaError> {
    let v = u32::try_from(value)
        .ok()
        .filter(|v| *v < (1 << 24))
        .ok_or(MediaError::FieldOutOfRange { field, value: value as i64 })?;
    let [_, a, b, c] = v.to_be_bytes();
    out.extend_from_slice(&[a, b, c]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_and_sign_extends() {
        let data = [0x01, 0x02, 0x03, 0xff, 0xff, 0xfe, 0x00, 0x00, 0x01, 0x00];
        let mut c = Cursor::new(&data);
        assert_eq!(c.u24("a").unwrap(), 0x010203);
        assert_eq!(c.i24("b").unwrap(), -2);
        assert_eq!(c.i24("c").unwrap(), 1);
        assert_eq!(c.u16("d"), Err(MediaError::Truncated { what: "d", needed: 2, available: 1 }));
        assert_eq!(c.u8("e").unwrap(), 0);
        assert_eq!(c.remaining(), 0);
    }

    #[test]
    fn i24_round_trip_and_range() {
        for v in [-(1 << 23), -1, 0, 1, (1 << 23) - 1] {
            let mut out = bytes::BytesMut::new();
            put_i24(&mut out, v, "ct").unwrap();
            assert_eq!(Cursor::new(&out).i24("ct").unwrap(), v);
        }
        let mut out = bytes::BytesMut::new();
        assert_eq!(
            put_i24(&mut out, 1 << 23, "ct"),
            Err(MediaError::FieldOutOfRange { field: "ct", value: 1 << 23 })
        );
        assert_eq!(
            put_u24(&mut out, 1 << 24, "size"),
            Err(MediaError::FieldOutOfRange { field: "size", value: 1 << 24 })
        );
    }
}
