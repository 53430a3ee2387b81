use std::time::Instant;

/// A fixed wall time: nothing here depends on wall time passing.
fn t0() -> Instant {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(Instant::now)
}

use crate::fixture::{aac, aac_sh, av, avc_sh, inter, key, meta};
use crate::{
    Frame, Hub, HubConfig, PublishError, StreamKey, SubscribeError, Subscriber, SubscriberEvent,
};

fn k(name: &str) -> StreamKey {
    StreamKey::new("live", name)
}

fn drain(sub: &mut Subscriber) -> Vec<SubscriberEvent> {
    let mut out = Vec::new();
    sub.poll(t0(), &mut out, usize::MAX);
    out
}

#[test]
fn second_publisher_is_refused_with_the_holder() {
    let hub = Hub::new(HubConfig::default());
    let p = hub.publish(k("a"), 10).unwrap();
    let err = hub.publish(k("a"), 11).unwrap_err();
    assert_eq!(err, PublishError::InUse { key: k("a"), owner: 10 });
    assert_eq!(err.to_string(), "stream live/a is already being published by owner 10");
    // Another key is independent; after unpublish the key is free again.
    let _b = hub.publish(k("b"), 12).unwrap();
    drop(p);
    let p2 = hub.publish(k("a"), 11).unwrap();
    assert_eq!(p2.key(), &k("a"));
    assert_eq!(hub.stream(&k("a")).unwrap().publisher_owner, Some(11));
}

#[test]
fn replace_publisher_displaces_the_live_one() {
    let hub = Hub::new(HubConfig { replace_publisher: true, ..HubConfig::default() });
    let old = hub.publish(k("a"), 1).unwrap();
    let _ = old.push(avc_sh(0, 1));
    let _ = old.push(key(0, 10));
    let mut sub = hub.subscribe(k("a"), 5).unwrap();
    assert_eq!(drain(&mut sub).len(), 2);
    let new = hub.publish(k("a"), 2).unwrap();
    assert!(old.is_replaced() && !new.is_replaced());
    let _ = old.push(key(40, 10)); // ignored
    old.set_metadata(meta(9)); // ignored
    let _ = new.push(avc_sh(0, 2));
    let _ = new.push(key(0, 20));
    let events = drain(&mut sub);
    assert!(matches!(events[0], SubscriberEvent::Unpublished));
    assert!(matches!(events[1], SubscriberEvent::Published));
    assert_eq!(events.len(), 4);
    // The displaced publisher's drop does not end the new one.
    drop(old);
    assert!(sub.is_publishing());
    let info = hub.stream(&k("a")).unwrap();
    assert_eq!((info.generation, info.publisher_owner, info.frames_in), (2, Some(2), 2));
    assert!(!info.has_metadata);
}

#[test]
fn subscribe_without_publisher() {
    let hub = Hub::new(HubConfig { wait_for_publisher: false, ..HubConfig::default() });
    let err = hub.subscribe(k("a"), 1).unwrap_err();
    assert_eq!(err, SubscribeError::NotFound { key: k("a") });
    assert!(hub.streams().is_empty(), "a refused subscribe leaves nothing behind");
    let _p = hub.publish(k("a"), 2).unwrap();
    assert!(hub.subscribe(k("a"), 1).is_ok());

    // Waiting subscribers exist under the default; a later switch refuses new ones.
    let hub = Hub::new(HubConfig::default());
    let _waiting = hub.subscribe(k("b"), 1).unwrap();
    assert_eq!(hub.stream(&k("b")).unwrap().viewers, 1);
    hub.set_config(HubConfig { wait_for_publisher: false, ..hub.config() });
    assert!(hub.subscribe(k("b"), 2).is_err());
}

#[test]
fn stream_removed_when_nobody_publishes_or_plays() {
    let hub = Hub::new(HubConfig::default());
    let p = hub.publish(k("a"), 1).unwrap();
    let sub = hub.subscribe(k("a"), 2).unwrap();
    drop(p);
    assert_eq!(hub.streams().len(), 1, "a viewer keeps it");
    drop(sub);
    assert!(hub.streams().is_empty());

    let sub = hub.subscribe(k("a"), 2).unwrap();
    let p = hub.publish(k("a"), 1).unwrap();
    drop(sub);
    assert_eq!(hub.streams().len(), 1, "a publisher keeps it");
    p.unpublish();
    assert!(hub.streams().is_empty());
}

#[test]
fn memory_accounting_returns_to_zero() {
    let hub = Hub::new(HubConfig::default());
    let p = hub.publish(k("a"), 1).unwrap();
    p.set_metadata(meta(1));
    let _ = p.push(avc_sh(0, 1));
    let _ = p.push(aac_sh(0, 1));
    for f in av(0, 3_000, 1_000, 100, 10) {
        let _ = p.push(f);
    }
    let q = hub.publish(k("b"), 2).unwrap();
    let _ = q.push(key(0, 1_000));
    let mut subs: Vec<Subscriber> =
        (0..3).map(|i| hub.subscribe(k("a"), 10 + i).unwrap()).collect();
    for s in &mut subs {
        drain(s);
    }
    let infos = hub.streams();
    let a = &infos[0];
    // Caches: 6 + 8 + 4; the ring: those three again (first seen) plus the media.
    assert_eq!(a.memory_bytes, 2 * 18 + a.ring_bytes - 18);
    assert_eq!(hub.memory_bytes(), infos.iter().map(|i| i.memory_bytes).sum::<usize>());
    assert_eq!(infos[1].memory_bytes, 1_000);
    drop(q);
    assert_eq!(hub.memory_bytes(), a.memory_bytes);
    drop(p);
    // Viewers drained everything: Unpublished, and the ring is freed while they wait.
    for s in &mut subs {
        assert!(matches!(drain(s)[..], [SubscriberEvent::Unpublished]));
    }
    assert_eq!(hub.memory_bytes(), 0);
    drop(subs);
    assert_eq!(hub.memory_bytes(), 0);
    assert!(hub.streams().is_empty());
}

#[test]
fn audio_only_and_keyframeless_publishers_stay_bounded() {
    let small = HubConfig { gop_max_bytes: 64 * 1024, gop_max_frames: 500, ..HubConfig::default() };
    for config in [HubConfig::default(), small] {
        let hub = Hub::new(config.clone());
        let audio = hub.publish(k("audio"), 1).unwrap();
        let video = hub.publish(k("video"), 2).unwrap();
        let mut sub = hub.subscribe(k("audio"), 3).unwrap();
        let mut max = 0;
        for i in 0..100_000u32 {
            let _ = audio.push(aac(i.wrapping_mul(21), 200));
            let _ = video.push(inter(i.wrapping_mul(33), 300));
            max = max.max(hub.memory_bytes());
            if i % 1_000 == 0 {
                drain(&mut sub);
            }
        }
        // Audio: every frame is a sync point, so retention (5 s) plus one frame. Video
        // without keyframes: the 2 x 5 s bound. Caps bound the rest.
        let a = hub.stream(&k("audio")).unwrap();
        let v = hub.stream(&k("video")).unwrap();
        assert!(a.ring_ms <= 5_021 && v.ring_ms <= 10_000, "{a:?} {v:?}");
        assert!(a.ring_frames <= config.gop_max_frames && v.ring_frames <= config.gop_max_frames);
        assert!(max <= 2 * config.gop_max_bytes, "{max}");
        assert!(max <= (5_021 / 21 + 1) * 200 + (10_000 / 33 + 1) * 300, "{max}");
    }
}

#[test]
fn set_config_applies_to_later_pushes_and_polls() {
    let hub = Hub::new(HubConfig::default());
    let p = hub.publish(k("a"), 1).unwrap();
    let mut sub = hub.subscribe(k("a"), 2).unwrap();
    let _ = p.push(key(0, 10));
    drain(&mut sub);
    for i in 1..100 {
        let _ = p.push(inter(i * 10, 10));
    }
    assert_eq!(hub.stream(&k("a")).unwrap().ring_frames, 100);
    hub.set_config(HubConfig { gop_max_frames: 10, viewer_max_lag_ms: 500, ..hub.config() });
    assert_eq!(hub.config().gop_max_frames, 10);
    let _ = p.push(inter(1_000, 10));
    assert_eq!(hub.stream(&k("a")).unwrap().ring_frames, 10);
    assert!(drain(&mut sub).is_empty(), "trimmed and no keyframe: waits");
    assert_eq!(sub.stats().skips, 1);
}

/// Ingest bytes by kind (nginx-rtmp's `bw_video` / `bw_audio`): metadata counts in neither,
/// and a new publication starts from zero.
#[test]
fn ingest_bytes_are_counted_per_kind() {
    let hub = Hub::new(HubConfig::default());
    let p = hub.publish(k("a"), 1).unwrap();
    let _ = p.push(meta(1));
    let _ = p.push(avc_sh(0, 1));
    let _ = p.push(aac_sh(0, 1));
    let _ = p.push(key(0, 100));
    let _ = p.push(aac(10, 30));
    let info = hub.stream(&k("a")).unwrap();
    assert_eq!((info.video_bytes_in, info.audio_bytes_in), (108, 34));
    assert_eq!(info.bytes_in, 108 + 34 + 6);
    drop(p);
    let p = hub.publish(k("a"), 2).unwrap();
    let _ = p.push(aac(0, 30));
    let info = hub.stream(&k("a")).unwrap();
    assert_eq!((info.video_bytes_in, info.audio_bytes_in), (0, 30));
}

#[test]
fn stream_info_snapshot() {
    let hub = Hub::new(HubConfig::default());
    let p = hub.publish(k("b"), 42).unwrap();
    let _w = hub.subscribe(k("a"), 1).unwrap();
    p.set_metadata(meta(1));
    let _ = p.push(avc_sh(0, 1));
    let _ = p.push(key(1_000, 100));
    let _ = p.push(inter(1_040, 50));
    let infos = hub.streams();
    assert_eq!(infos.iter().map(|i| i.key.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    let b = &infos[1];
    assert!(b.publishing && b.has_metadata);
    assert_eq!((b.publisher_owner, b.generation, b.viewers), (Some(42), 1, 0));
    assert_eq!((b.frames_in, b.bytes_in, b.sequence_headers), (3, 158, 1));
    // Metadata and the header (first seen, at ts 0) are in the ring too.
    assert_eq!((b.ring_frames, b.ring_bytes, b.ring_ms), (4, 164, 1_040));
    assert_eq!(b.last_timestamp, Some(1_040));
    let a = &infos[0];
    assert!(!a.publishing && a.publisher_owner.is_none() && a.last_timestamp.is_none());
    assert_eq!((a.viewers, a.generation), (1, 0));
}

/// 30 s of 3 Mbit/s (25 fps video, 2 s GOP, 50 fps audio) to 1000 viewers.
fn bench_media() -> Vec<Frame> {
    let video = 3_000_000 / 8 / 25 - 2_000;
    av(0, 30_000, 2_000, video, 256)
}

#[test]
#[ignore = "benchmark: cargo test -p openrtmp-hub --release -- --ignored --nocapture"]
fn bench_fan_out_1000_polling_viewers() {
    let hub = Hub::new(HubConfig::default());
    let p = hub.publish(k("bench"), 1).unwrap();
    let mut subs: Vec<Subscriber> =
        (0..1_000).map(|i| hub.subscribe(k("bench"), i).unwrap()).collect();
    let media = bench_media();
    let n = media.len();
    let mut out = Vec::with_capacity(64);
    let started = Instant::now();
    let mut delivered = 0;
    for f in media {
        let _ = p.push(f);
        for s in &mut subs {
            delivered += s.poll(t0(), &mut out, 256 * 1024);
            out.clear();
        }
    }
    let ns = started.elapsed().as_nanos() / n as u128;
    println!(
        "{n} frames x 1000 viewers: {ns} ns/frame ({} ns/delivery), {delivered} delivered",
        ns / 1000
    );
}

/// The same through the media pump, reading its statistics after every batch (what an
/// output does for its metrics): the figure to compare with the one above.
#[test]
#[ignore = "benchmark: cargo test -p openrtmp-hub --release -- --ignored --nocapture"]
fn bench_fan_out_1000_pumps_with_stats() {
    let hub = Hub::new(HubConfig::default());
    let p = hub.publish(k("bench"), 1).unwrap();
    let config = crate::PumpConfig { batch_bytes: 256 * 1024 };
    let mut pumps: Vec<crate::MediaPump> = (0..1_000)
        .map(|i| crate::MediaPump::new(hub.subscribe(k("bench"), i).unwrap(), config))
        .collect();
    let media = bench_media();
    let n = media.len();
    let mut out = Vec::with_capacity(64);
    let started = Instant::now();
    let (mut delivered, mut backlog) = (0, 0);
    for f in media {
        let _ = p.push(f);
        for pump in &mut pumps {
            delivered += pump.poll_batch(t0(), &mut out).frames;
            backlog += pump.stats().backlog_frames;
            out.clear();
        }
    }
    let ns = started.elapsed().as_nanos() / n as u128;
    println!(
        "{n} frames x 1000 pumps: {ns} ns/frame ({} ns/delivery), {delivered} delivered, \
         backlog sum {backlog}",
        ns / 1000
    );
}

#[test]
#[ignore = "benchmark: cargo test -p openrtmp-hub --release -- --ignored --nocapture"]
fn bench_fan_out_1000_waiting_tasks() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        // Every frame announced at once: with batched audio the loop below would wait
        // forever for viewers to read an audio frame nobody was woken for.
        let hub = Hub::new(HubConfig { audio_batch_ms: 0, ..HubConfig::default() });
        let p = hub.publish(k("bench"), 1).unwrap();
        let media = bench_media();
        let n = media.len();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..1_000)
            .map(|i| {
                let mut sub = hub.subscribe(k("bench"), i).unwrap();
                let seen = std::sync::Arc::clone(&seen);
                tokio::spawn(async move {
                    let mut out = Vec::with_capacity(64);
                    let (mut frames, mut wakeups) = (0usize, 0usize);
                    loop {
                        sub.ready().await;
                        wakeups += 1;
                        sub.poll(t0(), &mut out, 256 * 1024);
                        for e in out.drain(..) {
                            match e {
                                SubscriberEvent::Frame(_) => {
                                    frames += 1;
                                    seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                                SubscriberEvent::Unpublished => return (frames, wakeups),
                                _ => {}
                            }
                        }
                    }
                })
            })
            .collect();
        tokio::task::yield_now().await;
        let started = Instant::now();
        for (i, f) in media.into_iter().enumerate() {
            let _ = p.push(f);
            // Every viewer reads every frame before the next one: one wakeup per frame
            // per viewer, the worst case (a live source spaces frames out).
            while seen.load(std::sync::atomic::Ordering::Relaxed) < (i + 1) * 1_000 {
                tokio::task::yield_now().await;
            }
        }
        drop(p);
        let (mut total, mut wakeups) = (0, 0);
        for t in tasks {
            let (f, w) = t.await.unwrap();
            total += f;
            wakeups += w;
        }
        let ns = started.elapsed().as_nanos() / n as u128;
        println!("{n} frames, 1000 tasks on one thread: {ns} ns/frame, {total} delivered, {wakeups} wakeups");
    });
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Hub>();
    check::<crate::Publisher>();
    check::<Subscriber>();
    check::<SubscriberEvent>();
}
