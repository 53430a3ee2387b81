//! The server side of the handshake (RTMP 1.0 §5.2.1: it waits for C0 and C1, answers with
//! S0, S1 and S2 in one write, then waits for C2).

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::digest::{self, Digest};
use super::{
    check_version, field, is_echo, HandshakeError, HandshakeScheme, Packet, PacketReader,
    RandomPool, HANDSHAKE_SIZE, RTMP_VERSION, SERVER_VERSION,
};

/// Sans-IO server handshake: feed it what the client sends, write out what it yields.
///
/// ```
/// use bytes::BytesMut;
/// use openrtmp_proto::handshake::{ClientHandshake, ClientMode, ServerHandshake};
///
/// let mut client = ClientHandshake::new(0, &[1; 3032], ClientMode::Digest);
/// let mut server = ServerHandshake::new(0, &[2; 3032]);
/// let mut to_server = BytesMut::new();
/// let mut to_client = BytesMut::new();
/// while !(client.is_complete() && server.is_complete()) {
///     while let Some(bytes) = client.poll_transmit() {
///         to_server.extend_from_slice(&bytes);
///     }
///     server.handle_input(&mut to_server)?;
///     while let Some(bytes) = server.poll_transmit() {
///         to_client.extend_from_slice(&bytes);
///     }
///     client.handle_input(&mut to_client)?;
/// }
/// assert_eq!(server.scheme(), client.scheme());
/// # Ok::<(), openrtmp_proto::handshake::HandshakeError>(())
/// ```
pub struct ServerHandshake {
    state: ServerState,
    /// Server uptime in ms, written as S1's `time` (§5.2.3).
    epoch: u32,
    random: RandomPool,
    reader: PacketReader,
    /// S0+S1+S2, queued when C1 is complete and taken by `poll_transmit`.
    transmit: Option<Bytes>,
    /// Set with C1, never changed after.
    scheme: Option<HandshakeScheme>,
    peer_version: Option<[u8; 4]>,
    c2_valid: Option<bool>,
}

/// Where the server is in §5.2.5's diagram.
enum ServerState {
    /// Uninitialized: waiting for the version byte.
    ExpectC0,
    /// Waiting for the 1536 bytes of C1.
    ExpectC1,
    /// S0/S1/S2 queued ("Ack Sent"); C2 is checked against what S1 carried.
    ExpectC2 {
        s1: Box<Packet>,
        /// S1's digest in the digest scheme, which keys C2's signature.
        s1_digest: Option<Digest>,
    },
    /// C2 received; later bytes belong to the chunk stream.
    Complete,
    /// Sticky: every later call returns the same error.
    Failed(HandshakeError),
}

impl ServerHandshake {
    /// A server waiting for C0.
    ///
    /// `epoch` is the server's uptime in ms for S1's `time` field (§5.2.3). `random` is the
    /// filler for S1 and S2 from the caller's RNG: [`super::RANDOM_LEN`] (3032) bytes, at least
    /// 1528; shorter input is stretched, never a panic.
    pub fn new(epoch: u32, random: &[u8]) -> Self {
        Self {
            state: ServerState::ExpectC0,
            epoch,
            random: RandomPool::new(random),
            reader: PacketReader::default(),
            transmit: None,
            scheme: None,
            peer_version: None,
            c2_valid: None,
        }
    }

    /// Consumes from `input` exactly the handshake bytes it needs: C0, C1, C2. Whatever follows
    /// C2 (clients often send their first chunks in the same segment) stays in `input`.
    ///
    /// A wrong C0 version fails at once, before C1 arrives, and leaves the byte in `input`.
    /// After an error every call returns the same error; after completion calls do nothing.
    pub fn handle_input(&mut self, input: &mut BytesMut) -> Result<(), HandshakeError> {
        loop {
            match &self.state {
                ServerState::Failed(error) => return Err(error.clone()),
                ServerState::Complete => return Ok(()),
                ServerState::ExpectC0 => {
                    let Some(&version) = input.first() else {
                        return Ok(());
                    };
                    if let Err(error) = check_version(version) {
                        tracing::debug!(%error, "rtmp handshake: rejecting C0");
                        self.state = ServerState::Failed(error.clone());
                        return Err(error);
                    }
                    let _c0 = input.split_to(1);
                    self.state = ServerState::ExpectC1;
                }
                ServerState::ExpectC1 => {
                    let Some(c1) = self.reader.read(input) else {
                        return Ok(());
                    };
                    self.handle_c1(&c1);
                }
                ServerState::ExpectC2 { s1, s1_digest } => {
                    let Some(c2) = self.reader.read(input) else {
                        return Ok(());
                    };
                    let valid = is_echo(s1, &c2)
                        || s1_digest.is_some_and(|d| {
                            digest::response_valid(&c2, &d, digest::CLIENT_FULL_KEY)
                        });
                    if !valid {
                        tracing::debug!("rtmp handshake: C2 neither echoes S1 nor signs it");
                    }
                    self.c2_valid = Some(valid);
                    self.state = ServerState::Complete;
                }
            }
        }
    }

    /// Chooses the scheme from C1 and queues S0+S1+S2.
    fn handle_c1(&mut self, c1: &Packet) {
        let version = field(c1, 4);
        self.peer_version = Some(version);
        // A zero version field is the spec's "zero" (§5.2.3): a simple-handshake client.
        let found = if version == [0; 4] { None } else { digest::find(c1, digest::CLIENT_KEY) };
        let (scheme, s1, s1_digest, s2) = match found {
            Some((layout, c1_digest)) => {
                let mut s1 = self.random.packet(self.epoch, SERVER_VERSION);
                let s1_digest = digest::imprint(&mut s1, layout, digest::SERVER_KEY);
                let body = self.random.response_body();
                let s2 = digest::response(body, &c1_digest, digest::SERVER_FULL_KEY);
                (HandshakeScheme::Digest(layout), s1, Some(s1_digest), s2)
            }
            // §5.2.4: S2 echoes C1 byte for byte (librtmp warns unless all 1536 bytes match).
            None => (HandshakeScheme::Simple, self.random.packet(self.epoch, [0; 4]), None, *c1),
        };
        tracing::debug!(?scheme, ?version, "rtmp handshake: C1 received");
        let mut out = BytesMut::with_capacity(1 + 2 * HANDSHAKE_SIZE);
        out.put_u8(RTMP_VERSION);
        out.put_slice(&s1);
        out.put_slice(&s2);
        self.transmit = Some(out.freeze());
        self.scheme = Some(scheme);
        self.state = ServerState::ExpectC2 { s1: Box::new(s1), s1_digest };
    }

    /// S0+S1+S2 in one buffer, once, after C0 and C1 have arrived (§5.2.1 lets the server wait
    /// for C1, which it must to choose the scheme).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.take()
    }

    /// Whether C2 has arrived: the chunk stream starts with the next byte.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, ServerState::Complete)
    }

    /// The scheme chosen from C1; `None` before C1 is complete.
    pub fn scheme(&self) -> Option<HandshakeScheme> {
        self.scheme
    }

    /// C1 bytes 4..8: zero for simple clients, else the client's version (FFmpeg: 9.0.124.2).
    pub fn peer_version(&self) -> Option<[u8; 4]> {
        self.peer_version
    }

    /// Whether C2 echoed S1 (§5.2.4) or carried a valid digest-scheme signature; `None` before
    /// C2. Informational only: a bad C2 does not fail the handshake.
    pub fn c2_valid(&self) -> Option<bool> {
        self.c2_valid
    }
}

impl fmt::Debug for ServerHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandshake")
            .field("state", &self.state)
            .field("epoch", &self.epoch)
            .field("scheme", &self.scheme)
            .field("peer_version", &self.peer_version)
            .field("c2_valid", &self.c2_valid)
            .field("transmit_pending", &self.transmit.as_ref().map(Bytes::len))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ExpectC0 => f.write_str("ExpectC0"),
            Self::ExpectC1 => f.write_str("ExpectC1"),
            Self::ExpectC2 { s1_digest, .. } => f
                .debug_struct("ExpectC2")
                .field("digest", &s1_digest.is_some())
                .finish_non_exhaustive(),
            Self::Complete => f.write_str("Complete"),
            Self::Failed(error) => f.debug_tuple("Failed").field(error).finish(),
        }
    }
}
