//! The Redis backend beyond the shared rules: a real redis-server that is down at start,
//! killed, hung, restarted empty, or holding keys of the wrong type.

use std::sync::Arc;

use openrtmp_hub::StreamKey;
use openrtmp_testkit::redis::RedisServer;

use super::super::redis::CALL_TIMEOUT;
use super::super::*;
use super::{cam, claimed, eventually, lease, owned, Subject};

/// A fresh redis-server and a directory on it (`None`: skipped, the reason printed).
pub(super) fn subject() -> Option<(Subject, Arc<RedisServer>)> {
    let server = Arc::new(RedisServer::start()?);
    let dir = Arc::new(RedisDirectory::new(&server.url()).unwrap());
    let flush = Arc::clone(&server);
    let clear = Box::new(move || {
        flush.query(&["FLUSHALL"]).unwrap();
    });
    Some((Subject { dir, clear }, server))
}

/// A call that must not hang: bounded well past [`CALL_TIMEOUT`] (a failure bound).
async fn bounded<T>(call: DirectoryFuture<'_, T>) -> Result<T, DirectoryError> {
    tokio::time::timeout(CALL_TIMEOUT * 5, call).await.expect("a directory call hung")
}

fn unavailable<T: std::fmt::Debug>(result: Result<T, DirectoryError>) -> String {
    match result {
        Err(DirectoryError::Unavailable(text)) => text,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_node_starts_while_redis_is_down_and_connects_once_it_is_up() {
    let Some(mut server) = RedisServer::start() else { return };
    server.kill();
    let dir = RedisDirectory::new(&server.url()).unwrap();
    let a = lease("a", "a1");
    unavailable(bounded(dir.heartbeat(&a, &[])).await);
    server.restart_empty();
    bounded(dir.heartbeat(&a, &[])).await.unwrap();
    assert_eq!(bounded(dir.nodes()).await.unwrap()[0].node_id, "a");
}

#[tokio::test]
async fn every_call_is_unavailable_while_redis_is_killed() {
    let Some(mut server) = RedisServer::start() else { return };
    let dir = RedisDirectory::new(&server.url()).unwrap();
    let a = lease("a", "a1");
    bounded(dir.heartbeat(&a, &[])).await.unwrap();
    let epoch = claimed(&dir, &a, &cam(), false).await;
    server.kill();
    unavailable(bounded(dir.heartbeat(&a, &owned(&cam(), epoch))).await);
    unavailable(bounded(dir.claim(&a, &cam(), false)).await);
    unavailable(bounded(dir.release(&a, &cam(), epoch)).await);
    unavailable(bounded(dir.resolve(&cam())).await);
    unavailable(bounded(dir.nodes()).await);
    unavailable(bounded(dir.leave(&a)).await);
}

#[tokio::test]
async fn a_hung_redis_times_out_and_the_next_calls_reconnect() {
    let Some((subject, server)) = subject() else { return };
    let dir = &*subject.dir;
    let a = lease("a", "a1");
    dir.heartbeat(&a, &[]).await.unwrap();
    // Redis stops answering for longer than a call may take.
    server.query(&["CLIENT", "PAUSE", "3000", "ALL"]).unwrap();
    let text = unavailable(bounded(dir.resolve(&cam())).await);
    // Our bound or the client's own response timeout (the same length), whichever fires
    // first.
    assert!(text.contains("did not answer") || text.contains("timed out"), "{text}");
    // Once it answers again, so does the directory.
    eventually("redis answers again", || async { dir.heartbeat(&a, &[]).await.ok() }).await;
}

#[tokio::test]
async fn a_redis_restarted_empty_is_repopulated_by_the_next_heartbeat() {
    let Some(mut server) = RedisServer::start() else { return };
    let dir = RedisDirectory::new(&server.url()).unwrap();
    let (a, b) = (lease("a", "a1"), lease("b", "b1"));
    dir.heartbeat(&a, &[]).await.unwrap();
    let mut mine = Vec::new();
    for name in ["one", "two", "three"] {
        let key = StreamKey::new("live", name);
        let epoch = claimed(&dir, &a, &key, false).await;
        mine.push(OwnedStream { key, epoch });
    }
    server.restart_empty();
    // The first heartbeat may meet the dropped connection; the first that gets through
    // writes every stream back (and reloads the scripts: NOSCRIPT).
    let reply = eventually("a heartbeat gets through", || async {
        bounded(dir.heartbeat(&a, &mine)).await.ok()
    })
    .await;
    assert_eq!(reply, HeartbeatReply { lost: vec![], restored: 3 });
    for stream in &mine {
        let route = dir.resolve(&stream.key).await.unwrap().unwrap();
        assert_eq!((route.owner.as_str(), route.epoch), ("a", stream.epoch));
    }
    // The counter was restored too: a newer claim gets a newer epoch.
    let draining = Lease { state: NodeState::Draining, ..a.clone() };
    dir.heartbeat(&draining, &mine).await.unwrap();
    let newest = mine.iter().map(|s| s.epoch).max().unwrap();
    assert!(claimed(&dir, &b, &mine[0].key, false).await > newest);
}

#[tokio::test]
async fn records_of_an_unknown_shape_are_protocol_errors() {
    let Some((subject, server)) = subject() else { return };
    let dir = &*subject.dir;
    let a = lease("a", "a1");
    server.query(&["SET", "{openrtmp}:stream:4:live/cam", "not a hash"]).unwrap();
    let error = dir.claim(&a, &cam(), false).await.unwrap_err();
    assert!(matches!(error, DirectoryError::Protocol(_)), "{error:?}");
    dir.heartbeat(&a, &[]).await.unwrap();
    server.query(&["HSET", "{openrtmp}:node:a", "state", "sideways"]).unwrap();
    let error = dir.nodes().await.unwrap_err();
    assert!(matches!(error, DirectoryError::Protocol(_)), "{error:?}");
    // The connection is still good.
    dir.heartbeat(&a, &[]).await.unwrap();
    assert_eq!(dir.nodes().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_password_stays_out_of_errors() {
    let Some(mut server) = RedisServer::start() else { return };
    server.kill();
    let url = format!("redis://:hunter2@127.0.0.1:{}", server.port());
    let dir = RedisDirectory::new(&url).unwrap();
    let text = unavailable(bounded(dir.nodes()).await);
    assert!(!text.contains("hunter2") && text.contains(":***@"), "{text}");
    assert!(!format!("{dir:?}").contains("hunter2"));
    let error = RedisDirectory::new("redis://:hunter2@[::1").unwrap_err();
    assert!(!error.to_string().contains("hunter2"), "{error}");
}
