//! The `local` directory: the rules of [`super::Directory`] kept in this process's memory.
//! A server alone uses it (its only node is itself); several servers in one process
//! (tests, an embedder's own cluster) can share one. It is also the reference the other
//! backends are tested against: the same conformance tests run on it and on Redis.

use std::collections::HashMap;
use std::sync::Mutex;

use openrtmp_hub::StreamKey;
use tokio::time::Instant;

use super::directory::{
    Claim, Directory, DirectoryFuture, HeartbeatReply, Lease, NodeRecord, NodeState, OwnedStream,
    Route,
};

/// A stream record.
#[derive(Clone, Debug)]
struct StreamRecord {
    owner: String,
    owner_epoch: String,
    epoch: u64,
}

#[derive(Debug, Default)]
struct State {
    /// Leases by node id, with when each expires.
    nodes: HashMap<String, (Lease, Instant)>,
    streams: HashMap<StreamKey, StreamRecord>,
    /// The stream epoch counter.
    counter: u64,
}

impl State {
    /// The live lease of `node`, if any.
    fn lease(&self, node: &str, now: Instant) -> Option<&Lease> {
        self.nodes.get(node).filter(|(_, until)| *until > now).map(|(lease, _)| lease)
    }

    /// The route of `key` if its record's owner lives with the record's epoch.
    fn route(&self, key: &StreamKey, now: Instant) -> Option<Route> {
        let record = self.streams.get(key)?;
        let lease = self.lease(&record.owner, now).filter(|l| l.epoch == record.owner_epoch)?;
        Some(Route {
            owner: record.owner.clone(),
            owner_epoch: record.owner_epoch.clone(),
            epoch: record.epoch,
            advertise_rtmp: lease.advertise_rtmp.clone(),
            owner_state: lease.state,
        })
    }

    fn write(&mut self, lease: &Lease, key: &StreamKey) -> u64 {
        self.counter += 1;
        let record = StreamRecord {
            owner: lease.node_id.clone(),
            owner_epoch: lease.epoch.clone(),
            epoch: self.counter,
        };
        self.streams.insert(key.clone(), record);
        self.counter
    }
}

/// A directory in this process's memory (`cluster.directory.kind: local`).
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    state: Mutex<State>,
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> MemoryDirectory {
        MemoryDirectory::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets everything, as a store restarted empty would (for tests of self-repair).
    pub fn clear(&self) {
        let mut state = self.state();
        state.nodes.clear();
        state.streams.clear();
    }
}

impl Directory for MemoryDirectory {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn heartbeat<'a>(
        &'a self,
        lease: &'a Lease,
        owned: &'a [OwnedStream],
    ) -> DirectoryFuture<'a, HeartbeatReply> {
        let now = Instant::now();
        let mut state = self.state();
        state.nodes.insert(lease.node_id.clone(), (lease.clone(), now + lease.ttl));
        let mut reply = HeartbeatReply::default();
        for stream in owned {
            match state.streams.get(&stream.key) {
                None => {
                    let record = StreamRecord {
                        owner: lease.node_id.clone(),
                        owner_epoch: lease.epoch.clone(),
                        epoch: stream.epoch,
                    };
                    state.counter = state.counter.max(stream.epoch);
                    state.streams.insert(stream.key.clone(), record);
                    reply.restored += 1;
                }
                Some(r)
                    if r.owner == lease.node_id
                        && r.owner_epoch == lease.epoch
                        && r.epoch == stream.epoch => {}
                Some(r) => {
                    let route = state.route(&stream.key, now).unwrap_or_else(|| Route {
                        owner: r.owner.clone(),
                        owner_epoch: r.owner_epoch.clone(),
                        epoch: r.epoch,
                        advertise_rtmp: String::new(),
                        owner_state: NodeState::Active,
                    });
                    reply.lost.push((stream.key.clone(), route));
                }
            }
        }
        Box::pin(std::future::ready(Ok(reply)))
    }

    fn claim<'a>(
        &'a self,
        lease: &'a Lease,
        key: &'a StreamKey,
        takeover: bool,
    ) -> DirectoryFuture<'a, Claim> {
        let now = Instant::now();
        let mut state = self.state();
        let held = state.route(key, now).filter(|route| {
            let itself = route.owner == lease.node_id && route.owner_epoch == lease.epoch;
            !takeover && !itself && route.owner_state == NodeState::Active
        });
        let claim = match held {
            Some(route) => Claim::Held(route),
            None => Claim::Claimed { epoch: state.write(lease, key) },
        };
        Box::pin(std::future::ready(Ok(claim)))
    }

    fn release<'a>(
        &'a self,
        lease: &'a Lease,
        key: &'a StreamKey,
        epoch: u64,
    ) -> DirectoryFuture<'a, ()> {
        let mut state = self.state();
        let ours = state.streams.get(key).is_some_and(|r| {
            r.owner == lease.node_id && r.owner_epoch == lease.epoch && r.epoch == epoch
        });
        if ours {
            state.streams.remove(key);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn resolve<'a>(&'a self, key: &'a StreamKey) -> DirectoryFuture<'a, Option<Route>> {
        let route = self.state().route(key, Instant::now());
        Box::pin(std::future::ready(Ok(route)))
    }

    fn nodes(&self) -> DirectoryFuture<'_, Vec<NodeRecord>> {
        let now = Instant::now();
        let mut list: Vec<NodeRecord> = self
            .state()
            .nodes
            .values()
            .filter(|(_, until)| *until > now)
            .map(|(lease, until)| NodeRecord {
                node_id: lease.node_id.clone(),
                epoch: lease.epoch.clone(),
                advertise_rtmp: lease.advertise_rtmp.clone(),
                state: lease.state,
                load: lease.load,
                expires_in: Some(until.saturating_duration_since(now)),
            })
            .collect();
        list.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        Box::pin(std::future::ready(Ok(list)))
    }

    fn leave<'a>(&'a self, lease: &'a Lease) -> DirectoryFuture<'a, ()> {
        let mut state = self.state();
        if state.nodes.get(&lease.node_id).is_some_and(|(l, _)| l.epoch == lease.epoch) {
            state.nodes.remove(&lease.node_id);
        }
        state.streams.retain(|_, r| !(r.owner == lease.node_id && r.owner_epoch == lease.epoch));
        Box::pin(std::future::ready(Ok(())))
    }
}
