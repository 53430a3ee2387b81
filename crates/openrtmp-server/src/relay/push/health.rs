//! Whether a push target is really taking the stream: the rule behind `live` and `stalled`.
//!
//! A socket that accepts writes proves little: the kernel buffers megabytes for a peer
//! that never reads (a hung ingest, a half-dead path). What proves the target reads is
//! its RTMP Acknowledgements (RTMP 1.0 §5.4.3): we announce a small Window
//! Acknowledgement Size ([`PUSH_WINDOW_ACK_SIZE`], §5.4.4) and the target tells us every
//! window how many bytes it received. The rule, decided once per batch, per read from
//! the target and at the deadline [`Health::next_check`] gives:
//!
//! - **unproven** (reported `connecting`): published, but no acknowledgement yet and fewer
//!   than [`NO_ACK_WINDOWS`] windows sent. A target that reads acknowledges within one
//!   window.
//! - **live**: the target's acknowledgements advance; or it has never acknowledged after
//!   [`NO_ACK_WINDOWS`] windows (some servers never do: then its socket draining is the
//!   only evidence left, and a write pending for [`STALL_AFTER`] makes it `stalled`).
//! - **stalled**: at least [`STALL_WINDOWS`] windows sent beyond what the target
//!   acknowledged, for [`STALL_AFTER`] without its acknowledgements advancing (or a write
//!   pending for [`STALL_AFTER`], judged by the writer). An acknowledgement that advances
//!   makes it `live` again.
//! - **dead**: the same for [`ACK_TIMEOUT`]: the connection is given up (backoff, then
//!   a new connection that starts at a keyframe).
//!
//! Sans-IO: time comes in as `now`, so the rule is tested without sockets or sleeps.

use std::time::{Duration, Instant};

/// The Window Acknowledgement Size a push announces: the target acknowledges every this
/// many bytes. Small, so that even a 200 kbit/s stream is acknowledged every few seconds
/// (an acknowledgement costs the target 16 bytes; at 6 Mbit/s that is 12 a second).
pub const PUSH_WINDOW_ACK_SIZE: u32 = 64 * 1024;
/// Windows sent beyond the acknowledged count that make a target suspect: more than one
/// window (the target acknowledges each) plus what is in flight.
pub const STALL_WINDOWS: u64 = 2;
/// Windows sent without any acknowledgement after which the target is taken for one
/// that never acknowledges (judged by its socket draining from then on).
pub const NO_ACK_WINDOWS: u64 = 4;
/// Time without progress (acknowledgements, or a pending write) that makes a target
/// `stalled`. It stays connected: a brief hiccup heals by itself.
pub const STALL_AFTER: Duration = Duration::from_secs(3);
/// Time without progress after which the connection is given up.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(20);

/// The health of one connection, as [`Health::assess`] judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Published, no evidence yet that the target reads.
    Unproven,
    /// The target reads what we send.
    Live,
    /// The target has not read for [`STALL_AFTER`].
    Stalled,
    /// The target has not read for [`ACK_TIMEOUT`] (waited this long).
    Dead(Duration),
}

/// How the target shows it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Evidence {
    /// Nothing yet.
    None,
    /// Acknowledgements.
    Acks,
    /// It never acknowledged: only its socket draining tells.
    Drain,
}

/// The health rule of one connection (see the module docs).
#[derive(Debug)]
pub(crate) struct Health {
    window: u64,
    evidence: Evidence,
    /// The last acknowledged count seen.
    acked: u64,
    /// Since when the unacknowledged bytes have been over the stall threshold without an
    /// acknowledgement advancing.
    behind_since: Option<Instant>,
}

impl Health {
    /// A connection that announced `window` as its acknowledgement window.
    pub(crate) fn new(window: u32) -> Health {
        Health {
            window: u64::from(window.max(1)),
            evidence: Evidence::None,
            acked: 0,
            behind_since: None,
        }
    }

    /// Whether the target has ever acknowledged on this connection.
    pub(crate) fn acknowledges(&self) -> bool {
        self.evidence == Evidence::Acks
    }

    /// Judges the connection at `now`, having written `sent` bytes of which the target
    /// acknowledged `acked` (`None`: never).
    pub(crate) fn assess(&mut self, now: Instant, sent: u64, acked: Option<u64>) -> Verdict {
        if let Some(acked) = acked {
            if self.evidence != Evidence::Acks || acked > self.acked {
                self.evidence = Evidence::Acks;
                self.acked = acked;
                self.behind_since = None;
            }
        }
        let outstanding = sent.saturating_sub(self.acked);
        match self.evidence {
            Evidence::Drain => return Verdict::Live,
            Evidence::None if outstanding >= NO_ACK_WINDOWS * self.window => {
                self.evidence = Evidence::Drain;
                return Verdict::Live;
            }
            Evidence::None => return Verdict::Unproven,
            Evidence::Acks => {}
        }
        if outstanding < STALL_WINDOWS * self.window {
            self.behind_since = None;
            return Verdict::Live;
        }
        let since = *self.behind_since.get_or_insert(now);
        let waited = now.saturating_duration_since(since);
        if waited >= ACK_TIMEOUT {
            Verdict::Dead(waited)
        } else if waited >= STALL_AFTER {
            Verdict::Stalled
        } else {
            Verdict::Live
        }
    }

    /// When the verdict may change with no input (a stall or the timeout falling due).
    pub(crate) fn next_check(&self, now: Instant) -> Option<Instant> {
        let since = self.behind_since?;
        let stall = since + STALL_AFTER;
        Some(if now < stall { stall } else { since + ACK_TIMEOUT })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u64 = PUSH_WINDOW_ACK_SIZE as u64;

    #[test]
    fn live_once_acknowledged_and_while_acknowledgements_advance() {
        let t0 = Instant::now();
        let mut h = Health::new(PUSH_WINDOW_ACK_SIZE);
        assert_eq!(h.assess(t0, 3 * W, None), Verdict::Unproven);
        assert_eq!(h.next_check(t0), None, "nothing falls due before an acknowledgement");
        assert_eq!(h.assess(t0, 3 * W, Some(W)), Verdict::Live);
        assert!(h.acknowledges());
        // Behind by more than the threshold: live for STALL_AFTER, then stalled, then dead.
        assert_eq!(h.assess(t0, 4 * W, Some(W)), Verdict::Live);
        assert_eq!(h.next_check(t0), Some(t0 + STALL_AFTER));
        assert_eq!(h.assess(t0 + STALL_AFTER, 4 * W, Some(W)), Verdict::Stalled);
        assert_eq!(h.next_check(t0 + STALL_AFTER), Some(t0 + ACK_TIMEOUT));
        // An acknowledgement that advances heals it.
        assert_eq!(h.assess(t0 + STALL_AFTER, 4 * W, Some(3 * W)), Verdict::Live);
        assert_eq!(h.next_check(t0 + STALL_AFTER), None);
        let t1 = t0 + STALL_AFTER;
        assert_eq!(h.assess(t1, 6 * W, Some(3 * W)), Verdict::Live);
        assert_eq!(h.assess(t1 + ACK_TIMEOUT, 6 * W, Some(3 * W)), Verdict::Dead(ACK_TIMEOUT));
    }

    #[test]
    fn an_idle_stream_is_not_a_stalled_target() {
        let t0 = Instant::now();
        let mut h = Health::new(PUSH_WINDOW_ACK_SIZE);
        assert_eq!(h.assess(t0, W + 10, Some(W)), Verdict::Live);
        // Nothing sent for a minute, less than the threshold outstanding: still live.
        assert_eq!(h.assess(t0 + Duration::from_secs(60), W + 100, Some(W)), Verdict::Live);
        // Then a burst: the threshold counts from when it was crossed, not the last ack.
        let t1 = t0 + Duration::from_secs(61);
        assert_eq!(h.assess(t1, 4 * W, Some(W)), Verdict::Live);
        assert_eq!(h.assess(t1 + STALL_AFTER / 2, 4 * W, Some(W)), Verdict::Live);
    }

    #[test]
    fn a_target_that_never_acknowledges_is_judged_by_its_socket() {
        let t0 = Instant::now();
        let mut h = Health::new(PUSH_WINDOW_ACK_SIZE);
        assert_eq!(h.assess(t0, NO_ACK_WINDOWS * W - 1, None), Verdict::Unproven);
        assert_eq!(h.assess(t0, NO_ACK_WINDOWS * W, None), Verdict::Live);
        assert!(!h.acknowledges());
        assert_eq!(h.assess(t0 + ACK_TIMEOUT * 2, 100 * W, None), Verdict::Live);
        assert_eq!(h.next_check(t0), None, "the writer judges a pending write");
    }
}
