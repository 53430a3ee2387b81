//! Bearer-token check for every route but `/health` and the dashboard's files (`/`,
//! `/assets/...`: they hold no secret; the data behind them is under `/api/v1/`).

use std::sync::Arc;

use openrtmp_server::ServerHandle;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Which token the API requires.
#[derive(Debug, Clone)]
pub(crate) enum TokenSource {
    /// Fixed by [`crate::ApiOptions::token`].
    Fixed(Arc<str>),
    /// The server configuration's `api_token`, read per request so a configuration change
    /// applies at once (`None` there: the API is open).
    Config(ServerHandle),
}

impl TokenSource {
    /// [`crate::ApiOptions::token`] when set, else the server configuration's.
    pub(crate) fn new(options: &crate::ApiOptions, handle: &ServerHandle) -> TokenSource {
        match options.token.as_deref() {
            Some(token) => TokenSource::Fixed(Arc::from(token)),
            None => TokenSource::Config(handle.clone()),
        }
    }
}

/// Middleware: passes the request on when it carries `Authorization: Bearer <token>` (or
/// when no token is in force).
pub(crate) async fn require_token(
    State(source): State<TokenSource>,
    request: Request,
    next: Next,
) -> Response {
    if allows(&source, request.headers()) {
        next.run(request).await
    } else {
        tracing::debug!(path = %request.uri().path(), "API request refused: bad token");
        ApiError::Unauthorized.into_response()
    }
}

/// Whether `headers` carry the token in force (always, when none is).
pub(crate) fn allows(source: &TokenSource, headers: &HeaderMap) -> bool {
    let token: Arc<str> = match source {
        TokenSource::Fixed(token) => Arc::clone(token),
        TokenSource::Config(handle) => match handle.config().api_token {
            Some(token) => token.into(),
            None => return true,
        },
    };
    let given =
        headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).and_then(bearer);
    given.is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
}

/// The token of a `Bearer` credential (scheme matched case-insensitively, RFC 7235 §2.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares without an early exit on the first differing byte, so response timing does not
/// reveal how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parses_scheme_case_insensitively() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secre"));
        assert!(constant_time_eq(b"", b""));
    }
}
