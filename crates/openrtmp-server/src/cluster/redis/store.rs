//! The connection to Redis and the calls: each builds its script's keys and arguments
//! (`script.rs`), runs it within [`CALL_TIMEOUT`] and reads the reply (`reply.rs`).
//!
//! One multiplexed connection serves every call of a node (heartbeats, claims, resolves
//! pipeline over it). It is made by the first call, under a lock so concurrent callers
//! wait for one attempt instead of each dialling, and it is dropped after a failure that
//! leaves it unusable (or a timeout: a half-dead connection would otherwise stall every
//! call), so the next call dials again.

use std::fmt;
use std::time::Duration;

use openrtmp_hub::StreamKey;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, RetryMethod, Script, ScriptInvocation};
use tokio::sync::Mutex;

use super::super::directory::{
    Claim, DirectoryError, DirectoryFuture, HeartbeatReply, Lease, NodeRecord, OwnedStream, Route,
};
use super::{
    lease_key, owns_key, redact_url, reply, script, stream_key, CALL_TIMEOUT, RECORD_TTL_LEASES,
};

/// The scripts, each hashed once (`EVALSHA`; loaded on `NOSCRIPT`, as after a restart).
struct Scripts {
    heartbeat: Script,
    claim: Script,
    release: Script,
    resolve: Script,
    nodes: Script,
    leave: Script,
}

/// A Redis directory's connection and scripts.
pub(super) struct Store {
    client: redis::Client,
    /// The URL with its password redacted, for logs and errors.
    url: String,
    /// The password, if any, to scrub from error texts.
    password: Option<String>,
    /// The key prefix (with its hash tag).
    prefix: String,
    /// The connection once made; `None` before the first call and after a failure.
    connection: Mutex<Option<MultiplexedConnection>>,
    scripts: Scripts,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("url", &self.url).field("prefix", &self.prefix).finish()
    }
}

impl Store {
    /// Parses `url`; does not connect.
    pub(super) fn open(url: &str, prefix: &str) -> Result<Store, DirectoryError> {
        let redacted = redact_url(url);
        let client = redis::Client::open(url).map_err(|e| {
            DirectoryError::Protocol(format!("bad redis url {redacted}: {:?}", e.kind()))
        })?;
        let password = client.get_connection_info().redis_settings().password().map(str::to_owned);
        Ok(Store {
            client,
            url: redacted,
            password: password.filter(|p| !p.is_empty()),
            prefix: prefix.to_owned(),
            connection: Mutex::new(None),
            scripts: Scripts {
                heartbeat: Script::new(script::HEARTBEAT),
                claim: Script::new(script::CLAIM),
                release: Script::new(script::RELEASE),
                resolve: Script::new(script::RESOLVE),
                nodes: Script::new(script::NODES),
                leave: Script::new(script::LEAVE),
            },
        })
    }

    /// The connection, made now if there is none.
    async fn connection(&self) -> Result<MultiplexedConnection, RedisError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT));
        let connection = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        tracing::info!(url = %self.url, "redis directory connected");
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Drops the connection: the next call dials again.
    async fn forget(&self, why: &str) {
        if self.connection.lock().await.take().is_some() {
            tracing::warn!(url = %self.url, why, "redis directory connection dropped: the next call reconnects");
        }
    }

    /// Runs `invocation` within [`CALL_TIMEOUT`].
    async fn invoke(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<redis::Value, DirectoryError> {
        let call = async {
            let mut connection = self.connection().await?;
            invocation.invoke_async::<redis::Value>(&mut connection).await
        };
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                let (error, reconnect) = self.classify(&error);
                if reconnect {
                    self.forget(error.kind()).await;
                }
                Err(error)
            }
            Err(_) => {
                self.forget("timeout").await;
                Err(DirectoryError::Unavailable(format!(
                    "{} did not answer within {} ms",
                    self.url,
                    CALL_TIMEOUT.as_millis()
                )))
            }
        }
    }

    /// The directory error for `error`, and whether the connection must be made again.
    /// Unreachable, loading, failing over, redirected: `Unavailable` (try again later);
    /// a script error or a reply the client cannot read: `Protocol`.
    fn classify(&self, error: &RedisError) -> (DirectoryError, bool) {
        let mut text = format!("{} ({:?}): {error}", self.url, error.kind());
        if let Some(password) = &self.password {
            text = text.replace(password.as_str(), "***");
        }
        let reconnect = error.is_io_error() || error.is_unrecoverable_error();
        let transient = matches!(
            error.retry_method(),
            RetryMethod::WaitAndRetry
                | RetryMethod::RetryImmediately
                | RetryMethod::MovedRedirect
                | RetryMethod::AskRedirect
                | RetryMethod::RefreshSlotsAndRetry
                | RetryMethod::ReconnectFromInitialConnections
        );
        if (reconnect && error.kind() != ErrorKind::Parse) || transient {
            (DirectoryError::Unavailable(text), reconnect)
        } else {
            (DirectoryError::Protocol(text), reconnect)
        }
    }

    pub(super) fn heartbeat<'a>(
        &'a self,
        lease: &'a Lease,
        owned: &'a [OwnedStream],
    ) -> DirectoryFuture<'a, HeartbeatReply> {
        Box::pin(async move {
            let p = self.prefix.as_str();
            let mut call = self.scripts.heartbeat.prepare_invoke();
            call.key(lease_key(p, &lease.node_id))
                .key(format!("{p}nodes"))
                .key(format!("{p}epoch"))
                .key(owns_key(p, &lease.node_id));
            for stream in owned {
                call.key(stream_key(p, &stream.key));
            }
            call.arg(p)
                .arg(&lease.node_id)
                .arg(&lease.epoch)
                .arg(&lease.advertise_rtmp)
                .arg(lease.state.name())
                .arg(lease.load.connections)
                .arg(lease.load.streams)
                .arg(lease.load.egress_bps)
                .arg(millis(lease.ttl))
                .arg(record_ttl(lease));
            for stream in owned {
                call.arg(stream.epoch);
            }
            reply::heartbeat(&self.invoke(&call).await?, owned)
        })
    }

    pub(super) fn claim<'a>(
        &'a self,
        lease: &'a Lease,
        key: &'a StreamKey,
        takeover: bool,
    ) -> DirectoryFuture<'a, Claim> {
        Box::pin(async move {
            let p = self.prefix.as_str();
            let mut call = self.scripts.claim.prepare_invoke();
            call.key(stream_key(p, key))
                .key(format!("{p}epoch"))
                .key(owns_key(p, &lease.node_id))
                .arg(p)
                .arg(&lease.node_id)
                .arg(&lease.epoch)
                .arg(if takeover { "1" } else { "0" })
                .arg(record_ttl(lease));
            reply::claim(&self.invoke(&call).await?)
        })
    }

    pub(super) fn release<'a>(
        &'a self,
        lease: &'a Lease,
        key: &'a StreamKey,
        epoch: u64,
    ) -> DirectoryFuture<'a, ()> {
        Box::pin(async move {
            let p = self.prefix.as_str();
            let mut call = self.scripts.release.prepare_invoke();
            call.key(stream_key(p, key))
                .key(owns_key(p, &lease.node_id))
                .arg(&lease.node_id)
                .arg(&lease.epoch)
                .arg(epoch);
            reply::count(&self.invoke(&call).await?)
        })
    }

    pub(super) fn resolve<'a>(&'a self, key: &'a StreamKey) -> DirectoryFuture<'a, Option<Route>> {
        Box::pin(async move {
            let p = self.prefix.as_str();
            let mut call = self.scripts.resolve.prepare_invoke();
            call.key(stream_key(p, key)).arg(p);
            reply::resolve(&self.invoke(&call).await?)
        })
    }

    pub(super) fn nodes(&self) -> DirectoryFuture<'_, Vec<NodeRecord>> {
        Box::pin(async move {
            let p = self.prefix.as_str();
            let mut call = self.scripts.nodes.prepare_invoke();
            call.key(format!("{p}nodes")).arg(p);
            reply::nodes(&self.invoke(&call).await?)
        })
    }

    pub(super) fn leave<'a>(&'a self, lease: &'a Lease) -> DirectoryFuture<'a, ()> {
        Box::pin(async move {
            let p = self.prefix.as_str();
            let mut call = self.scripts.leave.prepare_invoke();
            call.key(lease_key(p, &lease.node_id))
                .key(format!("{p}nodes"))
                .key(owns_key(p, &lease.node_id))
                .arg(&lease.node_id)
                .arg(&lease.epoch);
            reply::count(&self.invoke(&call).await?)
        })
    }
}

/// `ttl` in whole milliseconds for `PEXPIRE`, at least 1 (0 would delete the key at once).
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// The TTL of the records and `owns` set a call with `lease` writes.
fn record_ttl(lease: &Lease) -> u64 {
    millis(lease.ttl.saturating_mul(RECORD_TTL_LEASES).max(Duration::from_secs(1)))
}
