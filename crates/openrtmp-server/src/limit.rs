//! Connection limits: total and per client IP, released when the guard drops.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Counts live connections, in total and per IP.
#[derive(Debug, Default)]
pub(crate) struct ConnectionCounter {
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; uncounted on drop.
#[derive(Debug)]
pub(crate) struct ConnectionGuard {
    counter: Arc<ConnectionCounter>,
    ip: IpAddr,
}

impl ConnectionCounter {
    /// Counts a new connection from `ip`; returns the guard and the counts including it.
    pub(crate) fn enter(self: &Arc<Self>, ip: IpAddr) -> (ConnectionGuard, usize, usize) {
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        let from_ip = {
            let mut map = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
            let n = map.entry(ip).or_insert(0);
            *n += 1;
            *n
        };
        (ConnectionGuard { counter: Arc::clone(self), ip }, total, from_ip)
    }

    /// Live connections.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

impl ConnectionGuard {
    /// Counts the connection under `ip` instead (the client a PROXY header names, in place
    /// of the load balancer); returns the connections from `ip` including this one.
    pub(crate) fn move_to(&mut self, ip: IpAddr) -> usize {
        let mut map = self.counter.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
        self.ip = ip;
        let n = map.entry(ip).or_insert(0);
        *n += 1;
        *n
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.counter.total.fetch_sub(1, Ordering::Relaxed);
        let mut map = self.counter.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_releases() {
        let c = Arc::new(ConnectionCounter::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "::1".parse().unwrap();
        let (g1, t, ip) = c.enter(a);
        assert_eq!((t, ip), (1, 1));
        let (g2, t, ip) = c.enter(a);
        assert_eq!((t, ip), (2, 2));
        let (g3, t, ip) = c.enter(b);
        assert_eq!((t, ip), (3, 1));
        drop((g1, g2, g3));
        assert_eq!(c.total(), 0);
        assert!(c.per_ip.lock().unwrap().is_empty());
    }

    #[test]
    fn a_proxied_connection_moves_to_its_client() {
        let c = Arc::new(ConnectionCounter::default());
        let (lb, client): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "203.0.113.7".parse().unwrap());
        let (mut g1, _, _) = c.enter(lb);
        let (mut g2, _, _) = c.enter(lb);
        assert_eq!(g1.move_to(client), 1);
        assert_eq!(g2.move_to(client), 2);
        assert_eq!(c.per_ip.lock().unwrap().get(&lb), None);
        assert_eq!(c.total(), 2);
        drop((g1, g2));
        assert_eq!(c.total(), 0);
        assert!(c.per_ip.lock().unwrap().is_empty());
    }
}
