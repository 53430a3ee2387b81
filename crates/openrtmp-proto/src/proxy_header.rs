//! The PROXY protocol header (HAProxy, "The PROXY protocol", versions 1 and 2; the text of
//! 2020/03/05 shipped as `doc/proxy-protocol.txt` with HAProxy 2.9), sans-IO.
//!
//! A TCP load balancer (HAProxy `send-proxy-v2`, AWS NLB, a Kubernetes LoadBalancer with
//! PROXY protocol on) opens its own connection to us, so the socket's peer is the balancer.
//! It prepends one header naming the real client before the client's first byte (for RTMPS,
//! before the TLS ClientHello). [`decode`] reads that header from the start of the stream:
//!
//! - it borrows the input and allocates nothing; TLVs (v2 §2.2.x) are skipped, not kept;
//! - [`Decoded::Incomplete`] says how many more bytes are needed at least, and reading
//!   exactly that many never reads past the header's end (the spec asks receivers not to
//!   consume the protocol bytes behind it: §2.1 "the receiver must not start processing the
//!   connection until it received the whole header", and the bytes after are the client's);
//! - a header is at most [`MAX_HEADER_LEN`] bytes: 16 fixed + the 216 bytes of the largest
//!   address block (AF_UNIX) + room for the TLVs load balancers send (AWS NLB's VPC endpoint
//!   id, GCP's and Azure's private link ids: well under 100 bytes); 536 is also the smallest
//!   TCP MSS, so a header this long arrives in one segment. Longer ones are refused;
//! - version 1 lines are at most [`V1_MAX_LEN`] bytes (§2.1).
//!
//! What it does not decide: whom to believe. A header is only meaningful from a peer the
//! operator trusts (the spec, §1: "the receiver must be configured to only receive the
//! protocol ... and must not try to guess whether the protocol header is present or not");
//! the server checks the socket's peer against its trusted networks first.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The 12 bytes a version 2 header starts with (§2.2): `\r\n\r\n\0\r\nQUIT\n`.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest version 1 line, CRLF included (§2.1: "107 bytes").
pub const V1_MAX_LEN: usize = 107;
/// The longest header accepted (either version), see the module docs.
pub const MAX_HEADER_LEN: usize = 536;
/// The shortest header of either version (`PROXY UNKNOWN\r\n`, 15 bytes; a version 2 header
/// is at least 16): a reader may always read this many bytes first.
pub const MIN_HEADER_LEN: usize = 15;

/// What a version 1 line starts with (§2.1).
const V1_PREFIX: &[u8] = b"PROXY ";
/// The fixed part of a version 2 header: signature, version and command, family and
/// transport, length (§2.2).
const V2_FIXED_LEN: usize = 16;
/// Address block sizes of a version 2 header (§2.2): IPv4, IPv6, AF_UNIX.
const V2_INET_LEN: usize = 12;
const V2_INET6_LEN: usize = 36;
const V2_UNIX_LEN: usize = 216;

/// Which version of the protocol a header used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    /// The human-readable line (§2.1).
    V1,
    /// The binary header (§2.2).
    V2,
}

/// The relayed connection's endpoints, as the proxy saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxiedAddresses {
    /// The client: who connected to the proxy.
    pub source: SocketAddr,
    /// The address the client connected to (the proxy's listener).
    pub destination: SocketAddr,
}

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    /// Version 1 or 2.
    pub version: ProxyVersion,
    /// The client's addresses; `None` when the header gives none the receiver can use: a v2
    /// `LOCAL` command (the proxy's own health check, §2.2), v1 `UNKNOWN`, or a v2 `UNSPEC`
    /// or `AF_UNIX` family. The socket's own addresses stand then (the spec's "real
    /// connection endpoints").
    pub addresses: Option<ProxiedAddresses>,
}

/// The outcome of [`decode`] on the bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// More bytes are needed: at least `needed` more, and reading exactly `needed` more never
    /// reads past the header.
    Incomplete {
        /// Bytes still needed at least (1 or more).
        needed: usize,
    },
    /// A whole header: the first `len` bytes of the input; what follows is the client's.
    Complete {
        /// What it says.
        header: ProxyHeader,
        /// Its length in bytes.
        len: usize,
    },
}

/// Why the bytes are not an acceptable PROXY header. Disposition (server): the connection
/// is closed without a reply (there is nobody to tell: the proxy sent the bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyHeaderError {
    /// The stream does not start with `PROXY ` or the version 2 signature.
    #[error("not a PROXY protocol header (starts with byte {first:#04x})")]
    NotAHeader {
        /// The first byte that did not match.
        first: u8,
    },
    /// A version 1 line without CRLF within 107 bytes.
    #[error("PROXY v1 line longer than {V1_MAX_LEN} bytes")]
    V1TooLong,
    /// A version 1 line that does not follow §2.1.
    #[error("malformed PROXY v1 line: {reason}")]
    V1Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The version nibble of a binary header is not 2.
    #[error("unsupported PROXY protocol version {version}")]
    UnsupportedVersion {
        /// The high nibble of byte 13.
        version: u8,
    },
    /// The command nibble is neither LOCAL (0) nor PROXY (1).
    #[error("unknown PROXY v2 command {command}")]
    UnknownCommand {
        /// The low nibble of byte 13.
        command: u8,
    },
    /// Byte 14 is not one of the family and transport pairs §2.2 defines.
    #[error("unknown PROXY v2 address family/transport {byte:#04x}")]
    UnknownFamily {
        /// Byte 14.
        byte: u8,
    },
    /// The header is longer than [`MAX_HEADER_LEN`].
    #[error("PROXY v2 header of {len} bytes (limit {limit})")]
    TooLong {
        /// The declared header length (16 + the length field).
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The length field leaves less room than the family's address block needs.
    #[error("PROXY v2 address block of {len} bytes, the family needs {needed}")]
    AddressesTooShort {
        /// The length field.
        len: usize,
        /// The address block's size.
        needed: usize,
    },
}

/// Decodes a PROXY header (either version) from the start of `input`, the bytes received
/// so far. Bytes after the header are not looked at.
pub fn decode(input: &[u8]) -> Result<Decoded, ProxyHeaderError> {
    match input.first() {
        None => Ok(Decoded::Incomplete { needed: MIN_HEADER_LEN }),
        Some(b'P') => decode_v1(input),
        Some(b'\r') => decode_v2(input),
        Some(&first) => Err(ProxyHeaderError::NotAHeader { first }),
    }
}

/// Whether `input` (at least one byte) could be the start of a PROXY header: what a server
/// that does not trust the peer checks, to log a header it will not believe.
pub fn looks_like_header(input: &[u8]) -> bool {
    !input.is_empty() && (starts_like(input, V1_PREFIX) || starts_like(input, &V2_SIGNATURE))
}

/// `input` and `prefix` agree on their common length.
fn starts_like(input: &[u8], prefix: &[u8]) -> bool {
    input.iter().zip(prefix).all(|(a, b)| a == b)
}

/// The first byte of `input` where it departs from `prefix`.
fn check_prefix(input: &[u8], prefix: &[u8]) -> Result<(), ProxyHeaderError> {
    match input.iter().zip(prefix).find(|(a, b)| a != b) {
        Some((&first, _)) => Err(ProxyHeaderError::NotAHeader { first }),
        None => Ok(()),
    }
}

fn decode_v1(input: &[u8]) -> Result<Decoded, ProxyHeaderError> {
    check_prefix(input, V1_PREFIX)?;
    let window = input.get(..V1_MAX_LEN).unwrap_or(input);
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        if window.len() >= V1_MAX_LEN {
            return Err(ProxyHeaderError::V1TooLong);
        }
        // Every line is at least MIN_HEADER_LEN long; past that, byte by byte (the spec's
        // own advice for v1 receivers that must not read beyond the CRLF).
        let needed = MIN_HEADER_LEN.saturating_sub(window.len()).max(1);
        return Ok(Decoded::Incomplete { needed });
    };
    let line = window.get(..lf).unwrap_or_default();
    let Some(line) = line.strip_suffix(b"\r") else {
        return Err(malformed("line ends with LF, not CRLF"));
    };
    let addresses = parse_v1_line(line)?;
    let header = ProxyHeader { version: ProxyVersion::V1, addresses };
    Ok(Decoded::Complete { header, len: lf + 1 })
}

fn malformed(reason: &'static str) -> ProxyHeaderError {
    ProxyHeaderError::V1Malformed { reason }
}

/// `PROXY <TCP4|TCP6> <src ip> <dst ip> <src port> <dst port>` or `PROXY UNKNOWN ...`
/// (CRLF stripped), fields separated by exactly one space (§2.1).
fn parse_v1_line(line: &[u8]) -> Result<Option<ProxiedAddresses>, ProxyHeaderError> {
    let text = std::str::from_utf8(line).map_err(|_| malformed("not ASCII"))?;
    let mut fields = text.split(' ');
    let _proxy = fields.next();
    let protocol = fields.next().ok_or(malformed("no protocol"))?;
    let v6 = match protocol {
        // "the receiver must ignore anything presented before the CRLF" (§2.1).
        "UNKNOWN" => return Ok(None),
        "TCP4" => false,
        "TCP6" => true,
        _ => return Err(malformed("protocol is not TCP4, TCP6 or UNKNOWN")),
    };
    let mut next = || fields.next().ok_or(malformed("missing field"));
    let (src, dst, sport, dport) = (next()?, next()?, next()?, next()?);
    if fields.next().is_some() {
        return Err(malformed("too many fields"));
    }
    let ip = |text: &str| -> Result<IpAddr, ProxyHeaderError> {
        let ip = if v6 {
            text.parse::<Ipv6Addr>().map(IpAddr::V6)
        } else {
            text.parse::<Ipv4Addr>().map(IpAddr::V4)
        };
        ip.map_err(|_| malformed("address does not match the protocol"))
    };
    let source = SocketAddr::new(ip(src)?, v1_port(sport)?);
    let destination = SocketAddr::new(ip(dst)?, v1_port(dport)?);
    Ok(Some(ProxiedAddresses { source, destination }))
}

/// A decimal port, 0..=65535, digits only (no sign).
fn v1_port(text: &str) -> Result<u16, ProxyHeaderError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("port is not a decimal number"));
    }
    text.parse().map_err(|_| malformed("port out of range"))
}

fn decode_v2(input: &[u8]) -> Result<Decoded, ProxyHeaderError> {
    check_prefix(input, &V2_SIGNATURE)?;
    let Some(fixed) = input.get(..V2_FIXED_LEN) else {
        return Ok(Decoded::Incomplete { needed: V2_FIXED_LEN - input.len() });
    };
    let [.., ver_cmd, family, hi, lo] = *fixed else {
        return Ok(Decoded::Incomplete { needed: V2_FIXED_LEN });
    };
    let (version, command) = (ver_cmd >> 4, ver_cmd & 0x0f);
    if version != 2 {
        return Err(ProxyHeaderError::UnsupportedVersion { version });
    }
    let local = match command {
        0 => true,
        1 => false,
        _ => return Err(ProxyHeaderError::UnknownCommand { command }),
    };
    // The pairs §2.2 lists: UNSPEC, TCP and UDP over IPv4, IPv6 and AF_UNIX.
    let block = match family {
        0x00 => 0,
        0x11 | 0x12 => V2_INET_LEN,
        0x21 | 0x22 => V2_INET6_LEN,
        0x31 | 0x32 => V2_UNIX_LEN,
        byte => return Err(ProxyHeaderError::UnknownFamily { byte }),
    };
    let body_len = usize::from(u16::from_be_bytes([hi, lo]));
    let len = V2_FIXED_LEN + body_len;
    if len > MAX_HEADER_LEN {
        return Err(ProxyHeaderError::TooLong { len, limit: MAX_HEADER_LEN });
    }
    // LOCAL: "the receiver must accept this connection as valid and must use the real
    // connection endpoints and discard the protocol block including the family".
    if !local && body_len < block {
        return Err(ProxyHeaderError::AddressesTooShort { len: body_len, needed: block });
    }
    let Some(body) = input.get(V2_FIXED_LEN..len) else {
        return Ok(Decoded::Incomplete { needed: len - input.len() });
    };
    let addresses = if local { None } else { v2_addresses(family, body) };
    Ok(Decoded::Complete { header: ProxyHeader { version: ProxyVersion::V2, addresses }, len })
}

/// The addresses of a PROXY command's block (TLVs after it are skipped); `None` for UNSPEC
/// and AF_UNIX. `body` is at least the family's block long (checked by the caller).
fn v2_addresses(family: u8, body: &[u8]) -> Option<ProxiedAddresses> {
    match family >> 4 {
        1 => {
            let a: [u8; V2_INET_LEN] = body.get(..V2_INET_LEN)?.try_into().ok()?;
            let [s0, s1, s2, s3, d0, d1, d2, d3, sp0, sp1, dp0, dp1] = a;
            let source =
                SocketAddr::new(IpAddr::from([s0, s1, s2, s3]), u16::from_be_bytes([sp0, sp1]));
            let destination =
                SocketAddr::new(IpAddr::from([d0, d1, d2, d3]), u16::from_be_bytes([dp0, dp1]));
            Some(ProxiedAddresses { source, destination })
        }
        2 => {
            let src: [u8; 16] = body.get(..16)?.try_into().ok()?;
            let dst: [u8; 16] = body.get(16..32)?.try_into().ok()?;
            let ports: [u8; 4] = body.get(32..36)?.try_into().ok()?;
            let [sp0, sp1, dp0, dp1] = ports;
            let source = SocketAddr::new(IpAddr::from(src), u16::from_be_bytes([sp0, sp1]));
            let destination = SocketAddr::new(IpAddr::from(dst), u16::from_be_bytes([dp0, dp1]));
            Some(ProxiedAddresses { source, destination })
        }
        _ => None,
    }
}

/// A version 2 header for `addresses` (`None`: the LOCAL command, a health check), TCP over
/// IPv4 when both addresses are IPv4, else TCP over IPv6 (an IPv4 address mapped), no
/// TLVs. What a load balancer sends; for tests and for clients behind a proxy of their own.
pub fn encode_v2(addresses: Option<&ProxiedAddresses>) -> Vec<u8> {
    let mut out = Vec::with_capacity(V2_FIXED_LEN + V2_INET6_LEN);
    out.extend_from_slice(&V2_SIGNATURE);
    let Some(a) = addresses else {
        out.extend_from_slice(&[0x20, 0x00, 0, 0]);
        return out;
    };
    match (a.source.ip(), a.destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend_from_slice(&[0x21, 0x11, 0, V2_INET_LEN as u8]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (s, d) => {
            out.extend_from_slice(&[0x21, 0x21, 0, V2_INET6_LEN as u8]);
            out.extend_from_slice(&v6(s).octets());
            out.extend_from_slice(&v6(d).octets());
        }
    }
    out.extend_from_slice(&a.source.port().to_be_bytes());
    out.extend_from_slice(&a.destination.port().to_be_bytes());
    out
}

/// A version 1 line for `addresses` (`None`: `PROXY UNKNOWN`), `TCP4` when both are IPv4,
/// else `TCP6` (an IPv4 address mapped).
pub fn encode_v1(addresses: Option<&ProxiedAddresses>) -> Vec<u8> {
    let Some(a) = addresses else {
        return b"PROXY UNKNOWN\r\n".to_vec();
    };
    let (sport, dport) = (a.source.port(), a.destination.port());
    let line = match (a.source.ip(), a.destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => format!("PROXY TCP4 {s} {d} {sport} {dport}\r\n"),
        (s, d) => format!("PROXY TCP6 {} {} {sport} {dport}\r\n", v6(s), v6(d)),
    };
    line.into_bytes()
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

#[cfg(test)]
mod tests;
