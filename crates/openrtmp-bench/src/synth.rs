//! The synthetic live stream a publisher sends: H.264 video in GOPs and AAC audio, sized
//! to a target bitrate, with a latency marker in every video frame.
//!
//! Servers treat media as opaque once the sequence headers are parsed, so only what they
//! look at is real: the FLV audio/video tag headers (FLV 10.1 §E.4.2.1, §E.4.3.1), the
//! sequence headers (a real AVCDecoderConfigurationRecord and AudioSpecificConfig made by
//! FFmpeg), `@setDataFrame onMetaData`, keyframe flags and the GOP structure. Frame bodies
//! are a [`marker`] followed by zeros.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use openrtmp_amf::{Amf0Value, AmfObject};
use openrtmp_proto::message::{csid, Message, MessageType};

use crate::marker::{self, MARKER_LEN};

/// The AVC sequence header message body: FLV VIDEODATA header (0x17 keyframe|AVC,
/// AVCPacketType 0, composition time 0), then the AVCDecoderConfigurationRecord
/// (ISO/IEC 14496-15 §5.3.3.1) FFmpeg 5.1.9 (Debian 12) wrote for
/// `ffmpeg -f lavfi -i testsrc=size=640x360:rate=30 -frames:v 1 -c:v libx264 -profile:v main
/// -pix_fmt yuv420p -f flv x.flv`: Main profile, level 3.0, 640x360, one SPS, one PPS.
pub const AVC_SEQUENCE_HEADER: [u8; 45] = [
    0x17, 0x00, 0x00, 0x00, 0x00, // tag header
    0x01, 0x4d, 0x40, 0x1e, 0xff, 0xe1, 0x00, 0x18, // version, profile, level, 1 SPS of 24 B
    0x67, 0x4d, 0x40, 0x1e, 0xec, 0xa0, 0x50, 0x17, 0xfc, 0xb8, 0x08, 0x80, 0x00, 0x00, 0x03, 0x00,
    0x80, 0x00, 0x00, 0x1e, 0x07, 0x8b, 0x16, 0xcb, // SPS
    0x01, 0x00, 0x05, 0x68, 0xeb, 0xe3, 0xcb, 0x20, // 1 PPS of 5 B
];

/// The AAC sequence header message body: FLV AUDIODATA header (0xAF: AAC, 44 kHz flag,
/// 16-bit, stereo; AACPacketType 0), then the AudioSpecificConfig (ISO/IEC 14496-3
/// §1.6.2.1) FFmpeg 5.1.9 wrote for `ffmpeg -f lavfi -i sine=sample_rate=48000 -t 0.1 -ac 2
/// -c:a aac -f flv a.flv`: AAC LC, 48 kHz, stereo, with its sync extension.
pub const AAC_SEQUENCE_HEADER: [u8; 7] = [0xaf, 0x00, 0x11, 0x90, 0x56, 0xe5, 0x00];

/// AAC sample rate of the synthetic audio.
pub const AUDIO_SAMPLE_RATE: u64 = 48_000;
/// Samples per AAC frame: one frame every 21.33 ms at 48 kHz.
pub const AUDIO_FRAME_SAMPLES: u64 = 1024;
/// Usual size of an AAC frame message at ~112 kbit/s (tag header included).
pub const AUDIO_FRAME_BYTES: usize = 300;
/// How much larger a keyframe is than an inter frame (typical of x264 at streaming presets).
pub const KEYFRAME_RATIO: usize = 8;
/// The 5-byte AVC tag header of a coded frame.
const AVC_HEADER_LEN: usize = 5;
/// Smallest video message: tag header and marker.
pub const MIN_VIDEO_FRAME_BYTES: usize = AVC_HEADER_LEN + MARKER_LEN;
/// Smallest audio message: the 2-byte AAC tag header and a little data.
const MIN_AUDIO_FRAME_BYTES: usize = 8;

/// What the synthetic stream looks like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamProfile {
    /// Audio + video bitrate, kbit/s (1000 bits).
    pub bitrate_kbps: u32,
    /// Video frames per second (at least 1).
    pub fps: u32,
    /// Seconds between keyframes.
    pub gop_secs: f64,
}

/// Message sizes (bytes, tag headers included) that make a [`StreamProfile`]'s bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSizes {
    /// A keyframe.
    pub keyframe: usize,
    /// An inter frame.
    pub inter: usize,
    /// An AAC frame.
    pub audio: usize,
    /// Video frames per GOP (a keyframe, then inter frames).
    pub frames_per_gop: u64,
}

impl StreamProfile {
    /// Audio frames per second.
    pub fn audio_fps(&self) -> f64 {
        AUDIO_SAMPLE_RATE as f64 / AUDIO_FRAME_SAMPLES as f64
    }

    /// The message sizes for this profile. Audio takes its usual ~112 kbit/s unless that
    /// is over a quarter of the bitrate; video gets the rest, split so that a GOP of one
    /// keyframe ([`KEYFRAME_RATIO`] inter frames big) and `frames_per_gop - 1` inter frames
    /// fills its share.
    pub fn frame_sizes(&self) -> FrameSizes {
        let total = f64::from(self.bitrate_kbps) * 1000.0 / 8.0;
        let audio_fps = self.audio_fps();
        let audio = if AUDIO_FRAME_BYTES as f64 * audio_fps <= total / 4.0 {
            AUDIO_FRAME_BYTES
        } else {
            ((total / 4.0 / audio_fps) as usize).max(MIN_AUDIO_FRAME_BYTES)
        };
        let fps = f64::from(self.fps.max(1));
        let frames_per_gop = ((fps * self.gop_secs).round() as u64).max(1);
        let video_per_gop =
            (total - audio as f64 * audio_fps).max(0.0) * frames_per_gop as f64 / fps;
        let units = (frames_per_gop - 1) as f64 + KEYFRAME_RATIO as f64;
        let inter = ((video_per_gop / units).round() as usize).max(MIN_VIDEO_FRAME_BYTES);
        let keyframe = if frames_per_gop == 1 {
            (video_per_gop.round() as usize).max(MIN_VIDEO_FRAME_BYTES)
        } else {
            inter * KEYFRAME_RATIO
        };
        FrameSizes { keyframe, inter, audio, frames_per_gop }
    }

    /// The `onMetaData` properties an encoder would announce.
    pub fn metadata(&self) -> AmfObject {
        let sizes = self.frame_sizes();
        let audio_kbps = sizes.audio as f64 * self.audio_fps() * 8.0 / 1000.0;
        AmfObject::from_pairs([
            ("width", Amf0Value::Number(640.0)),
            ("height", Amf0Value::Number(360.0)),
            ("videocodecid", Amf0Value::Number(7.0)),
            ("videodatarate", Amf0Value::Number(f64::from(self.bitrate_kbps) - audio_kbps)),
            ("framerate", Amf0Value::Number(f64::from(self.fps.max(1)))),
            ("audiocodecid", Amf0Value::Number(10.0)),
            ("audiodatarate", Amf0Value::Number(audio_kbps)),
            ("audiosamplerate", Amf0Value::Number(AUDIO_SAMPLE_RATE as f64)),
            ("audiosamplesize", Amf0Value::Number(16.0)),
            ("stereo", Amf0Value::Boolean(true)),
            ("encoder", Amf0Value::string("openrtmp-bench")),
        ])
    }
}

/// What comes next in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// When it is due, from the start of the stream.
    pub due: Duration,
    /// RTMP timestamp, ms.
    pub timestamp: u32,
    /// Message size in bytes.
    pub size: usize,
    /// What it is.
    pub kind: FrameKind,
}

/// Kinds of synthetic frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A video keyframe.
    Keyframe,
    /// A video inter frame.
    Inter,
    /// An AAC frame.
    Audio,
}

/// An endless, time-ordered sequence of synthetic frames.
#[derive(Debug, Clone)]
pub struct SyntheticStream {
    profile: StreamProfile,
    sizes: FrameSizes,
    video_index: u64,
    audio_index: u64,
}

impl SyntheticStream {
    /// A stream starting at time 0 with a keyframe.
    pub fn new(profile: StreamProfile) -> Self {
        SyntheticStream { sizes: profile.frame_sizes(), profile, video_index: 0, audio_index: 0 }
    }

    /// The sizes in use.
    pub fn sizes(&self) -> FrameSizes {
        self.sizes
    }

    /// The next frame, advancing the stream. Video and audio interleave by due time
    /// (video first on a tie).
    pub fn next_frame(&mut self) -> Frame {
        let fps = u64::from(self.profile.fps.max(1));
        let video_ns = self.video_index.saturating_mul(1_000_000_000) / fps;
        let audio_ns = self.audio_index.saturating_mul(AUDIO_FRAME_SAMPLES * 1_000_000_000)
            / AUDIO_SAMPLE_RATE;
        let frame = if video_ns <= audio_ns {
            let key = self.video_index.is_multiple_of(self.sizes.frames_per_gop);
            self.video_index += 1;
            let (kind, size) = if key {
                (FrameKind::Keyframe, self.sizes.keyframe)
            } else {
                (FrameKind::Inter, self.sizes.inter)
            };
            Frame { due: Duration::from_nanos(video_ns), timestamp: 0, size, kind }
        } else {
            self.audio_index += 1;
            let size = self.sizes.audio;
            Frame {
                due: Duration::from_nanos(audio_ns),
                timestamp: 0,
                size,
                kind: FrameKind::Audio,
            }
        };
        // RTMP timestamps are ms and wrap at 2^32 (RTMP 1.0 §5.3.1.3).
        let timestamp = (frame.due.as_millis() % (1u128 << 32)) as u32;
        Frame { timestamp, ..frame }
    }
}

/// The message of `frame`, stamped with `sent_at` if it is video.
pub fn frame_message(frame: &Frame, sent_at: Instant) -> Message {
    let (type_id, header) = tag_header(frame.kind);
    let video = type_id == MessageType::VIDEO;
    let min_len = header.len() + if video { MARKER_LEN } else { 0 };
    let mut payload = BytesMut::zeroed(frame.size.max(min_len));
    let mut head = &mut payload[..];
    head.put_slice(header);
    if video {
        head.put_slice(&marker::encode(sent_at));
    }
    media_message(type_id, frame.timestamp, payload.freeze())
}

fn tag_header(kind: FrameKind) -> (MessageType, &'static [u8]) {
    match kind {
        FrameKind::Keyframe => (MessageType::VIDEO, &[0x17, 0x01, 0, 0, 0]),
        FrameKind::Inter => (MessageType::VIDEO, &[0x27, 0x01, 0, 0, 0]),
        FrameKind::Audio => (MessageType::AUDIO, &[0xaf, 0x01]),
    }
}

/// One payload per frame kind, shared by every frame of that kind: what an unpaced
/// (ingest) publisher sends, so that generating gigabits per second costs no allocation
/// or memset. Markers all carry the same time, so this is only for runs without players.
#[derive(Debug, Clone)]
pub struct SharedFrames {
    keyframe: Bytes,
    inter: Bytes,
    audio: Bytes,
}

impl SharedFrames {
    /// Payloads of the sizes in `sizes`, stamped `at`.
    pub fn new(sizes: FrameSizes, at: Instant) -> Self {
        let payload = |kind, size| {
            let frame = Frame { due: Duration::ZERO, timestamp: 0, size, kind };
            frame_message(&frame, at).payload
        };
        SharedFrames {
            keyframe: payload(FrameKind::Keyframe, sizes.keyframe),
            inter: payload(FrameKind::Inter, sizes.inter),
            audio: payload(FrameKind::Audio, sizes.audio),
        }
    }

    /// The message of `frame`, sharing the payload of its kind (whose size it has).
    pub fn message(&self, frame: &Frame) -> Message {
        let (type_id, _) = tag_header(frame.kind);
        let payload = match frame.kind {
            FrameKind::Keyframe => &self.keyframe,
            FrameKind::Inter => &self.inter,
            FrameKind::Audio => &self.audio,
        };
        media_message(type_id, frame.timestamp, payload.clone())
    }
}

/// The video and audio sequence header messages, sent first.
pub fn sequence_headers() -> [Message; 2] {
    [
        media_message(MessageType::VIDEO, 0, Bytes::from_static(&AVC_SEQUENCE_HEADER)),
        media_message(MessageType::AUDIO, 0, Bytes::from_static(&AAC_SEQUENCE_HEADER)),
    ]
}

fn media_message(type_id: MessageType, timestamp: u32, payload: Bytes) -> Message {
    // The session picks the chunk stream and message stream id when sending.
    Message { csid: csid::VIDEO, timestamp, type_id, stream_id: 0, payload }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openrtmp_media::codec::aac::AudioSpecificConfig;
    use openrtmp_media::codec::avc::AvcDecoderConfigurationRecord;

    fn profile(kbps: u32) -> StreamProfile {
        StreamProfile { bitrate_kbps: kbps, fps: 30, gop_secs: 2.0 }
    }

    /// Bytes the stream sends in `secs` seconds of media time.
    fn bytes_over(profile: StreamProfile, secs: u64) -> (usize, u64, u64) {
        let mut stream = SyntheticStream::new(profile);
        let (mut bytes, mut video, mut keys) = (0, 0, 0);
        loop {
            let f = stream.next_frame();
            if f.due >= Duration::from_secs(secs) {
                return (bytes, video, keys);
            }
            bytes += f.size;
            if f.kind != FrameKind::Audio {
                video += 1;
            }
            if f.kind == FrameKind::Keyframe {
                keys += 1;
            }
        }
    }

    #[test]
    fn sizes_average_the_bitrate() {
        for kbps in [500, 1000, 3000, 6000, 20_000] {
            let (bytes, video, keys) = bytes_over(profile(kbps), 60);
            let got_kbps = bytes as f64 * 8.0 / 60.0 / 1000.0;
            let err = (got_kbps - f64::from(kbps)).abs() / f64::from(kbps);
            assert!(err < 0.01, "{kbps} kbit/s: got {got_kbps:.1}");
            assert_eq!((video, keys), (1800, 30));
        }
        let s = profile(3000).frame_sizes();
        assert_eq!((s.audio, s.frames_per_gop), (300, 60));
        assert_eq!(s.keyframe, s.inter * KEYFRAME_RATIO);
        assert!((10_000..11_500).contains(&s.inter), "{s:?}");
    }

    #[test]
    fn tiny_bitrates_stay_valid() {
        let s = StreamProfile { bitrate_kbps: 10, fps: 1, gop_secs: 0.5 }.frame_sizes();
        assert_eq!(s.frames_per_gop, 1);
        assert!(s.keyframe >= MIN_VIDEO_FRAME_BYTES && s.audio >= MIN_AUDIO_FRAME_BYTES);
        let s = StreamProfile { bitrate_kbps: 0, fps: 0, gop_secs: 0.0 }.frame_sizes();
        assert!(s.inter >= MIN_VIDEO_FRAME_BYTES);
    }

    #[test]
    fn frames_are_time_ordered_with_audio_cadence() {
        let mut stream = SyntheticStream::new(profile(3000));
        let frames: Vec<_> = (0..200).map(|_| stream.next_frame()).collect();
        assert!(frames.windows(2).all(|w| w[0].due <= w[1].due));
        assert_eq!(frames[0].kind, FrameKind::Keyframe);
        let audio: Vec<_> = frames.iter().filter(|f| f.kind == FrameKind::Audio).collect();
        assert_eq!(audio[3].timestamp, 64); // 3 * 21.33 ms
        assert_eq!(audio[3].due, Duration::from_nanos(64_000_000));
    }

    #[test]
    fn messages_carry_headers_and_marker() {
        marker::init();
        let mut stream = SyntheticStream::new(profile(3000));
        let key = stream.next_frame();
        let sent = Instant::now();
        let msg = frame_message(&key, sent);
        assert_eq!(msg.type_id, MessageType::VIDEO);
        assert_eq!(msg.payload.len(), key.size);
        assert_eq!(&msg.payload[..5], &[0x17, 1, 0, 0, 0]);
        assert_eq!(marker::decode(&msg.payload[5..]), Some(marker::nanos_since_base(sent)));
        let tag = openrtmp_media::parse_video(&msg.payload).unwrap();
        assert!(tag.is_keyframe() && !tag.is_sequence_header());
        let audio = Frame { due: Duration::ZERO, timestamp: 21, size: 300, kind: FrameKind::Audio };
        let msg = frame_message(&audio, sent);
        assert_eq!(
            (msg.type_id, msg.timestamp, &msg.payload[..2]),
            (MessageType::AUDIO, 21, &[0xaf, 1][..])
        );
    }

    #[test]
    fn shared_frames_match_fresh_ones_but_share_memory() {
        let at = Instant::now();
        let mut stream = SyntheticStream::new(profile(3000));
        let shared = SharedFrames::new(stream.sizes(), at);
        for _ in 0..100 {
            let frame = stream.next_frame();
            let (a, b) = (shared.message(&frame), frame_message(&frame, at));
            assert_eq!(a, b);
        }
        let f = stream.next_frame();
        assert_eq!(shared.message(&f).payload.as_ptr(), shared.message(&f).payload.as_ptr());
    }

    #[test]
    fn sequence_headers_are_real_records() {
        let [video, audio] = sequence_headers();
        let tag = openrtmp_media::parse_video(&video.payload).unwrap();
        assert!(tag.is_sequence_header());
        let info =
            AvcDecoderConfigurationRecord::parse(&video.payload[5..]).unwrap().info().unwrap();
        assert_eq!((info.width, info.height), (Some(640), Some(360)));
        assert_eq!(info.profile.as_deref(), Some("Main"));
        let asc = AudioSpecificConfig::parse(&audio.payload[2..]).unwrap().info();
        assert_eq!((asc.codec.as_str(), asc.sample_rate, asc.channels), ("AAC", 48_000, 2));
    }
}
