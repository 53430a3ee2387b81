//! The directory conformance suite: the rules of [`Directory`] (see `directory.rs`) as
//! scenarios, run against every backend that keeps state: [`MemoryDirectory`] (the
//! reference) and, with the `redis` feature, [`super::RedisDirectory`] on a real
//! redis-server started per test (skipped locally without one, failing in CI).
//!
//! Time is real here (Redis expires leases on its own clock): leases live [`TTL`], and
//! everything that waits for an expiry polls until a generous deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openrtmp_hub::StreamKey;

use super::*;

/// Lease TTL of the scenarios: short, so an expiry is quick to wait out.
const TTL: Duration = Duration::from_millis(500);
/// How long a condition is polled before the test fails (a failure bound, not a figure).
const DEADLINE: Duration = Duration::from_secs(15);

/// A backend under test.
pub(super) struct Subject {
    pub(super) dir: Arc<dyn Directory>,
    /// Empties the store (a store restarted empty).
    pub(super) clear: Box<dyn Fn() + Send + Sync>,
}

fn memory() -> Subject {
    let dir = Arc::new(MemoryDirectory::new());
    let clear = Arc::clone(&dir);
    Subject { dir, clear: Box::new(move || clear.clear()) }
}

pub(super) fn lease(node: &str, epoch: &str) -> Lease {
    Lease {
        node_id: node.into(),
        epoch: epoch.into(),
        advertise_rtmp: format!("rtmp://{node}:1935"),
        state: NodeState::Active,
        load: NodeLoad::default(),
        ttl: TTL,
    }
}

fn draining(mut lease: Lease) -> Lease {
    lease.state = NodeState::Draining;
    lease
}

fn cam() -> StreamKey {
    StreamKey::new("live", "cam")
}

fn owned(key: &StreamKey, epoch: u64) -> Vec<OwnedStream> {
    vec![OwnedStream { key: key.clone(), epoch }]
}

async fn claimed(dir: &dyn Directory, lease: &Lease, key: &StreamKey, takeover: bool) -> u64 {
    match dir.claim(lease, key, takeover).await.unwrap() {
        Claim::Claimed { epoch } => epoch,
        Claim::Held(route) => {
            panic!("{} could not claim {key:?}: held by {route:?}", lease.node_id)
        }
    }
}

async fn held(dir: &dyn Directory, lease: &Lease, key: &StreamKey) -> Route {
    match dir.claim(lease, key, false).await.unwrap() {
        Claim::Held(route) => route,
        Claim::Claimed { epoch } => panic!("{} claimed {key:?} ({epoch})", lease.node_id),
    }
}

/// Polls `probe` until it returns `Some`, at most [`DEADLINE`].
pub(super) async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < end, "{what}: not within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn claim_refuse_and_resolve(s: &Subject) {
    let (a, b) = (lease("a", "a1"), lease("b", "b1"));
    let dir = &*s.dir;
    dir.heartbeat(&a, &[]).await.unwrap();
    dir.heartbeat(&b, &[]).await.unwrap();
    assert_eq!(dir.resolve(&cam()).await.unwrap(), None);
    let first = claimed(dir, &a, &cam(), false).await;
    // The owner claiming again (a publisher reconnecting to it) gets a newer epoch.
    let again = claimed(dir, &a, &cam(), false).await;
    assert!(again > first, "{again} > {first}");
    let route = held(dir, &b, &cam()).await;
    let want = Route {
        owner: "a".into(),
        owner_epoch: "a1".into(),
        epoch: again,
        advertise_rtmp: "rtmp://a:1935".into(),
        owner_state: NodeState::Active,
    };
    assert_eq!(route, want);
    assert_eq!(dir.resolve(&cam()).await.unwrap(), Some(want));
    // Names are arbitrary: `/` in an app or a name does not make two streams one.
    let (x, y) = (StreamKey::new("a/b", "c"), StreamKey::new("a", "b/c"));
    claimed(dir, &a, &x, false).await;
    claimed(dir, &b, &y, false).await;
    assert_eq!(dir.resolve(&x).await.unwrap().unwrap().owner, "a");
    assert_eq!(dir.resolve(&y).await.unwrap().unwrap().owner, "b");
}

async fn an_expired_lease_frees_its_streams(s: &Subject) {
    let (a, b) = (lease("a", "a1"), lease("b", "b1"));
    let dir = &*s.dir;
    dir.heartbeat(&a, &[]).await.unwrap();
    let epoch = claimed(dir, &a, &cam(), false).await;
    dir.heartbeat(&b, &[]).await.unwrap();
    held(dir, &b, &cam()).await;
    // `a` stops heartbeating: once its lease expires, `b` gets the stream.
    let second = eventually("a's lease expires", || async {
        dir.heartbeat(&b, &[]).await.unwrap();
        match dir.claim(&b, &cam(), false).await.unwrap() {
            Claim::Claimed { epoch } => Some(epoch),
            Claim::Held(_) => None,
        }
    })
    .await;
    assert!(second > epoch);
    let nodes = dir.nodes().await.unwrap();
    assert_eq!(nodes.iter().map(|n| n.node_id.as_str()).collect::<Vec<_>>(), ["b"]);
    // `a` comes back (a partition healed): its heartbeat reports the stream lost to `b`.
    let reply = dir.heartbeat(&a, &owned(&cam(), epoch)).await.unwrap();
    assert_eq!(reply.restored, 0);
    assert_eq!(reply.lost.len(), 1);
    let (key, route) = &reply.lost[0];
    assert_eq!(key, &cam());
    assert_eq!((route.owner.as_str(), route.epoch), ("b", second));
    assert_eq!(route.advertise_rtmp, "rtmp://b:1935");
}

async fn a_draining_owner_yields(s: &Subject) {
    let (a, b) = (lease("a", "a1"), lease("b", "b1"));
    let dir = &*s.dir;
    dir.heartbeat(&a, &[]).await.unwrap();
    let epoch = claimed(dir, &a, &cam(), false).await;
    dir.heartbeat(&draining(a.clone()), &owned(&cam(), epoch)).await.unwrap();
    let route = dir.resolve(&cam()).await.unwrap().unwrap();
    assert_eq!(route.owner_state, NodeState::Draining);
    assert!(claimed(dir, &b, &cam(), false).await > epoch);
}

async fn takeover_wins_and_fences_the_old_owner(s: &Subject) {
    let (a, b) = (lease("a", "a1"), lease("b", "b1"));
    let dir = &*s.dir;
    dir.heartbeat(&a, &[]).await.unwrap();
    let epoch = claimed(dir, &a, &cam(), false).await;
    // `b` has no lease yet: its takeover still wins.
    let taken = claimed(dir, &b, &cam(), true).await;
    assert!(taken > epoch);
    let reply = dir.heartbeat(&a, &owned(&cam(), epoch)).await.unwrap();
    // The new owner's lease is not live: the route names it without its address.
    let want = Route {
        owner: "b".into(),
        owner_epoch: "b1".into(),
        epoch: taken,
        advertise_rtmp: String::new(),
        owner_state: NodeState::Active,
    };
    assert_eq!(reply, HeartbeatReply { lost: vec![(cam(), want)], restored: 0 });
    assert_eq!(dir.resolve(&cam()).await.unwrap(), None);
    dir.heartbeat(&b, &owned(&cam(), taken)).await.unwrap();
    assert_eq!(dir.resolve(&cam()).await.unwrap().unwrap().advertise_rtmp, "rtmp://b:1935");
}

async fn a_restarted_node_does_not_hold_its_old_streams(s: &Subject) {
    let (a, b) = (lease("a", "a1"), lease("b", "b1"));
    let dir = &*s.dir;
    dir.heartbeat(&a, &[]).await.unwrap();
    let epoch = claimed(dir, &a, &cam(), false).await;
    // `a` restarts: same id, new process epoch. Its old record is no longer believed.
    let a2 = lease("a", "a2");
    dir.heartbeat(&a2, &[]).await.unwrap();
    assert_eq!(dir.resolve(&cam()).await.unwrap(), None);
    assert!(claimed(dir, &b, &cam(), false).await > epoch);
    // A heartbeat of the old process (it was not dead after all) finds the stream lost.
    let reply = dir.heartbeat(&a, &owned(&cam(), epoch)).await.unwrap();
    assert_eq!(reply.lost.len(), 1);
    assert_eq!(reply.lost[0].1.owner, "b");
}

async fn a_heartbeat_restores_an_emptied_store(s: &Subject) {
    let (a, b) = (lease("a", "a1"), lease("b", "b1"));
    let dir = &*s.dir;
    dir.heartbeat(&a, &[]).await.unwrap();
    // Several claims, so the counter is well past 1.
    for _ in 0..3 {
        claimed(dir, &a, &StreamKey::new("live", "other"), false).await;
    }
    let epoch = claimed(dir, &a, &cam(), false).await;
    let other = claimed(dir, &a, &StreamKey::new("live", "other"), false).await;
    let mine = [
        OwnedStream { key: cam(), epoch },
        OwnedStream { key: StreamKey::new("live", "other"), epoch: other },
    ];
    (s.clear)();
    assert_eq!(dir.resolve(&cam()).await.unwrap(), None);
    assert!(dir.nodes().await.unwrap().is_empty());
    let reply = dir.heartbeat(&a, &mine).await.unwrap();
    assert_eq!(reply, HeartbeatReply { lost: vec![], restored: 2 });
    let route = dir.resolve(&cam()).await.unwrap().unwrap();
    assert_eq!((route.owner.as_str(), route.epoch), ("a", epoch));
    // The next heartbeat finds everything in place.
    assert_eq!(dir.heartbeat(&a, &mine).await.unwrap(), HeartbeatReply::default());
    // A claim after the restore gets a newer epoch than every restored one.
    dir.heartbeat(&draining(a.clone()), &mine).await.unwrap();
    assert!(claimed(dir, &b, &cam(), false).await > other);
}

async fn release_removes_only_our_record(s: &Subject) {
    let (a, b) = (lease("a", "a1"), lease("b", "b1"));
    let dir = &*s.dir;
    dir.heartbeat(&a, &[]).await.unwrap();
    dir.heartbeat(&b, &[]).await.unwrap();
    let first = claimed(dir, &a, &cam(), false).await;
    let taken = claimed(dir, &b, &cam(), true).await;
    dir.release(&a, &cam(), first).await.unwrap();
    dir.release(&b, &cam(), first).await.unwrap();
    assert_eq!(dir.resolve(&cam()).await.unwrap().unwrap().epoch, taken);
    dir.release(&b, &cam(), taken).await.unwrap();
    assert_eq!(dir.resolve(&cam()).await.unwrap(), None);
    // Released: claimable again by anyone, at once.
    assert!(claimed(dir, &a, &cam(), false).await > taken);
}

async fn leave_removes_the_lease_and_this_process_records(s: &Subject) {
    let (a, b) = (lease("a", "a1"), lease("b", "b1"));
    let dir = &*s.dir;
    dir.heartbeat(&a, &[]).await.unwrap();
    dir.heartbeat(&b, &[]).await.unwrap();
    let (one, two, three) =
        (StreamKey::new("live", "1"), StreamKey::new("live", "2"), StreamKey::new("live", "3"));
    claimed(dir, &a, &one, false).await;
    claimed(dir, &a, &two, false).await;
    claimed(dir, &b, &three, false).await;
    dir.leave(&a).await.unwrap();
    assert_eq!(dir.resolve(&one).await.unwrap(), None);
    assert_eq!(dir.resolve(&two).await.unwrap(), None);
    assert_eq!(dir.resolve(&three).await.unwrap().unwrap().owner, "b");
    let ids = |nodes: Vec<NodeRecord>| nodes.into_iter().map(|n| n.node_id).collect::<Vec<_>>();
    assert_eq!(ids(dir.nodes().await.unwrap()), ["b"]);
    // A process that left late does not take its successor's lease or records with it.
    let a2 = lease("a", "a2");
    dir.heartbeat(&a2, &[]).await.unwrap();
    claimed(dir, &a2, &one, false).await;
    dir.leave(&a).await.unwrap();
    assert_eq!(ids(dir.nodes().await.unwrap()), ["a", "b"]);
    assert_eq!(dir.resolve(&one).await.unwrap().unwrap().owner_epoch, "a2");
}

async fn nodes_lists_live_leases_with_state_and_load(s: &Subject) {
    let dir = &*s.dir;
    let mut b = draining(lease("b", "b1"));
    b.load = NodeLoad { connections: 12, streams: 3, egress_bps: 4_500_000 };
    let a = lease("a", "a1");
    dir.heartbeat(&b, &[]).await.unwrap();
    dir.heartbeat(&a, &[]).await.unwrap();
    let nodes = dir.nodes().await.unwrap();
    assert_eq!(nodes.len(), 2);
    for (node, lease) in nodes.iter().zip([&a, &b]) {
        assert_eq!(node.node_id, lease.node_id);
        assert_eq!(node.epoch, lease.epoch);
        assert_eq!(node.advertise_rtmp, lease.advertise_rtmp);
        assert_eq!(node.state, lease.state);
        assert_eq!(node.load, lease.load);
        let left = node.expires_in.unwrap();
        assert!(left > Duration::ZERO && left <= TTL, "{left:?}");
    }
    // A heartbeat with another load replaces the lease.
    b.load.connections = 1;
    b.state = NodeState::Active;
    dir.heartbeat(&b, &[]).await.unwrap();
    let nodes = dir.nodes().await.unwrap();
    assert_eq!((nodes[1].load.connections, nodes[1].state), (1, NodeState::Active));
    // Both stop: the listing empties as the leases expire.
    eventually("leases expire", || async { dir.nodes().await.unwrap().is_empty().then_some(()) })
        .await;
}

/// One `#[tokio::test]` per scenario and backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory_backend {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&super::memory()).await;
                }
            )*
        }

        #[cfg(feature = "redis")]
        mod redis_backend {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some((subject, _server)) = super::redis_tests::subject() else { return };
                    super::$name(&subject).await;
                }
            )*
        }
    };
}

conformance!(
    claim_refuse_and_resolve,
    an_expired_lease_frees_its_streams,
    a_draining_owner_yields,
    takeover_wins_and_fences_the_old_owner,
    a_restarted_node_does_not_hold_its_old_streams,
    a_heartbeat_restores_an_emptied_store,
    release_removes_only_our_record,
    leave_removes_the_lease_and_this_process_records,
    nodes_lists_live_leases_with_state_and_load,
);

#[cfg(feature = "redis")]
mod redis_tests;
