//! Random publish/play/pause/filter/unpublish sequences against the invariants a player
//! relies on.

use bytes::Bytes;
use proptest::prelude::*;

use crate::fixture::{aac_sh, avc_sh};
use crate::{Frame, FrameKind, Hub, HubConfig, StreamKey, Subscriber, SubscriberEvent};

#[derive(Clone, Debug)]
enum Op {
    Video { key: bool, step: u32, size: usize },
    Audio { step: u32 },
    Poll { sub: usize, budget: usize },
    Pause { sub: usize, on: bool },
    SetVideo { sub: usize, on: bool },
    Republish,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prop::bool::weighted(0.1), 0..80u32, 10..400usize)
            .prop_map(|(key, step, size)| Op::Video { key, step, size }),
        4 => (0..40u32).prop_map(|step| Op::Audio { step }),
        6 => (0..2usize, 0..3_000usize).prop_map(|(sub, budget)| Op::Poll { sub, budget }),
        1 => (0..2usize, any::<bool>()).prop_map(|(sub, on)| Op::Pause { sub, on }),
        1 => (0..2usize, any::<bool>()).prop_map(|(sub, on)| Op::SetVideo { sub, on }),
        1 => Just(Op::Republish),
    ]
}

/// A media frame whose payload ends with a unique id.
fn frame(kind: FrameKind, key: bool, ts: u32, id: u32, size: usize) -> Frame {
    let mut body = match (kind, key) {
        (FrameKind::Video, true) => vec![0x17, 0x01, 0, 0, 0],
        (FrameKind::Video, false) => vec![0x27, 0x01, 0, 0, 0],
        _ => vec![0xAF, 0x01],
    };
    body.resize(size.max(body.len()), 0);
    body.extend_from_slice(&id.to_be_bytes());
    Frame::classify(kind, ts, Bytes::from(body))
}

fn id_of(f: &Frame) -> Option<u32> {
    let tail = f.payload.get(f.payload.len().checked_sub(4)?..)?;
    Some(u32::from_be_bytes(tail.try_into().ok()?))
}

/// What one viewer has seen, checked as events arrive.
#[derive(Default)]
struct Viewer {
    /// Id of the last video frame delivered in the current generation.
    last_video: Option<u32>,
    last_id: Option<u32>,
    video_on: bool,
    paused: bool,
}

fn check_poll(
    events: &[SubscriberEvent],
    v: &mut Viewer,
    prev_video: &std::collections::HashMap<u32, Option<u32>>,
) -> Result<(), TestCaseError> {
    for e in events {
        match e {
            SubscriberEvent::Published | SubscriberEvent::Unpublished => {
                v.last_video = None;
                v.last_id = None;
            }
            SubscriberEvent::TooSlow { .. } => {}
            SubscriberEvent::Frame(f) if f.sequence_header || f.kind == FrameKind::Data => {}
            SubscriberEvent::Frame(f) => {
                let id = id_of(f).ok_or_else(|| TestCaseError::fail("no id"))?;
                // Ring frames come in push order, never twice.
                prop_assert!(v.last_id.is_none_or(|last| id > last), "{id} after {:?}", v.last_id);
                v.last_id = Some(id);
                if f.kind == FrameKind::Video {
                    prop_assert!(v.video_on, "video while filtered out");
                    // A decodable sequence: an inter frame only right after its predecessor.
                    let continues =
                        v.last_video.is_some() && prev_video.get(&id) == Some(&v.last_video);
                    prop_assert!(f.keyframe || continues, "inter {id} after {:?}", v.last_video);
                    v.last_video = Some(id);
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn viewers_get_decodable_ordered_bounded_streams(ops in prop::collection::vec(op(), 1..300)) {
        let config = HubConfig {
            gop_max_frames: 48,
            gop_max_bytes: 8_000,
            viewer_max_lag_ms: 300,
            viewer_max_bytes: 4_000,
            gop_cache_ms: 200,
            ..HubConfig::default()
        };
        let key = StreamKey::new("p", "s");
        let hub = Hub::new(config.clone());
        let mut publisher = Some(hub.publish(key.clone(), 1).unwrap());
        let mut subs: Vec<Subscriber> = (0..2).map(|i| hub.subscribe(key.clone(), i).unwrap()).collect();
        let mut viewers: Vec<Viewer> = (0..2).map(|_| Viewer { video_on: true, ..Viewer::default() }).collect();
        // For each video id, the id of the video frame pushed before it (same generation).
        let mut prev_video = std::collections::HashMap::new();
        let mut last_pushed_video: Option<u32> = None;
        let (mut ts, mut id) = (0u32, 0u32);
        // Wall time follows media time (a real-time publisher).
        let start = std::time::Instant::now();
        for op in ops {
            match op {
                Op::Video { key, step, size } => {
                    ts = ts.wrapping_add(step);
                    id += 1;
                    if let Some(p) = &publisher {
                        prev_video.insert(id, last_pushed_video);
                        last_pushed_video = Some(id);
                        let _ = p.push(frame(FrameKind::Video, key, ts, id, size));
                    }
                }
                Op::Audio { step } => {
                    ts = ts.wrapping_add(step);
                    id += 1;
                    if let Some(p) = &publisher {
                        let _ = p.push(frame(FrameKind::Audio, false, ts, id, 20));
                    }
                }
                Op::Poll { sub, budget } => {
                    let mut out = Vec::new();
                    let now = start + std::time::Duration::from_millis(u64::from(ts));
                    let n = subs[sub].poll(now, &mut out, budget);
                    prop_assert_eq!(n, out.len());
                    if viewers[sub].paused {
                        let lifecycle_only = out.iter().all(|e| {
                            matches!(e, SubscriberEvent::Published | SubscriberEvent::Unpublished)
                        });
                        prop_assert!(lifecycle_only, "{:?}", out);
                    }
                    check_poll(&out, &mut viewers[sub], &prev_video)?;
                }
                Op::Pause { sub, on } => {
                    subs[sub].set_paused(on);
                    viewers[sub].paused = on;
                }
                Op::SetVideo { sub, on } => {
                    subs[sub].set_video(on);
                    viewers[sub].video_on = on;
                }
                Op::Republish => {
                    if publisher.take().is_none() {
                        let p = hub.publish(key.clone(), 1).unwrap();
                        let _ = p.push(avc_sh(ts, 1));
                        let _ = p.push(aac_sh(ts, 1));
                        publisher = Some(p);
                        last_pushed_video = None;
                    }
                }
            }
            let infos = hub.streams();
            prop_assert_eq!(hub.memory_bytes(), infos.iter().map(|i| i.memory_bytes).sum::<usize>());
            for i in &infos {
                prop_assert!(i.ring_frames <= config.gop_max_frames);
                prop_assert!(i.ring_bytes <= config.gop_max_bytes + 404, "{:?}", i);
            }
        }
        drop(publisher);
        drop(subs);
        prop_assert_eq!(hub.memory_bytes(), 0);
        prop_assert!(hub.streams().is_empty());
    }
}
