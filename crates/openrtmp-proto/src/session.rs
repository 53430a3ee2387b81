//! Session state machines: [`ServerSession`] and [`ClientSession`].
//!
//! Both follow the quinn-proto contract: the driver feeds received bytes with
//! `handle_input`, drains events with `poll_event`, and writes what `transmit()` holds
//! (header bytes and shared payload slices, for `write_vectored`) to the socket. Decisions
//! that need the outside world (authorisation, stream availability) come back to the
//! session as `accept_*`/`reject_*` calls carrying the [`RequestId`] of the event.
//!
//! The server session also owns its deadlines ([`Timer`]): every server input takes `now`,
//! [`ServerSession::poll_timeout`] says when to wake it, [`ServerSession::handle_timeout`]
//! closes it with [`SessionError::TimedOut`] once one has passed. The client session keeps
//! no timers (its driver times its own requests), so its `handle_input` takes no `now`.

mod aggregate;
mod client;
mod error;
mod server;
mod timer;
mod wire;

pub use aggregate::split_aggregate;
pub use client::{ClientConfig, ClientError, ClientEvent, ClientSession};
pub use error::{Disposition, SessionError};
pub use server::{
    ServerConfig, ServerEvent, ServerSession, StreamRole, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_PUBLISHER_TIMEOUT,
};
pub use timer::Timer;

use openrtmp_amf::Limits;

use crate::chunk::DecoderLimits;

/// Identifies a pending decision (connect, publish, play) of a [`ServerSession`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Parser limits shared by both session kinds.
#[derive(Debug, Clone)]
pub struct SessionLimits {
    /// Chunk decoder limits (message size, chunk streams, reassembly budget).
    pub chunk: DecoderLimits,
    /// AMF limits for commands and data messages.
    pub amf: Limits,
    /// Most message streams (`createStream`) one connection may hold open.
    pub max_streams: u32,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            chunk: DecoderLimits::default(),
            amf: Limits::default(),
            max_streams: DEFAULT_MAX_STREAMS,
        }
    }
}

/// Default outbound chunk size a session announces right after the handshake (client) or
/// the connect (server): 4096, as nginx-rtmp and OBS use. Not the protocol's initial
/// size ([`INITIAL_CHUNK_SIZE`](crate::chunk::INITIAL_CHUNK_SIZE), 128); a 4 KiB chunk
/// carries a typical audio frame whole and a video frame in a few chunks.
/// `openrtmp_server::DEFAULT_CHUNK_SIZE` is this constant.
pub const DEFAULT_CHUNK_SIZE: u32 = 4096;
/// Default for [`SessionLimits::max_streams`].
pub const DEFAULT_MAX_STREAMS: u32 = 16;
/// Default Window Acknowledgement Size we announce (bytes), as FMS and nginx-rtmp do.
pub const DEFAULT_WINDOW_ACK_SIZE: u32 = 2_500_000;

#[cfg(test)]
mod tests;
