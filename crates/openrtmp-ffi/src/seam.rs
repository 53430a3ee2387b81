//! The platform seam for hosts: what iOS and Android apps push into the server (network
//! snapshots, lifecycle, power, local network permission) and the energy figures they read,
//! mirroring [`openrtmp_server::platform`] as UniFFI records and enums.
//!
//! Every call is remembered and re-applied on each `start`, so a host can register its
//! network monitor and report its state before starting the server.

use std::net::IpAddr;
use std::sync::PoisonError;
use std::time::Duration;

use openrtmp_server::platform::{
    AppState, EnergyStats, LocalNetworkAccess, NetKind, NetworkInfo, NetworkPolicy,
    NetworkSnapshot, PowerState,
};
use openrtmp_server::ServerHandle;

use crate::{FfiError, OpenRtmpServer};

/// What kind of network an interface is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FfiNetKind {
    /// Wi-Fi.
    Wifi,
    /// Cellular data (metered).
    Cellular,
    /// Wired Ethernet.
    Ethernet,
    /// Loopback.
    Loopback,
    /// Anything else (VPN, USB tethering, unknown).
    Other,
}

impl From<FfiNetKind> for NetKind {
    fn from(k: FfiNetKind) -> Self {
        match k {
            FfiNetKind::Wifi => NetKind::Wifi,
            FfiNetKind::Cellular => NetKind::Cellular,
            FfiNetKind::Ethernet => NetKind::Ethernet,
            FfiNetKind::Loopback => NetKind::Loopback,
            FfiNetKind::Other => NetKind::Other,
        }
    }
}

/// One network (an Android `Network`, an `NWPath` interface).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FfiNetworkInfo {
    /// Stable id while the network exists (Android `netHandle`, interface index).
    pub id: u64,
    /// Interface name (`wlan0`, `en0`), if known (else empty).
    pub name: String,
    /// Kind.
    pub kind: FfiNetKind,
    /// Its IP addresses (`192.168.1.20`, `fe80::1`); unparsable entries are refused.
    pub addrs: Vec<String>,
    /// Metered (cellular, hotspot).
    pub expensive: bool,
}

/// Every network the device has now.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FfiNetworkSnapshot {
    /// The networks.
    pub networks: Vec<FfiNetworkInfo>,
    /// The id of the default route's network, if any.
    pub default_id: Option<u64>,
}

impl FfiNetworkSnapshot {
    fn to_snapshot(&self) -> Result<NetworkSnapshot, FfiError> {
        let mut problems = Vec::new();
        let networks = self
            .networks
            .iter()
            .enumerate()
            .map(|(i, n)| NetworkInfo {
                id: n.id,
                name: n.name.clone(),
                kind: n.kind.into(),
                addrs: n
                    .addrs
                    .iter()
                    .enumerate()
                    .filter_map(|(j, a)| {
                        // Scope ids (`fe80::1%wlan0`) are dropped.
                        let ip = a.split('%').next().unwrap_or(a).parse::<IpAddr>();
                        if ip.is_err() {
                            problems.push(format!("networks[{i}].addrs[{j}]: {a:?} is not an IP"));
                        }
                        ip.ok()
                    })
                    .collect(),
                expensive: n.expensive,
            })
            .collect();
        if problems.is_empty() {
            Ok(NetworkSnapshot { networks, default: self.default_id })
        } else {
            Err(FfiError::InvalidConfig { problems })
        }
    }
}

/// Which networks the server serves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FfiNetworkPolicy {
    /// Every network.
    Any,
    /// Wi-Fi, wired and loopback only: never cellular.
    WifiOnly,
    /// Cellular and loopback only.
    CellularOnly,
}

impl From<FfiNetworkPolicy> for NetworkPolicy {
    fn from(p: FfiNetworkPolicy) -> Self {
        match p {
            FfiNetworkPolicy::Any => NetworkPolicy::Any,
            FfiNetworkPolicy::WifiOnly => NetworkPolicy::WifiOnly,
            FfiNetworkPolicy::CellularOnly => NetworkPolicy::CellularOnly,
        }
    }
}

impl From<NetworkPolicy> for FfiNetworkPolicy {
    fn from(p: NetworkPolicy) -> Self {
        match p {
            NetworkPolicy::Any => FfiNetworkPolicy::Any,
            NetworkPolicy::WifiOnly => FfiNetworkPolicy::WifiOnly,
            NetworkPolicy::CellularOnly => FfiNetworkPolicy::CellularOnly,
        }
    }
}

/// Whether the app may use the local network (iOS local network privacy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FfiLocalNetworkAccess {
    /// No permission model (desktop, Android).
    NotRequired,
    /// Asked, not answered yet.
    Pending,
    /// Granted.
    Granted,
    /// Denied by the user.
    Denied,
}

impl From<FfiLocalNetworkAccess> for LocalNetworkAccess {
    fn from(a: FfiLocalNetworkAccess) -> Self {
        match a {
            FfiLocalNetworkAccess::NotRequired => LocalNetworkAccess::NotRequired,
            FfiLocalNetworkAccess::Pending => LocalNetworkAccess::Pending,
            FfiLocalNetworkAccess::Granted => LocalNetworkAccess::Granted,
            FfiLocalNetworkAccess::Denied => LocalNetworkAccess::Denied,
        }
    }
}

/// The host app's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FfiAppState {
    /// In the foreground: accepting.
    Foreground,
    /// In the background: accepting pauses, streams go on. With `remaining_ms`, clients are
    /// told before the OS deadline (only when set while the server runs).
    Background {
        /// Time the OS still grants, ms, if known.
        remaining_ms: Option<u64>,
    },
    /// About to be suspended: every connection is closed now.
    Suspended,
}

impl From<FfiAppState> for AppState {
    fn from(s: FfiAppState) -> Self {
        match s {
            FfiAppState::Foreground => AppState::Foreground,
            FfiAppState::Background { remaining_ms } => {
                AppState::Background { remaining: remaining_ms.map(Duration::from_millis) }
            }
            FfiAppState::Suspended => AppState::Suspended,
        }
    }
}

/// Power conditions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, uniffi::Record)]
pub struct FfiPowerState {
    /// Running on battery.
    pub on_battery: bool,
    /// Low-power mode (iOS) / battery saver (Android).
    pub low_power: bool,
    /// Device idle (Android Doze).
    pub device_idle: bool,
}

impl From<FfiPowerState> for PowerState {
    fn from(p: FfiPowerState) -> Self {
        PowerState { on_battery: p.on_battery, low_power: p.low_power, device_idle: p.device_idle }
    }
}

/// Payload bytes received on one stream.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FfiStreamBytes {
    /// `app/name`.
    pub stream: String,
    /// Payload bytes from its current publisher.
    pub bytes: u64,
}

/// Energy-relevant figures for the host's battery statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct FfiEnergyStats {
    /// CPU time of the process, user + system, ms (every target; `None` if the OS call
    /// failed, or when not running).
    pub cpu_time_ms: Option<u64>,
    /// Bytes received from clients.
    pub bytes_in: u64,
    /// Bytes sent to clients.
    pub bytes_out: u64,
    /// Bytes sent over cellular networks (per the last snapshot).
    pub cellular_bytes_out: u64,
    /// Thread wake-ups: context switches of every thread since start (Linux, Android,
    /// macOS, iOS; `None` on Windows, which counts them per thread only, if the OS call
    /// failed, or when not running).
    pub wakeups: Option<u64>,
    /// Payload bytes received per stream.
    pub stream_bytes_in: Vec<FfiStreamBytes>,
}

impl From<EnergyStats> for FfiEnergyStats {
    fn from(e: EnergyStats) -> Self {
        FfiEnergyStats {
            cpu_time_ms: e.cpu_time.map(|d| d.as_millis() as u64),
            bytes_in: e.bytes_in,
            bytes_out: e.bytes_out,
            cellular_bytes_out: e.cellular_bytes_out,
            wakeups: e.wakeups,
            stream_bytes_in: e
                .stream_bytes_in
                .into_iter()
                .map(|(stream, bytes)| FfiStreamBytes { stream, bytes })
                .collect(),
        }
    }
}

/// The host's last reports, re-applied on start.
#[derive(Debug, Default)]
pub(crate) struct HostState {
    snapshot: Option<NetworkSnapshot>,
    policy: Option<NetworkPolicy>,
    app_state: Option<AppState>,
    power: Option<PowerState>,
    local_network: Option<LocalNetworkAccess>,
}

impl HostState {
    /// Replays every report on a freshly bound server.
    pub(crate) fn apply(&self, handle: &ServerHandle) {
        if let Some(p) = self.policy {
            handle.set_network_policy(p);
        }
        if let Some(s) = &self.snapshot {
            handle.network_changed(s.clone());
        }
        if let Some(a) = self.local_network {
            handle.set_local_network_access(a);
        }
        if let Some(p) = self.power {
            handle.set_power(p);
        }
        if let Some(s) = self.app_state {
            handle.set_app_state(s);
        }
    }
}

/// The inbound calls of the platform seam. Each is remembered (and re-applied on `start`)
/// and applied at once when the server runs.
#[uniffi::export]
impl OpenRtmpServer {
    /// The device's networks changed (iOS `NWPathMonitor`, Android `ConnectivityManager`
    /// callbacks). Refused if an address does not parse.
    pub fn network_changed(&self, snapshot: FfiNetworkSnapshot) -> Result<(), FfiError> {
        let snapshot = snapshot.to_snapshot()?;
        self.host(|h| h.snapshot = Some(snapshot.clone()));
        if let Some(handle) = self.handle() {
            handle.network_changed(snapshot);
        }
        Ok(())
    }

    /// Which networks the server serves on.
    pub fn set_network_policy(&self, policy: FfiNetworkPolicy) {
        self.host(|h| h.policy = Some(policy.into()));
        if let Some(handle) = self.handle() {
            handle.set_network_policy(policy.into());
        }
    }

    /// The app's lifecycle changed.
    pub fn set_app_state(&self, state: FfiAppState) {
        self.host(|h| h.app_state = Some(state.into()));
        if let Some(handle) = self.handle() {
            handle.set_app_state(state.into());
        }
    }

    /// The OS is about to suspend the app: clients are told and closed, accepting pauses
    /// until `Foreground`. No-op when the server is not running.
    pub fn background_time_expiring_ms(&self, remaining_ms: u64) {
        if let Some(handle) = self.handle() {
            handle.background_time_expiring(Duration::from_millis(remaining_ms));
        }
    }

    /// Power conditions changed.
    pub fn set_power(&self, power: FfiPowerState) {
        self.host(|h| h.power = Some(power.into()));
        if let Some(handle) = self.handle() {
            handle.set_power(power.into());
        }
    }

    /// Local network permission changed (iOS).
    pub fn set_local_network_access(&self, access: FfiLocalNetworkAccess) {
        self.host(|h| h.local_network = Some(access.into()));
        if let Some(handle) = self.handle() {
            handle.set_local_network_access(access.into());
        }
    }

    /// Energy figures (zeros when not running).
    pub fn energy(&self) -> FfiEnergyStats {
        self.handle().map(|h| h.energy().into()).unwrap_or_default()
    }
}

impl OpenRtmpServer {
    fn host(&self, f: impl FnOnce(&mut HostState)) {
        f(&mut self.host_state.lock().unwrap_or_else(PoisonError::into_inner));
    }
}
