//! Probing a stream: codecs, resolution, frame rate, bitrate.

use std::time::Duration;

use openrtmp_amf::Amf0Value;
use openrtmp_media::script::ScriptData;
use openrtmp_media::{
    audio_info, parse_audio, parse_video, video_info, AudioInfo, TagType, VideoInfo,
};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::connection::{ClientError, ConnectOptions};
use crate::play::{PlayEnd, PlayOptions, Player};
use crate::url::RtmpUrl;

/// What a probe found out.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeReport {
    /// The URL probed (without its query).
    pub url: String,
    /// Video stream information from its sequence header.
    pub video: Option<VideoInfo>,
    /// Audio stream information from its sequence header.
    pub audio: Option<AudioInfo>,
    /// The stream's onMetaData, as JSON.
    pub metadata: Option<Value>,
    /// Video frames received (sequence headers excluded).
    pub video_frames: u64,
    /// Keyframes among them.
    pub keyframes: u64,
    /// Audio frames received (sequence headers excluded).
    pub audio_frames: u64,
    /// Video payload bytes.
    pub video_bytes: u64,
    /// Audio payload bytes.
    pub audio_bytes: u64,
    /// Media time spanned by the received frames, ms.
    pub media_ms: u64,
    /// Media time spanned by the video frames alone, ms (for the frame rate).
    pub video_ms: u64,
    /// Time from the play request to the first media frame, ms.
    pub first_frame_ms: Option<u64>,
    /// Why the probe stopped.
    pub end: PlayEnd,
}

impl ProbeReport {
    /// Frames per second over the media time.
    pub fn fps(&self) -> Option<f64> {
        (self.video_ms > 0 && self.video_frames > 1)
            .then(|| (self.video_frames - 1) as f64 * 1000.0 / self.video_ms as f64)
    }

    /// Bitrate (kbit/s) of `bytes` over the media time.
    fn kbps(&self, bytes: u64) -> Option<f64> {
        (self.media_ms > 0).then(|| bytes as f64 * 8.0 / self.media_ms as f64)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        let video = self.video.as_ref().map(|v| {
            json!({
                "codec": v.codec, "width": v.width, "height": v.height, "profile": v.profile, "level": v.level,
                "fps": self.fps().map(round2), "frames": self.video_frames, "keyframes": self.keyframes,
                "bitrate_kbps": self.kbps(self.video_bytes).map(round2),
            })
        });
        let audio = self.audio.as_ref().map(|a| {
            json!({
                "codec": a.codec, "sample_rate": a.sample_rate, "channels": a.channels, "profile": a.profile,
                "frames": self.audio_frames, "bitrate_kbps": self.kbps(self.audio_bytes).map(round2),
            })
        });
        json!({
            "url": self.url,
            "video": video,
            "audio": audio,
            "bitrate_kbps": self.kbps(self.video_bytes + self.audio_bytes).map(round2),
            "media_seconds": self.media_ms as f64 / 1000.0,
            "first_frame_ms": self.first_frame_ms,
            "metadata": self.metadata,
            "ended": self.end.to_string(),
        })
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// AMF0 to JSON, for metadata display.
fn amf_to_json(v: &Amf0Value) -> Value {
    match v {
        Amf0Value::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Amf0Value::Boolean(b) => Value::Bool(*b),
        Amf0Value::String(s) | Amf0Value::LongString(s) | Amf0Value::XmlDocument(s) => {
            Value::String(s.clone())
        }
        Amf0Value::Object(o)
        | Amf0Value::EcmaArray { entries: o, .. }
        | Amf0Value::TypedObject { properties: o, .. } => {
            Value::Object(o.iter().map(|(k, v)| (k.to_owned(), amf_to_json(v))).collect())
        }
        Amf0Value::StrictArray(items) => Value::Array(items.iter().map(amf_to_json).collect()),
        Amf0Value::Date { millis, .. } => {
            serde_json::Number::from_f64(*millis).map_or(Value::Null, Value::Number)
        }
        Amf0Value::Avmplus(v) => amf_to_json(&v.to_amf0()),
        _ => Value::Null,
    }
}

/// Plays `url` for up to `duration` (or until the stream ends) and reports what it saw.
pub async fn probe(
    url: &RtmpUrl,
    options: ConnectOptions,
    duration: Duration,
) -> Result<ProbeReport, ClientError> {
    let asked = Instant::now();
    let play = PlayOptions { duration: Some(duration), ..PlayOptions::default() };
    let mut player = Player::open(url, options, play).await?;
    let mut report = ProbeReport {
        url: url.to_string(),
        video: None,
        audio: None,
        metadata: None,
        video_frames: 0,
        keyframes: 0,
        audio_frames: 0,
        video_bytes: 0,
        audio_bytes: 0,
        media_ms: 0,
        video_ms: 0,
        first_frame_ms: None,
        end: PlayEnd::ServerClosed,
    };
    let mut span: Option<(u32, u32)> = None;
    let mut video_span: Option<(u32, u32)> = None;
    while let Some(tag) = player.next_tag().await? {
        let mut media = false;
        match tag.tag_type {
            TagType::VIDEO => match parse_video(&tag.data) {
                Ok(v) if v.is_sequence_header() => {
                    if let Some(Ok(info)) = video_info(&v) {
                        report.video = Some(info);
                    }
                }
                Ok(v) => {
                    media = true;
                    report.video_frames += 1;
                    report.keyframes += u64::from(v.is_keyframe());
                    report.video_bytes += tag.data.len() as u64;
                    widen(&mut video_span, tag.timestamp);
                }
                Err(e) => tracing::debug!(error = %e, "unparsable video tag"),
            },
            TagType::AUDIO => match parse_audio(&tag.data) {
                Ok(a) if a.is_sequence_header() => {
                    if let Some(Ok(info)) = audio_info(&a) {
                        report.audio = Some(info);
                    }
                }
                Ok(a) => {
                    media = true;
                    report.audio_frames += 1;
                    report.audio_bytes += tag.data.len() as u64;
                    // Codecs without a sequence header (MP3, legacy formats) describe
                    // themselves in every frame.
                    if report.audio.is_none() {
                        if let Some(Ok(info)) = audio_info(&a) {
                            report.audio = Some(info);
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "unparsable audio tag"),
            },
            _ => {
                if let Ok(script) = ScriptData::parse(&tag.data) {
                    report.metadata =
                        script.values.iter().find(|v| v.as_object().is_some()).map(amf_to_json);
                }
            }
        }
        if media {
            report.first_frame_ms.get_or_insert(asked.elapsed().as_millis() as u64);
            widen(&mut span, tag.timestamp);
        }
    }
    report.media_ms = span.map_or(0, |(lo, hi)| u64::from(hi - lo));
    report.video_ms = video_span.map_or(0, |(lo, hi)| u64::from(hi - lo));
    report.end = player.end().unwrap_or(PlayEnd::ServerClosed);
    let _ = player.close().await;
    Ok(report)
}

/// Extends a timestamp range to include `ts`.
fn widen(span: &mut Option<(u32, u32)>, ts: u32) {
    let (lo, hi) = span.get_or_insert((ts, ts));
    *lo = (*lo).min(ts);
    *hi = (*hi).max(ts);
}
