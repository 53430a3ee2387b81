//! The sender against an in-process receiver, datagrams shuttled by hand on a virtual clock:
//! no sockets, no sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use str0m::change::SdpOffer;
use str0m::media::{KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

use super::clip::{annexb_access_units, nal_units};
use super::*;
use crate::ingest::{IngestConfig, IngestOutput, IngestSession};

const SENDER: &str = "10.0.0.1:40000";
const SERVER: &str = "10.0.0.2:8189";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

type Wire = VecDeque<(Transport, SocketAddr, SocketAddr, Vec<u8>)>;

/// The server end of a [`Pair`].
trait Peer: Sized {
    fn answer(now: Instant, offer: &str, proto: Transport) -> (Self, String);
    /// Drains it into `wire`; returns its next timeout.
    fn poll(&mut self, now: Instant, wire: &mut Wire) -> Instant;
    fn receive(&mut self, now: Instant, packet: Packet<'_>);
    fn timeout(&mut self, now: Instant);
    /// What arrived: (kind, extended RTP time, bytes).
    fn frames(&self) -> &[(MediaKind, u64, Vec<u8>)];
    fn request_keyframe(&mut self, now: Instant);
    fn has_video(&self) -> bool;
    fn alive(&self) -> bool;
}

/// A plain str0m server: ICE-lite, H.264 + Opus, our crypto.
struct Receiver {
    rtc: Rtc,
    video: Option<Mid>,
    frames: Vec<(MediaKind, u64, Vec<u8>)>,
}

impl Peer for Receiver {
    fn answer(now: Instant, offer: &str, proto: Transport) -> (Receiver, String) {
        let mut rtc = RtcConfig::new()
            .set_ice_lite(true)
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true, false)
            .set_crypto_provider(crate::crypto::provider())
            .build(now);
        let candidate = match proto {
            Transport::Udp => Candidate::host(addr(SERVER), "udp").unwrap(),
            Transport::Tcp => Candidate::builder()
                .tcp()
                .host(addr(SERVER))
                .tcptype(str0m::net::TcpType::Passive)
                .build()
                .unwrap(),
        };
        rtc.add_local_candidate(candidate);
        let offer = SdpOffer::from_sdp_string(offer).unwrap();
        let answer = rtc.sdp_api().accept_offer(offer).unwrap();
        (Receiver { rtc, video: None, frames: Vec::new() }, answer.to_sdp_string())
    }

    fn poll(&mut self, _: Instant, wire: &mut Wire) -> Instant {
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Timeout(t) => return t,
                Output::Transmit(t) => {
                    let proto =
                        if t.proto == Protocol::Tcp { Transport::Tcp } else { Transport::Udp };
                    wire.push_back((proto, t.source, t.destination, t.contents.into()))
                }
                Output::Event(Event::MediaAdded(m)) if m.kind == MediaKind::Video => {
                    self.video = Some(m.mid)
                }
                Output::Event(Event::MediaData(d)) => {
                    let kind =
                        if Some(d.mid) == self.video { MediaKind::Video } else { MediaKind::Audio };
                    self.frames.push((kind, d.time.numer(), d.data.to_vec()));
                }
                Output::Event(_) => {}
            }
        }
    }

    fn receive(&mut self, now: Instant, packet: Packet<'_>) {
        let proto = match packet.proto {
            Transport::Udp => Protocol::Udp,
            Transport::Tcp => Protocol::Tcp,
        };
        let (source, destination) = (packet.source, packet.destination);
        let contents = packet.contents.try_into().unwrap();
        let receive = Receive { proto, source, destination, contents };
        self.rtc.handle_input(Input::Receive(now, receive)).unwrap();
    }

    fn timeout(&mut self, now: Instant) {
        self.rtc.handle_input(Input::Timeout(now)).unwrap();
    }

    fn frames(&self) -> &[(MediaKind, u64, Vec<u8>)] {
        &self.frames
    }

    fn request_keyframe(&mut self, _: Instant) {
        let mut writer = self.rtc.writer(self.video.unwrap()).unwrap();
        writer.request_keyframe(None, KeyframeRequestKind::Pli).unwrap();
    }

    fn has_video(&self) -> bool {
        self.video.is_some()
    }

    fn alive(&self) -> bool {
        self.rtc.is_alive()
    }
}

/// The real server session, [`crate::ingest::IngestSession`].
struct Ingest {
    session: IngestSession,
    frames: Vec<(MediaKind, u64, Vec<u8>)>,
    connected: bool,
    ended: Option<String>,
}

impl Peer for Ingest {
    fn answer(now: Instant, offer: &str, proto: Transport) -> (Ingest, String) {
        let config =
            IngestConfig { candidates: vec![(addr(SERVER), proto)], ..IngestConfig::default() };
        let (session, answer) = IngestSession::accept_offer(now, offer, &config).unwrap();
        (Ingest { session, frames: Vec::new(), connected: false, ended: None }, answer)
    }

    fn poll(&mut self, now: Instant, wire: &mut Wire) -> Instant {
        loop {
            match self.session.poll_output(now) {
                IngestOutput::Timeout(t) => return t,
                IngestOutput::Transmit(Transmit { proto, source, destination, contents }) => {
                    wire.push_back((proto, source, destination, contents));
                }
                IngestOutput::Connected => self.connected = true,
                IngestOutput::Video(f) => {
                    self.frames.push((MediaKind::Video, f.rtp_time, f.data.to_vec()))
                }
                IngestOutput::Audio(f) => {
                    self.frames.push((MediaKind::Audio, f.rtp_time, f.data.to_vec()))
                }
                IngestOutput::Ended(reason) => self.ended = Some(reason),
            }
        }
    }

    fn receive(&mut self, now: Instant, packet: Packet<'_>) {
        assert!(self.session.accepts(now, packet));
        self.session.handle_packet(now, packet).unwrap();
    }

    fn timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now).unwrap();
    }

    fn frames(&self) -> &[(MediaKind, u64, Vec<u8>)] {
        &self.frames
    }

    fn request_keyframe(&mut self, now: Instant) {
        self.session.request_keyframe(now);
    }

    fn has_video(&self) -> bool {
        self.frames.iter().any(|f| f.0 == MediaKind::Video)
    }

    fn alive(&self) -> bool {
        self.ended.is_none()
    }
}

/// What the sender reported, counted.
#[derive(Default, Debug)]
struct Seen {
    connected: bool,
    keyframe_requests: usize,
    ended: Option<String>,
}

/// Sender and receiver on one virtual clock, every datagram delivered at once.
struct Pair<P> {
    now: Instant,
    sender: WhipSender,
    receiver: P,
    seen: Seen,
    proto: Transport,
}

impl<P: Peer> Pair<P> {
    fn new(video: bool, audio: bool) -> Pair<P> {
        Pair::with(Transport::Udp, video, audio)
    }

    /// Both ends on `proto` only (for TCP: the sender active, the server passive).
    fn with(proto: Transport, video: bool, audio: bool) -> Pair<P> {
        let now = Instant::now();
        let (mut sender, offer) =
            WhipSender::new(now, &[(addr(SENDER), proto)], video, audio).unwrap();
        assert!(offer.contains("a=sendonly"), "{offer}");
        let (receiver, answer) = P::answer(now, &offer, proto);
        sender.accept_answer(&answer).unwrap();
        Pair { now, sender, receiver, seen: Seen::default(), proto }
    }

    /// One round: drain both, deliver, advance the clock to the next timeout (at most `step`).
    fn step(&mut self, step: Duration) {
        let mut wire = VecDeque::new();
        let mut next = self.now + step;
        loop {
            let sender_next = self.poll_sender(&mut wire);
            let receiver_next = self.receiver.poll(self.now, &mut wire);
            next = next.min(sender_next).min(receiver_next);
            if wire.is_empty() {
                break;
            }
            while let Some((proto, source, destination, contents)) = wire.pop_front() {
                assert_eq!(proto, self.proto);
                let packet = Packet { proto, source, destination, contents: &contents };
                if destination == addr(SERVER) {
                    self.receiver.receive(self.now, packet);
                } else {
                    self.sender.handle_packet(self.now, packet).unwrap();
                }
            }
        }
        self.now = next.max(self.now);
        self.sender.handle_timeout(self.now).unwrap();
        self.receiver.timeout(self.now);
    }

    fn poll_sender(&mut self, wire: &mut Wire) -> Instant {
        loop {
            match self.sender.poll_output(self.now) {
                ClientOutput::Timeout(t) => return t,
                ClientOutput::Transmit(Transmit { proto, source, destination, contents }) => {
                    assert_eq!(source, addr(SENDER));
                    wire.push_back((proto, source, destination, contents));
                }
                ClientOutput::Connected => self.seen.connected = true,
                ClientOutput::KeyframeRequest => self.seen.keyframe_requests += 1,
                ClientOutput::Ended(reason) => self.seen.ended = Some(reason),
            }
        }
    }

    fn connect(&mut self) {
        let deadline = self.now + Duration::from_secs(10);
        while !self.seen.connected {
            assert!(self.now < deadline, "not connected after 10 s of virtual time");
            self.step(Duration::from_millis(20));
        }
    }
}

/// A synthetic Annex B access unit: AUD, then SPS + PPS + a big IDR slice (FU-A fragments),
/// or a P slice. Content is arbitrary: the packetizer does not decode it.
fn access_unit(n: usize, idr: bool) -> Vec<u8> {
    let mut au = vec![0, 0, 0, 1, 0x09, 0xf0];
    if idr {
        au.extend([0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00]);
        au.extend([0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
        au.extend([0, 0, 1, 0x65]);
        au.extend((0..5000).map(|i| ((i * 7 + n) % 251) as u8 | 1));
    } else {
        au.extend([0, 0, 1, 0x41]);
        au.extend((0..300).map(|i| ((i * 3 + n) % 251) as u8 | 1));
    }
    au
}

/// The NAL units a receiver should see for `au`: all but the AUD.
fn expected_nals(au: &[u8]) -> Vec<Vec<u8>> {
    nal_units(au).into_iter().filter(|n| n[0] & 0x1f != 9).map(<[u8]>::to_vec).collect()
}

#[test]
fn frames_arrive_identical_with_their_rtp_times_at_str0m() {
    frames_arrive_identical_with_their_rtp_times::<Receiver>();
}

#[test]
fn frames_arrive_identical_with_their_rtp_times_at_ingest_session() {
    frames_arrive_identical_with_their_rtp_times::<Ingest>();
}

fn frames_arrive_identical_with_their_rtp_times<P: Peer>() {
    let mut pair = Pair::<P>::new(true, true);
    pair.connect();
    let units: Vec<Vec<u8>> = (0..30).map(|n| access_unit(n, n % 15 == 0)).collect();
    let opus: Vec<Vec<u8>> = (0..50).map(|n| vec![0xfc, n as u8, 0xaa, 0xbb]).collect();
    let start = pair.now;
    // 1 s of media: video every 33 ms (3000 ticks at 90 kHz), audio every 20 ms (960 at 48k).
    let (mut v, mut a) = (0usize, 0usize);
    while v < units.len() || a < opus.len() {
        let elapsed = pair.now - start;
        while v < units.len() && Duration::from_micros(v as u64 * 33_333) <= elapsed {
            pair.sender.write_video(pair.now, v as u64 * 3000, &units[v]).unwrap();
            v += 1;
        }
        while a < opus.len() && Duration::from_millis(a as u64 * 20) <= elapsed {
            pair.sender.write_audio(pair.now, a as u64 * 960, &opus[a]).unwrap();
            a += 1;
        }
        pair.step(Duration::from_millis(5));
    }
    for _ in 0..100 {
        pair.step(Duration::from_millis(10));
    }
    let video: Vec<_> = pair.receiver.frames().iter().filter(|f| f.0 == MediaKind::Video).collect();
    let audio: Vec<_> = pair.receiver.frames().iter().filter(|f| f.0 == MediaKind::Audio).collect();
    assert_eq!(video.len(), units.len(), "every access unit arrives");
    assert_eq!(audio.len(), opus.len(), "every Opus packet arrives");
    for (i, (frame, sent)) in video.iter().zip(&units).enumerate() {
        let got: Vec<Vec<u8>> = nal_units(&frame.2).into_iter().map(<[u8]>::to_vec).collect();
        assert_eq!(got, expected_nals(sent), "access unit {i}");
        assert_eq!(frame.1 - video[0].1, i as u64 * 3000, "video RTP time of {i}");
    }
    for (i, (frame, sent)) in audio.iter().zip(&opus).enumerate() {
        assert_eq!(&frame.2, sent, "Opus packet {i}");
        assert_eq!(frame.1 - audio[0].1, i as u64 * 960, "audio RTP time of {i}");
    }
    if std::any::type_name::<P>().ends_with("Receiver") {
        assert_eq!(pair.seen.keyframe_requests, 0, "nobody asked");
    }
}

#[test]
fn keyframe_request_from_str0m_reaches_the_sender_and_close_ends_it() {
    keyframe_request_reaches_the_sender_and_close_ends_it::<Receiver>();
}

#[test]
fn keyframe_request_from_ingest_session_reaches_the_sender_and_close_ends_it() {
    keyframe_request_reaches_the_sender_and_close_ends_it::<Ingest>();
}

fn keyframe_request_reaches_the_sender_and_close_ends_it<P: Peer>() {
    let mut pair = Pair::<P>::new(true, false);
    pair.connect();
    pair.sender.write_video(pair.now, 0, &access_unit(0, true)).unwrap();
    while !pair.receiver.has_video() {
        pair.step(Duration::from_millis(10));
    }
    let before = pair.seen.keyframe_requests;
    pair.receiver.request_keyframe(pair.now);
    let deadline = pair.now + Duration::from_secs(2);
    while pair.seen.keyframe_requests == before {
        assert!(pair.now < deadline, "no KeyframeRequest");
        pair.step(Duration::from_millis(10));
    }
    pair.sender.close();
    pair.step(Duration::from_millis(10));
    assert_eq!(pair.seen.ended.as_deref(), Some("closed"));
    assert!(pair.sender.write_video(pair.now, 3000, &access_unit(1, false)).is_err());
    // The receiver got the DTLS close_notify.
    let deadline = pair.now + Duration::from_secs(2);
    while pair.receiver.alive() {
        assert!(pair.now < deadline, "receiver did not see the close");
        pair.step(Duration::from_millis(10));
    }
}

#[test]
fn ice_tcp_sender_active_to_ingest_session_passive() {
    let mut pair = Pair::<Ingest>::with(Transport::Tcp, true, true);
    pair.connect();
    let units: Vec<Vec<u8>> = (0..10).map(|n| access_unit(n, n == 0)).collect();
    for (i, unit) in units.iter().enumerate() {
        pair.sender.write_video(pair.now, i as u64 * 3000, unit).unwrap();
        pair.sender.write_audio(pair.now, i as u64 * 1600, &[0xfc, i as u8]).unwrap();
        pair.step(Duration::from_millis(33));
    }
    for _ in 0..50 {
        pair.step(Duration::from_millis(10));
    }
    let video: Vec<_> = pair.receiver.frames().iter().filter(|f| f.0 == MediaKind::Video).collect();
    assert_eq!(video.len(), units.len());
    for (frame, sent) in video.iter().zip(&units) {
        let got: Vec<Vec<u8>> = nal_units(&frame.2).into_iter().map(<[u8]>::to_vec).collect();
        assert_eq!(got, expected_nals(sent));
    }
    assert_eq!(pair.receiver.frames().len(), 2 * units.len(), "audio too");
}

#[test]
fn close_ends_even_when_the_server_is_gone() {
    let mut pair = Pair::<Ingest>::new(true, false);
    pair.connect();
    pair.sender.close();
    // Nothing is delivered any more: the sender must end on its own drain deadline.
    let mut now = pair.now;
    let deadline = now + Duration::from_secs(5);
    let reason = loop {
        match pair.sender.poll_output(now) {
            ClientOutput::Ended(reason) => break reason,
            ClientOutput::Timeout(at) => {
                assert!(now < deadline, "no Ended within 5 s of virtual time");
                now = at.max(now + Duration::from_millis(1));
                pair.sender.handle_timeout(now).unwrap();
            }
            _ => {}
        }
    };
    assert_eq!(reason, "closed");
    assert!(now - pair.now <= CLOSE_DRAIN + Duration::from_millis(100), "{:?}", now - pair.now);
}

#[test]
fn offer_and_answer_checks() {
    let now = Instant::now();
    let none = WhipSender::new(now, &[(addr(SENDER), Transport::Udp)], false, false);
    assert!(matches!(none, Err(WebrtcError::Unsupported(_))));
    let (mut sender, offer) =
        WhipSender::new(now, &[(addr(SENDER), Transport::Udp)], true, false).unwrap();
    assert!(offer.contains("m=video"), "{offer}");
    assert!(!offer.contains("m=audio"), "{offer}");
    assert!(offer.contains("packetization-mode=1"), "{offer}");
    assert!(offer.contains("candidate:") && offer.contains("10.0.0.1 40000 typ host"), "{offer}");
    assert!(sender.write_video(now, 0, &[0, 0, 1, 0x65]).is_err(), "no answer yet");
    assert!(matches!(sender.accept_answer("garbage"), Err(WebrtcError::Sdp(_))));
    assert!(matches!(sender.accept_answer("v=0"), Err(WebrtcError::Sdp(_))), "offer used once");
    // Junk datagrams are ignored, not errors.
    let junk = Packet {
        proto: Transport::Udp,
        source: addr(SERVER),
        destination: addr(SENDER),
        contents: &[0xff; 3],
    };
    sender.handle_packet(now, junk).unwrap();
}

#[test]
fn ffmpeg_clip_goes_through_whole() {
    let Some((h264, ogg)) = super::clip::fixture::clips() else { return };
    let units = annexb_access_units(Bytes::from(h264));
    let packets = super::clip::ogg_opus_packets(&ogg).unwrap();
    let mut pair = Pair::<Ingest>::new(true, true);
    pair.connect();
    // 1.5 s of the clip, audio interleaved by RTP time (video i at 33.3 ms * i).
    let (frames, mut a) = (45, 0);
    for (i, unit) in units.iter().take(frames).enumerate() {
        pair.sender.write_video(pair.now, i as u64 * 3000, unit).unwrap();
        while a < packets.len() && a * 960 * 30 <= i * 48_000 {
            pair.sender.write_audio(pair.now, a as u64 * 960, &packets[a].1).unwrap();
            a += 1;
        }
        pair.step(Duration::from_millis(33));
    }
    for _ in 0..100 {
        pair.step(Duration::from_millis(10));
    }
    let video: Vec<_> = pair.receiver.frames().iter().filter(|f| f.0 == MediaKind::Video).collect();
    let audio: Vec<_> = pair.receiver.frames().iter().filter(|f| f.0 == MediaKind::Audio).collect();
    assert_eq!(video.len(), frames);
    assert_eq!(audio.len(), a);
    for (i, (frame, sent)) in video.iter().zip(&units).enumerate() {
        let got: Vec<Vec<u8>> = nal_units(&frame.2).into_iter().map(<[u8]>::to_vec).collect();
        assert_eq!(got, expected_nals(sent), "access unit {i}");
    }
    for (frame, sent) in audio.iter().zip(&packets) {
        assert_eq!(&frame.2[..], &sent.1[..]);
    }
}
