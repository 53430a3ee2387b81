//! History: a small bounded time series of server-wide and per-stream figures, sampled once
//! a second by a task the server runs, so a dashboard opened now shows the last 15 minutes
//! at once instead of charts that start empty.
//!
//! Memory is fixed by three constants: [`HISTORY_SAMPLES`] samples per series, one server
//! series, at most [`MAX_HISTORY_STREAMS`] stream series. A [`ServerSample`] is 32 bytes and
//! a [`StreamSample`] 56, so the whole store holds at most 900 × (32 + 64 × 56) bytes ≈
//! 3.3 MB (plus the per-stream key strings), reached only with 64 streams live for 15
//! minutes. A stream's series is dropped when the stream leaves the hub; the streams beyond
//! the 64th get no history (their live figures are still in `/api/v1/streams`).
//!
//! Nothing is polled while the server is idle (the design's battery rule): when a sample
//! finds no connection and no stream the sampler parks until the connection or stream count
//! changes, and readers see the parked stretch as zeros (one synthetic zero sample at the
//! time of reading).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openrtmp_hub::StreamKey;
use tokio::sync::watch;

use crate::delay::DelayHistogram;
use crate::handle::StreamStatus;

mod sampler;
mod verdict;

pub(crate) use sampler::run;

pub use verdict::{verdicts, Verdict, VerdictLevel};

/// How often the sampler takes a sample.
pub const HISTORY_PERIOD: Duration = Duration::from_secs(1);
/// Samples kept per series: 15 minutes at [`HISTORY_PERIOD`].
pub const HISTORY_SAMPLES: usize = 900;
/// Streams that get a series; later streams have none until one of these ends.
pub const MAX_HISTORY_STREAMS: usize = 64;

/// Server-wide figures at one instant (rates over the period before it).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerSample {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Live connections.
    pub connections: u32,
    /// Of which publishing.
    pub publishers: u32,
    /// Of which playing.
    pub players: u32,
    /// Streams being published.
    pub streams: u32,
    /// Bytes received from clients over the period, as kbit/s.
    pub bitrate_in_kbps: f32,
    /// Bytes sent to clients over the period, as kbit/s.
    pub bitrate_out_kbps: f32,
}

/// One stream's figures at one instant (rates and delays over the period before it).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StreamSample {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Video payload received over the period, kbit/s.
    pub video_kbps: f32,
    /// Audio payload received over the period, kbit/s.
    pub audio_kbps: f32,
    /// Frame rate over the last keyframe interval (0: unknown yet).
    pub fps: f32,
    /// Media time between the last two keyframes, ms (0: fewer than two keyframes yet).
    pub keyframe_interval_ms: u32,
    /// Players attached.
    pub viewers: u32,
    /// Mean ingest delay of the frames that arrived in the period, ms (`None`: no frames).
    pub ingest_delay_ms: Option<f32>,
    /// Mean distribution delay of the frames handed to players in the period, ms.
    pub distribution_delay_ms: Option<f32>,
    /// Timestamp jumps (more than ±1 s between consecutive messages) since publishing began.
    pub timestamp_jumps: u32,
    /// Whether a publisher was live (false while the stream waits for one).
    pub publishing: bool,
}

/// A stream's series and the verdicts drawn from it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamHistory {
    /// Application.
    pub app: String,
    /// Stream name.
    pub stream: String,
    /// Oldest first.
    pub samples: Vec<StreamSample>,
    /// Health verdicts over the whole series (see [`verdicts`]).
    pub verdicts: Vec<Verdict>,
}

/// Counters the publisher's connection feeds (relaxed atomics, read once a second). The
/// bytes per kind come from the hub's stream (`StreamStatus::video_bytes_in`,
/// `audio_bytes_in`), counted there under the lock each push already takes.
#[derive(Debug, Default)]
pub(crate) struct StreamCounters {
    keyframe_interval_ms: AtomicU32,
    timestamp_jumps: AtomicU32,
}

impl StreamCounters {
    /// Media time between the last two keyframes.
    pub(crate) fn keyframe_interval(&self, ms: u32) {
        self.keyframe_interval_ms.store(ms, Ordering::Relaxed);
    }

    /// A timestamp jump in the published media.
    pub(crate) fn timestamp_jump(&self) {
        self.timestamp_jumps.fetch_add(1, Ordering::Relaxed);
    }

    /// A new publisher starts on the stream: its keyframe interval is not known yet.
    pub(crate) fn restart(&self) {
        self.keyframe_interval_ms.store(0, Ordering::Relaxed);
        self.timestamp_jumps.store(0, Ordering::Relaxed);
    }
}

/// One stream's series and what the previous sample saw, for the deltas.
#[derive(Debug, Default)]
struct StreamSeries {
    samples: VecDeque<StreamSample>,
    counters: Arc<StreamCounters>,
    last_bytes: Option<(u64, u64)>,
    last_ingest: (u64, Duration),
    last_distribution: (u64, Duration),
    audio_codec: Option<String>,
}

#[derive(Debug, Default)]
struct Store {
    server: VecDeque<ServerSample>,
    streams: HashMap<StreamKey, StreamSeries>,
    /// Counters of streams whose publisher started before the series existed, or beyond
    /// the series limit (fed, never sampled); pruned with the series.
    counters: HashMap<StreamKey, Arc<StreamCounters>>,
    last_bytes: Option<(Instant, u64, u64)>,
    /// Set while the sampler is parked (idle server): readers add a zero sample for now.
    parked: bool,
}

/// The history store (one per server).
#[derive(Debug)]
pub(crate) struct History {
    store: Mutex<Store>,
    /// Bumped after each sample: the API's server-sent events wait on it.
    updates: watch::Sender<u64>,
}

impl Default for History {
    fn default() -> History {
        History { store: Mutex::default(), updates: watch::Sender::new(0) }
    }
}

fn push_bounded<T>(series: &mut VecDeque<T>, sample: T) {
    if series.len() == HISTORY_SAMPLES {
        series.pop_front();
    }
    series.push_back(sample);
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// kbit/s from a byte delta over `dt`.
fn kbps(bytes: u64, dt: Duration) -> f32 {
    if dt.is_zero() {
        return 0.0;
    }
    (bytes as f64 * 8.0 / 1000.0 / dt.as_secs_f64()) as f32
}

/// Mean of the observations added since `last` (count, sum), ms.
fn interval_mean(h: &DelayHistogram, last: &mut (u64, Duration)) -> Option<f32> {
    let (count, sum) = (h.count.saturating_sub(last.0), h.sum.saturating_sub(last.1));
    *last = (h.count, h.sum);
    (count > 0).then(|| (sum.as_secs_f64() * 1000.0 / count as f64) as f32)
}

impl History {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counters a publisher of `key` feeds (the same ones across publishers).
    pub(crate) fn counters(&self, key: &StreamKey) -> Arc<StreamCounters> {
        let mut store = self.lock();
        if let Some(series) = store.streams.get(key) {
            return Arc::clone(&series.counters);
        }
        Arc::clone(store.counters.entry(key.clone()).or_default())
    }

    /// Server-wide series, oldest first.
    pub(crate) fn server(&self) -> Vec<ServerSample> {
        let store = self.lock();
        let mut v: Vec<_> = store.server.iter().copied().collect();
        if store.parked {
            v.push(ServerSample { at_ms: now_ms(), ..ServerSample::default() });
        }
        v
    }

    /// Every stream's series (the last `tail` samples of each), with verdicts.
    pub(crate) fn streams(&self, tail: usize) -> Vec<StreamHistory> {
        let store = self.lock();
        let mut v: Vec<_> = store
            .streams
            .iter()
            .map(|(key, series)| {
                let all: Vec<_> = series.samples.iter().copied().collect();
                let verdicts = verdicts(&all, series.audio_codec.as_deref());
                let skip = all.len().saturating_sub(tail);
                StreamHistory {
                    app: key.app.clone(),
                    stream: key.name.clone(),
                    samples: all.get(skip..).map(<[_]>::to_vec).unwrap_or_default(),
                    verdicts,
                }
            })
            .collect();
        v.sort_by(|a, b| (&a.app, &a.stream).cmp(&(&b.app, &b.stream)));
        v
    }

    /// One stream's whole series.
    pub(crate) fn stream(&self, app: &str, name: &str) -> Option<StreamHistory> {
        self.streams(HISTORY_SAMPLES).into_iter().find(|h| h.app == app && h.stream == name)
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.updates.subscribe()
    }

    /// The byte counters now (`bytes_in`, `bytes_out`): the next sample's rates start here.
    fn baseline(&self, bytes_in: u64, bytes_out: u64) {
        self.lock().last_bytes = Some((Instant::now(), bytes_in, bytes_out));
    }

    /// The sampler sleeps (idle server): readers see zeros up to the time they read.
    fn park(&self) {
        self.lock().parked = true;
    }

    /// The sampler wakes: the idle stretch is closed with a zero sample for now.
    fn resume(&self) {
        let mut store = self.lock();
        store.parked = false;
        push_bounded(&mut store.server, ServerSample { at_ms: now_ms(), ..Default::default() });
    }

    /// Takes one sample; false when the server is idle (no connection, no stream).
    fn sample(&self, totals: Totals, streams: Vec<StreamStatus>, now: Instant) -> bool {
        let at_ms = now_ms();
        let Totals { connections, publishers, players, bytes_in, bytes_out } = totals;
        let mut store = self.lock();
        store.parked = false;
        let (rate_in, rate_out) = match store.last_bytes.replace((now, bytes_in, bytes_out)) {
            Some((t, i, o)) => {
                let dt = now.duration_since(t);
                (kbps(bytes_in.saturating_sub(i), dt), kbps(bytes_out.saturating_sub(o), dt))
            }
            None => (0.0, 0.0),
        };
        let server = ServerSample {
            at_ms,
            connections,
            publishers,
            players,
            streams: streams.iter().filter(|s| s.publishing).count() as u32,
            bitrate_in_kbps: rate_in,
            bitrate_out_kbps: rate_out,
        };
        push_bounded(&mut store.server, server);
        store.streams.retain(|k, _| streams.iter().any(|s| s.app == k.app && s.name == k.name));
        store.counters.retain(|k, _| streams.iter().any(|s| s.app == k.app && s.name == k.name));
        for status in &streams {
            sample_stream(&mut store, status, at_ms);
        }
        let idle = connections == 0 && streams.is_empty();
        drop(store);
        self.updates.send_modify(|n| *n += 1);
        !idle
    }
}

/// Server-wide counts and byte counters at the time of a sample.
#[derive(Debug, Clone, Copy)]
struct Totals {
    connections: u32,
    publishers: u32,
    players: u32,
    bytes_in: u64,
    bytes_out: u64,
}

/// Bytes counted since `last`: the hub's counts restart at zero with each publisher, so a
/// count below the last one is all new.
fn since(now: u64, last: u64) -> u64 {
    if now >= last {
        now - last
    } else {
        now
    }
}

/// Adds `status` to its series (created for a publishing stream while there is room).
fn sample_stream(store: &mut Store, status: &StreamStatus, at_ms: u64) {
    let key = StreamKey::new(&status.app, &status.name);
    if !store.streams.contains_key(&key) {
        if !status.publishing || store.streams.len() >= MAX_HISTORY_STREAMS {
            return;
        }
        let counters = store.counters.remove(&key).unwrap_or_default();
        store.streams.insert(key.clone(), StreamSeries { counters, ..StreamSeries::default() });
    }
    let Some(series) = store.streams.get_mut(&key) else { return };
    let c = &series.counters;
    let bytes = (status.video_bytes_in, status.audio_bytes_in);
    let previous_at = series.samples.back().map(|s| s.at_ms);
    let (video_kbps, audio_kbps) = match (series.last_bytes.replace(bytes), previous_at) {
        (Some((v, a)), Some(t)) => {
            let dt = Duration::from_millis(at_ms.saturating_sub(t));
            (kbps(since(bytes.0, v), dt), kbps(since(bytes.1, a), dt))
        }
        // The series' first sample (taken within a period of the publish start): the
        // average since the publisher started rather than a zero that reads as a stall.
        _ => match status.publishing_for.filter(|d| *d >= Duration::from_millis(100)) {
            Some(dt) => (kbps(bytes.0, dt), kbps(bytes.1, dt)),
            None => (0.0, 0.0),
        },
    };
    if status.audio_codec.is_some() {
        series.audio_codec.clone_from(&status.audio_codec);
    }
    let sample = StreamSample {
        at_ms,
        video_kbps,
        audio_kbps,
        fps: status.fps.unwrap_or(0.0) as f32,
        keyframe_interval_ms: c.keyframe_interval_ms.load(Ordering::Relaxed),
        viewers: status.viewers as u32,
        ingest_delay_ms: interval_mean(&status.ingest_delay, &mut series.last_ingest),
        distribution_delay_ms: interval_mean(
            &status.distribution_delay,
            &mut series.last_distribution,
        ),
        timestamp_jumps: c.timestamp_jumps.load(Ordering::Relaxed),
        publishing: status.publishing && !status.source_lost,
    };
    push_bounded(&mut series.samples, sample);
}

/// The history (see [`crate::history`]).
impl crate::handle::ServerHandle {
    /// Server-wide samples of the last 15 minutes, oldest first (one a second while the
    /// server is busy; an idle stretch ends with a zero sample for now).
    pub fn history(&self) -> Vec<ServerSample> {
        self.shared.history.server()
    }

    /// One stream's samples of the last 15 minutes and its health verdicts; `None` for a
    /// stream without a series (unknown, never published, or beyond
    /// [`MAX_HISTORY_STREAMS`]).
    pub fn stream_history(&self, app: &str, name: &str) -> Option<StreamHistory> {
        self.shared.history.stream(app, name)
    }

    /// Every stream with a series, by app and name, each with its last `tail` samples and
    /// its verdicts (over the whole series).
    pub fn stream_histories(&self, tail: usize) -> Vec<StreamHistory> {
        self.shared.history.streams(tail)
    }

    /// Changes after every sample (a sequence number): wait on it to follow the history
    /// live. Nothing is sent while the sampler is parked (idle server).
    pub fn history_updates(&self) -> watch::Receiver<u64> {
        self.shared.history.subscribe()
    }
}

#[cfg(test)]
mod tests;
