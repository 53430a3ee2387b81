use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::fixture::{aac, aac_sh, av, avc_sh, inter, key, meta};
use crate::{
    Batch, FrameKind, Hub, HubConfig, MediaPump, Publisher, PumpConfig, PumpEvent, StreamKey,
};

fn k() -> StreamKey {
    StreamKey::new("live", "pump")
}

/// The injected wall clock: `ms` after a fixed start.
fn at(ms: u64) -> Instant {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(Instant::now) + Duration::from_millis(ms)
}

fn live(hub: &Hub) -> Publisher {
    let p = hub.publish(k(), 1).unwrap();
    p.set_metadata(meta(1));
    let _ = p.push(avc_sh(0, 1));
    let _ = p.push(aac_sh(0, 1));
    p
}

fn push_all(p: &Publisher, frames: Vec<crate::Frame>) {
    for f in frames {
        let _ = p.push(f);
    }
}

fn pump(hub: &Hub, batch_bytes: usize) -> MediaPump {
    MediaPump::new(hub.subscribe(k(), 2).unwrap(), PumpConfig { batch_bytes })
}

/// One batch: the batch and a picture of its events, `+` for live frames and `~` for
/// catch-up ones (M metadata, V/A sequence headers, K/I video, a audio).
fn batch(pump: &mut MediaPump, now: Instant) -> (Batch, Vec<String>) {
    let mut out = Vec::new();
    let b = pump.poll_batch(now, &mut out);
    let d = out
        .iter()
        .map(|e| match e {
            PumpEvent::Frame { frame: f, catch_up } => {
                let mark = if *catch_up { "~" } else { "+" };
                let what = match (f.kind, f.sequence_header, f.keyframe) {
                    (FrameKind::Data, _, _) => "M".to_string(),
                    (FrameKind::Video, true, _) => "V".to_string(),
                    (FrameKind::Audio, true, _) => "A".to_string(),
                    (FrameKind::Video, _, true) => format!("K{}", f.timestamp),
                    (FrameKind::Video, _, false) => format!("I{}", f.timestamp),
                    (FrameKind::Audio, _, _) => format!("a{}", f.timestamp),
                };
                format!("{mark}{what}")
            }
            PumpEvent::Unpublished => "Unpublished".into(),
            PumpEvent::Published => "Published".into(),
        })
        .collect();
    (b, d)
}

fn is_ready(pump: &MediaPump) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    matches!(pin!(pump.ready()).poll(&mut cx), Poll::Ready(()))
}

#[test]
fn batches_stop_at_the_byte_budget_plus_one_frame() {
    let hub = Hub::new(HubConfig::default());
    let p = live(&hub);
    push_all(&p, vec![key(0, 1_000), inter(40, 1_000), inter(80, 1_000), inter(120, 1_000)]);
    let mut pump = pump(&hub, 1_500);
    let (b, d) = batch(&mut pump, at(0));
    // The start sequence, then frames until 1,500 bytes are reached: two.
    assert_eq!(d, ["~M", "~V", "~A", "~K0", "~I40"]);
    assert!(b.budget_hit && b.too_slow.is_none());
    assert_eq!(b.frames, 5);
    assert!(b.bytes >= 2_000 && b.bytes < 2_000 + 100, "{}", b.bytes);
    assert!(is_ready(&pump), "more is due: ready at once");
    let (b, d) = batch(&mut pump, at(0));
    assert_eq!(d, ["~I80", "~I120"]);
    assert_eq!((b.frames, b.bytes, b.budget_hit), (2, 2_000, true));
    let (b, d) = batch(&mut pump, at(0));
    assert!(d.is_empty());
    assert_eq!(b, Batch::default());
    assert!(!is_ready(&pump));
    let s = pump.stats();
    assert_eq!((s.batches, s.budget_hits, s.delivered_frames()), (3, 2, 7));
}

#[test]
fn join_backlog_is_catch_up_and_what_follows_is_live() {
    let hub = Hub::new(HubConfig::default());
    let p = live(&hub);
    push_all(&p, vec![key(0, 100), aac(0, 10), inter(40, 100)]);
    let mut pump = pump(&hub, 150);
    // Pushed after the join but before the viewer was caught up: catch-up too.
    push_all(&p, vec![aac(20, 10)]);
    let (_, d) = batch(&mut pump, at(0));
    assert_eq!(d, ["~M", "~V", "~A", "~K0", "~a0", "~I40"]);
    assert!(!pump.in_sync());
    let (_, d) = batch(&mut pump, at(0));
    assert_eq!(d, ["~a20"]);
    assert!(pump.in_sync(), "drained: caught up");
    push_all(&p, vec![inter(80, 100), aac(40, 10)]);
    let (_, d) = batch(&mut pump, at(80));
    assert_eq!(d, ["+I80", "+a40"]);
    // Falling behind a little (within the limits) keeps frames live: that delay is the
    // output's own.
    push_all(&p, vec![inter(120, 100), inter(160, 100), inter(200, 100)]);
    let (_, d) = batch(&mut pump, at(200));
    assert_eq!(d, ["+I120", "+I160"]);
    assert!(!pump.in_sync());
    let (_, d) = batch(&mut pump, at(200));
    assert_eq!(d, ["+I200"]);
    let s = pump.stats();
    assert_eq!((s.catch_up_frames, s.live_frames), (7, 5));
    assert_eq!(
        (s.catch_up_bytes, s.live_bytes),
        (crate::fixture::meta(1).len() as u64 + 8 + 4 + 100 + 10 + 100 + 10, 400 + 10)
    );
}

#[test]
fn skip_and_resume_backlogs_are_catch_up() {
    let hub = Hub::new(HubConfig { viewer_max_lag_ms: 500, ..HubConfig::default() });
    let p = live(&hub);
    let mut pump = pump(&hub, usize::MAX);
    push_all(&p, vec![key(0, 10)]);
    let (_, d) = batch(&mut pump, at(0));
    assert_eq!(d, ["~M", "~V", "~A", "~K0"]);
    // 1 s without reading: skip to the newest keyframe, its GOP is catch-up.
    push_all(&p, (1..25).map(|i| inter(i * 40, 10)).collect());
    push_all(&p, vec![key(1_000, 10), inter(1_040, 10)]);
    let (_, d) = batch(&mut pump, at(1_040));
    assert_eq!(d, ["~K1000", "~I1040"]);
    assert_eq!((pump.stats().skips, pump.stats().dropped_frames), (1, 24));
    assert_eq!(pump.take_new_drops(), 24);
    assert_eq!(pump.take_new_drops(), 0);
    push_all(&p, vec![inter(1_080, 10)]);
    assert_eq!(batch(&mut pump, at(1_080)).1, ["+I1080"]);
    // Paused: what gathers meanwhile is catch-up once resumed, even where it continues
    // without moving (still in the newest GOP).
    pump.subscriber_mut().set_paused(true);
    push_all(&p, vec![inter(1_120, 10), inter(1_160, 10)]);
    assert!(batch(&mut pump, at(1_160)).1.is_empty());
    assert!(!pump.in_sync(), "paused");
    pump.subscriber_mut().set_paused(false);
    assert_eq!(batch(&mut pump, at(1_200)).1, ["~I1120", "~I1160"]);
    push_all(&p, vec![inter(1_200, 10)]);
    assert_eq!(batch(&mut pump, at(1_200)).1, ["+I1200"]);
}

#[test]
fn a_viewer_waiting_for_the_publisher_gets_it_live() {
    let hub = Hub::new(HubConfig::default());
    let mut pump = pump(&hub, usize::MAX);
    assert!(batch(&mut pump, at(0)).1.is_empty());
    let p = live(&hub);
    push_all(&p, vec![key(0, 10), aac(0, 5)]);
    let (_, d) = batch(&mut pump, at(10));
    assert_eq!(d, ["Published", "+M", "+V", "+A", "+K0", "+a0"]);
    drop(p);
    assert_eq!(batch(&mut pump, at(20)).1, ["Unpublished"]);
}

#[test]
fn a_stalled_output_is_too_slow_after_the_wall_time_limit() {
    let hub = Hub::new(HubConfig { viewer_disconnect_after_ms: 10_000, ..HubConfig::default() });
    let p = live(&hub);
    let mut pump = pump(&hub, 1024);
    push_all(&p, av(0, 1_000, 1_000, 100, 10));
    while batch(&mut pump, at(1_000)).0.frames > 0 {}
    assert!(pump.in_sync());
    // Real-time media while the output's sink stays full (it does not poll).
    push_all(&p, av(1_000, 10_000, 1_000, 100, 10));
    let (b, d) = batch(&mut pump, at(11_000));
    assert_eq!(d.first().map(String::as_str), Some("~K10000"), "skipped, not cut off yet");
    assert!(b.too_slow.is_none());
    let s = pump.stats();
    assert!(s.skips == 1 && s.dropped_frames > 600 && s.backlog_frames > 0, "{s:?}");
    // Reading a batch now and then only: lagging since ~6 s (when its lag passed the 5 s
    // limit, while it was not reading), told after 10 s more of wall time.
    push_all(&p, av(11_000, 6_000, 1_000, 100, 10));
    let b = pump.poll_batch(at(16_000), &mut Vec::new());
    assert!(b.too_slow.is_none());
    push_all(&p, av(17_000, 1_000, 1_000, 100, 10));
    let b = pump.poll_batch(at(16_100), &mut Vec::new());
    let slow = b.too_slow.expect("too slow");
    assert_eq!(slow.lagging_ms, 10_100, "lagging since 6 s");
    assert!(slow.behind_ms > 1_000, "never caught up: {slow:?}");
    let b = pump.poll_batch(at(17_000), &mut Vec::new());
    assert!(b.too_slow.is_none(), "reported once");
}

#[tokio::test]
async fn an_output_task_drains_live_frames() {
    let hub = Hub::new(HubConfig { audio_batch_ms: 0, ..HubConfig::default() });
    let p = live(&hub);
    let mut pump = pump(&hub, DEFAULT_BATCH);
    let task = tokio::spawn(async move {
        let (mut live, mut catch_up) = (0, 0);
        let mut out = Vec::new();
        while live < 3 {
            pump.ready().await;
            out.clear();
            pump.poll_batch(at(0), &mut out);
            for e in &out {
                match e {
                    PumpEvent::Frame { catch_up: true, .. } => catch_up += 1,
                    PumpEvent::Frame { catch_up: false, .. } => live += 1,
                    _ => {}
                }
            }
        }
        (live, catch_up, pump.stats())
    });
    tokio::task::yield_now().await;
    for f in [key(0, 10), inter(40, 10), inter(80, 10)] {
        let _ = p.push(f);
        tokio::task::yield_now().await;
    }
    let (live, catch_up, stats) = task.await.unwrap();
    assert_eq!((live, catch_up), (3, 3), "the start sequence, then live frames");
    assert_eq!((stats.live_frames, stats.catch_up_frames), (3, 3));
}

const DEFAULT_BATCH: usize = crate::DEFAULT_BATCH_BYTES;
