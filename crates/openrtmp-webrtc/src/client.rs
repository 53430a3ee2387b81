//! A WHIP sender (RFC 9725 §4.2): str0m as the publishing peer, for tests and tools. It makes
//! the SDP offer (send-only H.264 and/or Opus), takes the server's answer, runs full ICE as
//! the controlling agent (the server is ICE-lite), DTLS and SRTP, and packetizes what it is
//! given: H.264 access units in Annex B and Opus packets, each with its RTP time.
//!
//! Sans-IO like [`crate::ingest::IngestSession`], and shaped the same way so a driver for one
//! reads like a driver for the other: packets and time in (`handle_packet`, `handle_timeout`),
//! `poll_output` until [`ClientOutput::Timeout`]. [`clip`] reads the FFmpeg-made files the
//! test driver publishes.
//!
//! Why str0m on both ends of our own tests: the sender is then a second, independent user of
//! the same crypto provider and SDP rules, and the server tests need no browser. Chromium is
//! tested separately against the server (the studio test).

pub mod clip;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Receive, TcpType};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

use crate::ingest::Packet;
use crate::{Transmit, Transport, WebrtcError};

/// What the sender wants from its driver, in the order it happened.
#[derive(Debug)]
pub enum ClientOutput {
    /// Send a packet from one of the local candidates given to [`WhipSender::new`] to the
    /// server's candidate.
    Transmit(Transmit),
    /// ICE and DTLS are up: media written from now on goes out (str0m drops what is
    /// written before).
    Connected,
    /// The server asked for a keyframe (PLI or FIR): the next access unit should be an IDR.
    KeyframeRequest,
    /// The session is over (ICE consent lost, DTLS closed by the server, or
    /// [`WhipSender::close`] done); nothing more will come.
    Ended(String),
    /// Nothing more now: call [`WhipSender::handle_timeout`] at this instant.
    Timeout(Instant),
}

/// Where the session is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Offer made, no answer yet.
    ExpectAnswer,
    /// Answer applied, ICE/DTLS running or up.
    Running,
    /// `Ended` is due with `reason` once str0m has drained its close output, or at
    /// `deadline` (set at the first poll after the close began) if it never does: a peer
    /// that is gone acknowledges nothing.
    Closing { reason: String, deadline: Option<Instant> },
    /// `Ended` was reported.
    Ended,
}

/// A publishing WebRTC peer: see the module docs.
#[derive(Debug)]
pub struct WhipSender {
    rtc: Rtc,
    /// The offer waiting for its answer (`None` once applied).
    pending: Option<SdpPendingOffer>,
    video: Option<Mid>,
    audio: Option<Mid>,
    /// Negotiated payload types, known once the answer is applied.
    video_pt: Option<Pt>,
    audio_pt: Option<Pt>,
    state: State,
}

impl WhipSender {
    /// A sender with the given local candidates (host candidates; for ICE-TCP, active ones)
    /// and its SDP offer: one send-only m-line per medium asked for (video first). The offer
    /// carries every candidate (WHIP without trickle, RFC 9725 §4.3.2).
    pub fn new(
        now: Instant,
        local_candidates: &[(SocketAddr, Transport)],
        video: bool,
        audio: bool,
    ) -> Result<(WhipSender, String), WebrtcError> {
        if !video && !audio {
            return Err(WebrtcError::Unsupported("a sender needs video or audio".into()));
        }
        let mut rtc = RtcConfig::new()
            .clear_codecs()
            .enable_h264(video)
            .enable_opus(audio, false)
            .set_crypto_provider(crate::crypto::provider())
            .build(now);
        for &(addr, transport) in local_candidates {
            let candidate = match transport {
                Transport::Udp => Candidate::host(addr, "udp"),
                Transport::Tcp => {
                    Candidate::builder().tcp().host(addr).tcptype(TcpType::Active).build()
                }
            }
            .map_err(|e| WebrtcError::Rtc(format!("local candidate {addr}: {e}")))?;
            rtc.add_local_candidate(candidate);
        }
        let mut api = rtc.sdp_api();
        let video_mid =
            video.then(|| api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None));
        let audio_mid =
            audio.then(|| api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
        let (offer, pending) =
            api.apply().ok_or_else(|| WebrtcError::Sdp("nothing to offer".into()))?;
        let sender = WhipSender {
            rtc,
            pending: Some(pending),
            video: video_mid,
            audio: audio_mid,
            video_pt: None,
            audio_pt: None,
            state: State::ExpectAnswer,
        };
        Ok((sender, offer.to_sdp_string()))
    }

    /// Applies the server's SDP answer (the body of the 201) and picks the payload types:
    /// H.264 with packetization-mode 1 (what the server requires), Opus.
    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), WebrtcError> {
        let pending = self
            .pending
            .take()
            .ok_or_else(|| WebrtcError::Sdp("answer without a pending offer".into()))?;
        let answer =
            SdpAnswer::from_sdp_string(sdp).map_err(|e| WebrtcError::Sdp(e.to_string()))?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| WebrtcError::Sdp(e.to_string()))?;
        if let Some(mid) = self.video {
            let pt = self.pick_pt(mid, |codec, pm| codec == Codec::H264 && pm == Some(1));
            self.video_pt = Some(pt.ok_or_else(|| {
                WebrtcError::Unsupported("answer has no H.264 packetization-mode 1".into())
            })?);
        }
        if let Some(mid) = self.audio {
            let pt = self.pick_pt(mid, |codec, _| codec == Codec::Opus);
            self.audio_pt =
                Some(pt.ok_or_else(|| WebrtcError::Unsupported("answer has no Opus".into()))?);
        }
        self.state = State::Running;
        Ok(())
    }

    /// The first negotiated payload type of `mid` that `fits` (codec, packetization-mode).
    fn pick_pt(&mut self, mid: Mid, fits: impl Fn(Codec, Option<u8>) -> bool) -> Option<Pt> {
        let writer = self.rtc.writer(mid)?;
        let pt = writer
            .payload_params()
            .find(|p| fits(p.spec().codec, p.spec().format.packetization_mode))
            .map(|p| p.pt());
        pt
    }

    /// Sends one H.264 access unit (Annex B; AUD NAL units are dropped, SPS and PPS go out
    /// as a STAP-A before the next slice) at `rtp_time_90k`. The caller's clock starts
    /// where it likes; str0m maps it onto a random RTP offset and sender reports.
    pub fn write_video(
        &mut self,
        now: Instant,
        rtp_time_90k: u64,
        annexb_access_unit: &[u8],
    ) -> Result<(), WebrtcError> {
        let (mid, pt) = self.video.zip(self.video_pt).ok_or_else(|| {
            WebrtcError::Media("no negotiated video (no answer yet, or video off)".into())
        })?;
        let time = MediaTime::new(rtp_time_90k, Frequency::NINETY_KHZ);
        self.write(mid, pt, now, time, annexb_access_unit)
    }

    /// Sends one Opus packet at `rtp_time_48k`.
    pub fn write_audio(
        &mut self,
        now: Instant,
        rtp_time_48k: u64,
        opus_packet: &[u8],
    ) -> Result<(), WebrtcError> {
        let (mid, pt) = self.audio.zip(self.audio_pt).ok_or_else(|| {
            WebrtcError::Media("no negotiated audio (no answer yet, or audio off)".into())
        })?;
        let time = MediaTime::new(rtp_time_48k, Frequency::FORTY_EIGHT_KHZ);
        self.write(mid, pt, now, time, opus_packet)
    }

    fn write(
        &mut self,
        mid: Mid,
        pt: Pt,
        now: Instant,
        time: MediaTime,
        data: &[u8],
    ) -> Result<(), WebrtcError> {
        if self.state != State::Running {
            return Err(WebrtcError::Rtc("the session is not running".into()));
        }
        let writer = self.rtc.writer(mid).ok_or_else(|| WebrtcError::Rtc("no writer".into()))?;
        writer.write(pt, now, time, data).map_err(|e| WebrtcError::Rtc(e.to_string()))
    }

    /// A datagram (or one RFC 4571 frame) from the server. Bytes that are not STUN, DTLS,
    /// RTP or RTCP are ignored.
    pub fn handle_packet(&mut self, now: Instant, packet: Packet<'_>) -> Result<(), WebrtcError> {
        let Ok(contents) = packet.contents.try_into() else {
            tracing::debug!(source = %packet.source, len = packet.contents.len(), "ignored datagram");
            return Ok(());
        };
        let proto = packet.proto.to_str0m();
        let receive =
            Receive { proto, source: packet.source, destination: packet.destination, contents };
        self.input(Input::Receive(now, receive))
    }

    /// Time passed: the instant of the last [`ClientOutput::Timeout`] (or later) came.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), WebrtcError> {
        self.input(Input::Timeout(now))
    }

    fn input(&mut self, input: Input<'_>) -> Result<(), WebrtcError> {
        if !self.rtc.is_alive() {
            return Ok(());
        }
        self.rtc.handle_input(input).map_err(|e| WebrtcError::Rtc(e.to_string()))
    }

    /// Ends the session: RTCP BYE and DTLS close_notify go out through `poll_output`, then
    /// [`ClientOutput::Ended`]. (The WHIP DELETE is the driver's.)
    pub fn close(&mut self) {
        if matches!(self.state, State::Closing { .. } | State::Ended) {
            return;
        }
        if let Err(e) = self.rtc.close() {
            tracing::debug!(error = %e, "close");
            self.rtc.disconnect();
        }
        self.state = closing("closed");
    }

    /// The next thing to do; call until [`ClientOutput::Timeout`]. (`now` only dates the
    /// far-off timeout of an ended sender; str0m polls without a clock.)
    pub fn poll_output(&mut self, now: Instant) -> ClientOutput {
        loop {
            if let State::Closing { reason, deadline } = &mut self.state {
                let deadline = *deadline.get_or_insert(now + CLOSE_DRAIN);
                if !self.rtc.is_alive() || now >= deadline {
                    let reason = reason.clone();
                    self.state = State::Ended;
                    return ClientOutput::Ended(reason);
                }
            }
            if self.state == State::Ended {
                return ClientOutput::Timeout(far_future(now));
            }
            let output = match self.rtc.poll_output() {
                Ok(output) => output,
                Err(e) => {
                    self.rtc.disconnect();
                    self.state = closing(&format!("WebRTC error: {e}"));
                    continue;
                }
            };
            match output {
                Output::Timeout(at) => {
                    let at = match &self.state {
                        State::Closing { deadline: Some(deadline), .. } => at.min(*deadline),
                        _ => at,
                    };
                    return ClientOutput::Timeout(at);
                }
                Output::Transmit(t) => return ClientOutput::Transmit(Transmit::from_str0m(t)),
                Output::Event(event) => {
                    if let Some(out) = self.event(event) {
                        return out;
                    }
                }
            }
        }
    }

    /// What an str0m event means to the driver, if anything.
    fn event(&mut self, event: Event) -> Option<ClientOutput> {
        match event {
            Event::Connected => Some(ClientOutput::Connected),
            Event::KeyframeRequest(_) => Some(ClientOutput::KeyframeRequest),
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.rtc.disconnect();
                self.state = closing("ICE disconnected");
                None
            }
            Event::Closed => {
                if !matches!(self.state, State::Closing { .. }) {
                    self.state = closing("closed by the server");
                }
                None
            }
            _ => None,
        }
    }
}

/// How long a closing sender waits for str0m to drain its close output (RTCP BYE, DTLS
/// close_notify) before it reports `Ended` anyway.
const CLOSE_DRAIN: Duration = Duration::from_secs(1);

fn closing(reason: &str) -> State {
    State::Closing { reason: reason.into(), deadline: None }
}

/// A timeout that will not come (an ended sender has nothing to do).
fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(3600)
}

#[cfg(test)]
mod tests;
