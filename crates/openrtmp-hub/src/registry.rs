//! The shared state of a [`crate::Hub`]: the stream map, the configuration and the memory
//! count. Publishers and subscribers hold it (through an `Arc`) to detach themselves; the
//! `Hub` handle is only a front for it. Kept apart from `hub.rs` so that the registry, its
//! publishers and its subscribers do not import each other.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::stream::{Stream, StreamState};
use crate::{HubConfig, StreamKey};

/// Lock order: `streams` before any stream's own lock, never the other way round.
pub(crate) struct Registry {
    pub(crate) config: Mutex<HubConfig>,
    pub(crate) streams: Mutex<HashMap<StreamKey, Arc<Stream>>>,
    /// Sum of the payload bytes every stream holds, kept by the streams themselves.
    pub(crate) memory: Arc<AtomicUsize>,
}

/// Locks ignoring poison: the guarded data is valid between statements (see
/// [`Stream::lock`]).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Registry {
    pub(crate) fn new(config: HubConfig) -> Registry {
        Registry {
            config: Mutex::new(config),
            streams: Mutex::new(HashMap::new()),
            memory: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Detaches a publisher or subscriber: runs `f` on the stream's state under the
    /// registry lock, then removes the stream if nobody publishes or plays it anymore.
    /// `f` returns whether it was an unpublish, which subscribers must hear of; a viewer leaving
    /// wakes nobody, so a thousand viewers leaving cost no wakeup storm.
    pub(crate) fn detach(&self, stream: &Arc<Stream>, f: impl FnOnce(&mut StreamState) -> bool) {
        let mut streams = lock(&self.streams);
        let mut st = stream.lock();
        let wake = f(&mut st);
        if !st.publishing && st.viewers == 0 {
            st.clear();
            if streams.get(&stream.key).is_some_and(|s| Arc::ptr_eq(s, stream)) {
                streams.remove(&stream.key);
            }
        }
        drop(streams);
        if wake {
            stream.commit(st, true);
        } else {
            stream.account(&mut st);
        }
    }
}
