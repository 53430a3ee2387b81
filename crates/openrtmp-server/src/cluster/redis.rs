//! The `redis` directory: the rules of [`super::Directory`] kept in Redis or Valkey
//! (`cluster.directory.kind: redis`), so that every node of a cluster sees the same
//! leases and stream records. [`super::MemoryDirectory`] is the reference: the same
//! conformance tests (`cluster/conformance.rs`) run on both.
//!
//! Key layout. Every key starts with the one hash tag `{openrtmp}`, so all of them live
//! in one slot and every script is valid on Redis Cluster (a script may only touch keys of
//! one slot):
//! - `{openrtmp}:node:<node id>`: a node's lease, a hash (`epoch`, `rtmp`, `state`,
//!   `connections`, `streams`, `egress_bps`) with the lease's TTL (`PEXPIRE`), rewritten
//!   by every heartbeat.
//! - `{openrtmp}:nodes`: the set of node ids, for listing; ids whose lease expired are
//!   pruned by the listing itself.
//! - `{openrtmp}:stream:<app length>:<app>/<name>`: a stream record, a hash (`owner`,
//!   `owner_epoch`, `epoch`). The app is length-prefixed: names are the clients' arbitrary
//!   bytes, and `a/b` + `c` must not meet `a` + `b/c`.
//! - `{openrtmp}:owns:<node id>`: the set of record keys a node claimed, so that `leave`
//!   finds them without a scan.
//! - `{openrtmp}:epoch`: the stream epoch counter (`INCR`).
//!
//! Records and the `owns` sets carry a TTL of [`RECORD_TTL_LEASES`] lease TTLs, renewed
//! by the claim and by every heartbeat of their owner. This is garbage collection only: a
//! record is believed only while its owner's lease lives, which is much shorter, so the
//! rules are those of the memory backend; what it saves is the keys of nodes that crashed
//! and never came back.
//!
//! Every call is one atomic Lua script (`EVALSHA`, loaded again after a Redis restart:
//! `cluster/redis/script.rs`); a heartbeat with N owned streams is one call. The connection
//! is made on first use, not when the directory is built (a node starts while Redis is
//! down), and made again after a failure; every call is bounded by [`CALL_TIMEOUT`] and
//! fails as [`DirectoryError::Unavailable`] past it. Builds without the `redis` cargo
//! feature keep the type, whose constructor then says so.

// Without the `redis` feature only the stub store is built: the key helpers and constants
// below are then used by the tests alone.
#![cfg_attr(not(feature = "redis"), allow(dead_code))]

use std::time::Duration;

use openrtmp_hub::StreamKey;

use super::directory::{
    Claim, Directory, DirectoryError, DirectoryFuture, HeartbeatReply, Lease, NodeRecord,
    OwnedStream, Route,
};

#[cfg(feature = "redis")]
mod reply;
#[cfg(feature = "redis")]
mod script;
#[cfg(feature = "redis")]
mod store;
#[cfg(not(feature = "redis"))]
#[path = "redis/stub.rs"]
mod store;

/// Every directory call (connecting included) gives up after this long: well under the
/// default heartbeat interval (1.5 s), so a hung store costs a node one heartbeat, not its
/// lease.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// Stream records (and `owns` sets) expire after this many lease TTLs without a claim or a
/// heartbeat of their owner.
pub(crate) const RECORD_TTL_LEASES: u32 = 4;

/// The hash tag and prefix of every key.
const PREFIX: &str = "{openrtmp}:";

/// A directory in Redis or Valkey (`cluster.directory.kind: redis`); see the module docs
/// for its key layout and scripts.
#[derive(Debug)]
pub struct RedisDirectory {
    store: store::Store,
}

impl RedisDirectory {
    /// A directory at `url` (`redis://[user:password@]host:port[/db]`, `rediss://` for
    /// TLS, `valkey://` and `valkeys://` alike). Only parses the URL: the connection is made
    /// by the first call, and made again after failures. Fails for a URL that does not
    /// parse, and in builds without the `redis` cargo feature.
    pub fn new(url: &str) -> Result<RedisDirectory, DirectoryError> {
        Ok(RedisDirectory { store: store::Store::open(url, PREFIX)? })
    }
}

impl Directory for RedisDirectory {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn heartbeat<'a>(
        &'a self,
        lease: &'a Lease,
        owned: &'a [OwnedStream],
    ) -> DirectoryFuture<'a, HeartbeatReply> {
        self.store.heartbeat(lease, owned)
    }

    fn claim<'a>(
        &'a self,
        lease: &'a Lease,
        key: &'a StreamKey,
        takeover: bool,
    ) -> DirectoryFuture<'a, Claim> {
        self.store.claim(lease, key, takeover)
    }

    fn release<'a>(
        &'a self,
        lease: &'a Lease,
        key: &'a StreamKey,
        epoch: u64,
    ) -> DirectoryFuture<'a, ()> {
        self.store.release(lease, key, epoch)
    }

    fn resolve<'a>(&'a self, key: &'a StreamKey) -> DirectoryFuture<'a, Option<Route>> {
        self.store.resolve(key)
    }

    fn nodes(&self) -> DirectoryFuture<'_, Vec<NodeRecord>> {
        self.store.nodes()
    }

    fn leave<'a>(&'a self, lease: &'a Lease) -> DirectoryFuture<'a, ()> {
        self.store.leave(lease)
    }
}

/// The key of `key`'s stream record. The app is length-prefixed (in bytes) so that no two
/// (app, name) pairs share a key whatever `/` they hold.
pub(crate) fn stream_key(prefix: &str, key: &StreamKey) -> String {
    format!("{prefix}stream:{}:{}/{}", key.app.len(), key.app, key.name)
}

/// The key of a node's lease (scripts build the same name from a record's owner: see
/// `script.rs`).
pub(crate) fn lease_key(prefix: &str, node: &str) -> String {
    format!("{prefix}node:{node}")
}

/// The key of the set of record keys a node claimed.
pub(crate) fn owns_key(prefix: &str, node: &str) -> String {
    format!("{prefix}owns:{node}")
}

/// `url` with its password (and any query, where redis-rs also takes `pass=`) replaced
/// by `***`, for logs and errors.
pub(crate) fn redact_url(url: &str) -> String {
    let (url, query) = match url.split_once('?') {
        Some((head, _)) => (head, "?***"),
        None => (url, ""),
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return format!("{url}{query}");
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    format!("{scheme}://{authority}{path}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_queries_are_redacted() {
        let cases = [
            ("redis://:s3cret@redis:6379/0", "redis://:***@redis:6379/0"),
            ("rediss://user:p@ss:w@host", "rediss://user:***@host"),
            ("redis://user@host:6379", "redis://user@host:6379"),
            ("redis://host", "redis://host"),
            ("redis+unix:///run/redis.sock?pass=x", "redis+unix:///run/redis.sock?***"),
            ("not a url", "not a url"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn stream_keys_do_not_collide_on_slashes_and_share_one_hash_tag() {
        let a = stream_key(PREFIX, &StreamKey::new("a/b", "c"));
        let b = stream_key(PREFIX, &StreamKey::new("a", "b/c"));
        assert_ne!(a, b);
        assert_eq!(a, "{openrtmp}:stream:3:a/b/c");
        for key in [a, b, lease_key(PREFIX, "n{1}"), owns_key(PREFIX, "n")] {
            assert!(key.starts_with("{openrtmp}:"), "{key}");
        }
    }

    #[cfg(not(feature = "redis"))]
    #[test]
    fn without_the_feature_the_constructor_says_so() {
        let error = RedisDirectory::new("redis://127.0.0.1:6379").unwrap_err();
        assert!(error.to_string().contains("cargo feature `redis`"), "{error}");
    }
}
