//! Brute-force protection: failed key, token and callback checks per client address.
//!
//! A [governor] keyed limiter holds, per address, a budget of `max_failures` failures that
//! refills at `max_failures` per `window` (one every `window / max_failures`). The failure
//! that spends the last of it blocks the address for `window`: the pre-check (a lookup in
//! a small map of blocked addresses, since governor cannot peek without spending) refuses
//! every attempt from it at once until then, by which time the budget is full again. So
//! an address gets at most `max_failures` quick guesses, then waits a whole window.
//!
//! IPv6 clients are counted per /64 (one subscriber's allocation), IPv4-mapped IPv6 as
//! IPv4. Memory stays bounded under many addresses: both the limiter and the blocked map
//! are pruned at most every window (and at least every [`PRUNE_EVERY`]; an address is
//! forgotten about two windows after its last failure), the blocked map
//! holds at most [`MAX_BLOCKED`] addresses, and a limiter still tracking more than
//! [`MAX_TRACKED`] addresses after pruning is started afresh.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

use super::BruteForceSettings;

/// Most addresses blocked at once (further ones are still counted, but not refused before
/// their attempt is checked).
pub(crate) const MAX_BLOCKED: usize = 65_536;
/// Most addresses the limiter tracks after pruning before it is reset.
pub(crate) const MAX_TRACKED: usize = 262_144;
/// Longest time between prunings.
pub(crate) const PRUNE_EVERY: Duration = Duration::from_secs(60);

type Limiter =
    RateLimiter<IpKey, HashMapStateStore<IpKey>, PassedClock, StateInformationMiddleware>;

/// The limiter's clock: the `now` the last call passed in (the counts are sans-IO, so a
/// test moves time by hand and a busy machine never refills a budget early). Never moves
/// backwards.
#[derive(Debug, Clone)]
struct PassedClock {
    origin: Instant,
    nanos: Arc<AtomicU64>,
}

impl PassedClock {
    fn new(now: Instant) -> PassedClock {
        // An origin well before any `now` a caller passes (clocks made a little earlier).
        let origin = now.checked_sub(Duration::from_secs(3600)).unwrap_or(now);
        PassedClock { origin, nanos: Arc::new(AtomicU64::new(0)) }
    }

    fn set(&self, now: Instant) {
        let nanos = now.saturating_duration_since(self.origin).as_nanos();
        self.nanos.fetch_max(u64::try_from(nanos).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

impl governor::clock::Clock for PassedClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.nanos.load(Ordering::Relaxed))
    }
}

/// The unit counted: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct IpKey(IpAddr);

impl IpKey {
    pub(crate) fn of(ip: IpAddr) -> IpKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => IpKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let net = u128::from(v6) & !(u128::from(u64::MAX));
                IpKey(IpAddr::V6(Ipv6Addr::from(net)))
            }
        }
    }
}

impl fmt::Display for IpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// The failure counters; shared by all connections, kept across reloads.
#[derive(Debug)]
pub(crate) struct BruteForce {
    inner: Mutex<Inner>,
}

struct Inner {
    settings: BruteForceSettings,
    /// `None`: protection off.
    limiter: Option<Limiter>,
    /// Addresses refused until the instant.
    blocked: HashMap<IpKey, Instant>,
    last_prune: Instant,
    clock: PassedClock,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("settings", &self.settings)
            .field("blocked", &self.blocked.len())
            .finish_non_exhaustive()
    }
}

impl BruteForce {
    pub(crate) fn new(settings: &BruteForceSettings) -> BruteForce {
        let now = Instant::now();
        let clock = PassedClock::new(now);
        let inner = Inner {
            settings: settings.clone(),
            limiter: limiter(settings, &clock),
            blocked: HashMap::new(),
            last_prune: now,
            clock,
        };
        BruteForce { inner: Mutex::new(inner) }
    }

    /// New limits. Unchanged limits keep every count; changed ones start counting afresh
    /// (addresses already blocked stay blocked, unless the protection is turned off).
    pub(crate) fn update(&self, settings: &BruteForceSettings) {
        let mut inner = self.lock();
        if inner.settings == *settings {
            return;
        }
        inner.settings = settings.clone();
        inner.limiter = limiter(settings, &inner.clock);
        if inner.limiter.is_none() {
            inner.blocked.clear();
        }
    }

    /// How much longer `key` is refused, if it is.
    pub(crate) fn blocked(&self, key: IpKey, now: Instant) -> Option<Duration> {
        let mut inner = self.lock();
        let until = *inner.blocked.get(&key)?;
        if until > now {
            return Some(until - now);
        }
        inner.blocked.remove(&key);
        None
    }

    /// Counts a failure; returns how long `key` is now blocked for if this failure used up
    /// its budget.
    pub(crate) fn record_failure(&self, key: IpKey, now: Instant) -> Option<Duration> {
        let mut inner = self.lock();
        inner.clock.set(now);
        inner.prune(now);
        let window = inner.settings.window;
        let exhausted = match inner.limiter.as_ref()?.check_key(&key) {
            Ok(state) => state.remaining_burst_capacity() == 0,
            Err(_) => true,
        };
        if !exhausted {
            return None;
        }
        if inner.blocked.len() >= MAX_BLOCKED && !inner.blocked.contains_key(&key) {
            tracing::debug!(client = %key, "brute-force block list full; not blocking");
            return None;
        }
        inner.blocked.insert(key, now + window);
        Some(window)
    }

    /// Addresses blocked now.
    pub(crate) fn blocked_count(&self, now: Instant) -> usize {
        self.lock().blocked.values().filter(|until| **until > now).count()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The guarded state stays consistent at every step, so a panic elsewhere while
        // holding the lock leaves nothing half-done.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn prune(&mut self, now: Instant) {
        let every = self.settings.window.min(PRUNE_EVERY);
        if now.saturating_duration_since(self.last_prune) < every {
            return;
        }
        self.last_prune = now;
        self.blocked.retain(|_, until| *until > now);
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            if limiter.len() > MAX_TRACKED {
                tracing::warn!(
                    tracked = limiter.len(),
                    "too many addresses with failed attempts; brute-force counts reset"
                );
                self.limiter = self::limiter(&self.settings, &self.clock);
            }
        }
    }
}

/// `max_failures` at once, refilling at `max_failures` per `window`; `None` when off.
fn limiter(settings: &BruteForceSettings, clock: &PassedClock) -> Option<Limiter> {
    let burst = NonZeroU32::new(settings.max_failures)?;
    let quota = Quota::with_period(settings.window / burst.get())?.allow_burst(burst);
    let limiter = RateLimiter::hashmap_with_clock(quota, clock.clone());
    Some(limiter.with_middleware::<StateInformationMiddleware>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_failures: u32, window_ms: u64) -> BruteForceSettings {
        BruteForceSettings { max_failures, window: Duration::from_millis(window_ms) }
    }

    fn key(ip: &str) -> IpKey {
        IpKey::of(ip.parse().unwrap())
    }

    #[test]
    fn blocks_after_the_budget_then_recovers() {
        let bf = BruteForce::new(&settings(3, 200));
        let ip = key("192.0.2.1");
        let now = Instant::now();
        assert_eq!(bf.record_failure(ip, now), None);
        assert_eq!(bf.record_failure(ip, now), None);
        assert_eq!(bf.blocked(ip, now), None);
        assert_eq!(bf.record_failure(ip, now), Some(Duration::from_millis(200)));
        assert!(bf.blocked(ip, now).is_some());
        assert_eq!(bf.blocked(key("192.0.2.2"), now), None, "other addresses unaffected");
        assert_eq!(bf.blocked_count(now), 1);
        // Time is what the caller says: no sleep, nothing a busy machine can stretch.
        let later = now + Duration::from_millis(210);
        assert_eq!(bf.blocked(ip, later), None);
        assert_eq!(bf.blocked_count(later), 0);
        // The budget is full again.
        assert_eq!(bf.record_failure(ip, later), None);
        assert_eq!(bf.record_failure(ip, later), None);
        assert!(bf.record_failure(ip, later).is_some());
    }

    #[test]
    fn off_when_zero() {
        let bf = BruteForce::new(&settings(0, 200));
        let ip = key("192.0.2.1");
        for _ in 0..100 {
            assert_eq!(bf.record_failure(ip, Instant::now()), None);
        }
        let bf = BruteForce::new(&settings(2, 200));
        bf.record_failure(ip, Instant::now());
        assert!(bf.record_failure(ip, Instant::now()).is_some());
        bf.update(&settings(0, 200));
        assert_eq!(bf.blocked(ip, Instant::now()), None, "turning it off unblocks");
    }

    #[test]
    fn update_keeps_counts_when_unchanged() {
        let bf = BruteForce::new(&settings(2, 10_000));
        let ip = key("192.0.2.1");
        bf.record_failure(ip, Instant::now());
        bf.update(&settings(2, 10_000));
        assert!(bf.record_failure(ip, Instant::now()).is_some());
    }

    #[test]
    fn keys_ipv6_per_64_and_mapped_as_ipv4() {
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), key("2001:db8:1:2::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_eq!(key("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
        assert_eq!(key("192.0.2.1").to_string(), "192.0.2.1");
    }

    #[test]
    fn prunes_expired_blocks() {
        let bf = BruteForce::new(&settings(1, 50));
        let start = Instant::now();
        for i in 0..100u8 {
            bf.record_failure(key(&format!("10.0.0.{i}")), start);
        }
        assert_eq!(bf.lock().blocked.len(), 100);
        // governor forgets an address one period after its budget is full again.
        std::thread::sleep(Duration::from_millis(110));
        bf.record_failure(key("10.0.1.1"), Instant::now());
        let inner = bf.lock();
        assert_eq!(inner.blocked.len(), 1, "expired blocks pruned");
        assert!(inner.limiter.as_ref().unwrap().len() <= 1, "limiter pruned");
    }
}
