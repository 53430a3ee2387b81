//! What crosses from the WebRTC session ([`crate::ingest`]) to the media assembly
//! ([`crate::media`]): one depacketized frame with its RTP clock, and the sender's latest
//! RTCP sender report for that stream. No str0m types: the assembly is tested on its own.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use str0m::net::Protocol;

/// The transport a candidate or a packet uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP datagrams.
    Udp,
    /// ICE-TCP, RFC 4571 framed (the framing is the driver's).
    Tcp,
}

impl Transport {
    /// str0m's protocol for it.
    pub(crate) fn to_str0m(self) -> Protocol {
        match self {
            Transport::Udp => Protocol::Udp,
            Transport::Tcp => Protocol::Tcp,
        }
    }

    /// Ours for str0m's: everything but UDP is a framed stream.
    pub(crate) fn from_str0m(proto: Protocol) -> Transport {
        match proto {
            Protocol::Udp => Transport::Udp,
            _ => Transport::Tcp,
        }
    }
}

/// A packet for the driver to send, from a local candidate address to the peer (for TCP:
/// framed, RFC 4571, on the connection from or to `destination`).
#[derive(Debug)]
pub struct Transmit {
    /// UDP or ICE-TCP.
    pub proto: Transport,
    /// The local address (a candidate) to send from.
    pub source: SocketAddr,
    /// The peer.
    pub destination: SocketAddr,
    /// One datagram (or one frame's payload).
    pub contents: Vec<u8>,
}

impl Transmit {
    /// Ours for str0m's (its buffer is taken over, not copied).
    pub(crate) fn from_str0m(t: str0m::net::Transmit) -> Transmit {
        Transmit {
            proto: Transport::from_str0m(t.proto),
            source: t.source,
            destination: t.destination,
            contents: t.contents.into(),
        }
    }
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
