//! Why a WHIP session ended, and the one table of what follows: whether the publication
//! ends at once or is held for `streams.publisher_grace` (as for an RTMP publisher whose
//! socket died), the log level and the error metric.

use std::time::Duration;

use crate::registry::ConnEntry;

/// Why a WHIP session ended.
#[derive(Debug)]
pub(super) enum End {
    /// `DELETE` of its `Location`: the publisher stopped.
    Deleted,
    /// The WebRTC session ended by itself (ICE consent lost, DTLS closed by the peer).
    Ended(String),
    /// Closed through the API (`DELETE /api/v1/connections/{id}`, or the stream ended).
    Kicked,
    /// The server shut down.
    Shutdown,
    /// A newer publisher took the stream key over (`replace_publisher`).
    Replaced,
    /// The session failed.
    Error(String),
}

/// One row of the table.
struct Disposition {
    /// The publication is held for the reconnect grace (a publisher lost, not stopped).
    held: bool,
    /// Logged at warn (else info).
    warn: bool,
    /// The error metric it counts in.
    metric: Option<&'static str>,
}

impl End {
    fn disposition(&self) -> Disposition {
        let row = |held, warn, metric| Disposition { held, warn, metric };
        match self {
            End::Deleted => row(false, false, None),
            End::Ended(_) => row(true, false, None),
            End::Kicked => row(false, false, None),
            End::Shutdown => row(false, false, None),
            End::Replaced => row(false, false, None),
            End::Error(_) => row(true, true, Some("webrtc")),
        }
    }

    pub(super) fn holds_publication(&self) -> bool {
        self.disposition().held
    }

    pub(super) fn metric(&self) -> Option<&'static str> {
        self.disposition().metric
    }

    pub(super) fn log(&self, duration: Duration, entry: &ConnEntry) {
        use std::sync::atomic::Ordering::Relaxed;
        let (bytes_in, bytes_out) = (entry.bytes_in.load(Relaxed), entry.bytes_out.load(Relaxed));
        let duration_ms = duration.as_millis() as u64;
        if self.disposition().warn {
            tracing::warn!(reason = %self, duration_ms, bytes_in, bytes_out, "WHIP session ended");
        } else {
            tracing::info!(reason = %self, duration_ms, bytes_in, bytes_out, "WHIP session ended");
        }
    }
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Deleted => f.write_str("ended by the publisher (DELETE)"),
            End::Ended(reason) => write!(f, "WebRTC session ended: {reason}"),
            End::Kicked => f.write_str("closed through the API"),
            End::Shutdown => f.write_str("server shutting down"),
            End::Replaced => f.write_str("replaced by a new publisher"),
            End::Error(e) => write!(f, "failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_losses_hold_the_publication() {
        assert!(!End::Deleted.holds_publication(), "DELETE ends at once (the 3 s Stop)");
        assert!(!End::Kicked.holds_publication());
        assert!(!End::Shutdown.holds_publication());
        assert!(End::Ended("consent".into()).holds_publication());
        assert_eq!(End::Error("x".into()).metric(), Some("webrtc"));
    }
}
