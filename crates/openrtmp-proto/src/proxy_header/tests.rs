use super::*;
use proptest::prelude::*;

fn addrs(source: &str, destination: &str) -> ProxiedAddresses {
    ProxiedAddresses {
        source: source.parse().expect("source"),
        destination: destination.parse().expect("destination"),
    }
}

/// Feeds `input` whole, then split at every boundary (the first part, then the rest as the
/// decoder asks for it); every way must give the same outcome as the whole.
fn decode_everywhere(input: &[u8]) -> Result<Decoded, ProxyHeaderError> {
    let whole = decode(input);
    for cut in 0..input.len() {
        let head = input.get(..cut).expect("cut");
        match decode(head) {
            Ok(Decoded::Incomplete { needed }) => {
                assert!(needed >= 1);
                // Reading `needed` more never reads past the header's end.
                if let Ok(Decoded::Complete { len, .. }) = whole {
                    assert!(cut + needed <= len, "cut {cut} needed {needed} len {len}");
                }
            }
            // A prefix that already fails must fail the same way whole.
            Err(e) => assert_eq!(whole, Err(e), "cut {cut}"),
            Ok(complete) => assert_eq!(whole, Ok(complete), "cut {cut}"),
        }
    }
    whole
}

/// Reads as a server does: `needed` bytes at a time, never more; returns the header and
/// how many bytes were taken.
fn read_like_a_server(stream: &[u8]) -> Result<(ProxyHeader, usize), ProxyHeaderError> {
    let mut have = 0;
    loop {
        match decode(stream.get(..have).expect("have"))? {
            Decoded::Complete { header, len } => return Ok((header, len)),
            Decoded::Incomplete { needed } => {
                have += needed;
                assert!(have <= stream.len(), "asked for bytes past the end");
            }
        }
    }
}

fn complete(input: &[u8]) -> (ProxyHeader, usize) {
    match decode_everywhere(input) {
        Ok(Decoded::Complete { header, len }) => (header, len),
        other => panic!("{other:?}"),
    }
}

// Golden vectors. The v1 lines are the spec's own examples (§2.1: the longest TCP4 and TCP6
// lines and the 107-byte UNKNOWN worst case). The v2 headers are assembled from §2.2's
// layout byte by byte, in the shape HAProxy's `send-proxy-v2` and AWS NLB send them (NLB
// appends a type 0xEA TLV carrying the VPC endpoint id).

const V1_TCP4: &[u8] = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
const V1_TCP6: &[u8] = b"PROXY TCP6 ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
const V1_UNKNOWN_LONGEST: &[u8] = b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";

const V2_TCP4: &[u8] = &[
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, // signature
    0x21, // version 2, PROXY
    0x11, // AF_INET, STREAM
    0x00, 0x0c, // 12 bytes follow
    203, 0, 113, 7, // source 203.0.113.7
    10, 0, 0, 5, // destination 10.0.0.5
    0xd4, 0x31, // source port 54321
    0x07, 0x8f, // destination port 1935
];

const V2_TCP6: &[u8] = &[
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21,
    0x21, // AF_INET6, STREAM
    0x00, 0x24, // 36
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07, // 2001:db8::7
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // 2001:db8::1
    0x00, 0x50, 0x01, 0xbb, // 80, 443
];

const V2_LOCAL: &[u8] = &[
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
    0x20, // version 2, LOCAL
    0x00, // UNSPEC
    0x00, 0x00,
];

/// TCP4 with an AWS-style TLV: type 0xEA, length 0x0017 (23), subtype 0x01, then the
/// 22-byte VPC endpoint id.
const V2_TCP4_NLB_TLV: &[u8] = &[
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00,
    0x26, // 12 + 3 + 23 = 38
    198, 51, 100, 9, 172, 31, 1, 2, 0x30, 0x39, 0x07, 0x8f, // 198.51.100.9:12345 -> :1935
    0xea, 0x00, 0x17, 0x01, b'v', b'p', b'c', b'e', b'-', b'0', b'1', b'2', b'3', b'4', b'5', b'6',
    b'7', b'8', b'9', b'a', b'b', b'c', b'd', b'e', b'f', b'0',
];

#[test]
fn v1_golden_lines() {
    let (h, len) = complete(V1_TCP4);
    assert_eq!(len, V1_TCP4.len());
    assert_eq!(h.version, ProxyVersion::V1);
    assert_eq!(h.addresses, Some(addrs("255.255.255.255:65535", "255.255.255.255:65535")));
    // The spec's TCP6 "example" elides digits: not an address, refused.
    assert_eq!(decode_everywhere(V1_TCP6), Err(malformed("address does not match the protocol")));
    let (h, len) = complete(V1_UNKNOWN_LONGEST);
    assert_eq!((h.addresses, len), (None, V1_MAX_LEN));
    let (h, len) = complete(b"PROXY UNKNOWN\r\n");
    assert_eq!((h.addresses, len), (None, MIN_HEADER_LEN));
    let line = b"PROXY TCP6 2001:db8::7 2001:db8::1 54321 1935\r\n";
    let (h, _) = complete(line);
    assert_eq!(h.addresses, Some(addrs("[2001:db8::7]:54321", "[2001:db8::1]:1935")));
}

#[test]
fn v1_stops_at_the_crlf() {
    let mut stream = b"PROXY TCP4 203.0.113.7 10.0.0.5 54321 1935\r\n".to_vec();
    let header_len = stream.len();
    stream.extend_from_slice(&[3; 1537]); // C0 + C1 of the client
    let (h, len) = read_like_a_server(&stream).expect("header");
    assert_eq!(len, header_len);
    assert_eq!(h.addresses, Some(addrs("203.0.113.7:54321", "10.0.0.5:1935")));
}

#[test]
fn v1_refusals() {
    let cases: &[(&[u8], ProxyHeaderError)] = &[
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", malformed("line ends with LF, not CRLF")),
        (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", malformed("protocol is not TCP4, TCP6 or UNKNOWN")),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", malformed("missing field")),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", malformed("too many fields")),
        (b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", malformed("too many fields")),
        (b"PROXY TCP4 ::1 ::1 1 2\r\n", malformed("address does not match the protocol")),
        (b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", malformed("address does not match the protocol")),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", malformed("port is not a decimal number")),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", malformed("port out of range")),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \xff\r\n", malformed("not ASCII")),
        (b"PROXY\r\n", ProxyHeaderError::NotAHeader { first: b'\r' }),
        (b"GET / HTTP/1.1\r\n", ProxyHeaderError::NotAHeader { first: b'G' }),
        (b"\x03\x00\x00\x00", ProxyHeaderError::NotAHeader { first: 3 }),
        (b"\x16\x03\x01\x02\x00", ProxyHeaderError::NotAHeader { first: 0x16 }),
    ];
    for (input, error) in cases {
        assert_eq!(
            decode_everywhere(input),
            Err(error.clone()),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    let long = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 100]].concat();
    assert_eq!(decode_everywhere(&long), Err(ProxyHeaderError::V1TooLong));
}

#[test]
fn v2_golden_headers() {
    let (h, len) = complete(V2_TCP4);
    assert_eq!((h.version, len), (ProxyVersion::V2, 28));
    assert_eq!(h.addresses, Some(addrs("203.0.113.7:54321", "10.0.0.5:1935")));
    let (h, len) = complete(V2_TCP6);
    assert_eq!(len, 52);
    assert_eq!(h.addresses, Some(addrs("[2001:db8::7]:80", "[2001:db8::1]:443")));
    let (h, len) = complete(V2_LOCAL);
    assert_eq!((h.addresses, len), (None, 16));
    let (h, len) = complete(V2_TCP4_NLB_TLV);
    assert_eq!(len, V2_TCP4_NLB_TLV.len());
    assert_eq!(h.addresses, Some(addrs("198.51.100.9:12345", "172.31.1.2:1935")));
    // The encoders write the same bytes.
    assert_eq!(encode_v2(Some(&addrs("203.0.113.7:54321", "10.0.0.5:1935"))), V2_TCP4);
    assert_eq!(encode_v2(Some(&addrs("[2001:db8::7]:80", "[2001:db8::1]:443"))), V2_TCP6);
    assert_eq!(encode_v2(None), V2_LOCAL);
    assert_eq!(encode_v1(Some(&addrs("255.255.255.255:65535", "255.255.255.255:65535"))), V1_TCP4);
}

#[test]
fn v2_reads_no_further_than_its_length() {
    let mut stream = V2_TCP4_NLB_TLV.to_vec();
    stream.push(0x16); // the TLS ClientHello behind it
    let (_, len) = read_like_a_server(&stream).expect("header");
    assert_eq!(len, V2_TCP4_NLB_TLV.len());
    // Three reads: the shortest header, the rest of the fixed part, the declared length.
    assert_eq!(decode(&stream[..15]), Ok(Decoded::Incomplete { needed: 1 }));
    assert_eq!(decode(&stream[..16]), Ok(Decoded::Incomplete { needed: 38 }));
}

#[test]
fn v2_refusals() {
    let with = |at: usize, byte: u8| {
        let mut h = V2_TCP4.to_vec();
        h[at] = byte;
        h
    };
    let cases = [
        (with(12, 0x11), ProxyHeaderError::UnsupportedVersion { version: 1 }),
        (with(12, 0x22), ProxyHeaderError::UnknownCommand { command: 2 }),
        (with(13, 0x10), ProxyHeaderError::UnknownFamily { byte: 0x10 }),
        (with(13, 0x41), ProxyHeaderError::UnknownFamily { byte: 0x41 }),
        (with(15, 0x0b), ProxyHeaderError::AddressesTooShort { len: 11, needed: 12 }),
        (with(11, b'X'), ProxyHeaderError::NotAHeader { first: b'X' }),
        (with(14, 0x02), ProxyHeaderError::TooLong { len: 16 + 0x020c, limit: MAX_HEADER_LEN }),
    ];
    for (input, error) in cases {
        assert_eq!(decode_everywhere(&input), Err(error.clone()), "{error}");
    }
    // The largest accepted header, all TLVs, and one byte more.
    let body = (MAX_HEADER_LEN - 16) as u16;
    let mut largest = V2_TCP4[..14].to_vec();
    largest.extend_from_slice(&body.to_be_bytes());
    largest.resize(MAX_HEADER_LEN, 0);
    assert!(complete(&largest).0.addresses.is_some());
    let mut over = largest.clone();
    over[14..16].copy_from_slice(&(body + 1).to_be_bytes());
    assert_eq!(
        decode(&over),
        Err(ProxyHeaderError::TooLong { len: MAX_HEADER_LEN + 1, limit: MAX_HEADER_LEN })
    );
    // UNSPEC and AF_UNIX give no address; LOCAL ignores whatever block it carries.
    let unspec = [&V2_TCP4[..13], &[0x00, 0x00, 0x00]].concat();
    assert_eq!(complete(&unspec).0.addresses, None);
    let mut unix = V2_TCP4[..13].to_vec();
    unix.extend_from_slice(&[0x31, 0x00, 0xd8]);
    unix.resize(16 + 216, b'/');
    assert_eq!(complete(&unix).0.addresses, None);
    let local_with_block = with(12, 0x20);
    assert_eq!(
        complete(&local_with_block),
        (ProxyHeader { version: ProxyVersion::V2, addresses: None }, 28)
    );
}

#[test]
fn untrusted_headers_are_recognised_from_their_first_bytes() {
    assert!(looks_like_header(b"P"));
    assert!(looks_like_header(b"PROXY TCP4"));
    assert!(looks_like_header(&V2_SIGNATURE[..5]));
    assert!(looks_like_header(V2_TCP4));
    assert!(!looks_like_header(b""));
    assert!(!looks_like_header(b"\x03"));
    assert!(!looks_like_header(b"\x16\x03\x01"));
    assert!(!looks_like_header(b"PRO\x03"));
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip.into(), port)),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip.into(), port)),
    ]
}

/// The address as it comes back from an encoder: an IPv4 one beside an IPv6 one is mapped.
fn as_sent(a: ProxiedAddresses) -> ProxiedAddresses {
    if a.source.is_ipv4() && a.destination.is_ipv4() {
        return a;
    }
    let map = |s: SocketAddr| SocketAddr::new(IpAddr::V6(v6(s.ip())), s.port());
    ProxiedAddresses { source: map(a.source), destination: map(a.destination) }
}

proptest! {
    #[test]
    fn any_bytes_decode_without_panic(input in proptest::collection::vec(any::<u8>(), 0..700)) {
        let _ = decode_everywhere(&input);
    }

    #[test]
    fn any_bytes_after_a_signature_decode_without_panic(
        tail in proptest::collection::vec(any::<u8>(), 0..600),
        v1 in any::<bool>(),
    ) {
        let head: &[u8] = if v1 { b"PROXY " } else { &V2_SIGNATURE };
        let input = [head, &tail].concat();
        if let Ok(Decoded::Complete { len, .. }) = decode_everywhere(&input) {
            prop_assert!(len <= input.len() && len <= MAX_HEADER_LEN);
        }
    }

    #[test]
    fn addresses_round_trip(source in socket_addr(), destination in socket_addr(), rest in any::<[u8; 8]>()) {
        let sent = ProxiedAddresses { source, destination };
        for encoded in [encode_v2(Some(&sent)), encode_v1(Some(&sent))] {
            let stream = [encoded.as_slice(), &rest].concat();
            let (header, len) = read_like_a_server(&stream).expect("decodes");
            prop_assert_eq!(len, encoded.len());
            prop_assert_eq!(header.addresses, Some(as_sent(sent)));
            prop_assert!(len <= V1_MAX_LEN.max(16 + V2_INET6_LEN));
        }
    }
}
