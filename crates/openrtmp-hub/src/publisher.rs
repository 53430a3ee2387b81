//! The publishing side of a stream.

use std::fmt;
use std::sync::Arc;

use openrtmp_media::ScriptData;

use crate::registry::Registry;
use crate::stream::{Stream, StreamState};
use crate::{CodecInfo, Frame, StreamKey};

mod orphan;

pub use orphan::Orphan;

/// What became of a frame given to [`Publisher::push`] (or metadata to
/// [`Publisher::set_metadata_script`]), learnt under the one lock the push takes.
#[must_use = "a replaced publisher must stop publishing: check `replaced`"]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    /// A newer publisher displaced this one (`replace_publisher`): the frame was dropped,
    /// and so will every later one be. The connection should stop publishing.
    pub replaced: bool,
    /// The frame was a new or changed track-0 sequence header, and this is what it says:
    /// now in [`crate::StreamInfo`] and in the enriched onMetaData.
    pub learnt: Option<Arc<CodecInfo>>,
}

/// The right to publish on one key, held by the publisher's connection task. Dropping it
/// (or [`Publisher::unpublish`]) ends the publication.
///
/// Every method is O(1) apart from waking waiting subscribers, and none blocks on a
/// viewer: the only lock taken is the stream's, held for a few field updates.
pub struct Publisher {
    hub: Arc<Registry>,
    stream: Arc<Stream>,
    /// The generation (publication) this publisher feeds; the one it started, or the lost
    /// one it continued.
    generation: u64,
    /// The stream's `source` when this publisher took it; a newer one means it was
    /// displaced.
    source: u64,
    owner: u64,
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("key", &self.stream.key)
            .field("owner", &self.owner)
            .field("generation", &self.generation)
            .finish()
    }
}

impl Publisher {
    pub(crate) fn new(
        hub: Arc<Registry>,
        stream: Arc<Stream>,
        generation: u64,
        source: u64,
        owner: u64,
    ) -> Publisher {
        Publisher { hub, stream, generation, source, owner }
    }

    /// The stream's key.
    pub fn key(&self) -> &StreamKey {
        &self.stream.key
    }

    /// The owner id given to [`crate::Hub::publish`].
    pub fn owner(&self) -> u64 {
        self.owner
    }

    /// Adds an audio, video (or data, e.g. `onCuePoint`) frame. Sequence headers are
    /// cached for late joiners (and, when they change, also passed to current viewers in
    /// order); a track-0 sequence header's codec information ([`Frame::codec`]) is learnt
    /// and reported. Ignored once this publisher has been replaced, which the outcome says.
    pub fn push(&self, frame: Frame) -> Pushed {
        let mut learnt = None;
        let live = self.stream.with_live(self.source, |st| learnt = st.push(frame));
        if let Some(info) = &learnt {
            tracing::info!(stream = %self.stream.key, ?info, "stream codec learnt");
        }
        Pushed { replaced: !live, learnt }
    }

    /// Replaces the stream's onMetaData with a ready Data frame (`@setDataFrame` already
    /// stripped), sent as is. New viewers get it first; current viewers get it in order
    /// when it changes. Ignored once this publisher has been replaced.
    pub fn set_metadata(&self, frame: Frame) {
        self.stream.with_live(self.source, |st| st.set_metadata_frame(frame));
    }

    /// Replaces the stream's onMetaData with the publisher's `script` (`onMetaData`,
    /// `@setDataFrame` stripped) stamped `timestamp`. The hub keeps it and sends it
    /// enriched with what it learns from the sequence headers (the server name from
    /// [`crate::HubConfig::server_name`], width, height, sample rate, channels: see
    /// [`ScriptData::with_stream_info`]), now and again whenever that changes.
    pub fn set_metadata_script(&self, timestamp: u32, script: ScriptData) -> Pushed {
        let live =
            self.stream.with_live(self.source, |st| st.set_metadata_script(timestamp, script));
        Pushed { replaced: !live, learnt: None }
    }

    /// Opportunistic batching for the direct outputs: until [`Publisher::release`], pushed
    /// frames are gathered, not written; `release` writes them to every direct output at
    /// once. A driver holds while it handles one read of its socket: when it falls behind,
    /// a read holds several frames and each viewer gets them in one write, so the cost per
    /// frame falls as the load rises instead of the backlog growing.
    pub fn hold(&self) {
        self.stream.holding.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Ends [`Publisher::hold`]: what was gathered goes to the direct outputs now. Returns
    /// the open batch's deadline ([`Publisher::batch_deadline`], read under the same lock),
    /// so a driver that releases after each read need not ask again.
    pub fn release(&self) -> Option<std::time::Instant> {
        self.stream.holding.store(false, std::sync::atomic::Ordering::Relaxed);
        self.stream.fan_out(self.source)
    }

    /// When the frames gathered into a batch ([`crate::HubConfig::max_batch_ms`], or audio
    /// waiting for video, [`crate::HubConfig::audio_batch_ms`]) must be announced at the
    /// latest: the first one's arrival ([`Frame::received`]) plus the bound. The driver
    /// calls [`Publisher::announce_due`] then, so a frame never waits past the bound for
    /// a later frame to close its batch. `None` when no batch is open (or its frames carry
    /// no arrival time).
    pub fn batch_deadline(&self) -> Option<std::time::Instant> {
        self.stream.lock().batch_deadline()
    }

    /// Announces the open batch if its deadline ([`Publisher::batch_deadline`]) is `now`
    /// or past: viewers are woken and the direct outputs are written. Returns the deadline
    /// still open afterwards.
    pub fn announce_due(&self, now: std::time::Instant) -> Option<std::time::Instant> {
        self.stream.announce_due(self.source, now)
    }

    /// Whether pushing writes to viewers from this task (run-to-completion fan-out to
    /// [`crate::DirectOutput`]s): a driver that pushes many frames in a row should then
    /// yield now and then, so other tasks on its thread are not starved.
    pub fn fans_out(&self) -> bool {
        self.stream.direct.len() > 0
    }

    /// Whether a newer publisher displaced this one (`replace_publisher`); its pushes are
    /// ignored and the connection should be closed. [`Publisher::push`] says so too,
    /// without a second lock.
    pub fn is_replaced(&self) -> bool {
        self.stream.lock().source != self.source
    }

    /// Ends the publication (same as dropping): subscribers get
    /// [`crate::SubscriberEvent::Unpublished`] after the frames they have not read yet.
    pub fn unpublish(self) {
        drop(self);
    }

    /// The next frames come from a new source on this same publication (a pull that moved
    /// to the next origin). Subscribers stay attached and notice nothing but a seamless
    /// continuation: the new source's frames are dropped until its first video keyframe
    /// (audio too, so both start together; the first audio frame in a stream without
    /// video), its timestamps are rebased so the stream's continue 1 ms after the largest
    /// one delivered so far (one offset for audio, video and data, wrapping at 2^32), and
    /// its sequence headers and metadata, when they differ from the cached ones, reach
    /// current viewers before its first frame (and are cached for late joiners). Call it
    /// before pushing the new source's first frame (its sequence headers included).
    /// Ignored once this publisher has been replaced, which the outcome says.
    pub fn splice(&self) -> Pushed {
        let live = self.stream.with_live(self.source, StreamState::splice);
        if live {
            tracing::info!(stream = %self.stream.key, owner = self.owner, "source spliced");
        }
        Pushed { replaced: !live, learnt: None }
    }

    /// Ends this publisher WITHOUT ending the publication: its source was lost abruptly (a
    /// socket error, silence) and may come back. Subscribers stay attached, receive
    /// nothing more and hear of nothing (no [`crate::SubscriberEvent::Unpublished`]); late
    /// joiners are accepted and wait with them. A [`crate::Hub::publish`] on the key while
    /// the returned [`Orphan`] is alive continues the publication (see there); otherwise
    /// [`Orphan::expire`] (or dropping it) ends it as [`Publisher::unpublish`] would have.
    /// The hub reads no clock: the caller holds the orphan for its grace period.
    ///
    /// A publisher already displaced returns an inert orphan.
    pub fn lose(self) -> Orphan {
        let mut st = self.stream.lock();
        let live = st.is_live(self.source);
        if live {
            st.lose();
            tracing::info!(stream = %self.stream.key, owner = self.owner, "publisher lost");
        }
        self.stream.commit(st, false);
        // The direct outputs go back to their tasks, which wait on the stream.
        self.stream.holding.store(false, std::sync::atomic::Ordering::Relaxed);
        self.stream.direct.release_all();
        let orphan =
            Orphan::new(Arc::clone(&self.hub), Arc::clone(&self.stream), self.source, live);
        // Dropping `self` now finds the stream lost, not live: it ends nothing.
        drop(self);
        orphan
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let source = self.source;
        self.hub.detach(&self.stream, |st| {
            let live = st.is_live(source);
            if live {
                st.end_publication();
            }
            live
        });
        if !self.stream.lock().publishing {
            self.stream.holding.store(false, std::sync::atomic::Ordering::Relaxed);
            self.stream.direct.release_all();
        }
    }
}

#[cfg(test)]
mod tests;
