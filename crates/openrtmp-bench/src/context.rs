//! What every connection task of a run shares: where to connect, the stream, the measured
//! window and the stop signal.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::conn::{RtmpConn, Target};
use crate::error::{ConnError, Phase};
use crate::marker;
use crate::synth::StreamProfile;

/// The measured window: statistics count only what happens in `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First instant measured (after the warm-up).
    pub start: Instant,
    /// End of the run.
    pub end: Instant,
}

/// Shared, read-only state of a run (plus the window, set once all connections are up).
#[derive(Debug)]
pub struct RunContext {
    /// The server.
    pub target: Target,
    /// Stream names are this prefix and the stream's index.
    pub stream_prefix: String,
    /// Outbound chunk size of every connection.
    pub chunk_size: u32,
    /// The synthetic stream publishers send.
    pub profile: StreamProfile,
    /// Time allowed for TCP connect + handshake + `connect` + publish/play start.
    pub setup_timeout: Duration,
    /// Local addresses connections are bound to, in turn (empty: the system's choice).
    pub sources: Vec<IpAddr>,
    /// Connections opened so far (picks the next source).
    pub opened: AtomicUsize,
    /// Set by the runner when the ramp-up is over; unset means "not measuring yet".
    pub window: OnceLock<Window>,
    /// Becomes `true` when the run ends; every task stops then.
    pub stop: watch::Receiver<bool>,
}

impl RunContext {
    /// The name of stream `index` (`bench0`, `bench1`, ...).
    pub fn stream_name(&self, index: usize) -> String {
        format!("{}{index}", self.stream_prefix)
    }

    /// Opens a connection to the target, from the next source address.
    pub async fn connect(&self) -> Result<RtmpConn, ConnError> {
        let n = self.opened.fetch_add(1, Ordering::Relaxed);
        let source = self.sources.get(n % self.sources.len().max(1)).copied();
        RtmpConn::open(&self.target, self.chunk_size, source).await
    }

    /// Whether `at` falls in the measured window.
    pub fn in_window(&self, at: Instant) -> bool {
        self.window.get().is_some_and(|w| at >= w.start && at < w.end)
    }

    /// Whether a frame whose marker says it was sent at `sent_nanos` (see
    /// [`marker::nanos_since_base`]) was sent in the measured window.
    pub fn sent_in_window(&self, sent_nanos: u64) -> bool {
        self.window.get().is_some_and(|w| {
            let (start, end) = (marker::nanos_since_base(w.start), marker::nanos_since_base(w.end));
            sent_nanos >= start && sent_nanos < end
        })
    }

    /// Resolves when the run is told to stop (or the runner is gone).
    pub async fn stopped(&self) {
        let mut stop = self.stop.clone();
        // An error means the sender was dropped: the run is over either way.
        let _ = stop.wait_for(|stopped| *stopped).await;
    }
}

/// Runs `step` until `deadline`, mapping a timeout to [`ConnError::Timeout`].
pub async fn within<T>(
    deadline: Instant,
    phase: Phase,
    step: impl std::future::Future<Output = Result<T, ConnError>>,
) -> Result<T, ConnError> {
    tokio::time::timeout_at(deadline.into(), step)
        .await
        .map_err(|_| ConnError::Timeout { phase })?
}

/// Tells the runner that a connection finished setting up (successfully or not): sent
/// explicitly once it publishes, plays or idles, and by `Drop` if it fails or is cancelled
/// first, so the runner never waits for a connection that is gone.
#[derive(Debug)]
pub struct ReadyGuard(Option<mpsc::UnboundedSender<()>>);

impl ReadyGuard {
    /// A guard that signals on `tx`.
    pub fn new(tx: mpsc::UnboundedSender<()>) -> Self {
        ReadyGuard(Some(tx))
    }

    /// Signals now (once).
    pub fn done(&mut self) {
        if let Some(tx) = self.0.take() {
            // The runner may have stopped waiting; that is fine.
            let _ = tx.send(());
        }
    }
}

impl Drop for ReadyGuard {
    fn drop(&mut self) {
        self.done();
    }
}
