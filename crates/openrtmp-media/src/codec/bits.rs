//! An MSB-first bit reader for codec headers, with optional removal of H.264/H.265
//! emulation prevention bytes (H.265 §7.4.2: `0x00 0x00 0x03` -> `0x00 0x00`), and the
//! Exp-Golomb (H.265 §9.2) and uvlc (AV1 §4.10.3) codes.
//!
//! Emulation prevention bytes are skipped while reading, so nothing is copied or allocated.

use crate::MediaError;

/// Reads bits MSB first.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Index of the next byte to load.
    pos: usize,
    current: u8,
    /// Unread bits left in `current`.
    bits_left: u8,
    /// Skip `0x03` after two zero bytes (RBSP extraction).
    emulation_prevention: bool,
    zeros: u8,
    /// The structure being read, for error messages.
    what: &'static str,
}

impl<'a> BitReader<'a> {
    /// A reader over plain bits (AV1, VP9).
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        Self { data, pos: 0, current: 0, bits_left: 0, emulation_prevention: false, zeros: 0, what }
    }

    /// A reader over the payload of an H.264/H.265 NAL unit (after its header), dropping
    /// emulation prevention bytes.
    pub(crate) fn rbsp(data: &'a [u8], what: &'static str) -> Self {
        Self { emulation_prevention: true, ..Self::new(data, what) }
    }

    fn load(&mut self) -> Result<u8, MediaError> {
        let mut b = self.byte_at(self.pos)?;
        if self.emulation_prevention && self.zeros >= 2 && b == 0x03 {
            self.pos += 1;
            self.zeros = 0;
            b = self.byte_at(self.pos)?;
        }
        self.zeros = if b == 0 { self.zeros.saturating_add(1) } else { 0 };
        self.pos += 1;
        Ok(b)
    }

    fn byte_at(&self, pos: usize) -> Result<u8, MediaError> {
        self.data.get(pos).copied().ok_or(MediaError::Truncated {
            what: self.what,
            needed: pos + 1,
            available: self.data.len(),
        })
    }

    pub(crate) fn bit(&mut self) -> Result<bool, MediaError> {
        if self.bits_left == 0 {
            self.current = self.load()?;
            self.bits_left = 8;
        }
        self.bits_left -= 1;
        Ok((self.current >> self.bits_left) & 1 == 1)
    }

    /// Reads `n` bits (at most 32) as an unsigned number.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, MediaError> {
        debug_assert!(n <= 32);
        let mut v: u64 = 0;
        for _ in 0..n.min(32) {
            v = (v << 1) | u64::from(self.bit()?);
        }
        Ok(v as u32)
    }

    /// Reads `n` bits as a `u8` (n <= 8).
    pub(crate) fn bits_u8(&mut self, n: u32) -> Result<u8, MediaError> {
        Ok((self.bits(n.min(8))? & 0xff) as u8)
    }

    pub(crate) fn skip(&mut self, n: u32) -> Result<(), MediaError> {
        for _ in 0..n {
            self.bit()?;
        }
        Ok(())
    }

    fn leading_zeros(&mut self, field: &'static str) -> Result<u32, MediaError> {
        let mut zeros = 0u32;
        while !self.bit()? {
            zeros += 1;
            if zeros > 32 {
                return Err(MediaError::InvalidField {
                    record: self.what,
                    field,
                    value: u64::from(zeros),
                });
            }
        }
        Ok(zeros)
    }

    /// ue(v): unsigned Exp-Golomb (H.265 §9.2). Codes longer than 32 bits are rejected.
    pub(crate) fn ue(&mut self, field: &'static str) -> Result<u32, MediaError> {
        let zeros = self.leading_zeros(field)?;
        if zeros > 31 {
            return Err(MediaError::InvalidField {
                record: self.what,
                field,
                value: u64::from(zeros),
            });
        }
        let v = (1u64 << zeros) - 1 + u64::from(self.bits(zeros)?);
        // At most 2^32 - 2, so the conversion cannot fail.
        u32::try_from(v).map_err(|_| MediaError::InvalidField {
            record: self.what,
            field,
            value: v,
        })
    }

    /// uvlc() (AV1 §4.10.3): like ue(v) but 32 or more leading zeros mean 2^32 - 1.
    pub(crate) fn uvlc(&mut self, field: &'static str) -> Result<u32, MediaError> {
        let mut zeros = 0u32;
        while !self.bit()? {
            zeros += 1;
            if zeros >= 32 {
                // The spec keeps reading zeros until the 1; bound the loop by the input.
                while !self.bit()? {}
                return Ok(u32::MAX);
            }
        }
        let v = (1u64 << zeros) - 1 + u64::from(self.bits(zeros)?);
        u32::try_from(v).map_err(|_| MediaError::InvalidField {
            record: self.what,
            field,
            value: v,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bits_msb_first() {
        let mut r = BitReader::new(&[0b1010_0000, 0xff], "t");
        assert!(r.bit().unwrap());
        assert_eq!(r.bits(3).unwrap(), 0b010);
        assert_eq!(r.bits(8).unwrap(), 0b0000_1111);
        assert_eq!(r.bits(4).unwrap(), 0xf);
        assert_eq!(r.bit(), Err(MediaError::Truncated { what: "t", needed: 3, available: 2 }));
    }

    #[test]
    fn exp_golomb() {
        // 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3, 0001000 -> 7 (H.265 Table 9-2).
        let mut r = BitReader::new(&[0b1010_0110, 0b0100_0001, 0b0000_0000], "t");
        let got: Vec<u32> = (0..5).map(|_| r.ue("x").unwrap()).collect();
        assert_eq!(got, [0, 1, 2, 3, 7]);
        // 32 zero bits: too long.
        let mut r = BitReader::new(&[0, 0, 0, 0, 0x80], "t");
        assert!(matches!(r.ue("x"), Err(MediaError::InvalidField { .. })));
        // 31 zeros then 31 ones: the largest code, 2^32 - 2.
        let mut r = BitReader::new(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff], "t");
        assert_eq!(r.ue("x").unwrap(), u32::MAX - 1);
        // uvlc with 32 zeros.
        let mut r = BitReader::new(&[0, 0, 0, 0, 0x80], "t");
        assert_eq!(r.uvlc("x").unwrap(), u32::MAX);
    }

    #[test]
    fn emulation_prevention_bytes_are_skipped() {
        // 00 00 03 01 -> 00 00 01; a 03 not after two zeros is data.
        let mut r = BitReader::rbsp(&[0x00, 0x00, 0x03, 0x01, 0x03], "t");
        assert_eq!(r.bits(24).unwrap(), 0x000001);
        assert_eq!(r.bits(8).unwrap(), 0x03);
        // 00 00 03 00 00 03 -> four zeros.
        let mut r = BitReader::rbsp(&[0, 0, 3, 0, 0, 3, 0xaa], "t");
        assert_eq!(r.bits(32).unwrap(), 0);
        assert_eq!(r.bits(8).unwrap(), 0xaa);
        // Truncated right after an emulation prevention byte.
        let mut r = BitReader::rbsp(&[0, 0, 3], "t");
        assert_eq!(r.bits(16).unwrap(), 0);
        assert!(r.bit().is_err());
    }
}
