//! The registry of live streams.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::registry::{lock, Registry};
use crate::stream::{Stream, StreamInfo};
use crate::subscriber::Subscriber;
use crate::{HubConfig, PublishError, Publisher, StreamKey, SubscribeError};

/// The stream registry: where publishers push and players attach. Cheap to clone (one
/// `Arc`); every clone sees the same streams.
///
/// Locks: the registry mutex is taken only to attach or detach (publish, subscribe, drop)
/// and for snapshots; per-frame work takes only the stream's own mutex. The registry lock
/// is always taken before a stream's, never the other way round.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Registry>,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("streams", &lock(&self.inner.streams).len())
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

impl Hub {
    /// An empty hub.
    pub fn new(config: HubConfig) -> Hub {
        Hub { inner: Arc::new(Registry::new(config)) }
    }

    /// The current configuration.
    pub fn config(&self) -> HubConfig {
        lock(&self.inner.config).clone()
    }

    /// Replaces the configuration (a reload). It applies to later decisions: the next
    /// push trims with the new limits, the next poll measures lag with them; nothing is
    /// re-evaluated eagerly.
    pub fn set_config(&self, config: HubConfig) {
        let streams = lock(&self.inner.streams);
        *lock(&self.inner.config) = config.clone();
        for stream in streams.values() {
            stream.lock().config = config.clone();
        }
    }

    /// Claims `key` for a publisher identified by `owner` (the server's connection id).
    ///
    /// Fails with [`PublishError::InUse`] while another publisher is live, unless
    /// `replace_publisher` is set: then the live one is displaced (its pushes are ignored
    /// from now on, [`Publisher::is_replaced`] turns true). Either way a successful publish
    /// starts a new generation: the ring and caches are emptied, attached subscribers get
    /// [`crate::SubscriberEvent::Published`] and then the new publisher's start sequence.
    ///
    /// The exception is a stream whose publisher was lost abruptly and is within its
    /// reconnect grace ([`Publisher::lose`]): the new publisher continues the SAME
    /// publication, whatever `replace_publisher` says. Its subscribers get no event; its
    /// frames are spliced in as by [`Publisher::splice`] (from its first keyframe, with
    /// timestamps rebased to continue the stream's, changed sequence headers first), and
    /// the lost publisher's [`crate::Orphan`] becomes inert.
    pub fn publish(&self, key: StreamKey, owner: u64) -> Result<Publisher, PublishError> {
        let mut streams = lock(&self.inner.streams);
        let stream = Arc::clone(streams.entry(key.clone()).or_insert_with(|| {
            Arc::new(Stream::new(key.clone(), self.config(), Arc::clone(&self.inner.memory)))
        }));
        let mut st = stream.lock();
        if st.lost {
            // Within a lost publisher's grace: this one continues the same publication.
            st.continue_publication(owner);
            let (generation, source) = (st.generation, st.source);
            drop(streams);
            stream.commit(st, false);
            tracing::info!(stream = %key, owner, "publisher back within its grace: spliced in");
            stream.holding.store(false, Ordering::Relaxed);
            stream.direct.release_all();
            return Ok(Publisher::new(Arc::clone(&self.inner), stream, generation, source, owner));
        }
        if st.publishing {
            if !st.config.replace_publisher {
                let holder = st.owner.unwrap_or_default();
                return Err(PublishError::InUse { key, owner: holder });
            }
            tracing::info!(stream = %key, old_owner = ?st.owner, owner, "publisher replaced");
        }
        st.begin_generation(owner);
        let (generation, source) = (st.generation, st.source);
        drop(streams);
        stream.commit(st, true);
        // Outputs fed by a displaced publisher go back to their tasks, which see the new one.
        stream.holding.store(false, Ordering::Relaxed);
        stream.direct.release_all();
        Ok(Publisher::new(Arc::clone(&self.inner), stream, generation, source, owner))
    }

    /// Attaches a player identified by `owner` to `key`.
    ///
    /// With no live publisher the subscriber waits for one if `wait_for_publisher` is set;
    /// otherwise this fails with [`SubscribeError::NotFound`].
    pub fn subscribe(&self, key: StreamKey, owner: u64) -> Result<Subscriber, SubscribeError> {
        let mut streams = lock(&self.inner.streams);
        let stream = match streams.get(&key) {
            Some(stream) => Arc::clone(stream),
            None if self.config().wait_for_publisher => {
                let stream = Arc::new(Stream::new(
                    key.clone(),
                    self.config(),
                    Arc::clone(&self.inner.memory),
                ));
                streams.insert(key.clone(), Arc::clone(&stream));
                stream
            }
            None => return Err(SubscribeError::NotFound { key }),
        };
        let mut st = stream.lock();
        if !st.publishing && !st.config.wait_for_publisher {
            return Err(SubscribeError::NotFound { key });
        }
        st.viewers += 1;
        if st.publishing {
            st.followers += 1;
        }
        let (live, generation) = (st.publishing, st.generation);
        drop(st);
        drop(streams);
        Ok(Subscriber::new(Arc::clone(&self.inner), stream, owner, live, generation))
    }

    /// Snapshots of every stream, sorted by key.
    pub fn streams(&self) -> Vec<StreamInfo> {
        // Clone the handles out so stream locks are not taken under the registry lock
        // for longer than the copy.
        let streams: Vec<Arc<Stream>> = lock(&self.inner.streams).values().cloned().collect();
        let mut infos: Vec<StreamInfo> = streams.iter().map(|s| s.info()).collect();
        infos.sort_by(|a, b| a.key.cmp(&b.key));
        infos
    }

    /// A snapshot of one stream.
    pub fn stream(&self, key: &StreamKey) -> Option<StreamInfo> {
        let stream = lock(&self.inner.streams).get(key).cloned()?;
        Some(stream.info())
    }

    /// Payload bytes held by all rings and caches. A payload shared by the ring and a
    /// cache (a changed sequence header) counts twice; payload clones that subscribers
    /// are still writing out are not counted.
    pub fn memory_bytes(&self) -> usize {
        self.inner.memory.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
