//! The latency marker carried at the start of every synthetic video frame's body.
//!
//! Publisher and players live in the same process, so they share one clock: the publisher
//! writes the send time (nanoseconds since a process-wide [`Instant`] base) into the frame,
//! and a player subtracts it from the receive time. The difference is the relay latency of
//! the server plus both loopback hops, with no clock synchronisation error.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Eight bytes no real encoder emits at the start of an AVC frame body (a NAL unit length
/// of 0x4F52544D would be 1.3 GB), so a stray frame from another publisher is not misread.
pub const MAGIC: [u8; 8] = *b"ORTMPLAT";
/// Length of a marker: the magic, then the send time as a big-endian u64.
pub const MARKER_LEN: usize = 16;

/// The process-wide clock base; initialised on first use.
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Fixes the clock base now (if not done yet), so that every later instant is after it.
pub fn init() {
    base();
}

/// Nanoseconds from the process-wide base to `at` (0 if `at` is before the base).
pub fn nanos_since_base(at: Instant) -> u64 {
    let nanos = at.saturating_duration_since(base()).as_nanos();
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

/// The marker for a frame sent at `at`.
pub fn encode(at: Instant) -> [u8; MARKER_LEN] {
    let mut marker = [0u8; MARKER_LEN];
    let (magic, time) = marker.split_at_mut(MAGIC.len());
    magic.copy_from_slice(&MAGIC);
    time.copy_from_slice(&nanos_since_base(at).to_be_bytes());
    marker
}

/// The send time in `body` (a video frame body after its 5-byte AVC tag header), as
/// nanoseconds since the base, or `None` when it carries no marker.
pub fn decode(body: &[u8]) -> Option<u64> {
    let magic = body.get(..MAGIC.len())?;
    if magic != MAGIC {
        return None;
    }
    let time: [u8; 8] = body.get(MAGIC.len()..MARKER_LEN)?.try_into().ok()?;
    Some(u64::from_be_bytes(time))
}

/// Time from the send time `sent_nanos` (from [`decode`]) to `received`; zero if the
/// marker claims a time after `received` (it cannot happen in one process, but the value
/// came from the network).
pub fn latency(sent_nanos: u64, received: Instant) -> Duration {
    Duration::from_nanos(nanos_since_base(received).saturating_sub(sent_nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        init();
        let sent = Instant::now();
        let marker = encode(sent);
        assert_eq!(&marker[..8], b"ORTMPLAT");
        let mut body = marker.to_vec();
        body.extend_from_slice(&[0xAB; 100]);
        let decoded = decode(&body).unwrap();
        assert_eq!(decoded, nanos_since_base(sent));
        let received = sent + Duration::from_micros(1500);
        let l = latency(decoded, received);
        assert!(l >= Duration::from_micros(1499) && l <= Duration::from_micros(1501), "{l:?}");
    }

    #[test]
    fn rejects_foreign_and_short_bodies() {
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"ORTMPLAT\0\0\0"), None);
        assert_eq!(decode(&[0, 0, 0, 12, 0x65, 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), None);
        let mut future = encode(Instant::now() + Duration::from_secs(5)).to_vec();
        future.push(0);
        assert_eq!(latency(decode(&future).unwrap(), Instant::now()), Duration::ZERO);
    }
}
