//! Time in a fragmented-MP4 segment: RTMP millisecond timestamps (32 bits, wrapping, not
//! always monotonic) to per-track decode times in the track's timescale.
//!
//! Every decode time is computed from the absolute (unwrapped, rebased) millisecond time,
//! rounded once, so sample durations (differences of consecutive decode times) carry no
//! cumulative rounding error: at 44.1 kHz a 23 ms AAC frame is 1014 or 1015 ticks, and
//! after an hour the track is still within one tick of the timestamps.

/// A jump back in time larger than this is a discontinuity (a publisher that restarted
/// its clock), not the normal interleaving jitter between audio and video; the timeline
/// then carries on from where it was instead of going back.
pub(crate) const MAX_BACKWARD_MS: i64 = 1_000;

/// Unwraps RTMP timestamps (u32 ms, wrapping at 2^32 ≈ 49.7 days) into one continuous
/// millisecond timeline shared by every track of the segment, so that A/V sync survives a
/// wrap.
#[derive(Debug, Default, Clone)]
pub(crate) struct Clock {
    /// The last raw timestamp and its unwrapped value.
    last: Option<(u32, i64)>,
}

impl Clock {
    /// The unwrapped time of `ts`: the previous one plus the signed 32-bit difference
    /// (so a wrap reads as a small step forward). A step back of more than
    /// [`MAX_BACKWARD_MS`] is a discontinuity and maps to the previous time.
    pub(crate) fn unwrap(&mut self, ts: u32) -> i64 {
        let ext = match self.last {
            None => i64::from(ts),
            Some((raw, ext)) => {
                let delta = i64::from(ts.wrapping_sub(raw) as i32);
                if delta < -MAX_BACKWARD_MS {
                    ext
                } else {
                    ext + delta
                }
            }
        };
        self.last = Some((ts, ext));
        ext
    }
}

/// Decode times of one track, in its timescale, strictly increasing.
#[derive(Debug, Clone)]
pub(crate) struct TrackTime {
    /// Ticks per second of the track (`mdhd` timescale).
    pub(crate) timescale: u32,
    /// The last decode time handed out.
    last: Option<u64>,
}

impl TrackTime {
    pub(crate) fn new(timescale: u32) -> Self {
        Self { timescale, last: None }
    }

    /// `ms` (rebased to the segment start) in ticks, rounded to the nearest tick;
    /// negative times are 0 (an unsigned `tfdt` cannot say less).
    pub(crate) fn ticks(&self, ms: i64) -> u64 {
        let ticks = (i128::from(ms.max(0)) * i128::from(self.timescale) + 500) / 1000;
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    /// The decode time of a sample at `ms`: its ticks, or one tick after the previous
    /// sample's when timestamps stand still or go back (a sample must have a non-zero
    /// duration). Later samples fall back on their own timestamps, so the clamp does
    /// not accumulate.
    pub(crate) fn dts(&mut self, ms: i64) -> u64 {
        let t = self.ticks(ms);
        let t = match self.last {
            Some(last) if t <= last => last.saturating_add(1),
            _ => t,
        };
        self.last = Some(t);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_rounding_has_no_drift() {
        // AAC at 44.1 kHz: 1024-sample frames are 23.22 ms, timestamps say 23 or 24 ms.
        let mut t = TrackTime::new(44_100);
        let mut prev = 0;
        let mut total = 0;
        for i in 0..100_000u64 {
            let ms = (i * 1024 * 1000 / 44_100) as i64;
            let dts = t.dts(ms);
            if i > 0 {
                let d = dts - prev;
                assert!((1014..=1059).contains(&d), "frame {i}: {d}");
                total += d;
            }
            prev = dts;
        }
        let last_ms = (99_999u64 * 1024 * 1000 / 44_100) as i64;
        // The sum of the durations is the last timestamp, to the tick: no drift.
        assert_eq!(total, t.ticks(last_ms));
        assert!((total as i64 - 99_999 * 1024).abs() <= 45, "{total}");
    }

    #[test]
    fn rebased_video_at_90khz_is_exact() {
        let mut t = TrackTime::new(90_000);
        assert_eq!(t.dts(0), 0);
        assert_eq!(t.dts(40), 3_600);
        assert_eq!(t.dts(80), 7_200);
        assert_eq!(t.ticks(-5), 0);
    }

    #[test]
    fn zero_and_negative_deltas_get_one_tick_then_recover() {
        let mut t = TrackTime::new(1_000);
        assert_eq!(t.dts(100), 100);
        assert_eq!(t.dts(100), 101);
        assert_eq!(t.dts(90), 102);
        // The next real timestamp is used as is: no accumulated shift.
        assert_eq!(t.dts(140), 140);
    }

    #[test]
    fn clock_unwraps_at_2_pow_32() {
        let mut c = Clock::default();
        assert_eq!(c.unwrap(u32::MAX - 20), i64::from(u32::MAX - 20));
        assert_eq!(c.unwrap(u32::MAX - 10), i64::from(u32::MAX - 10));
        assert_eq!(c.unwrap(5), i64::from(u32::MAX) + 6);
        // Interleaving jitter across the wrap goes back a little, as it should.
        assert_eq!(c.unwrap(u32::MAX - 1), i64::from(u32::MAX) - 1);
    }

    #[test]
    fn clock_treats_a_big_jump_back_as_a_discontinuity() {
        let mut c = Clock::default();
        assert_eq!(c.unwrap(60_000), 60_000);
        assert_eq!(c.unwrap(59_500), 59_500);
        assert_eq!(c.unwrap(10), 59_500);
        assert_eq!(c.unwrap(50), 59_540);
    }
}
