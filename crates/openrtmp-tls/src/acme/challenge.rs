//! Answering the CA's validation requests: TLS-ALPN-01 certificates presented by the RTMPS
//! listener (RFC 8737), and a small HTTP-01 responder (RFC 8555 §8.3).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{CertificateParams, CustomExtension, KeyPair};
use rustls::crypto::ring::sign::any_supported_type;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::CertResolver;

use super::AcmeError;

/// The path prefix of HTTP-01 validation requests.
const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";
/// Longest HTTP request head the responder reads.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// How long the responder waits for a request and for its answer to be written.
const HTTP01_TIMEOUT: Duration = Duration::from_secs(10);

/// The self-signed certificate that proves control of `domain` (RFC 8737 §3): the domain as
/// its only subjectAltName and the critical acmeIdentifier extension holding `digest`, the
/// SHA-256 of the key authorization.
pub(super) fn tls_alpn_certificate(
    domain: &str,
    digest: &[u8],
) -> Result<Arc<CertifiedKey>, AcmeError> {
    let fail =
        |reason: String| AcmeError::ChallengeCertificate { domain: domain.to_owned(), reason };
    // `new_acme_identifier` panics on anything but a SHA-256 digest.
    if digest.len() != 32 {
        return Err(fail(format!("key authorization digest is {} bytes, not 32", digest.len())));
    }
    let mut params =
        CertificateParams::new(vec![domain.to_owned()]).map_err(|e| fail(e.to_string()))?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let key = KeyPair::generate().map_err(|e| fail(e.to_string()))?;
    let cert = params.self_signed(&key).map_err(|e| fail(e.to_string()))?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    // Not `CertifiedKey::from_der`: its key check parses the certificate with webpki, which
    // refuses the critical acmeIdentifier extension. The key is the one just signed with.
    let signing_key = any_supported_type(&key_der).map_err(|e| fail(e.to_string()))?;
    Ok(Arc::new(CertifiedKey::new(vec![cert.der().clone()], signing_key)))
}

/// TLS-ALPN-01 certificates installed in the resolver for one order; removed when this is
/// dropped (whether the order succeeded, failed or was cancelled).
#[derive(Debug)]
pub(super) struct ChallengeCerts {
    resolver: Arc<CertResolver>,
    domains: Vec<String>,
}

impl ChallengeCerts {
    pub fn new(resolver: Arc<CertResolver>) -> Self {
        ChallengeCerts { resolver, domains: Vec::new() }
    }

    /// Presents `key` to validation requests for `domain` until `self` is dropped.
    pub fn install(&mut self, domain: &str, key: Arc<CertifiedKey>) {
        self.resolver.set_challenge(domain, Some(key));
        self.domains.push(domain.to_owned());
    }
}

impl Drop for ChallengeCerts {
    fn drop(&mut self) {
        for domain in &self.domains {
            self.resolver.set_challenge(domain, None);
        }
    }
}

/// Token -> key authorization.
type Tokens = Arc<Mutex<HashMap<String, String>>>;

/// An HTTP-01 responder listening for the duration of one order (stops when dropped).
#[derive(Debug)]
pub(super) struct Http01Responder {
    tokens: Tokens,
    task: JoinHandle<()>,
}

impl Http01Responder {
    /// Listens on `listen`.
    pub async fn bind(listen: SocketAddr) -> Result<Self, AcmeError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|error| AcmeError::Http01Bind { listen, error })?;
        let tokens = Tokens::default();
        let task = tokio::spawn(serve(listener, tokens.clone()));
        Ok(Http01Responder { tokens, task })
    }

    /// Answers `GET /.well-known/acme-challenge/<token>` with `key_authorization`.
    pub fn add(&self, token: &str, key_authorization: &str) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.insert(token.to_owned(), key_authorization.to_owned());
    }
}

impl Drop for Http01Responder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, tokens: Tokens) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let tokens = tokens.clone();
                tokio::spawn(async move {
                    let answered = tokio::time::timeout(HTTP01_TIMEOUT, answer(stream, &tokens));
                    match answered.await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "HTTP-01 request failed"),
                        Err(_) => tracing::debug!(%peer, "HTTP-01 request timed out"),
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: don't spin.
                tracing::warn!(error = %e, "HTTP-01 responder cannot accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads one request head and answers it; the connection is then closed.
async fn answer(mut stream: TcpStream, tokens: &Tokens) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST_HEAD {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let key_authorization = request_token(&head).and_then(|token| {
        let tokens = tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.get(token).cloned()
    });
    let response = match key_authorization {
        Some(body) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    };
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// The token of a `GET /.well-known/acme-challenge/<token> HTTP/1.x` request line.
fn request_token(head: &[u8]) -> Option<&str> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    if method != "GET" || !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    target.strip_prefix(HTTP01_PREFIX).filter(|t| !t.is_empty() && !t.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_line_parsing() {
        let token = |s: &str| request_token(s.as_bytes()).map(str::to_owned);
        let req = "GET /.well-known/acme-challenge/abc_-1 HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(token(req).as_deref(), Some("abc_-1"));
        assert_eq!(token("GET /.well-known/acme-challenge/ HTTP/1.1\r\n"), None);
        assert_eq!(token("POST /.well-known/acme-challenge/abc HTTP/1.1\r\n"), None);
        assert_eq!(token("GET /other/abc HTTP/1.1\r\n"), None);
        assert_eq!(token("GET /.well-known/acme-challenge/a/b HTTP/1.1\r\n"), None);
        assert_eq!(token("GET /.well-known/acme-challenge/abc\r\n"), None);
        assert_eq!(token(""), None);
        assert_eq!(request_token(&[0xff, 0xfe, b'\n']), None);
    }

    #[tokio::test]
    async fn responder_serves_known_tokens_only() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let responder = Http01Responder::bind(([127, 0, 0, 1], port).into()).await.unwrap();
        responder.add("tok", "tok.thumb");
        let get = |path: &'static str| async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let ok = get("/.well-known/acme-challenge/tok").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.ends_with("\r\n\r\ntok.thumb"), "{ok}");
        let missing = get("/.well-known/acme-challenge/nope").await;
        assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
        drop(responder);
    }

    #[test]
    fn challenge_certificate_carries_the_digest() {
        let digest = [7u8; 32];
        let key = tls_alpn_certificate("example.com", &digest).unwrap();
        let der = key.end_entity_cert().unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
        // id-pe-acmeIdentifier, RFC 8737 §6.1.
        let oid = x509_parser::oid_registry::Oid::from(&[1, 3, 6, 1, 5, 5, 7, 1, 31]).unwrap();
        let ext = cert.get_extension_unique(&oid).unwrap().unwrap();
        assert!(ext.critical);
        assert_eq!(ext.value, [&[0x04, 32][..], &digest].concat());
        assert!(tls_alpn_certificate("example.com", &[0; 16]).is_err());
    }
}
