//! SRTP ciphers for str0m: AES-CM (RFC 3711 §4.1.1, AES-128 in counter mode; str0m does the
//! HMAC-SHA1-80 tag itself with our HMAC), AEAD AES-128/256-GCM (RFC 7714 §8-§9), and the
//! single AES-ECB block of the key derivation (RFC 3711 §4.3.3).
//!
//! str0m hands in output buffers at least as long as what is written (input plus the GCM
//! tag); they are still checked, and a short one is an error rather than a panic.

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, InnerIvInit, KeyInit, StreamCipher};
use aes::{Aes128, Aes256};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce, Tag};
use str0m::crypto::{
    AeadAes128GcmCipher, AeadAes256GcmCipher, Aes128CmSha1_80Cipher, CryptoError, SrtpProvider,
    SupportedAeadAes128Gcm, SupportedAeadAes256Gcm, SupportedAes128CmSha1_80,
};

/// Length of the GCM authentication tag (RFC 7714 §5.2: 16 octets).
const GCM_TAG_LEN: usize = 16;

fn short_buffer(what: &str) -> CryptoError {
    CryptoError::Other(format!("SRTP {what}: output buffer too short"))
}

/// AES-128 in counter mode: the key schedule is expanded once per session key, the counter
/// block (the IV str0m computes from salt, SSRC and index) per packet.
#[derive(Clone)]
struct AesCm {
    aes: Aes128,
}

impl std::fmt::Debug for AesCm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AesCm").finish_non_exhaustive()
    }
}

impl Aes128CmSha1_80Cipher for AesCm {
    fn encrypt(
        &mut self,
        iv: &[u8; 16],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        let out = output.get_mut(..input.len()).ok_or_else(|| short_buffer("AES-CM"))?;
        let core = ctr::CtrCore::<Aes128, ctr::flavors::Ctr128BE>::inner_iv_init(
            self.aes.clone(),
            GenericArray::from_slice(iv),
        );
        let mut ctr = ctr::Ctr128BE::<Aes128>::from_core(core);
        ctr.apply_keystream_b2b(input, out).map_err(|e| CryptoError::Other(format!("AES-CM: {e}")))
    }

    fn decrypt(
        &mut self,
        iv: &[u8; 16],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        // Counter mode is its own inverse.
        self.encrypt(iv, input, output)
    }
}

/// One AEAD cipher for either key size; the traits differ only in name.
#[derive(Clone)]
struct Gcm<C> {
    aead: C,
}

impl<C> std::fmt::Debug for Gcm<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gcm").finish_non_exhaustive()
    }
}

impl<C: AeadInPlace> Gcm<C> {
    fn seal(
        &self,
        iv: &[u8; 12],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        let len = input.len();
        let out = output.get_mut(..len + GCM_TAG_LEN).ok_or_else(|| short_buffer("AES-GCM"))?;
        let (text, tag_out) = out.split_at_mut(len);
        text.copy_from_slice(input);
        let tag = self
            .aead
            .encrypt_in_place_detached(Nonce::from_slice(iv), aad, text)
            .map_err(|_| CryptoError::Other("AES-GCM: encryption failed".into()))?;
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Returns the plaintext length. A failed tag check (a forged or corrupted packet from the
    /// peer) is an error str0m drops the packet on.
    fn open(
        &self,
        iv: &[u8; 12],
        aads: &[&[u8]],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let ct_len = input
            .len()
            .checked_sub(GCM_TAG_LEN)
            .ok_or_else(|| CryptoError::Other("AES-GCM: packet shorter than its tag".into()))?;
        let (ciphertext, tag) = input.split_at(ct_len);
        let text = output.get_mut(..ct_len).ok_or_else(|| short_buffer("AES-GCM"))?;
        text.copy_from_slice(ciphertext);
        let joined;
        let aad: &[u8] = match aads {
            [one] => one,
            many => {
                joined = many.concat();
                &joined
            }
        };
        self.aead
            .decrypt_in_place_detached(Nonce::from_slice(iv), aad, text, Tag::from_slice(tag))
            .map_err(|_| CryptoError::Other("AES-GCM: authentication failed".into()))?;
        Ok(ct_len)
    }
}

/// str0m has one cipher trait per key size with the same methods: both are [`Gcm`].
macro_rules! gcm_cipher {
    ($trait:ident, $aead:ty) => {
        impl $trait for Gcm<$aead> {
            fn encrypt(
                &mut self,
                iv: &[u8; 12],
                aad: &[u8],
                input: &[u8],
                output: &mut [u8],
            ) -> Result<(), CryptoError> {
                self.seal(iv, aad, input, output)
            }

            fn decrypt(
                &mut self,
                iv: &[u8; 12],
                aads: &[&[u8]],
                input: &[u8],
                output: &mut [u8],
            ) -> Result<usize, CryptoError> {
                self.open(iv, aads, input, output)
            }
        }
    };
}

gcm_cipher!(AeadAes128GcmCipher, Aes128Gcm);
gcm_cipher!(AeadAes256GcmCipher, Aes256Gcm);

#[derive(Debug)]
struct CmFactory;

impl SupportedAes128CmSha1_80 for CmFactory {
    fn create_cipher(&self, key: [u8; 16], _encrypt: bool) -> Box<dyn Aes128CmSha1_80Cipher> {
        Box::new(AesCm { aes: Aes128::new(&key.into()) })
    }
}

#[derive(Debug)]
struct Gcm128Factory;

impl SupportedAeadAes128Gcm for Gcm128Factory {
    fn create_cipher(&self, key: [u8; 16], _encrypt: bool) -> Box<dyn AeadAes128GcmCipher> {
        Box::new(Gcm { aead: Aes128Gcm::new(&key.into()) })
    }
}

#[derive(Debug)]
struct Gcm256Factory;

impl SupportedAeadAes256Gcm for Gcm256Factory {
    fn create_cipher(&self, key: [u8; 32], _encrypt: bool) -> Box<dyn AeadAes256GcmCipher> {
        Box::new(Gcm { aead: Aes256Gcm::new(&key.into()) })
    }
}

/// One AES block in ECB: the PRF of the SRTP key derivation (RFC 3711 §4.3.3), keyed with
/// the master key. str0m passes a 16-byte block and reads the first 16 output bytes. A key
/// or block of another length cannot come from str0m; it leaves the output untouched
/// (zeros) rather than panicking, and the session then fails its first auth check.
fn ecb_round<C: KeyInit + BlockEncrypt>(key: &[u8], input: &[u8], output: &mut [u8]) {
    let (Ok(aes), Some(block_in), Some(block_out)) =
        (C::new_from_slice(key), input.get(..16), output.get_mut(..16))
    else {
        tracing::error!(
            key_len = key.len(),
            input_len = input.len(),
            "SRTP key derivation: unexpected key or block length"
        );
        return;
    };
    aes.encrypt_block_b2b(
        GenericArray::from_slice(block_in),
        GenericArray::from_mut_slice(block_out),
    );
}

/// The SRTP half of the provider: all three profiles str0m knows.
#[derive(Debug)]
pub(super) struct RustSrtp;

impl SrtpProvider for RustSrtp {
    fn aes_128_cm_sha1_80(&self) -> &'static dyn SupportedAes128CmSha1_80 {
        &CmFactory
    }

    fn aead_aes_128_gcm(&self) -> &'static dyn SupportedAeadAes128Gcm {
        &Gcm128Factory
    }

    fn aead_aes_256_gcm(&self) -> &'static dyn SupportedAeadAes256Gcm {
        &Gcm256Factory
    }

    fn srtp_aes_128_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        ecb_round::<Aes128>(key, input, output);
    }

    fn srtp_aes_256_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        ecb_round::<Aes256>(key, input, output);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn arr<const N: usize>(s: &str) -> [u8; N] {
        hex(s).try_into().unwrap()
    }

    /// RFC 3711 appendix B.2: the AES-CM keystream for session key 2B7E…4F3C and the
    /// counter block F0F1…FD0000 (the first three keystream blocks).
    #[test]
    fn aes_cm_keystream_rfc3711_b2() {
        let mut c = CmFactory.create_cipher(arr("2B7E151628AED2A6ABF7158809CF4F3C"), true);
        let iv = arr("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000");
        let mut out = [0u8; 48];
        c.encrypt(&iv, &[0u8; 48], &mut out).unwrap();
        assert_eq!(
            out.to_vec(),
            hex("E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB
                 41E95B3BB0A2E8DD477901E4FCA894C0")
        );
        // Decrypting is the same keystream.
        let mut back = [0u8; 48];
        c.decrypt(&iv, &out, &mut back).unwrap();
        assert_eq!(back, [0u8; 48]);
        assert!(c.encrypt(&iv, &[0u8; 48], &mut [0u8; 47]).is_err());
    }

    /// FIPS-197 appendix C.1/C.3 for the single ECB block, and RFC 3711 appendix B.3: the
    /// session cipher key is AES(master key, master salt || 0x0000).
    #[test]
    fn ecb_round_vectors() {
        let mut out = [0u8; 32];
        RustSrtp.srtp_aes_128_ecb_round(
            &hex("000102030405060708090a0b0c0d0e0f"),
            &hex("00112233445566778899aabbccddeeff"),
            &mut out,
        );
        assert_eq!(out[..16].to_vec(), hex("69c4e0d86a7b0430d8cdb78070b4c55a"));
        RustSrtp.srtp_aes_256_ecb_round(
            &hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
            &hex("00112233445566778899aabbccddeeff"),
            &mut out,
        );
        assert_eq!(out[..16].to_vec(), hex("8ea2b7ca516745bfeafc49904b496089"));
        RustSrtp.srtp_aes_128_ecb_round(
            &hex("E1F97A0D3E018BE0D64FA32C06DE4139"),
            &hex("0EC675AD498AFEEBB6960B3AABE6 0000"),
            &mut out,
        );
        assert_eq!(out[..16].to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        // A wrong key length is no panic.
        RustSrtp.srtp_aes_128_ecb_round(&[0; 5], &[0; 16], &mut out);
    }

    const GCM_P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
        1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
    const GCM_A: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
    const GCM_IV: &str = "cafebabefacedbaddecaf888";

    /// The GCM specification's (McGrew & Viega) test cases 4 (AES-128) and 16 (AES-256),
    /// the vectors RFC 7714's AEAD profiles build on; the AAD is also split in two to check
    /// str0m's multi-slice decrypt.
    #[test]
    fn gcm_vectors() {
        let p = hex(GCM_P);
        let a = hex(GCM_A);
        let iv = arr(GCM_IV);
        let mut c = Gcm128Factory.create_cipher(arr("feffe9928665731c6d6a8f9467308308"), true);
        let mut out = vec![0u8; p.len() + 16];
        c.encrypt(&iv, &a, &p, &mut out).unwrap();
        let want = hex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
            21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091
            5bc94fbc3221a5db94fae95ae7121a47");
        assert_eq!(out, want);
        let mut back = vec![0u8; p.len()];
        let n = c.decrypt(&iv, &[&a[..4], &a[4..]], &out, &mut back).unwrap();
        assert_eq!(back[..n], p[..]);
        // A flipped bit fails the tag check; a packet shorter than a tag is an error.
        out[3] ^= 1;
        assert!(c.decrypt(&iv, &[&a], &out, &mut back).is_err());
        assert!(c.decrypt(&iv, &[&a], &out[..15], &mut back).is_err());

        let mut c = Gcm256Factory.create_cipher(
            arr("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"),
            true,
        );
        c.encrypt(&iv, &a, &p, &mut out).unwrap();
        let want = hex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
            8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662
            76fc6ece0f4e1768cddf8853bb2d551b");
        assert_eq!(out, want);
        let n = c.decrypt(&iv, &[&a], &out, &mut back).unwrap();
        assert_eq!(back[..n], p[..]);
    }
}
