//! Placeholder (piece "ingest"). Contract for the server driver:
//!
//! ```text
//! pub struct IngestConfig { candidates: Vec<(SocketAddr, Transport)>, pli_interval: Duration (1.8 s),
//!                           pli_min_gap: Duration (300 ms), .. }
//! pub struct IngestSession;
//! impl IngestSession {
//!   pub fn accept_offer(now: Instant, offer_sdp: &str, config: &IngestConfig)
//!       -> Result<(IngestSession, String /* answer SDP */), WebrtcError>;
//!   pub fn local_ufrag(&self) -> &str;                       // what demux::local_ufrag finds
//!   pub fn handle_packet(&mut self, now: Instant, packet: Packet<'_>) -> Result<(), WebrtcError>;
//!   pub fn handle_timeout(&mut self, now: Instant) -> Result<(), WebrtcError>;
//!   pub fn add_remote_candidates(&mut self, sdpfrag: &str) -> Result<usize, WebrtcError>; // PATCH
//!   pub fn request_keyframe(&mut self, now: Instant);       // new viewer/target; throttled
//!   pub fn close(&mut self);                                 // DELETE: DTLS close, then Ended
//!   pub fn poll_output(&mut self, now: Instant) -> IngestOutput; // loop until Timeout
//! }
//! pub struct Packet<'a> { proto: Transport, source: SocketAddr, destination: SocketAddr, contents: &'a [u8] }
//! pub enum IngestOutput {
//!   Transmit { proto: Transport, source: SocketAddr, destination: SocketAddr, contents: Vec<u8> },
//!   Connected,                          // ICE + DTLS up
//!   Video(RtpFrame), Audio(RtpFrame),   // crate::rtp
//!   Ended(String /* reason */),         // ICE consent lost, DTLS closed, close() done
//!   Timeout(Instant),                   // nothing more now: call handle_timeout then
//! }
//! ```
