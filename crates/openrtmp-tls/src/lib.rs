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
mod resolver;
mod settings;

pub use resolver::{CertResolver, ACME_TLS_ALPN};
pub use settings::*;
