//! What a stream reports about itself ([`StreamInfo`]), for the API and metrics.

use openrtmp_media::{AudioInfo, VideoInfo};

use super::StreamState;
use crate::StreamKey;

impl StreamState {
    /// A snapshot for the API.
    pub(crate) fn info(&self, key: &StreamKey) -> StreamInfo {
        StreamInfo {
            key: key.clone(),
            publishing: self.publishing,
            source_lost: self.lost,
            splicing: self.timeline.is_waiting(),
            dropped_at_splice: self.dropped_at_splice,
            publisher_owner: self.owner,
            generation: self.generation,
            viewers: self.viewers,
            direct_viewers: 0,
            ring_frames: self.ring.len(),
            ring_bytes: usize::try_from(self.ring.bytes()).unwrap_or(usize::MAX),
            ring_ms: clamp_ms(self.ring.span_ms()),
            has_metadata: self.metadata.is_some(),
            sequence_headers: self.headers.len(),
            frames_in: self.frames_in,
            bytes_in: self.bytes_in,
            video_bytes_in: self.video_bytes_in,
            audio_bytes_in: self.audio_bytes_in,
            last_timestamp: self.ring.last_timestamp(),
            memory_bytes: self.held_bytes(),
            video: self.video.clone(),
            audio: self.audio.clone(),
        }
    }
}

/// Media ms as reported in statistics.
pub(crate) fn clamp_ms(ms: u64) -> u32 {
    u32::try_from(ms).unwrap_or(u32::MAX)
}

/// A snapshot of one stream, for the HTTP API and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    /// The stream's key.
    pub key: StreamKey,
    /// Whether a publication is live: a publisher pushes, or it was lost and is within its
    /// reconnect grace (`source_lost`).
    pub publishing: bool,
    /// The publisher was lost abruptly ([`crate::Publisher::lose`]) and the stream waits
    /// for it to come back: subscribers stay attached and receive nothing meanwhile.
    pub source_lost: bool,
    /// A new source was spliced in ([`crate::Publisher::splice`], or a publisher back within
    /// its grace) and its frames are dropped until its first sync point.
    pub splicing: bool,
    /// Frames of new sources dropped before their sync point, since the stream began.
    pub dropped_at_splice: u64,
    /// The live publisher's owner id (the connection id the server passed in).
    pub publisher_owner: Option<u64>,
    /// Publisher generation: 1 for the first publisher on the key, +1 for each next one.
    pub generation: u64,
    /// Attached subscribers (including those waiting for a publisher).
    pub viewers: usize,
    /// Viewers fed straight from the publisher's task ([`crate::DirectOutput`]).
    pub direct_viewers: usize,
    /// Frames in the ring.
    pub ring_frames: usize,
    /// Payload bytes in the ring.
    pub ring_bytes: usize,
    /// Media time the ring covers, ms.
    pub ring_ms: u32,
    /// Whether onMetaData is cached.
    pub has_metadata: bool,
    /// Cached sequence headers (one per kind and track).
    pub sequence_headers: usize,
    /// Frames the current publisher pushed (sequence headers included).
    pub frames_in: u64,
    /// Payload bytes the current publisher pushed.
    pub bytes_in: u64,
    /// Of `bytes_in`, video payload bytes.
    pub video_bytes_in: u64,
    /// Of `bytes_in`, audio payload bytes.
    pub audio_bytes_in: u64,
    /// Timestamp of the newest frame in the ring.
    pub last_timestamp: Option<u32>,
    /// Payload bytes this stream holds (ring and caches), its share of
    /// [`crate::Hub::memory_bytes`].
    pub memory_bytes: usize,
    /// What the current publisher's track-0 video sequence header says (codec, size).
    pub video: Option<VideoInfo>,
    /// What the current publisher's track-0 audio sequence header says (codec, rate).
    pub audio: Option<AudioInfo>,
}
