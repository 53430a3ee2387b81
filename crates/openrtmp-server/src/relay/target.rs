//! One push target: its identity (stream, URL with the key redacted), the state it reports
//! and its counters, and the reconnect backoff.
//!
//! The state is written by the target's own task and read by whoever lists targets (the
//! API, `/metrics`): a small mutex, taken once per batch and per state change, never
//! across an await. Each change of state is logged here, once, with the target's fields
//! (URL redacted) and the reason.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use openrtmp_hub::StreamKey;
use rand::Rng;
use tokio_util::sync::CancellationToken;

mod rate;

use rate::Rate;
pub use rate::RATE_WINDOW;

/// First wait after a failed connection: short, so a target that blinked (a restarted
/// server) is back within a second or two.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// Longest wait between attempts: an ingest down for minutes is tried twice a minute, not
/// hammered, and comes back at most this long after it recovers (plus the connect time).
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A connection that stayed up this long was healthy: the next failure starts over at
/// [`BACKOFF_INITIAL`] instead of continuing to double.
pub const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(30);

/// What a push target is doing, as reported to operators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetState {
    /// Connecting, handshaking, or waiting for `NetStream.Publish.Start`.
    Connecting,
    /// Publishing, and the target keeps acknowledging what we send (or, for a target that
    /// never acknowledges, its socket keeps draining). See `relay/push/health.rs` for the
    /// exact rule.
    Live,
    /// Publishing, but the target has not acknowledged (or its socket has not taken) what
    /// we send for longer than the stall threshold: it (or the path to it) does not keep
    /// up or does not read.
    Stalled,
    /// Waiting before the next attempt.
    Backoff {
        /// Time left until the next attempt.
        retry_in: Duration,
    },
    /// Stopped for good: the target answered something that will not change on retry.
    Failed {
        /// The server's answer (code and description) or the local reason.
        reason: String,
    },
}

impl TargetState {
    /// The state's name as the API and logs spell it: `connecting`, `live`, `stalled`,
    /// `backoff`, `failed`.
    pub fn name(&self) -> &'static str {
        match self {
            TargetState::Connecting => "connecting",
            TargetState::Live => "live",
            TargetState::Stalled => "stalled",
            TargetState::Backoff { .. } => "backoff",
            TargetState::Failed { .. } => "failed",
        }
    }
}

/// Where a push target comes from, which decides how long it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetOrigin {
    /// A rule of the configuration (`relay.push`) or `--push`: made for one publication,
    /// gone when it ends, made again by the next one.
    Config,
    /// Added through the API (`ServerHandle::add_push_target`): stays attached to its
    /// stream across publications (waiting, listed as `connecting`, while the stream is
    /// not live) until it is removed.
    Api,
}

impl TargetOrigin {
    /// The origin's name as the API spells it: `config` or `api`.
    pub fn name(self) -> &'static str {
        match self {
            TargetOrigin::Config => "config",
            TargetOrigin::Api => "api",
        }
    }
}

/// A snapshot of one push target, for listings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetStatus {
    /// Unique within the server's life.
    pub id: u64,
    /// The application of the stream it pushes.
    pub app: String,
    /// The stream name it pushes.
    pub stream: String,
    /// Where it pushes, with the stream key redacted ([`super::redact_url`]).
    pub url: String,
    /// Configuration rule or API.
    pub origin: TargetOrigin,
    /// An API target tied to the publication it was attached to: removed when the
    /// stream's publisher ends, instead of waiting for the next one (a browser studio's
    /// targets end with its tab even if its goodbye never arrives).
    pub until_unpublish: bool,
    /// What it is doing now. An API target waiting for its stream to go live is
    /// `Connecting`: it will connect as soon as a publisher starts.
    pub state: TargetState,
    /// When it entered that state.
    pub since: SystemTime,
    /// Bytes written to the target's socket (all connections; RTMP framing and handshake
    /// included, as the target's acknowledgements count them).
    pub bytes_sent: u64,
    /// Bytes the target acknowledged receiving (RTMP Acknowledgements, all connections).
    pub bytes_acked: u64,
    /// Whether the target acknowledges on its current (or last) connection; a target that
    /// never does is judged by its socket draining.
    pub acknowledges: bool,
    /// Bits per second written to the target over the last [`RATE_WINDOW`].
    pub bitrate_bps: u64,
    /// Frames (audio, video, data) sent (all connections).
    pub frames_sent: u64,
    /// Frames waiting in the stream's ring for this target (its queue), as of its last
    /// batch.
    pub queue_frames: u64,
    /// Media time waiting for this target, as of its last batch.
    pub queue_ms: u32,
    /// Frames the media pump skipped because the target did not keep up.
    pub dropped_frames: u64,
    /// Connections made after the first (an API target's connection for a later
    /// publication counts as one).
    pub reconnects: u64,
    /// Time since the target went `live` (kept while `stalled`: the connection is the
    /// same); `None` in other states.
    pub uptime: Option<Duration>,
    /// The last error, if any.
    pub last_error: Option<String>,
}

/// The mutable part of a target, behind its mutex.
#[derive(Debug)]
struct Status {
    /// The state, with a backoff's deadline as an instant (turned into seconds on read).
    phase: Phase,
    since: SystemTime,
    /// Bytes written and acknowledged by the connections before the current one.
    sent_before: u64,
    acked_before: u64,
    /// The current connection's counts.
    conn_sent: u64,
    conn_acked: u64,
    acknowledges: bool,
    rate: Rate,
    frames_sent: u64,
    queue_frames: u64,
    queue_ms: u32,
    /// Drops of the connections before the current one plus the current pump's.
    dropped_frames: u64,
    connections: u64,
    /// When the current connection went live.
    live_since: Option<Instant>,
    last_error: Option<String>,
}

#[derive(Debug, Clone)]
enum Phase {
    Connecting,
    Live,
    Stalled,
    Backoff(Instant),
    Failed(String),
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::Connecting => "connecting",
            Phase::Live => "live",
            Phase::Stalled => "stalled",
            Phase::Backoff(_) => "backoff",
            Phase::Failed(_) => "failed",
        }
    }
}

/// One push target.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) id: u64,
    pub(crate) key: StreamKey,
    /// The full URL, key included: never logged, never shown.
    pub(crate) url: String,
    /// The URL with the key redacted: what logs and listings show.
    pub(crate) redacted: String,
    pub(crate) origin: TargetOrigin,
    /// Removed when its stream's publisher ends (API targets only; configuration targets
    /// always are): see [`TargetStatus::until_unpublish`].
    pub(crate) until_unpublish: bool,
    /// Cancelled when the target is removed (API) or the server shuts down (a child of
    /// the relay's shutdown token): its task ends its publication politely and stops.
    pub(crate) cancel: CancellationToken,
    /// Whether a task runs for it. Read and written only under the relay's list lock, so
    /// that a publication that starts while the task retires starts exactly one task.
    running: AtomicBool,
    status: Mutex<Status>,
}

impl Target {
    pub(crate) fn new(
        id: u64,
        key: StreamKey,
        url: String,
        origin: TargetOrigin,
        until_unpublish: bool,
        cancel: CancellationToken,
    ) -> Target {
        let redacted = super::redact_url(&url);
        let status = Status {
            phase: Phase::Connecting,
            since: SystemTime::now(),
            sent_before: 0,
            acked_before: 0,
            conn_sent: 0,
            conn_acked: 0,
            acknowledges: false,
            rate: Rate::default(),
            frames_sent: 0,
            queue_frames: 0,
            queue_ms: 0,
            dropped_frames: 0,
            connections: 0,
            live_since: None,
            last_error: None,
        };
        Target {
            id,
            key,
            url,
            redacted,
            origin,
            until_unpublish,
            cancel,
            running: AtomicBool::new(false),
            status: Mutex::new(status),
        }
    }

    /// Whether a task runs for the target (call under the relay's list lock).
    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// Records that a task runs, or no longer does (call under the relay's list lock).
    pub(crate) fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::Relaxed);
    }

    /// Waits for its stream's next publication: listed as `connecting`.
    pub(crate) fn waiting(&self) {
        self.set(Phase::Connecting, None);
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves to `phase`; a change of state (not a repeat) moves `since` and is logged
    /// once, with `reason` (already redacted).
    fn set(&self, phase: Phase, reason: Option<&str>) {
        let mut s = self.status();
        if std::mem::discriminant(&s.phase) == std::mem::discriminant(&phase) {
            return;
        }
        let from = s.phase.name();
        s.live_since = match phase {
            Phase::Live => s.live_since.or(Some(Instant::now())),
            Phase::Stalled => s.live_since,
            _ => None,
        };
        s.phase = phase;
        s.since = SystemTime::now();
        let (to, retry_in_ms) = match &s.phase {
            Phase::Backoff(until) => {
                let left = until.saturating_duration_since(Instant::now());
                ("backoff", Some(u64::try_from(left.as_millis()).unwrap_or(u64::MAX)))
            }
            other => (other.name(), None),
        };
        let (bytes_sent, bytes_acked) =
            (s.sent_before + s.conn_sent, s.acked_before + s.conn_acked);
        drop(s);
        let (app, stream, url) = (&self.key.app, &self.key.name, &self.redacted);
        match to {
            "stalled" | "backoff" | "failed" => tracing::warn!(
                app = %app, stream = %stream, target = self.id, %url, from, to, reason,
                retry_in_ms, bytes_sent, bytes_acked, "push target state"
            ),
            _ => tracing::info!(
                app = %app, stream = %stream, target = self.id, %url, from, to, reason,
                bytes_sent, bytes_acked, "push target state"
            ),
        }
    }

    /// A connection attempt starts: the previous connection's counts are folded in.
    pub(crate) fn connecting(&self) {
        {
            let mut s = self.status();
            s.connections += 1;
            s.sent_before += std::mem::take(&mut s.conn_sent);
            s.acked_before += std::mem::take(&mut s.conn_acked);
            s.acknowledges = false;
        }
        self.set(Phase::Connecting, None);
    }

    /// Published and proven to read what we send (see `relay/push/health.rs`).
    pub(crate) fn live(&self) {
        self.set(Phase::Live, None);
    }

    /// Published, but the target has not read for the stall threshold.
    /// Back to `connecting` after a stall while connecting: the target answered at last
    /// (the same connection; nothing is counted).
    pub(crate) fn answered(&self) {
        self.set(Phase::Connecting, None);
    }

    pub(crate) fn stalled(&self, reason: &str) {
        self.set(Phase::Stalled, Some(reason));
    }

    pub(crate) fn backoff(&self, until: Instant, error: String) {
        self.status().last_error = Some(error.clone());
        self.set(Phase::Backoff(until), Some(&error));
    }

    pub(crate) fn failed(&self, reason: String) {
        self.status().last_error = Some(reason.clone());
        self.set(Phase::Failed(reason.clone()), Some(&reason));
    }

    /// The current connection wrote `sent` bytes of which the target acknowledged `acked`
    /// (`acknowledges`: whether it ever did on this connection).
    pub(crate) fn progress(&self, sent: u64, acked: u64, acknowledges: bool) {
        let mut s = self.status();
        s.conn_sent = sent;
        s.conn_acked = acked.min(sent);
        s.acknowledges = acknowledges;
        let total = s.sent_before + sent;
        s.rate.record(Instant::now(), total);
    }

    /// The target's queue in the stream's ring, after a batch.
    pub(crate) fn queue(&self, frames: u64, ms: u32) {
        let mut s = self.status();
        (s.queue_frames, s.queue_ms) = (frames, ms);
    }

    /// Counts the frames one batch sent.
    pub(crate) fn sent(&self, frames: u64) {
        self.status().frames_sent += frames;
    }

    /// Counts frames the pump dropped (new since the last call).
    pub(crate) fn dropped(&self, frames: u64) {
        if frames > 0 {
            self.status().dropped_frames += frames;
        }
    }

    /// A snapshot for listings.
    pub(crate) fn snapshot(&self) -> TargetStatus {
        let s = self.status();
        let state = match &s.phase {
            Phase::Connecting => TargetState::Connecting,
            Phase::Live => TargetState::Live,
            Phase::Stalled => TargetState::Stalled,
            Phase::Backoff(until) => {
                TargetState::Backoff { retry_in: until.saturating_duration_since(Instant::now()) }
            }
            Phase::Failed(reason) => TargetState::Failed { reason: reason.clone() },
        };
        TargetStatus {
            id: self.id,
            app: self.key.app.clone(),
            stream: self.key.name.clone(),
            url: self.redacted.clone(),
            origin: self.origin,
            until_unpublish: self.until_unpublish,
            state,
            since: s.since,
            bytes_sent: s.sent_before + s.conn_sent,
            bytes_acked: s.acked_before + s.conn_acked,
            acknowledges: s.acknowledges,
            bitrate_bps: s.rate.bits_per_second(Instant::now()),
            frames_sent: s.frames_sent,
            queue_frames: s.queue_frames,
            queue_ms: s.queue_ms,
            dropped_frames: s.dropped_frames,
            reconnects: s.connections.saturating_sub(1),
            uptime: s.live_since.map(|t| t.elapsed()),
            last_error: s.last_error.clone(),
        }
    }
}

/// Exponential backoff with jitter: the n-th consecutive failure waits a random time in
/// `[d/2, d]` where `d = min(BACKOFF_INITIAL * 2^n, BACKOFF_MAX)`, so targets that failed
/// together (an ingest restart) do not all come back in the same instant, and no wait
/// exceeds [`BACKOFF_MAX`].
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The bound of the next wait (before jitter).
    pub(crate) fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(16)).unwrap_or(u32::MAX);
        BACKOFF_INITIAL.saturating_mul(factor).min(BACKOFF_MAX)
    }

    /// The wait after a connection that failed having stayed up for `lasted`.
    pub(crate) fn next(&mut self, lasted: Duration) -> Duration {
        if lasted >= BACKOFF_RESET_AFTER {
            self.failures = 0;
        }
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let half = ceiling / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_bound_and_resets_after_a_healthy_connection() {
        let mut b = Backoff::default();
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            ceilings.push(b.ceiling().as_secs());
            let wait = b.next(Duration::ZERO);
            assert!(wait <= BACKOFF_MAX && wait >= BACKOFF_INITIAL / 2, "{wait:?}");
        }
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 30, 30, 30]);
        let wait = b.next(BACKOFF_RESET_AFTER);
        assert!(wait <= BACKOFF_INITIAL, "{wait:?}");
        assert_eq!(b.ceiling(), Duration::from_secs(2));
    }
}
