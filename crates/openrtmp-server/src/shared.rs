//! State every connection task shares, and the server-wide counters.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use openrtmp_hub::Hub;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::limit::ConnectionCounter;
use crate::platform::state::PlatformState;
use crate::registry::Registry;

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
    /// Frames dropped for slow players.
    pub dropped_frames: AtomicU64,
    /// Accept errors (a listener in trouble: EMFILE and the like).
    pub listener_failures: AtomicU64,
}

/// State every connection task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The configuration in force; connections take a snapshot when they start.
    config: RwLock<Arc<Config>>,
    pub(crate) hub: Hub,
    pub(crate) counter: Arc<ConnectionCounter>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) delays: crate::delay::Delays,
    /// The last 15 minutes of figures, for the dashboard.
    pub(crate) history: crate::history::History,
    pub(crate) stats: Arc<ServerStats>,
    pub(crate) started: Instant,
    pub(crate) listeners: Vec<SocketAddr>,
    pub(crate) rtmps_listeners: Vec<SocketAddr>,
    /// Authorisation (keys, tokens, ACL, brute force, callbacks); survives reloads.
    pub(crate) auth: Arc<crate::auth::Auth>,
    /// The RTMPS certificate and acceptor (`None` without RTMPS).
    pub(crate) tls: Option<openrtmp_tls::ServerTls>,
    /// Cancelled when a drain is asked for (SIGTERM, `POST /api/v1/drain`, a graceful
    /// [`crate::ServerHandle::shutdown`]): readiness goes 503, the lease says draining; the
    /// server then cancels `draining` after `cluster.drain_start_wait`.
    pub(crate) drain: CancellationToken,
    /// Cancelled when a graceful shutdown starts: stop accepting, tell clients.
    pub(crate) draining: CancellationToken,
    /// Cancelled to close every connection now.
    pub(crate) shutdown: CancellationToken,
    errors: Mutex<HashMap<&'static str, u64>>,
    next_conn_id: AtomicU64,
    /// Network, app and power state; platform events.
    pub(crate) platform: PlatformState,
    /// Push targets, started when their stream goes live.
    pub(crate) relay: Arc<crate::relay::Relay>,
    /// Streams whose publisher was lost and whose players are held for the reconnect
    /// grace, each with the token that ends its grace early (the API ending the stream,
    /// shutdown through `draining`) and the grace's id (a newer grace replaces the entry).
    pub(crate) held: Mutex<HashMap<openrtmp_hub::StreamKey, (u64, CancellationToken)>>,
    /// Recording segments being written now (the recorder keeps it; the catalog reads it).
    pub(crate) open_segments: Arc<crate::record::OpenSegments>,
    /// Recordings on disk: the duration cache and deletion counters.
    pub(crate) catalog: crate::record::catalog::Catalog,
    /// The recordings running now (started with their streams or through the API).
    pub(crate) recorder: Arc<crate::record::Recorder>,
    /// WHIP ingest: the WebRTC sockets and the sessions.
    pub(crate) whip: crate::whip::Whip,
    /// This node in its cluster: lease, owned streams, drain.
    pub(crate) cluster: Arc<crate::cluster::Cluster>,
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        hub: Hub,
        auth: Arc<crate::auth::Auth>,
        tls: Option<openrtmp_tls::ServerTls>,
        platform: PlatformState,
        listeners: Vec<SocketAddr>,
        rtmps_listeners: Vec<SocketAddr>,
    ) -> Shared {
        let shutdown = CancellationToken::new();
        let relay = Arc::new(crate::relay::Relay::new(
            hub.clone(),
            shutdown.clone(),
            config.relay.tls.clone(),
        ));
        let open_segments: Arc<crate::record::OpenSegments> = Arc::default();
        let recorder = Arc::new(crate::record::Recorder::new(
            hub.clone(),
            shutdown.clone(),
            Arc::clone(&open_segments),
            Arc::clone(&auth),
        ));
        Shared {
            config: RwLock::new(Arc::new(config)),
            hub,
            counter: Arc::new(ConnectionCounter::default()),
            registry: Arc::new(Registry::default()),
            delays: crate::delay::Delays::default(),
            history: crate::history::History::default(),
            stats: Arc::new(ServerStats::default()),
            started: Instant::now(),
            listeners,
            rtmps_listeners,
            auth,
            tls,
            drain: CancellationToken::new(),
            draining: CancellationToken::new(),
            shutdown,
            errors: Mutex::new(HashMap::new()),
            next_conn_id: AtomicU64::new(1),
            platform,
            relay,
            held: Mutex::new(HashMap::new()),
            open_segments,
            catalog: crate::record::catalog::Catalog::default(),
            recorder,
            whip: crate::whip::Whip::default(),
            cluster: Arc::new(crate::cluster::Cluster::new(
                crate::cluster::ClusterSettings::default(),
                Arc::new(crate::cluster::MemoryDirectory::new()),
            )),
        }
    }

    /// The RTMP listeners now: the wildcard ones bound at start, plus the specific
    /// addresses the network policy has moved the others to (see [`rebind`]).
    pub(crate) fn current_listeners(&self) -> Vec<SocketAddr> {
        let set = self.platform.listeners.lock().unwrap_or_else(|e| e.into_inner());
        if set.spawner.is_none() {
            return self.listeners.clone();
        }
        let mut now: Vec<SocketAddr> =
            self.listeners.iter().filter(|a| !set.configured.contains(a)).copied().collect();
        now.extend(set.bound.iter().map(|l| l.addr));
        now
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn config(&self) -> Config {
        Config::clone(&self.config_arc())
    }

    pub(crate) fn config_arc(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn set_config(&self, config: Config) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }

    /// Counts a connection that ended with an error of `kind`.
    pub(crate) fn count_error(&self, kind: &'static str) {
        *self.errors.lock().unwrap_or_else(|e| e.into_inner()).entry(kind).or_insert(0) += 1;
    }

    pub(crate) fn errors(&self) -> Vec<(String, u64)> {
        let map = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = map.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect();
        v.sort();
        v
    }
}
