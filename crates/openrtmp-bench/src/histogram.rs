//! A small log-bucketed histogram (HDR-like) for latencies and times to first frame.
//!
//! Values are unsigned integers (the load generator records microseconds). Values below
//! [`SUB_BUCKETS`] get a bucket each; above, every power of two is split into
//! [`SUB_BUCKETS`] equal buckets, so a reported percentile is within 1/32 (3.1 %) of the
//! true value. The bucket array grows only up to the largest value seen: a histogram of
//! millisecond-scale latencies in microseconds holds ~450 counters (3.6 KiB), so every
//! player can own one and the runner merges them at the end without locks.

/// log2 of [`SUB_BUCKETS`].
const SUB_BITS: u32 = 5;
/// Buckets per power of two (and the number of exact buckets at the bottom).
pub const SUB_BUCKETS: u64 = 1 << SUB_BITS;

/// Counts of values in logarithmic buckets, plus the exact min, max and sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    /// `counts[i]` counts values whose [`bucket_index`] is `i`; grown on demand.
    counts: Vec<u64>,
    count: u64,
    min: u64,
    max: u64,
    sum: u128,
}

/// The bucket a value falls into.
fn bucket_index(value: u64) -> usize {
    if value < SUB_BUCKETS {
        return value as usize;
    }
    let msb = 63 - value.leading_zeros();
    let shift = msb - SUB_BITS;
    // The SUB_BITS bits below the most significant one select the sub-bucket.
    let sub = (value >> shift) & (SUB_BUCKETS - 1);
    ((u64::from(shift + 1) << SUB_BITS) + sub) as usize
}

/// The smallest value of bucket `index`, and the width of the bucket.
fn bucket_range(index: usize) -> (u64, u64) {
    let index = index as u64;
    if index < SUB_BUCKETS {
        return (index, 1);
    }
    let shift = (index >> SUB_BITS) - 1;
    let sub = index & (SUB_BUCKETS - 1);
    ((SUB_BUCKETS + sub) << shift, 1 << shift)
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one value.
    pub fn record(&mut self, value: u64) {
        let i = bucket_index(value);
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
        if self.count == 0 || value < self.min {
            self.min = value;
        }
        self.max = self.max.max(value);
        self.count += 1;
        self.sum += u128::from(value);
    }

    /// Adds all values of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.min = if self.count == 0 { other.min } else { self.min.min(other.min) };
        self.max = self.max.max(other.max);
        self.count += other.count;
        self.sum += other.sum;
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Smallest value recorded (exact), `None` when empty.
    pub fn min(&self) -> Option<u64> {
        (self.count > 0).then_some(self.min)
    }

    /// Largest value recorded (exact), `None` when empty.
    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    /// Mean of the values recorded (exact), `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The value at quantile `q` (0.0..=1.0): the smallest recorded value such that at
    /// least `q` of all values are at most it, to bucket precision (the bucket's midpoint,
    /// clamped to the exact min and max). `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        // Rank of the wanted value, 1-based: ceil(q * count), at least 1.
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        // The extremes are known exactly; a bucket midpoint would blur them.
        if rank == self.count {
            return Some(self.max);
        }
        if rank == 1 {
            return Some(self.min);
        }
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, width) = bucket_range(i);
                let mid = low + (width - 1) / 2;
                return Some(mid.clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut expected_low = 0;
        for i in 0..1200 {
            let (low, width) = bucket_range(i);
            assert_eq!(low, expected_low, "bucket {i}");
            assert_eq!(bucket_index(low), i);
            assert_eq!(bucket_index(low + width - 1), i);
            expected_low = low + width;
        }
        assert_eq!(bucket_index(u64::MAX), bucket_index(u64::MAX - 1));
        let (low, width) = bucket_range(bucket_index(u64::MAX));
        assert_eq!(low.checked_add(width - 1), Some(u64::MAX));
    }

    #[test]
    fn relative_error_is_bounded() {
        for v in [33u64, 100, 999, 12_345, 1_000_000, 987_654_321, u64::MAX / 3] {
            let (low, width) = bucket_range(bucket_index(v));
            assert!(width as f64 / low as f64 <= 1.0 / SUB_BUCKETS as f64 + 1e-12, "{v}");
        }
    }

    #[test]
    fn percentiles_of_uniform_values() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        assert_eq!(h.count(), 10_000);
        assert_eq!((h.min(), h.max()), (Some(1), Some(10_000)));
        assert_eq!(h.mean(), Some(5000.5));
        for (q, want) in [(0.5, 5000.0), (0.9, 9000.0), (0.99, 9900.0), (0.999, 9990.0)] {
            let got = h.quantile(q).unwrap() as f64;
            assert!((got - want).abs() / want < 0.035, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.quantile(1.0), Some(10_000));
        assert_eq!(h.quantile(0.0), Some(1));
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in [3, 1, 4, 1, 5, 9, 2, 6] {
            h.record(v);
        }
        // Sorted: 1 1 2 3 4 5 6 9.
        assert_eq!(h.quantile(0.5), Some(3));
        assert_eq!(h.quantile(0.75), Some(5));
        assert_eq!(h.quantile(0.99), Some(9));
    }

    #[test]
    fn tail_and_empty() {
        let mut h = Histogram::new();
        assert_eq!((h.quantile(0.5), h.min(), h.max(), h.mean()), (None, None, None, None));
        for _ in 0..990 {
            h.record(1_000);
        }
        for _ in 0..10 {
            h.record(250_000);
        }
        assert_eq!(h.quantile(0.5), Some(1_000));
        assert_eq!(h.quantile(0.99), Some(1_000));
        let p999 = h.quantile(0.999).unwrap();
        assert!((245_000..=255_000).contains(&p999), "{p999}");
        assert_eq!(h.max(), Some(250_000));
    }

    #[test]
    fn merge_equals_recording_everything() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in 0..500u64 {
            let x = v * v * 7;
            if v % 3 == 0 {
                a.record(x)
            } else {
                b.record(x)
            };
            all.record(x);
        }
        let mut merged = Histogram::new();
        merged.merge(&a);
        merged.merge(&Histogram::new());
        merged.merge(&b);
        assert_eq!(merged, all);
    }
}
