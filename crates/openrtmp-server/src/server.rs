//! The server: listeners, the accept loops, shared state, shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use openrtmp_hub::Hub;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, ConfigError};
use crate::connection;
use crate::limit::ConnectionCounter;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is invalid.
    #[error("invalid configuration: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Config(Vec<ConfigError>),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Counters shared by all connections.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections accepted since start.
    pub accepted: AtomicU64,
    /// Connections refused (limits, memory).
    pub refused: AtomicU64,
    /// Connection tasks that panicked (caught; the server kept serving).
    pub panics: AtomicU64,
    /// Bytes received from clients.
    pub bytes_in: AtomicU64,
    /// Bytes sent to clients.
    pub bytes_out: AtomicU64,
}

/// State every connection task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) hub: Hub,
    pub(crate) counter: Arc<ConnectionCounter>,
    pub(crate) stats: Arc<ServerStats>,
    pub(crate) started: Instant,
    pub(crate) shutdown: CancellationToken,
    next_conn_id: AtomicU64,
}

impl Shared {
    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    listeners: Vec<TcpListener>,
}

impl Server {
    /// Validates `config` and binds every listener (nothing is bound if validation fails).
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        config.validate().map_err(ServerError::Config)?;
        let mut listeners = Vec::with_capacity(config.listen.len());
        for addr in &config.listen {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind { addr: *addr, source })?;
            listeners.push(listener);
        }
        let hub = Hub::new(config.effective_hub());
        let shared = Arc::new(Shared {
            config,
            hub,
            counter: Arc::new(ConnectionCounter::default()),
            stats: Arc::new(ServerStats::default()),
            started: Instant::now(),
            shutdown: CancellationToken::new(),
            next_conn_id: AtomicU64::new(1),
        });
        Ok(Server { shared, listeners })
    }

    /// The addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// The stream hub (stream list, statistics).
    pub fn hub(&self) -> Hub {
        self.shared.hub.clone()
    }

    /// Server-wide counters.
    pub fn stats(&self) -> Arc<ServerStats> {
        Arc::clone(&self.shared.stats)
    }

    /// Live connections.
    pub fn connections(&self) -> usize {
        self.shared.counter.total()
    }

    /// Serves until `shutdown` resolves; then stops accepting, closes every connection and
    /// returns once all connection tasks ended.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let tracker = TaskTracker::new();
        for listener in self.listeners {
            let shared = Arc::clone(&self.shared);
            let conns = tracker.clone();
            tracker.spawn(accept_loop(listener, shared, conns));
        }
        shutdown.await;
        tracing::info!(connections = self.shared.counter.total(), "shutting down");
        self.shared.shutdown.cancel();
        tracker.close();
        tracker.wait().await;
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, tracker: TaskTracker) {
    let local = listener.local_addr().ok();
    tracing::info!(addr = ?local, "listening for RTMP");
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: back off a little instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = socket.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tracker.spawn(async move {
            let conn_id = shared.next_conn_id();
            let stats = Arc::clone(&shared.stats);
            let task = connection::run(socket, peer, conn_id, shared);
            // A panic inside one connection must not take the server down: catch, log, go on.
            if let Err(panic) = AssertUnwindSafe(task).catch_unwind().await {
                stats.panics.fetch_add(1, Ordering::Relaxed);
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(conn_id, %peer, panic = %what, "connection task panicked; connection closed");
            }
        });
    }
}
