//! The `static` directory: a configured list of nodes and no store. Each stream has a home
//! node chosen by rendezvous hashing of its app and name over the list (the same choice
//! on every node; removing a node moves only the streams it had). A publish is taken only
//! by the stream's home; elsewhere it is refused with the home's address, and edges pull
//! from the home. Nothing is shared, so nothing can go stale, and nothing is known of
//! which nodes are up: a home that is down is down for its streams.

use openrtmp_hub::StreamKey;

use super::directory::{
    Claim, Directory, DirectoryFuture, HeartbeatReply, Lease, NodeLoad, NodeRecord, NodeState,
    OwnedStream, Route,
};

/// One node of a static cluster (`cluster.directory.nodes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticNode {
    /// Its `cluster.node_id`.
    pub id: String,
    /// Its advertised RTMP URL.
    pub rtmp: String,
}

/// A directory of a fixed node list (`cluster.directory.kind: static`).
#[derive(Debug, Clone)]
pub struct StaticDirectory {
    nodes: Vec<StaticNode>,
}

impl StaticDirectory {
    /// A directory over `nodes` (this node among them, by id).
    pub fn new(nodes: Vec<StaticNode>) -> StaticDirectory {
        StaticDirectory { nodes }
    }

    /// The home node of `key`: the highest rendezvous score.
    pub fn home(&self, key: &StreamKey) -> Option<&StaticNode> {
        self.nodes.iter().max_by_key(|node| score(key, &node.id))
    }

    fn route(&self, key: &StreamKey) -> Option<Route> {
        self.home(key).map(|node| Route {
            owner: node.id.clone(),
            owner_epoch: String::new(),
            epoch: 0,
            advertise_rtmp: node.rtmp.clone(),
            owner_state: NodeState::Active,
        })
    }
}

/// FNV-1a of the stream's app, name and the node id, finished with a 64-bit mix (so that
/// similar ids do not give similar scores).
fn score(key: &StreamKey, node: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [key.app.as_bytes(), b"/", key.name.as_bytes(), b"@", node.as_bytes()] {
        for &b in part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

impl Directory for StaticDirectory {
    fn kind(&self) -> &'static str {
        "static"
    }

    fn heartbeat<'a>(
        &'a self,
        _lease: &'a Lease,
        _owned: &'a [OwnedStream],
    ) -> DirectoryFuture<'a, HeartbeatReply> {
        Box::pin(std::future::ready(Ok(HeartbeatReply::default())))
    }

    fn claim<'a>(
        &'a self,
        lease: &'a Lease,
        key: &'a StreamKey,
        _takeover: bool,
    ) -> DirectoryFuture<'a, Claim> {
        let claim = match self.route(key) {
            Some(route) if route.owner != lease.node_id => Claim::Held(route),
            _ => Claim::Claimed { epoch: 0 },
        };
        Box::pin(std::future::ready(Ok(claim)))
    }

    fn release<'a>(
        &'a self,
        _lease: &'a Lease,
        _key: &'a StreamKey,
        _epoch: u64,
    ) -> DirectoryFuture<'a, ()> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn resolve<'a>(&'a self, key: &'a StreamKey) -> DirectoryFuture<'a, Option<Route>> {
        Box::pin(std::future::ready(Ok(self.route(key))))
    }

    fn nodes(&self) -> DirectoryFuture<'_, Vec<NodeRecord>> {
        let mut list: Vec<NodeRecord> = self
            .nodes
            .iter()
            .map(|n| NodeRecord {
                node_id: n.id.clone(),
                epoch: String::new(),
                advertise_rtmp: n.rtmp.clone(),
                state: NodeState::Active,
                load: NodeLoad::default(),
                expires_in: None,
            })
            .collect();
        list.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        Box::pin(std::future::ready(Ok(list)))
    }

    fn leave<'a>(&'a self, _lease: &'a Lease) -> DirectoryFuture<'a, ()> {
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<StaticNode> {
        (0..n)
            .map(|i| StaticNode { id: format!("n{i}"), rtmp: format!("rtmp://10.0.0.{i}") })
            .collect()
    }

    #[test]
    fn every_node_has_streams_and_removing_one_moves_only_its_own() {
        let (five, four) = (StaticDirectory::new(nodes(5)), StaticDirectory::new(nodes(4)));
        let mut per_node = std::collections::HashMap::new();
        for i in 0..1000 {
            let key = StreamKey::new("live", format!("s{i}"));
            let home = five.home(&key).map(|n| n.id.clone()).unwrap_or_default();
            *per_node.entry(home.clone()).or_insert(0) += 1;
            let after = four.home(&key).map(|n| n.id.clone()).unwrap_or_default();
            if home != "n4" {
                assert_eq!(home, after, "{key} moved though its home stayed");
            }
        }
        assert_eq!(per_node.len(), 5);
        assert!(per_node.values().all(|&n| n > 100), "{per_node:?}");
    }
}
