use std::sync::Arc;
use std::time::Duration;

use super::*;

fn node(id: &str, dir: &Arc<MemoryDirectory>, claim_wait: Duration) -> Cluster {
    let settings = ClusterSettings {
        node_id: id.into(),
        advertise_rtmp: Some(format!("rtmp://{id}:1935")),
        directory: DirectorySettings { node_ttl: Duration::from_secs(5), ..Default::default() },
        claim_wait,
        drain_start_wait: Duration::ZERO,
    };
    let cluster = Cluster::new(settings, Arc::new(MemoryDirectory::new()));
    // Shared with the other nodes of the test (a node's own `local` directory is solo).
    cluster.set_directory(Arc::clone(dir) as Arc<dyn Directory>);
    cluster
}

#[tokio::test]
async fn a_node_alone_makes_no_claims_and_writes_a_lease_that_lasts() {
    let dir = Arc::new(MemoryDirectory::new());
    let solo = Cluster::new(ClusterSettings::default(), Arc::clone(&dir) as Arc<dyn Directory>);
    assert!(solo.solo());
    assert_eq!(solo.claim(&key(), false).await, Ok(0));
    assert!(solo.owned_streams().is_empty(), "nothing to release later");
    solo.heartbeat(NodeLoad::default()).await.unwrap();
    let nodes = dir.nodes().await.unwrap();
    assert!(nodes[0].expires_in.unwrap() > Duration::from_secs(3600), "{nodes:?}");
}

fn key() -> StreamKey {
    StreamKey::new("live", "cam")
}

#[tokio::test(start_paused = true)]
async fn a_second_node_is_refused_while_the_first_lives_and_wins_once_its_lease_expires() {
    let dir = Arc::new(MemoryDirectory::new());
    let (o1, o2) =
        (node("o1", &dir, Duration::from_secs(1)), node("o2", &dir, Duration::from_secs(1)));
    o1.heartbeat(NodeLoad::default()).await.unwrap();
    o2.heartbeat(NodeLoad::default()).await.unwrap();
    let first = o1.claim(&key(), false).await.unwrap();
    let refused = o2.claim(&key(), false).await.unwrap_err();
    assert!(refused.to_string().contains("live on node o1 (rtmp://o1:1935)"), "{refused}");
    assert_eq!(o2.stats.claims_refused.load(Ordering::Relaxed), 1);
    // o1 crashes: no more heartbeats. After its TTL, o2's claim waits it out.
    tokio::time::advance(Duration::from_secs(5)).await;
    o2.heartbeat(NodeLoad::default()).await.unwrap();
    let second = o2.claim(&key(), false).await.unwrap();
    assert!(second > first);
    // o1 comes back (a partition healed): its heartbeat finds the stream lost.
    let lost = o1.heartbeat(NodeLoad::default()).await.unwrap();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].1.owner, "o2");
    assert!(o1.owned_epoch(&key()).is_none());
}

#[tokio::test(start_paused = true)]
async fn a_claim_waits_for_a_dead_lease_up_to_the_claim_wait() {
    let dir = Arc::new(MemoryDirectory::new());
    let (o1, o2) =
        (node("o1", &dir, Duration::from_secs(6)), node("o2", &dir, Duration::from_secs(6)));
    o1.heartbeat(NodeLoad::default()).await.unwrap();
    o1.claim(&key(), false).await.unwrap();
    o2.heartbeat(NodeLoad::default()).await.unwrap();
    let started = tokio::time::Instant::now();
    o2.claim(&key(), false).await.unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(5) && waited < Duration::from_secs(6), "{waited:?}");
    assert_eq!(o2.stats.claims_waited.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn a_draining_owner_yields_and_takeover_always_wins() {
    let dir = Arc::new(MemoryDirectory::new());
    let (o1, o2) = (node("o1", &dir, Duration::ZERO), node("o2", &dir, Duration::ZERO));
    o1.heartbeat(NodeLoad::default()).await.unwrap();
    o1.claim(&key(), false).await.unwrap();
    assert!(o2.claim(&key(), false).await.is_err());
    assert!(o2.claim(&key(), true).await.is_ok());
    o1.claim(&key(), true).await.unwrap();
    o1.set_phase(DrainPhase::StartWait);
    o1.heartbeat(NodeLoad::default()).await.unwrap();
    assert!(o2.claim(&key(), false).await.is_ok());
}

/// Regression (found by the cluster rig's drain scenario): a draining node's heartbeat
/// fenced the publisher it had just asked to reconnect, as soon as that publisher's new
/// connection claimed the stream on the peer, though it still sent here until its switch
/// at the next keyframe: every player of this node lost the frames of that window.
#[tokio::test(start_paused = true)]
async fn a_draining_node_forgets_a_stream_taken_over_but_does_not_fence_its_publisher() {
    let dir = Arc::new(MemoryDirectory::new());
    let (o1, o2) = (node("o1", &dir, Duration::ZERO), node("o2", &dir, Duration::ZERO));
    o1.heartbeat(NodeLoad::default()).await.unwrap();
    o2.heartbeat(NodeLoad::default()).await.unwrap();
    o1.claim(&key(), false).await.unwrap();
    o1.set_phase(DrainPhase::Grace);
    o1.heartbeat(NodeLoad::default()).await.unwrap();
    // The publisher's new connection (make-before-break) claims the stream on o2.
    o2.claim(&key(), false).await.unwrap();
    let to_drop = o1.heartbeat(NodeLoad::default()).await.unwrap();
    assert!(to_drop.is_empty(), "the draining node drops nobody: {to_drop:?}");
    assert!(o1.owned_epoch(&key()).is_none(), "the stream is forgotten (no re-assert)");
    assert_eq!(o1.stats.streams_fenced.load(Ordering::Relaxed), 0);
    assert_eq!(dir.resolve(&key()).await.unwrap().map(|r| r.owner), Some("o2".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn an_emptied_directory_is_repopulated_by_the_next_heartbeat() {
    let dir = Arc::new(MemoryDirectory::new());
    let o1 = node("o1", &dir, Duration::ZERO);
    o1.heartbeat(NodeLoad::default()).await.unwrap();
    let epoch = o1.claim(&key(), false).await.unwrap();
    dir.clear();
    assert_eq!(dir.resolve(&key()).await.unwrap(), None);
    assert!(o1.heartbeat(NodeLoad::default()).await.unwrap().is_empty());
    let route = dir.resolve(&key()).await.unwrap().unwrap();
    assert_eq!((route.owner.as_str(), route.epoch), ("o1", epoch));
    // A claim after the restore gets a newer epoch than the restored one.
    let o2 = node("o2", &dir, Duration::ZERO);
    o1.set_phase(DrainPhase::StartWait);
    o1.heartbeat(NodeLoad::default()).await.unwrap();
    assert!(o2.claim(&key(), false).await.unwrap() > epoch);
}

#[tokio::test(start_paused = true)]
async fn release_and_leave_remove_only_this_nodes_records() {
    let dir = Arc::new(MemoryDirectory::new());
    let (o1, o2) = (node("o1", &dir, Duration::ZERO), node("o2", &dir, Duration::ZERO));
    o1.heartbeat(NodeLoad::default()).await.unwrap();
    o2.heartbeat(NodeLoad::default()).await.unwrap();
    o1.claim(&key(), false).await.unwrap();
    o2.claim(&StreamKey::new("live", "other"), false).await.unwrap();
    o1.release(&key()).await;
    assert_eq!(dir.resolve(&key()).await.unwrap(), None);
    o1.claim(&key(), false).await.unwrap();
    o1.leave().await;
    assert_eq!(dir.resolve(&key()).await.unwrap(), None);
    assert!(dir.resolve(&StreamKey::new("live", "other")).await.unwrap().is_some());
    let nodes = dir.nodes().await.unwrap();
    assert_eq!(nodes.iter().map(|n| n.node_id.as_str()).collect::<Vec<_>>(), ["o2"]);
    // Resolving from the owner itself says "not elsewhere".
    assert_eq!(o2.resolve(&StreamKey::new("live", "other")).await.unwrap(), None);
}

#[tokio::test]
async fn a_stream_just_claimed_is_not_released_before_its_publisher_arrives() {
    // Regression: the heartbeat's prune released a claim made a moment before (the
    // publisher not in the hub yet, an edge's pull still handing over), and the stream was
    // then live here but missing from the directory for good.
    let dir = Arc::new(MemoryDirectory::new());
    let o1 = node("o1", &dir, Duration::ZERO);
    o1.heartbeat(NodeLoad::default()).await.unwrap();
    let epoch = o1.claim(&key(), false).await.unwrap();
    o1.prune(|_| false).await;
    assert_eq!(o1.owned_epoch(&key()), Some(epoch));
    assert!(dir.resolve(&key()).await.unwrap().is_some());
}
