//! The reconnect grace and the splice, as a subscriber sees them.

use std::time::Instant;

use crate::fixture::{aac, aac_sh, av, avc_sh, inter, key, meta};
use crate::{Frame, FrameKind, Hub, HubConfig, Publisher, StreamKey, Subscriber, SubscriberEvent};

fn k() -> StreamKey {
    StreamKey::new("live", "grace")
}

/// A publisher that already sent metadata and AVC + AAC sequence headers (version `v`).
fn live(hub: &Hub, owner: u64, v: u8) -> Publisher {
    let p = hub.publish(k(), owner).unwrap();
    p.set_metadata(meta(v));
    let _ = p.push(avc_sh(0, v));
    let _ = p.push(aac_sh(0, v));
    p
}

fn push_all(p: &Publisher, frames: Vec<Frame>) {
    for f in frames {
        assert!(!p.push(f).replaced);
    }
}

/// M metadata, V/A sequence headers (with their version), K/I video and a audio with
/// their timestamps, and the lifecycle events.
fn poll(sub: &mut Subscriber) -> Vec<String> {
    let mut out = Vec::new();
    sub.poll(Instant::now(), &mut out, usize::MAX);
    out.iter()
        .map(|e| match e {
            SubscriberEvent::Frame(f) => match (f.kind, f.sequence_header, f.keyframe) {
                (FrameKind::Data, _, _) => format!("M{}", f.payload[5]),
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

/// A playing subscriber that has read everything so far.
fn caught_up(hub: &Hub) -> Subscriber {
    let mut sub = hub.subscribe(k(), 100).unwrap();
    poll(&mut sub);
    sub
}

#[test]
fn a_lost_publisher_tells_nobody_until_its_orphan_expires() {
    let hub = Hub::new(HubConfig::default());
    let p = live(&hub, 1, 1);
    push_all(&p, vec![key(0, 10)]);
    let mut sub = caught_up(&hub);
    push_all(&p, vec![aac(20, 4), inter(40, 10)]);
    let orphan = p.lose();
    assert!(orphan.is_pending());
    // What was pushed before the loss still arrives; then nothing, not even Unpublished.
    assert_eq!(poll(&mut sub), ["a20", "I40"]);
    assert!(poll(&mut sub).is_empty());
    assert!(sub.is_publishing());
    let info = hub.stream(&k()).unwrap();
    assert!(info.publishing && info.source_lost);
    assert_eq!(info.publisher_owner, None);

    orphan.expire();
    assert_eq!(poll(&mut sub), ["Unpublished"]);
    assert!(!hub.stream(&k()).unwrap().source_lost);
    // Drained, nobody follows it: freed as after an unpublish.
    assert_eq!(hub.memory_bytes(), 0);
}

#[test]
fn a_publisher_back_within_the_grace_is_spliced_in_without_events() {
    let hub = Hub::new(HubConfig::default());
    let p = live(&hub, 1, 1);
    push_all(&p, av(0, 1000, 1000, 10, 4));
    let mut sub = caught_up(&hub);
    let orphan = p.lose();
    // replace_publisher is off: the key is not "in use" while its publisher is lost.
    let back = live(&hub, 2, 1);
    assert!(!orphan.is_pending());
    // Its own clock restarts at 0, mid-GOP: inter frames and audio wait for the keyframe.
    push_all(&back, vec![aac(0, 4), inter(0, 10), aac(20, 4), key(40, 10), aac(40, 4)]);
    push_all(&back, vec![aac(60, 4), inter(80, 10)]);
    // Same headers: not sent again. The last frame before was a980: 981 follows it.
    assert_eq!(poll(&mut sub), ["K981", "a981", "a1001", "I1021"]);
    orphan.expire();
    assert!(poll(&mut sub).is_empty(), "an orphan taken over ends nothing");
    let info = hub.stream(&k()).unwrap();
    assert_eq!((info.generation, info.publisher_owner, info.source_lost), (1, Some(2), false));
    assert!(!info.splicing);
    assert_eq!(info.dropped_at_splice, 3);
}

#[test]
fn changed_headers_reach_viewers_before_the_first_new_frame() {
    let hub = Hub::new(HubConfig::default());
    let p = live(&hub, 1, 1);
    push_all(&p, vec![key(0, 10), aac(0, 4)]);
    let mut sub = caught_up(&hub);
    let orphan = p.lose();
    let back = live(&hub, 2, 2);
    push_all(&back, vec![inter(0, 10), key(40, 10)]);
    assert_eq!(poll(&mut sub), ["M2", "V2", "A2", "K1"]);
    // A late joiner gets the new configuration from the caches.
    let mut late = hub.subscribe(k(), 3).unwrap();
    assert_eq!(poll(&mut late), ["M2", "V2", "A2", "K1"]);
    drop(orphan);
}

#[test]
fn a_late_joiner_during_the_grace_waits_with_the_others() {
    let hub = Hub::new(HubConfig { wait_for_publisher: false, ..HubConfig::default() });
    let p = live(&hub, 1, 1);
    push_all(&p, vec![key(0, 10), aac(0, 4)]);
    let orphan = p.lose();
    // Not "not found": the publication is still on.
    let mut late = hub.subscribe(k(), 3).unwrap();
    assert_eq!(poll(&mut late), ["M1", "V1", "A1", "K0", "a0"]);
    assert!(poll(&mut late).is_empty());
    let back = hub.publish(k(), 2).unwrap();
    push_all(&back, vec![key(7, 10)]);
    assert_eq!(poll(&mut late), ["K1"]);
    drop((orphan, back));
    assert_eq!(poll(&mut late), ["Unpublished"]);
}

#[test]
fn an_expired_orphan_without_viewers_frees_the_stream() {
    let hub = Hub::new(HubConfig::default());
    let p = live(&hub, 1, 1);
    push_all(&p, av(0, 2000, 1000, 100, 10));
    let orphan = p.lose();
    assert!(hub.memory_bytes() > 0, "kept for the publisher to come back");
    assert_eq!(hub.streams().len(), 1);
    orphan.expire();
    assert_eq!(hub.memory_bytes(), 0);
    assert!(hub.streams().is_empty());
    // A publisher after the grace starts afresh: nothing rebased.
    let p = live(&hub, 2, 1);
    push_all(&p, vec![key(5, 10)]);
    let mut sub = hub.subscribe(k(), 3).unwrap();
    assert_eq!(poll(&mut sub), ["M1", "V1", "A1", "K5"]);
}

#[test]
fn after_the_grace_a_new_publisher_is_a_new_generation() {
    let hub = Hub::new(HubConfig::default());
    let p = live(&hub, 1, 1);
    push_all(&p, vec![key(0, 10)]);
    let mut sub = caught_up(&hub);
    p.lose().expire();
    let p2 = live(&hub, 2, 1);
    push_all(&p2, vec![key(0, 10)]);
    assert_eq!(poll(&mut sub), ["Unpublished", "Published", "M1", "V1", "A1", "K0"]);
}

#[test]
fn a_displaced_publisher_loses_nothing() {
    let hub = Hub::new(HubConfig { replace_publisher: true, ..HubConfig::default() });
    let old = live(&hub, 1, 1);
    push_all(&old, vec![key(0, 10)]);
    let mut sub = caught_up(&hub);
    let new = live(&hub, 2, 2);
    // The displaced publisher's connection ends abruptly: its orphan is inert.
    let orphan = old.lose();
    assert!(!orphan.is_pending());
    orphan.expire();
    push_all(&new, vec![key(0, 10)]);
    assert_eq!(poll(&mut sub), ["Unpublished", "Published", "M2", "V2", "A2", "K0"]);
    assert!(!hub.stream(&k()).unwrap().source_lost);
}

#[test]
fn a_continued_publisher_can_still_be_replaced_and_lost_again() {
    let hub = Hub::new(HubConfig { replace_publisher: true, ..HubConfig::default() });
    let p = live(&hub, 1, 1);
    push_all(&p, vec![key(100, 10)]);
    let mut sub = caught_up(&hub);
    let orphan = p.lose();
    let back = hub.publish(k(), 2).unwrap();
    push_all(&back, vec![key(0, 10)]);
    // Lost again, back again: the timeline keeps going forwards.
    let orphan2 = back.lose();
    let again = hub.publish(k(), 3).unwrap();
    push_all(&again, vec![key(0, 10), inter(40, 10)]);
    assert_eq!(poll(&mut sub), ["K101", "K102", "I142"]);
    drop((orphan, orphan2));
    // replace_publisher still displaces a live (continued) publisher: a new generation.
    let newer = hub.publish(k(), 4).unwrap();
    assert!(again.push(key(80, 10)).replaced);
    push_all(&newer, vec![key(0, 10)]);
    assert_eq!(poll(&mut sub), ["Unpublished", "Published", "K0"]);
}

#[test]
fn splice_rebases_a_live_publishers_next_source() {
    let hub = Hub::new(HubConfig::default());
    let p = live(&hub, 1, 1);
    push_all(&p, vec![key(60_000, 10), aac(60_010, 4)]);
    let mut sub = caught_up(&hub);
    assert!(!p.splice().replaced);
    assert!(hub.stream(&k()).unwrap().splicing);
    push_all(&p, vec![avc_sh(0, 3), aac(0, 4), key(0, 10), aac(0, 4), inter(40, 10)]);
    assert_eq!(poll(&mut sub), ["V3", "K60011", "a60011", "I60051"]);
    // No lifecycle event, the same publication.
    assert_eq!(hub.stream(&k()).unwrap().generation, 1);
}
