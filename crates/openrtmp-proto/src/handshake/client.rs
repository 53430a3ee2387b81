//! The client side of the handshake (RTMP 1.0 §5.2.1: it sends C0 and C1 at once, C2 after
//! S1, and may send chunks only after S2).

use std::collections::VecDeque;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::digest::{self, Digest};
use super::{
    check_version, field, is_echo, DigestLayout, HandshakeError, HandshakeScheme, Packet,
    PacketReader, RandomPool, CLIENT_VERSION, HANDSHAKE_SIZE, RTMP_VERSION,
};

/// Which C1 a [`ClientHandshake`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientMode {
    /// A §5.2.3 C1 with a zero version field; the server answers with the simple scheme.
    Simple,
    /// A Flash Player style C1: [`CLIENT_VERSION`] and a digest in [`DigestLayout::Schema0`].
    /// Servers that validate C1 (nginx-rtmp, FMS) need this; the client still completes with
    /// a simple handshake if the server's S1 carries no digest.
    Digest,
}

/// Sans-IO client handshake: C0+C1 are queued by [`ClientHandshake::new`].
pub struct ClientHandshake {
    state: ClientState,
    random: RandomPool,
    reader: PacketReader,
    /// C0+C1, then C2; at most two entries.
    transmit: VecDeque<Bytes>,
    /// Kept to check that S2 echoes it.
    c1: Box<Packet>,
    /// C1's digest in [`ClientMode::Digest`]; keys S2's signature.
    c1_digest: Option<Digest>,
    /// Set with S1, never changed after.
    scheme: Option<HandshakeScheme>,
    peer_version: Option<[u8; 4]>,
    s2_valid: Option<bool>,
}

/// Where the client is in §5.2.5's diagram (C0 and C1 are sent on creation).
#[derive(Debug)]
enum ClientState {
    /// "Version sent": waiting for S0.
    ExpectS0,
    /// Waiting for the 1536 bytes of S1.
    ExpectS1,
    /// C2 queued ("Ack sent"), waiting for S2.
    ExpectS2,
    /// S2 received; later bytes belong to the chunk stream.
    Complete,
    /// Sticky: every later call returns the same error.
    Failed(HandshakeError),
}

impl ClientHandshake {
    /// A client that has queued C0+C1.
    ///
    /// `epoch` is the client's uptime in ms for C1's `time` field (§5.2.3). `random` is the
    /// filler for C1 and C2 from the caller's RNG: [`super::RANDOM_LEN`] (3032) bytes, at least
    /// 1528; shorter input is stretched, never a panic.
    pub fn new(epoch: u32, random: &[u8], mode: ClientMode) -> Self {
        let random = RandomPool::new(random);
        let (c1, c1_digest) = match mode {
            ClientMode::Simple => (random.packet(epoch, [0; 4]), None),
            ClientMode::Digest => {
                let mut c1 = random.packet(epoch, CLIENT_VERSION);
                let d = digest::imprint(&mut c1, DigestLayout::Schema0, digest::CLIENT_KEY);
                (c1, Some(d))
            }
        };
        let mut c0c1 = BytesMut::with_capacity(1 + HANDSHAKE_SIZE);
        c0c1.put_u8(RTMP_VERSION);
        c0c1.put_slice(&c1);
        Self {
            state: ClientState::ExpectS0,
            random,
            reader: PacketReader::default(),
            transmit: VecDeque::from([c0c1.freeze()]),
            c1: Box::new(c1),
            c1_digest,
            scheme: None,
            peer_version: None,
            s2_valid: None,
        }
    }

    /// Consumes from `input` exactly the handshake bytes it needs: S0, S1, S2. Whatever follows
    /// S2 (servers often send their first control messages with it) stays in `input`.
    ///
    /// A wrong S0 version fails at once and leaves the byte in `input`. After an error every
    /// call returns the same error; after completion calls do nothing.
    pub fn handle_input(&mut self, input: &mut BytesMut) -> Result<(), HandshakeError> {
        loop {
            match &self.state {
                ClientState::Failed(error) => return Err(error.clone()),
                ClientState::Complete => return Ok(()),
                ClientState::ExpectS0 => {
                    let Some(&version) = input.first() else {
                        return Ok(());
                    };
                    if let Err(error) = check_version(version) {
                        tracing::debug!(%error, "rtmp handshake: rejecting S0");
                        self.state = ClientState::Failed(error.clone());
                        return Err(error);
                    }
                    let _s0 = input.split_to(1);
                    self.state = ClientState::ExpectS1;
                }
                ClientState::ExpectS1 => {
                    let Some(s1) = self.reader.read(input) else {
                        return Ok(());
                    };
                    self.handle_s1(&s1);
                }
                ClientState::ExpectS2 => {
                    let Some(s2) = self.reader.read(input) else {
                        return Ok(());
                    };
                    let valid = is_echo(&self.c1, &s2)
                        || self.c1_digest.is_some_and(|d| {
                            digest::response_valid(&s2, &d, digest::SERVER_FULL_KEY)
                        });
                    if !valid {
                        tracing::debug!("rtmp handshake: S2 neither echoes C1 nor signs it");
                    }
                    self.s2_valid = Some(valid);
                    self.state = ClientState::Complete;
                }
            }
        }
    }

    /// Follows the server's scheme and queues C2.
    fn handle_s1(&mut self, s1: &Packet) {
        let version = field(s1, 4);
        self.peer_version = Some(version);
        // Only a digest C1 can get a digest S1; a zero version is a simple server (§5.2.3).
        let found = match self.c1_digest {
            Some(_) if version != [0; 4] => digest::find(s1, digest::SERVER_KEY),
            _ => None,
        };
        let (scheme, c2) = match found {
            Some((layout, s1_digest)) => {
                let body = self.random.response_body();
                let c2 = digest::response(body, &s1_digest, digest::CLIENT_FULL_KEY);
                (HandshakeScheme::Digest(layout), c2)
            }
            // §5.2.4: C2 echoes S1; FFmpeg and librtmp echo all 1536 bytes, as here.
            None => (HandshakeScheme::Simple, *s1),
        };
        tracing::debug!(?scheme, ?version, "rtmp handshake: S1 received");
        self.transmit.push_back(Bytes::copy_from_slice(&c2));
        self.scheme = Some(scheme);
        self.state = ClientState::ExpectS2;
    }

    /// C0+C1 first, then C2 once S1 has arrived (§5.2.1).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.pop_front()
    }

    /// Whether S2 has arrived: the client may now send chunks (§5.2.1).
    pub fn is_complete(&self) -> bool {
        matches!(self.state, ClientState::Complete)
    }

    /// [`HandshakeScheme::Digest`] if the server's S1 carried a valid digest; `None` before S1.
    pub fn scheme(&self) -> Option<HandshakeScheme> {
        self.scheme
    }

    /// S1 bytes 4..8: zero for simple servers, else the server's version.
    pub fn peer_version(&self) -> Option<[u8; 4]> {
        self.peer_version
    }

    /// Whether S2 echoed C1 (§5.2.4) or carried a valid digest-scheme signature; `None` before
    /// S2. Informational only: a bad S2 does not fail the handshake.
    pub fn s2_valid(&self) -> Option<bool> {
        self.s2_valid
    }
}

impl fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("state", &self.state)
            .field("digest", &self.c1_digest.is_some())
            .field("scheme", &self.scheme)
            .field("peer_version", &self.peer_version)
            .field("s2_valid", &self.s2_valid)
            .field("transmit_pending", &self.transmit.len())
            .finish_non_exhaustive()
    }
}
