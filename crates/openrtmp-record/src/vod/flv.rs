//! Playback of FLV recordings (owned by the VOD piece; placeholder until it lands).

use std::path::Path;

use crate::{Message, RecordError, VodSource};

/// An FLV recording opened for playback.
#[derive(Debug)]
pub struct FlvSource {
    _private: (),
}

impl FlvSource {
    /// Opens `path`.
    pub fn open(path: &Path) -> Result<FlvSource, RecordError> {
        Err(RecordError::Invalid(format!("{}: FLV playback is not built yet", path.display())))
    }
}

impl VodSource for FlvSource {
    fn duration_ms(&self) -> u64 {
        0
    }
    fn headers(&self) -> Vec<Message> {
        Vec::new()
    }
    fn seek(&mut self, _ms: u64) -> Result<u64, RecordError> {
        Ok(0)
    }
    fn next_message(&mut self) -> Result<Option<Message>, RecordError> {
        Ok(None)
    }
}
