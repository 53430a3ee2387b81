//! The publishing side of a stream.

use std::fmt;
use std::sync::Arc;

use crate::registry::Registry;
use crate::stream::Stream;
use crate::{Frame, StreamKey};

/// The right to publish on one key, held by the publisher's connection task. Dropping it
/// (or [`Publisher::unpublish`]) ends the publication.
///
/// Every method is O(1) apart from waking waiting subscribers, and none blocks on a
/// viewer: the only lock taken is the stream's, held for a few field updates.
pub struct Publisher {
    hub: Arc<Registry>,
    stream: Arc<Stream>,
    /// The generation this publisher started; a newer one on the stream means it was
    /// displaced.
    generation: u64,
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
        owner: u64,
    ) -> Publisher {
        Publisher { hub, stream, generation, owner }
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
    /// order). Ignored once this publisher has been replaced.
    pub fn push(&self, frame: Frame) {
        self.stream.with_live(self.generation, |st| st.push(frame));
    }

    /// Replaces the stream's onMetaData (a Data frame, `@setDataFrame` already stripped).
    /// New viewers get it first; current viewers get it in order when it changes.
    pub fn set_metadata(&self, frame: Frame) {
        self.stream.with_live(self.generation, |st| st.set_metadata(frame));
    }

    /// Whether a newer publisher displaced this one (`replace_publisher`); its pushes are
    /// ignored and the connection should be closed.
    pub fn is_replaced(&self) -> bool {
        self.stream.lock().generation != self.generation
    }

    /// Ends the publication (same as dropping): subscribers get
    /// [`crate::SubscriberEvent::Unpublished`] after the frames they have not read yet.
    pub fn unpublish(self) {
        drop(self);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let generation = self.generation;
        self.hub.detach(&self.stream, |st| {
            let live = st.generation == generation && st.publishing;
            if live {
                st.publishing = false;
                st.owner = None;
                st.release_if_drained();
            }
            live
        });
    }
}
