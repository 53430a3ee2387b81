//! Sans-IO RTMP protocol core for OpenRTMP.
//!
//! Implements Adobe RTMP 1.0 (handshake §5.2, chunk stream §5.3, protocol control messages
//! §5.4, user control messages §6.2 and §7.1.7, commands §7.2) with the digest ("complex")
//! handshake used by Flash Player 9+ clients, and the Enhanced RTMP v2 connect negotiation.
//!
//! Nothing here touches sockets, clocks or threads: bytes go in, events and bytes come out,
//! and time is passed in by the caller.
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
pub mod session;

pub use message::{Message, MessageType};
