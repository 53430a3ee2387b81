//! Notifications to the service's `notify_url`: fire and forget, never in a connection's
//! way. Each is a JSON POST (signed like decisions):
//!
//! - `{"event":"publish_done","app","stream","client_ip","client_port","conn_id","duration_ms","bytes_in","server"}`
//! - `{"event":"play_done","app","stream","client_ip","client_port","conn_id","duration_ms","bytes_out","server"}`
//! - `{"event":"record_done","app","stream","path","recording_id","duration_ms","bytes","format","server"}`
//!   when a recording segment is complete on disk
//! - `{"event":"disconnect","app" (or null),"client_ip","client_port","conn_id","duration_ms","bytes_in","bytes_out","reason","server"}`
//!
//! A 2xx answer delivers it. A timeout, connection error, 5xx, 408 or 429 is retried after
//! [`FIRST_BACKOFF`], doubling, until `notify_attempts` attempts were made; any other answer
//! gives it up at once (the service will not change its mind). At most
//! [`MAX_IN_FLIGHT`] notifications are on their way at once; more are dropped and counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde_json::json;
use tokio::sync::Semaphore;

use super::http::{self, Http, PostError};
use super::stats::{bump, Counters};
use super::{AuthError, CallbackSettings, SERVER_NAME};

/// Notifications on their way (being sent or waiting for a retry) at most.
pub(crate) const MAX_IN_FLIGHT: usize = 1024;
/// Wait before the first retry; doubled for each further one.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Something that happened, for the notification service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Notification {
    /// A publisher stopped publishing.
    PublishDone {
        app: String,
        stream: String,
        peer: SocketAddr,
        conn_id: u64,
        /// How long it published.
        duration: Duration,
        bytes_in: u64,
    },
    /// A player stopped playing.
    PlayDone {
        app: String,
        stream: String,
        peer: SocketAddr,
        conn_id: u64,
        /// How long it played.
        duration: Duration,
        bytes_out: u64,
    },
    /// A recording segment is complete on disk (closed and synced).
    RecordDone {
        app: String,
        stream: String,
        /// The segment's file.
        path: String,
        /// The recording's id, shared by its segments.
        recording_id: String,
        duration_ms: u64,
        bytes: u64,
        /// `flv` or `mp4`.
        format: &'static str,
    },
    /// A connection ended.
    Disconnect {
        /// `None` when it never connected to an app.
        app: Option<String>,
        peer: SocketAddr,
        conn_id: u64,
        /// How long it was connected.
        duration: Duration,
        bytes_in: u64,
        bytes_out: u64,
        /// Why it ended, in words.
        reason: String,
    },
}

impl Notification {
    fn event(&self) -> &'static str {
        match self {
            Notification::PublishDone { .. } => "publish_done",
            Notification::PlayDone { .. } => "play_done",
            Notification::Disconnect { .. } => "disconnect",
            Notification::RecordDone { .. } => "record_done",
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let event = self.event();
        match self {
            Notification::PublishDone { app, stream, peer, conn_id, duration, bytes_in } => json!({
                "event": event, "app": app, "stream": stream,
                "client_ip": peer.ip().to_canonical().to_string(), "client_port": peer.port(),
                "conn_id": conn_id, "duration_ms": millis(*duration), "bytes_in": bytes_in,
                "server": SERVER_NAME,
            }),
            Notification::PlayDone { app, stream, peer, conn_id, duration, bytes_out } => json!({
                "event": event, "app": app, "stream": stream,
                "client_ip": peer.ip().to_canonical().to_string(), "client_port": peer.port(),
                "conn_id": conn_id, "duration_ms": millis(*duration), "bytes_out": bytes_out,
                "server": SERVER_NAME,
            }),
            Notification::RecordDone {
                app,
                stream,
                path,
                recording_id,
                duration_ms,
                bytes,
                format,
            } => json!({
                "event": event, "app": app, "stream": stream, "path": path,
                "recording_id": recording_id, "duration_ms": duration_ms, "bytes": bytes,
                "format": format, "server": SERVER_NAME,
            }),
            Notification::Disconnect {
                app,
                peer,
                conn_id,
                duration,
                bytes_in,
                bytes_out,
                reason,
            } => json!({
                "event": event, "app": app,
                "client_ip": peer.ip().to_canonical().to_string(), "client_port": peer.port(),
                "conn_id": conn_id, "duration_ms": millis(*duration), "bytes_in": bytes_in,
                "bytes_out": bytes_out, "reason": reason, "server": SERVER_NAME,
            }),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Where notifications go, and how.
#[derive(Debug)]
pub(crate) struct Notifier {
    url: Url,
    attempts: u32,
    http: Arc<Http>,
}

impl Notifier {
    /// `None` when the settings have no `notify_url`.
    pub(crate) fn new(
        settings: &CallbackSettings,
        http: Arc<Http>,
    ) -> Result<Option<Notifier>, AuthError> {
        let Some(url) = &settings.notify_url else { return Ok(None) };
        let url = http::parse_url(url, "notify url")?;
        Ok(Some(Notifier { url, attempts: settings.notify_attempts.max(1), http }))
    }
}

/// Sends `n` in the background (on the current tokio runtime): dropped and counted when
/// [`MAX_IN_FLIGHT`] are already on their way or there is no runtime.
pub(crate) fn spawn(
    notifier: Arc<Notifier>,
    n: Notification,
    slots: &Arc<Semaphore>,
    counters: &Arc<Counters>,
) {
    let (Ok(permit), Ok(runtime)) =
        (slots.clone().try_acquire_owned(), tokio::runtime::Handle::try_current())
    else {
        bump(&counters.notifications_dropped);
        tracing::debug!(
            event = n.event(),
            "notification dropped: too many in flight or no runtime"
        );
        return;
    };
    let counters = counters.clone();
    runtime.spawn(async move {
        let delivered = deliver(&notifier, &n).await;
        bump(if delivered { &counters.notifications_sent } else { &counters.notifications_failed });
        drop(permit);
    });
}

async fn deliver(notifier: &Notifier, n: &Notification) -> bool {
    let body = match serde_json::to_vec(&n.to_json()) {
        Ok(body) => body,
        Err(_) => return false,
    };
    let url = http::redact(&notifier.url);
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=notifier.attempts {
        let problem = match notifier.http.post(&notifier.url, body.clone()).await {
            Ok(answer) if (200..300).contains(&answer.status) => return true,
            Ok(answer) if retryable(answer.status) => format!("HTTP {}", answer.status),
            Ok(answer) => {
                tracing::warn!(%url, event = n.event(), status = answer.status,
                    "notification refused; not retried");
                return false;
            }
            Err(PostError::Timeout) => "timeout".to_owned(),
            Err(PostError::Transport(detail)) => detail,
        };
        if attempt == notifier.attempts {
            tracing::warn!(%url, event = n.event(), attempts = attempt, %problem,
                "notification not delivered");
            break;
        }
        tracing::debug!(%url, event = n.event(), attempt, %problem, "notification failed; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    false
}

fn retryable(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shapes() {
        let peer: SocketAddr = "[::ffff:192.0.2.1]:5000".parse().unwrap();
        let n = Notification::PublishDone {
            app: "live".into(),
            stream: "cam".into(),
            peer,
            conn_id: 7,
            duration: Duration::from_millis(1500),
            bytes_in: 42,
        };
        let j = n.to_json();
        assert_eq!(j["event"], "publish_done");
        assert_eq!(j["client_ip"], "192.0.2.1");
        assert_eq!(j["client_port"], 5000);
        assert_eq!(j["duration_ms"], 1500);
        assert_eq!(j["bytes_in"], 42);
        assert_eq!(j["server"], SERVER_NAME);
        let p = Notification::PlayDone {
            app: "live".into(),
            stream: "cam".into(),
            peer,
            conn_id: 8,
            duration: Duration::from_secs(2),
            bytes_out: 9,
        };
        let j = p.to_json();
        assert_eq!((j["event"].as_str(), j["bytes_out"].as_u64()), (Some("play_done"), Some(9)));
        let d = Notification::Disconnect {
            app: None,
            peer,
            conn_id: 7,
            duration: Duration::ZERO,
            bytes_in: 1,
            bytes_out: 2,
            reason: "closed by peer".into(),
        };
        let j = d.to_json();
        assert_eq!(j["event"], "disconnect");
        assert!(j["app"].is_null());
        assert_eq!(j["reason"], "closed by peer");
        assert!(retryable(503) && retryable(429) && !retryable(404));
    }
}
