//! One push target: its identity (stream, URL with the key redacted), the state it reports
//! and its counters, and the reconnect backoff.
//!
//! The state is written by the target's own task and read by whoever lists targets (the
//! API later): a small mutex, taken once per batch and per state change, never across an
//! await.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use openrtmp_hub::StreamKey;
use rand::Rng;
use tokio_util::sync::CancellationToken;

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
    /// Publishing, and its socket keeps taking what we send.
    Live,
    /// Publishing, but a write has been waiting for the socket for longer than the stall
    /// threshold: the target (or the path to it) does not keep up.
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
    /// What it is doing now. An API target waiting for its stream to go live is
    /// `Connecting`: it will connect as soon as a publisher starts.
    pub state: TargetState,
    /// When it entered that state.
    pub since: SystemTime,
    /// Payload bytes handed to the target's socket (all connections).
    pub bytes_sent: u64,
    /// Frames (audio, video, data) sent (all connections).
    pub frames_sent: u64,
    /// Frames the media pump skipped because the target did not keep up.
    pub dropped_frames: u64,
    /// Connections made after the first (an API target's connection for a later
    /// publication counts as one).
    pub reconnects: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
}

/// The mutable part of a target, behind its mutex.
#[derive(Debug)]
struct Status {
    /// The state, with a backoff's deadline as an instant (turned into seconds on read).
    phase: Phase,
    since: SystemTime,
    bytes_sent: u64,
    frames_sent: u64,
    /// Drops of the connections before the current one plus the current pump's.
    dropped_frames: u64,
    connections: u64,
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
        cancel: CancellationToken,
    ) -> Target {
        let redacted = super::redact_url(&url);
        let status = Status {
            phase: Phase::Connecting,
            since: SystemTime::now(),
            bytes_sent: 0,
            frames_sent: 0,
            dropped_frames: 0,
            connections: 0,
            last_error: None,
        };
        Target {
            id,
            key,
            url,
            redacted,
            origin,
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
        self.set(Phase::Connecting);
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, phase: Phase) {
        let mut s = self.status();
        s.phase = phase;
        s.since = SystemTime::now();
    }

    /// A connection attempt starts.
    pub(crate) fn connecting(&self) {
        let mut s = self.status();
        s.connections += 1;
        s.phase = Phase::Connecting;
        s.since = SystemTime::now();
    }

    /// Publishing and the socket drains. Only a change of state moves `since`.
    pub(crate) fn live(&self) {
        let mut s = self.status();
        if !matches!(s.phase, Phase::Live) {
            s.phase = Phase::Live;
            s.since = SystemTime::now();
        }
    }

    pub(crate) fn stalled(&self) {
        self.set(Phase::Stalled);
    }

    pub(crate) fn backoff(&self, until: Instant, error: String) {
        let mut s = self.status();
        s.phase = Phase::Backoff(until);
        s.since = SystemTime::now();
        s.last_error = Some(error);
    }

    pub(crate) fn failed(&self, reason: String) {
        let mut s = self.status();
        s.last_error = Some(reason.clone());
        s.phase = Phase::Failed(reason);
        s.since = SystemTime::now();
    }

    /// Counts what one batch sent.
    pub(crate) fn sent(&self, frames: u64, bytes: u64) {
        let mut s = self.status();
        s.frames_sent += frames;
        s.bytes_sent += bytes;
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
            state,
            since: s.since,
            bytes_sent: s.bytes_sent,
            frames_sent: s.frames_sent,
            dropped_frames: s.dropped_frames,
            reconnects: s.connections.saturating_sub(1),
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
