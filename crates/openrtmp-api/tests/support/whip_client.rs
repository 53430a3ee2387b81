//! A WHIP publisher for the end-to-end tests (RFC 9725): `openrtmp_webrtc::client::WhipSender`
//! on a tokio task with one UDP socket on 127.0.0.1, publishing an FFmpeg-made clip
//! (H.264 Annex B + Ogg Opus) paced by the wallclock, the way a browser would: 30 fps video on
//! a 90 kHz RTP clock and 20 ms Opus packets on a 48 kHz clock, both from 0 when ICE/DTLS come
//! up. Signalling is plain HTTP with reqwest: POST the offer, 201 + `Location`, DELETE on stop.
//!
//! Use: `let mut p = publish_clip(base, "live", "cam", Some(key), Clip::standard(&ffmpeg), Play::Loop).await?;`
//! then `p.wait_connected(..)`, read the server side, `p.stop().await`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use openrtmp_webrtc::client::clip::{annexb_access_units, ogg_opus_packets};
use openrtmp_webrtc::client::{ClientOutput, WhipSender};
use openrtmp_webrtc::ingest::Packet;
use openrtmp_webrtc::{Transmit, Transport};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Video frame interval at 30 fps, and its RTP step at 90 kHz.
const FRAME: Duration = Duration::from_nanos(33_333_333);
const FRAME_TICKS: u64 = 3000;
/// Opus packet interval (20 ms, `-frame_duration 20`), and its RTP step at 48 kHz.
const PACKET: Duration = Duration::from_millis(20);
const PACKET_TICKS: u64 = 960;
/// How long a closing sender may take to flush its DTLS close_notify.
const CLOSE_BOUND: Duration = Duration::from_secs(2);

/// A clip in memory: H.264 access units (Annex B, 30 fps, starting with an IDR) and Opus
/// packets (20 ms each).
#[derive(Debug, Clone)]
pub struct Clip {
    pub video: Vec<Bytes>,
    pub audio: Vec<Bytes>,
}

impl Clip {
    /// Reads the files FFmpeg made; `ogg` may be absent for a video-only clip.
    pub fn from_files(h264: &Path, ogg: Option<&Path>) -> Clip {
        let video = annexb_access_units(Bytes::from(std::fs::read(h264).expect("read h264")));
        let audio = match ogg {
            Some(ogg) => ogg_opus_packets(&std::fs::read(ogg).expect("read ogg"))
                .expect("an Ogg Opus file")
                .into_iter()
                .map(|(_, packet)| packet)
                .collect(),
            None => Vec::new(),
        };
        Clip { video, audio }
    }

    /// Makes a `seconds` long clip with FFmpeg: testsrc2 640x360 at 30 fps in baseline H.264
    /// (no B-frames, GOP 30, AUDs on) and a 1 kHz sine in Opus 64 kb/s, 20 ms frames.
    pub fn make(ffmpeg: &Path, seconds: u32) -> Clip {
        let dir = openrtmp_testkit::TempDir::new("whip-clip");
        let (h264, ogg) = openrtmp_testkit::webrtc_clip(ffmpeg, &dir.0, "640x360", seconds)
            .unwrap_or_else(|e| panic!("making the WHIP clip: {e}"));
        Clip::from_files(&h264, Some(&ogg))
    }

    /// The 3 s clip, made once per test process.
    pub fn standard(ffmpeg: &Path) -> Arc<Clip> {
        static CLIP: OnceLock<Arc<Clip>> = OnceLock::new();
        CLIP.get_or_init(|| Arc::new(Clip::make(ffmpeg, 3))).clone()
    }

    /// The clip without its audio (a camera without a microphone).
    pub fn video_only(&self) -> Clip {
        Clip { video: self.video.clone(), audio: Vec::new() }
    }
}

/// How long to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Play {
    /// The clip once, then stay connected sending nothing.
    Once,
    /// The clip over and over (RTP times keep rising) until `stop`.
    Loop,
    /// Loop for this long, then stay connected sending nothing.
    For(Duration),
}

/// What the sender has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WhipStats {
    /// ICE and DTLS came up.
    pub connected: bool,
    /// Access units and Opus packets written.
    pub video_frames: u64,
    pub audio_packets: u64,
    /// PLI/FIR from the server.
    pub keyframe_requests: u64,
    /// Why the session ended, once it has (the server closed it, ICE lost, or `stop`).
    pub ended: Option<String>,
}

/// What went wrong in the signalling.
#[derive(Debug)]
pub enum WhipError {
    /// The POST was answered with something other than 201 (`status`, body).
    Refused(u16, String),
    /// HTTP or the answer itself was unusable.
    Other(String),
}

/// A running WHIP publish.
#[derive(Debug)]
pub struct WhipPublish {
    /// The session URL from `Location`, made absolute.
    pub location: String,
    /// The server's SDP answer.
    pub answer: String,
    /// The sender's local UDP address (its only candidate).
    pub local: SocketAddr,
    stats: watch::Receiver<WhipStats>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    http: reqwest::Client,
}

impl WhipPublish {
    /// What the sender has done so far.
    pub fn stats(&self) -> WhipStats {
        self.stats.borrow().clone()
    }

    /// Waits until `done(stats)` holds, at most `limit`; returns the stats either way.
    pub async fn wait_for(
        &mut self,
        limit: Duration,
        done: impl Fn(&WhipStats) -> bool,
    ) -> WhipStats {
        let _ = tokio::time::timeout(limit, self.stats.wait_for(|s| done(s))).await;
        self.stats()
    }

    /// Waits (at most `limit`) for ICE and DTLS to come up; panics if they do not.
    pub async fn wait_connected(&mut self, limit: Duration) {
        let stats = self.wait_for(limit, |s| s.connected || s.ended.is_some()).await;
        assert!(stats.connected, "WHIP sender did not connect within {limit:?}: {stats:?}");
    }

    /// Waits (at most `limit`) for the session to end (the server closed it); its reason.
    pub async fn wait_ended(&mut self, limit: Duration) -> Option<String> {
        self.wait_for(limit, |s| s.ended.is_some()).await.ended
    }

    /// Ends the publish the way a page does: DELETE to the `Location` (its status is
    /// returned), then the sender closes (DTLS close_notify) and its task ends.
    pub async fn stop(mut self) -> (u16, WhipStats) {
        let status = match self.http.delete(&self.location).send().await {
            Ok(reply) => reply.status().as_u16(),
            Err(e) => panic!("DELETE {}: {e}", self.location),
        };
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(CLOSE_BOUND * 2, task).await;
        }
        (status, self.stats())
    }
}

impl Drop for WhipPublish {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn http() -> reqwest::Client {
    openrtmp_tls::install_default_provider();
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("reqwest client")
}

/// `path` (a `Location`, absolute or not) against `base` (`http://host:port`).
fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_owned()
    } else {
        format!("{}/{}", base.trim_end_matches('/'), location.trim_start_matches('/'))
    }
}

/// Publishes `clip` to `{http_base}/whip/{app}/{stream}` with `Authorization: Bearer
/// {bearer}` (none if `None`). Returns once the server answered 201 and the sender runs;
/// ICE/DTLS come up in the background (`wait_connected`).
pub async fn publish_clip(
    http_base: &str,
    app: &str,
    stream: &str,
    bearer: Option<&str>,
    clip: Arc<Clip>,
    play: Play,
) -> Result<WhipPublish, WhipError> {
    let socket =
        UdpSocket::bind("127.0.0.1:0").await.map_err(|e| WhipError::Other(e.to_string()))?;
    let local = socket.local_addr().map_err(|e| WhipError::Other(e.to_string()))?;
    let video = !clip.video.is_empty();
    let audio = !clip.audio.is_empty();
    let (mut sender, offer) =
        WhipSender::new(std::time::Instant::now(), &[(local, Transport::Udp)], video, audio)
            .map_err(|e| WhipError::Other(e.to_string()))?;
    let http = http();
    let url = format!("{}/whip/{app}/{stream}", http_base.trim_end_matches('/'));
    let mut request = http.post(&url).header("Content-Type", "application/sdp").body(offer);
    if let Some(bearer) = bearer {
        request = request.header("Authorization", format!("Bearer {bearer}"));
    }
    let reply = request.send().await.map_err(|e| WhipError::Other(format!("POST {url}: {e}")))?;
    let status = reply.status().as_u16();
    let location = reply
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(|l| absolute(http_base, l));
    let answer = reply.text().await.map_err(|e| WhipError::Other(e.to_string()))?;
    if status != 201 {
        return Err(WhipError::Refused(status, answer));
    }
    let location = location.ok_or_else(|| WhipError::Other("201 without Location".into()))?;
    sender.accept_answer(&answer).map_err(|e| WhipError::Other(format!("answer: {e}")))?;
    let (stats_tx, stats) = watch::channel(WhipStats::default());
    let (stop, stop_rx) = watch::channel(false);
    let driver = Driver { sender, socket, local, clip, play, stats: stats_tx, stop: stop_rx };
    let task = tokio::spawn(driver.run());
    Ok(WhipPublish { location, answer, local, stats, stop, task: Some(task), http })
}

/// The sender's task: the socket, the timers and the media pacing.
struct Driver {
    sender: WhipSender,
    socket: UdpSocket,
    local: SocketAddr,
    clip: Arc<Clip>,
    play: Play,
    stats: watch::Sender<WhipStats>,
    stop: watch::Receiver<bool>,
}

/// Where the media is: the clock starts when ICE/DTLS come up.
struct Pacer {
    start: Instant,
    /// Frames and packets written so far (across loops: RTP times keep rising).
    video: u64,
    audio: u64,
}

impl Driver {
    async fn run(mut self) {
        let mut buf = vec![0u8; 2048];
        let mut pacer: Option<Pacer> = None;
        let mut closing: Option<Instant> = None;
        loop {
            let Some(timeout) = self.drain(&mut pacer).await else { return };
            let next_media = pacer.as_ref().and_then(|p| self.next_due(p));
            let wake = next_media.map_or(timeout, |m| m.min(timeout));
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    if let Ok((len, source)) = received {
                        let packet = Packet {
                            proto: Transport::Udp,
                            source,
                            destination: self.local,
                            contents: buf.get(..len).unwrap_or_default(),
                        };
                        if let Err(e) = self.sender.handle_packet(std::time::Instant::now(), packet) {
                            tracing::debug!(error = %e, "WHIP sender packet");
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
                _ = self.stop.changed(), if closing.is_none() => {
                    self.sender.close();
                    closing = Some(Instant::now());
                }
            }
            if closing.is_some_and(|at| at.elapsed() > CLOSE_BOUND) {
                self.stats.send_modify(|s| {
                    s.ended.get_or_insert_with(|| "close did not drain".into());
                });
                return;
            }
            let now = Instant::now();
            if now >= timeout {
                let _ = self.sender.handle_timeout(now.into_std());
            }
            if closing.is_none() {
                if let Some(pacer) = pacer.as_mut() {
                    self.write_due(pacer, now);
                }
            }
        }
    }

    /// Polls the sender until it wants a timeout (returned), sending what it has; `None`
    /// once it ended.
    async fn drain(&mut self, pacer: &mut Option<Pacer>) -> Option<Instant> {
        loop {
            match self.sender.poll_output(std::time::Instant::now()) {
                ClientOutput::Timeout(at) => return Some(Instant::from_std(at)),
                ClientOutput::Transmit(Transmit { destination, contents, .. }) => {
                    // UDP: a lost datagram is the network's business, as for a browser.
                    let _ = self.socket.send_to(&contents, destination).await;
                }
                ClientOutput::Connected => {
                    *pacer = Some(Pacer { start: Instant::now(), video: 0, audio: 0 });
                    self.stats.send_modify(|s| s.connected = true);
                }
                ClientOutput::KeyframeRequest => {
                    self.stats.send_modify(|s| s.keyframe_requests += 1);
                }
                ClientOutput::Ended(reason) => {
                    self.stats.send_modify(|s| s.ended = Some(reason));
                    return None;
                }
            }
        }
    }

    /// Whether the `n`th item (of a clip part with `len` items) is still to be played.
    fn plays(&self, n: u64, len: usize, interval: Duration) -> bool {
        if len == 0 {
            return false;
        }
        match self.play {
            Play::Once => n < len as u64,
            Play::Loop => true,
            Play::For(limit) => interval * u32::try_from(n).unwrap_or(u32::MAX) < limit,
        }
    }

    /// When the next frame or packet is due, if any is left to play.
    fn next_due(&self, pacer: &Pacer) -> Option<Instant> {
        let video = self
            .plays(pacer.video, self.clip.video.len(), FRAME)
            .then(|| pacer.start + FRAME * pacer.video as u32);
        let audio = self
            .plays(pacer.audio, self.clip.audio.len(), PACKET)
            .then(|| pacer.start + PACKET * pacer.audio as u32);
        match (video, audio) {
            (Some(v), Some(a)) => Some(v.min(a)),
            (v, a) => v.or(a),
        }
    }

    /// Writes every frame and packet whose time has come.
    fn write_due(&mut self, pacer: &mut Pacer, now: Instant) {
        let std_now = now.into_std();
        while self.plays(pacer.video, self.clip.video.len(), FRAME)
            && pacer.start + FRAME * pacer.video as u32 <= now
        {
            let unit = &self.clip.video[(pacer.video % self.clip.video.len() as u64) as usize];
            if let Err(e) = self.sender.write_video(std_now, pacer.video * FRAME_TICKS, unit) {
                tracing::debug!(error = %e, "WHIP sender video");
            }
            pacer.video += 1;
            self.stats.send_modify(|s| s.video_frames += 1);
        }
        while self.plays(pacer.audio, self.clip.audio.len(), PACKET)
            && pacer.start + PACKET * pacer.audio as u32 <= now
        {
            let packet = &self.clip.audio[(pacer.audio % self.clip.audio.len() as u64) as usize];
            if let Err(e) = self.sender.write_audio(std_now, pacer.audio * PACKET_TICKS, packet) {
                tracing::debug!(error = %e, "WHIP sender audio");
            }
            pacer.audio += 1;
            self.stats.send_modify(|s| s.audio_packets += 1);
        }
    }
}
