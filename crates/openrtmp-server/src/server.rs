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

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use crate::config::{Config, ConfigError};
use crate::connection;
use crate::handle::ServerHandle;
use crate::limit::ConnectionCounter;
use crate::platform::state::{allowed_addrs, PlatformState, SpecificListener};
use crate::platform::{NetworkPolicy, NetworkSnapshot, PlatformEvent};
use crate::registry::Registry;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is invalid.
    #[error("invalid configuration: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Config(Vec<ConfigError>),
    /// The TLS settings cannot work (certificate files, keys).
    #[error("TLS: {0}")]
    Tls(#[from] openrtmp_tls::TlsError),
    /// The authorisation settings cannot work (callback URL, callback TLS).
    #[error("auth: {0}")]
    Auth(#[from] crate::auth::AuthError),
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
    pub(crate) stats: Arc<ServerStats>,
    pub(crate) started: Instant,
    pub(crate) listeners: Vec<SocketAddr>,
    pub(crate) rtmps_listeners: Vec<SocketAddr>,
    /// Authorisation (keys, tokens, ACL, brute force, callbacks); survives reloads.
    pub(crate) auth: Arc<crate::auth::Auth>,
    /// The RTMPS certificate and acceptor (`None` without RTMPS).
    pub(crate) tls: Option<openrtmp_tls::ServerTls>,
    /// Cancelled when a graceful shutdown starts: stop accepting, tell clients.
    pub(crate) draining: CancellationToken,
    /// Cancelled to close every connection now.
    pub(crate) shutdown: CancellationToken,
    errors: Mutex<HashMap<&'static str, u64>>,
    next_conn_id: AtomicU64,
    /// Network, app and power state; platform events.
    pub(crate) platform: PlatformState,
}

impl Shared {
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

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    listeners: Vec<TcpListener>,
    rtmps: Vec<TcpListener>,
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
        let tls = config.tls.as_ref().map(openrtmp_tls::ServerTls::new).transpose()?;
        let mut rtmps = Vec::with_capacity(config.rtmps_listen.len());
        for addr in &config.rtmps_listen {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind { addr: *addr, source })?;
            rtmps.push(listener);
        }
        let auth = Arc::new(crate::auth::Auth::new(&config.auth)?);
        let hub = Hub::new(config.effective_hub());
        let platform = PlatformState::new(config.cellular_warning_bytes, config.network_policy);
        platform.listeners.lock().unwrap_or_else(|e| e.into_inner()).configured = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .filter(|a| !a.ip().is_unspecified())
            .collect();
        let shared = Arc::new(Shared {
            config: RwLock::new(Arc::new(config)),
            hub,
            counter: Arc::new(ConnectionCounter::default()),
            registry: Arc::new(Registry::default()),
            delays: crate::delay::Delays::default(),
            stats: Arc::new(ServerStats::default()),
            started: Instant::now(),
            listeners: listeners.iter().filter_map(|l| l.local_addr().ok()).collect(),
            rtmps_listeners: rtmps.iter().filter_map(|l| l.local_addr().ok()).collect(),
            auth,
            tls,
            draining: CancellationToken::new(),
            shutdown: CancellationToken::new(),
            errors: Mutex::new(HashMap::new()),
            next_conn_id: AtomicU64::new(1),
            platform,
        });
        Ok(Server { shared, listeners, rtmps })
    }

    /// The RTMP addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// The RTMPS addresses actually bound (port 0 resolved).
    pub fn rtmps_addrs(&self) -> Vec<SocketAddr> {
        self.rtmps.iter().filter_map(|l| l.local_addr().ok()).collect()
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

    /// Server-wide figures (the same as `GET /api/v1/server` and `/metrics`), for embedders.
    pub fn metrics(&self) -> crate::ServerInfo {
        self.handle().info()
    }

    /// A handle for the API, metrics and embedders (valid while the server runs).
    pub fn handle(&self) -> ServerHandle {
        ServerHandle { shared: Arc::clone(&self.shared) }
    }

    /// Serves until `shutdown` resolves or [`ServerHandle::shutdown`] is called, then shuts
    /// down gracefully: stops accepting at once, tells publishers and players the server is
    /// going away (onStatus, and the Enhanced RTMP reconnect request to clients that support
    /// it), lets streams go on for `shutdown_grace`, then closes what is left. A forced
    /// shutdown ([`ServerHandle::shutdown`] with `force`) skips the wait. Returns once every
    /// connection task ended; the last log line sums up what was interrupted.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let tracker = TaskTracker::new();
        {
            let mut set = self.shared.platform.listeners.lock().unwrap_or_else(|e| e.into_inner());
            set.spawner = Some((tokio::runtime::Handle::current(), tracker.clone()));
            for listener in self.listeners {
                let (shared, conns) = (Arc::clone(&self.shared), tracker.clone());
                let stop = CancellationToken::new();
                if let Some(addr) =
                    listener.local_addr().ok().filter(|a| set.configured.contains(a))
                {
                    set.bound.push(SpecificListener { addr, stop: stop.clone() });
                }
                tracker.spawn(accept_loop(listener, None, shared, conns, stop));
            }
        }
        tracker.spawn(stats_changes(Arc::clone(&self.shared)));
        crate::platform::announce::start(&self.shared);
        if self.shared.config().watch_network {
            crate::platform::spawn_watcher(Arc::clone(&self.shared), &tracker);
        }
        rebind(&self.shared);
        if let Some(tls) = &self.shared.tls {
            for listener in self.rtmps {
                let (shared, conns) = (Arc::clone(&self.shared), tracker.clone());
                let (acceptor, stop) = (Some(tls.acceptor()), CancellationToken::new());
                tracker.spawn(accept_loop(listener, acceptor, shared, conns, stop));
            }
            // Certificate upkeep (file reload, ACME renewal) until the server stops.
            let (tls, stop) = (tls.clone(), self.shared.shutdown.clone());
            tracker.spawn(async move {
                tokio::select! {
                    _ = tls.maintain() => {}
                    _ = stop.cancelled() => {}
                }
            });
        }

        let shared = &self.shared;
        tokio::select! {
            _ = shutdown => {}
            _ = shared.draining.cancelled() => {}
        }
        shared.draining.cancel();
        let grace = shared.config().shutdown_grace;
        let (connections, streams) =
            (shared.counter.total(), shared.hub.streams().iter().filter(|s| s.publishing).count());
        tracing::info!(
            connections,
            streams,
            grace_secs = grace.as_secs_f64(),
            "shutting down: no new connections; clients told"
        );
        let all_gone = async {
            while shared.counter.total() > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        };
        let forced = tokio::select! {
            _ = all_gone => false,
            _ = tokio::time::sleep(grace) => true,
            _ = shared.shutdown.cancelled() => true,
        };
        let left = shared.counter.total();
        let streams_left = shared.hub.streams().iter().filter(|s| s.publishing).count();
        shared.shutdown.cancel();
        shared.platform.listeners.lock().unwrap_or_else(|e| e.into_inner()).spawner = None;
        tracker.close();
        tracker.wait().await;
        crate::platform::announce::stop(shared).await;
        tracing::info!(
            connections_at_start = connections,
            streams_at_start = streams,
            connections_terminated = left,
            streams_interrupted = streams_left,
            forced,
            "shutdown complete"
        );
    }
}

/// Accepts until draining starts or `stop` (a re-bind) is cancelled. While the app is in
/// the background or suspended the loop does not accept: the listener stays bound and
/// connections wait in the kernel backlog until the app is in the foreground again (or
/// the OS refuses them when the backlog is full).
async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    stop: CancellationToken,
) {
    let local = listener.local_addr().ok();
    if tls.is_some() {
        tracing::info!(addr = ?local, "listening for RTMPS");
    } else {
        tracing::info!(addr = ?local, "listening for RTMP");
    }
    let mut accepting = shared.platform.accepting();
    loop {
        while !*accepting.borrow_and_update() {
            tokio::select! {
                _ = shared.draining.cancelled() => return,
                _ = stop.cancelled() => return,
                changed = accepting.changed() => if changed.is_err() { return },
            }
        }
        let accepted = tokio::select! {
            _ = shared.draining.cancelled() => return,
            _ = stop.cancelled() => {
                tracing::info!(addr = ?local, "listener closed (network policy)");
                return;
            }
            _ = accepting.changed() => continue,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: back off a little instead of spinning.
                shared.stats.listener_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Ok(at) = socket.local_addr() {
            if !shared.platform.local_allowed(at.ip()) {
                shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                tracing::info!(%peer, local = %at, "connection refused: network not allowed by policy");
                continue;
            }
        }
        shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = socket.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let tls = tls.clone();
        tracker.spawn(async move {
            let conn_id = shared.next_conn_id();
            let stats = Arc::clone(&shared.stats);
            let task = connection::run(socket, tls, peer, conn_id, shared);
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

/// Sends `StatsChanged` when streams or connections changed, at most every
/// [`STATS_INTERVAL`](crate::platform::state::STATS_INTERVAL) (every
/// [`STATS_INTERVAL_SAVING`](crate::platform::state::STATS_INTERVAL_SAVING) while saving
/// power); sleeps while nothing
/// changes (no periodic timer when idle).
async fn stats_changes(shared: Arc<Shared>) {
    let mut last = None;
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = shared.platform.stats_dirty.notified() => {}
        }
        let streams = shared.hub.streams().iter().filter(|s| s.publishing).count();
        let connections = shared.counter.total();
        if last != Some((streams, connections)) {
            last = Some((streams, connections));
            shared.platform.emit(PlatformEvent::StatsChanged { streams, connections });
        }
        let pause = if shared.platform.is_saving() {
            crate::platform::state::STATS_INTERVAL_SAVING
        } else {
            crate::platform::state::STATS_INTERVAL
        };
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// A new network snapshot (pushed by the host or seen by the desktop watcher): recorded,
/// announced, and the listeners follow the policy.
pub(crate) fn apply_network(shared: &Arc<Shared>, snapshot: NetworkSnapshot) {
    tracing::info!(networks = snapshot.networks.len(), default = ?snapshot.default, "network changed");
    shared.platform.set_snapshot(snapshot.clone());
    shared.platform.emit(PlatformEvent::NetworkChanged { snapshot });
    rebind(shared);
    crate::platform::announce::update(shared);
}

/// Moves the listeners bound to specific addresses to what the policy allows: with
/// `NetworkPolicy::Any` (or no snapshot yet) the configured addresses; otherwise every
/// address of an allowed network, of the same family, on the configured port. Wildcard
/// listeners are never moved (their connections are checked at accept). Sends `Rebound`
/// when the set changed.
pub(crate) fn rebind(shared: &Arc<Shared>) {
    let (policy, snapshot) = shared.platform.policy_and_snapshot();
    let mut set = shared.platform.listeners.lock().unwrap_or_else(|e| e.into_inner());
    let Some((rt, tracker)) = set.spawner.clone() else { return };
    if shared.draining.is_cancelled() || set.configured.is_empty() {
        return;
    }
    let desired: Vec<SocketAddr> = if policy == NetworkPolicy::Any || snapshot.networks.is_empty() {
        set.configured.clone()
    } else {
        let mut bases = set.configured.clone();
        bases.sort_by_key(|a| (a.is_ipv4(), a.port()));
        bases.dedup_by_key(|a| (a.is_ipv4(), a.port()));
        bases
            .iter()
            .flat_map(|b| {
                let port = b.port();
                allowed_addrs(policy, &snapshot, b.ip())
                    .into_iter()
                    .map(move |ip| SocketAddr::new(ip, port))
            })
            .collect()
    };
    let before: Vec<SocketAddr> = set.bound.iter().map(|l| l.addr).collect();
    set.bound.retain(|l| {
        let keep = desired.contains(&l.addr);
        if !keep {
            l.stop.cancel();
        }
        keep
    });
    let _runtime = rt.enter();
    for addr in desired {
        if set.bound.iter().any(|l| l.addr == addr) {
            continue;
        }
        let bound = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(TcpListener::from_std);
        match bound {
            Ok(listener) => {
                let stop = CancellationToken::new();
                let (shared, conns) = (Arc::clone(shared), tracker.clone());
                tracker.spawn(accept_loop(listener, None, shared, conns, stop.clone()));
                set.bound.push(SpecificListener { addr, stop });
            }
            Err(e) => tracing::warn!(%addr, error = %e, "cannot listen on an allowed address"),
        }
    }
    let mut after: Vec<SocketAddr> = set.bound.iter().map(|l| l.addr).collect();
    drop(set);
    let mut sorted_before = before;
    sorted_before.sort();
    after.sort();
    if after != sorted_before {
        tracing::info!(?policy, addrs = ?after, "listeners re-bound");
        shared.platform.emit(PlatformEvent::Rebound { addrs: after });
    }
}
