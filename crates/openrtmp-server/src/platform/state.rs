//! What the server remembers of the platform: the last network snapshot, the policy, the
//! app and power states, the event channel, and the signals connection tasks and accept
//! loops follow. Everything here is event-driven: no periodic timer runs when idle.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{broadcast, watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{
    AppState, LocalNetworkAccess, NetKind, NetworkPolicy, NetworkSnapshot, PlatformEvent,
    PowerState,
};

/// Capacity of the event channel: a receiver that falls further behind sees `Lagged`.
pub(crate) const EVENT_CAPACITY: usize = 64;
/// `StatsChanged` is sent at most this often.
pub(crate) const STATS_INTERVAL: Duration = Duration::from_millis(250);
/// ... and at most this often while saving power (low-power mode, Doze).
pub(crate) const STATS_INTERVAL_SAVING: Duration = Duration::from_secs(2);
/// While saving power, a connection that has drained its players' queues waits this long
/// before pumping media again: fewer writes and TCP segments per second for at most this
/// much added latency.
pub(crate) const SAVING_NAP: Duration = Duration::from_millis(100);

/// What every connection task is told to do by an app state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Directive {
    /// Carry on.
    Carry,
    /// Background: connections neither publishing nor playing close after flushing.
    CloseIdle,
    /// Background time is nearly over: tell clients, flush, close.
    Expire(Duration),
    /// Suspended: close now.
    Suspend,
}

/// The mutable part, behind one small lock (touched only by inbound calls).
#[derive(Debug, Default)]
struct Recorded {
    app: AppState,
    /// Bumped on every app state change (a pending background deadline checks it).
    app_generation: u64,
    policy: NetworkPolicy,
    power: PowerState,
    local_network: LocalNetworkAccess,
    snapshot: NetworkSnapshot,
}

/// A listener bound to a specific address (not a wildcard), which policy changes may move.
#[derive(Debug)]
pub(crate) struct SpecificListener {
    pub(crate) addr: SocketAddr,
    pub(crate) stop: CancellationToken,
}

/// Listeners bound to specific addresses, and where to spawn new accept loops.
#[derive(Debug, Default)]
pub(crate) struct Listeners {
    /// The addresses bound at start (port 0 resolved): what `NetworkPolicy::Any` restores.
    pub(crate) configured: Vec<SocketAddr>,
    pub(crate) bound: Vec<SpecificListener>,
    /// Set once the server runs.
    pub(crate) spawner: Option<(tokio::runtime::Handle, TaskTracker)>,
}

/// The per-connection cellular flag, kept in step with the snapshot.
type ConnFlags = Arc<Mutex<HashMap<u64, (IpAddr, Arc<AtomicBool>)>>>;

/// Platform state shared by the handle, the accept loops and the connection tasks.
#[derive(Debug)]
pub(crate) struct PlatformState {
    events: broadcast::Sender<PlatformEvent>,
    accepting: watch::Sender<bool>,
    directive: watch::Sender<Directive>,
    /// True while the host reports low-power mode or device idle (see [`SAVING_NAP`]).
    saving: watch::Sender<bool>,
    recorded: Mutex<Recorded>,
    pub(crate) listeners: Mutex<Listeners>,
    conns: ConnFlags,
    cellular_out: AtomicU64,
    cellular_warned: AtomicBool,
    /// `u64::MAX`: no warning configured.
    cellular_threshold: AtomicU64,
    pub(crate) stats_dirty: Notify,
    /// The mDNS announcer, while `Config::mdns` is on and the server runs.
    pub(crate) mdns: Mutex<Option<Arc<super::mdns::Announcer>>>,
}

/// Removes a connection's cellular flag when the connection ends.
#[derive(Debug)]
pub(crate) struct Tracked {
    conns: ConnFlags,
    id: u64,
    /// True while the connection's local address is on a cellular network.
    pub(crate) cellular: Arc<AtomicBool>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

impl PlatformState {
    pub(crate) fn new(cellular_warning_bytes: Option<u64>, policy: NetworkPolicy) -> Self {
        let recorded = Recorded { policy, ..Recorded::default() };
        PlatformState {
            events: broadcast::channel(EVENT_CAPACITY).0,
            accepting: watch::channel(true).0,
            directive: watch::channel(Directive::Carry).0,
            saving: watch::channel(false).0,
            recorded: Mutex::new(recorded),
            listeners: Mutex::new(Listeners::default()),
            conns: Arc::default(),
            cellular_out: AtomicU64::new(0),
            cellular_warned: AtomicBool::new(false),
            cellular_threshold: AtomicU64::new(cellular_warning_bytes.unwrap_or(u64::MAX)),
            stats_dirty: Notify::new(),
            mdns: Mutex::new(None),
        }
    }

    fn recorded(&self) -> MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<PlatformEvent> {
        self.events.subscribe()
    }

    pub(crate) fn emit(&self, event: PlatformEvent) {
        tracing::debug!(?event, "platform event");
        // No receiver is fine: nobody is listening.
        let _ = self.events.send(event);
    }

    /// Streams or connections may have changed: the coalescing task looks.
    pub(crate) fn stats_changed(&self) {
        self.stats_dirty.notify_one();
    }

    pub(crate) fn accepting(&self) -> watch::Receiver<bool> {
        self.accepting.subscribe()
    }

    pub(crate) fn directives(&self) -> watch::Receiver<Directive> {
        self.directive.subscribe()
    }

    /// Records a new app state; returns its generation. Accepting and the connections'
    /// directive follow it.
    pub(crate) fn set_app_state(&self, state: AppState) -> u64 {
        let generation = {
            let mut r = self.recorded();
            r.app = state;
            r.app_generation += 1;
            r.app_generation
        };
        let (accept, directive) = match state {
            AppState::Foreground => (true, Directive::Carry),
            AppState::Background { .. } => (false, Directive::CloseIdle),
            AppState::Suspended => (false, Directive::Suspend),
        };
        self.accepting.send_replace(accept);
        self.directive.send_replace(directive);
        generation
    }

    /// The app state and its generation.
    pub(crate) fn app_state(&self) -> (AppState, u64) {
        let r = self.recorded();
        (r.app, r.app_generation)
    }

    pub(crate) fn expire(&self, remaining: Duration) {
        self.accepting.send_replace(false);
        self.directive.send_replace(Directive::Expire(remaining));
    }

    pub(crate) fn set_power(&self, power: PowerState) {
        self.recorded().power = power;
        self.saving.send_if_modified(|saving| {
            let now = power.low_power || power.device_idle;
            std::mem::replace(saving, now) != now
        });
    }

    /// Follows whether the server saves power (low-power mode or device idle).
    pub(crate) fn saving(&self) -> watch::Receiver<bool> {
        self.saving.subscribe()
    }

    /// Whether the server saves power now.
    pub(crate) fn is_saving(&self) -> bool {
        *self.saving.borrow()
    }

    pub(crate) fn power(&self) -> PowerState {
        self.recorded().power
    }

    pub(crate) fn set_local_network_access(&self, access: LocalNetworkAccess) {
        self.recorded().local_network = access;
    }

    pub(crate) fn local_network_access(&self) -> LocalNetworkAccess {
        self.recorded().local_network
    }

    pub(crate) fn set_policy(&self, policy: NetworkPolicy) {
        self.recorded().policy = policy;
    }

    pub(crate) fn policy_and_snapshot(&self) -> (NetworkPolicy, NetworkSnapshot) {
        let r = self.recorded();
        (r.policy, r.snapshot.clone())
    }

    /// Stores a snapshot and re-marks which connections are on cellular.
    pub(crate) fn set_snapshot(&self, snapshot: NetworkSnapshot) {
        let cellular = kind_lookup(&snapshot, NetKind::Cellular);
        self.recorded().snapshot = snapshot;
        for (ip, flag) in self.conns.lock().unwrap_or_else(|e| e.into_inner()).values() {
            flag.store(cellular.contains(ip), Ordering::Relaxed);
        }
    }

    /// Registers a connection accepted on local address `local`.
    pub(crate) fn track(&self, id: u64, local: IpAddr) -> Tracked {
        let on_cellular = self.kind_of(local) == Some(NetKind::Cellular);
        let cellular = Arc::new(AtomicBool::new(on_cellular));
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns.insert(id, (local, Arc::clone(&cellular)));
        Tracked { conns: Arc::clone(&self.conns), id, cellular }
    }

    /// The kind of network `ip` is on, per the last snapshot.
    pub(crate) fn kind_of(&self, ip: IpAddr) -> Option<NetKind> {
        let r = self.recorded();
        r.snapshot.networks.iter().find(|n| n.addrs.contains(&ip)).map(|n| n.kind)
    }

    /// Whether a connection that arrived on local address `local` may be served: refused
    /// only when the policy excludes the network that address is on (unknown: allowed).
    pub(crate) fn local_allowed(&self, local: IpAddr) -> bool {
        let policy = self.recorded().policy;
        match self.kind_of(local) {
            Some(kind) => allows(policy, kind),
            None => true,
        }
    }

    /// Counts bytes written by a connection on cellular; the warning fires once.
    pub(crate) fn add_cellular_out(&self, n: u64) {
        let total = self.cellular_out.fetch_add(n, Ordering::Relaxed) + n;
        let threshold = self.cellular_threshold.load(Ordering::Relaxed);
        if total >= threshold && !self.cellular_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(bytes = total, threshold, "cellular data warning");
            self.emit(PlatformEvent::CellularDataWarning { bytes: total, threshold });
        }
    }

    /// A new warning threshold (a configuration reload); it fires at most once per run.
    pub(crate) fn set_cellular_warning(&self, bytes: Option<u64>) {
        self.cellular_threshold.store(bytes.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn cellular_out(&self) -> u64 {
        self.cellular_out.load(Ordering::Relaxed)
    }
}

/// Whether `policy` lets the server use a network of `kind`.
pub(crate) fn allows(policy: NetworkPolicy, kind: NetKind) -> bool {
    match policy {
        NetworkPolicy::Any => true,
        NetworkPolicy::WifiOnly => {
            matches!(kind, NetKind::Wifi | NetKind::Ethernet | NetKind::Loopback)
        }
        NetworkPolicy::CellularOnly => matches!(kind, NetKind::Cellular | NetKind::Loopback),
    }
}

/// Every address on a network of `kind`.
fn kind_lookup(snapshot: &NetworkSnapshot, kind: NetKind) -> Vec<IpAddr> {
    snapshot.networks.iter().filter(|n| n.kind == kind).flat_map(|n| n.addrs.clone()).collect()
}

/// The addresses `policy` allows listening on, of the same family as `like`. Link-local
/// IPv6 addresses are left out (they need a scope to bind).
pub(crate) fn allowed_addrs(
    policy: NetworkPolicy,
    snapshot: &NetworkSnapshot,
    like: IpAddr,
) -> Vec<IpAddr> {
    let mut addrs: Vec<IpAddr> = snapshot
        .networks
        .iter()
        .filter(|n| allows(policy, n.kind))
        .flat_map(|n| n.addrs.iter().copied())
        .filter(|ip| ip.is_ipv4() == like.is_ipv4())
        .filter(|ip| match ip {
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
            IpAddr::V4(_) => true,
        })
        .collect();
    addrs.sort();
    addrs.dedup();
    addrs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::NetworkInfo;

    fn net(id: u64, kind: NetKind, addrs: &[&str]) -> NetworkInfo {
        NetworkInfo {
            id,
            name: format!("if{id}"),
            kind,
            addrs: addrs.iter().map(|a| a.parse().expect("ip")).collect(),
            expensive: kind == NetKind::Cellular,
        }
    }

    #[test]
    fn policy_selects_networks() {
        let snapshot = NetworkSnapshot {
            networks: vec![
                net(1, NetKind::Loopback, &["127.0.0.1", "::1"]),
                net(2, NetKind::Wifi, &["192.168.1.5", "fe80::1"]),
                net(3, NetKind::Cellular, &["10.0.0.7"]),
            ],
            default: Some(2),
        };
        let v4: IpAddr = "127.0.0.1".parse().expect("ip");
        let wifi = allowed_addrs(NetworkPolicy::WifiOnly, &snapshot, v4);
        assert_eq!(
            wifi,
            ["127.0.0.1".parse::<IpAddr>().expect("ip"), "192.168.1.5".parse().expect("ip")]
        );
        let cell = allowed_addrs(NetworkPolicy::CellularOnly, &snapshot, v4);
        assert_eq!(
            cell,
            ["10.0.0.7".parse::<IpAddr>().expect("ip"), "127.0.0.1".parse().expect("ip")]
        );
        let v6 = allowed_addrs(NetworkPolicy::WifiOnly, &snapshot, "::1".parse().expect("ip"));
        assert_eq!(v6, ["::1".parse::<IpAddr>().expect("ip")]);
        let state = PlatformState::new(Some(10), NetworkPolicy::WifiOnly);
        state.set_snapshot(snapshot);
        assert!(!state.local_allowed("10.0.0.7".parse().expect("ip")));
        assert!(state.local_allowed("192.168.1.5".parse().expect("ip")));
        assert!(state.local_allowed("172.16.0.1".parse().expect("ip")));
        let tracked = state.track(1, "10.0.0.7".parse().expect("ip"));
        assert!(tracked.cellular.load(Ordering::Relaxed));
        let mut events = state.subscribe();
        state.add_cellular_out(6);
        state.add_cellular_out(6);
        state.add_cellular_out(6);
        assert!(matches!(
            events.try_recv(),
            Ok(PlatformEvent::CellularDataWarning { bytes: 12, threshold: 10 })
        ));
        assert!(events.try_recv().is_err(), "the warning fires once");
    }
}
