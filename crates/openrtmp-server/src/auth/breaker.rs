//! The circuit breaker in front of the authorisation service. Sans-IO: time comes in as
//! `now`, so the state machine is tested with a fake clock.
//!
//! Closed: requests go through; `failures_to_open` consecutive failures (timeouts,
//! connection errors, 5xx; never a 4xx, which is a decision) open it. Open: no request is
//! made, the service counts as unavailable at once. After `cooldown` the next request is
//! let through as a probe (half-open) while others are still refused; its success closes
//! the circuit, its failure re-opens it for another cooldown. A probe that never reports
//! (its connection went away) is replaced by another after a cooldown.

use std::time::{Duration, Instant};

use super::CircuitState;

/// Whether a request may go to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Closed: go ahead.
    Yes,
    /// Half-open: go ahead as the one probe.
    Probe,
    /// Open: don't.
    No,
}

/// What a reported outcome changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    None,
    Opened,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_since: Instant },
}

/// The breaker state machine.
#[derive(Debug, Clone)]
pub(crate) struct Breaker {
    /// 0: never opens.
    failures_to_open: u32,
    cooldown: Duration,
    state: State,
}

impl Breaker {
    pub(crate) fn new(failures_to_open: u32, cooldown: Duration) -> Breaker {
        Breaker { failures_to_open, cooldown, state: State::Closed { failures: 0 } }
    }

    /// New limits; the state is kept (they apply from the next transition).
    pub(crate) fn set_limits(&mut self, failures_to_open: u32, cooldown: Duration) {
        self.failures_to_open = failures_to_open;
        self.cooldown = cooldown;
    }

    /// Back to closed (a different service).
    pub(crate) fn reset(&mut self) {
        self.state = State::Closed { failures: 0 };
    }

    pub(crate) fn admit(&mut self, now: Instant) -> Admit {
        match self.state {
            State::Closed { .. } => Admit::Yes,
            State::Open { until } if now >= until => {
                self.state = State::HalfOpen { probe_since: now };
                Admit::Probe
            }
            State::HalfOpen { probe_since } if now >= probe_since + self.cooldown => {
                self.state = State::HalfOpen { probe_since: now };
                Admit::Probe
            }
            State::Open { .. } | State::HalfOpen { .. } => Admit::No,
        }
    }

    /// The service answered (any 2xx or 4xx).
    pub(crate) fn on_success(&mut self) -> Transition {
        let was_closed = matches!(self.state, State::Closed { .. });
        self.state = State::Closed { failures: 0 };
        if was_closed {
            Transition::None
        } else {
            Transition::Closed
        }
    }

    /// The service failed (timeout, connection error, 5xx).
    pub(crate) fn on_failure(&mut self, now: Instant) -> Transition {
        match self.state {
            State::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if self.failures_to_open > 0 && failures >= self.failures_to_open {
                    self.state = State::Open { until: now + self.cooldown };
                    Transition::Opened
                } else {
                    self.state = State::Closed { failures };
                    Transition::None
                }
            }
            State::HalfOpen { .. } => {
                self.state = State::Open { until: now + self.cooldown };
                Transition::Opened
            }
            // A request admitted before the circuit opened: already open.
            State::Open { .. } => Transition::None,
        }
    }

    /// The probe was given up without an outcome: the next request may probe.
    pub(crate) fn on_probe_abandoned(&mut self, now: Instant) {
        if let State::HalfOpen { .. } = self.state {
            self.state = State::Open { until: now };
        }
    }

    /// The state as reported (for `/ready`): an open circuit whose cooldown has passed is
    /// half-open, since the next request will probe.
    pub(crate) fn state(&self, now: Instant) -> CircuitState {
        match self.state {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { until } if now < until => CircuitState::Open,
            State::Open { .. } | State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(10);

    #[test]
    fn opens_after_consecutive_failures_only() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, COOLDOWN);
        assert_eq!(b.on_failure(t0), Transition::None);
        assert_eq!(b.on_failure(t0), Transition::None);
        assert_eq!(b.on_success(), Transition::None, "a success resets the count");
        assert_eq!(b.on_failure(t0), Transition::None);
        assert_eq!(b.on_failure(t0), Transition::None);
        assert_eq!(b.admit(t0), Admit::Yes);
        assert_eq!(b.on_failure(t0), Transition::Opened);
        assert_eq!(b.state(t0), CircuitState::Open);
        assert_eq!(b.admit(t0), Admit::No);
        assert_eq!(b.admit(t0 + COOLDOWN - Duration::from_millis(1)), Admit::No);
        // A late failure from a request admitted earlier does not extend the cooldown.
        assert_eq!(b.on_failure(t0 + Duration::from_secs(5)), Transition::None);
        assert_eq!(b.state(t0 + COOLDOWN), CircuitState::HalfOpen);
    }

    #[test]
    fn half_open_probe_closes_or_reopens() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, COOLDOWN);
        assert_eq!(b.on_failure(t0), Transition::Opened);
        let t1 = t0 + COOLDOWN;
        assert_eq!(b.admit(t1), Admit::Probe);
        assert_eq!(b.admit(t1), Admit::No, "one probe at a time");
        assert_eq!(b.state(t1), CircuitState::HalfOpen);
        assert_eq!(b.on_failure(t1), Transition::Opened);
        assert_eq!(b.admit(t1 + Duration::from_secs(1)), Admit::No);
        let t2 = t1 + COOLDOWN;
        assert_eq!(b.admit(t2), Admit::Probe);
        assert_eq!(b.on_success(), Transition::Closed);
        assert_eq!(b.state(t2), CircuitState::Closed);
        assert_eq!(b.admit(t2), Admit::Yes);
    }

    #[test]
    fn lost_probe_is_replaced() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, COOLDOWN);
        b.on_failure(t0);
        assert_eq!(b.admit(t0 + COOLDOWN), Admit::Probe);
        // Abandoned: the next request probes at once.
        b.on_probe_abandoned(t0 + COOLDOWN);
        assert_eq!(b.admit(t0 + COOLDOWN), Admit::Probe);
        // Never reported at all: another probe after a cooldown.
        assert_eq!(b.admit(t0 + COOLDOWN + Duration::from_secs(1)), Admit::No);
        assert_eq!(b.admit(t0 + COOLDOWN * 2), Admit::Probe);
    }

    #[test]
    fn zero_never_opens_and_limits_update() {
        let t0 = Instant::now();
        let mut b = Breaker::new(0, COOLDOWN);
        for _ in 0..100 {
            assert_eq!(b.on_failure(t0), Transition::None);
        }
        b.set_limits(2, COOLDOWN);
        assert_eq!(b.on_failure(t0), Transition::Opened, "the count was kept");
        b.reset();
        assert_eq!(b.state(t0), CircuitState::Closed);
    }
}
