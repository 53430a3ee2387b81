//! TEMPORARY stand-in (branch h-server) for the "media" piece with the contract's
//! signatures; replaced by h-media's implementation on merge.

use bytes::Bytes;

use crate::{RtpFrame, WebrtcError};

/// Assembly settings.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// AAC bitrate.
    pub audio_bitrate: u32,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig { audio_bitrate: 128_000 }
    }
}

/// What the picture is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoInfo {
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// Frames per second, once measured.
    pub fps: Option<f64>,
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    /// Audio.
    Audio,
    /// Video.
    Video,
}

/// One FLV tag body.
#[derive(Debug, Clone)]
pub struct Tag {
    /// Kind.
    pub kind: TagKind,
    /// RTMP ms.
    pub timestamp: u32,
    /// FLV tag body.
    pub body: Bytes,
}

/// Stand-in assembler.
#[derive(Debug)]
pub struct MediaAssembler;

impl MediaAssembler {
    /// New.
    pub fn new(_config: MediaConfig) -> Result<Self, WebrtcError> {
        Ok(MediaAssembler)
    }
    /// Video.
    pub fn push_video(&mut self, _frame: RtpFrame, _out: &mut Vec<Tag>) {}
    /// Audio.
    pub fn push_audio(&mut self, _frame: RtpFrame, _out: &mut Vec<Tag>) {}
    /// Waiting for an IDR.
    pub fn needs_keyframe(&self) -> bool {
        false
    }
    /// Picture.
    pub fn video_info(&self) -> Option<VideoInfo> {
        None
    }
}
