//! `cluster:` and `edge:` settings, and the directory they name.

use std::sync::Arc;
use std::time::Duration;

use super::directory::{Directory, DirectoryError};
use super::fixed::{StaticDirectory, StaticNode};
use super::memory::MemoryDirectory;

/// Default lease time to live: a node silent for this long is gone.
pub const DEFAULT_NODE_TTL: Duration = Duration::from_secs(5);
/// Default heartbeat interval: three heartbeats fit in one TTL, so one lost heartbeat (a
/// slow store, a GC pause) does not lose the lease.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(1500);
/// Default claim wait: longer than the TTL, so an encoder reconnecting to another node
/// after its origin crashed waits out the dead lease instead of being refused.
pub const DEFAULT_CLAIM_WAIT: Duration = Duration::from_secs(6);

/// Which directory backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DirectoryKind {
    /// This node alone, in memory.
    #[default]
    Local,
    /// A configured node list, rendezvous hashing, no store.
    Static,
    /// Redis or Valkey at `url` (needs the `redis` cargo feature).
    Redis,
}

impl DirectoryKind {
    /// The kind's name as the configuration spells it.
    pub fn name(self) -> &'static str {
        match self {
            DirectoryKind::Local => "local",
            DirectoryKind::Static => "static",
            DirectoryKind::Redis => "redis",
        }
    }
}

/// `cluster.directory`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectorySettings {
    /// The backend.
    pub kind: DirectoryKind,
    /// `redis://[user:password@]host:port[/db]` (or `rediss://`) for `redis`.
    pub url: Option<String>,
    /// Lease time to live.
    pub node_ttl: Duration,
    /// Heartbeat interval (below `node_ttl / 2`).
    pub heartbeat: Duration,
    /// The nodes of a `static` cluster (this one among them).
    pub nodes: Vec<StaticNode>,
}

impl Default for DirectorySettings {
    fn default() -> Self {
        DirectorySettings {
            kind: DirectoryKind::Local,
            url: None,
            node_ttl: DEFAULT_NODE_TTL,
            heartbeat: DEFAULT_HEARTBEAT,
            nodes: Vec::new(),
        }
    }
}

/// `cluster:` this node's place in a cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSettings {
    /// This node's id: stable for the node (a pod name); default the host name.
    pub node_id: String,
    /// Where other nodes and clients reach this node's RTMP listener
    /// (`rtmp://host:port`); default the first RTMP listener (loopback for a wildcard).
    pub advertise_rtmp: Option<String>,
    /// The stream directory.
    pub directory: DirectorySettings,
    /// How long a publish waits for a stream held by another node's lease (one that may
    /// have crashed) before it is refused.
    pub claim_wait: Duration,
    /// On a drain, how long the node keeps accepting connections after readiness went
    /// 503 (for the load balancer to take it out) before clients are told to reconnect.
    pub drain_start_wait: Duration,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            node_id: default_node_id(),
            advertise_rtmp: None,
            directory: DirectorySettings::default(),
            claim_wait: DEFAULT_CLAIM_WAIT,
            drain_start_wait: Duration::ZERO,
        }
    }
}

/// `edge:` pulling streams published on other nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EdgeSettings {
    /// A play of a stream with no local publisher looks up its origin in the directory and
    /// pulls it from there (one upstream per stream); default false.
    pub enabled: bool,
}

/// The host name (`HOSTNAME`, then the kernel's), else `openrtmp`.
fn default_node_id() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "openrtmp".to_owned())
}

/// The directory `settings` name. `redis` without the cargo feature is an error.
pub fn build_directory(settings: &DirectorySettings) -> Result<Arc<dyn Directory>, DirectoryError> {
    match settings.kind {
        DirectoryKind::Local => Ok(Arc::new(MemoryDirectory::new())),
        DirectoryKind::Static => Ok(Arc::new(StaticDirectory::new(settings.nodes.clone()))),
        // Without the `redis` cargo feature the constructor fails, saying so.
        DirectoryKind::Redis => {
            let url = settings.url.as_deref().unwrap_or("redis://127.0.0.1:6379");
            Ok(Arc::new(super::redis::RedisDirectory::new(url)?))
        }
    }
}

/// Whether this build has the Redis directory (the `redis` cargo feature).
pub const REDIS_AVAILABLE: bool = cfg!(feature = "redis");

/// `url` with its password (if any, and any query) replaced by `***`, for logs and
/// `config dump`: the Redis directory's own redaction.
pub fn redact_redis_url(url: &str) -> String {
    super::redis::redact_url(url)
}

#[cfg(test)]
mod tests {
    #[test]
    fn redis_passwords_are_redacted() {
        use super::redact_redis_url as r;
        assert_eq!(r("redis://:s3cret@redis:6379/0"), "redis://:***@redis:6379/0");
        assert_eq!(r("redis://app:s3cret@redis"), "redis://app:***@redis");
        assert_eq!(r("redis://redis:6379"), "redis://redis:6379");
    }
}
