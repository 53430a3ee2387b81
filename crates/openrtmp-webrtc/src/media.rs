//! Placeholder (piece "media"). Contract:
//!
//! ```text
//! pub struct MediaAssembler;            // one per WHIP session
//! impl MediaAssembler {
//!   pub fn new(config: MediaConfig /* aac bitrate, .. */) -> Result<Self, WebrtcError>;
//!   pub fn push_video(&mut self, frame: RtpFrame, out: &mut Vec<Tag>);
//!   pub fn push_audio(&mut self, frame: RtpFrame, out: &mut Vec<Tag>);
//!   pub fn needs_keyframe(&self) -> bool;  // waiting for an IDR (start, loss): ask PLI
//!   pub fn video_info(&self) -> Option<VideoInfo>; // width/height/fps for metadata
//! }
//! pub struct Tag { pub kind: TagKind /* Audio | Video */, pub timestamp: u32 /* RTMP ms */,
//!                  pub body: Bytes /* FLV tag body: 0x17 0x00 .. sequence header etc. */ }
//! ```
//! Tags come out in timestamp order per kind, sequence headers before the frames they
//! describe; the driver pushes each with `Frame::classify` + `Publisher::push`.
