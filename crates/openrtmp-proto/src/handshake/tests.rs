//! Handshake tests: in-memory client/server pairs, byte-boundary and random splits, golden
//! vectors (including a C0+C1 captured from FFmpeg), version and garbage handling.
//!
//! Digest checks here recompute HMACs directly with `ring` and literal keys, independently of
//! `digest.rs`, so a wrong constant or offset there cannot hide behind itself.

use bytes::BytesMut;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use ring::{digest as sha, hmac};

use super::*;

/// C0+C1 sent by FFmpeg 5.1 (Debian 12) and 9.0.2 when publishing; both are identical because
/// FFmpeg seeds its C1 filler with a constant. See `testdata/README.md`.
const FFMPEG_C0C1: &[u8] = include_bytes!("testdata/ffmpeg_c0c1.bin");

const EPOCH: u32 = 0x00AB_CDEF;
/// First bytes of a chunk stream (fmt 0, csid 3) that a peer sends right behind C2/S2.
const TRAILING: &[u8] = b"\x03\x00\x00\x00\x00\x00\x1f\x14\x00\x00\x00\x00\x02\x00\x07connect";

const FP_TEXT_KEY: &[u8] = b"Genuine Adobe Flash Player 001";
const FMS_TEXT_KEY: &[u8] = b"Genuine Adobe Flash Media Server 001";
const KEY_SUFFIX_HEX: &str = "f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(sha::digest(&sha::SHA256, bytes).as_ref())
}

fn full_key(text: &[u8]) -> Vec<u8> {
    [text, &unhex(KEY_SUFFIX_HEX)].concat()
}

fn hmac_of(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, key));
    parts.iter().for_each(|p| ctx.update(p));
    ctx.sign().as_ref().to_vec()
}

/// Digest offset recomputed from scratch: block at `base`, 4 offset bytes, 728-byte window.
fn offset_at(packet: &[u8], base: usize) -> usize {
    packet[base..base + 4].iter().map(|&b| b as usize).sum::<usize>() % 728 + base + 4
}

/// Checks that `packet` carries a valid digest at the layout's offset; returns the digest.
fn assert_digest(packet: &[u8], base: usize, text_key: &[u8]) -> Vec<u8> {
    let off = offset_at(packet, base);
    let expected = hmac_of(text_key, &[&packet[..off], &packet[off + 32..]]);
    assert_eq!(&packet[off..off + 32], &expected[..], "digest at {off}");
    expected
}

/// Deterministic filler (splitmix64), independent of `rand`'s unportable `StdRng`, so the
/// golden hashes below stay fixed.
fn random(seed: u8) -> Vec<u8> {
    let mut state = u64::from(seed);
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..RANDOM_LEN / 8).flat_map(|_| next().to_be_bytes()).collect()
}

fn drain_server(server: &mut ServerHandshake, out: &mut Vec<u8>) {
    while let Some(bytes) = server.poll_transmit() {
        out.extend_from_slice(&bytes);
    }
}

fn drain_client(client: &mut ClientHandshake, out: &mut Vec<u8>) {
    while let Some(bytes) = client.poll_transmit() {
        out.extend_from_slice(&bytes);
    }
}

/// Everything each side sent in an in-memory exchange.
struct Transcript {
    server: ServerHandshake,
    client: ClientHandshake,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
}

fn run_pair(mode: ClientMode) -> Transcript {
    let mut server = ServerHandshake::new(EPOCH, &random(1));
    let mut client = ClientHandshake::new(7, &random(2), mode);
    let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
    let (mut s_in, mut c_in) = (BytesMut::new(), BytesMut::new());
    for _ in 0..4 {
        let start = to_server.len();
        drain_client(&mut client, &mut to_server);
        s_in.extend_from_slice(&to_server[start..]);
        server.handle_input(&mut s_in).unwrap();
        let start = to_client.len();
        drain_server(&mut server, &mut to_client);
        c_in.extend_from_slice(&to_client[start..]);
        client.handle_input(&mut c_in).unwrap();
    }
    assert!(server.is_complete() && client.is_complete());
    assert!(s_in.is_empty() && c_in.is_empty());
    Transcript { server, client, to_server, to_client }
}

/// Feeds `chunks` to a server seeded like [`run_pair`]'s; returns it, its output and leftovers.
fn feed_server<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (ServerHandshake, Vec<u8>, BytesMut) {
    let mut server = ServerHandshake::new(EPOCH, &random(1));
    let (mut out, mut input) = (Vec::new(), BytesMut::new());
    for chunk in chunks {
        input.extend_from_slice(chunk);
        server.handle_input(&mut input).unwrap();
        drain_server(&mut server, &mut out);
    }
    (server, out, input)
}

fn feed_client<'a>(
    mode: ClientMode,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (ClientHandshake, Vec<u8>, BytesMut) {
    let mut client = ClientHandshake::new(7, &random(2), mode);
    let (mut out, mut input) = (Vec::new(), BytesMut::new());
    drain_client(&mut client, &mut out);
    for chunk in chunks {
        input.extend_from_slice(chunk);
        client.handle_input(&mut input).unwrap();
        drain_client(&mut client, &mut out);
    }
    (client, out, input)
}

fn expected_scheme(mode: ClientMode) -> HandshakeScheme {
    match mode {
        ClientMode::Simple => HandshakeScheme::Simple,
        ClientMode::Digest => HandshakeScheme::Digest(DigestLayout::Schema0),
    }
}

/// Replays a transcript's streams (plus trailing chunk bytes) in the given pieces and checks
/// both sides reach the same end: same output, same scheme, leftovers untouched.
fn check_replay(mode: ClientMode, t: &Transcript, server_cuts: &[usize], client_cuts: &[usize]) {
    let pieces = |stream: &[u8], cuts: &[usize]| -> Vec<Vec<u8>> {
        let mut bounds = vec![0];
        bounds.extend(cuts.iter().copied().filter(|&c| c <= stream.len()));
        bounds.push(stream.len());
        bounds.sort_unstable();
        bounds.windows(2).map(|w| stream[w[0]..w[1]].to_vec()).collect()
    };
    let to_server = [&t.to_server[..], TRAILING].concat();
    let chunks = pieces(&to_server, server_cuts);
    let (server, out, left) = feed_server(chunks.iter().map(Vec::as_slice));
    assert!(server.is_complete());
    assert_eq!(server.scheme(), Some(expected_scheme(mode)));
    assert_eq!(server.c2_valid(), Some(true));
    assert_eq!(out, t.to_client);
    assert_eq!(&left[..], TRAILING);

    let to_client = [&t.to_client[..], TRAILING].concat();
    let chunks = pieces(&to_client, client_cuts);
    let (client, out, left) = feed_client(mode, chunks.iter().map(Vec::as_slice));
    assert!(client.is_complete());
    assert_eq!(client.scheme(), Some(expected_scheme(mode)));
    assert_eq!(client.s2_valid(), Some(true));
    assert_eq!(out, t.to_server);
    assert_eq!(&left[..], TRAILING);
}

#[test]
fn pairs_complete_with_the_same_scheme() {
    for mode in [ClientMode::Simple, ClientMode::Digest] {
        let t = run_pair(mode);
        assert_eq!(t.server.scheme(), Some(expected_scheme(mode)));
        assert_eq!(t.client.scheme(), t.server.scheme());
        assert_eq!(t.server.c2_valid(), Some(true));
        assert_eq!(t.client.s2_valid(), Some(true));
        assert_eq!(t.to_server.len(), 1 + 2 * HANDSHAKE_SIZE);
        assert_eq!(t.to_client.len(), 1 + 2 * HANDSHAKE_SIZE);
        let (client_version, server_version) = match mode {
            ClientMode::Simple => ([0; 4], [0; 4]),
            ClientMode::Digest => (CLIENT_VERSION, SERVER_VERSION),
        };
        assert_eq!(t.server.peer_version(), Some(client_version));
        assert_eq!(t.client.peer_version(), Some(server_version));
        check_replay(mode, &t, &[], &[]);
    }
}

#[test]
fn every_split_point_gives_the_same_result() {
    for mode in [ClientMode::Simple, ClientMode::Digest] {
        let t = run_pair(mode);
        for cut in 0..=t.to_server.len() + TRAILING.len() {
            check_replay(mode, &t, &[cut], &[cut]);
        }
    }
}

#[test]
fn byte_at_a_time() {
    for mode in [ClientMode::Simple, ClientMode::Digest] {
        let t = run_pair(mode);
        let cuts: Vec<usize> = (0..t.to_server.len() + TRAILING.len()).collect();
        check_replay(mode, &t, &cuts, &cuts);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_splits_give_the_same_result(
        digest_mode: bool,
        server_cuts in prop::collection::vec(0usize..3200, 0..24),
        client_cuts in prop::collection::vec(0usize..3200, 0..24),
    ) {
        let mode = if digest_mode { ClientMode::Digest } else { ClientMode::Simple };
        check_replay(mode, &run_pair(mode), &server_cuts, &client_cuts);
    }
}

/// A simple C1: time 0x01020304, zero field, a counting pattern as filler.
fn fixed_simple_c1() -> Vec<u8> {
    let mut c1 = vec![1, 2, 3, 4, 0, 0, 0, 0];
    c1.extend((8..HANDSHAKE_SIZE).map(|i| (i * 7 + 3) as u8));
    c1
}

#[test]
fn golden_simple_server_reply() {
    let c1 = fixed_simple_c1();
    let (server, out, _) = feed_server([&[3u8][..], &c1]);
    assert_eq!(server.scheme(), Some(HandshakeScheme::Simple));
    // §5.2.2-§5.2.4 by hand: S0 = 3, S1 = epoch + zero + filler, S2 = C1 echoed whole.
    let expected = [&[3u8][..], &EPOCH.to_be_bytes(), &[0; 4], &random(1)[..1528], &c1].concat();
    assert_eq!(hex(&out[..16]), "0300abcdef00000000".to_owned() + &hex(&random(1)[..7]));
    assert_eq!(out, expected);
    assert_eq!(
        sha256_hex(&out),
        "268860fc3464392c759c09c78410cc75c5798948f7b9b34b81036d6d47887e3b",
        "S0+S1+S2 for random(1) and fixed_simple_c1(), as computed by testdata/golden.py"
    );
}

#[test]
fn ffmpeg_c0c1_vector_is_a_schema0_digest() {
    assert_eq!(FFMPEG_C0C1.len(), 1 + HANDSHAKE_SIZE);
    let c1 = &FFMPEG_C0C1[1..];
    assert_eq!(FFMPEG_C0C1[0], 3);
    assert_eq!(&c1[..8], &[0, 0, 0, 0, 9, 0, 124, 2], "uptime 0, Flash 9.0.124.2");
    assert_digest(c1, 8, FP_TEXT_KEY);
}

#[test]
fn golden_digest_server_reply_to_ffmpeg() {
    let (server, out, left) = feed_server([FFMPEG_C0C1]);
    assert!(left.is_empty());
    assert_eq!(server.scheme(), Some(HandshakeScheme::Digest(DigestLayout::Schema0)));
    assert_eq!(server.peer_version(), Some([9, 0, 124, 2]));
    assert!(!server.is_complete());
    let (s0, s1, s2) = (out[0], &out[1..1537], &out[1537..]);
    assert_eq!(s0, 3);
    assert_eq!(&s1[..8], &[0x00, 0xAB, 0xCD, 0xEF, 3, 5, 1, 1]);
    // S1: our filler everywhere except the 32 digest bytes at the Schema0 offset.
    let off = offset_at(s1, 8);
    let filler = random(1);
    assert_eq!(&s1[8..off], &filler[..off - 8]);
    assert_eq!(&s1[off + 32..], &filler[off + 24..1528]);
    let s1_digest = assert_digest(s1, 8, FMS_TEXT_KEY);
    // S2: filler, then HMAC(HMAC(FMS full key, C1 digest), S2[..1504]).
    let c1_digest = assert_digest(&FFMPEG_C0C1[1..], 8, FP_TEXT_KEY);
    assert_eq!(&s2[..1504], &filler[1528..]);
    let key = hmac_of(&full_key(FMS_TEXT_KEY), &[&c1_digest]);
    assert_eq!(&s2[1504..], &hmac_of(&key, &[&s2[..1504]])[..]);
    assert_eq!(
        sha256_hex(&out),
        "72ac85bc05af46c0369d7bc69858b12653e1e58a25071d09e8a8f05081016a08",
        "S0+S1+S2 for random(1) and FFmpeg's C1, as computed by testdata/golden.py"
    );

    // What FFmpeg answers when playing: filler signed with HMAC(FP full key, S1 digest).
    let mut c2 = vec![0x42u8; 1504];
    let key = hmac_of(&full_key(FP_TEXT_KEY), &[&s1_digest]);
    c2.extend(hmac_of(&key, &[&c2]));
    let (server, _, left) = feed_server([FFMPEG_C0C1, &c2, TRAILING]);
    assert_eq!((server.is_complete(), server.c2_valid()), (true, Some(true)));
    assert_eq!(&left[..], TRAILING);
    // What FFmpeg answers when publishing: S1 echoed.
    let (server, _, _) = feed_server([FFMPEG_C0C1, s1]);
    assert_eq!((server.is_complete(), server.c2_valid()), (true, Some(true)));
}

/// A C1 with a digest in the Schema1 position, built here without `digest.rs`.
fn schema1_c1() -> Vec<u8> {
    let mut c1 = fixed_simple_c1();
    c1[4..8].copy_from_slice(&[10, 0, 32, 18]);
    let off = offset_at(&c1, 772);
    let d = hmac_of(FP_TEXT_KEY, &[&c1[..off], &c1[off + 32..]]);
    c1[off..off + 32].copy_from_slice(&d);
    c1
}

#[test]
fn schema1_client_gets_a_schema1_server() {
    let c1 = schema1_c1();
    let (server, out, _) = feed_server([&[3u8][..], &c1]);
    assert_eq!(server.scheme(), Some(HandshakeScheme::Digest(DigestLayout::Schema1)));
    let s1_digest = assert_digest(&out[1..1537], 772, FMS_TEXT_KEY);
    let c1_digest = assert_digest(&c1, 772, FP_TEXT_KEY);
    let key = hmac_of(&full_key(FMS_TEXT_KEY), &[&c1_digest]);
    assert_eq!(&out[1537 + 1504..], &hmac_of(&key, &[&out[1537..1537 + 1504]])[..]);
    let key = hmac_of(&full_key(FP_TEXT_KEY), &[&s1_digest]);
    let mut c2 = vec![9u8; 1504];
    c2.extend(hmac_of(&key, &[&c2]));
    let (server, _, _) = feed_server([&[3u8][..], &c1, &c2]);
    assert_eq!(server.c2_valid(), Some(true));
}

#[test]
fn digest_client_c1_is_valid_schema0() {
    let mut client = ClientHandshake::new(0x0102_0304, &random(5), ClientMode::Digest);
    let c0c1 = client.poll_transmit().unwrap();
    assert_eq!(client.poll_transmit(), None, "C2 waits for S1");
    assert_eq!(&c0c1[..9], &[3, 1, 2, 3, 4, 9, 0, 124, 2]);
    assert_digest(&c0c1[1..], 8, FP_TEXT_KEY);
    let simple = ClientHandshake::new(0x0102_0304, &random(5), ClientMode::Simple).poll_transmit();
    let simple = simple.unwrap();
    assert_eq!(&simple[..], &[&[3, 1, 2, 3, 4, 0, 0, 0, 0][..], &random(5)[..1528]].concat());
}

#[test]
fn c1_without_valid_digest_falls_back_to_simple() {
    // Version set but the digest is wrong in both layouts.
    let mut c1 = fixed_simple_c1();
    c1[4..8].copy_from_slice(&[9, 0, 124, 2]);
    // A valid digest but a zero version field: the spec's zero means simple.
    let mut zero_version = FFMPEG_C0C1[1..].to_vec();
    zero_version[4..8].fill(0);
    for c1 in [c1, zero_version] {
        let (server, out, _) = feed_server([&[3u8][..], &c1]);
        assert_eq!(server.scheme(), Some(HandshakeScheme::Simple));
        assert_eq!(&out[1537..], &c1[..], "simple S2 echoes C1");
        assert_eq!(&out[5..9], &[0; 4], "simple S1 has a zero field");
    }
}

/// Input after C1 that is not a correct C2: the handshake still completes.
fn bad_c2() -> Vec<u8> {
    vec![0xEE; HANDSHAKE_SIZE]
}

#[test]
fn bad_c2_completes_but_is_reported() {
    let (server, _, left) = feed_server([FFMPEG_C0C1, &bad_c2(), TRAILING]);
    assert!(server.is_complete());
    assert_eq!(server.c2_valid(), Some(false));
    assert_eq!(&left[..], TRAILING);
}

/// S0+S1+S2 of a simple server (zero version field), S2 in FFmpeg's server style: C1's filler
/// echoed under a rewritten time and a zero time2.
fn simple_server_reply(c1: &[u8]) -> Vec<u8> {
    let mut reply = vec![3, 0, 0, 0, 9, 0, 0, 0, 0];
    reply.extend((8..HANDSHAKE_SIZE).map(|i| (i % 251) as u8));
    reply.extend([0, 0, 1, 0, 0, 0, 0, 0]);
    reply.extend(&c1[8..]);
    reply
}

#[test]
fn digest_client_follows_a_simple_server() {
    for mode in [ClientMode::Simple, ClientMode::Digest] {
        let mut client = ClientHandshake::new(1, &random(3), mode);
        let c0c1 = client.poll_transmit().unwrap();
        let reply = simple_server_reply(&c0c1[1..]);
        let mut input = BytesMut::from(&[&reply[..], TRAILING].concat()[..]);
        client.handle_input(&mut input).unwrap();
        assert_eq!(&input[..], TRAILING);
        assert_eq!(client.scheme(), Some(HandshakeScheme::Simple));
        assert_eq!((client.is_complete(), client.s2_valid()), (true, Some(true)));
        assert_eq!(&client.poll_transmit().unwrap()[..], &reply[1..1537], "C2 echoes S1");
        // A nonzero S1 version without a digest is simple too.
        let mut client = ClientHandshake::new(1, &random(3), mode);
        let mut reply = reply.clone();
        reply[5..9].copy_from_slice(&SERVER_VERSION);
        reply[1537..].fill(0x55);
        client.handle_input(&mut BytesMut::from(&reply[..])).unwrap();
        assert_eq!(client.scheme(), Some(HandshakeScheme::Simple));
        assert_eq!((client.is_complete(), client.s2_valid()), (true, Some(false)));
    }
}

#[test]
fn version_errors_are_precise_and_sticky() {
    for version in 0..=255u8 {
        let mut server = ServerHandshake::new(0, &[]);
        let mut input = BytesMut::from(&[version, 0, 0][..]);
        let result = server.handle_input(&mut input);
        let expected = match version {
            3 => Ok(()),
            6 | 8 | 9 => Err(HandshakeError::EncryptedNotSupported { version }),
            _ => Err(HandshakeError::UnsupportedVersion { version }),
        };
        assert_eq!(result, expected, "C0 {version}");
        if result.is_err() {
            assert_eq!(input.len(), 3, "nothing consumed on error");
            assert_eq!(server.handle_input(&mut BytesMut::new()), expected, "sticky");
            assert_eq!(server.poll_transmit(), None);
        }
        let mut client = ClientHandshake::new(0, &[], ClientMode::Digest);
        assert_eq!(client.handle_input(&mut BytesMut::from(&[version][..])), expected, "S0");
    }
}

#[test]
fn error_messages_name_the_problem() {
    let encrypted = HandshakeError::EncryptedNotSupported { version: 6 }.to_string();
    assert!(encrypted.contains("encrypted RTMP") && encrypted.contains("RTMPS"), "{encrypted}");
    let http = HandshakeError::UnsupportedVersion { version: b'G' }.to_string();
    assert!(http.contains("0x47 is ASCII 'G'") && http.contains("HTTP"), "{http}");
    let tls = HandshakeError::UnsupportedVersion { version: 0x16 }.to_string();
    assert!(tls.contains("TLS"), "{tls}");
    let high = HandshakeError::UnsupportedVersion { version: 0xff }.to_string();
    assert!(high.contains("0xff is not RTMP"), "{high}");
    let old = HandshakeError::UnsupportedVersion { version: 1 }.to_string();
    assert_eq!(old, "unsupported RTMP version 1 (only 3 is supported)");
}

#[test]
fn http_request_is_rejected_at_the_first_byte() {
    let mut server = ServerHandshake::new(0, &random(1));
    let mut input = BytesMut::from(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..]);
    let error = server.handle_input(&mut input).unwrap_err();
    assert_eq!(error, HandshakeError::UnsupportedVersion { version: 0x47 });
}

#[test]
fn random_garbage_never_panics_and_errors_precisely() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    for _ in 0..200 {
        let len = rng.gen_range(1..4000);
        let garbage: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        let first = garbage[0];
        let mut server = ServerHandshake::new(rng.gen(), &garbage);
        let mut input = BytesMut::from(&garbage[..]);
        match (first, server.handle_input(&mut input)) {
            (3, Ok(())) => {
                let consumed = len - input.len();
                assert_eq!(consumed, len.min(1 + 2 * HANDSHAKE_SIZE));
                assert_eq!(server.is_complete(), len > 2 * HANDSHAKE_SIZE);
                if len > HANDSHAKE_SIZE {
                    assert_eq!(server.scheme(), Some(HandshakeScheme::Simple));
                }
            }
            (6 | 8 | 9, Err(HandshakeError::EncryptedNotSupported { version })) => {
                assert_eq!(version, first)
            }
            (_, Err(HandshakeError::UnsupportedVersion { version })) => assert_eq!(version, first),
            (first, other) => panic!("C0 {first}: {other:?}"),
        }
        let mut client = ClientHandshake::new(0, &garbage, ClientMode::Digest);
        let result = client.handle_input(&mut BytesMut::from(&garbage[..]));
        assert_eq!(result.is_ok(), first == 3);
    }
}

#[test]
fn nothing_to_send_before_c1_and_once_after() {
    let mut server = ServerHandshake::new(0, &random(1));
    let mut input = BytesMut::from(&FFMPEG_C0C1[..HANDSHAKE_SIZE]);
    server.handle_input(&mut input).unwrap();
    assert!(input.is_empty(), "partial C1 is buffered inside");
    assert_eq!(server.poll_transmit(), None);
    assert_eq!(server.scheme(), None);
    server.handle_input(&mut BytesMut::from(&FFMPEG_C0C1[HANDSHAKE_SIZE..])).unwrap();
    assert_eq!(server.poll_transmit().map(|b| b.len()), Some(1 + 2 * HANDSHAKE_SIZE));
    assert_eq!(server.poll_transmit(), None);
    // After completion, input is left alone.
    server.handle_input(&mut BytesMut::from(&[0u8; HANDSHAKE_SIZE][..])).unwrap();
    let mut more = BytesMut::from(TRAILING);
    server.handle_input(&mut more).unwrap();
    assert!(server.is_complete());
    assert_eq!(&more[..], TRAILING);
}

#[test]
fn short_randomness_is_stretched() {
    for random in [&[][..], &[1, 2, 3][..], &[7; 1528][..]] {
        let mut server = ServerHandshake::new(0, random);
        let mut client = ClientHandshake::new(0, random, ClientMode::Digest);
        let mut to_server = BytesMut::new();
        drain_client_into(&mut client, &mut to_server);
        server.handle_input(&mut to_server).unwrap();
        let mut to_client = BytesMut::new();
        to_client.extend_from_slice(&server.poll_transmit().unwrap());
        client.handle_input(&mut to_client).unwrap();
        drain_client_into(&mut client, &mut to_server);
        server.handle_input(&mut to_server).unwrap();
        assert!(server.is_complete() && client.is_complete());
        assert_eq!((server.c2_valid(), client.s2_valid()), (Some(true), Some(true)));
    }
    let pool = RandomPool::new(&[1, 2, 3]);
    assert_eq!(&pool.0[..3], &[1, 2, 3]);
    assert_ne!(&pool.0[3..35], &[0; 32]);
    assert_ne!(pool.0[3..35], pool.0[35..67], "counter blocks differ");
}

fn drain_client_into(client: &mut ClientHandshake, out: &mut BytesMut) {
    while let Some(bytes) = client.poll_transmit() {
        out.extend_from_slice(&bytes);
    }
}
