//! The platform seam of [`ServerHandle`]: network, app state, power and local network
//! access reported by the host, platform events back to it.

use std::time::Duration;

use super::ServerHandle;
use crate::platform::{
    AppState, LocalNetworkAccess, NetworkPolicy, NetworkSnapshot, PlatformEvent, PowerState,
};

/// The platform seam: what the host tells the server and what the server tells the host.
/// Every item exists on every target; the notes say who feeds each one.
impl ServerHandle {
    /// Platform events (network changes, re-binds, background expiry, cellular warning,
    /// coalesced stats). A bounded channel (64 events): a receiver that falls behind gets
    /// `RecvError::Lagged` and continues with newer events. `StatsChanged` is sent at most
    /// every 250 ms and only when the stream or connection count changed; nothing is sent
    /// (and no timer runs) while nothing changes.
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<PlatformEvent> {
        self.shared.platform.subscribe()
    }

    /// A new network snapshot. Mobile hosts push it (iOS `NWPathMonitor`, Android
    /// `ConnectivityManager` callbacks); on Linux, macOS and Windows the built-in watcher
    /// (`Config::watch_network`) calls the same path. Sends `NetworkChanged`, re-marks
    /// connections on cellular, and applies the policy: when it is not `Any`, listeners
    /// configured on a specific address move to every address of the allowed networks
    /// (same family, same port) and `Rebound` is sent when that set changed; wildcard
    /// listeners stay, and a connection arriving on an address of a network the policy
    /// excludes is refused at accept.
    pub fn network_changed(&self, snapshot: NetworkSnapshot) {
        crate::listener::apply_network(&self.shared, snapshot);
    }

    /// Changes which networks the server serves on (all platforms; the initial value is
    /// `Config::network_policy`). Applied to the last snapshot at once (see
    /// [`ServerHandle::network_changed`]).
    pub fn set_network_policy(&self, policy: NetworkPolicy) {
        tracing::info!(?policy, "network policy");
        self.shared.platform.set_policy(policy);
        crate::listener::rebind(&self.shared);
        crate::platform::announce::update(&self.shared);
    }

    /// The host app's lifecycle (iOS and Android hosts; desktop servers stay in the
    /// foreground).
    ///
    /// * `Background`: the accept loops pause: listeners stay bound (no re-bind needed, the
    ///   port is kept) but accept nothing; connections that arrive wait in the kernel
    ///   backlog and are served on `Foreground`, or are refused by the OS when the backlog
    ///   is full. Connections neither publishing nor playing are closed after their output
    ///   is flushed, and so is a busy one once it stops publishing and playing. Streams go
    ///   on. The mDNS announcement (if on) is withdrawn. With `remaining: Some(t)`, clients
    ///   are told
    ///   `Config::background_notice` before `t` runs out (as
    ///   [`ServerHandle::background_time_expiring`]), unless the state changes first.
    /// * `Foreground`: accepting (and announcing) again.
    /// * `Suspended`: every connection is closed now (no notice); the server stays usable
    ///   and accepts again on `Foreground`.
    pub fn set_app_state(&self, state: AppState) {
        tracing::info!(?state, "app state");
        let generation = self.shared.platform.set_app_state(state);
        crate::platform::announce::follow(&self.shared);
        let AppState::Background { remaining: Some(remaining) } = state else { return };
        let notice = self.shared.config().background_notice;
        let spawner = self.shared.platform.listeners.lock().unwrap_or_else(|e| e.into_inner());
        let Some((rt, _)) = spawner.spawner.clone() else { return };
        drop(spawner);
        let (handle, stop) = (self.clone(), self.shared.shutdown.clone());
        // One timer for this deadline only (nothing periodic).
        rt.spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep(remaining.saturating_sub(notice)) => {
                    if handle.shared.platform.app_state().1 == generation {
                        handle.background_time_expiring(remaining.min(notice));
                    }
                }
            }
        });
    }

    /// The OS is about to suspend the app (iOS `beginBackgroundTask` expiration, Android
    /// foreground-service timeout; hosts call it, or `set_app_state` with a known deadline
    /// does). Every connected client is told (onStatus `NetConnection.Connect.AppShutdown`,
    /// plus the Enhanced RTMP reconnect request to clients that support it), its output is
    /// flushed (at most 1 s) and it is closed. Accepting stays paused until `Foreground`.
    /// Sends `BackgroundExpiring`.
    pub fn background_time_expiring(&self, remaining: Duration) {
        tracing::info!(remaining_ms = remaining.as_millis() as u64, "background time expiring");
        self.shared.platform.expire(remaining);
        self.shared.platform.emit(PlatformEvent::BackgroundExpiring { remaining });
    }

    /// Power conditions (iOS low-power mode, Android battery saver and Doze; desktop hosts
    /// may call it). While `low_power` or `device_idle` is set the server saves power:
    ///
    /// * a player's media is written in batches: after draining its queues a connection
    ///   waits 100 ms before pumping again, so frames leave in about 10 writes (and
    ///   bursts of TCP segments) a second instead of one per frame, which lets the radio
    ///   sleep longer; it adds at most 100 ms of latency. Reads are never delayed;
    /// * `StatsChanged` is sent at most every 2 s instead of every 250 ms;
    /// * the mDNS announcement (if on) is withdrawn while `device_idle` (Android Doze cuts
    ///   the network of background apps anyway).
    ///
    /// `on_battery` alone changes nothing. Returned by [`ServerHandle::power`].
    pub fn set_power(&self, power: PowerState) {
        tracing::info!(?power, "power state");
        self.shared.platform.set_power(power);
        crate::platform::announce::follow(&self.shared);
    }

    /// The power state last reported.
    pub fn power(&self) -> PowerState {
        self.shared.platform.power()
    }

    /// Whether the app may use the local network (iOS local network privacy; hosts
    /// elsewhere need not call it). `Denied` is reported by [`ServerHandle::readiness`].
    pub fn set_local_network_access(&self, access: LocalNetworkAccess) {
        tracing::info!(?access, "local network access");
        self.shared.platform.set_local_network_access(access);
        crate::platform::announce::follow(&self.shared);
    }
}
