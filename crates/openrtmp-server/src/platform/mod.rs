//! The platform seam: everything the server needs to know about the device it runs on,
//! as plain data that is the same on every target. Desktop builds feed it from OS watchers
//! (`if-watch`: netlink on Linux, verified here; SystemConfiguration on macOS and
//! `NotifyIpInterfaceChange` on Windows, with interface kinds from the OS interface types,
//! whose Windows snapshot was verified under Wine) when `Config::watch_network` is on;
//! mobile hosts (iOS,
//! Android) push the same types through [`crate::ServerHandle`]'s inbound calls, because
//! apps cannot watch the network themselves there (Android forbids netlink to apps; iOS has
//! `NWPathMonitor` only in Swift). A host that pushes snapshots on a desktop build turns
//! the watcher off, or the two overwrite each other.
//!
//! What the server does with it: [`crate::ServerHandle::events`] and the inbound calls
//! next to it (`network_changed`, `set_network_policy`, `set_app_state`,
//! `background_time_expiring`, `set_power`, `set_local_network_access`, `energy`), and
//! the optional mDNS/DNS-SD announcement (`Config::mdns`), which follows them.
//!
//! No item here carries a `#[cfg]`: the public API is identical on every target.

use std::net::IpAddr;
use std::time::Duration;

pub(crate) mod announce;
mod mdns;
pub(crate) mod process;
pub(crate) mod state;
mod watch;

pub(crate) use watch::spawn as spawn_watcher;

/// What kind of network an interface is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetKind {
    /// Wi-Fi.
    Wifi,
    /// Cellular data (metered).
    Cellular,
    /// Wired Ethernet.
    Ethernet,
    /// The loopback interface.
    Loopback,
    /// Anything else (VPN, USB tethering, unknown).
    Other,
}

/// One network (an interface on desktop; an Android `Network` or an `NWPath` interface on
/// mobile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    /// Stable id while the network exists (ifindex on desktop, netHandle on Android).
    pub id: u64,
    /// Interface name (`eth0`, `wlan0`, `en0`), if known.
    pub name: String,
    /// Kind.
    pub kind: NetKind,
    /// Addresses on it.
    pub addrs: Vec<IpAddr>,
    /// Metered (cellular, hotspot).
    pub expensive: bool,
}

/// Every network the device has now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkSnapshot {
    /// The networks.
    pub networks: Vec<NetworkInfo>,
    /// The id of the default route's network, if any.
    pub default: Option<u64>,
}

/// Which networks the server may listen on (and count as allowed for streaming).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkPolicy {
    /// Every network (the default; desktop servers listen on what they are told).
    #[default]
    Any,
    /// Wi-Fi (and wired, and loopback) only: never over cellular.
    WifiOnly,
    /// Cellular (and loopback) only.
    CellularOnly,
}

/// Whether the app may reach the local network (iOS local network privacy; elsewhere
/// always `NotRequired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LocalNetworkAccess {
    /// No permission model (desktop, Android).
    #[default]
    NotRequired,
    /// Asked, not answered yet.
    Pending,
    /// Granted.
    Granted,
    /// Denied by the user.
    Denied,
}

/// The host app's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppState {
    /// In the foreground (desktop servers always are).
    #[default]
    Foreground,
    /// In the background; `remaining` is the time the OS still grants (iOS background task,
    /// Android foreground-service limits), if known.
    Background {
        /// Time left before the OS suspends the app.
        remaining: Option<Duration>,
    },
    /// About to be suspended: close everything now.
    Suspended,
}

/// Power conditions the host reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PowerState {
    /// Running on battery.
    pub on_battery: bool,
    /// Low-power mode (iOS) / battery saver (Android).
    pub low_power: bool,
    /// Device idle (Android Doze).
    pub device_idle: bool,
}

/// What the server tells the host (the FFI forwards these to Swift/Kotlin).
#[derive(Debug, Clone, PartialEq)]
pub enum PlatformEvent {
    /// Streams or connections changed (at most a few times per second).
    StatsChanged {
        /// Streams being published.
        streams: usize,
        /// Open connections.
        connections: usize,
    },
    /// Bytes sent over cellular passed the configured warning threshold.
    CellularDataWarning {
        /// Bytes sent over cellular since start.
        bytes: u64,
        /// The threshold.
        threshold: u64,
    },
    /// The background time is nearly over: clients were told, connections are closing.
    BackgroundExpiring {
        /// Time left.
        remaining: Duration,
    },
    /// Listeners were re-bound after a network change or a policy change.
    Rebound {
        /// The addresses now listened on.
        addrs: Vec<std::net::SocketAddr>,
    },
    /// The network changed (a new snapshot was applied).
    NetworkChanged {
        /// The snapshot.
        snapshot: NetworkSnapshot,
    },
}

/// Energy-relevant figures for the host (battery statistics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnergyStats {
    /// CPU time used by the process (user + system) since it started (every target;
    /// `None` only if the OS call failed).
    pub cpu_time: Option<Duration>,
    /// Bytes received from clients.
    pub bytes_in: u64,
    /// Bytes sent to clients.
    pub bytes_out: u64,
    /// Bytes sent over cellular networks.
    pub cellular_bytes_out: u64,
    /// Thread wake-ups of the process since start: context switches, voluntary and
    /// involuntary, of every thread. `None` on Windows, which counts them per thread only
    /// (and if the OS call failed); Linux, Android, macOS and iOS report them.
    pub wakeups: Option<u64>,
    /// Payload bytes received per stream (`app/name`).
    pub stream_bytes_in: Vec<(String, u64)>,
}

impl crate::ServerHandle {
    /// Energy figures for the host's battery statistics (all platforms): process CPU time,
    /// bytes in and out since start, bytes sent by connections whose local address is on a
    /// cellular network of the last snapshot, thread wake-ups (context switches; not on
    /// Windows), and payload bytes received per stream from its current publisher.
    pub fn energy(&self) -> EnergyStats {
        let s = &self.shared;
        let process = process::usage();
        EnergyStats {
            cpu_time: process.cpu,
            bytes_in: s.stats.bytes_in.load(std::sync::atomic::Ordering::Relaxed),
            bytes_out: s.stats.bytes_out.load(std::sync::atomic::Ordering::Relaxed),
            cellular_bytes_out: s.platform.cellular_out(),
            wakeups: process.wakeups,
            stream_bytes_in: s
                .hub
                .streams()
                .into_iter()
                .map(|i| (format!("{}/{}", i.key.app, i.key.name), i.bytes_in))
                .collect(),
        }
    }
}
