//! Live connections as the API and metrics see them: counters the connection tasks update
//! with relaxed atomics, details behind a small lock, and a kick switch per connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

/// What a publisher's connection learnt about its stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct MediaSummary {
    pub(crate) video_codec: Option<String>,
    pub(crate) width: Option<u32>,
    pub(crate) height: Option<u32>,
    pub(crate) fps: Option<f64>,
    pub(crate) audio_codec: Option<String>,
    pub(crate) sample_rate: Option<u32>,
    pub(crate) channels: Option<u8>,
    pub(crate) since: Option<Instant>,
}

impl MediaSummary {
    /// What a sequence header said (the hub parsed it once, at push).
    pub(crate) fn learn(&mut self, info: &openrtmp_hub::CodecInfo) {
        match info {
            openrtmp_hub::CodecInfo::Video(v) => {
                (self.video_codec, self.width, self.height) =
                    (Some(v.codec.clone()), v.width, v.height);
            }
            openrtmp_hub::CodecInfo::Audio(a) => {
                self.audio_codec = Some(a.codec.clone());
                (self.sample_rate, self.channels) = (Some(a.sample_rate), Some(a.channels));
            }
        }
    }
}

/// The slowly changing part of a connection's state.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnDetail {
    pub(crate) role: &'static str,
    pub(crate) app: String,
    pub(crate) stream: String,
    pub(crate) media: MediaSummary,
    /// `http-flv` or `ws-flv` for a web viewer; `None`: an RTMP(S) connection.
    pub(crate) protocol: Option<&'static str>,
}

/// One live connection.
#[derive(Debug)]
pub(crate) struct ConnEntry {
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    pub(crate) opened: Instant,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) queue_bytes: AtomicUsize,
    pub(crate) dropped_frames: AtomicU64,
    pub(crate) lag_ms: AtomicU32,
    detail: Mutex<ConnDetail>,
    /// Cancelled to close the connection (API kick, end of stream).
    pub(crate) kick: CancellationToken,
}

impl ConnEntry {
    pub(crate) fn detail(&self) -> MutexGuard<'_, ConnDetail> {
        self.detail.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records what this connection now does, in its log span and for the API.
    pub(crate) fn take_role(&self, role: &'static str, key: &openrtmp_hub::StreamKey) {
        tracing::Span::current().record("role", role);
        tracing::Span::current().record("stream", key.name.as_str());
        let mut d = self.detail();
        d.role = role;
        d.stream = key.name.clone();
    }

    /// Records a player of a recording (video on demand): role `player`, protocol
    /// `rtmp-vod`, stream the file name.
    pub(crate) fn vod_player(&self, app: &str, file_name: &str) {
        tracing::Span::current().record("role", "player");
        tracing::Span::current().record("stream", file_name);
        let mut d = self.detail();
        d.role = "player";
        d.app = app.to_owned();
        d.stream = file_name.to_owned();
        d.protocol = Some("rtmp-vod");
    }

    /// Records a web viewer of `key` (it has no RTMP `connect`, so the app is set here).
    pub(crate) fn web_player(&self, protocol: crate::WebProtocol, key: &openrtmp_hub::StreamKey) {
        let mut d = self.detail();
        d.role = "player";
        d.app = key.app.clone();
        d.stream = key.name.clone();
        d.protocol = Some(protocol.as_str());
    }

    pub(crate) fn add_in(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_out(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// All live connections.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    conns: Mutex<HashMap<u64, Arc<ConnEntry>>>,
}

/// Removes its connection from the registry when dropped.
#[derive(Debug)]
pub(crate) struct Registered {
    registry: Arc<Registry>,
    pub(crate) entry: Arc<ConnEntry>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.entry.id);
    }
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<ConnEntry>>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn register(self: &Arc<Self>, id: u64, peer: SocketAddr) -> Registered {
        let entry = Arc::new(ConnEntry {
            id,
            peer,
            opened: Instant::now(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            queue_bytes: AtomicUsize::new(0),
            dropped_frames: AtomicU64::new(0),
            lag_ms: AtomicU32::new(0),
            detail: Mutex::new(ConnDetail { role: "connecting", ..ConnDetail::default() }),
            kick: CancellationToken::new(),
        });
        self.lock().insert(id, Arc::clone(&entry));
        Registered { registry: Arc::clone(self), entry }
    }

    /// A snapshot of every live connection.
    pub(crate) fn all(&self) -> Vec<Arc<ConnEntry>> {
        let mut v: Vec<_> = self.lock().values().cloned().collect();
        v.sort_by_key(|e| e.id);
        v
    }

    pub(crate) fn get(&self, id: u64) -> Option<Arc<ConnEntry>> {
        self.lock().get(&id).cloned()
    }
}
