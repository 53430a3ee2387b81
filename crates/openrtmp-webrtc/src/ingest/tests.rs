//! In-process tests: a str0m full-ICE sender (what a browser is) shuttled by hand against an
//! [`IngestSession`], on a virtual clock. No sockets, no sleeps.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

use super::*;

/// Made with `ffmpeg -f lavfi -i testsrc=size=64x64:rate=30 -frames:v 2 -pix_fmt yuv420p
/// -c:v libx264 -profile:v baseline -bsf:v filter_units=remove_types=6 -f h264`, split into
/// its two access units and written with 4-byte start codes: SPS, PPS, IDR; then one P.
const IDR_AU: &[u8] = include_bytes!("testdata/idr_64x64.h264");
const P_AU: &[u8] = include_bytes!("testdata/p_64x64.h264");
/// An Opus packet: TOC 0xFC (CELT FB 20 ms, stereo, one frame) and a few payload bytes.
const OPUS: &[u8] = &[0xfc, 0xff, 0xfe, 0x01, 0x02];

const MS: Duration = Duration::from_millis(1);

fn server_addr() -> SocketAddr {
    "10.0.0.1:8189".parse().unwrap()
}

fn sender_addr() -> SocketAddr {
    "10.0.0.2:50000".parse().unwrap()
}

struct Pair {
    now: Instant,
    tx: Rtc,
    rx: IngestSession,
    video: Mid,
    audio: Mid,
    /// Everything but transmits and timeouts the session said.
    rx_out: Vec<IngestOutput>,
    /// Keyframe requests the sender saw.
    keyframe_requests: Vec<KeyframeRequestKind>,
    tx_connected: bool,
    tx_closed: bool,
    /// Deliver the sender's packets (false: the peer vanished).
    link_up: bool,
}

fn sender_config() -> RtcConfig {
    RtcConfig::new()
        .set_crypto_provider(crate::crypto::provider())
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true, false)
}

fn pair_with(config: &IngestConfig) -> Pair {
    let now = Instant::now();
    let mut tx = sender_config().build(now);
    tx.add_local_candidate(Candidate::host(sender_addr(), "udp").unwrap());
    let mut api = tx.sdp_api();
    let video = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let audio = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    let (rx, answer) =
        IngestSession::accept_offer(now, &offer.to_sdp_string(), config).expect("answer");
    assert!(answer.contains("a=ice-lite"), "{answer}");
    tx.sdp_api().accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap()).unwrap();
    Pair {
        now,
        tx,
        rx,
        video,
        audio,
        rx_out: Vec::new(),
        keyframe_requests: Vec::new(),
        tx_connected: false,
        tx_closed: false,
        link_up: true,
    }
}

fn config() -> IngestConfig {
    IngestConfig { candidates: vec![(server_addr(), Transport::Udp)], ..IngestConfig::default() }
}

impl Pair {
    /// Runs both sides until neither has anything to say now; returns the earliest timeout.
    fn drain(&mut self) -> Instant {
        loop {
            let mut moved = false;
            let tx_timeout = loop {
                match self.tx.poll_output().unwrap() {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => {
                        moved = true;
                        if self.link_up {
                            let packet = Packet {
                                proto: Transport::Udp,
                                source: t.source,
                                destination: t.destination,
                                contents: &t.contents,
                            };
                            let _ = self.rx.handle_packet(self.now, packet);
                        }
                    }
                    Output::Event(e) => match e {
                        Event::Connected => self.tx_connected = true,
                        Event::KeyframeRequest(r) => self.keyframe_requests.push(r.kind),
                        Event::Closed => self.tx_closed = true,
                        _ => {}
                    },
                }
            };
            let rx_timeout = loop {
                match self.rx.poll_output(self.now) {
                    IngestOutput::Timeout(t) => break t,
                    IngestOutput::Transmit(Transmit { source, destination, contents, .. }) => {
                        moved = true;
                        let receive =
                            Receive::new(Protocol::Udp, source, destination, &contents).unwrap();
                        self.tx.handle_input(Input::Receive(self.now, receive)).unwrap();
                    }
                    other => {
                        moved = true;
                        self.rx_out.push(other);
                    }
                }
            };
            if !moved {
                return tx_timeout.min(rx_timeout);
            }
        }
    }

    /// Advances the virtual clock to `until`, firing every timeout on the way.
    fn run_until(&mut self, until: Instant) {
        loop {
            let next = self.drain();
            if next > until {
                self.now = until;
                self.timeouts();
                self.drain();
                return;
            }
            self.now = next.max(self.now);
            self.timeouts();
        }
    }

    fn timeouts(&mut self) {
        self.tx.handle_input(Input::Timeout(self.now)).unwrap();
        self.rx.handle_timeout(self.now).unwrap();
    }

    fn connect(&mut self) {
        let deadline = self.now + Duration::from_secs(5);
        while !(self.tx_connected && self.has(|o| matches!(o, IngestOutput::Connected))) {
            assert!(self.now < deadline, "no connection; session said {:?}", self.rx_out);
            let step = self.now + 10 * MS;
            self.run_until(step);
        }
    }

    fn has(&self, f: impl Fn(&IngestOutput) -> bool) -> bool {
        self.rx_out.iter().any(f)
    }

    fn write_video(&mut self, rtp_90k: u64, au: &[u8]) {
        let w = self.tx.writer(self.video).unwrap();
        let pt = w
            .payload_params()
            .find(|p| {
                p.spec().codec == Codec::H264 && p.spec().format.packetization_mode == Some(1)
            })
            .unwrap()
            .pt();
        w.write(pt, self.now, MediaTime::from_90khz(rtp_90k), au.to_vec()).unwrap();
    }

    fn write_audio(&mut self, rtp_48k: u64) {
        let w = self.tx.writer(self.audio).unwrap();
        let pt = w.payload_params().next().unwrap().pt();
        let time = MediaTime::new(rtp_48k, str0m::media::Frequency::FORTY_EIGHT_KHZ);
        w.write(pt, self.now, time, OPUS.to_vec()).unwrap();
    }

    fn videos(&self) -> Vec<&RtpFrame> {
        self.rx_out
            .iter()
            .filter_map(|o| match o {
                IngestOutput::Video(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    fn ended(&self) -> Vec<&str> {
        self.rx_out
            .iter()
            .filter_map(|o| match o {
                IngestOutput::Ended(r) => Some(r.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Sends video at 30 fps (an IDR first, then P frames) until `until`.
    fn stream_video(&mut self, frames: u64, first_idr: bool) {
        for i in 0..frames {
            let au = if i == 0 && first_idr { IDR_AU } else { P_AU };
            self.write_video(i * 3000, au);
            let step = self.now + 33 * MS;
            self.run_until(step);
        }
    }
}

#[test]
fn connects_and_delivers_video_and_audio() {
    let mut p = pair_with(&config());
    p.connect();
    p.write_video(90_000, IDR_AU);
    p.write_audio(48_000);
    let step = p.now + 50 * MS;
    p.run_until(step);
    let videos = p.videos();
    assert_eq!(videos.len(), 1, "{:?}", p.rx_out);
    assert_eq!(&videos[0].data[..], IDR_AU);
    assert_eq!(videos[0].clock_rate, 90_000);
    assert!(videos[0].contiguous);
    let audio: Vec<_> = p
        .rx_out
        .iter()
        .filter_map(|o| match o {
            IngestOutput::Audio(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(audio.len(), 1, "{:?}", p.rx_out);
    assert_eq!(&audio[0].data[..], OPUS);
    assert_eq!(audio[0].clock_rate, 48_000);
    // The first video was an IDR: nobody asked for a keyframe yet.
    assert!(p.keyframe_requests.is_empty());
    // A second frame keeps its distance on the 90 kHz clock.
    p.write_video(93_000, P_AU);
    let step = p.now + 50 * MS;
    p.run_until(step);
    let videos = p.videos();
    assert_eq!(videos.len(), 2);
    assert_eq!(&videos[1].data[..], P_AU);
    assert_eq!(videos[1].rtp_time - videos[0].rtp_time, 3000);
}

#[test]
fn first_video_without_idr_and_explicit_requests_ask_for_keyframes() {
    let mut p = pair_with(&config());
    p.connect();
    p.stream_video(2, false);
    assert_eq!(p.keyframe_requests, vec![KeyframeRequestKind::Pli]);
    // A viewer asks twice: one more request once pli_min_gap has passed, not two.
    p.rx.request_keyframe(p.now);
    p.rx.request_keyframe(p.now);
    let step = p.now + 400 * MS;
    p.run_until(step);
    assert_eq!(p.keyframe_requests.len(), 2, "{:?}", p.keyframe_requests);
}

#[test]
fn no_idr_for_the_interval_makes_a_pli() {
    let mut p = pair_with(&config());
    p.connect();
    // 1.5 s of video after an IDR: no request.
    p.stream_video(45, true);
    assert!(p.keyframe_requests.is_empty(), "{:?}", p.keyframe_requests);
    // Past 1.8 s without an IDR: a PLI.
    p.stream_video(15, false);
    assert_eq!(p.keyframe_requests, vec![KeyframeRequestKind::Pli]);
}

#[test]
fn close_ends_both_sides() {
    let mut p = pair_with(&config());
    p.connect();
    p.stream_video(3, true);
    p.rx.close();
    let step = p.now + 100 * MS;
    p.run_until(step);
    assert_eq!(p.ended(), vec!["closed"]);
    assert!(p.tx_closed, "the sender saw no DTLS close");
    // Ended is said once.
    let step = p.now + Duration::from_secs(2);
    p.run_until(step);
    assert_eq!(p.ended().len(), 1);
}

#[test]
fn a_vanished_peer_ends_after_the_inactivity_timeout() {
    let mut p = pair_with(&config());
    p.connect();
    p.stream_video(3, true);
    p.link_up = false;
    let gone = p.now;
    let step = p.now + DEFAULT_INACTIVITY_TIMEOUT - 100 * MS;
    p.run_until(step);
    assert!(p.ended().is_empty());
    let step = gone + DEFAULT_INACTIVITY_TIMEOUT + 100 * MS;
    p.run_until(step);
    assert_eq!(p.ended().len(), 1, "{:?}", p.rx_out);
    assert!(p.ended()[0].starts_with("no packets"), "{:?}", p.ended());
}

#[test]
fn an_offer_without_h264_is_unsupported() {
    let now = Instant::now();
    let mut tx = RtcConfig::new()
        .set_crypto_provider(crate::crypto::provider())
        .clear_codecs()
        .enable_vp8(true)
        .enable_opus(true, false)
        .build(now);
    let mut api = tx.sdp_api();
    api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, _) = api.apply().unwrap();
    match IngestSession::accept_offer(now, &offer.to_sdp_string(), &config()) {
        Err(WebrtcError::Unsupported(_)) => {}
        other => panic!("{:?}", other.map(|(_, a)| a)),
    }
    assert!(matches!(
        IngestSession::accept_offer(now, "not sdp", &config()),
        Err(WebrtcError::Sdp(_))
    ));
}

#[test]
fn the_answer_and_the_demux_agree_on_the_ufrag() {
    let mut p = pair_with(&IngestConfig {
        candidates: vec![
            (server_addr(), Transport::Udp),
            ("10.0.0.1:8189".parse().unwrap(), Transport::Tcp),
        ],
        ..IngestConfig::default()
    });
    // The sender's first check names our ufrag.
    let t = loop {
        match p.tx.poll_output().unwrap() {
            Output::Transmit(t) => break t,
            Output::Timeout(t) => {
                p.now = t;
                p.tx.handle_input(Input::Timeout(t)).unwrap();
            }
            Output::Event(_) => {}
        }
    };
    assert_eq!(crate::demux::local_ufrag(&t.contents), Some(p.rx.local_ufrag()));
    let packet = Packet {
        proto: Transport::Udp,
        source: t.source,
        destination: t.destination,
        contents: &t.contents,
    };
    assert!(p.rx.accepts(p.now, packet));
}

#[test]
fn answer_shape() {
    let now = Instant::now();
    let mut tx = sender_config().build(now);
    let mut api = tx.sdp_api();
    api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let (offer, _) = api.apply().unwrap();
    let cfg = IngestConfig {
        candidates: vec![
            (server_addr(), Transport::Udp),
            ("10.0.0.1:8189".parse().unwrap(), Transport::Tcp),
        ],
        ..IngestConfig::default()
    };
    let (_, answer) = IngestSession::accept_offer(now, &offer.to_sdp_string(), &cfg).unwrap();
    assert!(answer.contains("a=recvonly"), "{answer}");
    assert!(answer.contains("packetization-mode=1"), "{answer}");
    assert!(!answer.contains("packetization-mode=0"), "{answer}");
    assert!(answer.contains("transport-cc"), "{answer}");
    assert!(answer.contains("nack pli"), "{answer}");
    assert!(answer.contains("tcptype passive"), "{answer}");
    assert!(answer.contains("10.0.0.1 8189 typ host"), "{answer}");
}

#[test]
fn idr_detection_and_sr_extension() {
    assert!(has_idr(IDR_AU));
    assert!(!has_idr(P_AU));
    assert!(has_idr(&[0, 0, 1, 0x65, 1]));
    assert!(!has_idr(&[0, 0, 1]));
    assert!(!has_idr(&[]));
    assert_eq!(extend_near(5, 7), 7);
    assert_eq!(extend_near((1 << 32) + 5, 0xffff_fff0), 0xffff_fff0);
    assert_eq!(extend_near(0xffff_fff0, 3), (1 << 32) + 3);
    assert_eq!(extend_near(3, 0xffff_fff0), 0xffff_fff0);
}

#[test]
fn trickled_candidates_are_counted() {
    let mut p = pair_with(&config());
    let frag = "a=ice-ufrag:abcd\r\na=mid:0\r\n\
        a=candidate:1 1 udp 2122260223 10.0.0.9 50001 typ host\r\na=end-of-candidates\r\n";
    assert_eq!(p.rx.add_remote_candidates(frag).unwrap(), 1);
    assert!(p.rx.add_remote_candidates("a=candidate:garbage").is_err());
    // Bounded: a peer cannot trickle without end.
    let many: String = (0..MAX_TRICKLED_CANDIDATES)
        .map(|i| {
            format!(
                "a=candidate:1 1 udp 2122260223 10.0.{}.{} 50001 typ host\r\n",
                i / 250,
                i % 250
            )
        })
        .collect();
    let err = p.rx.add_remote_candidates(&many).unwrap_err();
    assert!(err.to_string().contains("trickled candidates"), "{err}");
}

#[test]
fn close_before_connecting_and_the_connect_timeout_end_once() {
    let mut p = pair_with(&config());
    p.rx.close();
    let step = p.now + 10 * MS;
    p.run_until(step);
    assert_eq!(p.ended(), vec!["closed"]);

    let mut p = pair_with(&config());
    p.link_up = false;
    let step = p.now + DEFAULT_CONNECT_TIMEOUT - 100 * MS;
    p.run_until(step);
    assert!(p.ended().is_empty());
    let step = p.now + 200 * MS;
    p.run_until(step);
    assert_eq!(p.ended().len(), 1, "{:?}", p.rx_out);
    assert!(p.ended()[0].contains("did not connect"), "{:?}", p.ended());
}
