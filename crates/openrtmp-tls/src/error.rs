//! What can go wrong loading certificates and keys, generating development certificates and
//! building TLS configurations. Every variant names the file (or the input) and the problem,
//! because these errors end up in front of an operator at start-up or in a reload warning.

use std::io;
use std::path::PathBuf;

use crate::acme::AcmeError;

/// A TLS set-up error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file that is configured does not exist.
    #[error("{what} file {} does not exist", path.display())]
    MissingFile {
        /// What the file should hold (`certificate`, `private key`, `CA`).
        what: &'static str,
        /// The configured path.
        path: PathBuf,
    },
    /// A file that exists but cannot be read.
    #[error("cannot read {what} file {}: {source}", path.display())]
    ReadFile {
        /// What the file should hold.
        what: &'static str,
        /// The configured path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A file that is not well-formed PEM (truncated, bad base64...).
    #[error("{what} file {} is not valid PEM: {detail}", path.display())]
    BadPem {
        /// What the file should hold.
        what: &'static str,
        /// The file (or `<... PEM text>` for in-memory input).
        path: PathBuf,
        /// What the PEM parser said.
        detail: String,
    },
    /// A certificate file without any `CERTIFICATE` block.
    #[error(
        "certificate file {} contains no certificate (expected a PEM \"BEGIN CERTIFICATE\" block)",
        path.display()
    )]
    NoCertificate {
        /// The file (or `<certificate PEM text>`).
        path: PathBuf,
    },
    /// A certificate that is not valid X.509 DER.
    #[error("certificate file {}: cannot parse the certificate: {detail}", path.display())]
    BadCertificate {
        /// The file (or `<certificate PEM text>`).
        path: PathBuf,
        /// What the parser said.
        detail: String,
    },
    /// DER bytes given directly that are not a valid X.509 certificate.
    #[error("cannot parse the certificate: {detail}")]
    InvalidCertificate {
        /// What the parser said.
        detail: String,
    },
    /// A key file without a `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block.
    #[error(
        "private key file {} contains no private key (expected a PEM \"BEGIN PRIVATE KEY\", \
         \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" block)",
        path.display()
    )]
    NoPrivateKey {
        /// The file (or `<private key PEM text>`).
        path: PathBuf,
    },
    /// A private key that the `ring` provider cannot sign with.
    #[error(
        "private key file {}: unsupported key type ({detail}); use ECDSA P-256/P-384, Ed25519 \
         or RSA (2048 bits or more)",
        path.display()
    )]
    UnsupportedKey {
        /// The file (or `<private key PEM text>`).
        path: PathBuf,
        /// What the provider said.
        detail: String,
    },
    /// A private key that is not the certificate's.
    #[error(
        "private key file {} does not match certificate file {} (their public keys differ)",
        key.display(),
        cert.display()
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// A CA file that holds no usable certificate.
    #[error("CA file {}: {detail}", path.display())]
    BadCaFile {
        /// The file.
        path: PathBuf,
        /// The problem.
        detail: String,
    },
    /// A name that cannot go on a certificate.
    #[error("invalid certificate name {name:?}: {detail}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        detail: String,
    },
    /// Mutual TLS enabled without any pinned client certificate: nobody could connect.
    #[error("client authentication is enabled but no client certificate fingerprint is pinned")]
    NoClientPins,
    /// A file that cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    WriteFile {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Certificate generation failed.
    #[error("cannot generate the certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("invalid TLS configuration: {detail}")]
    Config {
        /// What rustls said.
        detail: String,
    },
    /// ACME account, cache or issuance failure.
    #[error("ACME: {0}")]
    Acme(#[from] AcmeError),
}
