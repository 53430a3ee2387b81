//! Audio write batching (`HubConfig::audio_batch_ms`): in a stream with video, plain audio
//! frames do not wake viewers on their own until the bound; video wakes them for everything.
//! Audio-only streams and a zero bound announce every frame.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use openrtmp_hub::{Frame, FrameKind, Hub, HubConfig, StreamKey, Subscriber};

fn frame(kind: FrameKind, ts: u32, bytes: &'static [u8]) -> Frame {
    Frame::classify(kind, ts, Bytes::from_static(bytes))
}

/// Whether `ready()` resolves now (polled once with a no-op waker).
fn is_ready(sub: &Subscriber) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    matches!(pin!(sub.ready()).as_mut().poll(&mut cx), Poll::Ready(()))
}

fn drain(sub: &mut Subscriber) -> usize {
    let mut events = Vec::new();
    sub.poll(t0(), &mut events, usize::MAX)
}

const AVC_KEY: &[u8] = b"\x17\x01\x00\x00\x00key";
const AVC_INTER: &[u8] = b"\x27\x01\x00\x00\x00p";
const AAC: &[u8] = b"\xaf\x01aac";

#[test]
fn audio_waits_for_video_or_the_bound() {
    let hub = Hub::new(HubConfig { audio_batch_ms: 40, ..HubConfig::default() });
    let key = StreamKey::new("live", "av");
    let publisher = hub.publish(key.clone(), 1).unwrap();
    let _ = publisher.push(frame(FrameKind::Video, 0, AVC_KEY));
    let mut sub = hub.subscribe(key, 2).unwrap();
    drain(&mut sub);
    assert!(!is_ready(&sub));

    let _ = publisher.push(frame(FrameKind::Audio, 10, AAC));
    let _ = publisher.push(frame(FrameKind::Audio, 31, AAC));
    assert!(!is_ready(&sub), "two audio frames 21 ms apart wait for the next video frame");
    let _ = publisher.push(frame(FrameKind::Video, 33, AVC_INTER));
    assert!(is_ready(&sub), "video wakes");
    assert_eq!(drain(&mut sub), 3, "audio and video delivered together, in order");

    let _ = publisher.push(frame(FrameKind::Audio, 52, AAC));
    assert!(!is_ready(&sub));
    let _ = publisher.push(frame(FrameKind::Audio, 73, AAC));
    assert!(!is_ready(&sub));
    let _ = publisher.push(frame(FrameKind::Audio, 94, AAC));
    assert!(is_ready(&sub), "42 ms of unannounced audio reaches the 40 ms bound");
    assert_eq!(drain(&mut sub), 3);
}

#[test]
fn audio_only_and_zero_bound_announce_every_frame() {
    let hub = Hub::new(HubConfig { audio_batch_ms: 40, ..HubConfig::default() });
    let publisher = hub.publish(StreamKey::new("live", "radio"), 1).unwrap();
    let mut sub = hub.subscribe(StreamKey::new("live", "radio"), 2).unwrap();
    let _ = publisher.push(frame(FrameKind::Audio, 0, AAC));
    assert!(is_ready(&sub), "audio-only streams are never batched");
    drain(&mut sub);

    let hub = Hub::new(HubConfig { audio_batch_ms: 0, ..HubConfig::default() });
    let publisher = hub.publish(StreamKey::new("live", "av"), 1).unwrap();
    let _ = publisher.push(frame(FrameKind::Video, 0, AVC_KEY));
    let mut sub = hub.subscribe(StreamKey::new("live", "av"), 2).unwrap();
    drain(&mut sub);
    let _ = publisher.push(frame(FrameKind::Audio, 10, AAC));
    assert!(is_ready(&sub), "a zero bound announces audio at once");
}

#[test]
fn unpublish_announces_batched_audio() {
    let hub = Hub::new(HubConfig::default());
    let key = StreamKey::new("live", "end");
    let publisher = hub.publish(key.clone(), 1).unwrap();
    let _ = publisher.push(frame(FrameKind::Video, 0, AVC_KEY));
    let mut sub = hub.subscribe(key, 2).unwrap();
    drain(&mut sub);
    let _ = publisher.push(frame(FrameKind::Audio, 10, AAC));
    assert!(!is_ready(&sub));
    drop(publisher);
    assert!(is_ready(&sub), "the end of the stream wakes viewers for the last audio too");
}

/// A fixed wall time: nothing here depends on wall time passing.
fn t0() -> std::time::Instant {
    static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(std::time::Instant::now)
}
