//! A target's bitrate over a sliding window, from its cumulative byte count.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The window the bitrate is averaged over: long enough to smooth a GOP's keyframe burst,
/// short enough that a target that stops shows 0 within seconds.
pub const RATE_WINDOW: Duration = Duration::from_secs(5);
/// At most one sample per step is kept: a bounded memory (window / step samples)
/// whatever the batch rate.
const RATE_STEP: Duration = Duration::from_millis(250);

/// Samples of a cumulative byte count; the rate is read at any time.
#[derive(Debug, Default)]
pub(crate) struct Rate {
    /// `(when, total)`, oldest first, one per [`RATE_STEP`] at most.
    samples: VecDeque<(Instant, u64)>,
    /// The newest total (it may be newer than the last sample).
    total: u64,
    /// When the total last grew: nothing for a whole window reads as 0.
    grew_at: Option<Instant>,
}

impl Rate {
    /// The cumulative count is `total` at `now`.
    pub(crate) fn record(&mut self, now: Instant, total: u64) {
        if total > self.total || self.grew_at.is_none() {
            self.grew_at = Some(now);
        }
        self.total = total;
        let due =
            self.samples.back().is_none_or(|(t, _)| now.saturating_duration_since(*t) >= RATE_STEP);
        if due {
            self.samples.push_back((now, total));
        }
        // Keep one sample at or before the window's start, as the base.
        while self
            .samples
            .get(1)
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= RATE_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    /// Bits per second over the window ending at `now` (0 with no history).
    pub(crate) fn bits_per_second(&self, now: Instant) -> u64 {
        let base = self
            .samples
            .iter()
            .rev()
            .find(|(t, _)| now.saturating_duration_since(*t) >= RATE_WINDOW)
            .or(self.samples.front());
        let Some(&(t, bytes)) = base else { return 0 };
        if self.grew_at.is_none_or(|g| now.saturating_duration_since(g) >= RATE_WINDOW) {
            return 0;
        }
        let span = now.saturating_duration_since(t);
        if span < RATE_STEP {
            return 0;
        }
        let bits = self.total.saturating_sub(bytes).saturating_mul(8) as f64;
        (bits / span.as_secs_f64()) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_rate_then_silence() {
        let t0 = Instant::now();
        let mut rate = Rate::default();
        // 125 000 bytes a second = 1 Mbit/s, recorded every 40 ms for 10 s.
        for i in 0..=250u64 {
            rate.record(t0 + Duration::from_millis(40 * i), 5_000 * i);
        }
        let now = t0 + Duration::from_secs(10);
        let bps = rate.bits_per_second(now);
        assert!((950_000..=1_050_000).contains(&bps), "{bps}");
        assert!(
            rate.samples.len() <= 2 + (RATE_WINDOW.as_millis() / RATE_STEP.as_millis()) as usize
        );
        // Nothing more: a window later, the rate is 0.
        assert!(rate.bits_per_second(now + RATE_WINDOW / 2) < bps);
        assert_eq!(rate.bits_per_second(now + RATE_WINDOW), 0);
        assert_eq!(Rate::default().bits_per_second(now), 0);
    }
}
