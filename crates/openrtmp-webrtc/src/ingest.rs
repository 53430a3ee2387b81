//! One WHIP publish (RFC 9725) as a sans-IO session: the SDP answer, ICE-lite, DTLS-SRTP and
//! RTP depacketization through str0m, and out of it whole frames with their RTP clocks, the
//! keyframe requests the GOP depends on, and one end.
//!
//! The driver (openrtmp-server) owns sockets and time:
//!
//! ```text
//! let (mut session, answer) = IngestSession::accept_offer(now, &offer, &config)?;
//! loop {
//!     match session.poll_output(now) {
//!         IngestOutput::Transmit(t) => send it from `t.source` to `t.destination`,
//!         IngestOutput::Connected => ..,
//!         IngestOutput::Video(frame) | IngestOutput::Audio(frame) => to crate::media,
//!         IngestOutput::Ended(reason) => break,
//!         IngestOutput::Timeout(at) => wait for a packet or `at`, then
//!             session.handle_packet(now, packet) or session.handle_timeout(now),
//!     }
//! }
//! ```
//!
//! Why the parts of the configuration are what they are:
//! * ICE-lite (RFC 8445 §2.5): the server has fixed host candidates and never starts checks;
//!   browsers and OBS are full agents and take the controlling role.
//! * H.264 answered in packetization-mode 1 only, Opus without RED: what RTMP can carry.
//!   NACK, RTX and transport-wide congestion control feedback stay on: without TWCC
//!   feedback Chrome's bandwidth estimate never leaves its start value and the encoder stays
//!   at 320x180.
//! * The ICE credentials are random per session; the ufrag is what [`crate::demux`] routes a
//!   peer's first packets by.
//! * str0m's ICE-lite agent drops a pair only after 15 s without a check (fixed in `is`
//!   0.12), far longer than the issue allows for a closed tab. A publishing browser sends
//!   media without pause (Opus every 20 ms, even in DTX at least every 400 ms, and RTCP
//!   every second), so the session ends itself after `inactivity_timeout` without any
//!   packet from the peer.

// Reads peer-controlled bytes: no panics outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use str0m::change::SdpOffer;
use str0m::config::DtlsVersion;
use str0m::format::Codec;
use str0m::media::{KeyframeRequestKind, MediaData, Mid};
use str0m::net::{Receive, TcpType};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcConfig};

use crate::error::WebrtcError;
use crate::rtp::{RtpFrame, SenderReport, Transmit, Transport};

mod keyframe;

use keyframe::KeyframePolicy;

/// Default for [`IngestConfig::pli_interval`]: a keyframe at least every 2 s, with the
/// request's round trip and the encoder's reaction inside the margin.
pub const DEFAULT_PLI_INTERVAL: Duration = Duration::from_millis(1600);
/// Default for [`IngestConfig::pli_min_gap`].
pub const DEFAULT_PLI_MIN_GAP: Duration = Duration::from_millis(300);
/// Default for [`IngestConfig::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Default for [`IngestConfig::inactivity_timeout`].
pub const DEFAULT_INACTIVITY_TIMEOUT: Duration = Duration::from_secs(4);
/// The H.264 formats answered: str0m's defaults (payload type, RTX payload type,
/// profile-level-id) without their packetization-mode 0 twins, which would deliver single NAL
/// units only (RFC 6184 §6.2) and which no WHIP sender needs. Constrained Baseline and
/// Baseline are what Chrome's OpenH264 sends; Main and High are for OBS.
const H264_PACKETIZATION_MODE_1: &[(u8, u8, u32)] = &[
    (127, 121, 0x42_00_1f),
    (108, 109, 0x42_e0_1f),
    (123, 119, 0x4d_00_1f),
    (114, 115, 0x64_00_1f),
];
/// How long a local close may take to drain its last packets (RTCP BYE, DTLS close_notify)
/// before the session reports its end anyway.
const CLOSE_DRAIN: Duration = Duration::from_secs(1);
/// What a Timeout says when nothing is scheduled (the driver wakes on packets anyway).
const IDLE: Duration = Duration::from_secs(3600);

/// How a session is set up.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// The local host candidates put in the answer: one per local address the driver has a
    /// socket on (and any configured public address), UDP or passive ICE-TCP (RFC 6544).
    /// A packet's `destination` must be one of these.
    pub candidates: Vec<(SocketAddr, Transport)>,
    /// Ask for a keyframe when none came for this long.
    pub pli_interval: Duration,
    /// Never ask for keyframes closer together than this.
    pub pli_min_gap: Duration,
    /// End when ICE and DTLS are not up this long after the answer.
    pub connect_timeout: Duration,
    /// End when nothing at all came from the peer for this long once connected.
    pub inactivity_timeout: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            candidates: Vec::new(),
            pli_interval: DEFAULT_PLI_INTERVAL,
            pli_min_gap: DEFAULT_PLI_MIN_GAP,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            inactivity_timeout: DEFAULT_INACTIVITY_TIMEOUT,
        }
    }
}

/// One packet from the network for the session.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// UDP, or one RFC 4571 frame of an ICE-TCP connection (without its length prefix).
    pub proto: Transport,
    /// The peer's address.
    pub source: SocketAddr,
    /// The local address it came in on: one of [`IngestConfig::candidates`].
    pub destination: SocketAddr,
    /// The datagram.
    pub contents: &'a [u8],
}

/// What the session has for the driver.
#[derive(Debug)]
pub enum IngestOutput {
    /// Send a packet from a local candidate to the peer.
    Transmit(Transmit),
    /// ICE and DTLS are up; media follows.
    Connected,
    /// One H.264 access unit (Annex B), 90 kHz clock.
    Video(RtpFrame),
    /// One Opus packet, 48 kHz clock.
    Audio(RtpFrame),
    /// The session is over (said once): ICE consent lost, no packets, DTLS closed by the
    /// peer, a fatal error, or [`IngestSession::close`].
    Ended(String),
    /// Nothing more now: call [`IngestSession::handle_timeout`] at this instant (or earlier
    /// with a packet).
    Timeout(Instant),
}

/// Where the session is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Waiting for ICE and DTLS.
    Connecting { deadline: Instant },
    /// Media flows.
    Connected,
    /// Ending: draining a local close until `deadline` (set at the next poll if unknown),
    /// then report `reason`.
    Closing { deadline: Option<Instant>, reason: String },
    /// `Ended` was reported.
    Ended,
}

/// One WHIP publish.
#[derive(Debug)]
pub struct IngestSession {
    rtc: Rtc,
    ufrag: String,
    phase: Phase,
    /// The last packet from the peer, for the inactivity timeout.
    last_input: Instant,
    inactivity_timeout: Duration,
    keyframes: KeyframePolicy,
    /// The video m-line, known from the first video frame.
    video_mid: Option<Mid>,
    /// Candidates taken from trickle fragments (PATCH), against [`MAX_TRICKLED_CANDIDATES`].
    trickled: usize,
}

/// The most candidates a session takes by trickle (PATCH): a browser trickles a handful per
/// interface; the cap keeps a peer from growing str0m's candidate list without bound.
pub const MAX_TRICKLED_CANDIDATES: usize = 64;

impl IngestSession {
    /// Answers a WHIP offer. `Unsupported` when the offer has no H.264 video we can take
    /// (packetization-mode 1), `Sdp` when it does not parse.
    pub fn accept_offer(
        now: Instant,
        offer_sdp: &str,
        config: &IngestConfig,
    ) -> Result<(IngestSession, String), WebrtcError> {
        let offer =
            SdpOffer::from_sdp_string(offer_sdp).map_err(|e| WebrtcError::Sdp(e.to_string()))?;
        let creds = random_credentials()?;
        let ufrag = creds.ufrag.clone();
        let cert = crate::crypto::certificate()
            .ok_or_else(|| WebrtcError::Rtc("no DTLS certificate".into()))?;
        let mut rtc_config = RtcConfig::new()
            .set_ice_lite(true)
            // DTLS 1.2, pinned rather than left to str0m's default: every WebRTC stack speaks
            // it. `Auto` (1.3 when offered) also completed with Chromium 156 in the interop
            // probe, with AES-CM SRTP instead of AEAD-GCM.
            .set_dtls_version(DtlsVersion::Dtls12)
            .set_local_ice_credentials(creds)
            .set_crypto_provider(crate::crypto::provider())
            .set_dtls_cert(cert)
            .clear_codecs()
            .enable_opus(true, false);
        for &(pt, rtx, profile_level_id) in H264_PACKETIZATION_MODE_1 {
            rtc_config.codec_config().add_h264(pt.into(), Some(rtx.into()), true, profile_level_id);
        }
        let mut rtc = rtc_config.build(now);
        for &(addr, transport) in &config.candidates {
            let candidate = match transport {
                Transport::Udp => Candidate::host(addr, "udp"),
                Transport::Tcp => {
                    Candidate::builder().tcp().host(addr).tcptype(TcpType::Passive).build()
                }
            }
            .map_err(|e| WebrtcError::Rtc(format!("local candidate {addr}: {e}")))?;
            rtc.add_local_candidate(candidate);
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| WebrtcError::Sdp(e.to_string()))?
            .to_sdp_string();
        if !answers_h264(&answer) {
            return Err(WebrtcError::Unsupported(
                "the offer has no H.264 (packetization-mode 1) video to send".into(),
            ));
        }
        let session = IngestSession {
            rtc,
            ufrag,
            phase: Phase::Connecting { deadline: now + config.connect_timeout },
            last_input: now,
            inactivity_timeout: config.inactivity_timeout,
            keyframes: KeyframePolicy::new(config.pli_interval, config.pli_min_gap),
            video_mid: None,
            trickled: 0,
        };
        Ok((session, answer))
    }

    /// Our ICE username fragment: what [`crate::demux::local_ufrag`] finds in the peer's
    /// checks.
    pub fn local_ufrag(&self) -> &str {
        &self.ufrag
    }

    /// Whether a packet is for this session (a check naming our ufrag, or from an address
    /// ICE knows). The driver's demux uses [`crate::demux`] first; this is the exact test.
    pub fn accepts(&self, now: Instant, packet: Packet<'_>) -> bool {
        receive(packet).is_ok_and(|r| self.rtc.accepts(&Input::Receive(now, r)))
    }

    /// One packet from the peer. An error concerns this packet only (it is dropped); the
    /// session goes on unless [`Self::poll_output`] then reports `Ended`.
    pub fn handle_packet(&mut self, now: Instant, packet: Packet<'_>) -> Result<(), WebrtcError> {
        if !self.rtc.is_alive() {
            return Ok(());
        }
        self.last_input = now;
        let receive = receive(packet)?;
        self.rtc
            .handle_input(Input::Receive(now, receive))
            .map_err(|e| WebrtcError::Rtc(e.to_string()))
    }

    /// Time passed (the instant of the last [`IngestOutput::Timeout`], or later).
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), WebrtcError> {
        match &self.phase {
            Phase::Connecting { deadline } if now >= *deadline => {
                self.end(Some(now), "ICE/DTLS did not connect in time".into());
            }
            Phase::Connected if now >= self.last_input + self.inactivity_timeout => {
                let secs = self.inactivity_timeout.as_secs_f32();
                self.end(Some(now), format!("no packets from the peer for {secs:.1} s"));
            }
            _ => {}
        }
        if !self.rtc.is_alive() {
            return Ok(());
        }
        self.rtc.handle_input(Input::Timeout(now)).map_err(|e| WebrtcError::Rtc(e.to_string()))
    }

    /// Trickled candidates from a WHIP PATCH (RFC 8840 `a=candidate:` lines); returns how
    /// many were taken. Other lines (`a=ice-ufrag`, `a=mid`, `a=end-of-candidates`) are
    /// skipped. An ICE-lite server rarely needs these: it learns peer addresses from the
    /// checks themselves.
    pub fn add_remote_candidates(&mut self, sdpfrag: &str) -> Result<usize, WebrtcError> {
        let mut taken = 0;
        for line in sdpfrag.lines() {
            let Some(candidate) = line.trim().strip_prefix("a=") else {
                continue;
            };
            if !candidate.starts_with("candidate:") {
                continue;
            }
            if self.trickled >= MAX_TRICKLED_CANDIDATES {
                return Err(WebrtcError::Sdp(format!(
                    "more than {MAX_TRICKLED_CANDIDATES} trickled candidates"
                )));
            }
            let candidate = Candidate::from_sdp_string(candidate)
                .map_err(|e| WebrtcError::Sdp(format!("trickled candidate: {e}")))?;
            self.rtc.add_remote_candidate(candidate);
            self.trickled += 1;
            taken += 1;
        }
        Ok(taken)
    }

    /// A new viewer or relay target needs a keyframe: ask the sender (throttled by
    /// `pli_min_gap`; held until video flows).
    pub fn request_keyframe(&mut self, now: Instant) {
        self.keyframes.on_request();
        self.send_keyframe_request(now);
    }

    /// Ends the session (WHIP DELETE, shutdown): RTCP BYE and DTLS close_notify go out,
    /// then `Ended`.
    pub fn close(&mut self) {
        self.end(None, "closed".into());
    }

    /// Starts the end; the drain deadline counts from `now`, or from the next poll when the
    /// caller has no clock (`close`).
    fn end(&mut self, now: Option<Instant>, reason: String) {
        if matches!(self.phase, Phase::Closing { .. } | Phase::Ended) {
            return;
        }
        if let Err(e) = self.rtc.close() {
            tracing::debug!(error = %e, "WebRTC close");
            self.rtc.disconnect();
        }
        self.phase = Phase::Closing { deadline: now.map(|now| now + CLOSE_DRAIN), reason };
    }

    /// The next output; call until it is a [`IngestOutput::Timeout`].
    pub fn poll_output(&mut self, now: Instant) -> IngestOutput {
        if self.phase == Phase::Ended {
            return IngestOutput::Timeout(now + IDLE);
        }
        self.send_keyframe_request(now);
        loop {
            if let Phase::Closing { deadline, reason } = &mut self.phase {
                let deadline = *deadline.get_or_insert(now + CLOSE_DRAIN);
                if !self.rtc.is_alive() || now >= deadline {
                    let reason = reason.clone();
                    self.rtc.disconnect();
                    self.phase = Phase::Ended;
                    return IngestOutput::Ended(reason);
                }
            } else if !self.rtc.is_alive() {
                self.phase = Phase::Ended;
                return IngestOutput::Ended("WebRTC session closed".into());
            }
            let output = match self.rtc.poll_output() {
                Ok(output) => output,
                Err(e) => {
                    self.end(Some(now), format!("WebRTC error: {e}"));
                    // Nothing more can be drained from a failed session; stopping it here
                    // also keeps a persistent error from looping.
                    self.rtc.disconnect();
                    continue;
                }
            };
            match output {
                Output::Timeout(at) => return IngestOutput::Timeout(self.next_timeout(now, at)),
                Output::Transmit(t) => {
                    return IngestOutput::Transmit(Transmit::from_str0m(t));
                }
                Output::Event(event) => {
                    if let Some(out) = self.on_event(now, event) {
                        return out;
                    }
                }
            }
        }
    }

    fn on_event(&mut self, now: Instant, event: Event) -> Option<IngestOutput> {
        match event {
            Event::Connected => {
                if matches!(self.phase, Phase::Connecting { .. }) {
                    self.phase = Phase::Connected;
                    return Some(IngestOutput::Connected);
                }
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.end(Some(now), "ICE disconnected".into());
            }
            Event::Closed => self.end(Some(now), "DTLS closed by the peer".into()),
            Event::MediaData(data) => return self.on_media(now, data),
            other => tracing::trace!(event = ?other, "WebRTC event"),
        }
        None
    }

    fn on_media(&mut self, now: Instant, data: MediaData) -> Option<IngestOutput> {
        let codec = data.params.spec().codec;
        let frame = to_frame(&data);
        match codec {
            Codec::H264 => {
                self.video_mid.get_or_insert(data.mid);
                let idr = has_idr(&frame.data);
                self.keyframes.on_video(now, idr, frame.contiguous);
                self.send_keyframe_request(now);
                Some(IngestOutput::Video(frame))
            }
            Codec::Opus => Some(IngestOutput::Audio(frame)),
            other => {
                tracing::debug!(codec = ?other, "dropping media of an unexpected codec");
                None
            }
        }
    }

    /// Sends a PLI (or a FIR when only that was negotiated) if the policy says so.
    fn send_keyframe_request(&mut self, now: Instant) {
        let Some(mid) = self.video_mid else {
            return;
        };
        if !self.rtc.is_alive() || !self.keyframes.poll_request(now) {
            return;
        }
        let Some(mut writer) = self.rtc.writer(mid) else {
            return;
        };
        let kind = if writer.is_request_keyframe_possible(KeyframeRequestKind::Pli) {
            KeyframeRequestKind::Pli
        } else {
            KeyframeRequestKind::Fir
        };
        match writer.request_keyframe(None, kind) {
            Ok(()) => tracing::debug!(?kind, "keyframe requested"),
            Err(e) => tracing::debug!(error = %e, "keyframe request not possible"),
        }
    }

    /// str0m's next timeout, or ours (keyframe timer, connect, inactivity, close drain) if
    /// sooner.
    fn next_timeout(&self, now: Instant, rtc: Instant) -> Instant {
        let ours = match &self.phase {
            Phase::Connecting { deadline } => Some(*deadline),
            Phase::Connected => Some(self.last_input + self.inactivity_timeout),
            Phase::Closing { deadline, .. } => *deadline,
            Phase::Ended => None,
        };
        let keyframe = self.video_mid.and(self.keyframes.deadline());
        [Some(rtc), ours, keyframe].into_iter().flatten().min().unwrap_or(now + IDLE).max(now)
    }
}

fn receive(packet: Packet<'_>) -> Result<Receive<'_>, WebrtcError> {
    Receive::new(packet.proto.to_str0m(), packet.source, packet.destination, packet.contents)
        .map_err(|e| WebrtcError::Rtc(format!("unrecognised packet: {e}")))
}

/// Whether the answer took an H.264 payload type on a video m-line it accepted (port not 0).
/// str0m answers only codecs it matched, so this means the offer had one we can receive.
fn answers_h264(answer: &str) -> bool {
    let mut in_video = false;
    for line in answer.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            in_video = m.starts_with("video ") && !m.starts_with("video 0 ");
        } else if in_video
            && line
                .strip_prefix("a=rtpmap:")
                .and_then(|rest| rest.split_once(' '))
                .is_some_and(|(_, codec)| codec.trim().eq_ignore_ascii_case("H264/90000"))
        {
            return true;
        }
    }
    false
}

fn to_frame(data: &MediaData) -> RtpFrame {
    let rtp_time = data.time.numer();
    RtpFrame {
        rtp_time,
        clock_rate: data.time.frequency().get(),
        arrival: data.network_time,
        sender_report: data.last_sender_info.map(|sr| SenderReport {
            ntp_time: sr.ntp_time,
            rtp_time: extend_near(rtp_time, sr.rtp_time.numer() as u32),
        }),
        contiguous: data.contiguous,
        // Shares str0m's buffer: no copy of the frame.
        data: Bytes::from_owner(Arc::clone(&data.data)),
    }
}

/// The 64-bit timestamp with the low 32 bits `low` nearest to `reference`. str0m extends a
/// sender report's RTP time against the previous report, not against the media timeline,
/// so it is re-extended here against the frame it travels with.
fn extend_near(reference: u64, low: u32) -> u64 {
    const SPAN: i128 = 1 << 32;
    let base = i128::from(reference) & !(SPAN - 1);
    let candidates = [base - SPAN, base, base + SPAN].map(|b| b + i128::from(low));
    let best = candidates
        .into_iter()
        .filter(|c| *c >= 0)
        .min_by_key(|c| (c - i128::from(reference)).abs())
        .unwrap_or(i128::from(low));
    u64::try_from(best).unwrap_or(u64::from(low))
}

/// Whether an Annex B access unit holds an IDR slice (NAL type 5, ITU-T H.264 §7.4.1.2).
fn has_idr(annex_b: &[u8]) -> bool {
    let mut zeros = 0usize;
    let mut iter = annex_b.iter();
    while let Some(&b) = iter.next() {
        if b == 1 && zeros >= 2 {
            if iter.as_slice().first().is_some_and(|h| h & 0x1f == 5) {
                return true;
            }
            zeros = 0;
        } else if b == 0 {
            zeros += 1;
        } else {
            zeros = 0;
        }
    }
    false
}

/// Random ICE credentials (RFC 8839 §5.4: ufrag 4+ and password 22+ ice-chars).
fn random_credentials() -> Result<IceCreds, WebrtcError> {
    Ok(IceCreds { ufrag: random_ice_chars(16)?, pass: random_ice_chars(32)? })
}

fn random_ice_chars(len: usize) -> Result<String, WebrtcError> {
    use ring::rand::{SecureRandom, SystemRandom};
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = vec![0u8; len];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| WebrtcError::Rtc("no system randomness".into()))?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET.get(usize::from(b & 63)).copied().unwrap_or(b'A')))
        .collect())
}

#[cfg(test)]
mod tests;
