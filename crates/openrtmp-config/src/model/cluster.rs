//! `cluster:` scale-out (node id, advertised address, the stream directory, claims, the
//! drain) and `edge:` (plays of streams published on other nodes pull them from there).

use serde::{Deserialize, Serialize};

use super::{check, Item, Shape, Spec};
use crate::unit::HumanDuration;

section! {
    /// `cluster:` this node's place in a cluster of OpenRTMP nodes.
    ClusterSection {
        /// This node's id (a pod name); default the host name.
        node_id: String,
        /// Where other nodes and clients reach this node's RTMP listener
        /// (`rtmp://host:port`); default the first RTMP listener.
        advertise_rtmp: String,
        /// The stream directory.
        directory: DirectorySection,
        /// How long a publish waits for a stream held by another node's lease before it
        /// is refused; default 6s.
        claim_wait: HumanDuration,
        /// On a drain, how long connections are still accepted after readiness went 503;
        /// default 0s.
        drain_start_wait: HumanDuration,
    }
}

section! {
    /// `cluster.directory:` where leases and stream owners are kept.
    DirectorySection {
        /// `local` (default), `static` or `redis`.
        kind: DirectoryKind,
        /// `redis://[user:password@]host:port[/db]` for `redis`.
        url: String,
        /// Lease time to live; default 5s.
        node_ttl: HumanDuration,
        /// Heartbeat interval, at most half the TTL; default 1.5s.
        heartbeat: HumanDuration,
        /// The nodes of a `static` cluster (this one among them).
        nodes: Vec<StaticNodeEntry>,
    }
}

section! {
    /// One node of `cluster.directory.nodes`.
    StaticNodeEntry {
        /// Its `cluster.node_id`.
        id: String,
        /// Its advertised RTMP URL.
        rtmp: String,
    }
}

section! {
    /// `edge:` pulling streams published on other nodes of the cluster.
    EdgeSection {
        /// A play of a stream with no local publisher finds its origin in the directory
        /// and pulls it; default false.
        enabled: bool,
    }
}

choice! {
    /// `cluster.directory.kind`.
    DirectoryKind, "a directory kind" {
        /// This node alone.
        Local = "local",
        /// A configured node list, no store.
        Static = "static",
        /// Redis or Valkey.
        Redis = "redis",
    }
}

const STATIC_NODE: Spec = Spec {
    name: "node",
    keys: StaticNodeEntry::KEYS,
    check: check::<StaticNodeEntry>,
    nested: &[],
};

const DIRECTORY: Spec = Spec {
    name: "directory",
    keys: DirectorySection::KEYS,
    check: check::<DirectorySection>,
    nested: &[("nodes", Shape::List(Item::Section(&STATIC_NODE)))],
};

pub(crate) const CLUSTER: Spec = Spec {
    name: "cluster",
    keys: ClusterSection::KEYS,
    check: check::<ClusterSection>,
    nested: &[("directory", Shape::Section(&DIRECTORY, false))],
};

pub(crate) const EDGE: Spec =
    Spec { name: "edge", keys: EdgeSection::KEYS, check: check::<EdgeSection>, nested: &[] };
