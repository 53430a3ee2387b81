//! The digest ("complex") handshake of Flash Player 9 / FMS 3: keys, digest placement and the
//! signed C2/S2. Not part of the published RTMP 1.0 spec, which only describes the simple
//! handshake (§5.2); the constants here are the ones every interoperable implementation uses
//! (checked against the bytes shipped in Debian's nginx-rtmp module and libavformat).

use ring::hmac;

use super::{DigestLayout, Packet};

/// Length of an HMAC-SHA256 digest.
pub(super) const DIGEST_LEN: usize = 32;

/// Filler before the signature in a digest-scheme C2/S2.
pub(super) const RESPONSE_BODY_LEN: usize = super::HANDSHAKE_SIZE - DIGEST_LEN;

/// Size of the window after the 4 offset bytes in which the digest may start.
const OFFSET_MODULUS: usize = 728;

/// Key for the digest in C1: the text "Genuine Adobe Flash Player 001" alone.
pub(super) const CLIENT_KEY: &[u8; 30] = b"Genuine Adobe Flash Player 001";

/// Key for the digest in S1: the text "Genuine Adobe Flash Media Server 001" alone.
pub(super) const SERVER_KEY: &[u8; 36] = b"Genuine Adobe Flash Media Server 001";

/// [`CLIENT_KEY`] plus its 32-byte suffix: keys C2's signature (via S1's digest).
pub(super) const CLIENT_FULL_KEY: &[u8; 62] = b"Genuine Adobe Flash Player 001\
    \xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\
    \x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";

/// [`SERVER_KEY`] plus the same suffix: keys S2's signature (via C1's digest).
pub(super) const SERVER_FULL_KEY: &[u8; 68] = b"Genuine Adobe Flash Media Server 001\
    \xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\
    \x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";

/// An HMAC-SHA256 digest.
pub(super) type Digest = [u8; DIGEST_LEN];

impl DigestLayout {
    /// Layouts in the order a receiver tries them: [`DigestLayout::Schema0`] first, as FFmpeg
    /// and Flash Player send it for plain RTMP.
    pub(super) const ALL: [Self; 2] = [Self::Schema0, Self::Schema1];

    /// Start of the 764-byte block that holds the digest.
    fn block_start(self) -> usize {
        match self {
            Self::Schema0 => 8,
            Self::Schema1 => 772,
        }
    }

    /// Position of the digest in `packet`: the block's first four bytes summed, modulo 728,
    /// after those four bytes. At most 772 + 4 + 727 = 1503, so the digest always fits.
    pub(super) fn digest_offset(self, packet: &Packet) -> usize {
        let start = self.block_start();
        let sum: usize = packet.iter().skip(start).take(4).map(|&b| usize::from(b)).sum();
        start + 4 + sum % OFFSET_MODULUS
    }
}

/// HMAC-SHA256 of `data`.
fn hmac_sha256(key: &[u8], data: &[u8]) -> Digest {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut out = [0u8; DIGEST_LEN];
    out.iter_mut().zip(hmac::sign(&key, data).as_ref()).for_each(|(dst, src)| *dst = *src);
    out
}

/// What a C1/S1 digest at `offset` signs: every byte of the packet except those 32.
fn signed_part(packet: &Packet, offset: usize) -> [u8; RESPONSE_BODY_LEN] {
    let before = packet.get(..offset).unwrap_or_default();
    let after = packet.get(offset + DIGEST_LEN..).unwrap_or_default();
    let mut out = [0u8; RESPONSE_BODY_LEN];
    out.iter_mut().zip(before.iter().chain(after)).for_each(|(dst, src)| *dst = *src);
    out
}

/// Finds a valid digest in a C1 (with [`CLIENT_KEY`]) or S1 (with [`SERVER_KEY`]), trying both
/// layouts. `ring`'s verification compares in constant time, though nothing secret rides on it.
pub(super) fn find(packet: &Packet, key: &[u8]) -> Option<(DigestLayout, Digest)> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    DigestLayout::ALL.into_iter().find_map(|layout| {
        let offset = layout.digest_offset(packet);
        let carried: Digest = packet.get(offset..offset + DIGEST_LEN)?.try_into().ok()?;
        hmac::verify(&key, &signed_part(packet, offset), &carried).ok()?;
        Some((layout, carried))
    })
}

/// Writes the digest into a C1/S1 whose other bytes are final, and returns it.
pub(super) fn imprint(packet: &mut Packet, layout: DigestLayout, key: &[u8]) -> Digest {
    let offset = layout.digest_offset(packet);
    let digest = hmac_sha256(key, &signed_part(packet, offset));
    if let Some(slot) = packet.get_mut(offset..offset + DIGEST_LEN) {
        slot.copy_from_slice(&digest);
    }
    digest
}

/// Key of a digest-scheme C2/S2 signature: HMAC(`full_key`, `peer_digest`). S2 uses C1's
/// digest with [`SERVER_FULL_KEY`]; C2 uses S1's digest with [`CLIENT_FULL_KEY`].
fn response_key(peer_digest: &Digest, full_key: &[u8]) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, &hmac_sha256(full_key, peer_digest))
}

/// A digest-scheme C2/S2: [`RESPONSE_BODY_LEN`] bytes of `filler`, then their signature.
pub(super) fn response(filler: &[u8], peer_digest: &Digest, full_key: &[u8]) -> Packet {
    let mut packet = [0u8; super::HANDSHAKE_SIZE];
    if let Some((body, signature)) = packet.split_last_chunk_mut::<DIGEST_LEN>() {
        body.iter_mut().zip(filler).for_each(|(dst, src)| *dst = *src);
        let tag = hmac::sign(&response_key(peer_digest, full_key), body);
        signature.iter_mut().zip(tag.as_ref()).for_each(|(dst, src)| *dst = *src);
    }
    packet
}

/// Whether `packet` is a digest-scheme C2/S2 answering our `own_digest`.
pub(super) fn response_valid(packet: &Packet, own_digest: &Digest, full_key: &[u8]) -> bool {
    packet.split_last_chunk::<DIGEST_LEN>().is_some_and(|(body, signature)| {
        hmac::verify(&response_key(own_digest, full_key), body, signature).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::HANDSHAKE_SIZE;

    fn patterned(seed: u8) -> Packet {
        let mut p = [0u8; HANDSHAKE_SIZE];
        for (i, b) in p.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(seed);
        }
        p
    }

    #[test]
    fn full_keys_extend_the_text_keys() {
        assert!(CLIENT_FULL_KEY.starts_with(CLIENT_KEY));
        assert!(SERVER_FULL_KEY.starts_with(SERVER_KEY));
        assert_eq!(CLIENT_FULL_KEY[30..], SERVER_FULL_KEY[36..]);
        assert_eq!(&CLIENT_FULL_KEY[30..34], &[0xF0, 0xEE, 0xC2, 0x4A]);
        assert_eq!(&CLIENT_FULL_KEY[58..], &[0xCF, 0xEB, 0x31, 0xAE]);
    }

    #[test]
    fn offsets_stay_inside_their_block() {
        for fill in [0u8, 1, 0x7f, 0xff] {
            let p = [fill; HANDSHAKE_SIZE];
            let sum = 4 * usize::from(fill);
            assert_eq!(DigestLayout::Schema0.digest_offset(&p), 12 + sum % 728);
            assert_eq!(DigestLayout::Schema1.digest_offset(&p), 776 + sum % 728);
            assert!(DigestLayout::Schema0.digest_offset(&p) + DIGEST_LEN <= 772);
            assert!(DigestLayout::Schema1.digest_offset(&p) + DIGEST_LEN <= HANDSHAKE_SIZE);
        }
    }

    #[test]
    fn imprint_then_find_for_both_layouts() {
        for layout in DigestLayout::ALL {
            let mut p = patterned(7);
            let d = imprint(&mut p, layout, CLIENT_KEY);
            assert_eq!(find(&p, CLIENT_KEY), Some((layout, d)));
            assert_eq!(find(&p, SERVER_KEY), None, "wrong key must not validate");
            // Flipping any bit outside the offset bytes invalidates the digest.
            let mut q = p;
            q[1000] ^= 1;
            q[100] ^= 1;
            assert_eq!(find(&q, CLIENT_KEY), None);
        }
    }

    #[test]
    fn no_digest_in_plain_filler() {
        assert_eq!(find(&patterned(3), CLIENT_KEY), None);
        assert_eq!(find(&[0u8; HANDSHAKE_SIZE], SERVER_KEY), None);
    }

    #[test]
    fn response_round_trip_and_tamper() {
        let digest = [0x5a; DIGEST_LEN];
        let filler = patterned(9);
        let r = response(&filler, &digest, SERVER_FULL_KEY);
        assert_eq!(r[..RESPONSE_BODY_LEN], filler[..RESPONSE_BODY_LEN]);
        assert!(response_valid(&r, &digest, SERVER_FULL_KEY));
        assert!(!response_valid(&r, &digest, CLIENT_FULL_KEY));
        assert!(!response_valid(&r, &[0x5b; DIGEST_LEN], SERVER_FULL_KEY));
        let mut t = r;
        t[0] ^= 0x80;
        assert!(!response_valid(&t, &digest, SERVER_FULL_KEY));
    }
}
