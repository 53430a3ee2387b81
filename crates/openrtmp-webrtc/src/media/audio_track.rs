//! The audio half of [`super::MediaAssembler`]: Opus packets (or silence) to FLV audio tag
//! bodies. With feature `transcode`: AAC-LC (FLV 10.1 §E.4.2.1, SoundFormat 10: `0xAF 0x00`
//! and the AudioSpecificConfig, then `0xAF 0x01` and a raw AU each). Without it: Enhanced RTMP v2 Opus
//! (ExAudioTagHeader, FourCC `Opus`: `SequenceStart` with an OpusHead ID header, RFC 7845
//! §5.1, then `CodedFrames` with one Opus packet each).

use bytes::{BufMut, Bytes, BytesMut};

use super::{MediaConfig, MediaStats, Tag, TagKind};
use crate::clock::{MediaClock, StreamKind};
use crate::rtp::RtpFrame;
use crate::WebrtcError;

/// Opus always runs at 48 kHz; the AAC output does too.
const RATE: u64 = 48_000;

/// The audio output of one session.
pub(super) struct AudioTrack {
    #[cfg(feature = "transcode")]
    encoder: crate::audio::OpusToAac,
    #[cfg(feature = "transcode")]
    scratch: Vec<crate::audio::AacFrame>,
    header_sent: bool,
    /// RTP time of the first Opus packet kept: sample 0 of the audio timeline.
    base_rtp: Option<u64>,
    /// RTMP ms where silence started (its sample 0), once it did.
    silence_start: Option<u32>,
    /// Samples of silence emitted (Opus: 960 per packet).
    #[cfg_attr(feature = "transcode", allow(dead_code))]
    silence_samples: u64,
}

impl AudioTrack {
    pub(super) fn new(config: &MediaConfig) -> Result<Self, WebrtcError> {
        #[cfg(not(feature = "transcode"))]
        let _ = config;
        Ok(AudioTrack {
            #[cfg(feature = "transcode")]
            encoder: crate::audio::OpusToAac::new(config.aac_bitrate_bps)?,
            #[cfg(feature = "transcode")]
            scratch: Vec::new(),
            header_sent: false,
            base_rtp: None,
            silence_start: None,
            silence_samples: 0,
        })
    }

    /// Whether an Opus packet has been taken.
    pub(super) fn has_audio(&self) -> bool {
        self.base_rtp.is_some()
    }

    fn header(&mut self, timestamp: u32, out: &mut Vec<Tag>) {
        if !self.header_sent {
            self.header_sent = true;
            out.push(Tag { kind: TagKind::Audio, timestamp, body: self.sequence_header() });
        }
    }

    fn frame(&mut self, timestamp: u32, data: &[u8], stats: &mut MediaStats, out: &mut Vec<Tag>) {
        self.header(timestamp, out);
        out.push(Tag { kind: TagKind::Audio, timestamp, body: frame_body(data) });
        stats.audio_frames += 1;
    }

    /// Takes an Opus packet; tags for what it completes go to `out`.
    pub(super) fn push_opus(
        &mut self,
        frame: &RtpFrame,
        clock: &mut MediaClock,
        stats: &mut MediaStats,
        out: &mut Vec<Tag>,
    ) {
        let base = *self.base_rtp.get_or_insert(frame.rtp_time);
        let Some(ticks) = frame.rtp_time.checked_sub(base) else {
            // Older than the first packet kept (reordered across the start).
            stats.audio_dropped += 1;
            return;
        };
        let rate = u64::from(frame.clock_rate.max(1));
        #[cfg(feature = "transcode")]
        {
            let pts = ticks * RATE / rate;
            let mut frames = std::mem::take(&mut self.scratch);
            if let Err(e) = self.encoder.push_opus(pts, &frame.data, &mut frames) {
                tracing::debug!(error = %e, "audio: Opus packet dropped");
                stats.audio_dropped += 1;
            }
            for f in frames.drain(..) {
                let ts = clock.timestamp(StreamKind::Audio, base + f.pts * rate / RATE);
                self.frame(ts, &f.data, stats, out);
            }
            self.scratch = frames;
        }
        #[cfg(not(feature = "transcode"))]
        {
            let _ = (ticks, rate);
            let ts = clock.timestamp(StreamKind::Audio, frame.rtp_time);
            self.frame(ts, &frame.data, stats, out);
        }
    }

    /// Silence up to the video timestamp `until` (RTMP ms), starting at the first call's.
    pub(super) fn silence_until(&mut self, until: u32, stats: &mut MediaStats, out: &mut Vec<Tag>) {
        let start = *self.silence_start.get_or_insert(until);
        let until_samples = u64::from(until.wrapping_sub(start)) * RATE / 1000;
        let ms = |samples: u64| start.wrapping_add((samples * 1000 / RATE) as u32);
        #[cfg(feature = "transcode")]
        {
            let mut frames = std::mem::take(&mut self.scratch);
            if let Err(e) = self.encoder.push_silence(until_samples, &mut frames) {
                tracing::debug!(error = %e, "audio: silence not encoded");
            }
            for f in frames.drain(..) {
                self.frame(ms(f.pts), &f.data, stats, out);
            }
            self.scratch = frames;
        }
        #[cfg(not(feature = "transcode"))]
        {
            // An Opus CELT 20 ms silence frame (TOC 0xF8: config 31, mono, one frame).
            const SILENT_PACKET: [u8; 3] = [0xF8, 0xFF, 0xFE];
            const PACKET_SAMPLES: u64 = 960;
            while self.silence_samples + PACKET_SAMPLES <= until_samples.max(PACKET_SAMPLES) {
                let ts = ms(self.silence_samples);
                self.silence_samples += PACKET_SAMPLES;
                self.frame(ts, &SILENT_PACKET, stats, out);
            }
        }
    }

    /// AAC: `0xAF 0x00` + AudioSpecificConfig.
    #[cfg(feature = "transcode")]
    fn sequence_header(&self) -> Bytes {
        let asc = self.encoder.audio_specific_config();
        let mut b = BytesMut::with_capacity(2 + asc.len());
        b.put_slice(&[AAC_HEADER, 0x00]);
        b.put_slice(&asc);
        b.freeze()
    }

    /// E-RTMP Opus `SequenceStart`: the OpusHead of a 2-channel stream (what WebRTC
    /// negotiates as `opus/48000/2`), pre-skip 0 (an RTP stream has no priming to skip).
    #[cfg(not(feature = "transcode"))]
    fn sequence_header(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(5 + 19);
        b.put_slice(&[EX_AUDIO | SEQUENCE_START]);
        b.put_slice(b"Opus");
        b.put_slice(b"OpusHead");
        b.put_u8(1); // version
        b.put_u8(2); // channels
        b.put_u16_le(0); // pre-skip
        b.put_u32_le(48_000); // input sample rate
        b.put_i16_le(0); // output gain
        b.put_u8(0); // channel mapping family 0
        b.freeze()
    }
}

/// SoundFormat 10 (AAC) | SoundRate 3 | 16-bit | stereo: `0xAF`, what every muxer writes
/// (the real rate and channels are in the AudioSpecificConfig).
#[cfg(feature = "transcode")]
const AAC_HEADER: u8 = 0xAF;
/// SoundFormat 9: ExAudioTagHeader (E-RTMP v2), with the AudioPacketType in the low nibble.
#[cfg(not(feature = "transcode"))]
const EX_AUDIO: u8 = 0x90;
#[cfg(not(feature = "transcode"))]
const SEQUENCE_START: u8 = 0;
#[cfg(not(feature = "transcode"))]
const CODED_FRAMES: u8 = 1;

#[cfg(feature = "transcode")]
fn frame_body(au: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(2 + au.len());
    b.put_slice(&[AAC_HEADER, 0x01]);
    b.put_slice(au);
    b.freeze()
}

#[cfg(not(feature = "transcode"))]
fn frame_body(packet: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + packet.len());
    b.put_slice(&[EX_AUDIO | CODED_FRAMES]);
    b.put_slice(b"Opus");
    b.put_slice(packet);
    b.freeze()
}
