//! The drain's phases (SIGTERM, `POST /api/v1/drain`, a Windows service stop) and where it
//! sends clients. The sequence itself runs in `server.rs`:
//! 1. `start_wait`: readiness answers 503 and the lease says `draining` (other nodes may
//!    claim this node's streams, edges stop choosing it), connections are still accepted
//!    for `cluster.drain_start_wait` while the load balancer takes the node out;
//! 2. `reconnecting`: accepting stops; every client is told (`NetConnection.Connect.
//!    AppShutdown`), and those that announced the capability get the Enhanced RTMP v2
//!    `NetConnection.Connect.ReconnectRequest` naming the least-loaded active peer;
//! 3. `grace`: the others have `shutdown_grace` to finish;
//! 4. `releasing`: the lease and this node's stream records leave the directory;
//! 5. `done`.

use std::sync::atomic::Ordering;

use super::directory::NodeState;
use super::Cluster;

/// Where a drain is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum DrainPhase {
    /// Not draining.
    Serving = 0,
    /// Readiness 503, still accepting.
    StartWait = 1,
    /// Clients told to reconnect elsewhere.
    Reconnecting = 2,
    /// Waiting for the remaining clients, up to the grace.
    Grace = 3,
    /// Leaving the directory.
    Releasing = 4,
    /// Drained.
    Done = 5,
}

impl DrainPhase {
    /// Every phase, in order.
    pub const ALL: [DrainPhase; 6] = [
        DrainPhase::Serving,
        DrainPhase::StartWait,
        DrainPhase::Reconnecting,
        DrainPhase::Grace,
        DrainPhase::Releasing,
        DrainPhase::Done,
    ];

    /// The phase's name as the API and metrics spell it.
    pub fn name(self) -> &'static str {
        match self {
            DrainPhase::Serving => "serving",
            DrainPhase::StartWait => "start_wait",
            DrainPhase::Reconnecting => "reconnecting",
            DrainPhase::Grace => "grace",
            DrainPhase::Releasing => "releasing",
            DrainPhase::Done => "done",
        }
    }
}

impl Cluster {
    /// Where the drain is.
    pub fn phase(&self) -> DrainPhase {
        let n = self.phase.load(Ordering::Relaxed);
        DrainPhase::ALL.get(usize::from(n)).copied().unwrap_or(DrainPhase::Done)
    }

    /// Moves the drain to `phase` (the lease says `draining` from the first phase on).
    pub(crate) fn set_phase(&self, phase: DrainPhase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
        if phase != DrainPhase::Serving {
            self.lease.lock().unwrap_or_else(|e| e.into_inner()).state = NodeState::Draining;
        }
        self.wake.notify_one();
        tracing::info!(phase = phase.name(), "drain");
    }

    /// Chooses where the drain sends clients: the active peer with the fewest connections
    /// (`None` when the directory knows none, or cannot be asked: clients then reconnect
    /// to the address they used, the load balancer's).
    pub(crate) async fn choose_redirect(&self) -> Option<String> {
        let me = self.settings.node_id.clone();
        let nodes = self.nodes().await.ok()?;
        let best = nodes
            .into_iter()
            .filter(|n| n.node_id != me && n.state == NodeState::Active)
            .filter(|n| !n.advertise_rtmp.is_empty())
            .min_by_key(|n| (n.load.connections, n.node_id.clone()))?;
        let url = best.advertise_rtmp.trim_end_matches('/').to_owned();
        *self.redirect.lock().unwrap_or_else(|e| e.into_inner()) = Some(url.clone());
        tracing::info!(peer = %best.node_id, url = %url, "drain: clients are sent to the least-loaded peer");
        Some(url)
    }

    /// The `tcUrl` a client of `app` is told to reconnect to, if the drain chose a peer.
    pub(crate) fn redirect_for(&self, app: &str) -> Option<String> {
        let base = self.redirect.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
        Some(format!("{base}/{app}"))
    }

    /// Counts a reconnect request sent.
    pub(crate) fn reconnect_sent(&self) {
        self.stats.reconnect_requests.fetch_add(1, Ordering::Relaxed);
    }
}
