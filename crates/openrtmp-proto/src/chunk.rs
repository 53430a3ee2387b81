//! RTMP chunk stream (RTMP 1.0 §5.3): splitting messages into chunks and reassembling them.
//!
//! - [`ChunkDecoder`] turns received bytes into whole [`Message`](crate::Message)s. It applies
//!   Set Chunk Size (§5.4.1) and Abort (§5.4.2) itself, the moment they are decoded, because the
//!   very next chunk depends on them; it also counts bytes for Acknowledgement (§5.4.3).
//!   Every byte it holds is bounded by [`DecoderLimits`].
//! - [`ChunkEncoder`] turns messages into chunks with header compression (§5.3.1.2) and writes
//!   them into a [`ChunkOutput`]: header bytes in a scratch buffer, large payload pieces as
//!   reference-counted slices of the message payload, ready for a vectored write.
//!
//! Both directions keep their own chunk size (§5.3: "maintained independently for each
//! direction"); both start at [`INITIAL_CHUNK_SIZE`]. What we announce for our own direction
//! stays within [`OUTBOUND_CHUNK_SIZES`].

mod decoder;
mod encoder;
mod header;
mod output;
#[cfg(test)]
mod tests;

pub use decoder::ChunkDecoder;
pub use encoder::{encode_standalone, ChunkEncoder};
pub use output::ChunkOutput;

use std::ops::RangeInclusive;

use crate::control::ControlError;

/// Chunk size both directions start with, until a Set Chunk Size message says otherwise
/// (§5.4.1: "The maximum chunk size defaults to 128 bytes"). Not a tunable: what a server
/// or client announces after the handshake is its own setting (e.g.
/// [`session::DEFAULT_CHUNK_SIZE`](crate::session::DEFAULT_CHUNK_SIZE)).
pub const INITIAL_CHUNK_SIZE: u32 = 128;
/// Smallest chunk size the spec allows (§5.4.1: "MUST be at least 1 byte").
pub const MIN_CHUNK_SIZE: u32 = 1;
/// Largest chunk size the spec allows: 31 bits, the most significant bit must be zero (§5.4.1).
pub const MAX_CHUNK_SIZE: u32 = 0x7FFF_FFFF;
/// The chunk sizes we accept to announce for our own outbound direction (configuration,
/// command-line flags and [`ServerConfig`](crate::session::ServerConfig) all use this range).
///
/// The spec lets a peer choose anything in 1..=2^31-1 (§5.4.1) and the decoder accepts all of
/// that inbound, because we cannot choose what peers send. Outbound we choose, and cap at
/// 65536: below 128 (the initial size) only multiplies chunk headers per frame; above 64 KiB
/// nothing is saved (a continuation chunk's header is one byte, under 0.002 % at 64 KiB) while
/// an unusual size is what peers' own limits and buffer sizing are least tested with.
pub const OUTBOUND_CHUNK_SIZES: RangeInclusive<u32> = 128..=65536;
/// [`OUTBOUND_CHUNK_SIZES`] as text, for error messages and help texts that must be static
/// (`"128..=65536"`, the `Debug` form of the range; a unit test keeps the two in step).
pub const OUTBOUND_CHUNK_SIZES_TEXT: &str = "128..=65536";

/// Largest message length a chunk header can express: a 24-bit field (§5.3.1.2.1).
pub const MAX_MESSAGE_LEN: u32 = 0xFF_FFFF;
/// Smallest chunk stream id; 0 and 1 are basic-header escapes (§5.3.1.1).
pub const MIN_CSID: u32 = 2;
/// Largest chunk stream id: 3-byte basic header, 65535 + 64 (§5.3.1.1).
pub const MAX_CSID: u32 = 65_599;

/// Default for [`DecoderLimits::max_message_len`]: everything a header can express.
pub const DEFAULT_MAX_MESSAGE_LEN: u32 = MAX_MESSAGE_LEN;
/// Default for [`DecoderLimits::max_chunk_streams`]. Real encoders use fewer than ten.
pub const DEFAULT_MAX_CHUNK_STREAMS: usize = 64;
/// Default for [`DecoderLimits::reassembly_budget`]: 4 MiB per connection, also the server's
/// default (`openrtmp_server::DEFAULT_REASSEMBLY_BUDGET` is this constant). A 1080p keyframe
/// is about 0.5 MiB, so this holds several large frames in flight on interleaved chunk
/// streams; a connection that needs more is misbehaving or sending 4K intra-only video, which
/// must be configured for.
pub const DEFAULT_REASSEMBLY_BUDGET: usize = 4 << 20;

/// Memory limits of one [`ChunkDecoder`], i.e. of one connection's inbound side.
///
/// Worst case held by a decoder: `reassembly_budget` bytes of partial messages, plus the
/// unparsed input, which holds at most one chunk (at most `max_message_len` bytes of data and
/// 18 of header) beyond what the caller hands over in one [`ChunkDecoder::handle_input`] call
/// (or appends to [`ChunkDecoder::input_mut`] at once, plus the room it reserves there),
/// plus about 100 bytes of state per chunk stream, at most `max_chunk_streams` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderLimits {
    /// Longest message accepted, in bytes; a longer declared length is an error as soon as
    /// its header is parsed, before any of its data is buffered. Default 0xFF_FFFF (16 MiB - 1).
    pub max_message_len: u32,
    /// Most chunk stream ids remembered at once (each keeps the last header for compression,
    /// §5.3.1.2, so it cannot be forgotten while the peer may still refer to it).
    /// A new id beyond this is an error. Default 64.
    pub max_chunk_streams: usize,
    /// Bytes of reassembly buffer (allocated capacity, not declared lengths) summed over all
    /// partially received messages. Exceeding it is an error. Default 4 MiB.
    pub reassembly_budget: usize,
}

impl Default for DecoderLimits {
    fn default() -> Self {
        Self {
            max_message_len: DEFAULT_MAX_MESSAGE_LEN,
            max_chunk_streams: DEFAULT_MAX_CHUNK_STREAMS,
            reassembly_budget: DEFAULT_REASSEMBLY_BUDGET,
        }
    }
}

/// Chunk stream errors. All of them close the connection: after one, the byte stream can no
/// longer be framed, so the decoder stays poisoned and keeps returning the same error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A chunk size outside 1..=0x7FFF_FFFF (§5.4.1).
    #[error("chunk size {size} out of range 1..=2147483647")]
    ChunkSizeOutOfRange {
        /// The rejected size.
        size: u32,
    },
    /// A declared message length above [`DecoderLimits::max_message_len`].
    #[error("message of {len} bytes exceeds the limit of {limit}")]
    MessageTooLarge {
        /// Declared length.
        len: u32,
        /// The configured limit.
        limit: u32,
    },
    /// A new chunk stream id while [`DecoderLimits::max_chunk_streams`] are already known.
    #[error("chunk stream {csid} exceeds the limit of {limit} chunk streams")]
    TooManyChunkStreams {
        /// The chunk stream id that did not fit.
        csid: u32,
        /// The configured limit.
        limit: usize,
    },
    /// Partial messages would need more than [`DecoderLimits::reassembly_budget`] bytes.
    #[error("reassembly needs {needed} bytes, over the budget of {budget}")]
    ReassemblyBudgetExceeded {
        /// Bytes that would be held after this chunk.
        needed: usize,
        /// The configured budget.
        budget: usize,
    },
    /// A type 2 or 3 chunk on a chunk stream that never had a header to inherit from
    /// (§5.3.1.2.1: type 0 "MUST be used at the start of a chunk stream").
    #[error("chunk of type {fmt} on chunk stream {csid}, which has no previous header")]
    NoPreviousHeader {
        /// Chunk stream id.
        csid: u32,
        /// Chunk type (fmt field).
        fmt: u8,
    },
    /// A type 0 or 1 header declared a new length while a message was half received.
    #[error("chunk stream {csid}: length changed from {len} to {new_len} mid-message")]
    LengthChangedMidMessage {
        /// Chunk stream id.
        csid: u32,
        /// Length of the message being received.
        len: u32,
        /// Length in the offending header.
        new_len: u32,
    },
    /// A type 0, 1 or 2 header (which starts a message) arrived while a message on the same
    /// chunk stream was half received: only type 3 continues a message (§5.3.1.2.4).
    #[error("chunk stream {csid}: type {fmt} header after {received} of {len} bytes")]
    HeaderMidMessage {
        /// Chunk stream id.
        csid: u32,
        /// Chunk type (fmt field).
        fmt: u8,
        /// Bytes of the message already received.
        received: u32,
        /// Length of the message being received.
        len: u32,
    },
    /// A Set Chunk Size or Abort message the decoder must apply could not be parsed.
    #[error("invalid protocol control message: {0}")]
    Control(#[from] ControlError),
}
