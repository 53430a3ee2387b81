//! Who may connect, publish and play.
//!
//! One long-lived `Auth` (shared by every connection, kept across configuration reloads
//! with its brute-force counts, circuit breaker and counters) decides each request. The
//! order, which is also the order of cost:
//!
//! 1. **Names**: the app and the stream (after splitting off `?query` and trimming `/`)
//!    must follow the name rules (length, characters, no `.`-segments). Stream and app names
//!    are only ever used as map keys; anything that turns them into file names later does so
//!    only after this check, so no client-supplied name can reach outside the server's
//!    directories.
//! 2. **ACL**: the connect rules, then (publish, play) the action's rules.
//! 3. **Brute force**: an address with too many recent failures is refused at once; nothing
//!    else is checked or called.
//! 4. **Publish key** (publish) or **play token** (play), where configured.
//! 5. **HTTP callback**, where configured for the action.
//!
//! Failures in step 4 and refusals by the callback service count as failed attempts for
//! brute force; refusals by name or ACL, and an unavailable service, do not (they are not
//! guesses). Refusal reasons go to the client and the log: they never hold a key, token or
//! signing secret, and a stream name that may be a publish key is not logged.

mod acl;
mod breaker;
mod brute;
mod callback;
mod clock;
mod http;
mod keys;
mod names;
mod notify;
mod query;

pub(crate) use query::percent_encode;
mod settings;
mod stats;
mod token;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::Semaphore;

use acl::Acl;
use breaker::Breaker;
use brute::{BruteForce, IpKey};
use callback::{Callback, DecisionRequest, Outcome};
use clock::Clock;
use keys::PublishKeys;
use names::NameKind;
use notify::Notifier;
use query::{Params, Query, MAX_QUERY_LEN};
use stats::{bump, Counters};
use token::PlayTokens;

pub(crate) use notify::Notification;
pub use settings::*;
pub use stats::AuthStats;
pub use token::sign_play_token;

/// `server` in callback and notification bodies, and the HTTP user agent.
pub(crate) const SERVER_NAME: &str = concat!("OpenRTMP ", env!("CARGO_PKG_VERSION"));

/// Authorisation settings that cannot be put to use.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A callback or notification URL that is not an http(s) URL.
    #[error("invalid {what} {url}: {reason}")]
    BadUrl {
        /// Which setting (`callback url`, `notify url`).
        what: &'static str,
        /// The URL, without password, query or fragment.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The callback TLS settings (CA files, pins).
    #[error("callback TLS settings: {0}")]
    Tls(#[source] openrtmp_tls::TlsError),
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client for callbacks: {detail}")]
    HttpClient {
        /// What went wrong.
        detail: String,
    },
    /// A publish key bound to a stream name that breaks the name rules.
    #[error("a publish key of app {app} is bound to the stream {stream:?}, which is not a valid stream name: {reason}")]
    BadKeyStream {
        /// The app.
        app: String,
        /// The bound stream name.
        stream: String,
        /// The rule it breaks.
        reason: String,
    },
}

/// The state of the circuit breaker in front of the callback service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CircuitState {
    /// Requests go to the service.
    Closed,
    /// The service failed repeatedly: it is not asked until the cooldown has passed.
    Open,
    /// The cooldown has passed: the next request probes the service.
    HalfOpen,
}

/// One request to decide.
#[derive(Debug, Clone)]
pub(crate) struct AuthRequest {
    pub action: AuthAction,
    /// As the client sent it (may carry `?query`).
    pub app: String,
    /// As the client sent it (may carry `?query`); `None` for connect.
    pub stream: Option<String>,
    pub tc_url: Option<String>,
    pub peer: SocketAddr,
    pub conn_id: u64,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Go ahead under these names: query split off, `/` trimmed, a publish key mapped to
    /// its stream name.
    Allow {
        app: String,
        stream: Option<String>,
    },
    Deny(Denial),
}

/// A refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Denial {
    pub kind: DenyKind,
    /// A sentence for the client's status description and the log (never a secret).
    pub reason: String,
}

impl Denial {
    fn new(kind: DenyKind, reason: impl Into<String>) -> Denial {
        Denial { kind, reason: reason.into() }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DenyKind {
    BadName,
    Acl,
    BruteForce,
    BadKey,
    BadToken,
    CallbackDenied,
    CallbackUnavailable,
}

impl DenyKind {
    /// Every kind, in label order of the stats.
    pub(crate) const ALL: [DenyKind; 7] = [
        DenyKind::BadName,
        DenyKind::Acl,
        DenyKind::BruteForce,
        DenyKind::BadKey,
        DenyKind::BadToken,
        DenyKind::CallbackDenied,
        DenyKind::CallbackUnavailable,
    ];

    /// The metrics and stats label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DenyKind::BadName => "bad_name",
            DenyKind::Acl => "acl",
            DenyKind::BruteForce => "brute_force",
            DenyKind::BadKey => "bad_key",
            DenyKind::BadToken => "bad_token",
            DenyKind::CallbackDenied => "callback_denied",
            DenyKind::CallbackUnavailable => "callback_unavailable",
        }
    }
}

/// The settings compiled for use; replaced whole on reload.
#[derive(Debug)]
struct Policy {
    max_len: usize,
    acl: Acl,
    keys: PublishKeys,
    tokens: Option<PlayTokens>,
    callback: Option<Callback>,
    notifier: Option<Arc<Notifier>>,
}

impl Policy {
    fn new(settings: &AuthSettings, previous: Option<&Policy>) -> Result<Policy, AuthError> {
        let callback = match &settings.callback {
            Some(cb) => Some((cb, Callback::new(cb, previous.and_then(|p| p.callback.as_ref()))?)),
            None => None,
        };
        let notifier = match &callback {
            Some((cb, compiled)) => Notifier::new(cb, compiled.http.clone())?.map(Arc::new),
            None => None,
        };
        Ok(Policy {
            max_len: settings.names.max_len,
            acl: Acl::new(&settings.acl),
            keys: PublishKeys::new(&settings.publish_keys, settings.names.max_len)?,
            tokens: settings.play_tokens.as_ref().map(PlayTokens::new),
            callback: callback.map(|(_, compiled)| compiled),
            notifier,
        })
    }
}

/// The authorisation layer (see the module docs).
#[derive(Debug)]
pub(crate) struct Auth {
    policy: RwLock<Arc<Policy>>,
    brute: BruteForce,
    breaker: Mutex<Breaker>,
    notify_slots: Arc<Semaphore>,
    counters: Arc<Counters>,
    /// `now` for the breaker and the brute-force blocks.
    clock: Clock,
}

/// What evaluation refused, with what only the log should see.
struct Refusal {
    denial: Denial,
    /// Detail for the log (e.g. why the service is unavailable).
    detail: Option<String>,
}

impl From<Denial> for Refusal {
    fn from(denial: Denial) -> Refusal {
        Refusal { denial, detail: None }
    }
}

impl Auth {
    pub(crate) fn new(settings: &AuthSettings) -> Result<Auth, AuthError> {
        Auth::with_clock(settings, Clock::System)
    }

    /// [`Auth::new`] reading the time from `clock`.
    pub(crate) fn with_clock(settings: &AuthSettings, clock: Clock) -> Result<Auth, AuthError> {
        let (failures, cooldown) = match &settings.callback {
            Some(cb) => (cb.breaker_failures, cb.breaker_cooldown),
            None => (DEFAULT_BREAKER_FAILURES, DEFAULT_BREAKER_COOLDOWN),
        };
        Ok(Auth {
            policy: RwLock::new(Arc::new(Policy::new(settings, None)?)),
            brute: BruteForce::new(&settings.brute_force),
            breaker: Mutex::new(Breaker::new(failures, cooldown)),
            notify_slots: Arc::new(Semaphore::new(notify::MAX_IN_FLIGHT)),
            counters: Arc::new(Counters::default()),
            clock,
        })
    }

    /// Applies new settings; on error nothing changes. Brute-force counts, the breaker
    /// state (unless the callback URL changed) and the counters are kept; requests being
    /// decided finish under the settings they started with.
    pub(crate) fn update(&self, settings: &AuthSettings) -> Result<(), AuthError> {
        let previous = self.policy();
        let policy = Policy::new(settings, Some(&previous))?;
        self.brute.update(&settings.brute_force);
        if let (Some(cb), Some(cb_settings)) = (&policy.callback, &settings.callback) {
            let mut breaker = callback::lock(&self.breaker);
            breaker.set_limits(cb_settings.breaker_failures, cb_settings.breaker_cooldown);
            // A different service starts with a clean slate.
            if previous.callback.as_ref().is_none_or(|p| p.url != cb.url) {
                breaker.reset();
            }
        }
        *self.policy.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(policy);
        Ok(())
    }

    /// Decides `req` (see the module docs for the order). The future owns what it needs, so
    /// the connection can poll it alongside its other work.
    pub(crate) fn authorize(
        self: &Arc<Self>,
        req: AuthRequest,
    ) -> impl Future<Output = Verdict> + Send + 'static {
        let auth = self.clone();
        async move { auth.decide(req).await }
    }

    /// Sends a notification in the background, if a `notify_url` is configured.
    pub(crate) fn notify(&self, n: Notification) {
        if let Some(notifier) = self.policy().notifier.clone() {
            notify::spawn(notifier, n, &self.notify_slots, &self.counters);
        }
    }

    pub(crate) fn stats(&self) -> AuthStats {
        self.counters.snapshot(self.brute.blocked_count(self.clock.now()))
    }

    /// The callback circuit (`None` without a callback).
    pub(crate) fn circuit(&self) -> Option<CircuitState> {
        self.policy().callback.as_ref()?;
        Some(callback::lock(&self.breaker).state(self.clock.now()))
    }

    fn policy(&self) -> Arc<Policy> {
        self.policy.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    async fn decide(&self, req: AuthRequest) -> Verdict {
        let policy = self.policy();
        match self.evaluate(&policy, &req).await {
            Ok((app, stream)) => {
                bump(&self.counters.allowed);
                tracing::debug!(action = req.action.as_str(), app, stream, "authorised");
                Verdict::Allow { app, stream }
            }
            Err(Refusal { denial, detail }) => {
                self.counters.denied(denial.kind);
                let (app, stream) = loggable_names(&policy, &req);
                tracing::warn!(
                    client_ip = %req.peer.ip().to_canonical(),
                    action = req.action.as_str(),
                    app,
                    stream,
                    reason = denial.reason,
                    kind = denial.kind.as_str(),
                    detail,
                    "refused"
                );
                Verdict::Deny(denial)
            }
        }
    }

    async fn evaluate(
        &self,
        policy: &Policy,
        req: &AuthRequest,
    ) -> Result<(String, Option<String>), Refusal> {
        // 1. Names.
        let names = Names::check(policy, req)?;
        // 2. ACL.
        let ip = req.peer.ip().to_canonical();
        policy.acl.check(req.action, ip).map_err(|r| Denial::new(DenyKind::Acl, r))?;
        // 3. Brute force.
        let client = IpKey::of(ip);
        if let Some(left) = self.brute.blocked(client, self.clock.now()) {
            let secs = left.as_millis().div_ceil(1000).max(1);
            let reason = format!("too many failed attempts from {client}; try again in {secs} s");
            return Err(Denial::new(DenyKind::BruteForce, reason).into());
        }
        // 4. Publish key, play token.
        let stream = self.check_credentials(policy, req.action, &names, client)?;
        // 5. Callback.
        if let Some(cb) = policy.callback.as_ref().filter(|cb| cb.asks(req.action)) {
            let request = DecisionRequest {
                action: req.action.as_str(),
                app: names.app,
                stream: stream.as_deref(),
                query: names.params().to_map(),
                client_ip: ip.to_string(),
                client_port: req.peer.port(),
                conn_id: req.conn_id,
                tc_url: req.tc_url.as_deref(),
                server: SERVER_NAME,
            };
            self.ask(cb, &request, client).await?;
        }
        Ok((names.app.to_owned(), stream))
    }

    /// Step 4; returns the stream name to use.
    fn check_credentials(
        &self,
        policy: &Policy,
        action: AuthAction,
        names: &Names<'_>,
        client: IpKey,
    ) -> Result<Option<String>, Denial> {
        let (app, params) = (names.app, names.params());
        match (action, names.stream) {
            (AuthAction::Publish, Some(name)) => policy
                .keys
                .check(app, name, params.get("key"))
                .map(Some)
                .map_err(|r| self.failed(client, DenyKind::BadKey, r)),
            (AuthAction::Play, Some(name)) => {
                if let Some(tokens) = policy.tokens.as_ref().filter(|t| t.required(app)) {
                    tokens
                        .check(app, name, params, unix_now())
                        .map_err(|r| self.failed(client, DenyKind::BadToken, r))?;
                }
                Ok(Some(name.to_owned()))
            }
            (_, stream) => Ok(stream.map(str::to_owned)),
        }
    }

    /// Step 5.
    async fn ask(
        &self,
        cb: &Callback,
        request: &DecisionRequest<'_>,
        client: IpKey,
    ) -> Result<(), Refusal> {
        match cb.decide(request, &self.breaker, &self.counters, &self.clock).await {
            Outcome::Allow => Ok(()),
            Outcome::Deny(reason) => {
                Err(self.failed(client, DenyKind::CallbackDenied, reason).into())
            }
            Outcome::Unavailable(why) if cb.fail_open => {
                tracing::warn!(
                    client_ip = %request.client_ip,
                    action = request.action,
                    detail = why,
                    "authorisation service unavailable; allowed (fail_open)"
                );
                Ok(())
            }
            Outcome::Unavailable(why) => {
                let denial =
                    Denial::new(DenyKind::CallbackUnavailable, "authorisation service unavailable");
                Err(Refusal { denial, detail: Some(why) })
            }
        }
    }

    /// A failed attempt: counted for brute force.
    fn failed(&self, client: IpKey, kind: DenyKind, reason: String) -> Denial {
        if let Some(window) = self.brute.record_failure(client, self.clock.now()) {
            tracing::warn!(
                client = %client,
                block_secs = window.as_secs_f32(),
                "too many failed attempts; client blocked"
            );
        }
        Denial::new(kind, reason)
    }
}

/// A request's names after step 1, with their query parameters.
struct Names<'a> {
    app: &'a str,
    /// `None` only for connect.
    stream: Option<&'a str>,
    app_query: Query,
    stream_query: Query,
}

impl<'a> Names<'a> {
    fn check(policy: &Policy, req: &'a AuthRequest) -> Result<Names<'a>, Denial> {
        let bad_name = |reason: String| Denial::new(DenyKind::BadName, reason);
        let (app, app_query) = query::split(&req.app);
        let (stream, stream_query) = match &req.stream {
            Some(raw) => {
                let (name, query) = query::split(raw);
                (Some(name), query)
            }
            None if req.action != AuthAction::Connect => {
                return Err(bad_name("stream name is missing".into()))
            }
            None => (None, ""),
        };
        if app_query.len().max(stream_query.len()) > MAX_QUERY_LEN {
            return Err(bad_name(format!("query string is longer than {MAX_QUERY_LEN} bytes")));
        }
        Ok(Names {
            app: names::check(NameKind::App, app, policy.max_len).map_err(bad_name)?,
            stream: stream
                .map(|s| names::check(NameKind::Stream, s, policy.max_len))
                .transpose()
                .map_err(bad_name)?,
            app_query: Query::parse(app_query),
            stream_query: Query::parse(stream_query),
        })
    }

    fn params(&self) -> Params<'_> {
        Params { stream: &self.stream_query, app: &self.app_query }
    }
}

/// The app and stream names for the log: without queries, at most [`MAX_LOGGED_NAME`]
/// characters, and without a stream name that may be a publish key. (The log formatter
/// escapes control characters.)
fn loggable_names(policy: &Policy, req: &AuthRequest) -> (String, Option<String>) {
    let (app, app_query) = query::split(&req.app);
    let app = app.trim_matches('/');
    let stream = req.stream.as_deref().map(|raw| {
        let (name, query) = query::split(raw);
        let (app_query, query) = (Query::parse(app_query), Query::parse(query));
        let key_in_name = req.action == AuthAction::Publish
            && policy.keys.required(app)
            && (Params { stream: &query, app: &app_query }).get("key").is_none();
        if key_in_name {
            "<key>".to_owned()
        } else {
            shorten(name)
        }
    });
    (shorten(app), stream)
}

/// Longest name logged, in characters.
const MAX_LOGGED_NAME: usize = 200;

fn shorten(name: &str) -> String {
    match name.char_indices().nth(MAX_LOGGED_NAME) {
        Some((cut, _)) => format!("{}...", name.get(..cut).unwrap_or_default()),
        None => name.to_owned(),
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
