//! Sans-IO RTMP protocol core for OpenRTMP.
//!
//! Implements Adobe RTMP 1.0 (handshake §5.2, chunk stream §5.3, protocol control messages
//! §5.4, user control messages §6.2 and §7.1.7, commands §7.2) with the digest ("complex")
//! handshake used by Flash Player 9+ clients, and the Enhanced RTMP v2 connect negotiation.
//!
//! Nothing here touches sockets, clocks or threads: bytes go in, events and bytes come out,
//! and time is passed in by the caller. The server session follows quinn-proto's contract:
//!
//! - **Input**: [`ServerSession::handle_input(now, bytes)`](session::ServerSession::handle_input),
//!   and the driver's decisions (`accept_*`/`reject_*`, also given `now`) about the requests
//!   the session raised as events.
//! - **Output**: [`poll_event`](session::ServerSession::poll_event) and
//!   [`transmit`](session::ServerSession::transmit) (header bytes and shared payload slices
//!   for a vectored write).
//! - **Time**: the session owns the protocol's deadlines ([`session::Timer`]: handshake,
//!   connect, idle, publisher silence). The driver sleeps until
//!   [`poll_timeout`](session::ServerSession::poll_timeout) and then calls
//!   [`handle_timeout(now)`](session::ServerSession::handle_timeout). Deadlines that depend on
//!   the socket or on other connections (a stalled write, a player waiting for a publisher)
//!   stay in the driver.
//! - **Errors**: a connection-level [`SessionError`](session::SessionError) is sticky and has
//!   one [`disposition`](session::SessionError::disposition) (close, or flush then close);
//!   stream-level problems (a refused publish, a command on a message stream that does not
//!   exist) are answered on the wire with onStatus or `_error` and the connection stays up.
//!
//! [`proxy_header`] reads the PROXY protocol header (v1 and v2) a TCP load balancer puts
//! before the RTMP or TLS bytes, with the same contract (bytes in, outcome out).
//!
//! Script data (RTMP data messages, FLV SCRIPTDATA) is [`openrtmp_media::ScriptData`], shared
//! with the FLV side; [`command::decode_data`] reads both AMF0 (type 18) and AMF3 (type 15)
//! data messages into it.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

pub mod chunk;
pub mod command;
pub mod control;
pub mod handshake;
pub mod message;
pub mod proxy_header;
pub mod session;

pub use message::{Message, MessageType};
