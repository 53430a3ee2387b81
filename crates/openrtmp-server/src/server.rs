//! The server: binding the listeners, running them, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use openrtmp_hub::Hub;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cluster::DrainPhase;
use crate::config::{Config, ConfigError};
use crate::handle::ServerHandle;
use crate::listener::{accept_loop, rebind, stats_changes};
use crate::platform::state::{PlatformState, SpecificListener};
use crate::shared::{ServerStats, Shared};

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
    /// The stream directory cannot be used (`cluster.directory`).
    #[error("cluster directory: {0}")]
    Directory(#[from] crate::cluster::DirectoryError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
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
        let whip = crate::whip::Whip::new(crate::whip::socket::bind(&config.webrtc));
        let mut shared = Shared::new(
            config,
            hub,
            auth,
            tls,
            platform,
            listeners.iter().filter_map(|l| l.local_addr().ok()).collect(),
            rtmps.iter().filter_map(|l| l.local_addr().ok()).collect(),
        );
        shared.whip = whip;
        let directory = crate::cluster::build_directory(&shared.config().cluster.directory)?;
        let cluster = crate::cluster::Cluster::new(shared.config().cluster.clone(), directory);
        if shared.config().cluster.advertise_rtmp.is_none() {
            cluster.set_advertise(default_advertise(&shared.listeners));
        }
        shared.cluster = Arc::new(cluster);
        shared.relay.set_cluster(Arc::clone(&shared.cluster));
        let shared = Arc::new(shared);
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
        if let Some(whip) = &self.shared.whip.bound {
            whip.start(&tracker, &self.shared.shutdown);
        }
        tracker.spawn(crate::history::run(Arc::clone(&self.shared)));
        tracker.spawn(crate::cluster::node::run(Arc::clone(&self.shared)));
        tracker.spawn(crate::record::retention::run(Arc::clone(&self.shared)));
        self.shared.relay.start_always(&self.shared.config().relay);
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
            _ = shared.drain.cancelled() => {}
            _ = shared.draining.cancelled() => {}
        }
        drain_start(shared).await;
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
        shared.cluster.set_phase(DrainPhase::Releasing);
        let _ = tokio::time::timeout(LEAVE_WAIT, shared.cluster.leave()).await;
        shared.cluster.set_phase(DrainPhase::Done);
        shared.shutdown.cancel();
        shared.platform.listeners.lock().unwrap_or_else(|e| e.into_inner()).spawner = None;
        tracker.close();
        tracker.wait().await;
        if !shared.recorder.closed(crate::record::CLOSE_WAIT).await {
            tracing::warn!(
                wait_secs = crate::record::CLOSE_WAIT.as_secs(),
                "recordings still closing at exit: their last segments may lack their end"
            );
        }
        crate::platform::announce::stop(shared).await;
        tracing::info!(
            connections_at_start = connections,
            streams_at_start = streams,
            connections_terminated = left,
            streams_interrupted = streams_left,
            forced,
            reconnect_requests =
                shared.cluster.stats.reconnect_requests.load(std::sync::atomic::Ordering::Relaxed),
            "shutdown complete"
        );
    }
}

/// Leaving the directory at the end of a drain is given this long (the lease expires on
/// its own anyway).
const LEAVE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The drain's first phases: the lease says `draining` (readiness is 503 from here on),
/// connections are still accepted for `cluster.drain_start_wait` (not when the shutdown
/// is forced or clients were already told), then the peer clients are sent to is chosen.
async fn drain_start(shared: &Arc<Shared>) {
    let cluster = &shared.cluster;
    cluster.set_phase(DrainPhase::StartWait);
    let wait = cluster.settings().drain_start_wait;
    if !wait.is_zero() && !shared.draining.is_cancelled() {
        tracing::info!(
            wait_ms = wait.as_millis() as u64,
            "drain: still accepting while the load balancer takes this node out"
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.shutdown.cancelled() => {}
            _ = shared.draining.cancelled() => {}
        }
    }
    let _ = tokio::time::timeout(LEAVE_WAIT, cluster.choose_redirect()).await;
    cluster.set_phase(DrainPhase::Reconnecting);
    // Grace from here on (connections are told when `draining` is cancelled, right after).
    cluster.set_phase(DrainPhase::Grace);
}

/// `rtmp://IP:port` of the first RTMP listener (loopback for a wildcard address): what a
/// node advertises when `cluster.advertise_rtmp` is not set.
fn default_advertise(listeners: &[SocketAddr]) -> String {
    let Some(addr) = listeners.first() else { return String::new() };
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("rtmp://{}", SocketAddr::new(ip, addr.port()))
}
