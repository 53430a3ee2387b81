//! The desktop network watcher: OS address events (netlink on Linux, the OS notifiers on
//! macOS and Windows, through `if-watch`) turned into [`NetworkSnapshot`]s and fed to the
//! same path as [`crate::ServerHandle::network_changed`]. Event-driven: it sleeps until
//! the OS reports a change. Other targets have no watcher: their hosts push snapshots.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use tokio_util::task::TaskTracker;

use super::{NetKind, NetworkInfo, NetworkSnapshot};
use crate::shared::Shared;

/// Starts the watcher on `tracker` (until the server shuts down), where there is one.
pub(crate) fn spawn(shared: Arc<Shared>, tracker: &TaskTracker) {
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
    {
        tracker.spawn(desktop::run(shared));
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
    {
        let _ = (shared, tracker);
        tracing::debug!("no network watcher on this target: the host pushes network changes");
    }
}

#[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
mod desktop {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use futures_util::FutureExt;
    use if_watch::{IfEvent, IpNet};

    use crate::shared::Shared;

    pub(super) async fn run(shared: Arc<Shared>) {
        let stop = shared.shutdown.clone();
        let mut watcher = match if_watch::tokio::IfWatcher::new() {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch network changes");
                return;
            }
        };
        let mut nets: BTreeSet<IpNet> = watcher.iter().copied().collect();
        let mut last = None;
        loop {
            if !nets.is_empty() {
                let snapshot = super::snapshot(nets.iter().map(|n| n.addr()));
                if last.as_ref() != Some(&snapshot) {
                    last = Some(snapshot.clone());
                    crate::listener::apply_network(&shared, snapshot);
                }
            }
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                event = std::future::poll_fn(|cx| watcher.poll_if_event(cx)) => event,
            };
            let mut next = Some(event);
            // Apply a burst of events (an interface coming up with several addresses) as one
            // snapshot.
            while let Some(event) = next {
                match event {
                    Ok(IfEvent::Up(net)) => {
                        nets.insert(net);
                    }
                    Ok(IfEvent::Down(net)) => {
                        nets.remove(&net);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "network watcher failed; no more updates");
                        return;
                    }
                }
                next = std::future::poll_fn(|cx| watcher.poll_if_event(cx)).now_or_never();
            }
        }
    }
}

/// Groups addresses by interface and names each network's kind.
#[cfg_attr(
    not(any(target_os = "linux", target_os = "macos", target_os = "windows")),
    allow(dead_code)
)]
pub(crate) fn snapshot(addrs: impl Iterator<Item = IpAddr>) -> NetworkSnapshot {
    let names = InterfaceNames::load();
    let mut by_name: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for ip in addrs {
        by_name.entry(names.name_of(ip)).or_default().push(ip);
    }
    let networks: Vec<NetworkInfo> = by_name
        .into_iter()
        .map(|(name, mut addrs)| {
            addrs.sort();
            addrs.dedup();
            let kind = if name.is_empty() && addrs.iter().all(IpAddr::is_loopback) {
                NetKind::Loopback
            } else {
                names.kind_of(&name)
            };
            NetworkInfo {
                id: names.index_of(&name),
                expensive: kind == NetKind::Cellular,
                name,
                kind,
                addrs,
            }
        })
        .collect();
    let default = names
        .default
        .as_deref()
        .map(|n| names.index_of(n))
        .filter(|id| *id != 0)
        .filter(|id| networks.iter().any(|n| n.id == *id));
    NetworkSnapshot { networks, default }
}

/// The kind of network an interface name stands for (Linux naming).
pub(crate) fn kind_of(name: &str) -> NetKind {
    if name == "lo" || name.starts_with("lo0") {
        NetKind::Loopback
    } else if name.starts_with("wl") {
        NetKind::Wifi
    } else if name.starts_with("ww") || name.starts_with("rmnet") {
        NetKind::Cellular
    } else if name.starts_with("en") || name.starts_with("eth") {
        NetKind::Ethernet
    } else {
        NetKind::Other
    }
}

/// Which interface holds an address. `if-watch` reports addresses without their interface,
/// so on Linux the names come from procfs: IPv6 exactly (`/proc/net/if_inet6`), IPv4 from
/// the main routing table's prefix routes (`/proc/net/route`, longest prefix; a /32 with no
/// route stays unnamed), and the kind from the name (`wl*` Wi-Fi, `ww*`/`rmnet*`
/// cellular, `en*`/`eth*` wired). On macOS and Windows, where names say nothing of the
/// kind (`en0` is Wi-Fi or wired; Windows names are GUIDs), `netdev` lists the interfaces
/// with their addresses, index and OS interface type (IEEE 802.11, Ethernet, WWAN) and the
/// default route's interface. Elsewhere there is no watcher.
#[derive(Debug, Default)]
struct InterfaceNames {
    v6: Vec<(IpAddr, String)>,
    /// (network, mask, interface), longest mask first.
    v4: Vec<(u32, u32, String)>,
    default: Option<String>,
    /// Interface index and kind by name, where the OS reports them (macOS, Windows).
    reported: BTreeMap<String, (u64, NetKind)>,
}

impl InterfaceNames {
    fn load() -> InterfaceNames {
        #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
        let mut names = InterfaceNames::default();
        #[cfg(target_os = "linux")]
        {
            if let Ok(text) = std::fs::read_to_string("/proc/net/if_inet6") {
                names.v6 = text.lines().filter_map(parse_if_inet6).collect();
            }
            if let Ok(text) = std::fs::read_to_string("/proc/net/route") {
                for (net, mask, name) in text.lines().skip(1).filter_map(parse_route) {
                    if mask == 0 {
                        names.default.get_or_insert(name);
                    } else {
                        names.v4.push((net, mask, name));
                    }
                }
                names.v4.sort_by_key(|(_, mask, _)| std::cmp::Reverse(mask.count_ones()));
            }
        }
        #[cfg(any(target_os = "macos", target_os = "windows"))]
        {
            for iface in netdev::get_interfaces() {
                let kind = if iface.is_loopback() {
                    NetKind::Loopback
                } else {
                    kind_of_type(iface.if_type)
                };
                for net in &iface.ipv4 {
                    // Exact addresses: a full mask matches only that address.
                    names.v4.push((u32::from(net.addr()), u32::MAX, iface.name.clone()));
                }
                for net in &iface.ipv6 {
                    names.v6.push((IpAddr::V6(net.addr()), iface.name.clone()));
                }
                names.reported.insert(iface.name.clone(), (u64::from(iface.index), kind));
            }
            names.default = netdev::get_default_interface().ok().map(|i| i.name);
        }
        names
    }

    /// The kind of the interface `name`: as the OS reports it, else from the name.
    fn kind_of(&self, name: &str) -> NetKind {
        self.reported.get(name).map_or_else(|| kind_of(name), |(_, kind)| *kind)
    }

    fn name_of(&self, ip: IpAddr) -> String {
        let found = match ip {
            IpAddr::V6(_) => self.v6.iter().find(|(a, _)| *a == ip).map(|(_, n)| n.clone()),
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                self.v4.iter().find(|(net, mask, _)| bits & mask == *net).map(|(_, _, n)| n.clone())
            }
        };
        found.unwrap_or_else(|| if ip.is_loopback() { "lo".into() } else { String::new() })
    }

    /// The interface index (`/sys/class/net/NAME/ifindex` on Linux; 0 when unknown).
    fn index_of(&self, name: &str) -> u64 {
        if name.is_empty() {
            return 0;
        }
        if let Some((index, _)) = self.reported.get(name) {
            return *index;
        }
        #[cfg(target_os = "linux")]
        {
            std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        }
        #[cfg(not(target_os = "linux"))]
        {
            0
        }
    }
}

/// The kind of network an OS interface type stands for (macOS, Windows).
#[cfg(any(target_os = "macos", target_os = "windows"))]
fn kind_of_type(if_type: netdev::interface::types::InterfaceType) -> NetKind {
    use netdev::interface::types::InterfaceType as T;
    match if_type {
        T::Wireless80211 => NetKind::Wifi,
        T::Wwan | T::Wwanpp | T::Wwanpp2 => NetKind::Cellular,
        T::Ethernet | T::FastEthernetT | T::FastEthernetFx | T::GigabitEthernet => {
            NetKind::Ethernet
        }
        T::Loopback => NetKind::Loopback,
        _ => NetKind::Other,
    }
}

/// `fe800000000000000000000000000001 02 40 20 80 eth0`
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_if_inet6(line: &str) -> Option<(IpAddr, String)> {
    let mut fields = line.split_whitespace();
    let hex = fields.next()?;
    let name = fields.nth(4)?;
    let bits = u128::from_str_radix(hex, 16).ok()?;
    Some((IpAddr::V6(bits.into()), name.to_owned()))
}

/// `eth0 0001A8C0 00000000 0001 0 0 100 00FFFFFF ...`: the kernel prints the network-order
/// words as host-order hex, so the native-endian bytes are the address bytes.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_route(line: &str) -> Option<(u32, u32, String)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let word = |i: usize| -> Option<u32> {
        let raw = u32::from_str_radix(fields.get(i)?, 16).ok()?;
        Some(u32::from_be_bytes(raw.to_ne_bytes()))
    };
    Some((word(1)?, word(7)?, (*fields.first()?).to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_kinds() {
        assert_eq!(kind_of("lo"), NetKind::Loopback);
        assert_eq!(kind_of("wlp3s0"), NetKind::Wifi);
        assert_eq!(kind_of("wwan0"), NetKind::Cellular);
        assert_eq!(kind_of("rmnet_data0"), NetKind::Cellular);
        assert_eq!(kind_of("enp0s31f6"), NetKind::Ethernet);
        assert_eq!(kind_of("eth0"), NetKind::Ethernet);
        assert_eq!(kind_of("tun0"), NetKind::Other);
        let line = "fe800000000000000000000000000001 02 40 20 80 eth0";
        let (ip, name) = parse_if_inet6(line).expect("parsed");
        assert_eq!((ip, name.as_str()), ("fe80::1".parse().expect("ip"), "eth0"));
        let word = |a: [u8; 4]| format!("{:08X}", u32::from_ne_bytes(a));
        let route = format!(
            "wlan0 {} 00000000 0001 0 0 600 {} 0 0 0",
            word([192, 168, 1, 0]),
            word([255, 255, 255, 0])
        );
        let (net, mask, name) = parse_route(&route).expect("parsed");
        assert_eq!(std::net::Ipv4Addr::from(net), std::net::Ipv4Addr::new(192, 168, 1, 0));
        assert_eq!(mask, 0xffff_ff00);
        assert_eq!(name, "wlan0");
        let names = InterfaceNames { v4: vec![(net, mask, name)], ..Default::default() };
        assert_eq!(names.name_of("192.168.1.7".parse().expect("ip")), "wlan0");
        assert_eq!(names.name_of("127.0.0.1".parse().expect("ip")), "lo");
        assert_eq!(names.name_of("10.1.1.1".parse().expect("ip")), "");
    }

    /// The machine's real interfaces (netdev lists them on every desktop OS; under Wine
    /// this runs Windows' GetAdaptersAddresses): loopback is named and classed, and every
    /// address of a named interface lands on that interface's network.
    #[test]
    fn snapshot_of_this_machines_interfaces() {
        let mut addrs: Vec<IpAddr> = vec![IpAddr::from([127, 0, 0, 1])];
        let names = InterfaceNames::load();
        addrs.extend(names.v6.iter().map(|(ip, _)| *ip));
        if cfg!(any(target_os = "macos", target_os = "windows")) {
            addrs.extend(names.v4.iter().map(|(net, _, _)| IpAddr::from(net.to_be_bytes())));
        }
        let snapshot = snapshot(addrs.into_iter());
        println!("{snapshot:#?}");
        let lo = snapshot
            .networks
            .iter()
            .find(|n| n.addrs.contains(&IpAddr::from([127, 0, 0, 1])))
            .expect("loopback in the snapshot");
        assert_eq!(lo.kind, NetKind::Loopback, "{lo:?}");
        if cfg!(any(target_os = "macos", target_os = "windows")) {
            assert!(!names.reported.is_empty(), "netdev listed no interfaces");
            assert!(!lo.name.is_empty() && lo.id != 0, "loopback is named and indexed: {lo:?}");
        }
        for network in snapshot.networks.iter().filter(|n| !n.name.is_empty()) {
            assert_eq!(network.kind, names.kind_of(&network.name), "{network:?}");
        }
    }
}
