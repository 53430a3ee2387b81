//! The node's cluster task: a heartbeat every `cluster.directory.heartbeat` (lease and
//! load written, owned streams re-asserted, streams that ended without an unpublish
//! released, streams another node took fenced) until the server stops.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use openrtmp_hub::StreamKey;

use super::directory::NodeLoad;
use crate::shared::Shared;

/// Directory failures are logged at most this often (the heartbeat keeps trying).
const ERROR_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs the heartbeats until the server's shutdown.
pub(crate) async fn run(shared: Arc<Shared>) {
    let cluster = Arc::clone(&shared.cluster);
    let every = cluster.settings().directory.heartbeat;
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut egress = Egress::new(&shared);
    let mut last_error_log: Option<Instant> = None;
    let mut failing = false;
    beat(&shared, &mut egress, &mut last_error_log, &mut failing).await;
    loop {
        // A node alone beats only when woken (a drain phase, a directory set by an
        // embedder): an idle server must not wake up every heartbeat for nothing.
        let solo = cluster.solo();
        tokio::select! {
            _ = ticker.tick(), if !solo => {}
            () = cluster.wake.notified() => {}
            _ = shared.shutdown.cancelled() => return,
        }
        if cluster.phase() >= super::DrainPhase::Releasing {
            return;
        }
        beat(&shared, &mut egress, &mut last_error_log, &mut failing).await;
    }
}

/// One heartbeat.
async fn beat(
    shared: &Arc<Shared>,
    egress: &mut Egress,
    last_error_log: &mut Option<Instant>,
    failing: &mut bool,
) {
    let cluster = &shared.cluster;
    cluster.prune(|key| live(shared, key)).await;
    let load = NodeLoad {
        connections: shared.counter.total() as u64,
        streams: shared.hub.streams().iter().filter(|s| s.publishing).count() as u64,
        egress_bps: egress.sample(shared),
    };
    let timeout = cluster.settings().directory.heartbeat.max(std::time::Duration::from_millis(500));
    let result = match tokio::time::timeout(timeout, cluster.heartbeat(load)).await {
        Ok(result) => result,
        Err(_) => Err(super::DirectoryError::Unavailable(format!(
            "heartbeat timed out after {} ms",
            timeout.as_millis()
        ))),
    };
    match result {
        Ok(lost) => {
            if *failing {
                tracing::info!(directory = cluster.directory().kind(), "directory reachable again");
                *failing = false;
            }
            for (key, route) in lost {
                fence(shared, &key, &route.owner);
            }
        }
        Err(error) => {
            let due = last_error_log.is_none_or(|at| at.elapsed() >= ERROR_LOG_EVERY);
            if due || !*failing {
                tracing::warn!(%error, directory = cluster.directory().kind(), "heartbeat failed: live streams carry on");
                *last_error_log = Some(Instant::now());
            }
            *failing = true;
        }
    }
}

/// A publisher of `key` stopped here: the directory record goes at once (not at the next
/// heartbeat), unless another local publisher holds the key now.
pub(crate) fn release_when_ended(shared: &Arc<Shared>, key: StreamKey) {
    if shared.cluster.owned_epoch(&key).is_none() {
        return;
    }
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        if !live(&shared, &key) {
            shared.cluster.release(&key).await;
        }
    });
}

/// Whether `key` still has a publisher here (or one held for its reconnect grace).
fn live(shared: &Shared, key: &StreamKey) -> bool {
    shared.hub.stream(key).is_some_and(|s| s.publishing || s.source_lost)
}

/// Drops the local publisher of `key` (another node's newer claim holds the stream): its
/// connection is closed, a held grace is cut short.
fn fence(shared: &Shared, key: &StreamKey, owner: &str) {
    let held = shared.held.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    if let Some((_, end)) = held {
        end.cancel();
    }
    let publisher = shared.hub.stream(key).and_then(|s| s.publisher_owner);
    if let Some(conn) = publisher.and_then(|id| shared.registry.get(id)) {
        tracing::warn!(
            app = %key.app, stream = %key.name, conn_id = conn.id, owner,
            "publisher dropped: its stream was claimed by another node (fenced)"
        );
        conn.kick.cancel();
    }
}

/// Bytes sent to clients between heartbeats, as bits per second.
struct Egress {
    bytes: u64,
    at: Instant,
}

impl Egress {
    fn new(shared: &Shared) -> Egress {
        Egress { bytes: shared.stats.bytes_out.load(Ordering::Relaxed), at: Instant::now() }
    }

    fn sample(&mut self, shared: &Shared) -> u64 {
        let (bytes, at) = (shared.stats.bytes_out.load(Ordering::Relaxed), Instant::now());
        let secs = at.duration_since(self.at).as_secs_f64();
        let bps = if secs > 0.0 {
            (bytes.saturating_sub(self.bytes) as f64 * 8.0 / secs) as u64
        } else {
            0
        };
        (self.bytes, self.at) = (bytes, at);
        bps
    }
}
