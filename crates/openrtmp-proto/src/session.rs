//! Session state machines: [`ServerSession`] and [`ClientSession`].
//!
//! Both follow the quinn-proto contract: the driver feeds received bytes with
//! `handle_input`, drains events with `poll_event`, and writes what `transmit()` holds
//! (header bytes and shared payload slices, for `write_vectored`) to the socket. Decisions
//! that need the outside world (authorisation, stream availability) come back to the
//! session as `accept_*`/`reject_*` calls carrying the [`RequestId`] of the event.

mod aggregate;
mod client;
mod error;
mod server;
mod wire;

pub use aggregate::split_aggregate;
pub use client::{ClientConfig, ClientError, ClientEvent, ClientSession};
pub use error::{Disposition, SessionError};
pub use server::{ServerConfig, ServerEvent, ServerSession, StreamRole};

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

/// Default for [`SessionLimits::max_streams`].
pub const DEFAULT_MAX_STREAMS: u32 = 16;
/// Default Window Acknowledgement Size we announce (bytes), as FMS and nginx-rtmp do.
pub const DEFAULT_WINDOW_ACK_SIZE: u32 = 2_500_000;

#[cfg(test)]
mod tests;
