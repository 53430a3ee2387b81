//! The sans-IO FLV file encoder.

use bytes::BytesMut;

use super::{FlvHeader, FlvTag};
use crate::MediaError;

/// Writes an FLV file into a `BytesMut`: [`FlvEncoder::write_header`] once (the header and
/// PreviousTagSize0), then [`FlvEncoder::write_tag`] per tag (tag header, data and its
/// PreviousTagSize). [`FlvEncoder::write_tag_header`] and
/// [`FlvEncoder::previous_tag_size`] let a writer send the shared tag data without
/// copying it.
#[derive(Debug, Default, Clone)]
pub struct FlvEncoder {
    tags_written: u64,
}

impl FlvEncoder {
    /// A new encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the FLV header and PreviousTagSize0 (always 0, §E.3).
    pub fn write_header(
        &mut self,
        header: &FlvHeader,
        out: &mut BytesMut,
    ) -> Result<(), MediaError> {
        header.write(out)?;
        out.extend_from_slice(&0u32.to_be_bytes());
        Ok(())
    }

    /// Appends a tag and the PreviousTagSize that follows it.
    pub fn write_tag(&mut self, tag: &FlvTag, out: &mut BytesMut) -> Result<(), MediaError> {
        self.write_tag_header(tag, out)?;
        out.extend_from_slice(&tag.data);
        out.extend_from_slice(&Self::previous_tag_size(tag));
        Ok(())
    }

    /// Appends only the 11-byte tag header; the caller then writes `tag.data` and
    /// [`FlvEncoder::previous_tag_size`].
    pub fn write_tag_header(&mut self, tag: &FlvTag, out: &mut BytesMut) -> Result<(), MediaError> {
        tag.header()?.write(out)?;
        self.tags_written += 1;
        Ok(())
    }

    /// The PreviousTagSize bytes that follow `tag` (11 + DataSize, big-endian).
    pub fn previous_tag_size(tag: &FlvTag) -> [u8; 4] {
        // `write_tag_header` has checked DataSize fits in 24 bits, so this fits in 32.
        (tag.size() as u32).to_be_bytes()
    }

    /// Tags written so far.
    pub fn tags_written(&self) -> u64 {
        self.tags_written
    }
}
