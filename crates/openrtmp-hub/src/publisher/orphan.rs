//! A publication whose publisher was lost abruptly, held open for its reconnect grace.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::registry::Registry;
use crate::stream::Stream;
use crate::StreamKey;

/// A publication held open after its publisher was lost ([`crate::Publisher::lose`]).
///
/// While it lives, the stream's subscribers stay attached without news, and a
/// [`crate::Hub::publish`] on the key continues the publication (the orphan then becomes
/// inert). [`Orphan::expire`], or dropping it, ends the publication if nobody took it over:
/// subscribers get [`crate::SubscriberEvent::Unpublished`] after what they have not read,
/// exactly as after an unpublish, and the stream's memory is freed once they have.
///
/// The hub has no timers: the holder decides how long the grace lasts (the server keeps it
/// in a task that sleeps for `streams.publisher_grace`).
pub struct Orphan {
    hub: Arc<Registry>,
    stream: Arc<Stream>,
    /// The lost publisher's `source`: a newer one on the stream means it was taken over.
    source: u64,
    /// False for the orphan of a publisher that was no longer live: it never ends anything.
    armed: bool,
}

impl fmt::Debug for Orphan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Orphan")
            .field("key", &self.stream.key)
            .field("source", &self.source)
            .field("pending", &self.is_pending())
            .finish()
    }
}

impl Orphan {
    pub(crate) fn new(hub: Arc<Registry>, stream: Arc<Stream>, source: u64, armed: bool) -> Self {
        Orphan { hub, stream, source, armed }
    }

    /// The stream's key.
    pub fn key(&self) -> &StreamKey {
        &self.stream.key
    }

    /// Whether the publication still waits for its publisher: not taken over by a new one
    /// and not ended. Once false, expiring does nothing.
    pub fn is_pending(&self) -> bool {
        let st = self.stream.lock();
        self.armed && st.source == self.source && st.lost
    }

    /// Ends the grace: if no publisher took the stream over, the publication ends as
    /// [`crate::Publisher::unpublish`] would have ended it. Same as dropping.
    pub fn expire(self) {
        drop(self);
    }
}

impl Drop for Orphan {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let source = self.source;
        let mut ended = false;
        self.hub.detach(&self.stream, |st| {
            ended = st.source == source && st.lost;
            if ended {
                st.end_publication();
            }
            ended
        });
        if ended {
            tracing::info!(stream = %self.stream.key, "lost publisher not back: unpublished");
            self.stream.holding.store(false, Ordering::Relaxed);
            self.stream.direct.release_all();
        }
    }
}

#[cfg(test)]
mod tests;
