use std::time::Instant;

use bytes::Bytes;
use openrtmp_amf::{Amf0Value, AmfObject};
use openrtmp_media::{ScriptData, TagType};

use crate::fixture::{aac_sh, avc_sh, key};
use crate::{CodecInfo, Frame, FrameKind, Hub, HubConfig, StreamKey, Subscriber, SubscriberEvent};

fn k() -> StreamKey {
    StreamKey::new("live", "meta")
}

/// A real AVC sequence header (320x240, from an FFmpeg-made FLV).
fn avc_320x240() -> Frame {
    let seq = Bytes::from_static(b"\x17\x00\x00\x00\x00\x01B\xc0\r\xff\xe1\x00\x16gB\xc0\r\xda\x05\x07\xec\x04@\x00\x00\x03\x00@\x00\x00\x0c\x83\xc5\n\xa8\x01\x00\x04h\xce\x0f\xc8");
    Frame::classify(FrameKind::Video, 0, seq)
}

fn on_meta_data() -> ScriptData {
    let encoder = AmfObject::from_pairs([("framerate", Amf0Value::Number(30.0))]);
    ScriptData::new("onMetaData", vec![Amf0Value::EcmaArray { count: 1, entries: encoder }])
}

/// The onMetaData frames among the subscriber's next events, decoded.
fn metadata_seen(sub: &mut Subscriber) -> Vec<AmfObject> {
    let mut out = Vec::new();
    sub.poll(Instant::now(), &mut out, usize::MAX);
    out.iter()
        .filter_map(|e| match e {
            SubscriberEvent::Frame(f) if f.kind == FrameKind::Data => {
                ScriptData::parse(&f.payload).ok()?.metadata().cloned()
            }
            _ => None,
        })
        .collect()
}

fn number(meta: &AmfObject, key: &str) -> Option<f64> {
    meta.get(key).and_then(Amf0Value::as_number)
}

#[test]
fn push_reports_a_replaced_publisher_in_the_same_call() {
    let hub = Hub::new(HubConfig { replace_publisher: true, ..HubConfig::default() });
    let old = hub.publish(k(), 1).unwrap();
    assert_eq!(old.push(key(0, 10)), crate::Pushed::default());
    let new = hub.publish(k(), 2).unwrap();
    assert!(old.push(key(40, 10)).replaced);
    assert!(old.set_metadata_script(0, on_meta_data()).replaced);
    assert!(!new.push(key(0, 10)).replaced);
    assert_eq!(hub.stream(&k()).unwrap().frames_in, 1, "the displaced push was dropped");
}

#[test]
fn classify_parses_codec_information_once() {
    let sh = avc_320x240();
    let Some(CodecInfo::Video(v)) = sh.codec.as_deref() else { panic!("{:?}", sh.codec) };
    assert_eq!((v.codec.as_str(), v.width, v.height), ("H.264", Some(320), Some(240)));
    let aac = aac_sh(0, 0x10);
    let Some(CodecInfo::Audio(a)) = aac.codec.as_deref() else { panic!("{:?}", aac.codec) };
    assert_eq!((a.codec.as_str(), a.sample_rate, a.channels), ("AAC", 44_100, 2));
    // Media frames carry none (clones stay a refcount and a few words).
    assert!(key(0, 10).codec.is_none());
    // A configuration record that does not parse: still a sequence header, no info.
    let broken = avc_sh(0, 1);
    assert!(broken.sequence_header && broken.codec.is_none());
}

#[test]
fn codec_information_is_learnt_at_push_and_enriches_the_metadata() {
    let hub = Hub::new(HubConfig { server_name: "OpenRTMP test".into(), ..HubConfig::default() });
    let p = hub.publish(k(), 1).unwrap();
    let mut early = hub.subscribe(k(), 2).unwrap();
    assert!(!p.set_metadata_script(0, on_meta_data()).replaced);
    let meta = metadata_seen(&mut early);
    assert_eq!(meta.len(), 1);
    assert_eq!(meta[0].get("server").and_then(Amf0Value::as_str), Some("OpenRTMP test"));
    assert_eq!((number(&meta[0], "framerate"), number(&meta[0], "width")), (Some(30.0), None));

    // The video sequence header teaches the stream its size: reported once, in the stream
    // information, and in a re-enriched onMetaData that playing viewers get in order.
    let pushed = p.push(avc_320x240());
    let Some(CodecInfo::Video(v)) = pushed.learnt.as_deref() else { panic!("{pushed:?}") };
    assert_eq!(v.width, Some(320));
    let meta = metadata_seen(&mut early);
    assert_eq!(meta.len(), 1);
    assert_eq!((number(&meta[0], "width"), number(&meta[0], "height")), (Some(320.0), Some(240.0)));
    assert_eq!(p.push(avc_320x240()).learnt, None, "a repeated header teaches nothing");
    let pushed = p.push(aac_sh(0, 0x10));
    assert!(matches!(pushed.learnt.as_deref(), Some(CodecInfo::Audio(_))));
    let info = hub.stream(&k()).unwrap();
    assert_eq!(info.video.as_ref().and_then(|v| v.height), Some(240));
    assert_eq!(info.audio.as_ref().map(|a| a.sample_rate), Some(44_100));

    // A late joiner gets the enriched metadata first.
    let _ = p.push(key(0, 10));
    let mut late = hub.subscribe(k(), 3).unwrap();
    let meta = metadata_seen(&mut late);
    assert_eq!(number(&meta[0], "audiochannels"), Some(2.0));
    assert_eq!(number(&meta[0], "audiosamplerate"), Some(44_100.0));
    assert_eq!(number(&meta[0], "width"), Some(320.0));

    // A metadata frame given as is replaces the script: it is not enriched.
    let raw = ScriptData::new("onMetaData", vec![Amf0Value::Object(AmfObject::default())]);
    p.set_metadata(Frame::classify(FrameKind::Data, 0, raw.to_bytes()));
    let _ = p.push(avc_sh(0, 7));
    let meta = metadata_seen(&mut late);
    assert_eq!(meta, [AmfObject::default()]);

    // A new publisher starts from nothing.
    drop(p);
    let _p2 = hub.publish(k(), 4).unwrap();
    let info = hub.stream(&k()).unwrap();
    assert!(info.video.is_none() && info.audio.is_none());
}

#[test]
fn only_track_zero_teaches_the_stream() {
    let hub = Hub::new(HubConfig::default());
    let p = hub.publish(k(), 1).unwrap();
    // E-RTMP v2 multitrack audio: ExHeader | Multitrack(5), OneTrack | SequenceStart,
    // "mp4a", track 1, AudioSpecificConfig (AAC LC 44.1 kHz stereo).
    let body = vec![0x95, 0x00, b'm', b'p', b'4', b'a', 1, 0x12, 0x10];
    let track1 = Frame::classify(FrameKind::Audio, 0, body.into());
    assert!(track1.codec.is_some());
    assert_eq!(p.push(track1).learnt, None);
    assert!(hub.stream(&k()).unwrap().audio.is_none());
    assert!(p.push(aac_sh(0, 0x10)).learnt.is_some());
}

#[test]
fn frame_kind_is_the_flv_tag_type() {
    assert_eq!(TagType::from(FrameKind::Audio), TagType::AUDIO);
    assert_eq!(TagType::from(FrameKind::Video), TagType(9));
    assert_eq!(TagType::from(FrameKind::Data), TagType::SCRIPT);
}
