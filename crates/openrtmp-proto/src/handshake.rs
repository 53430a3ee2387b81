//! The RTMP handshake (RTMP 1.0 §5.2), sans-IO, for both ends of a connection.
//!
//! Both schemes in use share the wire shape of §5.2: a one-byte version (C0/S0, §5.2.2) and
//! three 1536-byte packets (C1/S1 §5.2.3, C2/S2 §5.2.4).
//!
//! - **Simple** (the published spec): C1/S1 carry `time`, four zero bytes and random filler;
//!   C2/S2 echo the peer's C1/S1.
//! - **Digest** ("complex", introduced by Flash Player 9 / FMS 3 and never published): C1/S1
//!   carry a non-zero version in bytes 4..8 and an HMAC-SHA256 digest hidden at an offset
//!   derived from the packet itself (see [`DigestLayout`]); C2/S2 are random filler signed with
//!   a key derived from the peer's digest. FFmpeg sends a digest C1 and, when playing, aborts
//!   unless S1 and S2 validate; nginx-rtmp validates C1 digests from clients.
//!
//! [`ServerHandshake`] answers either scheme: it chooses digest when the client's C1 carries a
//! valid digest and falls back to simple otherwise. [`ClientHandshake`] sends either scheme
//! ([`ClientMode`]) and follows whatever the server answers.
//!
//! Both follow the crate's sans-IO contract: `handle_input` consumes exactly the handshake's
//! bytes from the caller's buffer (anything after C2/S2 stays there for the chunk decoder),
//! `poll_transmit` yields bytes to write. Neither owns a clock or a random number generator:
//! the caller passes the epoch and the random filler in, so tests are deterministic.
//!
//! The content of C2/S2 is checked but never fatal: many real clients do not echo correctly,
//! so the result is only reported ([`ServerHandshake::c2_valid`], [`ClientHandshake::s2_valid`]).

mod client;
mod digest;
mod server;

use bytes::{Buf, BytesMut};
use ring::hmac;

pub use client::{ClientHandshake, ClientMode};
pub use server::ServerHandshake;

/// Size of C1, S1, C2 and S2 (RTMP 1.0 §5.2.3, §5.2.4).
pub const HANDSHAKE_SIZE: usize = 1536;

/// The RTMP version this crate speaks in C0/S0 (RTMP 1.0 §5.2.2).
pub const RTMP_VERSION: u8 = 3;

/// Bytes of caller-supplied randomness a handshake endpoint uses: 1528 bytes of C1/S1 filler
/// (§5.2.3) followed by 1504 bytes of filler for a digest-scheme C2/S2.
///
/// Callers should pass this many bytes; shorter input is stretched deterministically with
/// HMAC-SHA256 (the spec asks for "sufficiently random", not cryptographic, data).
pub const RANDOM_LEN: usize = FILLER_LEN + digest::RESPONSE_BODY_LEN;

/// Version a digest-scheme server writes into S1 bytes 4..8. FFmpeg only validates the S1
/// digest when the first of these bytes is at least 3, so an FMS 3.5 style value is used.
pub const SERVER_VERSION: [u8; 4] = [3, 5, 1, 1];

/// Version a digest-mode client writes into C1 bytes 4..8: Flash Player 9.0.124.2, the value
/// FFmpeg sends (see `handshake/testdata/ffmpeg_c0c1.bin`).
pub const CLIENT_VERSION: [u8; 4] = [9, 0, 124, 2];

/// Length of the random filler in C1/S1 after `time` and `zero`/version (§5.2.3).
const FILLER_LEN: usize = HANDSHAKE_SIZE - 8;

/// One C1/S1/C2/S2 packet.
type Packet = [u8; HANDSHAKE_SIZE];

/// Which handshake the two ends agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeScheme {
    /// The published handshake of RTMP 1.0 §5.2: C2/S2 echo S1/C1.
    Simple,
    /// The Flash Player 9 / FMS 3 digest handshake, with the layout the client's C1 used.
    Digest(DigestLayout),
}

/// Where a digest-scheme C1/S1 hides its 32-byte digest.
///
/// The 1528 bytes after `time` and version form two 764-byte blocks, 8..772 and 772..1536.
/// One of them (the "digest block") starts with four bytes whose sum, modulo 728, is the
/// digest's position within the 728 bytes that follow them; the other (the "key block") is only
/// meaningful for RTMPE, which is not supported. The digest is HMAC-SHA256 of the packet
/// without those 32 bytes.
///
/// Naming follows this crate, not every other implementation: SRS, for one, numbers the two
/// layouts the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestLayout {
    /// Digest block first: offset = (sum of bytes 8..12) % 728 + 12, key block at 772..1536.
    /// FFmpeg uses this layout for plain RTMP.
    Schema0,
    /// Key block first at 8..772: offset = (sum of bytes 772..776) % 728 + 776.
    /// FFmpeg uses this layout for RTMPE; some Flash Player versions use it for plain RTMP.
    Schema1,
}

/// Why a handshake failed. Every variant is fatal to the connection: RTMP has no way to tell
/// the peer why during the handshake, so the session closes the socket without sending more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// C0/S0 asked for RTMPE (6, or 8 and 9 for its XTEA and Blowfish variants), which needs a
    /// Diffie-Hellman exchange and RC4 that this crate deliberately does not implement.
    #[error(
        "encrypted RTMP (RTMPE, handshake version {version}) is not supported; \
         use RTMPS (RTMP over TLS) instead"
    )]
    EncryptedNotSupported {
        /// The version byte received in C0/S0.
        version: u8,
    },
    /// C0/S0 carried a version other than 3 (§5.2.2). Values 32..=255 are "not allowed" so
    /// that text protocols can be told apart: a 'G' (0x47) is typically an HTTP request.
    #[error("unsupported RTMP version {version} (only 3 is supported){}", VersionHint(*.version))]
    UnsupportedVersion {
        /// The version byte received in C0/S0.
        version: u8,
    },
}

/// Extra words for [`HandshakeError::UnsupportedVersion`] naming what the byte looks like.
struct VersionHint(u8);

impl std::fmt::Display for VersionHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let byte = self.0;
        match byte {
            0x16 => {
                f.write_str(": 0x16 looks like a TLS ClientHello (RTMPS sent to a plain port?)")
            }
            // What a load balancer that speaks the PROXY protocol sends first, to a server
            // not told to expect it (see `crate::proxy_header`).
            b'P' => f.write_str(
                ": 0x50 is ASCII 'P', as a PROXY protocol v1 header starts (a load balancer's?)",
            ),
            0x0d => f.write_str(
                ": 0x0d starts the PROXY protocol v2 signature (a load balancer's header?)",
            ),
            b' '..=b'~' => write!(
                f,
                ": 0x{byte:02x} is ASCII '{}', so the peer speaks a text protocol such as HTTP",
                char::from(byte)
            ),
            0x7f..=0xff => write!(f, ": 0x{byte:02x} is not RTMP (§5.2.2 forbids 32..=255)"),
            _ => Ok(()),
        }
    }
}

/// Checks a C0/S0 version byte (§5.2.2).
fn check_version(version: u8) -> Result<(), HandshakeError> {
    match version {
        RTMP_VERSION => Ok(()),
        6 | 8 | 9 => Err(HandshakeError::EncryptedNotSupported { version }),
        _ => Err(HandshakeError::UnsupportedVersion { version }),
    }
}

/// Reads a 4-byte field of a packet (time at 0, zero/version at 4).
fn field(packet: &Packet, at: usize) -> [u8; 4] {
    packet.get(at..at + 4).and_then(|bytes| <[u8; 4]>::try_from(bytes).ok()).unwrap_or_default()
}

/// Whether `echo` is a §5.2.4 echo of `sent`: the random echo (bytes 8..) matches. `time2`
/// (bytes 4..8) is free by the spec, and `time` is not checked because FFmpeg's and other
/// servers rewrite it; the random bytes are what proves the peer read our packet.
fn is_echo(sent: &Packet, echo: &Packet) -> bool {
    sent.get(8..) == echo.get(8..)
}

/// The caller's randomness, stretched to [`RANDOM_LEN`] bytes.
struct RandomPool(Box<[u8; RANDOM_LEN]>);

impl RandomPool {
    /// Copies `random` and, if it is shorter than [`RANDOM_LEN`], fills the rest with
    /// HMAC-SHA256(key = `random`, counter) blocks so short input never panics.
    fn new(random: &[u8]) -> Self {
        let mut pool = Box::new([0u8; RANDOM_LEN]);
        pool.iter_mut().zip(random).for_each(|(dst, src)| *dst = *src);
        if let Some(rest) = pool.get_mut(random.len()..) {
            let key = hmac::Key::new(hmac::HMAC_SHA256, random);
            for (counter, block) in (0u64..).zip(rest.chunks_mut(digest::DIGEST_LEN)) {
                let mut ctx = hmac::Context::with_key(&key);
                ctx.update(b"openrtmp handshake filler");
                ctx.update(&counter.to_be_bytes());
                let tag = ctx.sign();
                block.iter_mut().zip(tag.as_ref()).for_each(|(dst, src)| *dst = *src);
            }
        }
        Self(pool)
    }

    /// A C1/S1 (§5.2.3): `time`, then `version` (zero for the simple scheme), then filler.
    fn packet(&self, time: u32, version: [u8; 4]) -> Packet {
        let mut packet = [0u8; HANDSHAKE_SIZE];
        let fields = time.to_be_bytes().into_iter().chain(version).chain(self.filler());
        packet.iter_mut().zip(fields).for_each(|(dst, src)| *dst = src);
        packet
    }

    fn filler(&self) -> impl Iterator<Item = u8> + '_ {
        self.0.iter().copied().take(FILLER_LEN)
    }

    /// Filler for a digest-scheme C2/S2.
    fn response_body(&self) -> &[u8] {
        self.0.get(FILLER_LEN..).unwrap_or_default()
    }
}

impl std::fmt::Debug for RandomPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RandomPool(..)")
    }
}

/// Collects one [`HANDSHAKE_SIZE`] packet across reads of any size.
#[derive(Debug, Default)]
struct PacketReader {
    /// Bytes of the packet received so far; always shorter than [`HANDSHAKE_SIZE`].
    partial: BytesMut,
}

impl PacketReader {
    /// Takes from `input` at most the bytes still missing and returns the packet once whole.
    fn read(&mut self, input: &mut BytesMut) -> Option<Packet> {
        if self.partial.is_empty() {
            if let Some(whole) = input.get(..HANDSHAKE_SIZE).and_then(|s| Packet::try_from(s).ok())
            {
                input.advance(HANDSHAKE_SIZE);
                return Some(whole);
            }
        }
        let take = HANDSHAKE_SIZE.saturating_sub(self.partial.len()).min(input.len());
        self.partial.extend_from_slice(&input.split_to(take));
        if self.partial.len() < HANDSHAKE_SIZE {
            return None;
        }
        let whole = Packet::try_from(self.partial.as_ref()).ok();
        self.partial.clear();
        whole
    }
}

#[cfg(test)]
mod tests;
