//! `cluster` and `edge` to the server's cluster settings and back.

use openrtmp_server::cluster::{
    ClusterSettings, DirectoryKind as Kind, DirectorySettings, EdgeSettings, StaticNode,
};

use super::Checker;
use crate::model::{ClusterSection, DirectoryKind, DirectorySection, EdgeSection, StaticNodeEntry};
use crate::unit::HumanDuration;

/// An advertised address: `rtmp://host:port` or `rtmp://host`, nothing after the host.
fn check_advertise(path: &str, url: &str, k: &mut Checker) {
    let rest = url.strip_prefix("rtmp://").or_else(|| url.strip_prefix("rtmps://"));
    match rest {
        None => k.fail(path, format!("{url:?} is not an rtmp:// URL")),
        Some(host) if host.is_empty() || host.trim_end_matches('/').contains('/') => k.fail(
            path,
            format!("{url:?} must be rtmp://host:port (no application: it is added per stream)"),
        ),
        Some(_) if url.contains(char::is_whitespace) => {
            k.fail(path, format!("{url:?} must not contain spaces"))
        }
        Some(_) => {}
    }
}

/// The `cluster` section of a file into `c`.
pub(super) fn cluster(s: &ClusterSection, c: &mut ClusterSettings, k: &mut Checker) {
    if let Some(id) = &s.node_id {
        if id.is_empty() || id.len() > 253 || id.contains(char::is_whitespace) {
            k.fail(
                "cluster.node_id",
                format!("{id:?} is not a node id (1 to 253 characters, no spaces)"),
            );
        }
        c.node_id = id.clone();
    }
    if let Some(url) = &s.advertise_rtmp {
        check_advertise("cluster.advertise_rtmp", url, k);
        c.advertise_rtmp = Some(url.trim_end_matches('/').to_owned());
    }
    if let Some(wait) = s.claim_wait {
        c.claim_wait = wait.0;
    }
    if let Some(wait) = s.drain_start_wait {
        c.drain_start_wait = wait.0;
    }
    directory(&s.directory.clone().unwrap_or_default(), &mut c.directory, k);
}

fn directory(s: &DirectorySection, d: &mut DirectorySettings, k: &mut Checker) {
    if let Some(kind) = s.kind {
        d.kind = match kind {
            DirectoryKind::Local => Kind::Local,
            DirectoryKind::Static => Kind::Static,
            DirectoryKind::Redis => Kind::Redis,
        };
    }
    if let Some(url) = &s.url {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("redis://") || lower.starts_with("rediss://")) {
            k.fail("cluster.directory.url", "expected redis://host:port[/db]".into());
        }
        d.url = Some(url.clone());
    }
    if let Some(ttl) = s.node_ttl {
        d.node_ttl = k.nonzero("cluster.directory.node_ttl", ttl.0);
    }
    if let Some(beat) = s.heartbeat {
        d.heartbeat = k.nonzero("cluster.directory.heartbeat", beat.0);
    }
    if d.heartbeat * 2 > d.node_ttl {
        k.fail(
            "cluster.directory.heartbeat",
            format!(
                "{} ms is more than half of node_ttl ({} ms): one late heartbeat would lose the lease",
                d.heartbeat.as_millis(),
                d.node_ttl.as_millis()
            ),
        );
    }
    if let Some(nodes) = &s.nodes {
        d.nodes = nodes.iter().enumerate().map(|(i, n)| node(i, n, k)).collect();
    }
    match d.kind {
        Kind::Redis if d.url.is_none() => {
            k.required("cluster.directory.url", " (redis://host:port for kind redis)")
        }
        Kind::Static if d.nodes.is_empty() => {
            k.required("cluster.directory.nodes", " (the nodes of a static cluster)")
        }
        _ => {}
    }
    if d.kind == Kind::Redis && !openrtmp_server::cluster::REDIS_AVAILABLE {
        k.fail(
            "cluster.directory.kind",
            "this build has no Redis directory (cargo feature `redis`)".into(),
        );
    }
}

fn node(i: usize, n: &StaticNodeEntry, k: &mut Checker) -> StaticNode {
    let path = format!("cluster.directory.nodes[{i}]");
    if n.id.as_deref().is_none_or(str::is_empty) {
        k.required(&format!("{path}.id"), " (the node's cluster.node_id)");
    }
    match &n.rtmp {
        Some(url) => check_advertise(&format!("{path}.rtmp"), url, k),
        None => k.required(&format!("{path}.rtmp"), " (rtmp://host:port)"),
    }
    StaticNode {
        id: n.id.clone().unwrap_or_default(),
        rtmp: n.rtmp.as_deref().unwrap_or_default().trim_end_matches('/').to_owned(),
    }
}

/// The `edge` section of a file into `e`.
pub(super) fn edge(s: &EdgeSection, e: &mut EdgeSettings) {
    e.enabled = s.enabled.unwrap_or(e.enabled);
}

/// The full `cluster` section of `c`.
pub(super) fn dump(c: &ClusterSettings, redact: bool) -> ClusterSection {
    let d = &c.directory;
    ClusterSection {
        node_id: Some(c.node_id.clone()),
        advertise_rtmp: c.advertise_rtmp.clone(),
        directory: Some(DirectorySection {
            kind: Some(match d.kind {
                Kind::Local => DirectoryKind::Local,
                Kind::Static => DirectoryKind::Static,
                Kind::Redis => DirectoryKind::Redis,
            }),
            url: d.url.as_deref().map(|u| {
                if redact {
                    openrtmp_server::cluster::redact_redis_url(u)
                } else {
                    u.to_owned()
                }
            }),
            node_ttl: Some(HumanDuration(d.node_ttl)),
            heartbeat: Some(HumanDuration(d.heartbeat)),
            nodes: Some(
                d.nodes
                    .iter()
                    .map(|n| StaticNodeEntry { id: Some(n.id.clone()), rtmp: Some(n.rtmp.clone()) })
                    .collect(),
            ),
        }),
        claim_wait: Some(HumanDuration(c.claim_wait)),
        drain_start_wait: Some(HumanDuration(c.drain_start_wait)),
    }
}

/// The full `edge` section of `e`.
pub(super) fn dump_edge(e: &EdgeSettings) -> EdgeSection {
    EdgeSection { enabled: Some(e.enabled) }
}
