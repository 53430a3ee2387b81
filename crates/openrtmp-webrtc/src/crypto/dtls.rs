//! DTLS for str0m through `dimpl` (pure Rust, DTLS 1.2 and 1.3) on its RustCrypto backend,
//! and the self-signed certificate the fingerprint in our SDP answers names (RFC 8827 §6.5:
//! WebRTC authenticates the DTLS certificate by that fingerprint, not by a CA).

use std::sync::Arc;
use std::time::Instant;

use ring::rand::{SecureRandom, SystemRandom};
use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, ProtocolVersion,
};
use str0m::crypto::CryptoError;

/// Self-signed ECDSA P-256 (what browsers generate themselves and every WebRTC stack takes),
/// with a random 128-bit serial: Firefox rejects two certificates with the same issuer and
/// serial across sessions (str0m issue 517).
pub(super) fn generate_certificate() -> Option<DtlsCert> {
    let make = || -> Result<DtlsCert, String> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| e.to_string())?;
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, "OpenRTMP WebRTC");
        params.distinguished_name = name;
        let mut serial = [0u8; 16];
        SystemRandom::new().fill(&mut serial).map_err(|_| "no system randomness".to_string())?;
        // A positive DER INTEGER: clear the top bit.
        serial[0] &= 0x7f;
        params.serial_number = Some(serial.to_vec().into());
        let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
        Ok(DtlsCert { certificate: cert.der().to_vec(), private_key: key.serialize_der() })
    };
    match make() {
        Ok(cert) => Some(cert),
        Err(error) => {
            tracing::error!(%error, "cannot make the DTLS certificate");
            None
        }
    }
}

/// The DTLS half of the provider.
#[derive(Debug)]
pub(super) struct RustDtls;

impl DtlsProvider for RustDtls {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        super::certificate()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        dtls_version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        // ICE has already proven the peer answers at its address (RFC 8445 §7.2.5), so the
        // DTLS cookie exchange would only cost a round trip.
        let mut builder = dimpl::Config::builder()
            .use_server_cookie(false)
            .with_crypto_provider(dimpl::crypto::rust_crypto::default_provider());
        if let Some(mtu) = mtu {
            builder = builder.mtu(mtu);
        }
        let config =
            Arc::new(builder.build().map_err(|e| CryptoError::Other(format!("DTLS config: {e}")))?);
        let cert = cert.clone();
        let dtls = match dtls_version {
            DtlsVersion::Dtls12 => dimpl::Dtls::new_12(config, cert, now),
            DtlsVersion::Dtls13 => dimpl::Dtls::new_13(config, cert, now),
            DtlsVersion::Auto => dimpl::Dtls::new_auto(config, cert, now),
            other => {
                return Err(CryptoError::Other(format!("unsupported DTLS version {other}")));
            }
        };
        Ok(Box::new(Dtls(dtls)))
    }
}

/// One DTLS association; forwards to dimpl.
struct Dtls(dimpl::Dtls);

impl std::fmt::Debug for Dtls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dtls").finish_non_exhaustive()
    }
}

impl DtlsInstance for Dtls {
    fn set_active(&mut self, active: bool) {
        self.0.set_active(active);
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.0.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        self.0.poll_output(buf)
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.0.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.0.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.0.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.0.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_is_p256_and_unique_serial() {
        let a = generate_certificate().unwrap();
        let b = generate_certificate().unwrap();
        assert_ne!(a.certificate, b.certificate);
        // id-ecPublicKey + prime256v1 OIDs appear in the SubjectPublicKeyInfo.
        let p256 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        assert!(a.certificate.windows(p256.len()).any(|w| w == p256));
        // The process certificate is made once.
        assert_eq!(
            super::super::certificate().unwrap().certificate,
            RustDtls.generate_certificate().unwrap().certificate
        );
    }

    #[test]
    fn dtls_instances_build_for_each_version() {
        let cert = generate_certificate().unwrap();
        for v in [DtlsVersion::Dtls12, DtlsVersion::Dtls13, DtlsVersion::Auto] {
            assert!(RustDtls.new_dtls(&cert, Instant::now(), v, Some(1150)).is_ok());
        }
    }
}
