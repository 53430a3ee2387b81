//! When and what the server announces over mDNS/DNS-SD ([`super::mdns`]), from the
//! platform state: the RTMP port, on the addresses the network policy allows, while the
//! app is in the foreground, the device is not idle (Doze) and local network access is
//! not denied. Off unless `Config::mdns` is set.
//!
//! The addresses come from the last network snapshot (the desktop watcher's first report
//! arrives right after start; mobile hosts push theirs): nothing is announced before one is
//! known. A wildcard listener announces every allowed address of its family; listeners on
//! specific addresses announce those.

use std::net::IpAddr;
use std::sync::Arc;

use super::mdns::{self, Announcer, MdnsSettings};
use super::state::allowed_addrs;
use super::{AppState, LocalNetworkAccess};
use crate::shared::Shared;

/// Starts the announcer if the configuration asks for one (after the listeners are bound).
pub(crate) fn start(shared: &Arc<Shared>) {
    let config = shared.config();
    if !config.mdns {
        return;
    }
    let Some(port) = shared.current_listeners().first().map(|a| a.port()) else {
        tracing::warn!("mdns: no RTMP listener to announce");
        return;
    };
    let mut txt = vec![("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned())];
    if let Some(rtmps) = shared.rtmps_listeners.first() {
        txt.push(("rtmps".to_owned(), rtmps.port().to_string()));
    }
    let settings = MdnsSettings {
        instance: config.mdns_name.clone().unwrap_or_else(mdns::default_instance),
        txt,
        ..MdnsSettings::default()
    };
    let instance = settings.instance.clone();
    match Announcer::start(settings, port, addresses(shared)) {
        Ok(announcer) => {
            tracing::info!(%instance, port, "mdns: announcing _rtmp._tcp");
            *shared.platform.mdns.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Arc::new(announcer));
            follow(shared);
        }
        Err(e) => tracing::warn!(error = %e, "mdns: cannot announce"),
    }
}

/// The network or the policy changed: announce the addresses allowed now.
pub(crate) fn update(shared: &Arc<Shared>) {
    let Some(announcer) = current(shared) else { return };
    if let Err(e) = announcer.update_addrs(addresses(shared)) {
        tracing::warn!(error = %e, "mdns: cannot update the announced addresses");
    }
}

/// The app, power or local-network state changed: pause or resume the announcement.
/// Pausing waits for the goodbye packets (well under a millisecond, at most 1 s), so from
/// inside the runtime it runs on the blocking pool.
pub(crate) fn follow(shared: &Arc<Shared>) {
    let Some(announcer) = current(shared) else { return };
    let (app, _) = shared.platform.app_state();
    let run = app == AppState::Foreground
        && !shared.platform.power().device_idle
        && shared.platform.local_network_access() != LocalNetworkAccess::Denied;
    if run {
        if let Err(e) = announcer.resume() {
            tracing::warn!(error = %e, "mdns: cannot resume the announcement");
        }
    } else if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn_blocking(move || announcer.pause());
    } else {
        announcer.pause();
    }
}

/// Withdraws the announcement for good (server shutdown).
pub(crate) async fn stop(shared: &Arc<Shared>) {
    let taken = shared.platform.mdns.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(announcer) = taken {
        let _ = tokio::task::spawn_blocking(move || {
            if let Ok(announcer) = Arc::try_unwrap(announcer) {
                announcer.shutdown();
            }
            // Otherwise a pause is still running on the blocking pool; dropping the last
            // reference there stops the daemon.
        })
        .await;
    }
}

fn current(shared: &Shared) -> Option<Arc<Announcer>> {
    shared.platform.mdns.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// What to announce: for each RTMP listener, its address if specific, else every address
/// the policy allows of its family (per the last snapshot).
fn addresses(shared: &Shared) -> Vec<IpAddr> {
    let (policy, snapshot) = shared.platform.policy_and_snapshot();
    let mut addrs = Vec::new();
    for listener in shared.current_listeners() {
        let ip = listener.ip();
        if ip.is_unspecified() {
            addrs.extend(allowed_addrs(policy, &snapshot, ip));
        } else {
            addrs.push(ip);
        }
    }
    addrs
}
