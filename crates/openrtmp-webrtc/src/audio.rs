//! Placeholder (piece "audio"). Contract:
//!
//! ```text
//! pub struct OpusToAac;
//! impl OpusToAac {
//!   pub fn new(bitrate_bps: u32) -> Result<Self, WebrtcError>;   // AAC-LC 48 kHz stereo
//!   pub fn audio_specific_config(&self) -> [u8; 2];             // for the FLV sequence header
//!   /// One Opus packet whose first sample is `pts` (48 kHz samples on the stream's clock);
//!   /// a gap before it is filled (PLC/FEC, else silence) so the AAC timeline stays whole.
//!   pub fn push_opus(&mut self, pts: u64, packet: &[u8], out: &mut Vec<AacFrame>) -> Result<(), WebrtcError>;
//!   /// Silence up to `pts` (no microphone): the AAC timeline follows the video clock.
//!   pub fn push_silence(&mut self, until_pts: u64, out: &mut Vec<AacFrame>) -> Result<(), WebrtcError>;
//! }
//! pub struct AacFrame { pub pts: u64 /* 48 kHz samples of its first sample, encoder delay removed */, pub data: Bytes /* raw AU */ }
//! ```
