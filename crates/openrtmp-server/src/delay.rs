//! Per-stream delay histograms: ingest delay (how far the publisher's media runs behind the
//! wall clock since it started) and distribution delay (from a frame's arrival to its
//! hand-over to a player's socket). Updated with relaxed atomics on the media path; read as
//! snapshots by the API and `/metrics`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openrtmp_hub::StreamKey;

/// Bucket upper bounds, milliseconds.
pub const DELAY_BUCKETS_MS: [u64; 12] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/// A snapshot of a delay histogram.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DelayHistogram {
    /// `(upper bound in seconds, observations in this bucket)`, not cumulative; the last
    /// bucket (`f64::MAX`) counts what is above the largest bound.
    pub buckets: Vec<(f64, u64)>,
    /// Observations.
    pub count: u64,
    /// Sum of the observations.
    pub sum: Duration,
}

impl DelayHistogram {
    /// The upper bound of the bucket holding quantile `q` (0..=1), `None` when empty or
    /// above the largest bound.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bound, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return (*bound < f64::MAX).then(|| Duration::from_secs_f64(*bound));
            }
        }
        None
    }

    /// The mean observation.
    pub fn mean(&self) -> Option<Duration> {
        (self.count > 0).then(|| self.sum / u32::try_from(self.count).unwrap_or(u32::MAX))
    }
}

/// One histogram, updated concurrently.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    buckets: [AtomicU64; DELAY_BUCKETS_MS.len() + 1],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub(crate) fn record(&self, delay: Duration) {
        let ms = delay.as_millis();
        let i = DELAY_BUCKETS_MS
            .iter()
            .position(|b| ms <= u128::from(*b))
            .unwrap_or(DELAY_BUCKETS_MS.len());
        if let Some(bucket) = self.buckets.get(i) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(u64::try_from(delay.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> DelayHistogram {
        let bounds =
            DELAY_BUCKETS_MS.iter().map(|ms| *ms as f64 / 1000.0).chain(std::iter::once(f64::MAX));
        DelayHistogram {
            buckets: bounds.zip(self.buckets.iter().map(|b| b.load(Ordering::Relaxed))).collect(),
            count: self.count.load(Ordering::Relaxed),
            sum: Duration::from_micros(self.sum_us.load(Ordering::Relaxed)),
        }
    }
}

/// The delay histograms of one stream.
#[derive(Debug, Default)]
pub(crate) struct StreamDelays {
    pub(crate) ingest: Histogram,
    /// Live relay delay: frames that arrived while the player was caught up.
    pub(crate) distribution: Histogram,
    /// Frames a player received as catch-up (its join from the GOP cache, a skip or a
    /// resume): their delay is the cache's age, not the relay's speed.
    pub(crate) catch_up: Histogram,
}

/// Histograms by stream; entries of streams that are gone are pruned when listed.
#[derive(Debug, Default)]
pub(crate) struct Delays {
    map: Mutex<HashMap<StreamKey, Arc<StreamDelays>>>,
}

impl Delays {
    pub(crate) fn for_stream(&self, key: &StreamKey) -> Arc<StreamDelays> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(key.clone()).or_default())
    }

    pub(crate) fn get(&self, key: &StreamKey) -> Option<Arc<StreamDelays>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    /// Drops the histograms of streams not in `live`.
    pub(crate) fn retain(&self, live: &[StreamKey]) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).retain(|k, _| live.contains(k));
    }
}

/// Ingest delay of one publisher: wall time since the reference minus media time since it.
/// The reference moves forward whenever media runs ahead of the wall clock (bursts), so the
/// figure is how far behind real time the stream currently arrives.
#[derive(Debug, Default)]
pub(crate) struct IngestClock {
    reference: Option<(std::time::Instant, u32)>,
}

impl IngestClock {
    pub(crate) fn observe(&mut self, now: std::time::Instant, timestamp: u32) -> Duration {
        let Some((wall0, ts0)) = self.reference else {
            self.reference = Some((now, timestamp));
            return Duration::ZERO;
        };
        let media = Duration::from_millis(u64::from(timestamp.wrapping_sub(ts0)));
        let wall = now.duration_since(wall0);
        if media >= wall || media > Duration::from_secs(86_400) {
            // Ahead of real time, or a timestamp jump: this frame is the new reference.
            self.reference = Some((now, timestamp));
            return Duration::ZERO;
        }
        wall - media
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_quantiles_and_mean() {
        let h = Histogram::default();
        for ms in [0, 1, 3, 3, 40, 7000] {
            h.record(Duration::from_millis(ms));
        }
        let s = h.snapshot();
        assert_eq!(s.count, 6);
        assert_eq!(s.buckets.len(), DELAY_BUCKETS_MS.len() + 1);
        assert_eq!(s.buckets[0], (0.001, 2));
        assert_eq!(s.buckets[2], (0.005, 2));
        assert_eq!(s.buckets.last().map(|b| b.1), Some(1));
        assert_eq!(s.quantile(0.5), Some(Duration::from_millis(5)));
        assert_eq!(s.quantile(1.0), None, "above the largest bound");
        assert_eq!(s.mean(), Some(Duration::from_micros(7047 * 1000 / 6)));
    }

    #[test]
    fn ingest_clock_measures_lateness_and_rebases_on_bursts() {
        let t0 = std::time::Instant::now();
        let mut c = IngestClock::default();
        assert_eq!(c.observe(t0, 1000), Duration::ZERO);
        assert_eq!(c.observe(t0 + Duration::from_millis(150), 1100), Duration::from_millis(50));
        // A burst: media ahead of the wall clock moves the reference.
        assert_eq!(c.observe(t0 + Duration::from_millis(160), 1400), Duration::ZERO);
        assert_eq!(c.observe(t0 + Duration::from_millis(500), 1700), Duration::from_millis(40));
    }
}
