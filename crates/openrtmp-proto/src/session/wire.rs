//! The byte side both sessions share: the handshake, then chunk streams in and out
//! (RTMP 1.0 §5.2, §5.3), acknowledgements (§5.4.3) and a sticky error.

use bytes::{Bytes, BytesMut};

use super::SessionError;
use crate::chunk::{ChunkDecoder, ChunkEncoder, ChunkError, ChunkOutput, DecoderLimits};
use crate::command;
use crate::control::ControlMessage;
use crate::handshake::{ClientHandshake, HandshakeError, ServerHandshake};
use crate::message::Message;

/// What [`Wire`] needs of either side's handshake.
pub(super) trait Handshake {
    fn handle_input(&mut self, input: &mut BytesMut) -> Result<(), HandshakeError>;
    fn poll_transmit(&mut self) -> Option<Bytes>;
    fn is_complete(&self) -> bool;
}

macro_rules! impl_handshake {
    ($($t:ty),*) => {$(
        impl Handshake for $t {
            fn handle_input(&mut self, input: &mut BytesMut) -> Result<(), HandshakeError> {
                <$t>::handle_input(self, input)
            }
            fn poll_transmit(&mut self) -> Option<Bytes> {
                <$t>::poll_transmit(self)
            }
            fn is_complete(&self) -> bool {
                <$t>::is_complete(self)
            }
        }
    )*};
}
impl_handshake!(ServerHandshake, ClientHandshake);

/// Result of feeding bytes to a [`Wire`].
#[derive(Debug)]
pub(super) enum Progress<H> {
    /// Still in the handshake.
    Handshaking,
    /// The handshake completed with this input (chunk data may follow). The finished
    /// handshake is handed over so its state (a few KiB) is not kept for the connection's life.
    HandshakeDone(H),
    /// Chunk data was fed to the decoder.
    Chunks,
}

/// Handshake, chunk decoder and encoder, output queue.
#[derive(Debug)]
pub(super) struct Wire<H> {
    /// `None` once complete.
    handshake: Option<H>,
    /// Handshake bytes received but not consumed (at most one packet).
    input: BytesMut,
    pub(super) decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    pub(super) out: ChunkOutput,
    error: Option<SessionError>,
}

impl<H: Handshake> Wire<H> {
    pub(super) fn new(mut handshake: H, limits: DecoderLimits) -> Self {
        let mut out = ChunkOutput::new();
        while let Some(bytes) = handshake.poll_transmit() {
            out.push_bytes(bytes);
        }
        Wire {
            handshake: Some(handshake),
            input: BytesMut::new(),
            decoder: ChunkDecoder::new(limits),
            encoder: ChunkEncoder::new(),
            out,
            error: None,
        }
    }

    /// Feeds received bytes: to the handshake until it completes, then to the decoder.
    pub(super) fn handle_input(&mut self, data: &[u8]) -> Result<Progress<H>, SessionError> {
        self.check()?;
        if self.handshake.is_none() {
            self.decoder.handle_input(data);
            return Ok(Progress::Chunks);
        }
        self.input.extend_from_slice(data);
        self.handshake_input()
    }

    /// Where the driver may read the next bytes straight into (see
    /// [`ChunkDecoder::input_mut`]): the handshake's input until it completes, then the
    /// decoder's.
    pub(super) fn input_buffer(&mut self) -> &mut BytesMut {
        match self.handshake {
            Some(_) => &mut self.input,
            None => self.decoder.input_mut(),
        }
    }

    /// Handles `n` bytes the driver appended to [`input_buffer`](Self::input_buffer), as
    /// [`handle_input`](Self::handle_input) handles bytes it copies.
    pub(super) fn handle_appended(&mut self, n: usize) -> Result<Progress<H>, SessionError> {
        self.check()?;
        if self.handshake.is_none() {
            self.decoder.handle_appended(n);
            return Ok(Progress::Chunks);
        }
        self.handshake_input()
    }

    /// Runs the handshake on what `input` holds; on completion the rest goes to the decoder.
    fn handshake_input(&mut self) -> Result<Progress<H>, SessionError> {
        let Some(handshake) = self.handshake.as_mut() else {
            return Ok(Progress::Chunks);
        };
        let result = handshake.handle_input(&mut self.input);
        while let Some(bytes) = handshake.poll_transmit() {
            self.out.push_bytes(bytes);
        }
        let complete = handshake.is_complete();
        self.record(result.map_err(SessionError::from))?;
        if !complete {
            return Ok(Progress::Handshaking);
        }
        // The peer's first chunks often arrive in the same read as the last handshake packet.
        let rest = std::mem::take(&mut self.input);
        self.decoder.handle_input(&rest);
        match self.handshake.take() {
            Some(done) => Ok(Progress::HandshakeDone(done)),
            None => Ok(Progress::Chunks),
        }
    }

    pub(super) fn poll_message(&mut self) -> Result<Option<Message>, ChunkError> {
        self.decoder.poll_message()
    }

    /// Sends an Acknowledgement if a window's worth of bytes arrived since the last one.
    pub(super) fn acknowledge(&mut self) {
        if let Some(sequence) = self.decoder.poll_ack() {
            self.send_control(ControlMessage::Acknowledgement { sequence });
        }
    }

    pub(super) fn send(&mut self, message: &Message) {
        self.encoder.write_message(message, &mut self.out);
    }

    /// Queues `encoded`, which is `message` as [`crate::chunk::encode_standalone`] encodes it
    /// with this wire's outbound chunk size.
    pub(super) fn send_standalone(&mut self, message: &Message, encoded: &[Bytes]) {
        debug_assert_eq!(encoded, crate::chunk::encode_standalone(message, self.chunk_size()));
        self.encoder.note_standalone(message);
        for part in encoded {
            self.out.push_bytes(part.clone());
        }
    }

    /// Forgets the last header sent on chunk stream `csid` (it went out without us).
    pub(super) fn forget(&mut self, csid: u32) {
        self.encoder.forget(csid);
    }

    /// The outbound chunk size.
    pub(super) fn chunk_size(&self) -> u32 {
        self.encoder.chunk_size()
    }

    /// Sends a protocol control message. A Set Chunk Size switches the encoder right after it.
    pub(super) fn send_control(&mut self, control: ControlMessage) {
        self.send(&control.to_message());
    }

    pub(super) fn send_command(&mut self, stream_id: u32, payload: Bytes) {
        self.send(&command::command_message(stream_id, payload));
    }

    /// The first error, returned again on every later call.
    pub(super) fn check(&self) -> Result<(), SessionError> {
        self.error.clone().map_or(Ok(()), Err)
    }

    /// Remembers an error so the session stays dead.
    pub(super) fn record<T>(&mut self, result: Result<T, SessionError>) -> Result<T, SessionError> {
        if let Err(e) = &result {
            self.error.get_or_insert_with(|| e.clone());
        }
        result
    }
}
