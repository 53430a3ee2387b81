//! Events to the host: [`FfiEvent`], the [`EventListener`] the host implements, and the
//! bounded queue between the server's runtime and the `openrtmp-events` thread that calls
//! the listener.
//!
//! The queue holds at most [`EVENT_QUEUE_CAPACITY`] events. A listener that blocks (a
//! host that waits on its UI thread inside `on_event`, a debugger) must not make memory
//! grow, and the runtime's workers never wait for the host: when the queue is full a new
//! event is dropped, counted ([`crate::FfiStats::events_dropped`]) and logged at warn at
//! most every [`DROP_WARN_EVERY`]. After a drop the next event that fits is preceded by
//! the current counts (`StatsChanged`), so a host that catches up ends with the truth; the
//! other dropped events (network changes, re-binds) are lost, as their counterpart in the
//! server's own broadcast queue would be for a lagging receiver.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use openrtmp_server::platform::PlatformEvent;
use openrtmp_server::ServerHandle;

/// Most events waiting for the host's listener (the one it is handling not included).
/// The server sends `StatsChanged` at most every 250 ms (2 s in low-power mode) and the
/// other events once per host call or network change, so 64 is over 15 s of a listener
/// that does not return before anything drops; an event is under 100 bytes (a `Rebound`
/// adds its few addresses), so the queue holds a few KiB at most.
pub const EVENT_QUEUE_CAPACITY: usize = 64;

/// Least time between two warnings about dropped events.
pub(crate) const DROP_WARN_EVERY: Duration = Duration::from_secs(5);

/// What the server tells the host.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum FfiEvent {
    /// Streams or connections changed (at most every 250 ms; also sent once at start).
    StatsChanged {
        /// Streams.
        streams: u64,
        /// Open connections.
        connections: u64,
    },
    /// Bytes sent over cellular passed the warning threshold.
    CellularDataWarning {
        /// Bytes sent over cellular since start.
        bytes: u64,
        /// The threshold.
        threshold: u64,
    },
    /// The background time is nearly over: clients were told, connections are closing.
    BackgroundExpiring {
        /// Time left, ms.
        remaining_ms: u64,
    },
    /// Listeners were re-bound (network or policy change).
    Rebound {
        /// The addresses now listened on.
        addrs: Vec<String>,
    },
    /// A new network snapshot was applied (pushed by the host, or seen by the desktop
    /// watcher).
    NetworkChanged,
}

impl From<PlatformEvent> for FfiEvent {
    fn from(e: PlatformEvent) -> Self {
        match e {
            PlatformEvent::StatsChanged { streams, connections } => {
                FfiEvent::StatsChanged { streams: streams as u64, connections: connections as u64 }
            }
            PlatformEvent::CellularDataWarning { bytes, threshold } => {
                FfiEvent::CellularDataWarning { bytes, threshold }
            }
            PlatformEvent::BackgroundExpiring { remaining } => {
                FfiEvent::BackgroundExpiring { remaining_ms: remaining.as_millis() as u64 }
            }
            PlatformEvent::Rebound { addrs } => {
                FfiEvent::Rebound { addrs: addrs.iter().map(ToString::to_string).collect() }
            }
            PlatformEvent::NetworkChanged { .. } => FfiEvent::NetworkChanged,
        }
    }
}

/// Implemented by the host (Kotlin/Swift) to receive [`FfiEvent`]s. Called on a Rust
/// thread (`openrtmp-events`), one event at a time, in order. Return promptly: while it
/// runs, at most [`EVENT_QUEUE_CAPACITY`] further events wait and later ones are dropped
/// (counted in [`crate::FfiStats::events_dropped`]).
#[uniffi::export(with_foreign)]
pub trait EventListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: FfiEvent);
}

pub(crate) type SharedListener = Arc<RwLock<Option<Arc<dyn EventListener>>>>;

/// The sending side of the queue to the `openrtmp-events` thread; cloned into each run's
/// forwarding task. The drop count lives as long as the FFI object (across restarts).
#[derive(Debug, Clone)]
pub(crate) struct EventQueue {
    tx: mpsc::SyncSender<FfiEvent>,
    dropped: Arc<AtomicU64>,
}

/// Whether [`EventQueue::send`] got the event in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Queued.
    Queued,
    /// The queue was full: dropped and counted.
    Dropped,
    /// The event thread is gone (the FFI object is being dropped).
    Closed,
}

impl EventQueue {
    /// A queue of [`EVENT_QUEUE_CAPACITY`] events and the thread that empties it into the
    /// host's `listener`; the thread ends when every sender is gone.
    pub(crate) fn spawn(listener: SharedListener) -> std::io::Result<EventQueue> {
        let (tx, rx) = mpsc::sync_channel(EVENT_QUEUE_CAPACITY);
        std::thread::Builder::new()
            .name("openrtmp-events".into())
            .spawn(move || dispatch(rx, listener))?;
        Ok(EventQueue { tx, dropped: Arc::new(AtomicU64::new(0)) })
    }

    /// Queues `event` without waiting.
    pub(crate) fn send(&self, event: FfiEvent) -> Sent {
        match self.tx.try_send(event) {
            Ok(()) => Sent::Queued,
            Err(mpsc::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Sent::Dropped
            }
            Err(mpsc::TrySendError::Disconnected(_)) => Sent::Closed,
        }
    }

    /// Events dropped since the FFI object was made.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Calls the host's listener for each event, on this thread, until every sender is gone.
fn dispatch(rx: mpsc::Receiver<FfiEvent>, listener: SharedListener) {
    while let Ok(event) = rx.recv() {
        let current = listener.read().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(l) = current {
            l.on_event(event);
        }
    }
}

/// When to warn about dropped events: the first drop, then at most every
/// [`DROP_WARN_EVERY`], with the number dropped in between. Time is passed in.
#[derive(Debug, Default)]
pub(crate) struct DropWarning {
    last: Option<Instant>,
    /// Drops not reported yet.
    pending: u64,
}

impl DropWarning {
    /// One more drop at `now`; `Some(n)` if a warning for `n` drops is due now.
    pub(crate) fn on_drop(&mut self, now: Instant) -> Option<u64> {
        self.pending += 1;
        if self.last.is_some_and(|last| now.saturating_duration_since(last) < DROP_WARN_EVERY) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.pending))
    }
}

/// Sends the current counts once (so the host starts from the truth), then forwards every
/// [`PlatformEvent`] of the server (`StatsChanged` is coalesced by the server: at most every
/// 250 ms, only on change; no timer runs while nothing changes). A lagging receiver skips
/// to newer events and re-sends the current counts; so does the first event that fits in
/// the queue after some were dropped (see the module docs).
pub(crate) async fn forward(
    handle: ServerHandle,
    mut rx: tokio::sync::broadcast::Receiver<PlatformEvent>,
    queue: EventQueue,
) {
    use tokio::sync::broadcast::error::RecvError;
    let counts = |h: &ServerHandle| {
        let info = h.info();
        FfiEvent::StatsChanged {
            streams: info.streams as u64,
            connections: info.connections as u64,
        }
    };
    let mut warning = DropWarning::default();
    // Something was dropped since the host last got the current counts.
    let mut stale = false;
    let mut event = counts(&handle);
    loop {
        let is_stats = matches!(event, FfiEvent::StatsChanged { .. });
        if stale && !is_stats {
            // Not counted as a drop if it does not fit: it only repeats what is known.
            match queue.tx.try_send(counts(&handle)) {
                Ok(()) => stale = false,
                Err(mpsc::TrySendError::Full(_)) => {}
                Err(mpsc::TrySendError::Disconnected(_)) => return,
            }
        }
        match queue.send(event) {
            Sent::Queued => stale &= !is_stats,
            Sent::Dropped => {
                stale = true;
                if let Some(dropped) = warning.on_drop(Instant::now()) {
                    tracing::warn!(
                        dropped,
                        total = queue.dropped(),
                        capacity = EVENT_QUEUE_CAPACITY,
                        "openrtmp-ffi: the host's event listener is not keeping up; events dropped"
                    );
                }
            }
            Sent::Closed => return,
        }
        event = match rx.recv().await {
            Ok(e) => FfiEvent::from(e),
            Err(RecvError::Lagged(n)) => {
                tracing::debug!(skipped = n, "openrtmp-ffi: event forwarding lagged");
                counts(&handle)
            }
            Err(RecvError::Closed) => return,
        };
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::mpsc as std_mpsc;
    use std::sync::{Barrier, Mutex};

    use super::*;

    /// Waiting for an event that must come; generous, since it bounds a failure only.
    const COMES_WITHIN: Duration = Duration::from_secs(30);

    /// A host listener that blocks inside its first call until the test lets it go, and
    /// reports every event it gets.
    struct Stuck {
        barrier: Arc<Barrier>,
        first: Mutex<bool>,
        got: Mutex<std_mpsc::Sender<FfiEvent>>,
    }

    impl EventListener for Stuck {
        fn on_event(&self, event: FfiEvent) {
            let _ = self.got.lock().unwrap().send(event);
            let first = std::mem::replace(&mut *self.first.lock().unwrap(), false);
            if first {
                // Twice: once to say "inside the call", once to be let go.
                self.barrier.wait();
                self.barrier.wait();
            }
        }
    }

    /// A [`Stuck`] listener, the barrier that (1) tells it is inside its first call and
    /// (2) lets it go, and what it got.
    pub(crate) fn stuck_listener(
    ) -> (Arc<dyn EventListener>, Arc<Barrier>, std_mpsc::Receiver<FfiEvent>) {
        let barrier = Arc::new(Barrier::new(2));
        let (tx, rx) = std_mpsc::channel();
        let listener: Arc<dyn EventListener> = Arc::new(Stuck {
            barrier: barrier.clone(),
            first: Mutex::new(true),
            got: Mutex::new(tx),
        });
        (listener, barrier, rx)
    }

    fn stuck() -> (SharedListener, Arc<Barrier>, std_mpsc::Receiver<FfiEvent>) {
        let (listener, barrier, rx) = stuck_listener();
        (Arc::new(RwLock::new(Some(listener))), barrier, rx)
    }

    fn nth(i: u64) -> FfiEvent {
        FfiEvent::BackgroundExpiring { remaining_ms: i }
    }

    /// Regression: the queue to the listener was unbounded, so a listener that blocked
    /// made every later event wait in memory.
    #[test]
    fn a_stuck_listener_keeps_the_queue_bounded_and_drops_are_counted() {
        let (listener, barrier, got) = stuck();
        let queue = EventQueue::spawn(listener).unwrap();
        assert_eq!(queue.send(nth(0)), Sent::Queued);
        barrier.wait(); // the listener is inside its call for event 0
        let burst = 1_000u64;
        let sent: Vec<Sent> = (1..=burst).map(|i| queue.send(nth(i))).collect();
        let cap = EVENT_QUEUE_CAPACITY;
        assert!(sent[..cap].iter().all(|s| *s == Sent::Queued), "the first {cap} wait");
        assert!(sent[cap..].iter().all(|s| *s == Sent::Dropped), "the rest drop");
        assert_eq!(queue.dropped(), burst - cap as u64);

        barrier.wait(); // let it go: it gets event 0 and the queued ones, in order
        let received: Vec<FfiEvent> =
            (0..=cap).map(|_| got.recv_timeout(COMES_WITHIN).unwrap()).collect();
        assert_eq!(received, (0..=cap as u64).map(nth).collect::<Vec<_>>());
        // Nothing else was queued, and the queue takes events again.
        assert_eq!(queue.send(FfiEvent::NetworkChanged), Sent::Queued);
        assert_eq!(got.recv_timeout(COMES_WITHIN).unwrap(), FfiEvent::NetworkChanged);
        assert_eq!(queue.dropped(), burst - cap as u64, "nothing more dropped");
    }

    #[test]
    fn drop_warnings_are_rate_limited_and_carry_the_count() {
        let t0 = Instant::now();
        let mut w = DropWarning::default();
        assert_eq!(w.on_drop(t0), Some(1), "the first drop warns at once");
        assert_eq!(w.on_drop(t0 + Duration::from_secs(1)), None);
        assert_eq!(w.on_drop(t0 + DROP_WARN_EVERY - Duration::from_millis(1)), None);
        assert_eq!(w.on_drop(t0 + DROP_WARN_EVERY), Some(3), "the drops since the last one");
        assert_eq!(w.on_drop(t0 + DROP_WARN_EVERY), None);
        assert_eq!(w.on_drop(t0 + DROP_WARN_EVERY * 3), Some(2));
    }
}
