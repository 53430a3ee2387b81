//! The cluster part of [`ServerHandle`]: this node and its peers as the directory sees
//! them (`GET /api/v1/cluster`), where a stream is live (`GET /api/v1/streams/{app}/
//! {stream}/route`), and the drain (`POST /api/v1/drain`).

use std::sync::atomic::Ordering;

use openrtmp_hub::StreamKey;

use super::ServerHandle;
use crate::cluster::{DrainPhase, NodeRecord, NodeState, OwnedStream};

/// This node in its cluster.
#[derive(Debug, Clone)]
pub struct ClusterStatus {
    /// `cluster.node_id`.
    pub node_id: String,
    /// This process's epoch.
    pub epoch: String,
    /// The advertised RTMP URL.
    pub advertise_rtmp: String,
    /// Active or draining.
    pub state: NodeState,
    /// Where the drain is.
    pub phase: DrainPhase,
    /// The directory backend (`local`, `static`, `redis`).
    pub directory: &'static str,
    /// Edges on (`edge.enabled`).
    pub edge: bool,
    /// Every node with a live lease, this one included (empty when the directory cannot
    /// be asked: see `directory_error`).
    pub nodes: Vec<NodeRecord>,
    /// Why the directory could not be asked, if it could not.
    pub directory_error: Option<String>,
    /// Streams this node owns, with their epochs.
    pub owned: Vec<OwnedStream>,
    /// Claims: got, refused, got after waiting, taken unverified.
    pub claims: [u64; 4],
    /// Streams lost to another node's newer claim.
    pub fenced: u64,
    /// Directory errors: unavailable, bad answers.
    pub directory_errors: [u64; 2],
    /// Reconnect requests sent (drain).
    pub reconnect_requests: u64,
}

/// Where one stream is live, for `GET /api/v1/streams/{app}/{stream}/route`.
#[derive(Debug, Clone)]
pub struct StreamRoute {
    /// The owner node (`None`: the directory names none, or cannot be asked).
    pub owner: Option<String>,
    /// The owner's advertised RTMP URL.
    pub owner_rtmp: Option<String>,
    /// The stream epoch of the owner's claim.
    pub epoch: Option<u64>,
    /// Whether this node is the owner.
    pub local: bool,
    /// The upstream this node pulls the stream from (an edge's, redacted), if it does.
    pub upstream: Option<String>,
    /// That pull's state (`connecting`, `live`, `backoff`).
    pub upstream_state: Option<&'static str>,
    /// Times the pull's upstream changed while its players stayed.
    pub upstream_switches: u64,
    /// Why the directory could not be asked, if it could not.
    pub directory_error: Option<String>,
}

impl ServerHandle {
    /// This node and its peers as the directory sees them (one directory call).
    pub async fn cluster_status(&self) -> ClusterStatus {
        let cluster = &self.shared.cluster;
        let lease = cluster.lease();
        let (nodes, directory_error) = match cluster.nodes().await {
            Ok(nodes) => (nodes, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let s = &cluster.stats;
        let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        ClusterStatus {
            node_id: lease.node_id,
            epoch: lease.epoch,
            advertise_rtmp: lease.advertise_rtmp,
            state: lease.state,
            phase: cluster.phase(),
            directory: cluster.directory().kind(),
            edge: self.shared.config_arc().edge.enabled,
            nodes,
            directory_error,
            owned: cluster.owned_streams(),
            claims: [
                n(&s.claims_claimed),
                n(&s.claims_refused),
                n(&s.claims_waited),
                n(&s.claims_unverified),
            ],
            fenced: n(&s.streams_fenced),
            directory_errors: [n(&s.errors_unavailable), n(&s.errors_protocol)],
            reconnect_requests: n(&s.reconnect_requests),
        }
    }

    /// Where the stream `app`/`name` is live: its owner in the directory, and the upstream
    /// this node pulls it from.
    pub async fn stream_route(&self, app: &str, name: &str) -> StreamRoute {
        let key = StreamKey::new(app, name);
        let cluster = &self.shared.cluster;
        let local = cluster.owned_epoch(&key);
        let (route, directory_error) = match cluster.directory().resolve(&key).await {
            Ok(route) => (route, None),
            Err(e) => (None, Some(e.to_string())),
        };
        let pull = self.shared.relay.pull_of(&key);
        StreamRoute {
            owner: route.as_ref().map(|r| r.owner.clone()),
            owner_rtmp: route.as_ref().map(|r| r.advertise_rtmp.clone()),
            epoch: route.as_ref().map(|r| r.epoch).or(local),
            local: route.as_ref().is_some_and(|r| r.owner == cluster.settings().node_id),
            upstream: pull.as_ref().and_then(|p| p.origin.as_ref().map(|(_, url)| url.clone())),
            upstream_state: pull.as_ref().map(|p| p.state.name()),
            upstream_switches: pull.as_ref().map_or(0, |p| p.switches),
            directory_error,
        }
    }

    /// This node's cluster runtime: its counters (for `/metrics`), its lease, and
    /// [`crate::cluster::Cluster::set_directory`] for an embedder's own directory (before
    /// the server runs).
    pub fn cluster(&self) -> std::sync::Arc<crate::cluster::Cluster> {
        std::sync::Arc::clone(&self.shared.cluster)
    }

    /// Starts a drain (as SIGTERM does): readiness 503, the lease says draining, new
    /// connections still accepted for `cluster.drain_start_wait`, then clients told to
    /// reconnect (to a peer), the others given `shutdown_grace`, the directory left, and
    /// the server stops. False if a drain or shutdown had already begun.
    pub fn drain(&self) -> bool {
        let first = !self.shared.drain.is_cancelled() && !self.shared.draining.is_cancelled();
        self.shared.drain.cancel();
        first
    }
}
