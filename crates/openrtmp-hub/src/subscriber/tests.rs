use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use crate::fixture::{aac, aac_sh, av, avc_sh, inter, key, meta};
use crate::{Frame, FrameKind, Hub, HubConfig, Publisher, StreamKey, Subscriber, SubscriberEvent};

const ALL: usize = usize::MAX;

/// The wall time of polls that do not depend on wall time passing.
fn t0() -> Instant {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(Instant::now)
}

/// `ms` of injected wall time after [`t0`].
fn at(ms: u64) -> Instant {
    t0() + Duration::from_millis(ms)
}

fn k() -> StreamKey {
    StreamKey::new("live", "s")
}

fn hub(config: HubConfig) -> Hub {
    Hub::new(config)
}

/// A publisher that already sent metadata and AVC + AAC sequence headers.
fn live(hub: &Hub) -> Publisher {
    let p = hub.publish(k(), 1).unwrap();
    p.set_metadata(meta(1));
    let _ = p.push(avc_sh(0, 1));
    let _ = p.push(aac_sh(0, 1));
    p
}

fn push_all(p: &Publisher, frames: Vec<Frame>) {
    for f in frames {
        let _ = p.push(f);
    }
}

fn poll(sub: &mut Subscriber, max: usize) -> Vec<SubscriberEvent> {
    poll_at(sub, t0(), max)
}

fn poll_at(sub: &mut Subscriber, now: Instant, max: usize) -> Vec<SubscriberEvent> {
    let mut out = Vec::new();
    let n = sub.poll(now, &mut out, max);
    assert_eq!(n, out.len());
    out
}

fn frames(events: &[SubscriberEvent]) -> Vec<Frame> {
    events
        .iter()
        .filter_map(|e| match e {
            SubscriberEvent::Frame(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

/// A compact picture of an event list: M meta, V/A sequence headers, K/I video, a audio,
/// with timestamps for media.
fn describe(events: &[SubscriberEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            SubscriberEvent::Frame(f) => match (f.kind, f.sequence_header, f.keyframe) {
                (FrameKind::Data, _, _) => "M".to_string(),
                (FrameKind::Video, true, _) => format!("V{}", f.payload[7]),
                (FrameKind::Audio, true, _) => format!("A{}", f.payload[3]),
                (FrameKind::Video, _, true) => format!("K{}", f.timestamp),
                (FrameKind::Video, _, false) => format!("I{}", f.timestamp),
                (FrameKind::Audio, _, _) => format!("a{}", f.timestamp),
            },
            SubscriberEvent::Published => "Published".into(),
            SubscriberEvent::Unpublished => "Unpublished".into(),
            SubscriberEvent::TooSlow { .. } => "TooSlow".into(),
        })
        .collect()
}

#[test]
fn new_viewer_gets_metadata_headers_then_newest_keyframe() {
    let hub = hub(HubConfig::default());
    let p = live(&hub);
    push_all(&p, av(1_000, 5_000, 1_000, 100, 10));
    let mut sub = hub.subscribe(k(), 2).unwrap();
    let events = poll(&mut sub, ALL);
    let d = describe(&events);
    assert_eq!(&d[..6], ["M", "V1", "A1", "K5000", "a5000", "a5020"]);
    // The newest GOP (1 s: 25 video + 50 audio frames), original timestamps.
    assert_eq!(d.len(), 3 + 75);
    assert_eq!(d.last().unwrap(), "a5980");
    assert!(poll(&mut sub, ALL).is_empty());
    // Then live frames as they come.
    let _ = p.push(key(6_000, 100));
    assert_eq!(describe(&poll(&mut sub, ALL)), ["K6000"]);
    let s = sub.stats();
    assert_eq!((s.delivered_frames, s.dropped_frames, s.skips, s.backlog_frames), (79, 0, 0, 0));
}

#[test]
fn start_at_oldest_keyframe_option() {
    let hub = hub(HubConfig { start_at_oldest_keyframe: true, ..HubConfig::default() });
    let p = live(&hub);
    push_all(&p, av(0, 10_000, 1_000, 100, 10));
    let mut sub = hub.subscribe(k(), 2).unwrap();
    let d = describe(&poll(&mut sub, ALL));
    // The newest keyframe at least gop_cache_ms (2 s) old; the ring reaches back further
    // (K4000, for the 5 s lag limit) but starting there would be lagging already.
    assert_eq!(&d[..4], ["M", "V1", "A1", "K7000"]);
    assert_eq!(sub.stats().skips, 0);
}

#[test]
fn viewer_waiting_for_publisher_gets_published_then_start() {
    let hub = hub(HubConfig::default());
    let mut sub = hub.subscribe(k(), 2).unwrap();
    assert!(!sub.is_publishing());
    assert!(poll(&mut sub, ALL).is_empty());
    let p = live(&hub);
    assert!(sub.is_publishing());
    push_all(&p, vec![inter(0, 10), key(40, 10), aac(40, 5)]);
    assert_eq!(describe(&poll(&mut sub, ALL)), ["Published", "M", "V1", "A1", "K40", "a40"]);
}

#[test]
fn viewer_attached_before_first_keyframe_waits_for_it() {
    let hub = hub(HubConfig::default());
    let p = live(&hub);
    let mut sub = hub.subscribe(k(), 2).unwrap();
    assert_eq!(describe(&poll(&mut sub, ALL)), ["M", "V1", "A1"]);
    push_all(&p, vec![aac(0, 5), inter(0, 10), aac(20, 5)]);
    assert!(poll(&mut sub, ALL).is_empty());
    push_all(&p, vec![key(40, 10), aac(40, 5)]);
    assert_eq!(describe(&poll(&mut sub, ALL)), ["K40", "a40"]);
    assert_eq!(sub.stats().dropped_frames, 0, "waiting for the first keyframe is not a drop");
}

#[test]
fn headers_arriving_after_start_are_not_lost() {
    let hub = hub(HubConfig::default());
    let p = hub.publish(k(), 1).unwrap();
    let _ = p.push(avc_sh(0, 1));
    let mut sub = hub.subscribe(k(), 2).unwrap();
    assert_eq!(describe(&poll(&mut sub, ALL)), ["V1"]);
    let _ = p.push(aac_sh(0, 1));
    let _ = p.push(key(0, 10));
    // The audio header came in while the viewer waited for a keyframe: sent with it.
    assert_eq!(describe(&poll(&mut sub, ALL)), ["V1", "A1", "K0"]);
    // A changed header mid-stream reaches a playing viewer in order; a repeat does not.
    push_all(&p, vec![inter(40, 10), avc_sh(80, 1), avc_sh(80, 2), key(80, 10)]);
    assert_eq!(describe(&poll(&mut sub, ALL)), ["I40", "V2", "K80"]);
    assert_eq!(hub.stream(&k()).unwrap().sequence_headers, 2);
}

#[test]
fn audio_only_starts_at_head_or_within_gop_cache() {
    for (oldest, expect) in [(false, 0), (true, 101)] {
        let hub = hub(HubConfig { start_at_oldest_keyframe: oldest, ..HubConfig::default() });
        let p = hub.publish(k(), 1).unwrap();
        let _ = p.push(aac_sh(0, 1));
        for i in 0..1_000 {
            let _ = p.push(aac(i * 20, 10));
        }
        let mut sub = hub.subscribe(k(), 2).unwrap();
        let events = poll(&mut sub, ALL);
        assert_eq!(describe(&events[..1]), ["A1"]);
        // Oldest within 2 s: ts 17980..=19980.
        assert_eq!(events.len() - 1, expect, "oldest={oldest}");
        let _ = p.push(aac(20_000, 10));
        assert_eq!(describe(&poll(&mut sub, ALL)), ["a20000"]);
    }
}

#[test]
fn slow_viewer_skips_to_newest_keyframe_then_too_slow() {
    let hub = hub(HubConfig::default());
    let p = live(&hub);
    push_all(&p, av(0, 1_000, 1_000, 100, 10));
    let mut slow = hub.subscribe(k(), 2).unwrap();
    assert_eq!(frames(&poll(&mut slow, ALL)).len(), 3 + 75);
    // 10 s of media while the viewer does not read.
    push_all(&p, av(1_000, 10_000, 1_000, 100, 10));
    // A real-time publisher: the wall clock follows media time.
    let d = describe(&poll_at(&mut slow, at(11_000), 1));
    assert_eq!(d, ["K10000"], "skipped to the newest keyframe, budget of one frame");
    let s = slow.stats();
    assert_eq!(s.skips, 1);
    // Everything from 1000 up to the keyframe at 10000: 9 s of 25 + 50 fps.
    assert_eq!(s.dropped_frames, 9 * 75);
    assert_eq!(s.backlog_frames, 74);
    assert!(!d.contains(&"TooSlow".to_string()));

    // Now it reads one frame per 40 ms of media: never catches up, skips repeatedly,
    // and is told once, ~30 s after its lag first crossed 5 s.
    let mut too_slow_at = Vec::new();
    let mut t = 11_000;
    while t < 60_000 {
        push_all(&p, av(t, 40, 1_000, 100, 10));
        for e in poll_at(&mut slow, at(u64::from(t) + 40), 1) {
            if let SubscriberEvent::TooSlow { lag_ms } = e {
                too_slow_at.push((t, lag_ms));
            }
        }
        t += 40;
    }
    assert_eq!(too_slow_at.len(), 1, "{too_slow_at:?}");
    let (at, lag_ms) = too_slow_at[0];
    assert!(lag_ms > 30_000 && lag_ms <= 30_040, "lag {lag_ms}");
    // The lag first exceeded 5 s at ~6 s (no reads after 1 s): told at ~36 s.
    assert!((35_900..=36_100).contains(&at), "told at {at}");
    assert!(slow.stats().skips > 1);
}

#[test]
fn viewer_that_catches_up_is_not_too_slow() {
    let cfg = HubConfig { viewer_max_lag_ms: 500, ..HubConfig::default() };
    let hub = hub(cfg);
    let p = live(&hub);
    let mut sub = hub.subscribe(k(), 2).unwrap();
    poll(&mut sub, ALL);
    // Every 2 s it stalls for 1 s (skip), then reads everything (caught up).
    for round in 0..60u32 {
        let t = round * 2_000;
        push_all(&p, av(t, 1_000, 1_000, 100, 10));
        let events = poll(&mut sub, ALL);
        assert!(!describe(&events).contains(&"TooSlow".to_string()));
        push_all(&p, av(t + 1_000, 1_000, 1_000, 100, 10));
        poll(&mut sub, ALL);
    }
    assert!(sub.stats().skips >= 59);
}

#[test]
fn fast_viewer_unaffected_by_slow_one() {
    let hub = hub(HubConfig::default());
    let p = live(&hub);
    let mut fast = hub.subscribe(k(), 2).unwrap();
    let _slow = hub.subscribe(k(), 3).unwrap();
    poll(&mut fast, ALL);
    let media = av(0, 30_000, 2_000, 100, 10);
    let n = media.len();
    let mut got = 0;
    for f in media {
        let _ = p.push(f);
        got += frames(&poll(&mut fast, ALL)).len();
    }
    assert_eq!(got, n);
    let s = fast.stats();
    assert_eq!((s.dropped_frames, s.skips, s.backlog_frames), (0, 0, 0));
    assert_eq!(hub.stream(&k()).unwrap().viewers, 2);
}

#[test]
fn unpublish_after_pending_frames_then_republish() {
    let hub = hub(HubConfig::default());
    let p = live(&hub);
    let mut sub = hub.subscribe(k(), 2).unwrap();
    push_all(&p, vec![key(0, 10), aac(0, 5)]);
    p.unpublish();
    assert!(!sub.is_publishing());
    // The frames it had not read yet, then Unpublished, once.
    assert_eq!(describe(&poll(&mut sub, 0)), ["M", "V1", "A1", "K0"]);
    // Metadata and headers went into the ring too (first seen), then two frames.
    assert_eq!(hub.stream(&k()).unwrap().ring_frames, 5, "kept while a viewer drains it");
    assert_eq!(describe(&poll(&mut sub, ALL)), ["a0", "Unpublished"]);
    assert!(poll(&mut sub, ALL).is_empty());
    // Nobody else follows the old generation: its memory is freed.
    assert_eq!(hub.memory_bytes(), 0);

    let p2 = hub.publish(k(), 7).unwrap();
    p2.set_metadata(meta(2));
    push_all(&p2, vec![avc_sh(0, 2), aac_sh(0, 2), inter(0, 10), key(40, 10)]);
    assert_eq!(describe(&poll(&mut sub, ALL)), ["Published", "M", "V2", "A2", "K40"]);
    let info = hub.stream(&k()).unwrap();
    assert_eq!((info.generation, info.publisher_owner), (2, Some(7)));
}

#[test]
fn unpublish_and_republish_between_polls() {
    let hub = hub(HubConfig::default());
    let p = live(&hub);
    let mut sub = hub.subscribe(k(), 2).unwrap();
    push_all(&p, vec![key(0, 10)]);
    poll(&mut sub, ALL);
    drop(p);
    let p2 = hub.publish(k(), 3).unwrap();
    let _ = p2.push(avc_sh(0, 3));
    let _ = p2.push(key(0, 10));
    assert_eq!(describe(&poll(&mut sub, ALL)), ["Unpublished", "Published", "V3", "K0"]);
}

#[test]
fn pause_stops_delivery_and_resumes_at_newest_keyframe() {
    let hub = hub(HubConfig::default());
    let p = live(&hub);
    let mut sub = hub.subscribe(k(), 2).unwrap();
    push_all(&p, av(0, 1_000, 1_000, 100, 10));
    poll(&mut sub, ALL);
    sub.set_paused(true);
    push_all(&p, av(1_000, 10_000, 1_000, 100, 10));
    assert!(poll(&mut sub, ALL).is_empty());
    sub.set_paused(false);
    let d = describe(&poll(&mut sub, ALL));
    assert_eq!(d[0], "K10000", "no headers re-sent, resumes on a keyframe");
    let s = sub.stats();
    assert_eq!((s.skips, s.dropped_frames), (0, 0), "pausing is not lagging");
}

#[test]
fn resume_resends_headers_only_if_changed() {
    let hub = hub(HubConfig::default());
    let p = live(&hub);
    let mut sub = hub.subscribe(k(), 2).unwrap();
    let _ = p.push(key(0, 10));
    poll(&mut sub, ALL);
    sub.set_paused(true);
    push_all(&p, vec![avc_sh(40, 9), key(40, 10)]);
    sub.set_paused(false);
    assert_eq!(describe(&poll(&mut sub, ALL)), ["M", "V9", "A1", "K40"]);
}

#[test]
fn audio_and_video_filters() {
    let hub = hub(HubConfig::default());
    let p = live(&hub);
    let mut sub = hub.subscribe(k(), 2).unwrap();
    sub.set_video(false);
    let _ = p.push(key(0, 10));
    push_all(&p, vec![aac(0, 5), inter(40, 10), aac(20, 5)]);
    assert_eq!(describe(&poll(&mut sub, ALL)), ["M", "A1", "a0", "a20"]);
    sub.set_audio(false);
    push_all(&p, vec![aac(40, 5), inter(80, 10)]);
    assert!(poll(&mut sub, ALL).is_empty());
    // Video back: its header, then video from the next keyframe.
    sub.set_video(true);
    push_all(&p, vec![inter(120, 10), key(160, 10), inter(200, 10), aac(60, 5)]);
    assert_eq!(describe(&poll(&mut sub, ALL)), ["V1", "K160", "I200"]);
    sub.set_audio(true);
    let _ = p.push(aac(80, 5));
    assert_eq!(describe(&poll(&mut sub, ALL)), ["A1", "a80"]);
    assert_eq!(sub.stats().dropped_frames, 0, "filtered frames are not drops");
}

#[test]
fn byte_budget_returns_at_least_one_frame() {
    let hub = hub(HubConfig::default());
    let p = live(&hub);
    let mut sub = hub.subscribe(k(), 2).unwrap();
    push_all(&p, vec![key(0, 1_000), inter(40, 300), inter(80, 300), inter(120, 300)]);
    assert_eq!(describe(&poll(&mut sub, 0)), ["M", "V1", "A1", "K0"]);
    assert_eq!(describe(&poll(&mut sub, 301)), ["I40", "I80"]);
    let s = sub.stats();
    assert_eq!((s.backlog_frames, s.backlog_bytes), (1, 300));
    assert_eq!(describe(&poll(&mut sub, 1)), ["I120"]);
}

#[test]
fn lag_math_across_timestamp_wrap() {
    let hub = hub(HubConfig::default());
    let p = live(&hub);
    let mut fast = hub.subscribe(k(), 2).unwrap();
    let mut slow = hub.subscribe(k(), 3).unwrap();
    poll(&mut fast, ALL);
    poll(&mut slow, ALL);
    let start = u32::MAX - 3_000;
    for (i, f) in av(start, 10_000, 1_000, 100, 10).into_iter().enumerate() {
        let _ = p.push(f);
        poll(&mut fast, ALL);
        if i % 75 == 0 {
            // The slow one reads one frame every second: lag grows 1 s per s.
            poll(&mut slow, 1);
        }
    }
    let f = fast.stats();
    assert_eq!((f.skips, f.dropped_frames), (0, 0), "a wrap is not a lag");
    let s = slow.stats();
    assert!(s.skips >= 1 && s.skips <= 2, "skips {}", s.skips);
    assert!(s.backlog_ms <= 5_000, "backlog {}", s.backlog_ms);
    let info = hub.stream(&k()).unwrap();
    assert_eq!(info.last_timestamp, Some(start.wrapping_add(9_980)));
    assert!(info.ring_ms >= 5_000 && info.ring_ms < 6_000, "ring {}", info.ring_ms);
}

#[test]
fn cursor_trimmed_by_caps_skips() {
    let cfg = HubConfig { gop_max_frames: 20, ..HubConfig::default() };
    let hub = hub(cfg);
    let p = live(&hub);
    let mut sub = hub.subscribe(k(), 2).unwrap();
    let _ = p.push(key(0, 10));
    poll(&mut sub, ALL);
    // 33 frames in 330 ms (not a time lag): the cursor falls off the front of the ring.
    push_all(&p, (1..=30).map(|i| inter(i * 10, 10)).collect());
    push_all(&p, vec![key(310, 10), aac(310, 5), inter(320, 10)]);
    let d = describe(&poll(&mut sub, ALL));
    assert_eq!(d, ["K310", "a310", "I320"]);
    assert_eq!(sub.stats().skips, 1);
}

#[test]
fn byte_backlog_over_limit_skips() {
    let hub = hub(HubConfig { viewer_max_bytes: 1_000, ..HubConfig::default() });
    let p = live(&hub);
    let mut sub = hub.subscribe(k(), 2).unwrap();
    let _ = p.push(key(0, 10));
    poll(&mut sub, ALL);
    push_all(&p, vec![inter(40, 500), inter(80, 500), key(120, 100), inter(160, 10)]);
    assert_eq!(describe(&poll(&mut sub, ALL)), ["K120", "I160"]);
    let s = sub.stats();
    assert_eq!((s.skips, s.dropped_frames), (1, 2));
}

#[test]
fn metadata_stamped_zero_mid_stream_does_not_move_the_clock() {
    let hub = hub(HubConfig::default());
    let p = live(&hub);
    let mut sub = hub.subscribe(k(), 2).unwrap();
    let _ = p.push(key(3_600_000, 10));
    poll(&mut sub, ALL);
    p.set_metadata(meta(2));
    push_all(&p, vec![inter(3_600_040, 10), inter(3_600_080, 10)]);
    assert_eq!(describe(&poll(&mut sub, ALL)), ["M", "I3600040", "I3600080"]);
    assert_eq!(hub.stream(&k()).unwrap().ring_ms, 80);
    assert_eq!(sub.stats().skips, 0);
}

#[test]
fn skip_without_a_newer_keyframe_waits_for_the_next() {
    let cfg = HubConfig { viewer_max_lag_ms: 500, ..HubConfig::default() };
    let hub = hub(cfg);
    let p = live(&hub);
    let mut sub = hub.subscribe(k(), 2).unwrap();
    let _ = p.push(key(0, 10));
    poll(&mut sub, ALL);
    push_all(&p, (1..30).map(|i| inter(i * 40, 10)).collect());
    assert!(poll(&mut sub, ALL).is_empty());
    assert_eq!((sub.stats().skips, sub.stats().dropped_frames), (1, 29));
    push_all(&p, vec![inter(1_200, 10), key(1_240, 10), inter(1_280, 10)]);
    assert_eq!(describe(&poll(&mut sub, ALL)), ["K1240", "I1280"]);
    assert_eq!((sub.stats().skips, sub.stats().dropped_frames), (1, 30));
}

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn ready_is_pending_when_drained_and_woken_by_push() {
    let hub = hub(HubConfig::default());
    let p = live(&hub);
    let mut sub = hub.subscribe(k(), 2).unwrap();
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&counter));
    let mut cx = Context::from_waker(&waker);
    // Fresh subscriber: ready at once.
    assert!(pin!(sub.ready()).poll(&mut cx).is_ready());
    poll(&mut sub, ALL);
    {
        let mut ready = pin!(sub.ready());
        assert!(ready.as_mut().poll(&mut cx).is_pending());
        assert!(ready.as_mut().poll(&mut cx).is_pending(), "no spurious readiness");
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);
        let _ = p.push(key(0, 10));
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(ready.as_mut().poll(&mut cx).is_ready());
    }
    // A push between the poll and the next ready() is not lost.
    let _ = p.push(inter(40, 10));
    assert!(pin!(sub.ready()).poll(&mut cx).is_ready());
    // Budget-limited poll: more is due, so ready at once.
    assert_eq!(poll(&mut sub, 1).len(), 1);
    assert!(pin!(sub.ready()).poll(&mut cx).is_ready());
    assert_eq!(poll(&mut sub, 1).len(), 1);
    assert!(pin!(sub.ready()).poll(&mut cx).is_pending());
    // Paused: not woken by frames, only by the publisher leaving.
    sub.set_paused(true);
    let before = counter.0.load(Ordering::SeqCst);
    {
        let mut ready = pin!(sub.ready());
        assert!(ready.as_mut().poll(&mut cx).is_pending());
        let _ = p.push(inter(80, 10));
        assert_eq!(counter.0.load(Ordering::SeqCst), before);
        assert!(ready.as_mut().poll(&mut cx).is_pending());
        drop(p);
        assert_eq!(counter.0.load(Ordering::SeqCst), before + 1);
        assert!(ready.as_mut().poll(&mut cx).is_ready());
    }
    assert_eq!(describe(&poll(&mut sub, ALL)), ["Unpublished"]);
    assert!(pin!(sub.ready()).poll(&mut cx).is_pending());
    let p = live(&hub);
    assert!(pin!(sub.ready()).poll(&mut cx).is_ready());
    assert_eq!(describe(&poll(&mut sub, ALL)), ["Published"]);
    // Unpausing starts the new publisher's stream.
    sub.set_paused(false);
    assert!(pin!(sub.ready()).poll(&mut cx).is_ready());
    let _ = p.push(key(0, 10));
    assert_eq!(describe(&poll(&mut sub, ALL)), ["M", "V1", "A1", "K0"]);
}

#[tokio::test]
async fn ready_wakes_a_waiting_task() {
    let hub = hub(HubConfig::default());
    let p = live(&hub);
    let mut sub = hub.subscribe(k(), 2).unwrap();
    let task = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut wakeups = 0;
        while got.len() < 3 {
            sub.ready().await;
            wakeups += 1;
            let mut out = Vec::new();
            sub.poll(t0(), &mut out, ALL);
            got.extend(frames(&out));
        }
        (got.len(), wakeups)
    });
    tokio::task::yield_now().await;
    let _ = p.push(key(0, 10));
    tokio::task::yield_now().await;
    let _ = p.push(inter(40, 10));
    let (n, wakeups) = task.await.unwrap();
    assert!(n >= 3);
    assert!(wakeups <= 3, "{wakeups} wakeups for 3 changes");
}

#[test]
fn multitrack_headers_cached_per_track() {
    // E-RTMP v2 multitrack audio: ExHeader | Multitrack(5), OneTrack | SequenceStart,
    // "mp4a", track id, AudioSpecificConfig.
    let mt_sh = |track: u8, cfg: u8| {
        let body = vec![0x95, 0x00, b'm', b'p', b'4', b'a', track, 0x12, cfg];
        Frame::classify(FrameKind::Audio, 0, body.into())
    };
    let (t0, t1) = (mt_sh(0, 0x10), mt_sh(1, 0x10));
    assert!(t0.sequence_header && t1.sequence_header);
    assert_eq!((t0.track, t1.track), (0, 1));
    let hub = hub(HubConfig::default());
    let p = hub.publish(k(), 1).unwrap();
    push_all(&p, vec![t1.clone(), avc_sh(0, 1), t0.clone(), mt_sh(1, 0x08), key(0, 10)]);
    let mut sub = hub.subscribe(k(), 2).unwrap();
    let got = frames(&poll(&mut sub, ALL));
    let tracks: Vec<(FrameKind, u8, u8)> =
        got.iter().map(|f| (f.kind, f.track, *f.payload.last().unwrap())).collect();
    // Video first, then audio by track; track 1 holds its latest configuration.
    assert_eq!(
        tracks,
        [
            (FrameKind::Video, 0, 1),
            (FrameKind::Audio, 0, 0x10),
            (FrameKind::Audio, 1, 0x08),
            (FrameKind::Video, 0, 0x5a)
        ]
    );
}

/// Regression (found by the property test): a viewer that started while the stream had
/// no video yet got the first video frame even when it was an inter frame.
#[test]
fn video_appearing_after_an_audio_only_start_begins_at_a_keyframe() {
    let hub = hub(HubConfig::default());
    let p = hub.publish(k(), 1).unwrap();
    let mut sub = hub.subscribe(k(), 2).unwrap();
    let _ = p.push(aac(0, 5));
    assert!(poll(&mut sub, ALL).is_empty(), "audio-only start is at the head");
    push_all(&p, vec![aac(20, 5), inter(40, 10), aac(40, 5), key(80, 10), inter(120, 10)]);
    assert_eq!(describe(&poll(&mut sub, ALL)), ["a20", "a40", "K80", "I120"]);
}

/// Regression (found by the property test): unpausing went back to a keyframe the viewer
/// had already received.
#[test]
fn resume_never_goes_backwards() {
    let hub = hub(HubConfig::default());
    let p = live(&hub);
    let mut sub = hub.subscribe(k(), 2).unwrap();
    push_all(&p, vec![key(0, 10), inter(40, 10)]);
    poll(&mut sub, ALL);
    sub.set_paused(true);
    let _ = p.push(inter(80, 10));
    sub.set_paused(false);
    assert_eq!(describe(&poll(&mut sub, ALL)), ["I80"]);
}

mod property;

/// Regression: with a publisher pushing as fast as it can (FFmpeg without `-re`), a player
/// that joined was cut off 0.3 s later as "too slow (64717 ms behind for too long)": how
/// long it had been lagging was counted in media time, which ran 50x faster than the wall
/// clock. Skipping is right; the disconnect must wait for wall time.
#[test]
fn publisher_faster_than_real_time_costs_skips_not_the_player() {
    let hub = hub(HubConfig::default());
    let p = live(&hub);
    let mut player = hub.subscribe(k(), 2).unwrap();
    // 1.6 s of media per 33 ms of wall time (50x), for 10 s of wall time. The player takes
    // every batch it is given, 16 KiB per tick: a third of what arrives.
    for tick in 0..300u32 {
        push_all(&p, av(tick * 1_600, 1_600, 1_000, 1_000, 100));
        let events = poll_at(&mut player, at(u64::from(tick) * 33), 16 * 1024);
        assert!(!describe(&events).contains(&"TooSlow".to_string()), "tick {tick}");
        assert!(!frames(&events).is_empty(), "tick {tick}: it keeps playing");
    }
    let s = player.stats();
    assert!(s.skips > 50, "it skips to keyframes instead: {s:?}");
}

/// The other half of the regression above: a player that stops reading is still told it
/// is too slow once it has lagged for `viewer_disconnect_after_ms` of wall time.
#[test]
fn player_that_stops_polling_is_too_slow_after_the_wall_time_limit() {
    let hub = hub(HubConfig { viewer_disconnect_after_ms: 3_000, ..HubConfig::default() });
    let p = live(&hub);
    let mut player = hub.subscribe(k(), 2).unwrap();
    let tick_at = |tick: u32| at(u64::from(tick) * 33);
    let mut told = Vec::new();
    for tick in 0..200u32 {
        push_all(&p, av(tick * 1_600, 1_600, 1_000, 1_000, 100));
        // It keeps up for 30 ticks, then reads nothing until tick 118 (2.94 s after its
        // last read, within the limit), then one frame per poll every 6th tick.
        let polls = tick < 30 || (tick >= 118 && (tick - 118) % 6 == 0);
        if !polls {
            continue;
        }
        let budget = if tick < 30 { ALL } else { 1 };
        let mut out = Vec::new();
        player.poll(tick_at(tick), &mut out, budget);
        for e in out {
            if let SubscriberEvent::TooSlow { lag_ms } = e {
                told.push((tick, lag_ms));
            }
        }
    }
    // Last read in time at tick 29; lagging from then on: told at the first poll more than
    // 3 s later, tick 124 (95 ticks = 3135 ms), once.
    assert_eq!(told, [(124, 3_135)]);
    assert!(player.stats().skips >= 2);
}
