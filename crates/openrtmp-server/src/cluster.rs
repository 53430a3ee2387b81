//! Scale-out: several nodes behind a TCP load balancer share a stream directory
//! ([`Directory`]) that says where each stream is live. A publisher lands on any node,
//! which claims the stream and becomes its origin; a player lands on any node, which (as an
//! edge, `edge.enabled`) finds the origin in the directory and pulls the stream from it
//! (`relay/pull.rs`, one upstream per stream per node). Nodes speak plain RTMP to each
//! other.
//!
//! This module is the node's side of the directory: its lease and heartbeat, the streams it
//! owns (claimed on publish, re-asserted by every heartbeat, released when they end), the
//! fencing of streams another node took, and the drain (state `draining` in the lease, the
//! reconnect target offered to clients). The directory is soft state: when it is down,
//! nothing live changes; new publishes are taken unverified and re-asserted when it is back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openrtmp_hub::StreamKey;

mod directory;
mod drain;
mod fixed;
mod memory;
pub(crate) mod node;
mod redis;
mod settings;
mod stats;

pub use directory::{
    Claim, Directory, DirectoryError, DirectoryFuture, HeartbeatReply, Lease, NodeLoad, NodeRecord,
    NodeState, OwnedStream, Route,
};
pub use drain::DrainPhase;
pub use fixed::{StaticDirectory, StaticNode};
pub use memory::MemoryDirectory;
pub use redis::RedisDirectory;
pub use settings::{
    build_directory, redact_redis_url, ClusterSettings, DirectoryKind, DirectorySettings,
    EdgeSettings, REDIS_AVAILABLE,
};
pub use stats::{ClusterStats, SwitchReason, GAP_BUCKETS_SECS};

/// A stream claimed this recently is not released for lacking a publisher yet: the claim
/// comes before the publisher reaches the hub (an edge's pull may be handing over for up
/// to `ORIGIN_TIMEOUT`).
const PRUNE_AFTER: Duration = Duration::from_secs(10);

/// A stream this node owns: its epoch and when it was claimed.
#[derive(Debug, Clone, Copy)]
struct Owned {
    epoch: u64,
    since: std::time::Instant,
}

impl Owned {
    fn new(epoch: u64) -> Owned {
        Owned { epoch, since: std::time::Instant::now() }
    }
}

/// A node alone writes its lease once (and at each drain phase) with this time to live.
const SOLO_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// While a claim is held by another node's lease, it is tried again this often, up to
/// `cluster.claim_wait`.
const CLAIM_RETRY: Duration = Duration::from_millis(250);

/// Why a publish is refused by the cluster (the description for
/// `NetStream.Publish.BadName`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// Another live node publishes the stream.
    #[error("stream {stream} is live on node {owner} ({url})")]
    Held {
        /// The stream name.
        stream: String,
        /// The owner's node id.
        owner: String,
        /// Its advertised RTMP URL.
        url: String,
    },
}

/// This node in its cluster.
#[derive(Debug)]
pub struct Cluster {
    settings: ClusterSettings,
    directory: Mutex<Arc<dyn Directory>>,
    lease: Mutex<Lease>,
    owned: Mutex<HashMap<StreamKey, Owned>>,
    phase: AtomicU8,
    /// Where clients are sent by the drain's reconnect requests (`rtmp://host:port`),
    /// chosen when the drain starts.
    redirect: Mutex<Option<String>>,
    /// Counters.
    pub stats: ClusterStats,
    /// Set by [`Cluster::set_directory`]: the directory may be shared with other nodes.
    shared_directory: std::sync::atomic::AtomicBool,
    /// Wakes the heartbeat task for a beat now (the drain's state change, a new directory).
    pub(crate) wake: tokio::sync::Notify,
}

impl Cluster {
    /// The node of `settings`, with `directory` (built from the settings by
    /// [`settings::build_directory`] unless an embedder brings its own).
    pub fn new(settings: ClusterSettings, directory: Arc<dyn Directory>) -> Cluster {
        let lease = Lease {
            node_id: settings.node_id.clone(),
            epoch: format!("{:016x}", rand::random::<u64>()),
            advertise_rtmp: settings.advertise_rtmp.clone().unwrap_or_default(),
            state: NodeState::Active,
            load: NodeLoad::default(),
            ttl: settings.directory.node_ttl,
        };
        Cluster {
            settings,
            directory: Mutex::new(directory),
            lease: Mutex::new(lease),
            owned: Mutex::new(HashMap::new()),
            phase: AtomicU8::new(DrainPhase::Serving as u8),
            redirect: Mutex::new(None),
            stats: ClusterStats::default(),
            shared_directory: std::sync::atomic::AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// The directory in use.
    pub fn directory(&self) -> Arc<dyn Directory> {
        Arc::clone(&self.directory.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Replaces the directory (an embedder's own, before the server runs).
    pub fn set_directory(&self, directory: Arc<dyn Directory>) {
        *self.directory.lock().unwrap_or_else(|e| e.into_inner()) = directory;
        self.shared_directory.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Whether this node is alone: the `local` directory of its own settings (no embedder's
    /// directory). Then there is nothing to coordinate: no claim is made (the hub refuses a
    /// second publisher itself) and the lease is written once, not every heartbeat, so an
    /// idle server does not wake up for it.
    pub(crate) fn solo(&self) -> bool {
        self.settings.directory.kind == DirectoryKind::Local
            && !self.shared_directory.load(Ordering::Relaxed)
    }

    /// This node's lease as last written.
    pub fn lease(&self) -> Lease {
        self.lease.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets this node's advertised RTMP URL (the server fills it from its listener when the
    /// configuration has none).
    pub(crate) fn set_advertise(&self, url: String) {
        self.lease.lock().unwrap_or_else(|e| e.into_inner()).advertise_rtmp = url;
    }

    fn set_load(&self, load: NodeLoad) {
        self.lease.lock().unwrap_or_else(|e| e.into_inner()).load = load;
    }

    fn owned(&self) -> std::sync::MutexGuard<'_, HashMap<StreamKey, Owned>> {
        self.owned.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The streams this node owns, with their epochs.
    pub fn owned_streams(&self) -> Vec<OwnedStream> {
        let mut list: Vec<OwnedStream> = self
            .owned()
            .iter()
            .map(|(key, o)| OwnedStream { key: key.clone(), epoch: o.epoch })
            .collect();
        list.sort_by(|a, b| (&a.key.app, &a.key.name).cmp(&(&b.key.app, &b.key.name)));
        list
    }

    /// The stream epoch this node holds `key` with, if it owns it.
    pub fn owned_epoch(&self, key: &StreamKey) -> Option<u64> {
        self.owned().get(key).map(|o| o.epoch)
    }

    fn count_error(&self, error: &DirectoryError) {
        let counter = match error {
            DirectoryError::Unavailable(_) => &self.stats.errors_unavailable,
            DirectoryError::Protocol(_) => &self.stats.errors_protocol,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Claims `key` for a publisher on this node: `Ok` with the stream epoch when the
    /// stream is this node's (or the directory cannot be asked: the claim is then
    /// re-asserted by the heartbeats, and fenced there if another node had it). While
    /// another node's lease holds it, tried again every 250 ms for up to
    /// `cluster.claim_wait` (an origin that crashed keeps its lease for the TTL: its
    /// encoder, reconnecting here, waits for it instead of being refused).
    pub async fn claim(&self, key: &StreamKey, takeover: bool) -> Result<u64, ClaimError> {
        if self.solo() {
            return Ok(0);
        }
        let started = tokio::time::Instant::now();
        let mut waited = false;
        loop {
            let lease = self.lease();
            let directory = self.directory();
            match directory.claim(&lease, key, takeover).await {
                Ok(Claim::Claimed { epoch }) => {
                    let counter =
                        if waited { &self.stats.claims_waited } else { &self.stats.claims_claimed };
                    counter.fetch_add(1, Ordering::Relaxed);
                    self.owned().insert(key.clone(), Owned::new(epoch));
                    tracing::info!(
                        app = %key.app, stream = %key.name, epoch, waited_ms = started.elapsed().as_millis() as u64,
                        directory = directory.kind(), "stream claimed"
                    );
                    return Ok(epoch);
                }
                Ok(Claim::Held(route)) => {
                    if started.elapsed() + CLAIM_RETRY > self.settings.claim_wait {
                        self.stats.claims_refused.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            app = %key.app, stream = %key.name, owner = %route.owner,
                            epoch = route.epoch, "publish refused: the stream is live on another node"
                        );
                        return Err(ClaimError::Held {
                            stream: key.name.clone(),
                            owner: route.owner,
                            url: route.advertise_rtmp,
                        });
                    }
                    if !waited {
                        tracing::info!(
                            app = %key.app, stream = %key.name, owner = %route.owner,
                            wait_ms = self.settings.claim_wait.as_millis() as u64,
                            "stream held by another node's lease: publish start waits"
                        );
                    }
                    waited = true;
                    tokio::time::sleep(CLAIM_RETRY).await;
                }
                Err(error) => {
                    self.count_error(&error);
                    self.stats.claims_unverified.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        app = %key.app, stream = %key.name, %error,
                        "directory unavailable: publish taken unverified (re-asserted when it is back)"
                    );
                    let epoch = 0;
                    self.owned().insert(key.clone(), Owned::new(epoch));
                    return Ok(epoch);
                }
            }
        }
    }

    /// The stream `key` ended here: its record goes (unless another node's claim is
    /// newer).
    pub async fn release(&self, key: &StreamKey) {
        let Some(Owned { epoch, .. }) = self.owned().remove(key) else { return };
        let (lease, directory) = (self.lease(), self.directory());
        if let Err(error) = directory.release(&lease, key, epoch).await {
            self.count_error(&error);
            tracing::debug!(app = %key.app, stream = %key.name, %error, "release failed (the record dies with the lease)");
        }
    }

    /// Where `key` is live on another node (`None`: nowhere, here, or the directory cannot
    /// be asked).
    pub async fn resolve(&self, key: &StreamKey) -> Result<Option<Route>, DirectoryError> {
        let directory = self.directory();
        match directory.resolve(key).await {
            Ok(route) => Ok(route.filter(|r| r.owner != self.settings.node_id)),
            Err(error) => {
                self.count_error(&error);
                Err(error)
            }
        }
    }

    /// Every node with a live lease.
    pub async fn nodes(&self) -> Result<Vec<NodeRecord>, DirectoryError> {
        let result = self.directory().nodes().await;
        if let Err(error) = &result {
            self.count_error(error);
        }
        result
    }

    /// One heartbeat: the lease (with `load`) written, the owned streams re-asserted.
    /// Returns the streams lost to another node whose local publishers must be dropped
    /// (fencing). While this node drains, lost streams are forgotten but none is returned:
    /// the drain's claim rule lets a peer take a draining node's stream as soon as its
    /// publisher, told to reconnect, publishes there, and that publisher keeps sending
    /// here until it switches at its next keyframe (make-before-break). Dropping it at
    /// this heartbeat would cut the frames of that window from every player of this node
    /// (edges included); it leaves on its own, and the grace bounds it.
    pub async fn heartbeat(
        &self,
        load: NodeLoad,
    ) -> Result<Vec<(StreamKey, Route)>, DirectoryError> {
        self.set_load(load);
        let (mut lease, owned, directory) = (self.lease(), self.owned_streams(), self.directory());
        if self.solo() {
            lease.ttl = SOLO_TTL;
        }
        let reply = match directory.heartbeat(&lease, &owned).await {
            Ok(reply) => reply,
            Err(error) => {
                self.count_error(&error);
                return Err(error);
            }
        };
        self.stats.heartbeats.fetch_add(1, Ordering::Relaxed);
        if reply.restored > 0 {
            self.stats.streams_restored.fetch_add(reply.restored as u64, Ordering::Relaxed);
            tracing::info!(
                restored = reply.restored,
                "directory had lost stream records: written back"
            );
        }
        let draining = self.phase() != DrainPhase::Serving;
        let mut owned = self.owned();
        for (key, route) in &reply.lost {
            owned.remove(key);
            if draining {
                tracing::info!(
                    app = %key.app, stream = %key.name, owner = %route.owner, epoch = route.epoch,
                    "stream taken over by another node during the drain: the local publisher finishes on its own"
                );
                continue;
            }
            self.stats.streams_fenced.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                app = %key.app, stream = %key.name, owner = %route.owner, epoch = route.epoch,
                "stream taken by another node: the local publisher is dropped"
            );
        }
        Ok(if draining { Vec::new() } else { reply.lost })
    }

    /// Forgets streams for which `live` is false (ended without an unpublish this node
    /// saw: a publisher's grace ran out); their records are released.
    pub(crate) async fn prune(&self, live: impl Fn(&StreamKey) -> bool) {
        let gone: Vec<StreamKey> = self
            .owned()
            .iter()
            .filter(|(k, o)| o.since.elapsed() >= PRUNE_AFTER && !live(k))
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            self.release(&key).await;
        }
    }

    /// Leaves the directory (the end of a drain): the lease and this node's records go.
    pub async fn leave(&self) {
        let (lease, directory) = (self.lease(), self.directory());
        self.owned().clear();
        if let Err(error) = directory.leave(&lease).await {
            self.count_error(&error);
            tracing::warn!(%error, "could not leave the directory: the lease expires on its own");
        }
    }
}

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;
