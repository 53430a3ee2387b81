//! The DTLS/SRTP crypto provider for str0m, in pure Rust.
//!
//! str0m 0.25 ships providers only on aws-lc-rs (C, cmake), OpenSSL, or platform APIs, and
//! its `rust-crypto` feature needs a `str0m-rust-crypto` release that pulls aws-lc-rs back in
//! through `dimpl/rcgen`. So this module implements `str0m::crypto::CryptoProvider` itself:
//!
//! * SRTP (RFC 3711 §4.1.1 AES-CM, RFC 7714 AEAD AES-GCM) and the key derivation round
//!   (RFC 3711 §4.3.3) on `aes` + `ctr` + `aes-gcm`;
//! * HMAC-SHA1 (STUN MESSAGE-INTEGRITY, SRTP auth tags), SHA-1 and SHA-256 (fingerprints) on
//!   `hmac`, `sha1`, `sha2`;
//! * DTLS 1.2/1.3 through `dimpl` with its RustCrypto backend; the certificate is a
//!   self-signed ECDSA P-256 one made by `rcgen` on `ring`, one per process.
//!
//! No `unsafe`, no C besides `ring` (already in the tree for rustls).

// Reads peer-controlled bytes: no panics outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

use std::sync::{Arc, OnceLock};

use str0m::crypto::dtls::DtlsCert;
use str0m::crypto::CryptoProvider;

mod dtls;
mod hash;
mod srtp;

/// The process-wide provider. Every session shares it (it is stateless; ciphers are made
/// per session by its factories).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            static SRTP: srtp::RustSrtp = srtp::RustSrtp;
            static SHA1_HMAC: hash::RustSha1Hmac = hash::RustSha1Hmac;
            static SHA1: hash::RustSha1 = hash::RustSha1;
            static SHA256: hash::RustSha256 = hash::RustSha256;
            static DTLS: dtls::RustDtls = dtls::RustDtls;
            Arc::new(CryptoProvider {
                srtp_provider: &SRTP,
                sha1_hmac_provider: &SHA1_HMAC,
                sha1_provider: &SHA1,
                sha256_provider: &SHA256,
                dtls_provider: &DTLS,
            })
        })
        .clone()
}

/// The process's DTLS certificate (self-signed ECDSA P-256), made on first use. `None` only
/// if key generation failed (no system randomness), in which case no session can start.
///
/// One per process rather than one per session: making a key costs little, but a fixed
/// certificate keeps the fingerprint in every answer the same for the process's lifetime,
/// which makes captures easier to read; peers pin it per session through the SDP anyway.
pub fn certificate() -> Option<DtlsCert> {
    static CERT: OnceLock<Option<DtlsCert>> = OnceLock::new();
    CERT.get_or_init(dtls::generate_certificate).clone()
}
