//! Recording formats of OpenRTMP, sans-IO: what a recorder writes and what playback reads.
//!
//! - [`mux`]: the [`Muxer`] contract every recording format meets (messages in, bytes to
//!   append out), and [`Format`].
//! - [`flv`]: FLV segments (FLV 10.1 Annex E): the exact tags received, timestamps rebased
//!   to the segment's start.
//! - [`fmp4`]: fragmented MP4 segments (ISO/IEC 14496-12): `ftyp` + `moov` first, then one
//!   `moof` + `mdat` per fragment, so a file cut short by a crash plays up to its last
//!   complete fragment.
//! - [`name`]: segment file names (app, stream, recording start and segment start, UTC,
//!   sortable) and their parsing.
//! - [`vod`]: reading a recording back for video on demand ([`VodSource`]): FLV and MP4.
//!
//! Nothing here does I/O except the readers of [`vod`], which read through
//! `std::io::Read + Seek` and are run by the server on a blocking thread.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

mod error;
pub mod flv;
pub mod fmp4;
pub mod mux;
pub mod name;
pub mod vod;

pub use error::RecordError;
pub use mux::{Format, Message, Muxer, Output, Patch};
pub use name::SegmentName;
pub use vod::VodSource;
