//! The media of one WHIP session as FLV tag bodies for the hub: H.264 access units become an
//! AVC sequence header and AVC frames ([`crate::h264`]), Opus becomes AAC (feature
//! `transcode`, `crate::audio`) or Enhanced RTMP Opus, and both get RTMP timestamps from
//! one [`MediaClock`], so audio and video stay in sync.
//!
//! Rules the driver relies on:
//! * Tags come out in timestamp order per kind, and sequence headers come before the
//!   frames they describe (the hub caches them for late joiners).
//! * Nothing goes out before the first IDR with its SPS and PPS; after a lost frame
//!   (`contiguous == false`) video is dropped until the next IDR. [`MediaAssembler::needs_keyframe`]
//!   says when to send a PLI.
//! * Audio starts with the first video frame (audio before it is dropped), so players see
//!   both start together.
//! * A session without audio (no audio m-line: [`MediaConfig::audio_expected`] false, or no
//!   Opus within [`MediaConfig::audio_wait`] of the first video frame) gets silent audio
//!   following the video clock: some platforms (Facebook) refuse streams without audio.
//!   Once silence has started it stays for the session; Opus arriving later is counted in
//!   [`MediaStats::audio_dropped`] and dropped.
//! * While both flow, each kind waits for the other to reach its time (at most 500 ms of
//!   it), so the two leave interleaved although the AAC encoder answers ~130 ms late and a
//!   loaded browser's video lags its audio.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::clock::{MediaClock, StreamKind};
use crate::h264::AvcConverter;
use crate::rtp::RtpFrame;
use crate::WebrtcError;

mod audio_track;
mod interleave;

use audio_track::AudioTrack;
use interleave::Interleaver;

/// Default AAC bitrate: what notes15 §3 measured as a fair default for rusty_aac stereo.
pub const DEFAULT_AAC_BITRATE_BPS: u32 = 128_000;
/// Default wait for the first Opus packet after the first video frame before silence.
pub const DEFAULT_AUDIO_WAIT: Duration = Duration::from_secs(1);
/// Frames the frame rate is measured over.
const FPS_WINDOW: usize = 31;

/// How a session's media is assembled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// AAC-LC bitrate (feature `transcode`).
    pub aac_bitrate_bps: u32,
    /// Whether the session negotiated audio. `false` makes silence from the start.
    pub audio_expected: bool,
    /// How long after the first video frame a missing audio stream is given up on.
    pub audio_wait: Duration,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            aac_bitrate_bps: DEFAULT_AAC_BITRATE_BPS,
            audio_expected: true,
            audio_wait: DEFAULT_AUDIO_WAIT,
        }
    }
}

/// The kind of a tag (FLV TagType 8 or 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagKind {
    /// FLV audio tag body.
    Audio,
    /// FLV video tag body.
    Video,
}

/// One FLV tag body with its RTMP timestamp, ready for `Frame::classify` + `Publisher::push`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// Audio or video.
    pub kind: TagKind,
    /// RTMP milliseconds since the session's first tag.
    pub timestamp: u32,
    /// The tag body (`0x17 0x00 ...` sequence header, `0xAF 0x01 ...` AAC frame, ...).
    pub body: Bytes,
}

/// What the stream metadata (`onMetaData`) needs of the video.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoInfo {
    /// Displayed width from the SPS.
    pub width: u32,
    /// Displayed height from the SPS.
    pub height: u32,
    /// Frames per second measured over the last frames (RTP time), once two frames went out.
    pub fps: Option<f64>,
}

/// Counters of one session's assembly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// Video frames emitted (sequence headers not counted).
    pub video_frames: u64,
    /// Access units dropped while waiting for an IDR, or unparseable.
    pub video_dropped: u64,
    /// Audio frames emitted (AAC or Opus; silence included).
    pub audio_frames: u64,
    /// Opus packets dropped: before video started, after silence took over, or
    /// undecodable.
    pub audio_dropped: u64,
    /// Whether silence replaces a missing audio stream.
    pub silence: bool,
    /// Timestamps clamped to keep a stream monotonic (video, audio).
    pub clamped: (u64, u64),
}

/// Assembles one WHIP session's frames into FLV tags: see the module docs.
pub struct MediaAssembler {
    config: MediaConfig,
    clock: MediaClock,
    avc: AvcConverter,
    /// The newest sequence header body, and whether it still has to go out (it goes out
    /// with the next emitted frame, so one that arrives while frames are dropped is not lost).
    header: Option<(Bytes, bool)>,
    /// Waiting for an IDR (start, loss, broken unit): frames are dropped.
    waiting_for_idr: bool,
    /// Arrival of the first emitted video frame.
    video_started: Option<Instant>,
    /// RTP times of the last emitted frames, for the frame rate.
    recent: VecDeque<u64>,
    audio: AudioTrack,
    /// Video waiting for the audio of its time (the AAC encoder's lookahead).
    interleave: Interleaver,
    /// Reused for the tags of one push.
    scratch: Vec<Tag>,
    stats: MediaStats,
}

impl std::fmt::Debug for MediaAssembler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaAssembler").field("stats", &self.stats).finish_non_exhaustive()
    }
}

impl MediaAssembler {
    /// An assembler for a new session.
    pub fn new(config: MediaConfig) -> Result<Self, WebrtcError> {
        let mut clock = MediaClock::new();
        clock.set_audio_expected(config.audio_expected);
        Ok(MediaAssembler {
            audio: AudioTrack::new(&config)?,
            config,
            clock,
            avc: AvcConverter::new(),
            header: None,
            waiting_for_idr: true,
            video_started: None,
            recent: VecDeque::with_capacity(FPS_WINDOW),
            interleave: Interleaver::default(),
            scratch: Vec::new(),
            stats: MediaStats::default(),
        })
    }

    /// Takes one H.264 access unit (Annex B).
    pub fn push_video(&mut self, frame: RtpFrame, out: &mut Vec<Tag>) {
        self.clock.observe(
            StreamKind::Video,
            frame.rtp_time,
            frame.clock_rate,
            frame.arrival,
            frame.sender_report,
        );
        if !frame.contiguous && !self.waiting_for_idr {
            tracing::debug!(rtp = frame.rtp_time, "video: frame lost, waiting for an IDR");
            self.waiting_for_idr = true;
        }
        let converted = match self.avc.push(&frame.data) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "video: access unit dropped");
                self.waiting_for_idr = true;
                self.stats.video_dropped += 1;
                return;
            }
        };
        if let Some(sh) = converted.sequence_header {
            self.header = Some((sh, true));
        }
        if self.waiting_for_idr {
            if !(converted.keyframe && self.avc.has_sequence_header()) {
                self.stats.video_dropped += u64::from(converted.frame.is_some());
                return;
            }
            self.waiting_for_idr = false;
        }
        let Some(body) = converted.frame else { return };
        let timestamp = self.clock.timestamp(StreamKind::Video, frame.rtp_time);
        let audio_flows = self.audio.has_audio() && !self.stats.silence;
        if let Some((sh, pending)) = &mut self.header {
            if *pending {
                *pending = false;
                let header = Tag { kind: TagKind::Video, timestamp, body: sh.clone() };
                self.interleave.push(header, audio_flows, out);
            }
        }
        self.interleave.push(Tag { kind: TagKind::Video, timestamp, body }, audio_flows, out);
        self.stats.video_frames += 1;
        if self.recent.len() == FPS_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(frame.rtp_time);
        let started = *self.video_started.get_or_insert(frame.arrival);
        let silence_due = !self.config.audio_expected
            || (!self.audio.has_audio()
                && frame.arrival.saturating_duration_since(started) >= self.config.audio_wait);
        if silence_due {
            if !self.stats.silence {
                tracing::debug!(
                    audio_expected = self.config.audio_expected,
                    "audio: none coming, silence follows the video clock"
                );
                self.clock.set_audio_expected(false);
            }
            self.stats.silence = true;
            self.interleave.flush(out);
            self.audio.silence_until(timestamp, &mut self.stats, out);
        }
    }

    /// Takes one Opus packet.
    pub fn push_audio(&mut self, frame: RtpFrame, out: &mut Vec<Tag>) {
        self.clock.observe(
            StreamKind::Audio,
            frame.rtp_time,
            frame.clock_rate,
            frame.arrival,
            frame.sender_report,
        );
        if self.video_started.is_none() || self.stats.silence {
            self.stats.audio_dropped += 1;
            return;
        }
        let mut tags = std::mem::take(&mut self.scratch);
        self.audio.push_opus(&frame, &mut self.clock, &mut self.stats, &mut tags);
        let flows = !self.stats.silence;
        for tag in tags.drain(..) {
            self.interleave.push(tag, flows, out);
        }
        self.scratch = tags;
    }

    /// Whether video waits for an IDR (start, after loss): the driver should send a PLI
    /// (throttled).
    pub fn needs_keyframe(&self) -> bool {
        self.waiting_for_idr
    }

    /// Size and frame rate of the video, once a sequence header went out.
    pub fn video_info(&self) -> Option<VideoInfo> {
        let sps = self.avc.sps_info()?;
        let fps = match (self.recent.front(), self.recent.back()) {
            (Some(first), Some(last)) if last > first => {
                Some((self.recent.len() - 1) as f64 * 90_000.0 / (last - first) as f64)
            }
            _ => None,
        };
        Some(VideoInfo { width: sps.width, height: sps.height, fps })
    }

    /// The session's counters.
    pub fn stats(&self) -> MediaStats {
        MediaStats {
            clamped: (self.clock.clamped(StreamKind::Video), self.clock.clamped(StreamKind::Audio)),
            ..self.stats
        }
    }

    /// Whether audio and video are mapped through sender reports yet.
    pub fn synced(&self) -> bool {
        self.clock.synced()
    }
}

#[cfg(test)]
mod tests;
