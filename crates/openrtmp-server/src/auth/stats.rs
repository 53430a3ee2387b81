//! Counters of the authorisation layer, kept across reloads.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::DenyKind;

/// A snapshot of the authorisation counters (since start; reloads keep them).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AuthStats {
    /// Refusals per kind (`bad_name`, `acl`, `brute_force`, `bad_key`, `bad_token`,
    /// `callback_denied`, `callback_unavailable`); every kind is present.
    pub denied: BTreeMap<String, u64>,
    /// Requests allowed.
    pub allowed: u64,
    /// Addresses (IPv6: /64 networks) refused for too many failed attempts right now.
    pub brute_force_blocked_ips: usize,
    /// Decision requests sent to the callback service.
    pub callback_calls: u64,
    /// Decision requests without a usable answer other than timeouts: connection and TLS
    /// errors, 5xx answers.
    pub callback_errors: u64,
    /// Decision requests that ran out of time.
    pub callback_timeouts: u64,
    /// Times the circuit breaker opened.
    pub circuit_opened: u64,
    /// Notifications delivered.
    pub notifications_sent: u64,
    /// Notifications given up after every attempt failed.
    pub notifications_failed: u64,
    /// Notifications not even tried because too many were in flight (or no runtime).
    pub notifications_dropped: u64,
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    denied: [AtomicU64; DenyKind::ALL.len()],
    pub(crate) allowed: AtomicU64,
    pub(crate) callback_calls: AtomicU64,
    pub(crate) callback_errors: AtomicU64,
    pub(crate) callback_timeouts: AtomicU64,
    pub(crate) circuit_opened: AtomicU64,
    pub(crate) notifications_sent: AtomicU64,
    pub(crate) notifications_failed: AtomicU64,
    pub(crate) notifications_dropped: AtomicU64,
}

/// Adds one.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn denied(&self, kind: DenyKind) {
        let index = DenyKind::ALL.iter().position(|k| *k == kind);
        if let Some(counter) = index.and_then(|i| self.denied.get(i)) {
            bump(counter);
        }
    }

    pub(crate) fn snapshot(&self, brute_force_blocked_ips: usize) -> AuthStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AuthStats {
            denied: DenyKind::ALL
                .iter()
                .zip(&self.denied)
                .map(|(kind, count)| (kind.as_str().to_owned(), get(count)))
                .collect(),
            allowed: get(&self.allowed),
            brute_force_blocked_ips,
            callback_calls: get(&self.callback_calls),
            callback_errors: get(&self.callback_errors),
            callback_timeouts: get(&self.callback_timeouts),
            circuit_opened: get(&self.circuit_opened),
            notifications_sent: get(&self.notifications_sent),
            notifications_failed: get(&self.notifications_failed),
            notifications_dropped: get(&self.notifications_dropped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_reported() {
        let c = Counters::default();
        c.denied(DenyKind::BadKey);
        c.denied(DenyKind::BadKey);
        c.denied(DenyKind::CallbackUnavailable);
        let s = c.snapshot(3);
        assert_eq!(s.denied.len(), DenyKind::ALL.len());
        assert_eq!(s.denied["bad_key"], 2);
        assert_eq!(s.denied["callback_unavailable"], 1);
        assert_eq!(s.denied["acl"], 0);
        assert_eq!(s.brute_force_blocked_ips, 3);
    }
}
