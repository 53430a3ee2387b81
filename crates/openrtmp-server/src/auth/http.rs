//! The HTTP client for decisions and notifications: JSON POSTs, signed when a secret is
//! set, with one deadline covering connect, request and the (bounded) answer.
//!
//! Requests go straight to the configured address: environment proxies are ignored (an
//! authorisation service is internal, and a proxy picked up from the environment would
//! also see the signed bodies), and redirects are not followed (a 3xx is an answer, so a
//! refusal, rather than a way to send the request somewhere else).

use std::time::Duration;

use reqwest::Url;
use ring::hmac;

use super::token::to_hex;
use super::{AuthError, ClientTls};

/// The signature header: `sha256=<hex HMAC-SHA256(secret, body)>`.
pub(crate) const SIGNATURE_HEADER: &str = "X-OpenRTMP-Signature";
/// Most bytes of an answer read (the rest is not waited for).
const MAX_ANSWER: usize = 1024;

/// What the service answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// The start of the body, as text (lossy).
    pub(crate) body: String,
}

/// Why there is no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PostError {
    /// The deadline passed.
    Timeout,
    /// Connecting or talking failed (refused, reset, TLS...).
    Transport(String),
}

/// A client, with what it was built from.
pub(crate) struct Http {
    client: reqwest::Client,
    signer: Option<hmac::Key>,
    timeout: Duration,
    /// What `client` and `signer` were made from (to reuse them across reloads).
    tls: ClientTls,
    secret: Option<String>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("signed", &self.signer.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Http {
    pub(crate) fn new(
        tls: &ClientTls,
        timeout: Duration,
        secret: Option<&str>,
    ) -> Result<Http, AuthError> {
        let tls_config = tls.client_config().map_err(AuthError::Tls)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .user_agent(super::SERVER_NAME)
            .build()
            .map_err(|e| AuthError::HttpClient { detail: e.to_string() })?;
        Ok(Http {
            client,
            signer: secret.map(|s| hmac::Key::new(hmac::HMAC_SHA256, s.as_bytes())),
            timeout,
            tls: tls.clone(),
            secret: secret.map(str::to_owned),
        })
    }

    /// This client if it was made from the same settings, else a new one.
    pub(crate) fn reuse_or_new(
        previous: Option<&std::sync::Arc<Http>>,
        tls: &ClientTls,
        timeout: Duration,
        secret: Option<&str>,
    ) -> Result<std::sync::Arc<Http>, AuthError> {
        match previous {
            Some(http)
                if http.tls == *tls
                    && http.timeout == timeout
                    && http.secret.as_deref() == secret =>
            {
                Ok(http.clone())
            }
            _ => Http::new(tls, timeout, secret).map(std::sync::Arc::new),
        }
    }

    /// The deadline of one request.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// POSTs `body` (JSON) to `url` and reads the start of the answer, all within the
    /// timeout.
    pub(crate) async fn post(&self, url: &Url, body: Vec<u8>) -> Result<Answer, PostError> {
        let mut request =
            self.client.post(url.clone()).header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(key) = &self.signer {
            let signature = format!("sha256={}", to_hex(hmac::sign(key, &body).as_ref()));
            request = request.header(SIGNATURE_HEADER, signature);
        }
        let exchange = async {
            let mut response = request.body(body).send().await.map_err(transport)?;
            let status = response.status().as_u16();
            let mut bytes = Vec::new();
            // A body that breaks off is still an answer: the status decides.
            while bytes.len() < MAX_ANSWER {
                match response.chunk().await {
                    Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                    Ok(None) | Err(_) => break,
                }
            }
            bytes.truncate(MAX_ANSWER);
            Ok(Answer { status, body: String::from_utf8_lossy(&bytes).into_owned() })
        };
        tokio::time::timeout(self.timeout, exchange).await.unwrap_or(Err(PostError::Timeout))
    }
}

fn transport(e: reqwest::Error) -> PostError {
    if e.is_timeout() {
        return PostError::Timeout;
    }
    // The top-level message is generic ("error sending request for url"); the cause says
    // what happened (connection refused, certificate...).
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        detail = format!("{detail}: {cause}");
        source = cause.source();
    }
    PostError::Transport(detail)
}

/// Parses a configured URL (`what` names the setting in errors); only http and https.
pub(crate) fn parse_url(url: &str, what: &'static str) -> Result<Url, AuthError> {
    let bad = |reason: String| AuthError::BadUrl { what, url: redact_str(url), reason };
    let parsed = Url::parse(url).map_err(|e| bad(e.to_string()))?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => return Err(bad(format!("scheme {other:?} is not http or https"))),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".into()));
    }
    Ok(parsed)
}

/// The URL for logs and errors: without password, query or fragment (either may hold a
/// credential).
pub(crate) fn redact(url: &Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

fn redact_str(url: &str) -> String {
    match Url::parse(url) {
        Ok(parsed) => redact(&parsed),
        // Unparsable: no query or fragment, nothing before an '@'.
        Err(_) => {
            let end = url.find(['?', '#']).unwrap_or(url.len());
            let head = url.get(..end).unwrap_or_default();
            let shown = match head.rfind('@') {
                Some(at) => format!("***{}", head.get(at..).unwrap_or_default()),
                None => head.to_owned(),
            };
            shown.chars().take(100).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_redacted() {
        assert!(parse_url("http://127.0.0.1:8080/auth", "callback url").is_ok());
        assert!(parse_url("https://auth.example/x", "callback url").is_ok());
        let err = parse_url("ftp://auth.example/", "callback url").unwrap_err().to_string();
        assert!(err.contains("callback url") && err.contains("\"ftp\""), "{err}");
        let err = parse_url("not a url", "notify url").unwrap_err().to_string();
        assert!(err.contains("notify url"), "{err}");
        let err = parse_url("http://user:pw@/x?k=1", "callback url").unwrap_err().to_string();
        assert!(!err.contains("pw"), "{err}");
        let url = parse_url("https://u:hunter2@auth.example/cb?key=abc#f", "x").unwrap();
        assert_eq!(redact(&url), "https://u:***@auth.example/cb");
    }
}
