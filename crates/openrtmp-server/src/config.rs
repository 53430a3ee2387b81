//! Server settings: one [`Config`] type holding every tunable, with documented defaults and
//! the worst-case memory each limit allows. Loading from files and the environment comes
//! later; this type is what they will fill.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use openrtmp_hub::HubConfig;
use openrtmp_proto::chunk::{OUTBOUND_CHUNK_SIZES, OUTBOUND_CHUNK_SIZES_TEXT};
use openrtmp_proto::session::{SessionLimits, DEFAULT_WINDOW_ACK_SIZE};

/// Default RTMP listen address: every interface, port 1935.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:1935";
/// Default outbound chunk size (announced right after connect): 4096, the protocol crate's
/// session default (not the protocol's initial 128).
pub const DEFAULT_CHUNK_SIZE: u32 = openrtmp_proto::session::DEFAULT_CHUNK_SIZE;
/// The whole handshake must complete within this (a deadline, not a per-read timeout).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// `connect` must arrive within this after the handshake.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that has connected but neither publishes nor plays, or stops in the middle
/// of a message, is closed after this long.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A publisher that sends no media for this long has left.
pub const DEFAULT_PUBLISHER_TIMEOUT: Duration = Duration::from_secs(5);
/// Players of an unpublished stream stay attached this long, waiting for a publisher.
pub const DEFAULT_UNPUBLISHED_WAIT: Duration = Duration::from_secs(30);
/// A publisher lost abruptly (socket error or silence, no unpublish) keeps its players,
/// told nothing, this long for it to come back. Under the 5 s after which a stream must be
/// shown unavailable, and enough for an encoder's immediate reconnect (OBS and FFmpeg
/// wrappers retry within 1-2 s).
pub const DEFAULT_PUBLISHER_GRACE: Duration = Duration::from_secs(3);
/// A player whose socket accepts nothing for this long is disconnected.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most connections at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Most connections at once from one IP address.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 1_000;
/// Memory (bytes held in GOP caches and reassembly buffers) past which new connections are
/// refused until it is available again: 1 GiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 1 << 30;
/// Per-connection inbound reassembly budget: 4 MiB (a 1080p keyframe is ~0.5 MiB), the chunk
/// decoder's own default.
pub const DEFAULT_REASSEMBLY_BUDGET: usize = openrtmp_proto::chunk::DEFAULT_REASSEMBLY_BUDGET;
/// Default HTTP API listen address (loopback only).
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8080";
/// Default grace period of a graceful shutdown.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How long before the background deadline clients are told by default.
pub const DEFAULT_BACKGROUND_NOTICE: Duration = Duration::from_secs(5);

/// Logging settings (applied by the binary; the level can change at run time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Level or filter directive: trace, debug, info, warn, error, or `openrtmp_server=debug,...`.
    pub level: String,
    /// JSON lines instead of human-readable text.
    pub json: bool,
    /// Also (or only, see `stderr`) write to this file.
    pub file: Option<std::path::PathBuf>,
    /// Rotate the file when it reaches this many bytes.
    pub rotate_size_bytes: Option<u64>,
    /// Rotate the file every day.
    pub rotate_daily: bool,
    /// Rotated files kept.
    pub keep_files: usize,
    /// Write to stderr.
    pub stderr: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: "info".into(),
            json: false,
            file: None,
            rotate_size_bytes: None,
            rotate_daily: false,
            keep_files: 7,
            stderr: true,
        }
    }
}

/// PROXY protocol (v1 and v2) on the RTMP and RTMPS listeners, for a server behind a TCP
/// load balancer (HAProxy `send-proxy-v2`, AWS NLB, a Kubernetes LoadBalancer with PROXY
/// protocol): the client address the header names is the connection's peer everywhere
/// (ACL, brute-force and per-IP limits, callbacks, logs, the API). Off by default (no
/// trusted network: nothing is read, nothing costs).
///
/// Only peers inside `trusted` are believed: anyone else could name any address. A
/// connection from a trusted peer is expected to start with the header (before the RTMP
/// handshake, and before the TLS ClientHello on RTMPS), read by the handshake deadline.
/// A header from an untrusted peer is not read: the connection is served as plain RTMP
/// (whose handshake then fails) and a warning says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyProtocolSettings {
    /// The load balancers' networks (empty, the default: the feature is off). IPv4-mapped
    /// IPv6 peers (a dual-stack listener) match IPv4 networks.
    pub trusted: Vec<ipnet::IpNet>,
    /// A trusted peer's connection without a header is closed with a logged reason (default
    /// true, as the spec asks: a receiver must not guess). False: such a connection is
    /// served with the socket's address, for a balancer whose health checks send none.
    pub required: bool,
}

impl Default for ProxyProtocolSettings {
    fn default() -> Self {
        ProxyProtocolSettings { trusted: Vec::new(), required: true }
    }
}

impl ProxyProtocolSettings {
    /// Whether connections from `ip` carry a header to believe.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.trusted.iter().any(|net| net.contains(&canonical) || net.contains(&ip))
    }
}

/// Player lag tolerance in low-latency mode.
pub const LOW_LATENCY_MAX_LAG_MS: u32 = 500;

/// Everything the server can be told.
#[derive(Debug, Clone)]
pub struct Config {
    /// RTMP listen addresses (port 0 picks a free port).
    pub listen: Vec<SocketAddr>,
    /// Outbound chunk size, within [`OUTBOUND_CHUNK_SIZES`] (128..=65536).
    pub chunk_size: u32,
    /// Window Acknowledgement Size announced to clients.
    pub window_ack_size: u32,
    /// Handshake deadline.
    pub handshake_timeout: Duration,
    /// Time allowed between the handshake and `connect`.
    pub connect_timeout: Duration,
    /// A connection that has connected but neither publishes nor plays, or stops in the
    /// middle of a message, is closed after this long; more than zero. Applies to new
    /// connections on reload.
    pub idle_timeout: Duration,
    /// Publisher silence after which it is considered gone.
    pub publisher_timeout: Duration,
    /// How long players of an unpublished stream wait for a new publisher before they are
    /// closed (`Duration::ZERO`: closed right after the end-of-stream notice).
    pub unpublished_wait: Duration,
    /// How long a publication whose publisher was lost abruptly (socket error or EOF
    /// without unpublishing, `publisher_timeout` silence, protocol error) is held for it to
    /// come back: players stay attached and are told nothing; a publisher on the same key
    /// within it is spliced in (rebased timestamps, from its first keyframe). After it,
    /// players get the end of stream. `Duration::ZERO` ends the stream at once, as a clean
    /// unpublish does.
    pub publisher_grace: Duration,
    /// A player whose socket takes nothing for this long is disconnected.
    pub write_timeout: Duration,
    /// Most simultaneous connections; more are refused with NetConnection.Connect.Rejected.
    pub max_connections: usize,
    /// Most simultaneous connections per client IP.
    pub max_connections_per_ip: usize,
    /// Global memory budget (bytes in GOP caches, queues, reassembly).
    pub memory_budget: usize,
    /// Per-connection chunk reassembly budget.
    pub reassembly_budget: usize,
    /// Low-latency mode: players may lag 500 ms (instead of `hub.viewer_max_lag_ms`) before
    /// they skip to the next keyframe.
    pub low_latency: bool,
    /// Linux builds with the `io-uring` feature: the publisher's task submits a round of
    /// in-sync viewers' writes to io_uring at once instead of a `writev` each (falls back
    /// to `writev` where the kernel refuses io_uring). Default true.
    pub io_uring: bool,
    /// Stream hub settings (GOP cache, viewer lag, publisher replacement, wait for publisher).
    pub hub: HubConfig,
    /// HTTP API address (`None`: no API). Served by the binary with `openrtmp-api`.
    pub api_listen: Option<SocketAddr>,
    /// Bearer token the HTTP API requires (a secret: never logged, redacted in dumps).
    pub api_token: Option<String>,
    /// Serve `GET /stat` (nginx-rtmp's XML) without the API token, for tools that cannot
    /// send one (NOALBS). Default false: `/stat` takes the token like the rest of the API.
    pub api_stat_public: bool,
    /// How long a graceful shutdown lets streams go on before closing what is left.
    pub shutdown_grace: Duration,
    /// Logging.
    pub log: LogSettings,
    /// RTMPS listen addresses (empty: no RTMPS). Needs `tls`.
    pub rtmps_listen: Vec<SocketAddr>,
    /// TLS for the RTMPS listeners.
    pub tls: Option<openrtmp_tls::ServerTlsSettings>,
    /// Authentication and access control (everything off by default).
    pub auth: crate::auth::AuthSettings,
    /// Which networks the server serves on (default `Any`); see
    /// [`crate::ServerHandle::set_network_policy`].
    pub network_policy: crate::platform::NetworkPolicy,
    /// Emit [`crate::platform::PlatformEvent::CellularDataWarning`] once when bytes sent
    /// over cellular pass this (default `None`: never).
    pub cellular_warning_bytes: Option<u64>,
    /// Watch the OS for network changes (netlink on Linux; the OS notifier on macOS and
    /// Windows). Default: true on Linux, macOS and Windows builds, false elsewhere (on iOS
    /// and Android the host pushes [`crate::ServerHandle::network_changed`]).
    pub watch_network: bool,
    /// How long before the background deadline (`AppState::Background { remaining }`)
    /// clients are told the server is going away (default 5 s).
    pub background_notice: Duration,
    /// Announce the RTMP listener on the local network over mDNS/DNS-SD as
    /// `_rtmp._tcp` (default false). Announced on the addresses the network policy allows,
    /// re-registered when they change, withdrawn in the background, in Doze and when local
    /// network access is denied. iOS apps need the multicast entitlement; Android apps a
    /// `WifiManager.MulticastLock`.
    pub mdns: bool,
    /// The instance name shown to browsers (one DNS label, 1 to 63 bytes); default: the
    /// host name, else "OpenRTMP".
    pub mdns_name: Option<String>,
    /// Relay: push targets started with the streams they match (default none).
    pub relay: crate::relay::RelaySettings,
    /// Recording: which streams are written to files, how, and how long they are kept.
    pub record: crate::record::RecordSettings,
    /// WebRTC (WHIP) ingest: ports, candidates, the audio transcode, keyframe requests.
    pub webrtc: crate::whip::WebrtcSettings,
    /// Scale-out: this node's id and address, the stream directory, claims and the drain.
    pub cluster: crate::cluster::ClusterSettings,
    /// Edge: plays of streams published on other nodes pull them from there.
    pub edge: crate::cluster::EdgeSettings,
    /// PROXY protocol on the RTMP and RTMPS listeners (default off).
    pub proxy_protocol: ProxyProtocolSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec![DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 1935)))],
            chunk_size: DEFAULT_CHUNK_SIZE,
            window_ack_size: DEFAULT_WINDOW_ACK_SIZE,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            publisher_timeout: DEFAULT_PUBLISHER_TIMEOUT,
            unpublished_wait: DEFAULT_UNPUBLISHED_WAIT,
            publisher_grace: DEFAULT_PUBLISHER_GRACE,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            reassembly_budget: DEFAULT_REASSEMBLY_BUDGET,
            low_latency: false,
            io_uring: true,
            hub: HubConfig::default(),
            api_listen: DEFAULT_API_LISTEN.parse().ok(),
            api_token: None,
            api_stat_public: false,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            log: LogSettings::default(),
            rtmps_listen: Vec::new(),
            tls: None,
            auth: crate::auth::AuthSettings::default(),
            network_policy: crate::platform::NetworkPolicy::Any,
            cellular_warning_bytes: None,
            watch_network: cfg!(any(
                target_os = "linux",
                target_os = "macos",
                target_os = "windows"
            )),
            background_notice: DEFAULT_BACKGROUND_NOTICE,
            mdns: false,
            mdns_name: None,
            relay: crate::relay::RelaySettings::default(),
            record: crate::record::RecordSettings::default(),
            webrtc: crate::whip::WebrtcSettings::default(),
            cluster: crate::cluster::ClusterSettings::default(),
            edge: crate::cluster::EdgeSettings::default(),
            proxy_protocol: ProxyProtocolSettings::default(),
        }
    }
}

/// A setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value outside its range.
    #[error("{field}: {value} is out of range ({range})")]
    OutOfRange {
        /// Setting name.
        field: &'static str,
        /// The value given.
        value: String,
        /// The allowed range.
        range: &'static str,
    },
    /// No listen address.
    #[error("listen: at least one address is required")]
    NoListener,
    /// The authorisation settings cannot be applied.
    #[error("auth: {0}")]
    Auth(String),
    /// RTMPS listeners without TLS settings, or TLS settings without a listener.
    #[error("tls: {0}")]
    Tls(&'static str),
}

impl Config {
    /// Checks every setting; returns all problems.
    pub fn validate(&self) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        if self.listen.is_empty() && self.rtmps_listen.is_empty() {
            errors.push(ConfigError::NoListener);
        }
        if !self.rtmps_listen.is_empty() && self.tls.is_none() {
            errors.push(ConfigError::Tls(
                "rtmps listeners need a certificate (tls.cert + tls.key, tls.self_signed or tls.acme)",
            ));
        }
        if !OUTBOUND_CHUNK_SIZES.contains(&self.chunk_size) {
            errors.push(ConfigError::OutOfRange {
                field: "chunk_size",
                value: self.chunk_size.to_string(),
                range: OUTBOUND_CHUNK_SIZES_TEXT,
            });
        }
        if self.idle_timeout.is_zero() {
            errors.push(ConfigError::OutOfRange {
                field: "idle_timeout",
                value: "0s".into(),
                range: "more than 0s",
            });
        }
        if self.window_ack_size == 0 {
            errors.push(ConfigError::OutOfRange {
                field: "window_ack_size",
                value: "0".into(),
                range: "1..",
            });
        }
        if self.max_connections == 0 {
            errors.push(ConfigError::OutOfRange {
                field: "max_connections",
                value: "0".into(),
                range: "1..",
            });
        }
        if let Some(name) = self.mdns_name.as_deref().filter(|n| n.is_empty() || n.len() > 63) {
            errors.push(ConfigError::OutOfRange {
                field: "mdns_name",
                value: format!("{name:?}"),
                range: "1 to 63 bytes (one DNS label)",
            });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The hub settings in force (low-latency mode tightens the viewer lag).
    pub fn effective_hub(&self) -> HubConfig {
        let mut hub = self.hub.clone();
        if self.low_latency {
            hub.viewer_max_lag_ms = hub.viewer_max_lag_ms.min(LOW_LATENCY_MAX_LAG_MS);
            // Every frame goes out as soon as it arrives.
            hub.audio_batch_ms = 0;
            hub.max_batch_ms = 0;
        }
        hub
    }

    /// A new sans-IO session for a connection accepted at `now` (`epoch`: the server's
    /// uptime in ms, its RTMP timestamp origin), with a fresh handshake random.
    pub(crate) fn new_session(
        &self,
        now: std::time::Instant,
        epoch: u32,
    ) -> openrtmp_proto::session::ServerSession {
        use rand::RngCore;
        let mut random = vec![0u8; openrtmp_proto::handshake::RANDOM_LEN];
        rand::thread_rng().fill_bytes(&mut random);
        openrtmp_proto::session::ServerSession::new(self.session_config(), now, epoch, &random)
    }

    /// The sans-IO session's settings for one connection: chunk size, windows, limits and
    /// the protocol timers.
    pub(crate) fn session_config(&self) -> openrtmp_proto::session::ServerConfig {
        openrtmp_proto::session::ServerConfig {
            chunk_size: self.chunk_size,
            window_ack_size: self.window_ack_size,
            peer_bandwidth: self.window_ack_size,
            limits: self.session_limits(),
            handshake_timeout: self.handshake_timeout,
            connect_timeout: self.connect_timeout,
            idle_timeout: self.idle_timeout,
            publisher_timeout: self.publisher_timeout,
            ..Default::default()
        }
    }

    /// Protocol limits for one connection.
    pub fn session_limits(&self) -> SessionLimits {
        let mut limits = SessionLimits::default();
        limits.chunk.reassembly_budget = self.reassembly_budget;
        limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_timeout_defaults_to_30s_and_must_be_positive() {
        let config = Config::default();
        assert_eq!(config.idle_timeout, Duration::from_secs(30));
        assert_eq!(config.validate(), Ok(()));
        let zero = Config { idle_timeout: Duration::ZERO, ..Config::default() };
        let errors: Vec<String> =
            zero.validate().unwrap_err().iter().map(ToString::to_string).collect();
        assert_eq!(errors, ["idle_timeout: 0s is out of range (more than 0s)"]);
    }

    #[test]
    fn proxy_protocol_is_off_by_default_and_trusts_mapped_addresses() {
        let off = ProxyProtocolSettings::default();
        assert!(off.required && !off.trusts("10.0.0.1".parse().unwrap()));
        let on = ProxyProtocolSettings {
            trusted: vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()],
            required: true,
        };
        for ip in ["10.1.2.3", "::ffff:10.1.2.3", "fd00::1"] {
            assert!(on.trusts(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["11.0.0.1", "::ffff:11.0.0.1", "fe80::1"] {
            assert!(!on.trusts(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn low_latency_switches_batching_off() {
        let mut config = Config::default();
        config.hub.max_batch_ms = 100;
        assert_eq!(config.effective_hub().max_batch_ms, 100);
        config.low_latency = true;
        let hub = config.effective_hub();
        assert_eq!((hub.max_batch_ms, hub.audio_batch_ms), (0, 0));
    }
}
