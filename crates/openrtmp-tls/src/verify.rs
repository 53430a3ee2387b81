//! Certificate verifiers where a SHA-256 pin, not a CA, is the trust decision: client
//! certificates pinned by the server (mutual TLS), server keys pinned by our clients, and
//! the development-only "accept any server". All of them still check the handshake
//! signatures, so a peer must hold the private key of the certificate it presents.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::info::spki_fingerprint;
use crate::settings::Fingerprint;

/// Accepts exactly the client certificates whose SHA-256 (of the DER) is pinned. The pin is
/// the whole trust decision: neither a chain nor the validity dates are checked (rotate a
/// client by changing the pins).
#[derive(Debug)]
pub(crate) struct PinnedClientVerifier {
    pins: Vec<Fingerprint>,
    required: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedClientVerifier {
    pub(crate) fn new(pins: Vec<Fingerprint>, required: bool, provider: &CryptoProvider) -> Self {
        PinnedClientVerifier {
            pins,
            required,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for PinnedClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.required
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No CA names: any certificate the client has may be the pinned one.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let fingerprint = Fingerprint::of(end_entity);
        if self.pins.contains(&fingerprint) {
            tracing::debug!(%fingerprint, "pinned client certificate");
            return Ok(ClientCertVerified::assertion());
        }
        tracing::info!(%fingerprint, "client certificate refused: fingerprint not pinned");
        Err(CertificateError::ApplicationVerificationFailure.into())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Which servers a [`ServerVerifier`] accepts.
#[derive(Debug)]
enum ServerTrust {
    /// Those whose leaf SubjectPublicKeyInfo hashes to one of these (no chain or name check:
    /// the pin is the trust anchor, so a self-signed server can be pinned).
    Pinned(Vec<Fingerprint>),
    /// Any (development only).
    Anyone,
}

/// A server verifier for pinned keys or for `insecure`.
#[derive(Debug)]
pub(crate) struct ServerVerifier {
    trust: ServerTrust,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerVerifier {
    /// Accepts a server whose key is one of `pins`.
    pub(crate) fn pinned(pins: Vec<Fingerprint>, provider: &CryptoProvider) -> Arc<Self> {
        let algorithms = provider.signature_verification_algorithms;
        Arc::new(ServerVerifier { trust: ServerTrust::Pinned(pins), algorithms })
    }

    /// Accepts any server certificate (but still checks that the server holds its key).
    pub(crate) fn insecure(provider: &CryptoProvider) -> Arc<Self> {
        let algorithms = provider.signature_verification_algorithms;
        Arc::new(ServerVerifier { trust: ServerTrust::Anyone, algorithms })
    }
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pins = match &self.trust {
            ServerTrust::Anyone => return Ok(ServerCertVerified::assertion()),
            ServerTrust::Pinned(pins) => pins,
        };
        let got = spki_fingerprint(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if pins.contains(&got) {
            return Ok(ServerCertVerified::assertion());
        }
        let expected: Vec<String> = pins.iter().map(Fingerprint::to_string).collect();
        Err(rustls::Error::General(format!(
            "server key pin mismatch: got {got}, expected one of {}",
            expected.join(", ")
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
