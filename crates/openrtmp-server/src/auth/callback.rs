//! Decisions by an external authorisation service: a JSON POST per request, behind the
//! circuit breaker ([`super::breaker`]).
//!
//! The request body:
//! `{"action","app","stream","query":{..},"client_ip","client_port","conn_id","tc_url","server"}`
//! (`stream` and `tc_url` may be null; `query` merges the app's and the stream's `?query`
//! parameters, which may carry credentials for the service to check). A 2xx answer allows;
//! a 5xx, a timeout or a connection error means the service is unavailable (and counts
//! against the breaker); any other answer (4xx, 3xx, 1xx) is a refusal, whose reason gives
//! the status and the start of the body.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use reqwest::Url;

use super::breaker::{Admit, Breaker, Transition};
use super::clock::Clock;
use super::http::{self, Http, PostError};
use super::stats::{bump, Counters};
use super::{AuthAction, AuthError, CallbackSettings};

/// Longest part of a refusal's body quoted in the reason, in characters.
const MAX_QUOTED_BODY: usize = 200;

/// The decision request (see the module docs).
#[derive(Debug, serde::Serialize)]
pub(crate) struct DecisionRequest<'a> {
    pub(crate) action: &'static str,
    pub(crate) app: &'a str,
    pub(crate) stream: Option<&'a str>,
    pub(crate) query: BTreeMap<String, String>,
    pub(crate) client_ip: String,
    pub(crate) client_port: u16,
    pub(crate) conn_id: u64,
    pub(crate) tc_url: Option<&'a str>,
    pub(crate) server: &'static str,
}

/// What the service decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Allow,
    /// Refused; the reason to give.
    Deny(String),
    /// No decision; what went wrong (for the log).
    Unavailable(String),
}

/// The compiled callback settings.
#[derive(Debug)]
pub(crate) struct Callback {
    pub(crate) url: Url,
    pub(crate) actions: Vec<AuthAction>,
    pub(crate) fail_open: bool,
    pub(crate) http: Arc<Http>,
}

impl Callback {
    /// Compiles the settings, reusing `previous`'s client when the TLS, timeout and secret
    /// are the same.
    pub(crate) fn new(
        settings: &CallbackSettings,
        previous: Option<&Callback>,
    ) -> Result<Callback, AuthError> {
        let url = http::parse_url(&settings.url, "callback url")?;
        let http = Http::reuse_or_new(
            previous.map(|p| &p.http),
            &settings.tls,
            settings.timeout,
            settings.signing_secret.as_deref(),
        )?;
        Ok(Callback { url, actions: settings.actions.clone(), fail_open: settings.fail_open, http })
    }

    /// Whether `action` is asked about.
    pub(crate) fn asks(&self, action: AuthAction) -> bool {
        self.actions.contains(&action)
    }

    /// Asks the service, unless the breaker is open.
    pub(crate) async fn decide(
        &self,
        request: &DecisionRequest<'_>,
        breaker: &Mutex<Breaker>,
        counters: &Counters,
        clock: &Clock,
    ) -> Outcome {
        let body = match serde_json::to_vec(request) {
            Ok(body) => body,
            Err(e) => return Outcome::Unavailable(format!("cannot encode the request: {e}")),
        };
        let admit = lock(breaker).admit(clock.now());
        if admit == Admit::No {
            return Outcome::Unavailable("circuit open (the service failed repeatedly)".into());
        }
        // If this future is dropped mid-request, a probe must not hold the circuit half-open.
        let mut probe = ProbeGuard { breaker, clock, armed: admit == Admit::Probe };
        bump(&counters.callback_calls);
        // The latency logged is real time, whatever clock the breaker reads.
        let started = Instant::now();
        let result = self.http.post(&self.url, body).await;
        probe.armed = false;
        let latency_ms = started.elapsed().as_millis();
        let (outcome, healthy) = match result {
            Ok(answer) if (200..300).contains(&answer.status) => (Outcome::Allow, true),
            Ok(answer) if answer.status >= 500 => {
                bump(&counters.callback_errors);
                (Outcome::Unavailable(format!("HTTP {}", answer.status)), false)
            }
            Ok(answer) => (Outcome::Deny(refusal(answer.status, &answer.body)), true),
            Err(PostError::Timeout) => {
                bump(&counters.callback_timeouts);
                let timeout = self.http_timeout_ms();
                (Outcome::Unavailable(format!("no answer within {timeout} ms")), false)
            }
            Err(PostError::Transport(detail)) => {
                bump(&counters.callback_errors);
                (Outcome::Unavailable(detail), false)
            }
        };
        tracing::debug!(action = request.action, latency_ms, ?outcome, "authorisation service");
        self.report(breaker, counters, clock, healthy);
        outcome
    }

    fn report(&self, breaker: &Mutex<Breaker>, counters: &Counters, clock: &Clock, healthy: bool) {
        let transition = {
            let mut breaker = lock(breaker);
            if healthy {
                breaker.on_success()
            } else {
                breaker.on_failure(clock.now())
            }
        };
        let url = http::redact(&self.url);
        match transition {
            Transition::Opened => {
                bump(&counters.circuit_opened);
                tracing::warn!(%url, "authorisation service failing: circuit opened");
            }
            Transition::Closed => {
                tracing::warn!(%url, "authorisation service answering again: circuit closed");
            }
            Transition::None => {}
        }
    }

    fn http_timeout_ms(&self) -> u128 {
        self.http.timeout().as_millis()
    }
}

/// The refusal reason: the status, and the start of the body when there is one.
fn refusal(status: u16, body: &str) -> String {
    let text: String = body
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_QUOTED_BODY + 1)
        .collect();
    if text.is_empty() {
        return format!("denied by the authorisation service (HTTP {status})");
    }
    let mut quoted: String = text.chars().take(MAX_QUOTED_BODY).collect();
    if text.chars().count() > MAX_QUOTED_BODY {
        quoted.push_str("...");
    }
    format!("denied by the authorisation service (HTTP {status}): {}", quoted.trim_end())
}

struct ProbeGuard<'a> {
    breaker: &'a Mutex<Breaker>,
    clock: &'a Clock,
    armed: bool,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            lock(self.breaker).on_probe_abandoned(self.clock.now());
        }
    }
}

pub(crate) fn lock(breaker: &Mutex<Breaker>) -> MutexGuard<'_, Breaker> {
    // Every breaker update is a single assignment: a poisoned lock holds a whole state.
    breaker.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_reasons() {
        assert_eq!(refusal(403, ""), "denied by the authorisation service (HTTP 403)");
        assert_eq!(
            refusal(403, "  no such user\r\n"),
            "denied by the authorisation service (HTTP 403): no such user"
        );
        let long = refusal(401, &"x".repeat(500));
        assert!(long.ends_with(&format!("{}...", "x".repeat(200))), "{long}");
        assert_eq!(refusal(403, "a\nb"), "denied by the authorisation service (HTTP 403): a b");
    }
}
