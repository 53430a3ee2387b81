//! WebRTC ingest for OpenRTMP: what turns a browser's (or OBS's) WHIP publish into an
//! ordinary live stream. Sans-IO like the RTMP crates: packets and time in, packets to send,
//! media and events out; the tokio driver (sockets, the WHIP HTTP routes) lives in
//! `openrtmp-server`.
//!
//! * [`crypto`]: the DTLS/SRTP crypto provider for str0m, on RustCrypto and `dimpl` (str0m's
//!   own providers need aws-lc-rs or OpenSSL, which this project does not ship).
//! * [`ingest`]: one WHIP session: the SDP answer (ICE-lite, H.264 packetization-mode 1 and
//!   Opus), ICE/DTLS/SRTP through str0m, depacketized frames out, keyframe requests (PLI).
//! * [`demux`]: which session a datagram on the shared UDP port belongs to (STUN USERNAME).
//! * [`h264`], [`clock`], [`media`]: Annex B access units to an AVC sequence header and AVCC
//!   frames, RTP clocks (with RTCP sender reports) to RTMP milliseconds with audio and video
//!   in sync, and the assembly of both into FLV tag bodies for the hub.
//! * `audio` (feature `transcode`): Opus to AAC-LC 48 kHz, with silence when there is no
//!   microphone.
//! * [`client`]: a WHIP sender (str0m as the publishing side) for tests and tools.

pub mod client;
pub mod clock;
pub mod crypto;
pub mod demux;
pub mod error;
pub mod h264;
pub mod ingest;
pub mod media;
pub mod rtp;

#[cfg(feature = "transcode")]
pub mod audio;

pub use error::WebrtcError;
pub use rtp::{RtpFrame, SenderReport, Transmit, Transport};
