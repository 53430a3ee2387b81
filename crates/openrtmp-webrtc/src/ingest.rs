//! TEMPORARY stand-in (branch h-server) for the "ingest" piece, with the contract's
//! signatures so the server driver compiles; replaced by h-ingest's implementation on
//! merge. Every offer is refused as unsupported.
//!
//! ```text
//! pub struct IngestConfig { candidates: Vec<(SocketAddr, Transport)>, pli_interval: Duration (1.8 s),
//!                           pli_min_gap: Duration (300 ms), .. }
//! IngestSession::{accept_offer, local_ufrag, handle_packet, handle_timeout,
//!   add_remote_candidates, request_keyframe, close, poll_output}
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::{RtpFrame, Transport, WebrtcError};

/// How a session is set up.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Local host candidates.
    pub candidates: Vec<(SocketAddr, Transport)>,
    /// PLI when no IDR came for this long.
    pub pli_interval: Duration,
    /// Keyframe requests at most this often.
    pub pli_min_gap: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            candidates: Vec::new(),
            pli_interval: Duration::from_millis(1800),
            pli_min_gap: Duration::from_millis(300),
        }
    }
}

/// One packet in.
#[derive(Debug)]
pub struct Packet<'a> {
    /// Transport.
    pub proto: Transport,
    /// Peer.
    pub source: SocketAddr,
    /// Local candidate.
    pub destination: SocketAddr,
    /// Bytes.
    pub contents: &'a [u8],
}

/// Output.
#[derive(Debug)]
pub enum IngestOutput {
    /// A packet to send.
    Transmit {
        /// Transport.
        proto: Transport,
        /// Local candidate.
        source: SocketAddr,
        /// Peer.
        destination: SocketAddr,
        /// Bytes.
        contents: Vec<u8>,
    },
    /// ICE + DTLS up.
    Connected,
    /// Video frame.
    Video(RtpFrame),
    /// Audio frame.
    Audio(RtpFrame),
    /// Ended.
    Ended(String),
    /// Nothing more before this.
    Timeout(Instant),
}

/// Stand-in session.
#[derive(Debug)]
pub struct IngestSession {
    ufrag: String,
}

impl IngestSession {
    /// Stand-in: always refuses.
    pub fn accept_offer(
        _now: Instant,
        _offer_sdp: &str,
        _config: &IngestConfig,
    ) -> Result<(IngestSession, String), WebrtcError> {
        Err(WebrtcError::Unsupported("WebRTC ingest is not built yet".into()))
    }
    /// Local ufrag.
    pub fn local_ufrag(&self) -> &str {
        &self.ufrag
    }
    /// Packet in.
    pub fn handle_packet(&mut self, _now: Instant, _packet: Packet<'_>) -> Result<(), WebrtcError> {
        Ok(())
    }
    /// Timer.
    pub fn handle_timeout(&mut self, _now: Instant) -> Result<(), WebrtcError> {
        Ok(())
    }
    /// PATCH.
    pub fn add_remote_candidates(&mut self, _sdpfrag: &str) -> Result<usize, WebrtcError> {
        Ok(0)
    }
    /// PLI.
    pub fn request_keyframe(&mut self, _now: Instant) {}
    /// DELETE.
    pub fn close(&mut self) {}
    /// Output.
    pub fn poll_output(&mut self, now: Instant) -> IngestOutput {
        IngestOutput::Timeout(now + Duration::from_secs(3600))
    }
}
