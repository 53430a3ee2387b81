//! The stream directory: where each node's lease and each stream's owner are kept. A trait
//! so that embedders can bring their own store; three backends ship: `local` (one node,
//! in memory: [`super::MemoryDirectory`]), `static` (a configured node list, rendezvous
//! hashing, no store: [`super::StaticDirectory`]) and `redis` (Redis or Valkey, behind the
//! `redis` cargo feature).
//!
//! Everything in a directory is soft state (see `docs/scale-out.md`):
//! - A node's **lease** is a record with a time to live, refreshed by every heartbeat. It
//!   carries the node's random per-process epoch, its advertised RTMP URL, its state
//!   (active or draining) and its load. A node whose lease expired is gone.
//! - A **stream record** names its owner node, that node's process epoch, and a stream
//!   epoch drawn from a counter that only grows. It has no TTL of its own: it is believed
//!   only while the owner's lease lives with the same process epoch.
//! - A claim succeeds when the stream has no record, when its owner's lease is gone or has
//!   another process epoch (the owner restarted), when the owner is draining, when the
//!   owner is the claiming node itself (same process epoch), or with `takeover`. It then
//!   writes a record with a new stream epoch.
//! - A heartbeat re-asserts every stream the node owns: a stream with no record (the store
//!   was emptied or restarted) is written back with its epoch; a stream whose record names
//!   another owner or another epoch is reported lost, and the node drops its publisher
//!   (fencing: the newer epoch wins, whoever comes back later).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openrtmp_hub::StreamKey;

/// What a directory call returns.
pub type DirectoryFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, DirectoryError>> + Send + 'a>>;

/// A directory call that failed. A failing directory never touches live streams: the node
/// keeps serving what it serves and retries at its next heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The store cannot be reached (connection refused, timed out, closed).
    #[error("directory unavailable: {0}")]
    Unavailable(String),
    /// The store answered something this node cannot use (a script error, a record in an
    /// unknown format).
    #[error("directory answered badly: {0}")]
    Protocol(String),
}

impl DirectoryError {
    /// The error's kind as metrics label it: `unavailable`, `protocol`.
    pub fn kind(&self) -> &'static str {
        match self {
            DirectoryError::Unavailable(_) => "unavailable",
            DirectoryError::Protocol(_) => "protocol",
        }
    }
}

/// A node's state as its lease says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Serving: takes publishers and players.
    #[default]
    Active,
    /// Going away: its streams may be claimed by other nodes, nobody should be sent to it.
    Draining,
}

impl NodeState {
    /// The state's name as leases and the API spell it: `active`, `draining`.
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Active => "active",
            NodeState::Draining => "draining",
        }
    }

    /// The state a lease's text names (`None` for an unknown one).
    pub fn parse(text: &str) -> Option<NodeState> {
        match text {
            "active" => Some(NodeState::Active),
            "draining" => Some(NodeState::Draining),
            _ => None,
        }
    }
}

/// A node's load as its lease carries it (for choosing where to send clients, and for the
/// API).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NodeLoad {
    /// Open connections (publishers, players, relays).
    pub connections: u64,
    /// Streams published here (local publishers and pulls).
    pub streams: u64,
    /// Bits per second sent to clients over the last heartbeat interval.
    pub egress_bps: u64,
}

/// This node's lease: written by every heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The node's id (`cluster.node_id`): stable across restarts (a pod name, a host
    /// name).
    pub node_id: String,
    /// Random per process (16 hex digits): a restarted node has a new one, so records of
    /// its previous life are not believed.
    pub epoch: String,
    /// Where other nodes and clients reach its RTMP listener (`rtmp://host:port`).
    pub advertise_rtmp: String,
    /// Active or draining.
    pub state: NodeState,
    /// The load at the last heartbeat.
    pub load: NodeLoad,
    /// How long the lease lives without a heartbeat (`cluster.directory.node_ttl`).
    pub ttl: Duration,
}

/// A node as the directory sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRecord {
    /// The node's id.
    pub node_id: String,
    /// Its process epoch.
    pub epoch: String,
    /// Its advertised RTMP URL.
    pub advertise_rtmp: String,
    /// Active or draining.
    pub state: NodeState,
    /// Its load at its last heartbeat.
    pub load: NodeLoad,
    /// Time left on its lease (`None`: the backend does not know, as `static`).
    pub expires_in: Option<Duration>,
}

/// A stream this node owns, as heartbeats re-assert it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnedStream {
    /// The stream.
    pub key: StreamKey,
    /// The stream epoch its claim got.
    pub epoch: u64,
}

/// Where a stream is live: its owner and the epoch of the owner's claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The owner's node id.
    pub owner: String,
    /// The owner's process epoch.
    pub owner_epoch: String,
    /// The stream epoch of the owner's claim.
    pub epoch: u64,
    /// The owner's advertised RTMP URL (`rtmp://host:port`).
    pub advertise_rtmp: String,
    /// The owner's state.
    pub owner_state: NodeState,
}

/// What a claim got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The stream is this node's, with this stream epoch.
    Claimed {
        /// The new stream epoch.
        epoch: u64,
    },
    /// Another live, active node owns the stream.
    Held(Route),
}

/// What a heartbeat found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeartbeatReply {
    /// Streams this node believed it owned that another owner or epoch holds now, with
    /// the new owner: the node must drop their publishers.
    pub lost: Vec<(StreamKey, Route)>,
    /// Streams that had no record and were written back (the store was emptied).
    pub restored: usize,
}

/// A stream directory. Every method is one round trip to the store (one atomic script
/// where the store has them); none keeps state in the node beyond what it is given, so a
/// node restarted or a store emptied repairs itself at the next heartbeat.
pub trait Directory: Send + Sync + fmt::Debug {
    /// The backend's name: `local`, `static`, `redis`, or an embedder's.
    fn kind(&self) -> &'static str;

    /// Writes `lease` (with its TTL) and re-asserts every stream in `owned` (see the
    /// module docs).
    fn heartbeat<'a>(
        &'a self,
        lease: &'a Lease,
        owned: &'a [OwnedStream],
    ) -> DirectoryFuture<'a, HeartbeatReply>;

    /// Claims `key` for the node of `lease` (see the module docs for when it succeeds);
    /// `takeover` claims it whoever holds it.
    fn claim<'a>(
        &'a self,
        lease: &'a Lease,
        key: &'a StreamKey,
        takeover: bool,
    ) -> DirectoryFuture<'a, Claim>;

    /// Removes the record of `key` if it still names this node with `epoch` (a newer
    /// owner's record is left alone).
    fn release<'a>(
        &'a self,
        lease: &'a Lease,
        key: &'a StreamKey,
        epoch: u64,
    ) -> DirectoryFuture<'a, ()>;

    /// Where `key` is live: its owner, if the record's owner lease lives with the
    /// record's process epoch.
    fn resolve<'a>(&'a self, key: &'a StreamKey) -> DirectoryFuture<'a, Option<Route>>;

    /// Every node with a live lease, sorted by id.
    fn nodes(&self) -> DirectoryFuture<'_, Vec<NodeRecord>>;

    /// The node of `lease` leaves: its lease and every record naming it with its epoch go.
    fn leave<'a>(&'a self, lease: &'a Lease) -> DirectoryFuture<'a, ()>;
}
