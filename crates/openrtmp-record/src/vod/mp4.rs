//! Playback of MP4 recordings (owned by the MP4-reader piece; placeholder until it lands).

use std::path::Path;

use crate::{Message, RecordError, VodSource};

/// An MP4 recording opened for playback.
#[derive(Debug)]
pub struct Mp4Source {
    _private: (),
}

impl Mp4Source {
    /// Opens `path`.
    pub fn open(path: &Path) -> Result<Mp4Source, RecordError> {
        Err(RecordError::Invalid(format!("{}: MP4 playback is not built yet", path.display())))
    }
}

impl VodSource for Mp4Source {
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
