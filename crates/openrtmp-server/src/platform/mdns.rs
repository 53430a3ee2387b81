//! Optional announcement of the RTMP listener on the local network: Multicast DNS (RFC 6762)
//! and DNS-Based Service Discovery (RFC 6763), through the pure-Rust `mdns-sd` responder, so
//! that players and encoders on the LAN find `_rtmp._tcp.local.` without typing an address.
//!
//! # What runs, and when
//! `mdns-sd` runs one thread per daemon (`mDNS_daemon`), blocked in `mio` poll on its two
//! UDP sockets (`0.0.0.0:5353` and `[::]:5353`, joined to `224.0.0.251` / `ff02::fb` on the
//! selected interfaces) and a command waker. Left to its defaults it also wakes every 5 s
//! (`IP_CHECK_INTERVAL_IN_SECS_DEFAULT`) to enumerate the host's interfaces: measured here
//! (Linux VM, `voluntary_ctxt_switches` of that thread over 5 s) at 0.20 wake-ups/s, with
//! or without a registered service. We turn that check off (interval 0): the daemon then
//! sleeps until an mDNS packet arrives on a joined link (it must answer queries; that is the
//! price of being discoverable) or we send it a command; measured at 0 wake-ups in 5 s on a
//! quiet link (plus one, 5 s after the daemon starts: the first check is queued before our
//! setting arrives). After a registration it sends two announcements one second apart (RFC 6762
//! §8.3) after ~750 ms of probing (§8.1), then nothing more of its own.
//!
//! With the check off the daemon learns of interface changes only from us:
//! [`Announcer::update_addrs`] makes it enumerate the interfaces again. [`Announcer::pause`]
//! stops the daemon entirely (goodbye packets, sockets closed, groups left, thread gone),
//! because a daemon that merely unregistered would still be woken by every mDNS packet on
//! the LAN; [`Announcer::resume`] starts a fresh one.
//!
//! # Addresses
//! The caller passes the addresses the network policy allows; [`announceable`] drops what
//! other hosts cannot use: loopback, unspecified, multicast, and IPv6 link-local (`fe80::/10`:
//! an RTMP URL would need a zone id, which players rarely accept). IPv4 link-local
//! (169.254/16) stays: it is what a direct cable without DHCP gives, and needs no zone. The
//! daemon sends and answers only on the interfaces holding a kept address, so a cellular
//! interface the policy excludes never sees our packets. No address left: the service is
//! unregistered until addresses return.
//!
//! # Names
//! The instance name (`My Laptop._rtmp._tcp.local.`) defaults to the host name; address
//! records go under `<instance label>-openrtmp.local.`, never the bare host name, which the
//! OS responder (Avahi, Bonjour, Windows) owns: claiming it with other records would be a
//! conflict (RFC 6762 §9) that renames one of us.
//!
//! # Platforms
//! Builds everywhere the server does. Android apps must hold a `WifiManager.MulticastLock`
//! (permission `CHANGE_WIFI_MULTICAST_STATE`) or Wi-Fi drivers drop the queries we answer;
//! iOS apps need the `com.apple.developer.networking.multicast` entitlement and local
//! network permission ([`super::LocalNetworkAccess::Granted`]) for raw multicast sockets.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use mdns_sd::{DaemonStatus, IfKind, IfPredicate, ServiceDaemon, ServiceInfo};

/// The service type RTMP players browse for.
pub(crate) const DEFAULT_SERVICE_TYPE: &str = "_rtmp._tcp.local.";
/// The instance name when the host name is unknown (iOS, most Android devices).
pub(crate) const DEFAULT_INSTANCE: &str = "OpenRTMP";
/// A DNS label is at most 63 bytes (RFC 1035 §2.3.4); the instance name is one label.
pub(crate) const MAX_INSTANCE_LEN: usize = 63;
/// RFC 6763 §7.2: the service name (between `_` and `._tcp`) is at most 15 bytes.
pub(crate) const MAX_SERVICE_NAME_LEN: usize = 15;
/// How long `pause` and `shutdown` wait for the daemon to send its goodbyes and exit.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// Errors of the mDNS announcer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MdnsError {
    /// The service type is not `_name._tcp.local.` / `_name._udp.local.` with a name of at
    /// most 15 letters, digits and hyphens (RFC 6335 §5.1).
    #[error(
        "invalid mDNS service type {service_type:?}: want `_name._tcp.local.`, name <= 15 bytes"
    )]
    ServiceType { service_type: String },
    /// The instance name is empty or longer than one DNS label.
    #[error("invalid mDNS instance name {instance:?}: want 1 to 63 bytes")]
    Instance { instance: String },
    /// `mdns-sd` refused the service (TXT key not printable ASCII, contains `=`, or a
    /// key/value pair over 255 bytes).
    #[error("invalid mDNS service: {reason}")]
    Service { reason: String },
    /// The daemon could not start (no poller, no thread).
    #[error("cannot start the mDNS daemon: {source}")]
    Start {
        #[source]
        source: mdns_sd::Error,
    },
    /// The daemon refused a command (queue full, or it exited).
    #[error("mDNS daemon command {op} failed: {source}")]
    Command {
        op: &'static str,
        #[source]
        source: mdns_sd::Error,
    },
}

/// What to announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MdnsSettings {
    /// Instance name shown to users (one DNS label, UTF-8, up to 63 bytes); default: the
    /// host name, else [`DEFAULT_INSTANCE`].
    pub instance: String,
    /// Service type; default [`DEFAULT_SERVICE_TYPE`].
    pub service_type: String,
    /// TXT record pairs (RFC 6763 §6: printable ASCII keys without `=`, each pair at most
    /// 255 bytes), e.g. `("app", "live")`, `("version", "0.1.0")`, `("rtmps", "1936")`.
    pub txt: Vec<(String, String)>,
}

impl Default for MdnsSettings {
    fn default() -> Self {
        MdnsSettings {
            instance: default_instance(),
            service_type: DEFAULT_SERVICE_TYPE.to_owned(),
            txt: Vec::new(),
        }
    }
}

/// The host name where the OS tells it without a system call (Linux and Android procfs,
/// `COMPUTERNAME` on Windows, `HOSTNAME` if exported), else [`DEFAULT_INSTANCE`]. Android
/// reports `localhost`, which is no name to show.
pub(crate) fn default_instance() -> String {
    let candidates = [
        std::fs::read_to_string("/proc/sys/kernel/hostname").ok(),
        std::env::var("COMPUTERNAME").ok(),
        std::env::var("HOSTNAME").ok(),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty() && name.len() <= MAX_INSTANCE_LEN && name != "localhost")
        .unwrap_or_else(|| DEFAULT_INSTANCE.to_owned())
}

/// The addresses worth announcing, sorted and deduplicated (see the module docs).
pub(crate) fn announceable(addrs: impl IntoIterator<Item = IpAddr>) -> Vec<IpAddr> {
    let mut kept: Vec<IpAddr> = addrs
        .into_iter()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified() && !ip.is_multicast())
        .filter(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_broadcast(),
            IpAddr::V6(v6) => !v6.is_unicast_link_local(),
        })
        .collect();
    kept.sort();
    kept.dedup();
    kept
}

/// The host name for our address records: the instance as a DNS hostname label (letters,
/// digits, `-`) with `-openrtmp` appended so it never collides with the OS responder's own
/// `<host>.local.`.
fn host_name(instance: &str) -> String {
    let mut label: String = instance
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    label.truncate(40);
    let label = label.trim_matches('-');
    if label.is_empty() {
        "openrtmp.local.".to_owned()
    } else {
        format!("{label}-openrtmp.local.")
    }
}

fn check_settings(settings: &MdnsSettings) -> Result<(), MdnsError> {
    let ty = &settings.service_type;
    let name = ty.strip_suffix("._tcp.local.").or_else(|| ty.strip_suffix("._udp.local."));
    // RFC 6335 §5.1: letters, digits and inner hyphens, at least one letter.
    let valid = name.and_then(|n| n.strip_prefix('_')).is_some_and(|n| {
        n.len() <= MAX_SERVICE_NAME_LEN
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && n.chars().any(|c| c.is_ascii_alphabetic())
            && !n.starts_with('-')
            && !n.ends_with('-')
    });
    if !valid {
        return Err(MdnsError::ServiceType { service_type: ty.clone() });
    }
    if settings.instance.is_empty() || settings.instance.len() > MAX_INSTANCE_LEN {
        return Err(MdnsError::Instance { instance: settings.instance.clone() });
    }
    Ok(())
}

/// Announces one service while the server runs. Every method returns without waiting for
/// the network, except [`pause`](Self::pause) and [`shutdown`](Self::shutdown), which wait
/// for the daemon thread to send its goodbyes and exit (well under a millisecond normally;
/// at most 1 s): from async code call them where a short block is acceptable (shutdown
/// path) or through `spawn_blocking`.
#[derive(Debug)]
pub(crate) struct Announcer {
    inner: Mutex<Inner>,
}

struct Inner {
    settings: MdnsSettings,
    host: String,
    port: u16,
    /// The announced addresses (after [`announceable`]); empty: not registered.
    addrs: Vec<IpAddr>,
    /// The same set, read by the daemon's interface filter on its own thread.
    allowed: Arc<RwLock<HashSet<IpAddr>>>,
    /// `None` while paused (or after shutdown).
    daemon: Option<ServiceDaemon>,
    /// The full name of the registered service, if any is registered now.
    registered: Option<String>,
}

impl Announcer {
    /// Starts a daemon and announces `port` on `addrs` (filtered by [`announceable`]; none
    /// left: nothing is announced until [`update_addrs`](Self::update_addrs) brings some).
    pub(crate) fn start(
        settings: MdnsSettings,
        port: u16,
        addrs: Vec<IpAddr>,
    ) -> Result<Self, MdnsError> {
        check_settings(&settings)?;
        let host = host_name(&settings.instance);
        // Validates the TXT pairs now rather than at the first registration.
        service_info(&settings, &host, port, &[])?;
        let addrs = announceable(addrs);
        let mut inner = Inner {
            allowed: Arc::new(RwLock::new(addrs.iter().copied().collect())),
            settings,
            host,
            port,
            addrs,
            daemon: None,
            registered: None,
        };
        inner.start_daemon()?;
        inner.register()?;
        Ok(Announcer { inner: Mutex::new(inner) })
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The addresses changed (network change, rebind, policy change): announce the new set,
    /// or unregister while it is empty. Paused: remembered for [`resume`](Self::resume).
    /// A change is a goodbye then a fresh registration (probing, announcements): browsers
    /// see the service removed, then resolved again on the new set (2.2 s here). Re-announcing
    /// without the goodbye would leave peers caching a removed AAAA (or A) record until
    /// its TTL ran out, because cache-flush only covers the record types sent.
    pub(crate) fn update_addrs(&self, addrs: Vec<IpAddr>) -> Result<(), MdnsError> {
        let addrs = announceable(addrs);
        let mut inner = self.inner();
        if addrs == inner.addrs {
            return Ok(());
        }
        tracing::debug!(?addrs, "mdns: addresses changed");
        inner.addrs = addrs;
        *inner.allowed.write().unwrap_or_else(PoisonError::into_inner) =
            inner.addrs.iter().copied().collect();
        // Goodbyes first, while the daemon still sends on the old interfaces: a v6 address
        // whose interface is left below would otherwise never be withdrawn.
        inner.unregister()?;
        if let Some(daemon) = &inner.daemon {
            // An empty selection list changes no rule: the daemon just enumerates the
            // interfaces again and applies the filter (joins new ones, leaves gone ones).
            daemon
                .disable_interface(Vec::<IfKind>::new())
                .map_err(|source| MdnsError::Command { op: "rescan interfaces", source })?;
        }
        inner.register()
    }

    /// Background: goodbye packets, then the daemon stops (no thread, no socket) until
    /// [`resume`](Self::resume). Blocks up to 1 s (see the type's docs).
    pub(crate) fn pause(&self) {
        let mut inner = self.inner();
        inner.stop_daemon();
    }

    /// Foreground again: a fresh daemon announces the current addresses. A no-op when not
    /// paused.
    pub(crate) fn resume(&self) -> Result<(), MdnsError> {
        let mut inner = self.inner();
        if inner.daemon.is_some() {
            return Ok(());
        }
        inner.start_daemon()?;
        inner.register()
    }

    /// Goodbye packets, and the daemon thread exits. Blocks up to 1 s (see the type's docs).
    pub(crate) fn shutdown(self) {
        self.inner().stop_daemon();
    }

    /// The announced addresses.
    #[cfg(test)]
    fn addrs(&self) -> Vec<IpAddr> {
        self.inner().addrs.clone()
    }
}

impl Drop for Announcer {
    fn drop(&mut self) {
        // Dropped without `shutdown`: stop the thread anyway, without waiting.
        let inner = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(daemon) = inner.daemon.take() {
            let _ = daemon.shutdown();
        }
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("settings", &self.settings)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("addrs", &self.addrs)
            .field("running", &self.daemon.is_some())
            .field("registered", &self.registered)
            .finish()
    }
}

impl Inner {
    fn start_daemon(&mut self) -> Result<(), MdnsError> {
        let daemon = ServiceDaemon::new().map_err(|source| MdnsError::Start { source })?;
        if let Err(e) = configure(&daemon, &self.allowed) {
            let _ = daemon.shutdown();
            return Err(e);
        }
        tracing::debug!(port = self.port, addrs = ?self.addrs, "mdns: daemon started");
        self.daemon = Some(daemon);
        Ok(())
    }

    /// Registers the service on the current addresses, if any (and a daemon runs).
    fn register(&mut self) -> Result<(), MdnsError> {
        let Some(daemon) = &self.daemon else {
            return Ok(());
        };
        if self.addrs.is_empty() {
            return Ok(());
        }
        let info = service_info(&self.settings, &self.host, self.port, &self.addrs)?;
        let fullname = info.get_fullname().to_owned();
        daemon.register(info).map_err(|source| MdnsError::Command { op: "register", source })?;
        let (port, addrs) = (self.port, &self.addrs);
        tracing::info!(service = %fullname, port, ?addrs, "mdns: announced");
        self.registered = Some(fullname);
        Ok(())
    }

    /// Sends goodbyes for the registered service (the daemon keeps running).
    fn unregister(&mut self) -> Result<(), MdnsError> {
        let (Some(daemon), Some(fullname)) = (&self.daemon, self.registered.take()) else {
            return Ok(());
        };
        // The status receiver is dropped: the daemon ignores a closed reply channel.
        daemon
            .unregister(&fullname)
            .map_err(|source| MdnsError::Command { op: "unregister", source })?;
        tracing::info!(service = %fullname, "mdns: withdrawn");
        Ok(())
    }

    /// Shuts the daemon down: its exit path sends goodbyes for every registered service.
    fn stop_daemon(&mut self) {
        let Some(daemon) = self.daemon.take() else {
            return;
        };
        self.registered = None;
        match daemon.shutdown() {
            Ok(status) => match status.recv_timeout(STOP_WAIT) {
                Ok(DaemonStatus::Shutdown) => tracing::debug!("mdns: daemon stopped"),
                Ok(other) => tracing::debug!(?other, "mdns: unexpected daemon status"),
                Err(e) => tracing::warn!(error = %e, "mdns: daemon did not confirm its stop"),
            },
            Err(e) => tracing::warn!(error = %e, "mdns: cannot stop the daemon"),
        }
    }
}

/// No periodic interface scan (`update_addrs` asks for one), and only the interfaces that
/// hold an allowed address.
fn configure(
    daemon: &ServiceDaemon,
    allowed: &Arc<RwLock<HashSet<IpAddr>>>,
) -> Result<(), MdnsError> {
    let command = |op| move |source| MdnsError::Command { op, source };
    daemon.set_ip_check_interval(0).map_err(command("set_ip_check_interval"))?;
    let allowed = Arc::clone(allowed);
    let outside = IfPredicate::new(move |intf| {
        !allowed.read().unwrap_or_else(PoisonError::into_inner).contains(&intf.ip())
    });
    daemon.disable_interface(IfKind::Predicate(outside)).map_err(command("disable_interface"))
}

fn service_info(
    settings: &MdnsSettings,
    host: &str,
    port: u16,
    addrs: &[IpAddr],
) -> Result<ServiceInfo, MdnsError> {
    ServiceInfo::new(
        &settings.service_type,
        &settings.instance,
        host,
        addrs,
        port,
        settings.txt.as_slice(),
    )
    .map_err(|e| MdnsError::Service { reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdns_sd::{ResolvedService, ServiceEvent};
    use std::net::UdpSocket;
    use std::time::Instant;

    #[test]
    fn mdns_filters_addresses() {
        let ip = |s: &str| -> IpAddr { s.parse().expect("ip") };
        let kept = announceable(
            [
                "127.0.0.1",
                "::1",
                "0.0.0.0",
                "::",
                "224.0.0.251",
                "ff02::fb",
                "255.255.255.255",
                "fe80::1",
                "fd00::2",
                "192.0.2.2",
                "169.254.3.4",
                "192.0.2.2",
            ]
            .map(ip),
        );
        assert_eq!(kept, ["169.254.3.4", "192.0.2.2", "fd00::2"].map(ip));
    }

    #[test]
    fn mdns_checks_settings() {
        let ok = MdnsSettings { instance: "Studio A".into(), ..MdnsSettings::default() };
        assert!(check_settings(&ok).is_ok());
        assert!(!MdnsSettings::default().instance.is_empty());
        for ty in [
            "_rtmp._tcp.local",
            "rtmp._tcp.local.",
            "__._tcp.local.",
            "_a-very-long-name._tcp.local.",
        ] {
            let s = MdnsSettings { service_type: ty.into(), ..ok.clone() };
            assert!(matches!(check_settings(&s), Err(MdnsError::ServiceType { .. })), "{ty}");
        }
        let long = MdnsSettings { instance: "x".repeat(64), ..ok.clone() };
        assert!(matches!(check_settings(&long), Err(MdnsError::Instance { .. })));
        let bad_txt = MdnsSettings { txt: vec![("a=b".into(), "c".into())], ..ok.clone() };
        let err = Announcer::start(bad_txt, 1935, vec![]).err();
        assert!(matches!(err, Some(MdnsError::Service { .. })), "{err:?}");
        assert_eq!(host_name("Studio A (2)"), "studio-a--2-openrtmp.local.");
        assert_eq!(host_name("☃"), "openrtmp.local.");
    }

    /// The host's addresses for its default routes (v4 and v6), without sending anything.
    fn default_route_addrs() -> Vec<IpAddr> {
        let mut out = Vec::new();
        for (bind, peer) in [("0.0.0.0:0", "203.0.113.1:9"), ("[::]:0", "[2001:db8::1]:9")] {
            let local = UdpSocket::bind(bind)
                .and_then(|s| s.connect(peer).map(|()| s))
                .and_then(|s| s.local_addr());
            if let Ok(local) = local {
                out.push(local.ip());
            }
        }
        announceable(out)
    }

    /// An interface that is up, multicast-capable and not loopback (`/sys/class/net`; other
    /// systems are assumed to have one).
    fn has_multicast_interface() -> bool {
        if !cfg!(target_os = "linux") {
            return true;
        }
        let Ok(dir) = std::fs::read_dir("/sys/class/net") else { return false };
        dir.flatten().any(|entry| {
            let flags = std::fs::read_to_string(entry.path().join("flags")).unwrap_or_default();
            let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap_or(0);
            // IFF_UP 0x1, IFF_LOOPBACK 0x8, IFF_MULTICAST 0x1000
            flags & 0x1 != 0 && flags & 0x8 == 0 && flags & 0x1000 != 0
        })
    }

    use openrtmp_testkit::skip_or_fail;

    /// Threads named `mDNS_daemon` in this process (Linux; elsewhere `None`).
    fn daemon_threads() -> Option<usize> {
        if !cfg!(target_os = "linux") {
            // Under Wine, /proc resolves to the Linux host's and names other threads.
            return None;
        }
        let dir = std::fs::read_dir("/proc/self/task").ok()?;
        let n = dir
            .flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|c| c.trim() == "mDNS_daemon")
            })
            .count();
        Some(n)
    }

    fn wait_threads(want: Option<usize>) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while daemon_threads() != want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(daemon_threads(), want, "mDNS_daemon threads");
    }

    type Events = mdns_sd::Receiver<ServiceEvent>;

    /// Waits for the first event about `fullname` that `want` accepts.
    fn wait_for<T>(
        events: &Events,
        fullname: &str,
        what: &str,
        mut want: impl FnMut(&ServiceEvent) -> Option<T>,
    ) -> T {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(4);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(event) = events.recv_timeout(left) else { break };
            let ours = match &event {
                ServiceEvent::ServiceResolved(r) => r.get_fullname() == fullname,
                ServiceEvent::ServiceRemoved(_, name) | ServiceEvent::ServiceFound(_, name) => {
                    name == fullname
                }
                _ => false,
            };
            if !ours {
                continue;
            }
            if let Some(found) = want(&event) {
                println!("{what}: after {} ms", start.elapsed().as_millis());
                return found;
            }
            seen.push(event);
        }
        panic!("{what}: not seen within 4 s; events about {fullname}: {seen:#?}");
    }

    fn addr_set(r: &ResolvedService) -> HashSet<IpAddr> {
        r.get_addresses().iter().map(|a| a.to_ip_addr()).collect()
    }

    fn resolved_with(events: &Events, fullname: &str, port: u16, addrs: &[IpAddr]) {
        let want: HashSet<IpAddr> = addrs.iter().copied().collect();
        let what = format!("resolved on {addrs:?}");
        let r = wait_for(events, fullname, &what, |e| match e {
            ServiceEvent::ServiceResolved(r) if addr_set(r) == want => Some(r.clone()),
            _ => None,
        });
        assert_eq!(r.get_port(), port);
        assert_eq!(r.get_property_val_str("app"), Some("live"));
        assert_eq!(r.get_property_val_str("rtmps"), Some("1936"));
    }

    fn removed(events: &Events, fullname: &str) {
        wait_for(events, fullname, "removed", |e| {
            matches!(e, ServiceEvent::ServiceRemoved(..)).then_some(())
        });
    }

    /// A second daemon in this process browses over real multicast (looped back on the
    /// host's own interface) and sees every state of the announcer.
    #[test]
    fn mdns_announces_updates_pauses_resumes_and_shuts_down() {
        let mut addrs = default_route_addrs();
        if cfg!(windows) {
            // Under Wine 8 (the CI's Windows runner) IPv6 multicast is not delivered between
            // two sockets of one process: only the IPv4 records ever resolve.
            addrs.retain(IpAddr::is_ipv4);
        }
        if addrs.is_empty() || !has_multicast_interface() {
            return skip_or_fail(&format!(
                "mdns: no non-loopback address ({addrs:?}) or no multicast interface"
            ));
        }
        // The port only names the service here; nothing listens on it.
        let port = UdpSocket::bind("0.0.0.0:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let settings = MdnsSettings {
            instance: format!("OpenRTMP test {} {port}", std::process::id()),
            txt: vec![("app".into(), "live".into()), ("rtmps".into(), "1936".into())],
            ..MdnsSettings::default()
        };
        let fullname = format!("{}.{}", settings.instance, settings.service_type);
        let threads = daemon_threads();

        let browser = ServiceDaemon::new().expect("browser daemon");
        let events = browser.browse(&settings.service_type).expect("browse");
        let announcer = Announcer::start(settings, port, addrs.clone()).expect("start");
        assert_eq!(announcer.addrs(), addrs);
        resolved_with(&events, &fullname, port, &addrs);

        let mut fewer = addrs.clone();
        if fewer.len() > 1 {
            fewer.pop();
            announcer.update_addrs(fewer.clone()).expect("update");
            resolved_with(&events, &fullname, port, &fewer);
        } else {
            eprintln!("mdns: one address only ({addrs:?}): address change not exercised");
        }

        announcer.pause();
        removed(&events, &fullname);
        wait_threads(threads.map(|n| n + 1)); // the browser's only
        announcer.resume().expect("resume");
        resolved_with(&events, &fullname, port, &fewer);

        announcer.update_addrs(vec!["127.0.0.1".parse().expect("ip")]).expect("update");
        assert!(announcer.addrs().is_empty());
        removed(&events, &fullname);
        announcer.update_addrs(addrs.clone()).expect("update");
        resolved_with(&events, &fullname, port, &addrs);

        announcer.shutdown();
        removed(&events, &fullname);
        wait_threads(threads.map(|n| n + 1));
        let _ = browser.shutdown().map(|s| s.recv_timeout(STOP_WAIT));
        wait_threads(threads);
    }
}
