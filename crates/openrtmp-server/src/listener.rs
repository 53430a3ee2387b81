//! Listeners: the accept loops, admission at accept (or, behind a trusted load balancer,
//! after its PROXY header: `proxy`), re-binding to what the network policy allows, and the
//! spawn of one connection task per socket.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::platform::state::{allowed_addrs, SpecificListener};
use crate::platform::{NetworkPolicy, NetworkSnapshot, PlatformEvent};
use crate::shared::Shared;

mod accept;
mod proxy;

use accept::{admission, connection_task, Admission, Refusals, REFUSAL_SLOTS};

/// Accepts until draining starts or `stop` (a re-bind) is cancelled. While the app is in
/// the background or suspended the loop does not accept: the listener stays bound and
/// connections wait in the kernel backlog until the app is in the foreground again (or
/// the OS refuses them when the backlog is full).
pub(crate) async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    stop: CancellationToken,
) {
    let local = listener.local_addr().ok();
    if tls.is_some() {
        tracing::info!(addr = ?local, "listening for RTMPS");
    } else {
        tracing::info!(addr = ?local, "listening for RTMP");
    }
    let mut accepting = shared.platform.accepting();
    let mut refusals = Refusals::default();
    loop {
        while !*accepting.borrow_and_update() {
            tokio::select! {
                _ = shared.draining.cancelled() => return,
                _ = stop.cancelled() => return,
                changed = accepting.changed() => if changed.is_err() { return },
            }
        }
        let accepted = tokio::select! {
            _ = shared.draining.cancelled() => return,
            _ = stop.cancelled() => {
                tracing::info!(addr = ?local, "listener closed (network policy)");
                return;
            }
            _ = accepting.changed() => continue,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: back off a little instead of spinning.
                shared.stats.listener_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Ok(at) = socket.local_addr() {
            if !shared.platform.local_allowed(at.ip()) {
                shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                tracing::info!(%peer, local = %at, "connection refused: network not allowed by policy");
                continue;
            }
        }
        let (guard, total, from_ip) = shared.counter.enter(peer.ip());
        let config = shared.config_arc();
        // A trusted load balancer carries many clients: its connections are counted per
        // client once the PROXY header has named them.
        let proxied = config.proxy_protocol.trusts(peer.ip());
        if total > config.max_connections.saturating_add(REFUSAL_SLOTS)
            || (!proxied && from_ip > config.max_connections_per_ip.saturating_add(REFUSAL_SLOTS))
        {
            // Over the limit and past the few kept to carry the RTMP error: closed now, so
            // that one address cannot hold thousands of half-open sockets.
            shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            refusals.refused(peer, total, from_ip);
            continue;
        }
        shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = socket.set_nodelay(true);
        let admitted = if proxied {
            Admission::AfterProxyHeader { guard }
        } else {
            Admission::Decided { refuse: admission(&config, &shared, peer, total, from_ip), guard }
        };
        let conn_id = shared.next_conn_id();
        let (conn_tls, conn_shared) = (tls.clone(), Arc::clone(&shared));
        let stats = Arc::clone(&shared.stats);
        tracker.spawn(async move {
            // The connection's future is made here, not captured: a captured future moved
            // into `catch_unwind` would keep its slot too, doubling the task's size.
            let task = connection_task(socket, conn_tls, peer, conn_id, conn_shared, admitted);
            let task = AssertUnwindSafe(task);
            // A panic inside one connection must not take the server down: catch, log, go on.
            if let Err(panic) = task.catch_unwind().await {
                stats.panics.fetch_add(1, Ordering::Relaxed);
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(conn_id, %peer, panic = %what, "connection task panicked; connection closed");
            }
        });
    }
}

/// Sends `StatsChanged` when streams or connections changed, at most every
/// [`STATS_INTERVAL`](crate::platform::state::STATS_INTERVAL) (every
/// [`STATS_INTERVAL_SAVING`](crate::platform::state::STATS_INTERVAL_SAVING) while saving
/// power); sleeps while nothing
/// changes (no periodic timer when idle).
pub(crate) async fn stats_changes(shared: Arc<Shared>) {
    let mut last = None;
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = shared.platform.stats_dirty.notified() => {}
        }
        let streams = shared.hub.streams().iter().filter(|s| s.publishing).count();
        let connections = shared.counter.total();
        if last != Some((streams, connections)) {
            last = Some((streams, connections));
            shared.platform.emit(PlatformEvent::StatsChanged { streams, connections });
        }
        let pause = if shared.platform.is_saving() {
            crate::platform::state::STATS_INTERVAL_SAVING
        } else {
            crate::platform::state::STATS_INTERVAL
        };
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// A new network snapshot (pushed by the host or seen by the desktop watcher): recorded,
/// announced, and the listeners follow the policy.
pub(crate) fn apply_network(shared: &Arc<Shared>, snapshot: NetworkSnapshot) {
    tracing::info!(networks = snapshot.networks.len(), default = ?snapshot.default, "network changed");
    shared.platform.set_snapshot(snapshot.clone());
    shared.platform.emit(PlatformEvent::NetworkChanged { snapshot });
    rebind(shared);
    crate::platform::announce::update(shared);
}

/// Moves the listeners bound to specific addresses to what the policy allows: with
/// `NetworkPolicy::Any` (or no snapshot yet) the configured addresses; otherwise every
/// address of an allowed network, of the same family, on the configured port. Wildcard
/// listeners are never moved (their connections are checked at accept). Sends `Rebound`
/// when the set changed.
pub(crate) fn rebind(shared: &Arc<Shared>) {
    let (policy, snapshot) = shared.platform.policy_and_snapshot();
    let mut set = shared.platform.listeners.lock().unwrap_or_else(|e| e.into_inner());
    let Some((rt, tracker)) = set.spawner.clone() else { return };
    if shared.draining.is_cancelled() || set.configured.is_empty() {
        return;
    }
    let desired: Vec<SocketAddr> = if policy == NetworkPolicy::Any || snapshot.networks.is_empty() {
        set.configured.clone()
    } else {
        let mut bases = set.configured.clone();
        bases.sort_by_key(|a| (a.is_ipv4(), a.port()));
        bases.dedup_by_key(|a| (a.is_ipv4(), a.port()));
        bases
            .iter()
            .flat_map(|b| {
                let port = b.port();
                allowed_addrs(policy, &snapshot, b.ip())
                    .into_iter()
                    .map(move |ip| SocketAddr::new(ip, port))
            })
            .collect()
    };
    let before: Vec<SocketAddr> = set.bound.iter().map(|l| l.addr).collect();
    set.bound.retain(|l| {
        let keep = desired.contains(&l.addr);
        if !keep {
            l.stop.cancel();
        }
        keep
    });
    let _runtime = rt.enter();
    for addr in desired {
        if set.bound.iter().any(|l| l.addr == addr) {
            continue;
        }
        let bound = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(TcpListener::from_std);
        match bound {
            Ok(listener) => {
                let stop = CancellationToken::new();
                let (shared, conns) = (Arc::clone(shared), tracker.clone());
                tracker.spawn(accept_loop(listener, None, shared, conns, stop.clone()));
                set.bound.push(SpecificListener { addr, stop });
            }
            Err(e) => tracing::warn!(%addr, error = %e, "cannot listen on an allowed address"),
        }
    }
    let mut after: Vec<SocketAddr> = set.bound.iter().map(|l| l.addr).collect();
    drop(set);
    let mut sorted_before = before;
    sorted_before.sort();
    after.sort();
    if after != sorted_before {
        tracing::info!(?policy, addrs = ?after, "listeners re-bound");
        shared.platform.emit(PlatformEvent::Rebound { addrs: after });
    }
}
