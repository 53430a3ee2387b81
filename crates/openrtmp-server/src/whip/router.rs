//! Which session a packet belongs to. Every WHIP session shares the UDP sockets (and the
//! ICE-TCP listener), so each datagram or first ICE-TCP frame is looked up here: a STUN
//! request names its session by the local half of its USERNAME (RFC 8445 §7.2.2), which
//! also binds the peer's address to that session; every other packet (DTLS, SRTP, RTCP)
//! follows its address. A session's queue is bounded and a full one drops (counted): the
//! readers serve every session and never wait for one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use openrtmp_webrtc::Transport;
use tokio::sync::mpsc;

/// Packets a session's queue holds; beyond, the router drops (counted) rather than block
/// the reader, which serves every session on its socket. 512 packets are ~0.6 MB and a
/// few hundred ms of a 1080p stream.
pub(crate) const SESSION_QUEUE: usize = 512;
/// Most peer addresses remembered per session (candidate pairs being checked); a peer
/// cannot grow the map without bound.
const MAX_ADDRS_PER_SESSION: usize = 16;
/// Dropped or malformed input is logged at most this often (per router).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Finds the local ICE ufrag in a STUN binding request (`openrtmp_webrtc::demux`).
pub(crate) type UfragOf = fn(&[u8]) -> Option<&str>;

/// One packet (or a new ICE-TCP connection) for a session.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A datagram, or one RFC 4571 frame of an ICE-TCP connection.
    Packet {
        proto: Transport,
        /// The peer's address.
        source: SocketAddr,
        /// The local address it arrived on (a candidate of the session).
        destination: SocketAddr,
        contents: Vec<u8>,
    },
    /// An ICE-TCP connection now belongs to the session: packets for `remote` go out
    /// through `tx` (the connection's task frames and writes them).
    TcpOpen { remote: SocketAddr, tx: mpsc::Sender<Vec<u8>> },
}

/// Where a session's packets go.
#[derive(Debug)]
struct Route {
    tx: mpsc::Sender<Inbound>,
    ufrag: String,
    addrs: Vec<SocketAddr>,
}

#[derive(Debug, Default)]
struct Routes {
    by_ufrag: HashMap<String, u64>,
    by_addr: HashMap<SocketAddr, u64>,
    routes: HashMap<u64, Route>,
}

/// What became of a packet given to [`Router::route`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Routed {
    /// Queued for session `id`.
    Delivered(u64),
    /// Session `id`'s queue was full: dropped (counted).
    Full(u64),
    /// No session knows it (a stray packet, or a session that ended): dropped.
    Unknown,
}

/// Which session a packet belongs to: a STUN request names its session by the local half
/// of its USERNAME (RFC 8445 §7.2.2), which also teaches the router the peer's address;
/// every other packet (DTLS, SRTP, RTCP) is routed by that address.
#[derive(Debug)]
pub(crate) struct Router {
    ufrag_of: UfragOf,
    routes: Mutex<Routes>,
    /// Packets dropped because their session's queue was full.
    pub(crate) dropped: AtomicU64,
    /// Packets no session claimed.
    pub(crate) unknown: AtomicU64,
    last_log: Mutex<Option<Instant>>,
}

impl Router {
    pub(crate) fn new(ufrag_of: UfragOf) -> Router {
        Router {
            ufrag_of,
            routes: Mutex::default(),
            dropped: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
            last_log: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Session `id` (local ufrag `ufrag`) receives on `tx` from now on.
    pub(crate) fn add(&self, id: u64, ufrag: &str, tx: mpsc::Sender<Inbound>) {
        let mut r = self.lock();
        r.by_ufrag.insert(ufrag.to_owned(), id);
        r.routes.insert(id, Route { tx, ufrag: ufrag.to_owned(), addrs: Vec::new() });
    }

    /// Session `id` ended: its ufrag and addresses are forgotten.
    pub(crate) fn remove(&self, id: u64) {
        let mut r = self.lock();
        if let Some(route) = r.routes.remove(&id) {
            r.by_ufrag.remove(&route.ufrag);
            for addr in route.addrs {
                if r.by_addr.get(&addr) == Some(&id) {
                    r.by_addr.remove(&addr);
                }
            }
        }
    }

    /// The session `contents` from `source` belongs to, and its queue; a STUN request
    /// naming a session binds `source` to it.
    pub(crate) fn lookup(
        &self,
        source: SocketAddr,
        contents: &[u8],
    ) -> Option<(u64, mpsc::Sender<Inbound>)> {
        let mut r = self.lock();
        let by_ufrag = (self.ufrag_of)(contents).and_then(|u| r.by_ufrag.get(u).copied());
        let id = match by_ufrag {
            Some(id) => {
                if r.by_addr.insert(source, id) != Some(id) {
                    let route = r.routes.get_mut(&id)?;
                    if !route.addrs.contains(&source) {
                        if route.addrs.len() >= MAX_ADDRS_PER_SESSION {
                            let old = route.addrs.remove(0);
                            r.by_addr.remove(&old);
                        }
                        if let Some(route) = r.routes.get_mut(&id) {
                            route.addrs.push(source);
                        }
                    }
                }
                id
            }
            None => *r.by_addr.get(&source)?,
        };
        r.routes.get(&id).map(|route| (id, route.tx.clone()))
    }

    /// Gives one packet to its session without waiting: a full queue drops it.
    pub(crate) fn route(&self, packet: Inbound) -> Routed {
        let Inbound::Packet { source, contents, .. } = &packet else { return Routed::Unknown };
        let Some((id, tx)) = self.lookup(*source, contents) else {
            self.unknown.fetch_add(1, Ordering::Relaxed);
            return Routed::Unknown;
        };
        match tx.try_send(packet) {
            Ok(()) => Routed::Delivered(id),
            Err(_) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                self.rate_limited(|| {
                    tracing::warn!(
                        session = id,
                        dropped_total = n,
                        "WebRTC session queue full: packets dropped"
                    )
                });
                Routed::Full(id)
            }
        }
    }

    /// Runs `log` unless something was logged within [`LOG_EVERY`].
    pub(crate) fn rate_limited(&self, log: impl FnOnce()) {
        let mut last = self.last_log.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= LOG_EVERY) {
            *last = Some(now);
            log();
        }
    }
}

#[cfg(test)]
mod tests;
