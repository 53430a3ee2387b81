//! What a subscriber's poll yields: the public [`SubscriberEvent`] list, or (through the
//! [`Sink`] seam) the media pump's events with the live/catch-up mark.

use crate::Frame;

/// What [`crate::Subscriber::poll`] yields.
#[derive(Clone, Debug)]
pub enum SubscriberEvent {
    /// A frame to send, with its original timestamp. The first ones after a start are
    /// the cached metadata (kind Data) and sequence headers (`sequence_header`).
    Frame(Frame),
    /// The publisher went away (after the frames this viewer had not read yet); the
    /// subscriber stays attached and waits (`NetStream.Play.UnpublishNotify`).
    Unpublished,
    /// A publisher (re)started on the key; its start sequence follows
    /// (`NetStream.Play.PublishNotify`).
    Published,
    /// The viewer kept lagging, skip after skip, for longer than
    /// `viewer_disconnect_after_ms` of wall time; `lag_ms` is for how long (wall ms, from
    /// the `now` values passed to `poll`). Sent once; the server should disconnect it.
    TooSlow {
        /// Wall-clock ms the viewer has been lagging.
        lag_ms: u32,
    },
}

/// A viewer declared too slow ([`SubscriberEvent::TooSlow`], [`crate::Batch::too_slow`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooSlow {
    /// Wall-clock ms it has been lagging (skip after skip, never catching up): what the
    /// decision is made on.
    pub lagging_ms: u32,
    /// Media ms between its next frame and the newest one when it was declared: how far
    /// behind it is. With a publisher faster than real time this can be far larger than
    /// `lagging_ms`.
    pub behind_ms: u32,
}

/// A viewer's counters, for the API and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriberStats {
    /// Frames delivered (metadata and sequence headers included).
    pub delivered_frames: u64,
    /// Payload bytes delivered.
    pub delivered_bytes: u64,
    /// Frames skipped because the viewer lagged (filtered-out kinds are not counted).
    pub dropped_frames: u64,
    /// Times the viewer skipped ahead.
    pub skips: u64,
    /// Frames waiting for this viewer.
    pub backlog_frames: u64,
    /// Payload bytes waiting for this viewer.
    pub backlog_bytes: u64,
    /// Media ms between the viewer's next frame and the newest one.
    pub backlog_ms: u32,
}

/// Where a poll puts what it yields. The subscriber's policy is written once against this
/// seam; [`crate::Subscriber::poll`] fills a `Vec<SubscriberEvent>`, the media pump its
/// own events and counters.
pub(crate) trait Sink {
    /// A frame; `catch_up` when it was already in the ring (or a cache) when the viewer
    /// started or repositioned, rather than arriving while the viewer was caught up.
    fn frame(&mut self, frame: Frame, catch_up: bool);
    /// [`SubscriberEvent::Unpublished`].
    fn unpublished(&mut self);
    /// [`SubscriberEvent::Published`].
    fn published(&mut self);
    /// [`SubscriberEvent::TooSlow`].
    fn too_slow(&mut self, too_slow: TooSlow);
}

impl Sink for Vec<SubscriberEvent> {
    fn frame(&mut self, frame: Frame, _catch_up: bool) {
        self.push(SubscriberEvent::Frame(frame));
    }

    fn unpublished(&mut self) {
        self.push(SubscriberEvent::Unpublished);
    }

    fn published(&mut self) {
        self.push(SubscriberEvent::Published);
    }

    fn too_slow(&mut self, too_slow: TooSlow) {
        self.push(SubscriberEvent::TooSlow { lag_ms: too_slow.lagging_ms });
    }
}
