//! The slow-viewer policy (see [`crate::HubConfig`]): a viewer whose backlog passes the
//! lag or byte limit, or whose cursor was trimmed away, skips to the newest keyframe; one
//! that keeps lagging for `viewer_disconnect_after_ms` of wall time is told it is too
//! slow.
//!
//! Lag is media time (how far behind the newest frame the viewer is), but how long a run
//! of lag has lasted is wall time, passed in as `now`: a publisher pushing faster than
//! real time (FFmpeg without `-re`) makes every viewer fall behind in media time many times
//! faster than the clock on the wall, and that must cost skips, not the connection.

use std::time::{Duration, Instant};

use super::{Sink, Subscriber, TooSlow};
use crate::stream::{clamp_ms, StreamState};

impl Subscriber {
    /// Media ms between the cursor and the newest frame.
    pub(super) fn lag_ms(&self, st: &StreamState) -> u64 {
        let ring = &st.ring;
        if self.cursor.seq >= ring.head().seq {
            0
        } else if self.cursor.seq < ring.first_seq() {
            ring.now().saturating_sub(self.cursor_time)
        } else {
            ring.age_of(self.cursor.seq)
        }
    }

    /// Applies the slow-viewer policy: skip when the backlog is over the limits or the
    /// cursor was trimmed away; `TooSlow` once when lagging for longer than
    /// `viewer_disconnect_after_ms` of wall time.
    pub(super) fn check_lag(&mut self, st: &StreamState, now: Instant, out: &mut impl Sink) {
        let ring = &st.ring;
        let cfg = &st.config;
        // While waiting for a sync point after a skip, the pending frames are already
        // condemned: measuring them again would count one lag episode many times.
        if self.await_sync.is_none() {
            let trimmed = self.cursor.seq < ring.first_seq();
            let lag_ms = self.lag_ms(st);
            let lag_bytes = ring.head().bytes.saturating_sub(self.cursor.bytes);
            if trimmed
                || lag_ms > u64::from(cfg.viewer_max_lag_ms)
                || lag_bytes > cfg.viewer_max_bytes as u64
            {
                self.skip(st, lag_ms, now);
            }
        }
        if let Some(since) = self.lagging_since {
            let lagging = now.saturating_duration_since(since);
            let limit = Duration::from_millis(u64::from(cfg.viewer_disconnect_after_ms));
            if lagging > limit && !self.too_slow_sent {
                self.too_slow_sent = true;
                let too_slow = TooSlow {
                    lagging_ms: clamp_ms(u64::try_from(lagging.as_millis()).unwrap_or(u64::MAX)),
                    behind_ms: clamp_ms(self.lag_ms(st)),
                };
                tracing::debug!(
                    stream = %self.stream.key,
                    owner = self.owner,
                    lagging_ms = too_slow.lagging_ms,
                    behind_ms = too_slow.behind_ms,
                    "viewer too slow"
                );
                out.too_slow(too_slow);
            }
        }
    }

    /// Jumps a lagging viewer forward: to the newest keyframe after its cursor, or to the
    /// head (audio-only streams, or no such keyframe yet: then it waits for one).
    fn skip(&mut self, st: &StreamState, lag_ms: u64, now: Instant) {
        let ring = &st.ring;
        self.stats.skips += 1;
        self.live_from = None;
        if self.lagging_since.is_none() {
            // It fell behind when its lag crossed the limit, not when it was noticed: a
            // viewer stalled for a minute has been lagging for most of that minute. The
            // media time over the limit stands in for wall time (true for a real-time
            // publisher), but never reaches back past the last time the viewer was seen
            // within the limits (a publisher faster than real time piles up media far
            // quicker than wall time passes).
            let over = Duration::from_millis(
                lag_ms.saturating_sub(u64::from(st.config.viewer_max_lag_ms)),
            );
            let floor = self.not_lagging_at.unwrap_or(now);
            self.lagging_since = Some(now.checked_sub(over).map_or(floor, |t| t.max(floor)));
        }
        let at = if ring.is_audio_only() {
            Some(ring.head().seq)
        } else {
            ring.newest_keyframe().filter(|&k| k > self.cursor.seq)
        };
        self.jump(st, at, true);
        self.owe_changed_headers(st);
    }
}
