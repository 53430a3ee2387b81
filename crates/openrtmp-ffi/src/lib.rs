//! OpenRTMP for mobile and desktop hosts, through [UniFFI](https://mozilla.github.io/uniffi-rs/)
//! (proc-macro mode, no UDL).
//!
//! One object, [`OpenRtmpServer`], owns a tokio multi-thread runtime (2 workers) and an
//! [`openrtmp_server::Server`]. Hosts (Kotlin on Android and the JVM, Swift on Apple)
//! create it from an [`FfiConfig`] (or a YAML document with
//! [`OpenRtmpServer::from_yaml`]), [`start`](OpenRtmpServer::start) it, read
//! [`stats`](OpenRtmpServer::stats) and [`streams`](OpenRtmpServer::streams), receive
//! [`FfiEvent`]s through an [`EventListener`] they implement, and
//! [`stop`](OpenRtmpServer::stop) it.
//!
//! # Threads
//!
//! * `start`, `stop` and the other methods block the calling thread briefly (`stop` up to the
//!   shutdown grace period when graceful): call them off the UI thread.
//! * [`EventListener::on_event`] runs on a dedicated Rust thread (`openrtmp-events`), never
//!   on the runtime's workers, so a slow host callback cannot stall the server. The host
//!   must hop to its main thread itself. While a call has not returned, at most
//!   [`EVENT_QUEUE_CAPACITY`] events wait; later ones are dropped and counted in
//!   [`FfiStats::events_dropped`] (a warning is logged at most every 5 s).
//!
//! # Bindings
//!
//! ```text
//! cargo build -p openrtmp-ffi
//! cargo run -p openrtmp-ffi --features cli --bin uniffi-bindgen -- generate \
//!     --library target/debug/libopenrtmp_ffi.so --language kotlin --out-dir out --no-format
//! ```
//!
//! `platforms/hosttest/run.sh` does this and runs a Kotlin smoke test on the desktop JVM.

// The workspace's `unsafe_code = "deny"` stays in force: the `extern "C"` scaffolding
// UniFFI's macros generate is not linted (external macro). The one exception written here
// is `logging::apple` (Apple targets with the `oslog` feature): the three libSystem os_log
// calls, declared by hand because every os_log crate compiles C against the Apple SDK.
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use openrtmp_server::auth::{AppKeys, KeySecret, PublishKey};
use openrtmp_server::{Config, Server, ServerError, ServerHandle};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

uniffi::setup_scaffolding!();

mod event;
mod logging;
mod seam;

pub use event::{EventListener, FfiEvent, EVENT_QUEUE_CAPACITY};
use event::{EventQueue, SharedListener};
pub use logging::{init_logging, init_logging_with_subsystem};
pub use seam::*;

/// Extra time `stop` waits past the grace period (graceful) or at all (forced) for the
/// connection tasks to end, before it gives up waiting.
pub const STOP_EXTRA_WAIT: Duration = Duration::from_secs(5);

/// What went wrong. In Kotlin this is `FfiException`, in Swift `FfiError`.
///
/// (No field may be called `message`: it clashes with `Throwable.message` in the generated
/// Kotlin.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum FfiError {
    /// The configuration cannot work; every problem is listed.
    #[error("invalid configuration: {}", problems.join("; "))]
    InvalidConfig {
        /// One line per problem, `setting: what is wrong`.
        problems: Vec<String>,
    },
    /// A listener could not be bound (address in use, no permission, no such address).
    #[error("cannot listen: {reason}")]
    Bind {
        /// The address and the OS error.
        reason: String,
    },
    /// The server could not start for another reason (TLS, authorisation settings, runtime).
    #[error("cannot start the server: {reason}")]
    Start {
        /// Why.
        reason: String,
    },
    /// The call needs a running server; call `start` first.
    #[error("the server is not started")]
    NotStarted,
    /// `start` was called on a running server.
    #[error("the server is already running")]
    AlreadyRunning,
}

impl From<ServerError> for FfiError {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::Config(errors) => {
                FfiError::InvalidConfig { problems: errors.iter().map(|e| e.to_string()).collect() }
            }
            e @ ServerError::Bind { .. } => FfiError::Bind { reason: e.to_string() },
            e => FfiError::Start { reason: e.to_string() },
        }
    }
}

/// Publish keys for one app: only a client presenting one of `keys` (as the stream name or
/// `?key=`) may publish to `app`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FfiPublishKeys {
    /// App name (`live`); `*` applies to every app.
    pub app: String,
    /// Accepted keys (at least one).
    pub keys: Vec<String>,
}

/// What an app sets. Start from [`default_config`] (Kotlin: `defaultConfig().copy(...)`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FfiConfig {
    /// RTMP listen addresses, `ip:port` (`0.0.0.0:1935`, `[::]:1935`; port 0 picks one).
    pub listen: Vec<String>,
    /// Outbound chunk size, 128..=65536.
    pub chunk_size: u32,
    /// Most simultaneous connections (at least 1).
    pub max_connections: u64,
    /// Media kept for new viewers (back to a keyframe at least this old), ms.
    pub gop_cache_ms: u32,
    /// Low-latency mode (players lag at most 500 ms; no audio batching).
    pub low_latency: bool,
    /// Grace period of a graceful `stop`, ms.
    pub shutdown_grace_ms: u64,
    /// Publish keys for one app (`None`: anyone may publish).
    pub publish_keys: Option<FfiPublishKeys>,
    /// Which networks the server serves on (changeable later with `set_network_policy`).
    pub network_policy: FfiNetworkPolicy,
    /// Send [`FfiEvent::CellularDataWarning`] once when bytes sent over cellular pass this.
    pub cellular_warning_bytes: Option<u64>,
    /// Watch the OS for network changes (desktop: true; iOS and Android: false, the host
    /// pushes `network_changed`).
    pub watch_network: bool,
    /// How long before a background deadline clients are told the server goes away, ms.
    pub background_notice_ms: u64,
    /// Announce the server on the local network over mDNS/DNS-SD (`_rtmp._tcp`). Android:
    /// hold a `WifiManager.MulticastLock`. Apple hosts publish with `NetService` instead
    /// (iOS reserves raw multicast to entitled apps) and leave this off.
    pub mdns: bool,
    /// The announced instance name (`None`: the host name, else "OpenRTMP").
    pub mdns_name: Option<String>,
}

/// The defaults: listen on `0.0.0.0:1935`, and the server's defaults for the rest.
#[uniffi::export]
pub fn default_config() -> FfiConfig {
    let c = Config::default();
    FfiConfig {
        listen: c.listen.iter().map(ToString::to_string).collect(),
        chunk_size: c.chunk_size,
        max_connections: c.max_connections as u64,
        gop_cache_ms: c.hub.gop_cache_ms,
        low_latency: c.low_latency,
        shutdown_grace_ms: c.shutdown_grace.as_millis() as u64,
        publish_keys: None,
        network_policy: c.network_policy.into(),
        cellular_warning_bytes: c.cellular_warning_bytes,
        watch_network: c.watch_network,
        background_notice_ms: c.background_notice.as_millis() as u64,
        mdns: c.mdns,
        mdns_name: c.mdns_name,
    }
}

impl FfiConfig {
    /// The server configuration, or every problem found.
    pub fn to_config(&self) -> Result<Config, FfiError> {
        let mut problems = Vec::new();
        let mut config = Config { api_listen: None, ..Config::default() };
        config.listen = self
            .listen
            .iter()
            .enumerate()
            .filter_map(|(i, a)| match a.trim().parse::<SocketAddr>() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    problems.push(format!("listen[{i}]: {a:?} is not an ip:port address"));
                    None
                }
            })
            .collect();
        config.chunk_size = self.chunk_size;
        config.max_connections = usize::try_from(self.max_connections).unwrap_or(usize::MAX);
        config.hub.gop_cache_ms = self.gop_cache_ms;
        config.low_latency = self.low_latency;
        config.shutdown_grace = Duration::from_millis(self.shutdown_grace_ms);
        config.network_policy = self.network_policy.into();
        config.cellular_warning_bytes = self.cellular_warning_bytes;
        config.watch_network = self.watch_network;
        config.background_notice = Duration::from_millis(self.background_notice_ms);
        config.mdns = self.mdns;
        config.mdns_name = self.mdns_name.clone();
        if let Some(pk) = &self.publish_keys {
            if pk.app.is_empty() {
                problems.push("publish_keys.app: must not be empty".into());
            }
            if pk.keys.is_empty() {
                problems.push("publish_keys.keys: at least one key is required".into());
            }
            if pk.keys.iter().any(String::is_empty) {
                problems.push("publish_keys.keys: a key must not be empty".into());
            }
            config.auth.publish_keys = vec![AppKeys {
                app: pk.app.clone(),
                keys: pk
                    .keys
                    .iter()
                    .map(|k| PublishKey { secret: KeySecret::Plain(k.clone()), stream: None })
                    .collect(),
            }];
        }
        // Listener problems were reported above; don't report "no listener" on top of them.
        if let Err(errors) = config.validate() {
            let skip_no_listener = !problems.is_empty() && config.listen.is_empty();
            problems.extend(
                errors
                    .iter()
                    .filter(|e| {
                        !(skip_no_listener && matches!(e, openrtmp_server::ConfigError::NoListener))
                    })
                    .map(ToString::to_string),
            );
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(FfiError::InvalidConfig { problems })
        }
    }
}

/// Server-wide figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct FfiStats {
    /// Whether the server runs.
    pub running: bool,
    /// Open connections.
    pub connections: u64,
    /// Of which publishing.
    pub publishers: u64,
    /// Of which playing.
    pub players: u64,
    /// Streams (published or awaited by players).
    pub streams: u64,
    /// Bytes received from clients since start.
    pub bytes_in: u64,
    /// Bytes sent to clients since start.
    pub bytes_out: u64,
    /// CPU time of the process, user + system, ms (every target; `None` if the OS call
    /// failed, or when not running).
    pub cpu_time_ms: Option<u64>,
    /// Time since start, ms.
    pub uptime_ms: u64,
    /// The bound RTMP addresses.
    pub listeners: Vec<String>,
    /// Events dropped because the host's [`EventListener`] did not keep up (more than
    /// [`EVENT_QUEUE_CAPACITY`] waiting), since this object was made; reported when not
    /// running too.
    #[uniffi(default = 0)]
    pub events_dropped: u64,
}

/// One stream.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FfiStream {
    /// Application (`live`).
    pub app: String,
    /// Stream name.
    pub name: String,
    /// Whether a publisher is live.
    pub publishing: bool,
    /// Players attached.
    pub viewers: u64,
    /// Video codec (`H.264`, `HEVC`, ...).
    pub video_codec: Option<String>,
    /// Width in pixels.
    pub width: Option<u32>,
    /// Height in pixels.
    pub height: Option<u32>,
    /// Frames per second.
    pub fps: Option<f64>,
    /// Audio codec.
    pub audio_codec: Option<String>,
    /// Frames received from the current publisher.
    pub frames_in: u64,
    /// Payload bytes received from the current publisher.
    pub bytes_in: u64,
    /// How long the current publisher has been live, ms.
    pub publishing_for_ms: Option<u64>,
}

/// A running server and the tasks around it.
struct Running {
    handle: ServerHandle,
    addrs: Vec<SocketAddr>,
    server_task: JoinHandle<()>,
    watcher_task: JoinHandle<()>,
}

/// An RTMP server: owns its tokio runtime (multi-thread, 2 workers) and, once started, the
/// listeners and every connection.
#[derive(uniffi::Object)]
pub struct OpenRtmpServer {
    config: Config,
    runtime: Runtime,
    running: Mutex<Option<Running>>,
    /// What the host pushed through the platform seam, re-applied on every start.
    host_state: Mutex<seam::HostState>,
    listener: SharedListener,
    events: EventQueue,
}

impl std::fmt::Debug for OpenRtmpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenRtmpServer")
            .field("listen", &self.config.listen)
            .field("running", &self.lock().as_ref().map(|r| r.addrs.clone()))
            .finish_non_exhaustive()
    }
}

#[uniffi::export]
impl OpenRtmpServer {
    /// A server for `config` (validated now; nothing is bound until [`Self::start`]).
    #[uniffi::constructor]
    pub fn new(config: FfiConfig) -> Result<Arc<Self>, FfiError> {
        Self::with_config(config.to_config()?)
    }

    /// A server configured by a YAML (or JSON) document in the format of the
    /// `openrtmp.yaml` file (every problem is reported). The HTTP API settings are ignored.
    #[uniffi::constructor]
    pub fn from_yaml(yaml: String) -> Result<Arc<Self>, FfiError> {
        let mut config =
            openrtmp_config::check_str(&yaml, openrtmp_config::Format::Yaml).map_err(|e| {
                FfiError::InvalidConfig { problems: e.0.iter().map(ToString::to_string).collect() }
            })?;
        config.api_listen = None;
        Self::with_config(config)
    }

    /// Binds the listeners and serves on the runtime; returns the bound addresses (port 0
    /// resolved).
    pub fn start(&self) -> Result<Vec<String>, FfiError> {
        let mut running = self.lock();
        if let Some(r) = running.as_ref() {
            if !r.server_task.is_finished() {
                return Err(FfiError::AlreadyRunning);
            }
        }
        let server = self.runtime.block_on(Server::bind(self.config.clone()))?;
        let addrs = server.local_addrs();
        let handle = server.handle();
        // Subscribe before anything can happen, then replay what the host pushed so far.
        let platform_events = handle.events();
        self.host_state.lock().unwrap_or_else(PoisonError::into_inner).apply(&handle);
        let server_task = self.runtime.spawn(server.run(std::future::pending()));
        let watcher_task = self.runtime.spawn(event::forward(
            handle.clone(),
            platform_events,
            self.events.clone(),
        ));
        tracing::info!(addrs = ?addrs, "openrtmp-ffi: server started");
        let out = addrs.iter().map(ToString::to_string).collect();
        *running = Some(Running { handle, addrs, server_task, watcher_task });
        Ok(out)
    }

    /// Stops the server: graceful (clients are told, streams may go on for the grace
    /// period) or `force`d (everything closed now). Waits for the connections to close, at
    /// most the grace period (graceful) plus 5 s; a graceful stop that takes longer is
    /// forced. Does nothing if the server is not running.
    pub fn stop(&self, force: bool) {
        let Some(r) = self.lock().take() else { return };
        r.watcher_task.abort();
        r.handle.shutdown(force);
        let grace = if force { Duration::ZERO } else { r.handle.config().shutdown_grace };
        let handle = r.handle.clone();
        let mut task = r.server_task;
        self.runtime.block_on(async {
            if tokio::time::timeout(grace + STOP_EXTRA_WAIT, &mut task).await.is_err() {
                tracing::warn!("openrtmp-ffi: graceful stop took too long; forcing");
                handle.shutdown(true);
                if tokio::time::timeout(STOP_EXTRA_WAIT, &mut task).await.is_err() {
                    tracing::error!("openrtmp-ffi: server did not stop; abandoning its tasks");
                    task.abort();
                }
            }
        });
        tracing::info!(force, "openrtmp-ffi: server stopped");
    }

    /// Whether the server runs.
    pub fn is_running(&self) -> bool {
        self.lock().as_ref().is_some_and(|r| !r.server_task.is_finished())
    }

    /// The bound RTMP addresses (empty when not running).
    pub fn local_addrs(&self) -> Vec<String> {
        self.lock()
            .as_ref()
            .map(|r| r.addrs.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    /// Server-wide figures (zeros, `running == false`, when not running; `events_dropped`
    /// always).
    pub fn stats(&self) -> FfiStats {
        let events_dropped = self.events.dropped();
        let Some(handle) = self.handle() else {
            return FfiStats { events_dropped, ..FfiStats::default() };
        };
        let info = handle.info();
        FfiStats {
            running: true,
            connections: info.connections as u64,
            publishers: info.publishers as u64,
            players: info.players as u64,
            streams: info.streams as u64,
            bytes_in: info.bytes_in,
            bytes_out: info.bytes_out,
            cpu_time_ms: info.process_cpu.map(|d| d.as_millis() as u64),
            uptime_ms: info.uptime.as_millis() as u64,
            listeners: info.listeners.iter().map(ToString::to_string).collect(),
            events_dropped,
        }
    }

    /// Every stream (empty when not running).
    pub fn streams(&self) -> Vec<FfiStream> {
        let Some(handle) = self.handle() else { return Vec::new() };
        handle
            .streams()
            .into_iter()
            .map(|s| FfiStream {
                app: s.app,
                name: s.name,
                publishing: s.publishing,
                viewers: s.viewers as u64,
                video_codec: s.video_codec,
                width: s.width,
                height: s.height,
                fps: s.fps,
                audio_codec: s.audio_codec,
                frames_in: s.frames_in,
                bytes_in: s.bytes_in,
                publishing_for_ms: s.publishing_for.map(|d| d.as_millis() as u64),
            })
            .collect()
    }

    /// Ends stream `app/name` (its publisher is disconnected). False if nobody publishes it.
    pub fn end_stream(&self, app: String, name: String) -> Result<bool, FfiError> {
        Ok(self.handle().ok_or(FfiError::NotStarted)?.end_stream(&app, &name))
    }

    /// Sets (replaces) the event listener. Events from before the call are not replayed.
    pub fn set_listener(&self, listener: Arc<dyn EventListener>) {
        *self.listener.write().unwrap_or_else(PoisonError::into_inner) = Some(listener);
    }

    /// Removes the event listener.
    pub fn clear_listener(&self) {
        *self.listener.write().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl OpenRtmpServer {
    fn with_config(config: Config) -> Result<Arc<Self>, FfiError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("openrtmp-rt")
            .enable_all()
            .build()
            .map_err(|e| FfiError::Start { reason: format!("tokio runtime: {e}") })?;
        let listener: SharedListener = Arc::new(RwLock::new(None));
        let events = EventQueue::spawn(Arc::clone(&listener))
            .map_err(|e| FfiError::Start { reason: format!("event thread: {e}") })?;
        Ok(Arc::new(OpenRtmpServer {
            config,
            runtime,
            running: Mutex::new(None),
            host_state: Mutex::new(seam::HostState::default()),
            listener,
            events,
        }))
    }

    /// The server handle, for Rust embedders (`None` when not running).
    pub fn handle(&self) -> Option<ServerHandle> {
        self.lock().as_ref().map(|r| r.handle.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for OpenRtmpServer {
    fn drop(&mut self) {
        if let Some(r) = self.running.get_mut().unwrap_or_else(PoisonError::into_inner).take() {
            r.handle.shutdown(true);
        }
        // Dropping the runtime cancels what is left; the event thread ends when the last
        // sender (ours and the tasks') is gone.
    }
}

#[cfg(test)]
mod tests;
