use std::time::{Duration, Instant, SystemTime};

use super::*;

const V0: u64 = 3_000_000_000; // random RTP offsets, already extended
const A0: u64 = 123_456;

/// A synthetic sender: capture instant `c` seconds into the call, video at 90 kHz, audio
/// at 48 kHz, sender wallclock `ntp0 + c`.
struct Sender {
    start: Instant,
    ntp0: SystemTime,
}

impl Sender {
    fn new() -> Self {
        Sender {
            start: Instant::now(),
            ntp0: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        }
    }
    fn at(&self, secs: f64) -> Instant {
        self.start + Duration::from_secs_f64(secs)
    }
    fn vrtp(&self, c: f64) -> u64 {
        V0 + (c * 90_000.0).round() as u64
    }
    fn artp(&self, c: f64) -> u64 {
        A0 + (c * 48_000.0).round() as u64
    }
    /// A report for capture instant `c`, whose wallclock is off by `skew` seconds.
    fn report(&self, rtp: u64, c: f64, skew: f64) -> SenderReport {
        SenderReport { ntp_time: self.ntp0 + Duration::from_secs_f64(c + skew), rtp_time: rtp }
    }
}

/// Pseudo-random jitter in [0, max) seconds, deterministic.
fn jitter(i: u64, max: f64) -> f64 {
    let x = i.wrapping_mul(2_654_435_761) % 1000;
    max * x as f64 / 1000.0
}

#[test]
fn arrival_mapping_is_monotonic_and_starts_at_zero() {
    let s = Sender::new();
    let mut clock = MediaClock::new();
    let mut prev = 0;
    for i in 0..90u64 {
        let c = i as f64 / 30.0;
        let rtp = s.vrtp(c);
        clock.observe(StreamKind::Video, rtp, 90_000, s.at(c + 0.05 + jitter(i, 0.03)), None);
        let ts = clock.timestamp(StreamKind::Video, rtp);
        if i == 0 {
            assert_eq!(ts, 0);
        }
        assert!(ts >= prev, "frame {i}: {ts} < {prev}");
        // RTP spacing, not arrival jitter, decides (within the first frame's own jitter).
        assert!((f64::from(ts) - c * 1000.0).abs() <= 31.0, "frame {i}: {ts} vs {}", c * 1000.0);
        prev = ts;
    }
    assert!(!clock.synced());
}

/// Runs 3 s of audio (20 ms) and video (30 fps) interleaved by arrival; reports come from
/// `report_from` seconds on. Returns (capture instant, kind, timestamp) of every frame.
fn session(
    clock: &mut MediaClock,
    report_from: f64,
    audio_delay: f64,
    audio_skew: f64,
) -> Vec<(f64, StreamKind, u32)> {
    let s = Sender::new();
    let mut events: Vec<(f64, f64, StreamKind)> = Vec::new(); // (arrival, capture, kind)
    for i in 0..90u64 {
        let c = i as f64 / 30.0;
        events.push((c + 0.04 + jitter(i, 0.02), c, StreamKind::Video));
    }
    for j in 0..150u64 {
        let c = j as f64 / 50.0;
        events.push((c + 0.04 + audio_delay + jitter(j + 7, 0.02), c, StreamKind::Audio));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = Vec::new();
    for (arrival, c, kind) in events {
        let (rtp, rate, skew) = match kind {
            StreamKind::Video => (s.vrtp(c), 90_000, 0.0),
            StreamKind::Audio => (s.artp(c), 48_000, audio_skew),
        };
        let report = (arrival >= report_from).then(|| {
            // The report is for an instant a little before this frame.
            let rc = (c - 0.2).max(0.0);
            let rrtp = match kind {
                StreamKind::Video => s.vrtp(rc),
                StreamKind::Audio => s.artp(rc),
            };
            s.report(rrtp, rc, skew)
        });
        clock.observe(kind, rtp, rate, s.at(arrival), report);
        out.push((c, kind, clock.timestamp(kind, rtp)));
    }
    out
}

fn assert_monotonic(events: &[(f64, StreamKind, u32)]) {
    for kind in [StreamKind::Audio, StreamKind::Video] {
        let ts: Vec<u32> = events.iter().filter(|e| e.1 == kind).map(|e| e.2).collect();
        assert!(ts.windows(2).all(|w| w[1] >= w[0]), "{kind:?} went back: {ts:?}");
    }
}

/// The A/V offset (audio ts - video ts) at capture instant `c`, from the frames captured at
/// or after `from`.
fn av_offset(events: &[(f64, StreamKind, u32)], from: f64) -> f64 {
    let pick = |kind| {
        events
            .iter()
            .filter(|e| e.1 == kind && e.0 >= from)
            .map(|e| f64::from(e.2) - e.0 * 1000.0)
            .next()
            .unwrap()
    };
    pick(StreamKind::Audio) - pick(StreamKind::Video)
}

#[test]
fn late_reports_fix_an_audio_network_delay_without_going_back() {
    // Audio arrives 80 ms later than video for the same capture instant: by arrival the
    // audio is 80 ms late, by the reports it is in sync.
    let mut clock = MediaClock::new();
    let events = session(&mut clock, 1.0, 0.08, 0.0);
    assert!(clock.synced());
    assert_monotonic(&events);
    let before = av_offset(&events, 0.5);
    let after = av_offset(&events, 2.0);
    assert!((before - 80.0).abs() < 25.0, "arrival mapping offset {before}");
    assert!(after.abs() <= 2.0, "report mapping offset {after}");
}

#[test]
fn a_100ms_offset_in_the_reports_is_reproduced() {
    // The sender says audio was captured 100 ms after the video at the same RTP instants
    // (its wallclocks differ by 100 ms): the output keeps that offset.
    let mut clock = MediaClock::new();
    let events = session(&mut clock, 0.0, 0.0, 0.1);
    assert!(clock.synced());
    assert_monotonic(&events);
    let offset = av_offset(&events, 1.0);
    assert!((offset - 100.0).abs() <= 2.0, "offset {offset}");
}

#[test]
fn reports_from_the_start_sync_from_the_first_frame() {
    let mut clock = MediaClock::new();
    let events = session(&mut clock, 0.0, 0.05, 0.0);
    assert_monotonic(&events);
    assert!(av_offset(&events, 0.2).abs() <= 2.0);
}

#[test]
fn reordered_frame_is_clamped_and_counted() {
    let s = Sender::new();
    let mut clock = MediaClock::new();
    let mut ts = Vec::new();
    // Frame 2 arrives after frame 3.
    for n in [0.0, 1.0, 3.0, 2.0, 4.0] {
        let c = n / 30.0;
        let arrival = if n == 2.0 { 3.5 / 30.0 } else { c } + 0.01;
        let rtp = s.vrtp(c);
        clock.observe(StreamKind::Video, rtp, 90_000, s.at(arrival), None);
        ts.push(clock.timestamp(StreamKind::Video, rtp));
    }
    assert_eq!(ts, vec![0, 33, 100, 100, 133]);
    assert_eq!(clock.clamped(StreamKind::Video), 1);
}

#[test]
fn a_changing_report_moves_time_but_never_back() {
    let s = Sender::new();
    let mut clock = MediaClock::new();
    clock.set_audio_expected(false);
    let mut ts = Vec::new();
    for i in 0..60u64 {
        let c = i as f64 / 30.0;
        // The sender's wallclock steps back 50 ms at 1 s (an NTP correction).
        let skew = if c >= 1.0 { -0.05 } else { 0.0 };
        let report = s.report(s.vrtp(c), c, skew);
        clock.observe(StreamKind::Video, s.vrtp(c), 90_000, s.at(c + 0.02), Some(report));
        ts.push(clock.timestamp(StreamKind::Video, s.vrtp(c)));
    }
    assert!(clock.synced(), "video alone switches when audio is not expected");
    assert!(ts.windows(2).all(|w| w[1] >= w[0]));
    assert!(clock.clamped(StreamKind::Video) >= 1);
    // After the step, time runs on from the clamped value at the frame rate.
    assert!((33..=34).contains(&(ts[59] - ts[58])));
}

#[test]
fn without_audio_the_video_report_is_not_enough_when_audio_is_expected() {
    let s = Sender::new();
    let mut clock = MediaClock::new();
    clock.observe(StreamKind::Video, V0, 90_000, s.at(0.0), Some(s.report(V0, 0.0, 0.0)));
    assert!(!clock.synced());
    clock.set_audio_expected(false);
    clock.observe(StreamKind::Video, V0 + 3000, 90_000, s.at(0.033), Some(s.report(V0, 0.0, 0.0)));
    assert!(clock.synced());
}

#[test]
fn timestamps_of_derived_audio_frames() {
    // An AAC frame 1024 samples after an observed Opus packet maps 21 ms later.
    let s = Sender::new();
    let mut clock = MediaClock::new();
    clock.observe(StreamKind::Audio, A0, 48_000, s.at(0.0), None);
    assert_eq!(clock.timestamp(StreamKind::Audio, A0), 0);
    assert_eq!(clock.timestamp(StreamKind::Audio, A0 + 1024), 21);
    assert_eq!(clock.timestamp(StreamKind::Video, V0), 0, "unobserved stream maps to 0");
}

#[test]
fn extended_rtp_across_the_32_bit_wrap_keeps_counting() {
    // str0m extends RTP time to 64 bits: 2^32 is just another value.
    let s = Sender::new();
    let mut clock = MediaClock::new();
    let v0 = (1u64 << 32) - 45_000;
    let mut ts = Vec::new();
    for i in 0..30u64 {
        let rtp = v0 + i * 3000;
        clock.observe(StreamKind::Video, rtp, 90_000, s.at(i as f64 / 30.0), None);
        ts.push(clock.timestamp(StreamKind::Video, rtp));
    }
    assert_eq!(ts[15], 500);
    assert_eq!(ts[29], 967);
}

proptest::proptest! {
    /// Whatever the arrivals, reorderings and reports, no stream's timestamps go back.
    #[test]
    fn timestamps_never_go_back(steps in proptest::collection::vec(
        (proptest::bool::ANY, -3000i64..6000, 0u64..80, proptest::option::of(-500i64..500)), 1..200)) {
        let s = Sender::new();
        let mut clock = MediaClock::new();
        let (mut vrtp, mut artp, mut ms) = (V0 as i64, A0 as i64 + 1_000_000, 0u64);
        let mut last = [0u32; 2];
        for (video, delta, wait, report) in steps {
            ms += wait;
            let (kind, rtp, rate, idx) = if video {
                vrtp += delta;
                (StreamKind::Video, vrtp as u64, 90_000, 0)
            } else {
                artp += delta / 2;
                (StreamKind::Audio, artp as u64, 48_000, 1)
            };
            let report = report.map(|skew| SenderReport {
                ntp_time: s.ntp0 + Duration::from_millis(ms) + Duration::from_millis(500)
                    - Duration::from_millis((skew + 500) as u64),
                rtp_time: rtp,
            });
            clock.observe(kind, rtp, rate, s.start + Duration::from_millis(ms), report);
            let ts = clock.timestamp(kind, rtp);
            proptest::prop_assert!(ts >= last[idx], "{:?}: {} < {}", kind, ts, last[idx]);
            last[idx] = ts;
        }
    }
}
