//! Why a connection ends, and the one table of what follows from each reason: whether the
//! output still queued is flushed before the socket closes, the log level, the error
//! metric, and what the peer was told. (As rustls maps each error to the alert it sends in
//! one place, every close reason has exactly one disposition here; the driver, the log and
//! the metrics all read it.)

use std::fmt;
use std::net::SocketAddr;

use openrtmp_proto::session::{Disposition as SessionDisposition, SessionError, Timer};
use tokio::time::Instant;

use crate::auth::Notification;
use crate::shared::Shared;

/// Why a connection ended.
#[derive(Debug)]
pub(crate) enum Close {
    /// The peer closed its side (EOF, or a TLS peer that left without close_notify).
    PeerClosed,
    /// The session refused the peer's input (see [`SessionError::disposition`]).
    Protocol(SessionError),
    /// The socket failed.
    Io(std::io::Error),
    /// The whole handshake did not complete within `handshake_timeout`.
    HandshakeTimeout,
    /// No accepted `connect` within `connect_timeout` of the handshake.
    ConnectTimeout,
    /// Connected, but neither publishing nor playing (or stalled mid-message) for
    /// `idle_timeout`.
    Idle,
    /// A publisher sent no media for `publisher_timeout`.
    PublisherSilent,
    /// A player's stream stayed unpublished for `unpublished_wait`.
    UnpublishedWaitOver,
    /// The peer accepted no bytes for `write_timeout`.
    WriteStalled,
    /// A player kept lagging (skip after skip) for `viewer_disconnect_after` of wall time;
    /// `behind_ms` is how far behind (media ms) it was at the end.
    TooSlow {
        /// Media ms behind the newest frame.
        behind_ms: u32,
        /// Wall ms it had been lagging.
        for_ms: u64,
    },
    /// The connect was refused (limits, shutdown) and the `_error` was written.
    Rejected,
    /// Publish or play refused by authorisation.
    Denied,
    /// The TLS handshake failed.
    TlsHandshake(String),
    /// A trusted load balancer's PROXY header was malformed (or longer than we accept).
    ProxyHeader(openrtmp_proto::proxy_header::ProxyHeaderError),
    /// A trusted load balancer's connection did not start with a PROXY header, and
    /// `proxy_protocol.required` says it must.
    ProxyHeaderMissing,
    /// A TLS-ALPN-01 validation connection (answered by its handshake).
    AcmeValidation,
    /// A newer publisher took the stream key over (`replace_publisher`).
    Replaced,
    /// Closed through the API.
    Kicked,
    /// The server is shutting down.
    Shutdown,
    /// The app went to the background and this connection neither published nor played.
    Background,
    /// The app's background time ran out (clients were told).
    BackgroundExpired,
    /// The app was suspended.
    Suspended,
}

/// How loudly a close is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Debug,
    Info,
    Warn,
}

/// What the peer learnt before the socket closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Told {
    /// Nothing: the socket just closes (the peer is gone, silent or not reading).
    Nothing,
    /// The `_error` or onStatus that the session queued with the refusal.
    Refusal,
    /// onStatus `NetStream.Unpublish.Success` ("another publisher took over").
    Unpublished,
    /// onStatus `NetConnection.Connect.AppShutdown` (and the Enhanced RTMP reconnect
    /// request to clients that support it), sent when the reason arose.
    AppShutdown,
    /// `NetStream.Play.UnpublishNotify` was sent when the publisher left.
    UnpublishNotify,
    /// The TLS alert rustls sends for the failure.
    TlsAlert,
}

/// What becomes of the stream a closing connection publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Publication {
    /// A clean end: the client unpublished, or the server ended it on purpose. Players get
    /// the end of stream once they have read what was pushed.
    Ends,
    /// An abrupt loss (the socket died, the publisher fell silent or broke the protocol):
    /// the publisher may well be reconnecting, so its players are held, told nothing, for
    /// `streams.publisher_grace` (a publisher back within it is spliced in), and only then
    /// get the end of stream.
    Held,
}

/// What follows from a [`Close`]: the one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Disposition {
    /// Write what is queued (briefly), close our side, and read until the peer closes, so
    /// that the last messages are read rather than reset away.
    pub(crate) flush: bool,
    pub(crate) level: Level,
    /// The `kind` label of the connection-error metric, if this close is an error.
    pub(crate) metric: Option<&'static str>,
    pub(crate) told: Told,
    /// What becomes of a stream the connection was still publishing (one that
    /// unpublished first has ended already).
    pub(crate) publication: Publication,
}

impl From<SessionError> for Close {
    /// A protocol timer that expired is its own reason (its own metric and message); any
    /// other session error is a protocol error.
    fn from(e: SessionError) -> Close {
        match e {
            SessionError::TimedOut { timer: Timer::Handshake } => Close::HandshakeTimeout,
            SessionError::TimedOut { timer: Timer::Connect } => Close::ConnectTimeout,
            SessionError::TimedOut { timer: Timer::Idle } => Close::Idle,
            SessionError::TimedOut { timer: Timer::PublisherSilence } => Close::PublisherSilent,
            e => Close::Protocol(e),
        }
    }
}

impl Close {
    /// The disposition of this reason. Errors of the peer or the network are warnings
    /// with a metric; ends that are someone's decision (the API, the operator, the app,
    /// authorisation, the publisher leaving) are informational.
    ///
    /// The publication column: a publisher's connection that ends without its client
    /// unpublishing and without the server deciding it (EOF, socket error, silence, a
    /// protocol error, a socket that takes nothing) was lost, and its stream is `Held` for
    /// the reconnect grace; every decision (kick, replacement, shutdown, denial, the app's
    /// lifecycle) `Ends` it at once, as do reasons that cannot befall a publisher (timeouts
    /// before publishing, player-only reasons, TLS).
    pub(crate) fn disposition(&self) -> Disposition {
        use Level::{Debug, Info, Warn};
        use Publication::{Ends, Held};
        let (flush, level, metric, told, publication) = match self {
            // An encoder that stops cleanly unpublishes first: EOF without that is a crash
            // or a network cut.
            Close::PeerClosed => (false, Info, None, Told::Nothing, Held),
            Close::Protocol(e) => {
                let flush = e.disposition() == SessionDisposition::FlushThenClose;
                let told = if flush { Told::Refusal } else { Told::Nothing };
                // A corrupted path or a confused encoder: it may reconnect and do better.
                (flush, Warn, Some("protocol"), told, Held)
            }
            Close::Io(_) => (false, Info, Some("io"), Told::Nothing, Held),
            Close::HandshakeTimeout => {
                (false, Warn, Some("handshake_timeout"), Told::Nothing, Ends)
            }
            Close::ConnectTimeout => (false, Warn, Some("connect_timeout"), Told::Nothing, Ends),
            Close::Idle => (true, Info, Some("idle_timeout"), Told::Nothing, Ends),
            // Silence is how a dead network looks to a receiver.
            Close::PublisherSilent => (false, Info, Some("publisher_timeout"), Told::Nothing, Held),
            Close::UnpublishedWaitOver => (true, Info, None, Told::UnpublishNotify, Ends),
            // Nothing can be flushed to a peer that does not read. A publisher that takes
            // none of our bytes is on a dead path as surely as a silent one.
            Close::WriteStalled => (false, Warn, Some("write_stalled"), Told::Nothing, Held),
            Close::TooSlow { .. } => (true, Warn, Some("too_slow"), Told::Nothing, Ends),
            Close::Rejected => (true, Info, None, Told::Refusal, Ends),
            Close::Denied => (true, Info, None, Told::Refusal, Ends),
            Close::TlsHandshake(_) => (false, Warn, Some("tls_handshake"), Told::TlsAlert, Ends),
            // A misconfigured balancer (or a peer inside the trusted networks that is not
            // one): nobody to tell, the operator must see it.
            Close::ProxyHeader(_) | Close::ProxyHeaderMissing => {
                (false, Warn, Some("proxy_header"), Told::Nothing, Ends)
            }
            Close::AcmeValidation => (false, Debug, None, Told::Nothing, Ends),
            Close::Replaced => (true, Info, None, Told::Unpublished, Ends),
            Close::Kicked => (false, Info, None, Told::Nothing, Ends),
            // No grace at shutdown: everything ends promptly.
            Close::Shutdown => (false, Info, None, Told::AppShutdown, Ends),
            Close::Background => (true, Info, None, Told::Nothing, Ends),
            Close::BackgroundExpired => (true, Info, None, Told::AppShutdown, Ends),
            Close::Suspended => (false, Info, None, Told::Nothing, Ends),
        };
        Disposition { flush, level, metric, told, publication }
    }

    /// Logs the end of a connection at the level of its disposition.
    pub(crate) fn log(&self, duration_ms: u64, bytes_in: u64, bytes_out: u64) {
        match self.disposition().level {
            Level::Warn => {
                tracing::warn!(duration_ms, bytes_in, bytes_out, reason = %self, "disconnected")
            }
            Level::Info => {
                tracing::info!(duration_ms, bytes_in, bytes_out, reason = %self, "disconnected")
            }
            Level::Debug => tracing::debug!(reason = %self, "disconnected"),
        }
    }
}

/// Who ended, for the log, the metrics and the `disconnect` notification.
#[derive(Debug)]
pub(crate) struct Ended {
    pub(crate) peer: SocketAddr,
    pub(crate) conn_id: u64,
    /// The app, once connected.
    pub(crate) app: Option<String>,
    pub(crate) opened: Instant,
    /// Bytes in and out.
    pub(crate) bytes: (u64, u64),
}

impl Ended {
    /// Counts (the error metric), logs (at the disposition's level) and notifies
    /// (`disconnect`, only when a notification URL is configured; asynchronous, never
    /// delays the close) the end of a connection.
    pub(crate) fn report(self, shared: &Shared, close: &Close) {
        if matches!(close, Close::AcmeValidation) {
            close.log(0, 0, 0);
            return;
        }
        if let Some(kind) = close.disposition().metric {
            shared.count_error(kind);
        }
        let ((bytes_in, bytes_out), duration) = (self.bytes, self.opened.elapsed());
        close.log(duration.as_millis() as u64, bytes_in, bytes_out);
        shared.auth.notify(Notification::Disconnect {
            app: self.app,
            peer: self.peer,
            conn_id: self.conn_id,
            duration,
            bytes_in,
            bytes_out,
            reason: close.to_string(),
        });
    }
}

/// What a connection published and played, and since when: the `publish_done` and
/// `play_done` notifications at its end.
#[derive(Debug, Default)]
pub(crate) struct Record {
    published: Option<(String, std::time::Instant)>,
    played: Vec<(String, std::time::Instant)>,
}

impl Record {
    pub(crate) fn published(&mut self, stream: &str) {
        self.published = Some((stream.to_owned(), std::time::Instant::now()));
    }

    pub(crate) fn played(&mut self, stream: &str) {
        self.played.push((stream.to_owned(), std::time::Instant::now()));
    }

    /// Sends the notifications (only when a notification URL is configured).
    pub(crate) fn notify(&mut self, shared: &Shared, app: &str, ended: &Ended) {
        let (peer, conn_id, (bytes_in, bytes_out)) = (ended.peer, ended.conn_id, ended.bytes);
        if let Some((stream, since)) = self.published.take() {
            let (app, duration) = (app.to_owned(), since.elapsed());
            let done = Notification::PublishDone { app, stream, peer, conn_id, duration, bytes_in };
            shared.auth.notify(done);
        }
        for (stream, since) in self.played.drain(..) {
            let (app, duration) = (app.to_owned(), since.elapsed());
            let done = Notification::PlayDone { app, stream, peer, conn_id, duration, bytes_out };
            shared.auth.notify(done);
        }
    }
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Close::PeerClosed => f.write_str("closed by peer"),
            Close::Protocol(e) => write!(f, "protocol error: {e}"),
            Close::Io(e) => write!(f, "socket error: {e}"),
            Close::HandshakeTimeout => f.write_str("handshake not completed in time"),
            Close::ConnectTimeout => f.write_str("no connect command in time"),
            Close::Idle => f.write_str("idle: neither publishing nor playing in time"),
            Close::PublisherSilent => f.write_str("publisher sent no media in time"),
            Close::UnpublishedWaitOver => f.write_str("stream stayed unpublished; player closed"),
            Close::WriteStalled => f.write_str("player stopped reading"),
            Close::TooSlow { behind_ms, for_ms } => {
                write!(f, "player too slow ({behind_ms} ms behind, lagging for {for_ms} ms)")
            }
            Close::Rejected => f.write_str("rejected"),
            Close::Denied => f.write_str("not authorised"),
            Close::TlsHandshake(e) => write!(f, "TLS handshake failed: {e}"),
            Close::ProxyHeader(e) => write!(f, "bad PROXY header from trusted proxy: {e}"),
            Close::ProxyHeaderMissing => {
                f.write_str("no PROXY header from trusted proxy (proxy_protocol.required is true)")
            }
            Close::AcmeValidation => f.write_str("ACME validation handshake answered"),
            Close::Replaced => f.write_str("publisher replaced by a newer one"),
            Close::Kicked => f.write_str("closed by the API"),
            Close::Shutdown => f.write_str("server shutting down"),
            Close::Background => f.write_str("app in the background; idle connection closed"),
            Close::BackgroundExpired => f.write_str("app background time expired"),
            Close::Suspended => f.write_str("app suspended"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_count_a_metric_and_decisions_do_not() {
        for close in [Close::Kicked, Close::Shutdown, Close::Denied, Close::Replaced] {
            assert_eq!(close.disposition().metric, None, "{close}");
        }
        for (close, kind) in [
            (Close::WriteStalled, "write_stalled"),
            (Close::TooSlow { behind_ms: 9000, for_ms: 30_000 }, "too_slow"),
            (Close::HandshakeTimeout, "handshake_timeout"),
            (Close::Idle, "idle_timeout"),
            (Close::ProxyHeaderMissing, "proxy_header"),
        ] {
            assert_eq!(close.disposition().metric, Some(kind), "{close}");
        }
    }

    #[test]
    fn what_was_queued_for_the_peer_is_flushed() {
        // Every reason that told the peer something in band flushes; a peer that does not
        // read or has gone is not waited for.
        for close in [Close::Rejected, Close::Denied, Close::Replaced, Close::BackgroundExpired] {
            let d = close.disposition();
            assert!(d.flush && d.told != Told::Nothing, "{close}");
        }
        for close in [Close::WriteStalled, Close::PeerClosed, Close::Kicked] {
            assert!(!close.disposition().flush, "{close}");
        }
    }

    #[test]
    fn lost_publishers_are_held_and_decisions_end_the_stream() {
        let io = || std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        for close in [Close::PeerClosed, Close::Io(io()), Close::PublisherSilent] {
            assert_eq!(close.disposition().publication, Publication::Held, "{close}");
        }
        for close in [
            Close::Kicked,
            Close::Replaced,
            Close::Shutdown,
            Close::Denied,
            Close::Suspended,
            Close::BackgroundExpired,
        ] {
            assert_eq!(close.disposition().publication, Publication::Ends, "{close}");
        }
    }
}
