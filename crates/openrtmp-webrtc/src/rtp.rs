//! What crosses from the WebRTC session ([`crate::ingest`]) to the media assembly
//! ([`crate::media`]): one depacketized frame with its RTP clock, and the sender's latest
//! RTCP sender report for that stream. No str0m types: the assembly is tested on its own.

use std::time::{Instant, SystemTime};

use bytes::Bytes;

/// The transport a candidate or a packet uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP datagrams.
    Udp,
    /// ICE-TCP, RFC 4571 framed (the framing is the driver's).
    Tcp,
}

/// The newest RTCP sender report (RFC 3550 §6.4.1) of a stream: the sender's wallclock
/// (NTP) at an RTP timestamp. Audio and video reports share the sender's clock, which is
/// what puts them in sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    /// The sender's wallclock.
    pub ntp_time: SystemTime,
    /// The RTP timestamp at that instant, extended (unwrapped) like [`RtpFrame::rtp_time`].
    pub rtp_time: u64,
}

/// One depacketized frame: a whole H.264 access unit in Annex B (start codes), or one Opus
/// packet.
#[derive(Debug, Clone)]
pub struct RtpFrame {
    /// RTP timestamp, extended to 64 bits (no wrap), in `clock_rate` units.
    pub rtp_time: u64,
    /// 90 000 for video, 48 000 for Opus.
    pub clock_rate: u32,
    /// When its last packet arrived.
    pub arrival: Instant,
    /// The stream's newest sender report, if one came yet.
    pub sender_report: Option<SenderReport>,
    /// `false` when packets before it were lost: a decoder needs a keyframe first.
    pub contiguous: bool,
    /// The frame.
    pub data: Bytes,
}
