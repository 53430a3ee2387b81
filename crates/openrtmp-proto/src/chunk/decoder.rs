//! Chunk to message decoder (RTMP 1.0 §5.3.1) with bounded reassembly.

use std::collections::HashMap;

use bytes::{Buf, Bytes, BytesMut};

use super::header::{self, MessageHeader, Reader, EXTENDED_TIMESTAMP};
use super::{ChunkError, DecoderLimits, INITIAL_CHUNK_SIZE, MAX_CHUNK_SIZE};
use crate::control::{ControlError, ControlMessage};
use crate::message::{Message, MessageType};

/// Messages at least this long are slices of the input (split off whole, or gathered in
/// place when their chunks follow one another); shorter ones are copied (see
/// `consume_chunk`). A slice pins the allocation it lies in; a driver that appends each read
/// where the last one ended (`openrtmp-server`'s read buffer does, up to 256 KiB per
/// allocation) fills an allocation with neighbouring frames, which a GOP cache or a player
/// queue keeps and drops together, so they pin about what they hold. Small messages (audio,
/// sequence headers, commands) are copied so that one long-kept small frame cannot pin a
/// whole allocation. One default chunk (4 KiB, `session::DEFAULT_CHUNK_SIZE`): video
/// frames of a few Mbit/s (10-12 KB at 30-60 fps) are slices.
const ZERO_COPY_MIN_LEN: usize = 4 * 1024;

/// Smallest capacity given to a reassembly buffer (capped by the declared length), so that a
/// message arriving in 128-byte chunks is not copied through ten doublings.
const MIN_REASSEMBLY_CAPACITY: usize = 4096;

/// An empty input buffer with more capacity than this is released rather than kept for the
/// next read, so that one huge chunk does not pin its allocation for the connection's life.
const MAX_IDLE_INPUT_CAPACITY: usize = 256 * 1024;

/// Header fields of the current (or last) message on a chunk stream, which later headers
/// inherit (§5.3.1.2).
#[derive(Debug, Clone, Copy)]
struct HeaderFields {
    /// Absolute timestamp of the message.
    timestamp: u32,
    /// Delta a type 3 chunk applies when it starts a new message: that of the last type 1 or
    /// 2 header, or the timestamp of the last type 0 header (§5.3.1.2.4).
    delta: u32,
    length: u32,
    type_id: MessageType,
    stream_id: u32,
    /// 32-bit extended timestamp field of the last type 0, 1 or 2 header, if it had one;
    /// type 3 chunks then may or may not repeat it (see [`ChunkDecoder`]).
    extended: Option<u32>,
}

impl HeaderFields {
    /// What a type 1 header on a chunk stream never seen before inherits.
    const FRESH: Self = Self {
        timestamp: 0,
        delta: 0,
        length: 0,
        type_id: MessageType(0),
        stream_id: 0,
        extended: None,
    };

    /// The fields of a message starting with `header` after `self` (§5.3.1.2.1-4), given the
    /// header's extended timestamp if it has one.
    fn next(self, header: &MessageHeader, extended: Option<u32>) -> Self {
        match *header {
            MessageHeader::Type0 { timestamp, length, type_id, stream_id } => {
                let timestamp = extended.unwrap_or(timestamp);
                let type_id = MessageType(type_id);
                let delta = timestamp;
                Self { timestamp, delta, length, type_id, stream_id, extended }
            }
            MessageHeader::Type1 { delta, length, type_id } => {
                let delta = extended.unwrap_or(delta);
                let timestamp = self.timestamp.wrapping_add(delta);
                let type_id = MessageType(type_id);
                Self { timestamp, delta, length, type_id, extended, ..self }
            }
            MessageHeader::Type2 { delta } => {
                let delta = extended.unwrap_or(delta);
                let timestamp = self.timestamp.wrapping_add(delta);
                Self { timestamp, delta, extended, ..self }
            }
            MessageHeader::Type3 => {
                Self { timestamp: self.timestamp.wrapping_add(self.delta), ..self }
            }
        }
    }
}

/// What the decoder knows of one chunk stream.
#[derive(Debug)]
struct ChunkStream {
    fields: HeaderFields,
    /// Bytes of the current message received so far; `None` between messages.
    /// Invariant: `0 < partial.len() < fields.length`, and its capacity is charged to
    /// [`ChunkDecoder::charged`].
    partial: Option<BytesMut>,
}

/// One chunk, parsed and fully arrived, before any input is consumed.
#[derive(Debug, Clone, Copy)]
struct ChunkPlan {
    csid: u32,
    /// Bytes of header (basic, message and extended timestamp) before the chunk data.
    header_len: usize,
    /// Bytes of chunk data.
    data_len: usize,
    /// The chunk stream's header fields after this chunk.
    fields: HeaderFields,
}

/// Turns the bytes received on one connection into messages.
///
/// Feed bytes with [`handle_input`](Self::handle_input), then call
/// [`poll_message`](Self::poll_message) until it returns `Ok(None)`.
///
/// - A chunk is consumed only once all of it has arrived; until then it stays in the input
///   buffer. A large message that fits in one chunk, or whose chunks have all arrived one
///   after the other on its chunk stream (moved together in place), is handed out as a slice
///   of the input buffer, without a copy; other messages are copied into a per-chunk-stream
///   reassembly buffer that grows as chunks arrive (never to the declared length before its
///   bytes are in the input) and is charged to [`DecoderLimits::reassembly_budget`].
/// - Bytes come in copied ([`handle_input`](Self::handle_input)) or read by the driver
///   straight into the input buffer ([`input_mut`](Self::input_mut)), which saves a copy.
/// - A type 1 header on a chunk stream never seen before is accepted, inheriting message
///   stream id 0 and timestamp 0: librtmp sends its first User Control message that way.
///   Types 2 and 3 there are errors.
/// - A type 3 chunk after a header that had an extended timestamp (§5.3.1.3) is ambiguous in
///   practice: the spec, FFmpeg, librtmp and Flash repeat the 4-byte field, some encoders do
///   not. The decoder peeks at the 4 bytes after the basic header and consumes them if they
///   equal the stored extended field or the message's absolute timestamp (FFmpeg writes the
///   former, some servers the latter); otherwise they are chunk data. Limits: a
///   non-repeating encoder whose chunk data happens to start with that value is misread
///   (chance 2^-31 per such chunk, and only for timestamps or deltas ≥ 0xFF_FFFF); a type 3
///   chunk whose repeated field carries a new value (FFmpeg after two extended deltas that
///   differ) is not recognised; and such a chunk is not decoded until 4 bytes follow its
///   basic header, even if its data is shorter.
/// - Set Chunk Size and Abort messages are applied as soon as they are decoded, before the
///   next chunk is parsed (§5.4), and are still returned.
/// - After an error the decoder is poisoned: it drops further input and returns that error
///   again. The connection must be closed.
#[derive(Debug)]
pub struct ChunkDecoder {
    limits: DecoderLimits,
    /// Received bytes not yet decoded; starts at a chunk boundary.
    input: BytesMut,
    /// Always within 1..=[`MAX_CHUNK_SIZE`].
    chunk_size: u32,
    /// At most `limits.max_chunk_streams` entries.
    streams: HashMap<u32, ChunkStream>,
    /// Sum of the capacities of all partial message buffers; at most
    /// `limits.reassembly_budget`.
    charged: usize,
    bytes_received: u64,
    /// Acknowledgement window (§5.4.4); 0 disables acknowledgements.
    window_ack_size: u32,
    /// `bytes_received` when the last acknowledgement was due.
    last_ack: u64,
    poisoned: Option<ChunkError>,
}

impl ChunkDecoder {
    /// A decoder at the default chunk size of 128 bytes, with acknowledgements off.
    pub fn new(limits: DecoderLimits) -> Self {
        Self {
            limits,
            input: BytesMut::new(),
            chunk_size: INITIAL_CHUNK_SIZE,
            streams: HashMap::new(),
            charged: 0,
            bytes_received: 0,
            window_ack_size: 0,
            last_ack: 0,
            poisoned: None,
        }
    }

    /// Appends received bytes. Cheap: nothing is parsed until
    /// [`poll_message`](Self::poll_message).
    pub fn handle_input(&mut self, data: &[u8]) {
        self.bytes_received += data.len() as u64;
        if self.poisoned.is_none() {
            self.input.extend_from_slice(data);
        }
    }

    /// The undecoded input, for a driver that reads from its socket straight into the
    /// decoder instead of copying each read in with [`handle_input`](Self::handle_input):
    /// it appends the bytes it reads (e.g. tokio's `read_buf`), then calls
    /// [`handle_appended`](Self::handle_appended) with their count. Messages that arrive in
    /// one chunk then become slices of the very buffer the socket was read into.
    ///
    /// The driver may reserve or reallocate (its read size is its policy) but must only
    /// append: the bytes already held start at a chunk boundary and are not decoded yet.
    pub fn input_mut(&mut self) -> &mut BytesMut {
        &mut self.input
    }

    /// Accounts for `n` bytes the driver appended to [`input_mut`](Self::input_mut), as
    /// [`handle_input`](Self::handle_input) does for the bytes it copies (a poisoned decoder
    /// drops them).
    pub fn handle_appended(&mut self, n: usize) {
        self.bytes_received += n as u64;
        if self.poisoned.is_some() {
            self.input = BytesMut::new();
        }
    }

    /// Decodes the next whole message. `Ok(None)` means more bytes are needed.
    pub fn poll_message(&mut self) -> Result<Option<Message>, ChunkError> {
        if let Some(err) = &self.poisoned {
            return Err(err.clone());
        }
        match self.decode_until_message() {
            Ok(message) => Ok(message),
            Err(err) => {
                self.poison(err.clone());
                Err(err)
            }
        }
    }

    /// The inbound chunk size currently in effect.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Sets the inbound chunk size, 1..=0x7FFF_FFFF (§5.4.1). Normally not needed: the
    /// decoder applies the peer's Set Chunk Size messages itself.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        if size == 0 || size > MAX_CHUNK_SIZE {
            return Err(ChunkError::ChunkSizeOutOfRange { size });
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Sets the window after which an Acknowledgement is due (§5.4.4), as received in a
    /// Window Acknowledgement Size message; 0 turns acknowledgements off. Bytes already
    /// received since the last acknowledgement count towards the new window.
    pub fn set_window_ack_size(&mut self, size: u32) {
        self.window_ack_size = size;
    }

    /// The sequence number to acknowledge (§5.4.3: bytes received so far, modulo 2^32), once
    /// at least a window's worth of bytes arrived since the last one; `None` otherwise.
    /// Counts every byte passed to [`handle_input`](Self::handle_input).
    pub fn poll_ack(&mut self) -> Option<u32> {
        let window = u64::from(self.window_ack_size);
        if window == 0 || self.bytes_received - self.last_ack < window {
            return None;
        }
        self.last_ack = self.bytes_received;
        Some(self.bytes_received as u32)
    }

    /// Total bytes passed to [`handle_input`](Self::handle_input).
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Bytes held: undecoded input plus the capacity of all reassembly buffers.
    pub fn buffered_bytes(&self) -> usize {
        self.input.len() + self.charged
    }

    fn poison(&mut self, err: ChunkError) {
        self.poisoned = Some(err);
        self.input = BytesMut::new();
        self.streams.clear();
        self.charged = 0;
    }

    fn decode_until_message(&mut self) -> Result<Option<Message>, ChunkError> {
        loop {
            let Some(plan) = self.plan_chunk()? else {
                if self.input.is_empty() && self.input.capacity() > MAX_IDLE_INPUT_CAPACITY {
                    self.input = BytesMut::new();
                }
                return Ok(None);
            };
            if let Some(message) = self.consume_chunk(plan)? {
                self.apply_control(&message)?;
                return Ok(Some(message));
            }
        }
    }

    /// Parses the chunk at the front of the input without consuming anything.
    /// `Ok(None)` if it has not fully arrived.
    fn plan_chunk(&self) -> Result<Option<ChunkPlan>, ChunkError> {
        let Some(parsed) = header::parse_header(&self.input) else {
            return Ok(None);
        };
        let (csid, header) = (parsed.csid, parsed.header);
        let stream = self.streams.get(&csid);
        if stream.is_none() {
            self.check_new_stream(csid, &header)?;
        }
        let after_header = self.input.get(parsed.len..).unwrap_or_default();
        // §5.3.1.3: a 0xFFFFFF field in a type 0, 1 or 2 header means 4 more bytes.
        let extended = match header.time_field() {
            Some(EXTENDED_TIMESTAMP) => match Reader::new(after_header).u32() {
                Some(value) => Some(value),
                None => return Ok(None),
            },
            _ => None,
        };
        let partial = stream.and_then(|s| s.partial.as_ref());
        let (fields, received) = match (stream, partial) {
            (Some(s), Some(partial)) => {
                check_continuation(csid, &header, s.fields.length, partial.len())?;
                (s.fields, partial.len())
            }
            _ => {
                let previous = stream.map_or(HeaderFields::FRESH, |s| s.fields);
                (previous.next(&header, extended), 0)
            }
        };
        let extended_len = match header {
            MessageHeader::Type3 => {
                let repeat = peek_repeat(after_header, fields.extended, fields.timestamp);
                let Some(len) = repeat else {
                    return Ok(None);
                };
                len
            }
            _ if extended.is_some() => 4,
            _ => 0,
        };
        if partial.is_none() && fields.length > self.limits.max_message_len {
            let (len, limit) = (fields.length, self.limits.max_message_len);
            return Err(ChunkError::MessageTooLarge { len, limit });
        }
        let remaining = (fields.length as usize).saturating_sub(received);
        let plan = ChunkPlan {
            csid,
            header_len: parsed.len + extended_len,
            data_len: remaining.min(self.chunk_size as usize),
            fields,
        };
        let total = plan.header_len + plan.data_len;
        Ok((self.input.len() >= total).then_some(plan))
    }

    /// A chunk stream seen for the first time must start with a type 0 or 1 header
    /// (§5.3.1.2.1), and fit in the limit.
    fn check_new_stream(&self, csid: u32, header: &MessageHeader) -> Result<(), ChunkError> {
        if matches!(header, MessageHeader::Type2 { .. } | MessageHeader::Type3) {
            let fmt = header.fmt();
            return Err(ChunkError::NoPreviousHeader { csid, fmt });
        }
        let limit = self.limits.max_chunk_streams;
        if self.streams.len() >= limit {
            return Err(ChunkError::TooManyChunkStreams { csid, limit });
        }
        Ok(())
    }

    /// Consumes a planned chunk and returns the message it completes, if any.
    fn consume_chunk(&mut self, plan: ChunkPlan) -> Result<Option<Message>, ChunkError> {
        let stream = self
            .streams
            .entry(plan.csid)
            .or_insert(ChunkStream { fields: plan.fields, partial: None });
        stream.fields = plan.fields;
        self.input.advance(plan.header_len);

        let message_len = plan.fields.length as usize;
        let gathered = match stream.partial {
            None if plan.data_len < message_len && message_len >= ZERO_COPY_MIN_LEN => {
                gather_in_place(&mut self.input, &plan, self.chunk_size)
            }
            _ => None,
        };
        let payload = match stream.partial.take() {
            // A large message whose chunks all arrived, gathered in place: no copy elsewhere.
            None if gathered.is_some() => {
                let payload = self.input.split_to(message_len).freeze();
                let end = gathered.unwrap_or(message_len);
                self.input.advance(end.saturating_sub(message_len));
                payload
            }
            // Whole message in one chunk. A large one is taken without a copy; a small one is
            // copied, because a zero-copy slice keeps the whole input allocation alive, and a
            // GOP cache holding hundreds of small audio frames would pin that many read buffers.
            None if plan.data_len == message_len && plan.data_len >= ZERO_COPY_MIN_LEN => {
                self.input.split_to(plan.data_len).freeze()
            }
            None if plan.data_len == message_len => {
                let payload =
                    Bytes::copy_from_slice(self.input.get(..plan.data_len).unwrap_or_default());
                self.input.advance(plan.data_len);
                payload
            }
            partial => {
                let mut buf = partial.unwrap_or_default();
                // What follows this chunk's data in the input may be the rest of the message.
                let arrived = buf.len() + self.input.len();
                let data = self.input.get(..plan.data_len).unwrap_or_default();
                let size = Sizing { message_len, arrived };
                grow_partial(&mut buf, data, size, &mut self.charged, &self.limits)?;
                self.input.advance(plan.data_len);
                if buf.len() < message_len {
                    stream.partial = Some(buf);
                    return Ok(None);
                }
                self.charged = self.charged.saturating_sub(buf.capacity());
                buf.freeze()
            }
        };
        let fields = plan.fields;
        Ok(Some(Message {
            csid: plan.csid,
            timestamp: fields.timestamp,
            type_id: fields.type_id,
            stream_id: fields.stream_id,
            payload,
        }))
    }

    /// Applies Set Chunk Size and Abort the moment they are decoded (§5.4).
    fn apply_control(&mut self, message: &Message) -> Result<(), ChunkError> {
        if !matches!(message.type_id, MessageType::SET_CHUNK_SIZE | MessageType::ABORT) {
            return Ok(());
        }
        match ControlMessage::parse(message.type_id, &message.payload) {
            Ok(ControlMessage::SetChunkSize(size)) => self.set_chunk_size(size),
            Ok(ControlMessage::Abort { csid }) => {
                // §5.4.2: discard the partial message; an unknown or idle id is not an error.
                let discarded = self.streams.get_mut(&csid).and_then(|s| s.partial.take());
                if let Some(buf) = discarded {
                    self.charged = self.charged.saturating_sub(buf.capacity());
                }
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(ControlError::ChunkSizeOutOfRange { size }) => {
                Err(ChunkError::ChunkSizeOutOfRange { size })
            }
            Err(err) => Err(ChunkError::Control(err)),
        }
    }
}

/// For a message longer than one chunk whose chunks all follow in `input`, one after the
/// other on its chunk stream (what encoders send), moves each chunk's data back over the
/// headers before it, so that the message becomes a slice of the input without an
/// allocation or a copy elsewhere. `input` starts at the first chunk's data. Returns where
/// the message's last chunk ended, or `None` (nothing moved) when the chunks are not all
/// there or are interleaved with another chunk stream's: the message is then reassembled.
fn gather_in_place(input: &mut [u8], plan: &ChunkPlan, chunk_size: u32) -> Option<usize> {
    let end = walk_chunks(input, plan, chunk_size, |_, _, _| {})?;
    walk_chunks(input, plan, chunk_size, |input, data, to| input.copy_within(data, to))?;
    Some(end)
}

/// Walks the continuation chunks of the message `plan` starts, in `input` (which starts at
/// the first chunk's data), calling `gather(input, data, to)` for each chunk's data range and
/// where the message's bytes so far end. Returns where the last chunk ends, or `None` if a
/// chunk is missing, is not type 3, or is on another chunk stream.
fn walk_chunks(
    input: &mut [u8],
    plan: &ChunkPlan,
    chunk_size: u32,
    mut gather: impl FnMut(&mut [u8], std::ops::Range<usize>, usize),
) -> Option<usize> {
    let (message_len, fields) = (plan.fields.length as usize, plan.fields);
    let (mut pos, mut got) = (plan.data_len, plan.data_len);
    while got < message_len {
        let at = input.get(pos..)?;
        let parsed = header::parse_header(at)?;
        if parsed.csid != plan.csid || !matches!(parsed.header, MessageHeader::Type3) {
            return None;
        }
        let repeat = peek_repeat(at.get(parsed.len..)?, fields.extended, fields.timestamp)?;
        let start = pos + parsed.len + repeat;
        // At least one byte per chunk: the walk always makes progress.
        let len = (chunk_size as usize).max(1).min(message_len - got);
        if input.len() < start + len {
            return None;
        }
        gather(input, start..start + len, got);
        pos = start + len;
        got += len;
    }
    Some(pos)
}

/// With a message in progress on the chunk stream, only a type 3 chunk may follow
/// (§5.3.1.2.4).
fn check_continuation(
    csid: u32,
    header: &MessageHeader,
    len: u32,
    received: usize,
) -> Result<(), ChunkError> {
    match *header {
        MessageHeader::Type3 => Ok(()),
        MessageHeader::Type0 { length, .. } | MessageHeader::Type1 { length, .. }
            if length != len =>
        {
            Err(ChunkError::LengthChangedMidMessage { csid, len, new_len: length })
        }
        _ => Err(ChunkError::HeaderMidMessage {
            csid,
            fmt: header.fmt(),
            received: received as u32,
            len,
        }),
    }
}

/// For a type 3 chunk: how many bytes of repeated extended timestamp follow the basic header
/// (0 or 4), or `None` if that cannot be told yet. See [`ChunkDecoder`] for the heuristic.
fn peek_repeat(after_basic: &[u8], extended: Option<u32>, timestamp: u32) -> Option<usize> {
    let Some(stored) = extended else {
        return Some(0);
    };
    let next = Reader::new(after_basic).u32()?;
    Some(if next == stored || next == timestamp { 4 } else { 0 })
}

/// How large a reassembly buffer may grow: never beyond the message's declared length, and
/// never (but geometrically) beyond what has arrived.
#[derive(Debug, Clone, Copy)]
struct Sizing {
    /// Declared length of the message.
    message_len: usize,
    /// Bytes of the message received plus all undecoded input: an upper bound of what of
    /// it has arrived. Sizing for it up front saves the copies of doubling when a large
    /// message arrives in one read; it is no more than the input buffer already holds.
    arrived: usize,
}

/// Appends `data` to a partial message buffer, growing its capacity geometrically (or at
/// once to what has arrived) but never beyond the message length, and charging capacity
/// growth to the budget.
fn grow_partial(
    buf: &mut BytesMut,
    data: &[u8],
    size: Sizing,
    charged: &mut usize,
    limits: &DecoderLimits,
) -> Result<(), ChunkError> {
    let needed = buf.len() + data.len();
    let capacity = buf.capacity();
    if needed > capacity {
        let wanted = capacity
            .saturating_mul(2)
            .max(MIN_REASSEMBLY_CAPACITY)
            .max(size.arrived)
            .min(size.message_len)
            .max(needed);
        let budget = limits.reassembly_budget;
        let others = charged.saturating_sub(capacity);
        // Prefer the geometric size; fall back to the exact size near the budget.
        let new_capacity = [wanted, needed]
            .into_iter()
            .find(|c| others + c <= budget)
            .ok_or(ChunkError::ReassemblyBudgetExceeded { needed: others + needed, budget })?;
        let mut grown = BytesMut::with_capacity(new_capacity);
        grown.extend_from_slice(buf);
        *buf = grown;
        *charged = others + buf.capacity();
    }
    buf.extend_from_slice(data);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::tests::{decode, decode_pieces, msg, pattern};
    use crate::control::ControlMessage;

    fn decoder() -> ChunkDecoder {
        ChunkDecoder::new(DecoderLimits::default())
    }

    /// Type 0 header bytes on a 1-byte-basic-header chunk stream.
    fn type0(csid: u8, timestamp: u32, len: u32, type_id: u8, stream_id: u32) -> Vec<u8> {
        let mut v = vec![csid];
        v.extend(&timestamp.to_be_bytes()[1..]);
        v.extend(&len.to_be_bytes()[1..]);
        v.push(type_id);
        v.extend(stream_id.to_le_bytes());
        v
    }

    fn control(c: ControlMessage) -> Vec<u8> {
        let m = c.to_message();
        let mut v = type0(2, 0, m.payload.len() as u32, m.type_id.0, 0);
        v.extend(&m.payload[..]);
        v
    }

    #[test]
    fn declared_length_larger_than_arrived_waits_without_allocating() {
        let mut dec = decoder();
        let mut wire = type0(3, 0, 0xFF_FFFF, 9, 1);
        wire.extend([0u8; 100]);
        dec.handle_input(&wire);
        assert_eq!(dec.poll_message(), Ok(None));
        // Nothing consumed: the first chunk (128 bytes) has not fully arrived.
        assert_eq!(dec.buffered_bytes(), wire.len());
        dec.handle_input(&[0u8; 28]);
        dec.handle_input(&[0xC3]);
        dec.handle_input(&[0u8; 50]);
        assert_eq!(dec.poll_message(), Ok(None));
        // One chunk reassembled: a 4 KiB buffer, not 16 MiB.
        assert_eq!(dec.buffered_bytes(), 4096 + 1 + 50);
    }

    #[test]
    fn type1_changing_length_mid_message() {
        let mut wire = type0(3, 0, 300, 9, 1);
        wire.extend([0u8; 128]);
        wire.extend([0x43, 0, 0, 0, 0, 0x01, 0x2D, 9]); // type 1, length 301
        let err = ChunkError::LengthChangedMidMessage { csid: 3, len: 300, new_len: 301 };
        assert_eq!(decode(&wire), Err(err));
    }

    #[test]
    fn header_mid_message_keeping_length() {
        let mut wire = type0(3, 0, 300, 9, 1);
        wire.extend([0u8; 128]);
        wire.extend([0x83, 0, 0, 5]); // type 2
        let err = ChunkError::HeaderMidMessage { csid: 3, fmt: 2, received: 128, len: 300 };
        assert_eq!(decode(&wire), Err(err));
    }

    #[test]
    fn type3_or_type2_on_unknown_chunk_stream() {
        assert_eq!(decode(&[0xC7, 1, 2, 3]), Err(ChunkError::NoPreviousHeader { csid: 7, fmt: 3 }));
        assert_eq!(decode(&[0x87, 0, 0, 1]), Err(ChunkError::NoPreviousHeader { csid: 7, fmt: 2 }));
    }

    /// librtmp starts chunk stream 2 with a type 1 header (SRS issue 98).
    #[test]
    fn type1_on_unknown_chunk_stream_is_accepted() {
        let wire = [0x42, 0, 0, 0, 0, 0, 6, 4, 0, 6, 0, 0, 0x0D, 0x0F];
        let expected = msg(2, 0, 4, 0, vec![0, 6, 0, 0, 0x0D, 0x0F]);
        assert_eq!(decode(&wire), Ok(vec![expected]));
    }

    #[test]
    fn set_chunk_size_zero_and_msb() {
        for (payload, size) in [([0u8, 0, 0, 0], 0u32), ([0x80, 0, 0, 0], 0x8000_0000)] {
            let mut wire = type0(2, 0, 4, 1, 0);
            wire.extend(payload);
            assert_eq!(decode(&wire), Err(ChunkError::ChunkSizeOutOfRange { size }));
        }
        let mut dec = decoder();
        assert_eq!(dec.set_chunk_size(0), Err(ChunkError::ChunkSizeOutOfRange { size: 0 }));
        assert_eq!(dec.chunk_size(), 128);
    }

    #[test]
    fn set_chunk_size_1_applies_to_the_next_chunk() {
        let mut wire = control(ControlMessage::SetChunkSize(1));
        wire.extend(type0(3, 7, 3, 20, 0));
        wire.extend([0xA, 0xC3, 0xB, 0xC3, 0xC]);
        let decoded = decode(&wire).unwrap();
        assert_eq!(decoded[1], msg(3, 7, 20, 0, vec![0xA, 0xB, 0xC]));
    }

    #[test]
    fn set_chunk_size_max_allocates_nothing_large() {
        let mut dec = decoder();
        let mut wire = control(ControlMessage::SetChunkSize(0x7FFF_FFFF));
        wire.extend(type0(3, 0, 0xFF_FFFF, 9, 1));
        wire.extend(pattern(1000, 0));
        dec.handle_input(&wire);
        assert!(dec.poll_message().unwrap().is_some());
        assert_eq!(dec.chunk_size(), 0x7FFF_FFFF);
        assert_eq!(dec.poll_message(), Ok(None));
        assert_eq!(dec.buffered_bytes(), 12 + 1000);
        // A whole message in one chunk comes out once its bytes are in.
        let mut dec = decoder();
        let mut wire = control(ControlMessage::SetChunkSize(0x7FFF_FFFF));
        wire.extend(type0(3, 0, 70_000, 9, 1));
        wire.extend(pattern(70_000, 0));
        assert_eq!(decode_pieces(&mut dec, wire.chunks(4096)).unwrap().len(), 2);
    }

    #[test]
    fn window_ack_size_zero() {
        assert_eq!(
            ControlMessage::parse(MessageType::WINDOW_ACK_SIZE, &[0; 4]),
            Err(ControlError::ZeroWindowSize { type_id: 5 })
        );
        // On the decoder, 0 means no acknowledgements.
        let mut dec = decoder();
        dec.set_window_ack_size(0);
        dec.handle_input(&[0u8; 10_000]);
        assert_eq!(dec.poll_ack(), None);
    }

    #[test]
    fn acknowledgements_follow_the_window() {
        let mut dec = decoder();
        dec.handle_input(&[0u8; 50]);
        dec.set_window_ack_size(100);
        assert_eq!(dec.poll_ack(), None);
        dec.handle_input(&[0u8; 60]);
        assert_eq!(dec.poll_ack(), Some(110));
        assert_eq!(dec.poll_ack(), None);
        dec.handle_input(&[0u8; 99]);
        assert_eq!(dec.poll_ack(), None);
        dec.handle_input(&[0u8; 1]);
        assert_eq!(dec.poll_ack(), Some(210));
        assert_eq!(dec.bytes_received(), 210);
    }

    #[test]
    fn acknowledgement_sequence_wraps() {
        let mut dec = decoder();
        // A poisoned decoder still counts bytes but stops buffering them, so 4 GiB can be
        // counted here without holding them.
        dec.handle_input(&[0xC7]);
        assert!(dec.poll_message().is_err());
        dec.set_window_ack_size(0x8000_0000);
        let block = vec![0u8; 1 << 20];
        for _ in 0..2048 {
            dec.handle_input(&block);
        }
        assert_eq!(dec.poll_ack(), Some(0x8000_0001));
        for _ in 0..2048 {
            dec.handle_input(&block);
        }
        assert_eq!(dec.bytes_received(), (1 << 32) + 1);
        assert_eq!(dec.poll_ack(), Some(1));
    }

    #[test]
    fn abort_discards_partial_and_ignores_unknown() {
        let mut dec = decoder();
        let mut wire = type0(6, 0, 1000, 9, 1);
        wire.extend(pattern(128, 0));
        dec.handle_input(&wire);
        assert_eq!(dec.poll_message(), Ok(None));
        assert_eq!(dec.buffered_bytes(), 1000);
        // Abort of an unknown chunk stream: returned, otherwise ignored.
        dec.handle_input(&control(ControlMessage::Abort { csid: 33 }));
        let abort = dec.poll_message().unwrap().unwrap();
        assert_eq!(abort.type_id, MessageType::ABORT);
        assert_eq!(dec.buffered_bytes(), 1000);
        // Abort of chunk stream 6: the partial message and its buffer are gone.
        dec.handle_input(&control(ControlMessage::Abort { csid: 6 }));
        assert!(dec.poll_message().unwrap().is_some());
        assert_eq!(dec.buffered_bytes(), 0);
        // A type 3 chunk now starts a new message with the old header.
        dec.handle_input(&[0xC6]);
        dec.handle_input(&pattern(128, 1));
        assert_eq!(dec.poll_message(), Ok(None));
        assert_eq!(dec.buffered_bytes(), 1000);
    }

    #[test]
    fn many_chunk_streams_with_16_mib_messages() {
        let mut wire = Vec::new();
        for i in 0..1000u32 {
            let csid = 320 + i;
            wire.extend([0x01, (csid - 64) as u8, ((csid - 64) >> 8) as u8]);
            wire.extend(&type0(0, 0, 0xFF_FFFF, 9, 1)[1..]);
            wire.extend(pattern(128, 0));
        }
        let mut dec = decoder();
        let result = decode_pieces(&mut dec, wire.chunks(1500));
        let err = ChunkError::TooManyChunkStreams { csid: 320 + 64, limit: 64 };
        assert_eq!(result, Err(err.clone()));
        // Poisoned: same error, nothing held.
        assert_eq!(dec.poll_message(), Err(err));
        assert_eq!(dec.buffered_bytes(), 0);

        // With room for all 1000 streams, the budget stops it instead, and memory stayed
        // within budget + one chunk of input until then.
        let limits = DecoderLimits {
            max_chunk_streams: 2000,
            reassembly_budget: 1 << 20,
            ..DecoderLimits::default()
        };
        let mut dec = ChunkDecoder::new(limits);
        let mut peak = 0;
        let mut result = Ok(());
        for piece in wire.chunks(1500) {
            dec.handle_input(piece);
            while let Some(m) = dec.poll_message().transpose() {
                if let Err(e) = m {
                    result = Err(e);
                    break;
                }
            }
            peak = peak.max(dec.buffered_bytes());
            if result.is_err() {
                break;
            }
        }
        assert_eq!(
            result,
            Err(ChunkError::ReassemblyBudgetExceeded { needed: (1 << 20) + 128, budget: 1 << 20 })
        );
        assert!(peak <= (1 << 20) + 1500, "peak {peak}");
    }

    #[test]
    fn message_longer_than_limit() {
        let limits = DecoderLimits { max_message_len: 1000, ..DecoderLimits::default() };
        let mut dec = ChunkDecoder::new(limits);
        dec.handle_input(&type0(3, 0, 1001, 9, 1));
        assert_eq!(dec.poll_message(), Err(ChunkError::MessageTooLarge { len: 1001, limit: 1000 }));
        // Exactly the limit is fine.
        let mut dec =
            ChunkDecoder::new(DecoderLimits { max_message_len: 1000, ..DecoderLimits::default() });
        let mut wire = type0(3, 0, 1000, 9, 1);
        for (i, piece) in pattern(1000, 0).chunks(128).enumerate() {
            if i > 0 {
                wire.push(0xC3);
            }
            wire.extend(piece);
        }
        assert_eq!(decode_pieces(&mut dec, [&wire[..]]).map(|m| m.len()), Ok(1));
    }

    #[test]
    fn poisoned_decoder_drops_input() {
        let mut dec = decoder();
        dec.handle_input(&[0xC7]);
        let err = dec.poll_message().unwrap_err();
        dec.handle_input(&[0u8; 1000]);
        assert_eq!(dec.poll_message(), Err(err));
        assert_eq!(dec.buffered_bytes(), 0);
        assert_eq!(dec.bytes_received(), 1001);
    }

    #[test]
    fn truncated_abort_is_an_error() {
        let mut wire = type0(2, 0, 2, 2, 0);
        wire.extend([0, 1]);
        assert_eq!(
            decode(&wire),
            Err(ChunkError::Control(ControlError::Truncated { type_id: 2, len: 2, needed: 4 }))
        );
    }

    #[test]
    fn zero_length_messages() {
        let mut wire = type0(3, 5, 0, 9, 1);
        wire.extend([0xC3, 0xC3]);
        let expected =
            vec![msg(3, 5, 9, 1, vec![]), msg(3, 10, 9, 1, vec![]), msg(3, 15, 9, 1, vec![])];
        assert_eq!(decode(&wire), Ok(expected));
    }
}
