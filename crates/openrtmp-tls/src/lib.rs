//! TLS for OpenRTMP: rustls with the `ring` provider on every target.
//!
//! - [`ServerTls`]: the RTMPS listener's acceptor (TLS 1.2 minimum), with certificates from
//!   PEM files (reloaded when they change), generated at start (development), or issued and
//!   renewed by ACME ([`acme`]); optional mutual TLS with pinned client certificates.
//! - [`ClientTls`]: our outgoing connections (the RTMP client, HTTP callbacks): the Mozilla
//!   roots plus extra CAs, or pinned server keys.
//! - [`dev`]: self-signed development certificates (`openrtmp cert dev`).
#![warn(missing_docs)]

pub mod acme;
mod client;
pub mod dev;
mod error;
mod info;
mod pem;
mod resolver;
mod server;
mod settings;
mod verify;

pub use error::TlsError;
pub use info::{spki_fingerprint, CertificateInfo};
pub use pem::{certified_key_from_pem, install_default_provider, load_certified_key, provider};
pub use resolver::{CertResolver, ACME_TLS_ALPN};
pub use server::ServerTls;
pub use settings::*;
