//! The live stream hub of OpenRTMP: a registry of streams keyed by app and name, one
//! publisher slot per stream, and the fan-out of its media to every player.
//!
//! The hub is a data structure plus `tokio::sync` wakeups: no timers, sockets or clocks.
//! Every retention and lag rule uses media timestamps (RTMP ms, compared with
//! `wrapping_sub`), so a stream costs no CPU while nothing is pushed; only the decision to
//! disconnect a viewer that stays behind uses wall time, which the outputs pass in.
//!
//! # Model: one shared ring per stream
//!
//! A stream keeps its recent frames once, in a ring with absolute sequence numbers and
//! cumulative byte counts. The ring is both the GOP cache and every viewer's queue: a
//! [`Subscriber`] is a cursor into it, so a frame costs one `Bytes` refcount per viewer
//! that reads it, and a viewer's backlog (frames, bytes, media ms) is a subtraction.
//!
//! - **Retention**: the ring reaches back to a video keyframe at least
//!   `max(gop_cache_ms, viewer_max_lag_ms)` old when it has one, never more than
//!   `gop_max_bytes` / `gop_max_frames`, and never more than twice that time (publishers
//!   that never send a keyframe). Audio-only streams: every frame is a sync point.
//! - **Caches** outside the ring: the latest onMetaData and the latest sequence header
//!   per (kind, track). A change is also put in the ring, so current viewers get it in
//!   order.
//! - **Start**: a new viewer gets metadata, sequence headers (video, then audio), then
//!   frames from the newest keyframe, timestamps unchanged.
//! - **Slow viewers**: a viewer more than `viewer_max_lag_ms` (or `viewer_max_bytes`)
//!   behind, or whose cursor was trimmed away, skips to the newest keyframe after its
//!   cursor (drops counted); one lagging for `viewer_disconnect_after_ms` of wall time
//!   gets [`SubscriberEvent::TooSlow`]. The publisher never waits for a viewer.
//! - **Outputs**: every output (RTMP player, HTTP-FLV viewer, relay, recorder) drives its
//!   subscriber through a [`MediaPump`]: batches within a byte budget, live and catch-up
//!   frames told apart, per-output statistics without locks (see [`MediaPump`]).
//! - **Change of source**: a publication outlives its source. A publisher lost abruptly
//!   ([`Publisher::lose`]) leaves an [`Orphan`]: its viewers stay attached, hear nothing,
//!   and a publisher on the same key before the orphan expires continues the publication.
//!   That continuation, and a pull moving to another origin ([`Publisher::splice`]), is
//!   spliced in at the new source's first keyframe, timestamps rebased so they never go
//!   backwards, changed sequence headers first.
//! - **Parse once**: [`Frame::classify`] reads a tag once; a sequence header's codec
//!   information ([`CodecInfo`]) is learnt by the stream at push time, shown in
//!   [`StreamInfo`] and written into the onMetaData given as a script
//!   ([`Publisher::set_metadata_script`]).
//!
//! ```
//! use std::time::Instant;
//!
//! use bytes::Bytes;
//! use openrtmp_hub::{Frame, FrameKind, Hub, HubConfig, StreamKey, SubscriberEvent};
//!
//! let hub = Hub::new(HubConfig::default());
//! let key = StreamKey::new("live", "cam1");
//! let publisher = hub.publish(key.clone(), 1).unwrap();
//! // AVC sequence header, then a keyframe.
//! let pushed =
//!     publisher.push(Frame::classify(FrameKind::Video, 0, Bytes::from_static(&[0x17, 0, 0, 0, 0])));
//! assert!(!pushed.replaced);
//! let _ = publisher.push(Frame::classify(FrameKind::Video, 0, Bytes::from_static(&[0x17, 1, 0, 0, 0])));
//!
//! let mut player = hub.subscribe(key, 2).unwrap();
//! let mut events = Vec::new();
//! assert_eq!(player.poll(Instant::now(), &mut events, 64 * 1024), 2);
//! assert!(matches!(&events[0], SubscriberEvent::Frame(f) if f.sequence_header));
//! assert!(matches!(&events[1], SubscriberEvent::Frame(f) if f.keyframe));
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

mod config;
mod direct;
mod error;
#[cfg(test)]
mod fixture;
mod frame;
mod hub;
mod key;
mod publisher;
mod pump;
mod registry;
mod ring;
mod splice;
mod stream;
mod subscriber;

pub use config::{
    HubConfig, DEFAULT_AUDIO_BATCH_MS, DEFAULT_GOP_CACHE_MS, DEFAULT_GOP_MAX_BYTES,
    DEFAULT_GOP_MAX_FRAMES, DEFAULT_MAX_BATCH_MS, DEFAULT_REPLACE_PUBLISHER, DEFAULT_SERVER_NAME,
    DEFAULT_START_AT_OLDEST_KEYFRAME, DEFAULT_VIEWER_DISCONNECT_AFTER_MS, DEFAULT_VIEWER_MAX_BYTES,
    DEFAULT_VIEWER_MAX_LAG_MS, DEFAULT_WAIT_FOR_PUBLISHER,
};
pub use direct::{DirectOutput, DIRECT_ROUND, MAX_DIRECT_OUTPUTS};
pub use error::{PublishError, SubscribeError};
pub use frame::{CodecInfo, Frame, FrameKind};
pub use hub::Hub;
pub use key::StreamKey;
pub use publisher::{Orphan, Publisher, Pushed};
pub use pump::{Batch, MediaPump, PumpConfig, PumpEvent, PumpStats, DEFAULT_BATCH_BYTES};
pub use ring::MAX_TIMESTAMP_STEP_MS;
pub use stream::StreamInfo;
pub use subscriber::{Subscriber, SubscriberEvent, SubscriberStats, TooSlow};
