//! [`ServerHandle`]: what the HTTP API, metrics and embedders see of a running server.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, ConfigError};
use crate::delay::DelayHistogram;
use crate::platform::{AppState, LocalNetworkAccess};
use crate::shared::Shared;

mod cluster;
mod seam;

pub use cluster::{ClusterStatus, StreamRoute};

/// Server-wide figures.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// Crate version.
    pub version: &'static str,
    /// Time since start.
    pub uptime: Duration,
    /// Live connections.
    pub connections: usize,
    /// Of which publishing.
    pub publishers: usize,
    /// Of which playing.
    pub players: usize,
    /// Streams in the hub (published or awaited).
    pub streams: usize,
    /// Connections accepted since start.
    pub accepted: u64,
    /// Connections refused (limits, memory).
    pub refused: u64,
    /// Connection tasks that panicked.
    pub panics: u64,
    /// Bytes received from clients.
    pub bytes_in: u64,
    /// Bytes sent to clients.
    pub bytes_out: u64,
    /// CPU time of the process, user + system (every target; `None` only if the OS call
    /// failed). `getrusage` on Linux, Android, macOS and iOS, `GetProcessTimes` on Windows.
    pub process_cpu: Option<Duration>,
    /// Resident memory of the process now (not its peak), bytes (every target; `None` only
    /// if the OS call failed). `VmRSS` on Linux and Android, the Mach task's
    /// `resident_size` on macOS and iOS, the working set on Windows.
    pub rss_bytes: Option<u64>,
    /// Bytes held in GOP caches and queues.
    pub memory_bytes: usize,
    /// The memory budget.
    pub memory_budget: usize,
    /// RTMP listeners bound now (after any re-binding by the network policy).
    pub listeners: Vec<SocketAddr>,
    /// Connection ends by kind of error (protocol, io, handshake_timeout, too_slow, ...).
    pub errors: Vec<(String, u64)>,
    /// Frames dropped for slow players since start.
    pub dropped_frames: u64,
    /// Bound RTMPS listeners.
    pub rtmps_listeners: Vec<SocketAddr>,
    /// The certificate RTMPS presents now.
    pub tls_certificate: Option<openrtmp_tls::CertificateInfo>,
    /// Authorisation figures (denials by kind, brute-force blocks, callbacks).
    pub auth: crate::auth::AuthStats,
    /// The authorisation callback's circuit (`None`: no callback configured).
    pub auth_circuit: Option<crate::auth::CircuitState>,
}

/// One live connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// Connection id (as in logs).
    pub id: u64,
    /// Client address.
    pub peer: SocketAddr,
    /// "connecting", "publisher" or "player".
    pub role: &'static str,
    /// How it talks: `rtmp` (RTMP or RTMPS), `rtmp-vod` (RTMP(S) playing a recording),
    /// `http-flv` or `ws-flv` (web viewers, see [`ServerHandle::open_web_player`]).
    pub protocol: &'static str,
    /// Application.
    pub app: String,
    /// Stream name (without query).
    pub stream: String,
    /// Time since accepted.
    pub connected_for: Duration,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Bytes queued for the socket.
    pub queue_bytes: usize,
    /// Frames dropped because the player fell behind.
    pub dropped_frames: u64,
    /// How far behind the player is, ms of media.
    pub lag_ms: u32,
}

/// One stream.
#[derive(Debug, Clone)]
pub struct StreamStatus {
    /// Application.
    pub app: String,
    /// Stream name.
    pub name: String,
    /// Whether a publisher is live (or lost and within its reconnect grace: `source_lost`).
    pub publishing: bool,
    /// The publisher was lost abruptly and the stream waits for it to come back
    /// (`streams.publisher_grace`): players stay attached and receive nothing meanwhile.
    pub source_lost: bool,
    /// Connection id of the publisher.
    pub publisher: Option<u64>,
    /// Video codec ("H.264", "HEVC", ...).
    pub video_codec: Option<String>,
    /// Width in pixels.
    pub width: Option<u32>,
    /// Height in pixels.
    pub height: Option<u32>,
    /// Frames per second (measured from timestamps).
    pub fps: Option<f64>,
    /// Audio codec.
    pub audio_codec: Option<String>,
    /// Audio sample rate.
    pub sample_rate: Option<u32>,
    /// Audio channels.
    pub channels: Option<u8>,
    /// Players attached.
    pub viewers: usize,
    /// Players fed straight from the publisher's task (run-to-completion fan-out): those
    /// keeping up on plain TCP. The others are served by their own tasks.
    pub direct_viewers: usize,
    /// GOP cache payload bytes.
    pub gop_cache_bytes: usize,
    /// GOP cache frames.
    pub gop_cache_frames: usize,
    /// GOP cache media time.
    pub gop_cache_ms: u32,
    /// Frames received from the current publisher.
    pub frames_in: u64,
    /// Payload bytes received from the current publisher.
    pub bytes_in: u64,
    /// Of `bytes_in`, video payload bytes.
    pub video_bytes_in: u64,
    /// Of `bytes_in`, audio payload bytes.
    pub audio_bytes_in: u64,
    /// How long the current publisher has been live.
    pub publishing_for: Option<Duration>,
    /// How far behind real time the publisher's media arrives.
    pub ingest_delay: DelayHistogram,
    /// Live relay delay: from a frame's arrival to its hand-over to a player's socket, for
    /// frames that arrived while the player was caught up.
    pub distribution_delay: DelayHistogram,
    /// The same for the frames a player received as catch-up (its join from the GOP cache,
    /// or after a skip or a resume): how old the cache was, not how fast the relay is.
    pub catch_up_delay: DelayHistogram,
}

/// What a configuration change did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigChange {
    /// Settings now in force.
    pub applied: Vec<String>,
    /// Settings that differ but need a restart (listeners); not applied.
    pub needs_restart: Vec<String>,
}

/// A cheap, cloneable view of a running server.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    pub(crate) shared: Arc<Shared>,
}

impl ServerHandle {
    /// Server-wide figures.
    pub fn info(&self) -> ServerInfo {
        let s = &self.shared;
        let conns = s.registry.all();
        let role_count = |r: &str| conns.iter().filter(|c| c.detail().role == r).count();
        let process = crate::platform::process::usage();
        ServerInfo {
            version: env!("CARGO_PKG_VERSION"),
            uptime: s.started.elapsed(),
            connections: conns.len(),
            publishers: role_count("publisher"),
            players: role_count("player"),
            streams: s.hub.streams().len(),
            accepted: s.stats.accepted.load(Ordering::Relaxed),
            refused: s.stats.refused.load(Ordering::Relaxed),
            panics: s.stats.panics.load(Ordering::Relaxed),
            bytes_in: s.stats.bytes_in.load(Ordering::Relaxed),
            bytes_out: s.stats.bytes_out.load(Ordering::Relaxed),
            process_cpu: process.cpu,
            rss_bytes: process.rss,
            memory_bytes: s.hub.memory_bytes(),
            memory_budget: s.config().memory_budget,
            listeners: s.current_listeners(),
            errors: s.errors(),
            dropped_frames: s.stats.dropped_frames.load(Ordering::Relaxed),
            rtmps_listeners: s.rtmps_listeners.clone(),
            tls_certificate: s.tls.as_ref().and_then(|t| t.certificate()),
            auth: s.auth.stats(),
            auth_circuit: s.auth.circuit(),
        }
    }

    /// Same as [`ServerHandle::info`]: the figures `/metrics` exports.
    pub fn metrics(&self) -> ServerInfo {
        self.info()
    }

    /// Every live connection.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.shared
            .registry
            .all()
            .into_iter()
            .map(|c| {
                let d = c.detail();
                ConnectionInfo {
                    id: c.id,
                    peer: c.peer,
                    role: d.role,
                    protocol: d.protocol.unwrap_or("rtmp"),
                    app: d.app.clone(),
                    stream: d.stream.clone(),
                    connected_for: c.opened.elapsed(),
                    bytes_in: c.bytes_in.load(Ordering::Relaxed),
                    bytes_out: c.bytes_out.load(Ordering::Relaxed),
                    queue_bytes: c.queue_bytes.load(Ordering::Relaxed),
                    dropped_frames: c.dropped_frames.load(Ordering::Relaxed),
                    lag_ms: c.lag_ms.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Closes connection `id`; false if there is none.
    pub fn kick(&self, id: u64) -> bool {
        match self.shared.registry.get(id) {
            Some(c) => {
                tracing::info!(conn_id = id, "connection closed by the API");
                c.kick.cancel();
                true
            }
            None => false,
        }
    }

    /// Every stream, with what its publisher's connection learnt.
    pub fn streams(&self) -> Vec<StreamStatus> {
        let streams = self.shared.hub.streams();
        let keys: Vec<_> = streams.iter().map(|s| s.key.clone()).collect();
        self.shared.delays.retain(&keys);
        streams
            .into_iter()
            .map(|info| {
                let delays = self.shared.delays.get(&info.key);
                let snapshot = |f: fn(&crate::delay::StreamDelays) -> &crate::delay::Histogram| {
                    delays.as_deref().map(|d| f(d).snapshot()).unwrap_or_default()
                };
                let publisher = info.publisher_owner.and_then(|id| self.shared.registry.get(id));
                let media =
                    publisher.as_ref().map(|p| p.detail().media.clone()).unwrap_or_default();
                StreamStatus {
                    app: info.key.app.clone(),
                    name: info.key.name.clone(),
                    publishing: info.publishing,
                    source_lost: info.source_lost,
                    publisher: info.publisher_owner,
                    video_codec: media.video_codec,
                    width: media.width,
                    height: media.height,
                    fps: media.fps,
                    audio_codec: media.audio_codec,
                    sample_rate: media.sample_rate,
                    channels: media.channels,
                    viewers: info.viewers,
                    direct_viewers: info.direct_viewers,
                    gop_cache_bytes: info.ring_bytes,
                    gop_cache_frames: info.ring_frames,
                    gop_cache_ms: info.ring_ms,
                    frames_in: info.frames_in,
                    bytes_in: info.bytes_in,
                    video_bytes_in: info.video_bytes_in,
                    audio_bytes_in: info.audio_bytes_in,
                    publishing_for: media.since.filter(|_| info.publishing).map(|t| t.elapsed()),
                    ingest_delay: snapshot(|d| &d.ingest),
                    distribution_delay: snapshot(|d| &d.distribution),
                    catch_up_delay: snapshot(|d| &d.catch_up),
                }
            })
            .collect()
    }

    /// Ends a stream: its publisher's connection is closed (players get the end-of-stream
    /// notice); a stream whose publisher was lost and whose players are held for the
    /// reconnect grace ends now. False if nobody publishes it.
    pub fn end_stream(&self, app: &str, name: &str) -> bool {
        let key = openrtmp_hub::StreamKey::new(app, name);
        // Only while the publisher is still away: one back within the grace is live again
        // (its grace's timer runs on, inert) and is ended through its connection below.
        if self.shared.hub.stream(&key).is_some_and(|s| s.source_lost) {
            let held = self.shared.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
            if let Some((_, end)) = held {
                tracing::info!(app, stream = name, "held stream ended by the API: grace cut short");
                end.cancel();
                return true;
            }
        }
        let owner = self
            .shared
            .hub
            .streams()
            .into_iter()
            .find(|s| s.key.app == app && s.key.name == name && s.publishing)
            .and_then(|s| s.publisher_owner);
        match owner {
            Some(id) => {
                tracing::info!(app, stream = name, conn_id = id, "stream ended by the API");
                self.kick(id)
            }
            None => false,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> Config {
        self.shared.config()
    }

    /// Applies a new configuration to the running server: everything that needs no rebind
    /// takes effect (hub settings at once; limits and timeouts for new connections);
    /// listener changes are reported as needing a restart. An invalid configuration is
    /// refused and the running one stays. No connection is dropped.
    pub fn apply_config(&self, new: Config) -> Result<ConfigChange, Vec<ConfigError>> {
        new.validate()?;
        let old = self.shared.config();
        let mut change = ConfigChange::default();
        let mut effective = new.clone();
        if new.listen != old.listen {
            change.needs_restart.push("listen".into());
            effective.listen = old.listen.clone();
        }
        if new.rtmps_listen != old.rtmps_listen {
            change.needs_restart.push("rtmps_listen".into());
            effective.rtmps_listen = old.rtmps_listen.clone();
        }
        if new.tls != old.tls {
            // Certificate files are reloaded when they change; the TLS source and options
            // are fixed at start.
            change.needs_restart.push("tls".into());
            effective.tls = old.tls.clone();
        }
        if new.auth != old.auth {
            if let Err(e) = self.shared.auth.update(&new.auth) {
                return Err(vec![ConfigError::Auth(e.to_string())]);
            }
            change.applied.push("auth".into());
        }
        // relay.push and relay.pull are read at each publication and play; relay.tls at
        // each connection. An `always` pull added by the reload starts now (one that was
        // removed runs on until the restart: it may be feeding players).
        self.shared.relay.set_tls(&new.relay.tls);
        if new.relay.pull != old.relay.pull {
            self.shared.relay.start_always(&new.relay);
            change.applied.push("relay.pull".into());
        }
        if new.watch_network != old.watch_network {
            change.needs_restart.push("watch_network".into());
            effective.watch_network = old.watch_network;
        }
        if new.mdns != old.mdns || new.mdns_name != old.mdns_name {
            change.needs_restart.push("mdns".into());
            effective.mdns = old.mdns;
            effective.mdns_name = old.mdns_name.clone();
        }
        // Logging is set up once by the host (the CLI, an app); only its level changes live.
        let (new_log, old_log) = (&new.log, &old.log);
        for (key, differs) in [
            ("log.format", new_log.json != old_log.json),
            ("log.file", new_log.file != old_log.file),
            ("log.rotate_size", new_log.rotate_size_bytes != old_log.rotate_size_bytes),
            ("log.rotate_daily", new_log.rotate_daily != old_log.rotate_daily),
            ("log.keep", new_log.keep_files != old_log.keep_files),
            ("log.stderr", new_log.stderr != old_log.stderr),
        ] {
            if differs {
                change.needs_restart.push(key.into());
            }
        }
        effective.log = old.log.clone();
        effective.log.level = new.log.level.clone();
        if new.api_listen != old.api_listen {
            change.needs_restart.push("api.listen".into());
            effective.api_listen = old.api_listen;
        }
        for (name, differs) in [
            (
                "rtmp",
                new.chunk_size != old.chunk_size || new.window_ack_size != old.window_ack_size,
            ),
            (
                "timeouts",
                new.handshake_timeout != old.handshake_timeout
                    || new.connect_timeout != old.connect_timeout
                    || new.idle_timeout != old.idle_timeout
                    || new.publisher_timeout != old.publisher_timeout
                    || new.unpublished_wait != old.unpublished_wait
                    || new.write_timeout != old.write_timeout,
            ),
            (
                "limits",
                new.max_connections != old.max_connections
                    || new.max_connections_per_ip != old.max_connections_per_ip
                    || new.memory_budget != old.memory_budget
                    || new.reassembly_budget != old.reassembly_budget,
            ),
            ("streams", new.hub != old.hub || new.low_latency != old.low_latency),
            ("api.token", new.api_token != old.api_token),
            ("api.stat_public", new.api_stat_public != old.api_stat_public),
            ("shutdown.grace", new.shutdown_grace != old.shutdown_grace),
            ("log.level", new.log.level != old.log.level),
            // Read by the retention task at each sweep.
            ("record.retention", new.record.retention != old.record.retention),
            // Read at each accept.
            ("proxy_protocol", new.proxy_protocol != old.proxy_protocol),
            (
                "platform",
                new.network_policy != old.network_policy
                    || new.cellular_warning_bytes != old.cellular_warning_bytes
                    || new.background_notice != old.background_notice,
            ),
        ] {
            if differs {
                change.applied.push(name.into());
            }
        }
        // WHIP: the sockets and candidates are bound at start; the rest is read by each
        // new session.
        let (nw, ow) = (&new.webrtc, &old.webrtc);
        if (nw.udp_port, nw.tcp_port, &nw.public_addresses)
            != (ow.udp_port, ow.tcp_port, &ow.public_addresses)
        {
            change.needs_restart.push("webrtc.ports".into());
            effective.webrtc.udp_port = ow.udp_port;
            effective.webrtc.tcp_port = ow.tcp_port;
            effective.webrtc.public_addresses = ow.public_addresses.clone();
        }
        if (nw.enabled, nw.audio_bitrate, nw.keyframe_interval)
            != (ow.enabled, ow.audio_bitrate, ow.keyframe_interval)
        {
            change.applied.push("webrtc".into());
        }
        self.shared.hub.set_config(effective.effective_hub());
        self.shared.platform.set_cellular_warning(effective.cellular_warning_bytes);
        let policy_changed = new.network_policy != old.network_policy;
        self.shared.set_config(effective);
        if policy_changed {
            self.set_network_policy(new.network_policy);
        }
        tracing::info!(applied = ?change.applied, needs_restart = ?change.needs_restart, "configuration updated");
        Ok(change)
    }

    /// Reloads the RTMPS certificate files now (they are also checked periodically);
    /// true if the certificate changed. Without RTMPS, false.
    pub fn reload_certificates(&self) -> Result<bool, openrtmp_tls::TlsError> {
        match &self.shared.tls {
            Some(tls) => tls.reload_now(),
            None => Ok(false),
        }
    }

    /// Starts a shutdown: graceful (stop accepting, tell clients, let streams finish within
    /// the grace period) or forced (close everything now). Forcing a graceful shutdown in
    /// progress ends it at once.
    pub fn shutdown(&self, force: bool) {
        self.shared.drain.cancel();
        if force {
            self.shared.draining.cancel();
            self.shared.shutdown.cancel();
        }
    }

    /// Resolves once every connection has been closed at the end of a shutdown.
    pub async fn stopped(&self) {
        self.shared.shutdown.cancelled().await;
    }

    /// Whether the server is ready, with the reasons when it is degraded.
    pub fn readiness(&self) -> (bool, Vec<String>) {
        let mut reasons = Vec::new();
        let config = self.shared.config();
        let used = self.shared.hub.memory_bytes();
        if used > config.memory_budget {
            reasons.push(format!(
                "memory budget exhausted ({used} of {} bytes)",
                config.memory_budget
            ));
        }
        if self.shared.draining.is_cancelled() || self.shared.drain.is_cancelled() {
            let phase = self.shared.cluster.phase();
            reasons.push(format!("draining ({})", phase.name()));
        }
        let config = &config;
        let connections = self.shared.counter.total();
        if connections >= config.max_connections {
            reasons.push(format!(
                "at capacity ({connections} of {} connections)",
                config.max_connections
            ));
        }
        if self.shared.auth.circuit() == Some(crate::auth::CircuitState::Open) {
            reasons.push("authorisation callback unavailable (circuit open)".into());
        }
        if self.shared.platform.local_network_access() == LocalNetworkAccess::Denied {
            reasons.push("local network access denied by the user".into());
        }
        if self.shared.platform.app_state().0 == AppState::Suspended {
            reasons.push("app suspended".into());
        }
        let failed = self.shared.stats.listener_failures.load(Ordering::Relaxed);
        if failed > 0 {
            reasons.push(format!("{failed} listener(s) failed"));
        }
        (reasons.is_empty(), reasons)
    }
}
