//! The protocol's deadlines, after quinn-proto's `connection/timer.rs`: one slot per
//! [`Timer`], each either disarmed or holding the instant it expires. The session arms and
//! disarms them as its state changes; the driver only asks for the earliest deadline
//! ([`ServerSession::poll_timeout`](super::ServerSession::poll_timeout)) and reports when it
//! has passed ([`ServerSession::handle_timeout`](super::ServerSession::handle_timeout)).
//!
//! Nothing ticks: a connection with nothing to do holds at most one deadline, and the driver
//! sleeps until it.

use std::time::Instant;

/// A deadline of the server session. When one expires the session closes with
/// [`SessionError::TimedOut`](super::SessionError::TimedOut).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// The handshake (C0 to C2, RTMP 1.0 §5.2) must complete this long after the connection
    /// was accepted. Armed at creation, disarmed when the handshake completes.
    Handshake,
    /// `connect` (§7.2.1.1) must be accepted this long after the handshake. A connect that
    /// waits for an authorisation decision still counts against it.
    Connect,
    /// A connected client that neither publishes nor plays (nor waits for a decision) is
    /// closed this long after it became so. Pings, acknowledgements, `createStream` and other
    /// commands do not re-arm it, or a client pinging every few seconds would never leave.
    Idle,
    /// A publishing connection must complete an audio or video message this often. A message
    /// declared but never completed does not count.
    PublisherSilence,
}

impl Timer {
    /// Every timer, in the order of the table's slots.
    pub const ALL: [Timer; 4] =
        [Timer::Handshake, Timer::Connect, Timer::Idle, Timer::PublisherSilence];

    fn slot(self) -> usize {
        match self {
            Timer::Handshake => 0,
            Timer::Connect => 1,
            Timer::Idle => 2,
            Timer::PublisherSilence => 3,
        }
    }
}

impl std::fmt::Display for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Timer::Handshake => "handshake not completed in time",
            Timer::Connect => "connect not accepted in time",
            Timer::Idle => "connection idle (neither publishing nor playing)",
            Timer::PublisherSilence => "publisher sent no media in time",
        })
    }
}

/// When each [`Timer`] expires, if armed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TimerTable {
    data: [Option<Instant>; 4],
}

impl TimerTable {
    /// Arms (or moves) `timer` to expire at `deadline`.
    pub(crate) fn set(&mut self, timer: Timer, deadline: Instant) {
        if let Some(slot) = self.data.get_mut(timer.slot()) {
            *slot = Some(deadline);
        }
    }

    /// When `timer` expires, if armed.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.data.get(timer.slot()).copied().flatten()
    }

    /// Disarms `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        if let Some(slot) = self.data.get_mut(timer.slot()) {
            *slot = None;
        }
    }

    /// Disarms every timer.
    pub(crate) fn stop_all(&mut self) {
        self.data = [None; 4];
    }

    /// The earliest deadline.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.data.iter().flatten().min().copied()
    }

    /// The timer with the earliest deadline at or before `now` (a deadline is reached at its
    /// instant, not after it).
    pub(crate) fn expired(&self, now: Instant) -> Option<Timer> {
        Timer::ALL
            .into_iter()
            .filter_map(|t| self.get(t).filter(|d| *d <= now).map(|d| (d, t)))
            .min()
            .map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn table_arms_stops_and_finds_the_earliest() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!((table.next_timeout(), table.expired(t0)), (None, None));
        table.set(Timer::Idle, t0 + Duration::from_secs(30));
        table.set(Timer::PublisherSilence, t0 + Duration::from_secs(5));
        assert_eq!(table.next_timeout(), Some(t0 + Duration::from_secs(5)));
        assert_eq!(table.expired(t0 + Duration::from_millis(4999)), None);
        assert_eq!(table.expired(t0 + Duration::from_secs(5)), Some(Timer::PublisherSilence));
        // Both expired: the earlier one is reported.
        assert_eq!(table.expired(t0 + Duration::from_secs(60)), Some(Timer::PublisherSilence));
        table.stop(Timer::PublisherSilence);
        assert_eq!(table.get(Timer::PublisherSilence), None);
        assert_eq!(table.next_timeout(), Some(t0 + Duration::from_secs(30)));
        table.stop_all();
        assert_eq!(table.next_timeout(), None);
    }
}
