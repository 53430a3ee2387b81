//! Tunables of the hub: retention of the shared ring and the slow-viewer policy.

/// Default [`HubConfig::gop_cache_ms`]: 2 s, one typical GOP.
pub const DEFAULT_GOP_CACHE_MS: u32 = 2_000;
/// Default [`HubConfig::gop_max_bytes`]: 32 MiB.
pub const DEFAULT_GOP_MAX_BYTES: usize = 32 * 1024 * 1024;
/// Default [`HubConfig::gop_max_frames`]: 4096 frames (about 50 s of 30 fps video with AAC).
pub const DEFAULT_GOP_MAX_FRAMES: usize = 4096;
/// Default [`HubConfig::viewer_max_lag_ms`]: 5 s (the server passes 500 in low-latency mode).
pub const DEFAULT_VIEWER_MAX_LAG_MS: u32 = 5_000;
/// Default [`HubConfig::viewer_max_bytes`]: 32 MiB.
pub const DEFAULT_VIEWER_MAX_BYTES: usize = 32 * 1024 * 1024;
/// Default [`HubConfig::viewer_disconnect_after_ms`]: 30 s of wall time.
pub const DEFAULT_VIEWER_DISCONNECT_AFTER_MS: u32 = 30_000;
/// Default [`HubConfig::wait_for_publisher`]: players may attach before the publisher.
pub const DEFAULT_WAIT_FOR_PUBLISHER: bool = true;
/// Default [`HubConfig::replace_publisher`]: a second publisher is refused.
pub const DEFAULT_REPLACE_PUBLISHER: bool = false;
/// Default [`HubConfig::start_at_oldest_keyframe`]: new viewers start at the newest
/// keyframe (lowest latency).
pub const DEFAULT_START_AT_OLDEST_KEYFRAME: bool = false;
/// Default for [`HubConfig::audio_batch_ms`]: a little over one frame interval at 30 fps.
pub const DEFAULT_AUDIO_BATCH_MS: u32 = 40;
/// Default [`HubConfig::max_batch_ms`]: off, every video frame goes out at once.
pub const DEFAULT_MAX_BATCH_MS: u32 = 0;
/// Default [`HubConfig::server_name`]: `OpenRTMP <version>`.
pub const DEFAULT_SERVER_NAME: &str = concat!("OpenRTMP ", env!("CARGO_PKG_VERSION"));

/// Configuration of a [`crate::Hub`]. Every duration is media time except
/// `viewer_disconnect_after_ms`, which is wall time measured with the `now` the outputs
/// pass in: the hub never reads a clock.
///
/// Worst-case memory per stream is the ring, bounded by
/// `min(gop_max_bytes, bitrate * 2 * max(gop_cache_ms, viewer_max_lag_ms))` plus the
/// cached metadata and sequence headers (one per track), plus
/// `gop_max_frames * ~80` bytes of per-frame bookkeeping. Viewers hold no copies: a viewer
/// is a cursor into the ring, so a viewer costs a few hundred bytes whatever its lag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubConfig {
    /// The ring keeps media back to a video keyframe at least this old (when it has one),
    /// so a new viewer can start on a keyframe. Default [`DEFAULT_GOP_CACHE_MS`].
    pub gop_cache_ms: u32,
    /// Hard cap on payload bytes in one stream's ring; wins over every time rule.
    /// Default [`DEFAULT_GOP_MAX_BYTES`].
    pub gop_max_bytes: usize,
    /// Hard cap on frames in one stream's ring; wins over every time rule.
    /// Default [`DEFAULT_GOP_MAX_FRAMES`].
    pub gop_max_frames: usize,
    /// A viewer further behind the newest frame than this (media time) skips to a
    /// keyframe. The ring also retains at least this much media so the lag can be
    /// measured. Default [`DEFAULT_VIEWER_MAX_LAG_MS`].
    pub viewer_max_lag_ms: u32,
    /// A viewer with more pending payload bytes than this skips to a keyframe.
    /// Default [`DEFAULT_VIEWER_MAX_BYTES`].
    pub viewer_max_bytes: usize,
    /// A viewer that keeps lagging (skip after skip, never catching up) for longer than
    /// this much wall time gets [`crate::SubscriberEvent::TooSlow`]
    /// ([`crate::Batch::too_slow`]) once. Wall time, not media time: a publisher faster
    /// than real time makes viewers skip, it does not get them disconnected.
    /// Default [`DEFAULT_VIEWER_DISCONNECT_AFTER_MS`].
    pub viewer_disconnect_after_ms: u32,
    /// Whether a player may attach to a key nobody publishes (it waits); otherwise
    /// [`crate::SubscribeError::NotFound`]. Default [`DEFAULT_WAIT_FOR_PUBLISHER`].
    pub wait_for_publisher: bool,
    /// Whether a new publisher displaces a live one instead of being refused.
    /// Default [`DEFAULT_REPLACE_PUBLISHER`].
    pub replace_publisher: bool,
    /// Whether new viewers start at the oldest keyframe in the ring (more buffered media,
    /// more latency) rather than the newest. Default [`DEFAULT_START_AT_OLDEST_KEYFRAME`].
    pub start_at_oldest_keyframe: bool,
    /// Write batching for audio in streams that also carry video: an audio frame does not
    /// wake the viewers by itself until this much media time has gathered since the oldest
    /// frame not yet announced; the next video frame (or a later audio frame past the bound)
    /// wakes them for all of it. Viewers then write audio and video together, roughly halving
    /// the sends per viewer, and audio waits at most this long (video never waits). 0
    /// announces every frame at once (low-latency mode does). Default
    /// [`DEFAULT_AUDIO_BATCH_MS`].
    pub audio_batch_ms: u32,
    /// Write batching for every frame, for operators who prefer CPU to latency: a frame does
    /// not wake the viewers (nor go to the direct outputs) until this much media time has
    /// gathered since the oldest frame not yet announced, or (for frames carrying their
    /// arrival, [`crate::Publisher::batch_deadline`]) this much wall time has passed since
    /// it arrived; then every viewer gets the whole batch in one write. 0 (the default) announces every video frame at once (lowest
    /// latency); 50-350 ms trade latency for CPU: each write to a socket costs the kernel a
    /// fixed few microseconds whatever its size, so at 1000 viewers one write per 33 ms video
    /// frame dominates the CPU per delivered Gbit. Low-latency mode forces 0. Default
    /// [`DEFAULT_MAX_BATCH_MS`].
    pub max_batch_ms: u32,
    /// The `server` property the hub writes into onMetaData given as a script
    /// ([`crate::Publisher::set_metadata_script`]); empty writes none.
    /// Default [`DEFAULT_SERVER_NAME`].
    pub server_name: String,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            gop_cache_ms: DEFAULT_GOP_CACHE_MS,
            gop_max_bytes: DEFAULT_GOP_MAX_BYTES,
            gop_max_frames: DEFAULT_GOP_MAX_FRAMES,
            viewer_max_lag_ms: DEFAULT_VIEWER_MAX_LAG_MS,
            viewer_max_bytes: DEFAULT_VIEWER_MAX_BYTES,
            viewer_disconnect_after_ms: DEFAULT_VIEWER_DISCONNECT_AFTER_MS,
            wait_for_publisher: DEFAULT_WAIT_FOR_PUBLISHER,
            replace_publisher: DEFAULT_REPLACE_PUBLISHER,
            start_at_oldest_keyframe: DEFAULT_START_AT_OLDEST_KEYFRAME,
            audio_batch_ms: DEFAULT_AUDIO_BATCH_MS,
            max_batch_ms: DEFAULT_MAX_BATCH_MS,
            server_name: DEFAULT_SERVER_NAME.to_owned(),
        }
    }
}

impl HubConfig {
    /// How much media time the ring covers at least (back to a keyframe when there is
    /// one): enough for a new viewer's GOP and for measuring the largest allowed lag.
    pub(crate) fn retention_ms(&self) -> u64 {
        u64::from(self.gop_cache_ms.max(self.viewer_max_lag_ms))
    }
}
