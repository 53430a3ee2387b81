//! A synthetic stream (no FFmpeg needed): H.264 + AAC FLV tags whose frames carry their
//! index, so a receiver can tell exactly which frames it got.

use bytes::Bytes;
use openrtmp_media::flv_file::FlvTag;
use openrtmp_media::TagType;

/// A synthetic H.264 + AAC stream as FLV tags, for publishing with
/// `openrtmp_client::publish_tags` in real time: `onMetaData` declaring both codecs, the
/// AAC sequence header, `lead_audio_ms` of audio alone (as some encoders send before
/// their first video), then the AVC sequence header and 25 fps video with a keyframe
/// every second (4 KB keyframes, 1.5 KB others: about 420 kbit/s with the audio),
/// interleaved with AAC frames every 23 ms, until `seconds` of media. Every frame's
/// payload carries its index (bytes 5..9 of video, 2..6 of audio), so a receiver can tell
/// exactly which frames it got.
pub fn synthetic_av(lead_audio_ms: u32, seconds: u32) -> Vec<FlvTag> {
    let mut tags = vec![
        FlvTag { tag_type: TagType::SCRIPT, timestamp: 0, data: on_meta_data() },
        FlvTag {
            tag_type: TagType::AUDIO,
            timestamp: 0,
            data: Bytes::from_static(b"\xaf\x00\x12\x10"),
        },
    ];
    let end = seconds * 1000;
    let (mut audio_ts, mut video_ts, mut index) = (0u32, lead_audio_ms, 0u32);
    let mut video_header_sent = false;
    while audio_ts < end || video_ts < end {
        if video_ts <= audio_ts && video_ts < end {
            if !video_header_sent {
                video_header_sent = true;
                let avcc = b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe1\x00\x04\x67\x64\x00\x1f\x01\x00\x04\x68\xee\x3c\x80";
                tags.push(FlvTag {
                    tag_type: TagType::VIDEO,
                    timestamp: video_ts,
                    data: Bytes::from_static(avcc),
                });
            }
            let key = (video_ts - lead_audio_ms).is_multiple_of(1000);
            let mut data = vec![if key { 0x17 } else { 0x27 }, 0x01, 0, 0, 0];
            data.extend_from_slice(&index.to_be_bytes());
            data.resize(if key { 4000 } else { 1500 }, 0x55);
            tags.push(FlvTag { tag_type: TagType::VIDEO, timestamp: video_ts, data: data.into() });
            video_ts += 40;
        } else {
            let mut data = vec![0xaf, 0x01];
            data.extend_from_slice(&index.to_be_bytes());
            data.resize(300, 0x33);
            tags.push(FlvTag { tag_type: TagType::AUDIO, timestamp: audio_ts, data: data.into() });
            audio_ts += 23;
        }
        index += 1;
    }
    tags
}

/// `onMetaData` (AMF0) declaring H.264 video (`videocodecid` 7) and AAC audio (10).
fn on_meta_data() -> Bytes {
    let mut out = vec![0x02];
    let name = b"onMetaData";
    out.extend_from_slice(&(name.len() as u16).to_be_bytes());
    out.extend_from_slice(name);
    let props: [(&str, f64); 4] =
        [("videocodecid", 7.0), ("audiocodecid", 10.0), ("framerate", 25.0), ("width", 320.0)];
    out.push(0x08);
    out.extend_from_slice(&(props.len() as u32).to_be_bytes());
    for (key, value) in props {
        out.extend_from_slice(&(key.len() as u16).to_be_bytes());
        out.extend_from_slice(key.as_bytes());
        out.push(0x00);
        out.extend_from_slice(&value.to_be_bytes());
    }
    out.extend_from_slice(&[0, 0, 9]);
    out.into()
}
