//! The certificate an RTMPS listener presents: swapped atomically when files change or
//! ACME renews (connections in progress keep theirs), plus TLS-ALPN-01 challenge
//! certificates (RFC 8737) presented only to a client that asks for `acme-tls/1`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwapOption;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The ALPN protocol id of TLS-ALPN-01 validation requests (RFC 8737 §6.2).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Picks the certificate for each TLS handshake.
#[derive(Default)]
pub struct CertResolver {
    current: ArcSwapOption<CertifiedKey>,
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertResolver")
            .field("has_certificate", &self.current.load().is_some())
            .finish_non_exhaustive()
    }
}

impl CertResolver {
    /// A resolver with no certificate yet (handshakes fail until one is set).
    pub fn new() -> Self {
        Self::default()
    }

    /// Presents `key` to every new handshake from now on.
    pub fn set(&self, key: Arc<CertifiedKey>) {
        self.current.store(Some(key));
    }

    /// The certificate presented now.
    pub fn current(&self) -> Option<Arc<CertifiedKey>> {
        self.current.load_full()
    }

    /// Presents `key` to TLS-ALPN-01 validation requests for `domain` (`None` removes it).
    pub fn set_challenge(&self, domain: &str, key: Option<Arc<CertifiedKey>>) {
        let mut map = self.challenges.write().unwrap_or_else(|e| e.into_inner());
        let domain = domain.to_ascii_lowercase();
        match key {
            Some(key) => {
                map.insert(domain, key);
            }
            None => {
                map.remove(&domain);
            }
        }
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let wants_challenge =
            hello.alpn().is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if wants_challenge {
            let name = hello.server_name()?.to_ascii_lowercase();
            let map = self.challenges.read().unwrap_or_else(|e| e.into_inner());
            return map.get(&name).cloned();
        }
        self.current.load_full()
    }
}
