//! Bit rates from byte-count deltas between API calls.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A new sample replaces the stored one only after this long; calls in between report the
/// last rate, so two requests a few milliseconds apart do not produce a noisy figure.
pub(crate) const MIN_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    bytes: u64,
    kbps: f64,
}

/// The previous byte count per key (a stream or a connection) and the rate derived from it.
#[derive(Debug)]
pub(crate) struct RateSampler<K> {
    samples: HashMap<K, Sample>,
}

impl<K> Default for RateSampler<K> {
    fn default() -> Self {
        RateSampler { samples: HashMap::new() }
    }
}

impl<K: Eq + Hash> RateSampler<K> {
    /// The rate in kbit/s for `key`, which has moved `bytes` in total over `active_for`.
    ///
    /// First sight of a key (or a counter that went backwards: a new stream under an old
    /// name) reports the average over `active_for`.
    pub(crate) fn kbps(&mut self, key: K, bytes: u64, active_for: Duration, now: Instant) -> f64 {
        let previous = self.samples.get(&key).copied();
        let kbps = match previous {
            Some(prev) if bytes >= prev.bytes => {
                let elapsed = now.saturating_duration_since(prev.at);
                if elapsed < MIN_SAMPLE_INTERVAL {
                    return prev.kbps;
                }
                kbps(bytes - prev.bytes, elapsed)
            }
            _ => kbps(bytes, active_for),
        };
        self.samples.insert(key, Sample { at: now, bytes, kbps });
        kbps
    }

    /// Forgets the keys `keep` rejects (streams that ended, connections that closed).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.samples.retain(|key, _| keep(key));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.samples.len()
    }
}

/// `bytes` over `elapsed` in kbit/s, one decimal; `0.0` for an empty interval.
fn kbps(bytes: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs < 0.001 {
        return 0.0;
    }
    let kbps = bytes as f64 * 8.0 / 1000.0 / secs;
    (kbps * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_call_reports_the_average_since_start() {
        let mut sampler = RateSampler::default();
        let now = Instant::now();
        // 250_000 bytes in 2 s = 1000 kbit/s
        assert_eq!(sampler.kbps("a", 250_000, Duration::from_secs(2), now), 1000.0);
        assert_eq!(sampler.kbps("b", 10, Duration::ZERO, now), 0.0);
    }

    #[test]
    fn later_calls_report_the_delta_rate() {
        let mut sampler = RateSampler::default();
        let t0 = Instant::now();
        sampler.kbps(1u64, 1_000_000, Duration::from_secs(60), t0);
        // +125_000 bytes in 1 s = 1000 kbit/s
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(sampler.kbps(1, 1_125_000, Duration::from_secs(61), t1), 1000.0);
        // within the minimum interval: the last rate again, sample kept
        let t2 = t1 + Duration::from_millis(10);
        assert_eq!(sampler.kbps(1, 1_200_000, Duration::from_secs(61), t2), 1000.0);
        // +250_000 bytes since t1, 2 s later = 1000 kbit/s
        let t3 = t1 + Duration::from_secs(2);
        assert_eq!(sampler.kbps(1, 1_375_000, Duration::from_secs(63), t3), 1000.0);
    }

    #[test]
    fn counter_reset_falls_back_to_the_average() {
        let mut sampler = RateSampler::default();
        let t0 = Instant::now();
        sampler.kbps("s", 5_000_000, Duration::from_secs(10), t0);
        let t1 = t0 + Duration::from_secs(5);
        assert_eq!(sampler.kbps("s", 125_000, Duration::from_secs(1), t1), 1000.0);
    }

    #[test]
    fn retain_forgets_gone_keys() {
        let mut sampler = RateSampler::default();
        let now = Instant::now();
        sampler.kbps(1u64, 1, Duration::from_secs(1), now);
        sampler.kbps(2u64, 1, Duration::from_secs(1), now);
        sampler.retain(|id| *id == 2);
        assert_eq!(sampler.len(), 1);
    }
}
