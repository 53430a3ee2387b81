//! SHA-1, HMAC-SHA1 and SHA-256 for str0m: STUN MESSAGE-INTEGRITY (RFC 8489 §14.5), the
//! SRTP authentication tag (RFC 3711 §4.2.1) and certificate fingerprints (RFC 8122 §5).

use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use str0m::crypto::{Sha1HmacProvider, Sha1Provider, Sha256Provider};

/// HMAC-SHA1 over several slices (str0m passes the message and its trailer separately).
#[derive(Debug)]
pub(super) struct RustSha1Hmac;

impl Sha1HmacProvider for RustSha1Hmac {
    fn sha1_hmac(&self, key: &[u8], payloads: &[&[u8]]) -> [u8; 20] {
        // HMAC takes a key of any length (longer keys are hashed, RFC 2104 §2), so
        // `new_from_slice` cannot fail; the fallback keeps this free of `expect`.
        let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
            return [0; 20];
        };
        for payload in payloads {
            mac.update(payload);
        }
        mac.finalize().into_bytes().into()
    }
}

/// SHA-1.
#[derive(Debug)]
pub(super) struct RustSha1;

impl Sha1Provider for RustSha1 {
    fn sha1(&self, data: &[u8]) -> [u8; 20] {
        Sha1::digest(data).into()
    }
}

/// SHA-256 (the `a=fingerprint:sha-256` of the DTLS certificate).
#[derive(Debug)]
pub(super) struct RustSha256;

impl Sha256Provider for RustSha256 {
    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// RFC 2202 §3, test cases 1, 2 and 6 (a key longer than the block).
    #[test]
    fn hmac_sha1_rfc2202() {
        let h = RustSha1Hmac;
        assert_eq!(
            h.sha1_hmac(&[0x0b; 20], &[b"Hi There"]).to_vec(),
            hex("b617318655057264e28bc0b6fb378c8ef146be00")
        );
        assert_eq!(
            h.sha1_hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"]).to_vec(),
            hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        );
        assert_eq!(
            h.sha1_hmac(&[0xaa; 80], &[b"Test Using Larger Than Block-Size Key - Hash Key First"])
                .to_vec(),
            hex("aa4ae5e15272d00e95705637ce8a3b55ed402112")
        );
    }

    /// FIPS 180-2 appendix A/B: "abc".
    #[test]
    fn sha_abc() {
        assert_eq!(RustSha1.sha1(b"abc").to_vec(), hex("a9993e364706816aba3e25717850c26c9cd0d89d"));
        assert_eq!(
            RustSha256.sha256(b"abc").to_vec(),
            hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }
}
