//! Regression: Enhanced RTMP video `Metadata` packets (colorInfo), which FFmpeg 9 sends once
//! between the sequence start and the first keyframe, reach early and late viewers alike.

use bytes::Bytes;
use openrtmp_hub::{Frame, FrameKind, Hub, HubConfig, StreamKey, SubscriberEvent};

/// ExVideoTagHeader (E-RTMP v1): IsExHeader | FrameType << 4 | PacketType, then the FourCC.
fn ex(frame_type: u8, packet_type: u8, body: &[u8]) -> Bytes {
    let mut v = vec![0x80 | frame_type << 4 | packet_type];
    v.extend_from_slice(b"hvc1");
    v.extend_from_slice(body);
    Bytes::from(v)
}

fn video(ts: u32, payload: Bytes) -> Frame {
    Frame::classify(FrameKind::Video, ts, payload)
}

fn payloads(events: &[SubscriberEvent]) -> Vec<Bytes> {
    events
        .iter()
        .filter_map(|e| match e {
            SubscriberEvent::Frame(f) => Some(f.payload.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn video_metadata_packet_reaches_early_and_late_viewers() {
    let hub = Hub::new(HubConfig::default());
    let key = StreamKey::new("live", "hdr");
    let mut early = hub.subscribe(key.clone(), 1).unwrap();
    let publisher = hub.publish(key.clone(), 2).unwrap();
    let start = ex(1, 0, b"config");
    // AMF0 "colorInfo" + an empty object, as a Metadata packet (type 4) with FrameType 5.
    let meta = ex(5, 4, b"\x02\x00\x09colorInfo\x03\x00\x00\x09");
    let key_frame = ex(1, 1, b"\x00\x00\x00idr");
    let inter = ex(2, 3, b"p");
    let classified = video(0, meta.clone());
    assert!(classified.sequence_header, "a metadata packet is stream configuration");
    for frame in
        [video(0, start.clone()), classified, video(0, key_frame.clone()), video(33, inter.clone())]
    {
        let _ = publisher.push(frame);
    }
    let mut events = Vec::new();
    early.poll(t0(), &mut events, usize::MAX);
    let got = payloads(&events);
    assert_eq!(
        got,
        vec![start.clone(), meta.clone(), key_frame.clone(), inter.clone()],
        "{events:?}"
    );

    // A late joiner gets the cached sequence start, then the metadata packet, then the GOP.
    let mut late = hub.subscribe(key, 3).unwrap();
    let mut events = Vec::new();
    late.poll(t0(), &mut events, usize::MAX);
    assert_eq!(payloads(&events), vec![start, meta, key_frame, inter]);
}

/// Regression: a player waiting before the publisher arrives gets everything the publisher
/// sent, even when several frames (audio before the first keyframe) arrived before its first
/// poll; a player joining later still starts at the newest keyframe.
#[test]
fn a_waiting_player_gets_the_stream_from_its_first_frame() {
    let hub = Hub::new(HubConfig::default());
    let key = StreamKey::new("live", "early");
    let mut waiting = hub.subscribe(key.clone(), 1).unwrap();
    let publisher = hub.publish(key.clone(), 2).unwrap();
    let aac_seq = Bytes::from_static(b"\xaf\x00\x12\x10");
    let aac = Bytes::from_static(b"\xaf\x01aac");
    let avc_seq = Bytes::from_static(b"\x17\x00\x00\x00\x00cfg");
    let key0 = Bytes::from_static(b"\x17\x01\x00\x00\x00k0");
    let key1 = Bytes::from_static(b"\x17\x01\x00\x00\x00k1");
    let _ = publisher.push(Frame::classify(FrameKind::Audio, 0, aac_seq.clone()));
    let _ = publisher.push(Frame::classify(FrameKind::Audio, 0, aac.clone()));
    let _ = publisher.push(Frame::classify(FrameKind::Video, 0, avc_seq.clone()));
    let _ = publisher.push(Frame::classify(FrameKind::Video, 10, key0.clone()));
    let _ = publisher.push(Frame::classify(FrameKind::Video, 1010, key1.clone()));
    let mut events = Vec::new();
    waiting.poll(t0(), &mut events, usize::MAX);
    assert_eq!(
        payloads(&events),
        vec![aac_seq.clone(), aac.clone(), avc_seq.clone(), key0, key1.clone()],
        "{events:?}"
    );
    let mut late = hub.subscribe(key, 3).unwrap();
    let mut events = Vec::new();
    late.poll(t0(), &mut events, usize::MAX);
    assert_eq!(payloads(&events), vec![avc_seq, aac_seq, key1]);
}

/// A fixed wall time: nothing here depends on wall time passing.
fn t0() -> std::time::Instant {
    static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(std::time::Instant::now)
}
