//! The cluster's counters and the upstream gap histogram, for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the upstream gap histogram: a planned move is well under a
/// second, a crashed origin's is its lease TTL plus the encoder's retry plus a GOP.
pub const GAP_BUCKETS_SECS: [f64; 12] =
    [0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0];

/// Why a pull left its upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SwitchReason {
    /// The upstream closed the connection (or it broke).
    Closed,
    /// The upstream ended the stream (unpublished, an error status).
    Ended,
    /// No media for the pull's media timeout.
    Silent,
    /// Connecting or playing failed.
    Refused,
}

impl SwitchReason {
    /// Every reason, in the order of [`ClusterStats::switches`].
    pub const ALL: [SwitchReason; 4] =
        [SwitchReason::Closed, SwitchReason::Ended, SwitchReason::Silent, SwitchReason::Refused];

    /// The metrics label.
    pub fn name(self) -> &'static str {
        match self {
            SwitchReason::Closed => "closed",
            SwitchReason::Ended => "ended",
            SwitchReason::Silent => "silent",
            SwitchReason::Refused => "refused",
        }
    }
}

/// The cluster's counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct ClusterStats {
    /// Claims that got the stream.
    pub claims_claimed: AtomicU64,
    /// Claims refused: another live node owns the stream.
    pub claims_refused: AtomicU64,
    /// Claims that got the stream after waiting for another node's lease to expire.
    pub claims_waited: AtomicU64,
    /// Publishes taken while the directory could not be asked.
    pub claims_unverified: AtomicU64,
    /// Streams lost to another node's newer claim (their publishers dropped).
    pub streams_fenced: AtomicU64,
    /// Stream records written back after the directory lost them.
    pub streams_restored: AtomicU64,
    /// Heartbeats that reached the directory.
    pub heartbeats: AtomicU64,
    /// Directory calls that failed: unreachable.
    pub errors_unavailable: AtomicU64,
    /// Directory calls that failed: a bad answer.
    pub errors_protocol: AtomicU64,
    /// Enhanced RTMP reconnect requests sent to clients (drain).
    pub reconnect_requests: AtomicU64,
    /// Upstream switches of pulls (an edge's origin moved, a `relay.pull` fell over), by
    /// why the previous upstream was left ([`SwitchReason`] order).
    pub switches: [AtomicU64; SwitchReason::ALL.len()],
    /// The gaps those switches left: from losing the previous upstream to media from the
    /// next, per [`GAP_BUCKETS_SECS`] bucket (the last counts what is above).
    pub gap_buckets: [AtomicU64; GAP_BUCKETS_SECS.len() + 1],
    /// The gaps' sum, in microseconds.
    pub gap_sum_us: AtomicU64,
}

impl ClusterStats {
    /// A pull's upstream changed after `gap` without media, the previous one left for
    /// `reason`.
    pub(crate) fn switched(&self, reason: SwitchReason, gap: Duration) {
        if let Some(i) = SwitchReason::ALL.iter().position(|r| *r == reason) {
            self.switches[i].fetch_add(1, Ordering::Relaxed);
        }
        let secs = gap.as_secs_f64();
        let i = GAP_BUCKETS_SECS.iter().position(|b| secs <= *b).unwrap_or(GAP_BUCKETS_SECS.len());
        if let Some(bucket) = self.gap_buckets.get(i) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.gap_sum_us
            .fetch_add(u64::try_from(gap.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}
