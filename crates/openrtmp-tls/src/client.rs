//! rustls client configurations for our outgoing connections (the RTMP client, HTTP
//! callbacks) from [`ClientTls`].

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::{ClientConfig, RootCertStore};

use crate::error::TlsError;
use crate::pem::{parse_certificates, provider, read_file};
use crate::settings::ClientTls;
use crate::verify::ServerVerifier;

impl ClientTls {
    /// A client configuration (TLS 1.2 and 1.3, no client certificate, no ALPN) that
    /// accepts a server:
    /// - with `pinned_keys`: exactly when the SHA-256 of its leaf certificate's
    ///   SubjectPublicKeyInfo is pinned. The pin is the trust anchor: neither the chain nor
    ///   the name is checked, so a self-signed server can be pinned. A mismatch fails the
    ///   handshake with "server key pin mismatch: got ..., expected one of ...".
    /// - else with `insecure`: whatever certificate it presents (development only; a
    ///   warning is logged when the configuration is built).
    /// - else: when its chain leads to a Mozilla root or a certificate of `ca_files` and the
    ///   certificate is valid for the name connected to.
    ///
    /// In every case the server must prove it holds the certificate's private key. The CA
    /// files are read (and must each hold a certificate) in every case, so a bad path is
    /// reported even while pins are in use.
    pub fn client_config(&self) -> Result<ClientConfig, TlsError> {
        let provider = provider();
        let roots = self.root_store()?;
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config { detail: e.to_string() })?;
        let config = if !self.pinned_keys.is_empty() {
            builder
                .dangerous()
                .with_custom_certificate_verifier(ServerVerifier::pinned(
                    self.pinned_keys.clone(),
                    &provider,
                ))
                .with_no_client_auth()
        } else if self.insecure {
            tracing::warn!(
                "TLS server certificates are not verified (insecure client setting): \
                 for development only"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(ServerVerifier::insecure(&provider))
                .with_no_client_auth()
        } else {
            let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Config { detail: e.to_string() })?;
            builder.with_webpki_verifier(verifier).with_no_client_auth()
        };
        Ok(config)
    }

    /// The Mozilla roots plus every certificate of `ca_files`.
    fn root_store(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        for path in &self.ca_files {
            add_ca_file(&mut roots, path)?;
        }
        Ok(roots)
    }
}

fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<(), TlsError> {
    let pem = read_file("CA", path)?;
    let certs = parse_certificates(&pem, path).map_err(|e| {
        let detail = match e {
            TlsError::NoCertificate { .. } => {
                "no certificate found (expected PEM \"BEGIN CERTIFICATE\" blocks)".to_owned()
            }
            TlsError::BadPem { detail, .. } => format!("not valid PEM: {detail}"),
            TlsError::BadCertificate { detail, .. } => format!("cannot parse: {detail}"),
            other => other.to_string(),
        };
        TlsError::BadCaFile { path: path.to_owned(), detail }
    })?;
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| TlsError::BadCaFile {
            path: path.to_owned(),
            detail: format!("certificate #{} cannot be a trust anchor: {e}", i + 1),
        })?;
    }
    Ok(())
}
