use super::*;
use crate::fixture::{aac, av, inter, key};

fn config(gop_cache_ms: u32, lag_ms: u32) -> HubConfig {
    HubConfig { gop_cache_ms, viewer_max_lag_ms: lag_ms, ..HubConfig::default() }
}

#[test]
fn clock_wraps_holds_jitter_and_skips_discontinuities() {
    let mut c = MediaClock::default();
    assert_eq!(c.advance(u32::MAX - 10), 0);
    assert_eq!(c.advance(9), 20); // across the 2^32 wrap
    assert_eq!(c.advance(5), 20); // jitter backwards holds
    assert_eq!(c.advance(29), 40);
    assert_eq!(c.advance(1_000_000), 40); // forward jump: re-anchor only
    assert_eq!(c.advance(1_000_040), 80);
    assert_eq!(c.advance(0), 80); // reset to zero
    assert_eq!(c.advance(40), 120);
}

#[test]
fn positions_count_by_kind() {
    let mut r = Ring::default();
    let cfg = HubConfig::default();
    for f in [key(0, 10), aac(0, 3), inter(40, 5), aac(20, 3)] {
        r.push(f, &cfg);
    }
    let start = r.position(0).unwrap();
    let head = r.head();
    assert_eq!((head.seq, head.bytes, head.audio, head.video), (4, 21, 2, 2));
    assert_eq!(start.frames_until(head, true, true), 4);
    assert_eq!(start.frames_until(head, false, true), 2);
    assert_eq!(start.frames_until(head, false, false), 0);
    assert_eq!(r.position(5), None);
}

#[test]
fn retention_keeps_a_keyframe_at_least_retention_old() {
    let cfg = config(2_000, 1_000);
    let mut r = Ring::default();
    for f in av(0, 20_000, 1_000, 100, 10) {
        r.push(f, &cfg);
        let front = r.get(r.first_seq()).unwrap();
        if r.now() >= 3_000 {
            // Front is a keyframe covering >= 2 s, and not a whole GOP more than needed.
            assert!(front.frame.keyframe, "front at {} is not a keyframe", front.time);
            assert!(r.span_ms() >= 2_000 && r.span_ms() < 3_000, "span {}", r.span_ms());
        }
    }
    let ts = |seq: Option<u64>| r.get(seq.unwrap()).unwrap().frame.timestamp;
    assert_eq!(ts(r.newest_keyframe()), 19_000);
    assert_eq!(ts(r.gop_start(2_000, 5_000)), 17_000);
    assert_eq!(ts(r.gop_start(1_500, 5_000)), 18_000);
    assert_eq!(ts(r.gop_start(2_000, 1_500)), 19_000);
    assert_eq!(ts(r.gop_start(2_000, 500)), 19_000, "falls back to the newest");
}

#[test]
fn caps_win_over_retention() {
    let cfg = HubConfig { gop_max_frames: 50, gop_max_bytes: 2_000, ..config(2_000, 5_000) };
    let mut r = Ring::default();
    for f in av(0, 20_000, 2_000, 100, 10) {
        r.push(f, &cfg);
        assert!(r.len() <= 50 && r.bytes() <= 2_000);
    }
    // A single frame above the byte cap is still kept (the newest always is).
    r.push(key(20_000, 5_000), &cfg);
    assert_eq!((r.len(), r.bytes()), (1, 5_000));
}

#[test]
fn never_keyframe_bounded_by_twice_retention() {
    let cfg = config(2_000, 1_000);
    let mut r = Ring::default();
    for i in 0..1_000u32 {
        r.push(inter(i * 40, 10), &cfg);
    }
    assert!(r.span_ms() <= 4_000 && r.span_ms() >= 3_960, "span {}", r.span_ms());
    assert_eq!(r.newest_keyframe(), None);
}

#[test]
fn audio_only_every_frame_is_a_sync_point() {
    let cfg = config(2_000, 1_000);
    let mut r = Ring::default();
    for i in 0..1_000u32 {
        r.push(aac(i * 20, 10), &cfg);
    }
    assert!(r.is_audio_only());
    assert_eq!(r.span_ms(), 2_000);
    assert_eq!(r.oldest_within(1_000), r.head().seq - 51);
    assert_eq!(r.oldest_within(0), r.head().seq - 1);
}
