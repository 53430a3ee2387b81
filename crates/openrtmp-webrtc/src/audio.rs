//! Opus (WebRTC) to AAC-LC 48 kHz stereo (RTMP): what lets a browser's microphone reach
//! platforms that take only AAC over RTMP.
//!
//! * Decode: `ropus` (a pure-Rust port of libopus), always to two channels at 48 kHz,
//!   because Chrome signals `opus/48000/2` even for a mono microphone (RFC 7587 §7).
//! * Encode: `rusty_aac` (pure Rust) through [`aac`], which turns its whole-clip encoder into
//!   a live one.
//! * Timeline: the AAC frames' pts are continuous 1024-sample steps from the first Opus
//!   pts, with the encoder delay taken off, so an [`AacFrame::pts`] is the time of the first
//!   sample the frame decodes to. This is what A/V sync rests on: the quality test checks a
//!   click comes out within 1 ms of where it went in.
//! * Gaps (loss, DTX): Opus FEC from the next packet when the gap is one it can cover
//!   (Chrome negotiates `useinbandfec=1`), else packet loss concealment up to
//!   [`MAX_PLC_SAMPLES`], then silence. A gap over [`MAX_GAP_SAMPLES`] ends the timeline
//!   and starts a new one at the packet (minutes of silence would cost memory and CPU for
//!   nothing). A packet that goes back in time is dropped. Undecodable packets are counted
//!   and concealed; nothing a peer sends makes this panic.
//!
//! Samples are 48 kHz on the Opus RTP clock (RFC 7587 §4.1: always 48 kHz), extended to
//! 64 bits by the session.

mod aac;

use bytes::Bytes;
use ropus::{Channels, DecodeMode, Decoder};

use crate::WebrtcError;
use aac::{AacTimeline, SilentAu};

/// The AAC and Opus sample rate.
pub const SAMPLE_RATE: u32 = 48_000;
/// Output channels (the AAC stream is always stereo).
const CHANNELS: usize = 2;
/// The default AAC bitrate: 128 kbps (Twitch takes at most 160k).
pub const DEFAULT_BITRATE_BPS: u32 = 128_000;
/// The lowest AAC-LC stereo bitrate accepted.
pub const MIN_BITRATE_BPS: u32 = 32_000;
/// The highest: the decoder input buffer of two channels (ISO/IEC 14496-3 §4.5.3, 6144
/// bits per channel per frame) at 48 kHz.
pub const MAX_BITRATE_BPS: u32 = 576_000;
/// The longest gap concealed by Opus PLC (120 ms, one decoder call): beyond it libopus
/// has faded to silence anyway, so the rest is plain silence.
pub const MAX_PLC_SAMPLES: u64 = 5_760;
/// A gap longer than this (5 s) restarts the timeline instead of being filled.
pub const MAX_GAP_SAMPLES: u64 = 5 * SAMPLE_RATE as u64;
/// The largest Opus packet duration (120 ms) at 48 kHz, per channel (RFC 6716 §3.2.1).
const MAX_OPUS_SAMPLES: usize = 5_760;
/// PLC and FEC lengths must be multiples of 2.5 ms (libopus `opus_decode`).
const PLC_STEP: u64 = 120;
/// The largest pts taken (2^62 samples, three million years): the timeline's arithmetic
/// cannot overflow below it.
const MAX_PTS: u64 = 1 << 62;
/// Assumed length of the first packet when it cannot be decoded (20 ms, Chrome's ptime).
const DEFAULT_PACKET_SAMPLES: u64 = 960;

/// One AAC-LC access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacFrame {
    /// 48 kHz samples (on the Opus clock) of the first sample it decodes to, encoder delay
    /// removed.
    pub pts: u64,
    /// The raw AU (no ADTS header): FLV carries it after `0xAF 0x01`.
    pub data: Bytes,
}

/// What the transcoder did, for stats and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TranscodeStats {
    /// Opus packets decoded.
    pub packets: u64,
    /// Packets that did not decode (concealed instead).
    pub undecodable: u64,
    /// Packets dropped because their pts went back in time.
    pub late: u64,
    /// Samples (per channel) concealed by PLC or recovered by FEC.
    pub concealed_samples: u64,
    /// Samples (per channel) of inserted silence (gaps past PLC, [`OpusToAac::push_silence`]).
    pub silence_samples: u64,
    /// Timelines restarted after a gap over [`MAX_GAP_SAMPLES`].
    pub restarts: u64,
}

/// The Opus to AAC transcoder of one stream. See the module docs for the timeline rules.
pub struct OpusToAac {
    bitrate_bps: u32,
    decoder: Decoder,
    /// `None` before the first packet or silence anchors it.
    timeline: Option<AacTimeline>,
    silent: SilentAu,
    /// Interleaved decode output, sized for the longest packet.
    pcm: Vec<f32>,
    /// The duration of the last good packet: what an undecodable one is assumed to last.
    last_packet_samples: u64,
    stats: TranscodeStats,
}

impl std::fmt::Debug for OpusToAac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusToAac")
            .field("bitrate_bps", &self.bitrate_bps)
            .field("timeline", &self.timeline)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl OpusToAac {
    /// A transcoder to AAC-LC 48 kHz stereo at `bitrate_bps`
    /// ([`MIN_BITRATE_BPS`]..=[`MAX_BITRATE_BPS`]).
    pub fn new(bitrate_bps: u32) -> Result<Self, WebrtcError> {
        if !(MIN_BITRATE_BPS..=MAX_BITRATE_BPS).contains(&bitrate_bps) {
            return Err(WebrtcError::Audio(format!(
                "AAC bitrate {bitrate_bps} bps is outside {MIN_BITRATE_BPS}..={MAX_BITRATE_BPS}"
            )));
        }
        let decoder = Decoder::new(SAMPLE_RATE, Channels::Stereo)
            .map_err(|e| WebrtcError::Audio(format!("Opus decoder: {e}")))?;
        Ok(Self {
            bitrate_bps,
            decoder,
            timeline: None,
            silent: SilentAu::default(),
            pcm: vec![0.0; MAX_OPUS_SAMPLES * CHANNELS],
            last_packet_samples: DEFAULT_PACKET_SAMPLES,
            stats: TranscodeStats::default(),
        })
    }

    /// The AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) for the FLV AAC sequence header
    /// (`0xAF 0x00` + these bytes): AAC-LC, 48 kHz, 2 channels.
    pub fn audio_specific_config(&self) -> [u8; 2] {
        // object type 2 (5 bits), frequency index 3 = 48 kHz (4 bits), channels 2 (4 bits),
        // GASpecificConfig 0 (3 bits).
        [0x11, 0x90]
    }

    /// The AAC bitrate.
    pub fn bitrate_bps(&self) -> u32 {
        self.bitrate_bps
    }

    /// What it has done so far.
    pub fn stats(&self) -> TranscodeStats {
        self.stats
    }

    /// One Opus packet whose first sample is `pts` (48 kHz samples on the stream's clock);
    /// a gap before it is filled (FEC/PLC, else silence) so the AAC timeline stays whole.
    /// Frames that are complete go to `out` (the encoder runs about 128 ms behind).
    ///
    /// # Errors
    ///
    /// [`WebrtcError::Audio`] for a pts past 2^62 (no session clock gets there); nothing
    /// about the packet's bytes is an error.
    pub fn push_opus(
        &mut self,
        pts: u64,
        packet: &[u8],
        out: &mut Vec<AacFrame>,
    ) -> Result<(), WebrtcError> {
        check_pts(pts)?;
        let expected = match &self.timeline {
            None => {
                self.timeline = Some(AacTimeline::new(self.bitrate_bps, pts));
                pts
            }
            Some(t) => t.end_pts(),
        };
        if pts < expected {
            self.stats.late += 1;
            tracing::debug!(pts, expected, "Opus packet before the timeline's end: dropped");
            return Ok(());
        }
        let gap = pts - expected;
        if gap > MAX_GAP_SAMPLES {
            self.restart(pts, out);
        } else if gap > 0 {
            self.fill_gap(gap, packet, out);
        }
        self.decode_into_timeline(packet, out);
        Ok(())
    }

    /// Silence up to `until_pts` (no microphone): the AAC timeline follows the video
    /// clock. The first call (before any packet) only anchors the timeline at `until_pts`.
    /// A jump past [`MAX_GAP_SAMPLES`] restarts the timeline there; `until_pts` before the
    /// timeline's end does nothing.
    ///
    /// Only for a stream with no Opus flowing (no audio m-line, or no packet for a while):
    /// the silence moves the timeline's end, and an Opus packet for a time before it is
    /// then dropped as late.
    ///
    /// # Errors
    ///
    /// [`WebrtcError::Audio`] for a pts past 2^62.
    pub fn push_silence(
        &mut self,
        until_pts: u64,
        out: &mut Vec<AacFrame>,
    ) -> Result<(), WebrtcError> {
        check_pts(until_pts)?;
        let Some(timeline) = &mut self.timeline else {
            self.timeline = Some(AacTimeline::new(self.bitrate_bps, until_pts));
            return Ok(());
        };
        let gap = until_pts.saturating_sub(timeline.end_pts());
        if gap > MAX_GAP_SAMPLES {
            self.restart(until_pts, out);
        } else if gap > 0 {
            self.stats.silence_samples += gap;
            timeline.push_zeros(gap, &mut self.silent, out);
        }
        Ok(())
    }

    /// Ends the stream: emits the frames still held for the encoder's lookahead (padded
    /// with silence). The next packet or silence starts a new timeline.
    pub fn flush(&mut self, out: &mut Vec<AacFrame>) {
        if let Some(timeline) = self.timeline.take() {
            timeline.finish(&mut self.silent, out);
        }
    }

    fn restart(&mut self, pts: u64, out: &mut Vec<AacFrame>) {
        self.stats.restarts += 1;
        tracing::debug!(pts, "audio gap over the limit: the AAC timeline restarts");
        self.flush(out);
        self.timeline = Some(AacTimeline::new(self.bitrate_bps, pts));
    }

    /// Fills `gap` samples before `next_packet`: FEC when libopus can take the gap in one
    /// call (it conceals the start and recovers the last frame from the packet's LBRR data,
    /// or conceals all of it when there is none), else PLC then silence.
    fn fill_gap(&mut self, gap: u64, next_packet: &[u8], out: &mut Vec<AacFrame>) {
        let fec_ok = gap <= MAX_PLC_SAMPLES && gap.is_multiple_of(PLC_STEP);
        let (plc, mode, packet) = if fec_ok {
            (gap, DecodeMode::Fec, next_packet)
        } else {
            (gap.min(MAX_PLC_SAMPLES) / PLC_STEP * PLC_STEP, DecodeMode::Normal, &[][..])
        };
        if plc > 0 {
            self.conceal(plc, packet, mode, out);
        }
        let rest = gap - plc;
        if rest > 0 {
            self.stats.silence_samples += rest;
            if let Some(t) = &mut self.timeline {
                t.push_zeros(rest, &mut self.silent, out);
            }
        }
    }

    /// `samples` (a multiple of 2.5 ms, at most 120 ms) of PLC (empty packet) or FEC.
    fn conceal(&mut self, samples: u64, packet: &[u8], mode: DecodeMode, out: &mut Vec<AacFrame>) {
        let len = samples as usize * CHANNELS;
        let Some(buf) = self.pcm.get_mut(..len) else { return };
        let n = match self.decoder.decode_float(packet, buf, mode) {
            Ok(n) => n.min(samples as usize),
            Err(e) => {
                tracing::debug!(error = %e, samples, "Opus concealment failed: silence instead");
                buf.fill(0.0);
                samples as usize
            }
        };
        self.stats.concealed_samples += n as u64;
        if let Some(t) = &mut self.timeline {
            t.push_interleaved(&self.pcm[..n * CHANNELS], &mut self.silent, out);
        }
    }

    fn decode_into_timeline(&mut self, packet: &[u8], out: &mut Vec<AacFrame>) {
        if packet.is_empty() {
            // An empty payload is not a packet (a DTX keep-alive at most): conceal its slot.
            self.stats.undecodable += 1;
            self.conceal(self.last_packet_samples, &[], DecodeMode::Normal, out);
            return;
        }
        match self.decoder.decode_float(packet, &mut self.pcm, DecodeMode::Normal) {
            Ok(n) => {
                self.stats.packets += 1;
                self.last_packet_samples = n as u64;
                if let (Some(t), Some(pcm)) = (&mut self.timeline, self.pcm.get(..n * CHANNELS)) {
                    t.push_interleaved(pcm, &mut self.silent, out);
                }
            }
            Err(e) => {
                self.stats.undecodable += 1;
                tracing::debug!(error = %e, len = packet.len(), "undecodable Opus packet: concealed");
                self.conceal(self.last_packet_samples, &[], DecodeMode::Normal, out);
            }
        }
    }
}

fn check_pts(pts: u64) -> Result<(), WebrtcError> {
    if pts > MAX_PTS {
        return Err(WebrtcError::Audio(format!("audio pts {pts} is out of range")));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
