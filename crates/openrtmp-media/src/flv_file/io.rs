//! Blocking `std::io` wrappers around the FLV decoder and encoder.

use std::io::{Read, Write};

use bytes::BytesMut;

use super::{FlvDecoder, FlvEncoder, FlvHeader, FlvTag};
use crate::MediaError;

/// Size of each read from the underlying reader.
const READ_CHUNK: usize = 64 * 1024;

/// Reads an FLV file: [`FlvReader::header`], then iterate for tags. The iterator ends
/// after the last complete tag, or after the first error (a file cut inside a tag ends
/// with [`MediaError::TruncatedFile`]).
#[derive(Debug)]
pub struct FlvReader<R> {
    inner: R,
    decoder: FlvDecoder,
    header: Option<FlvHeader>,
    scratch: Vec<u8>,
    done: bool,
}

impl<R: Read> FlvReader<R> {
    /// A reader with the default decoder limits.
    pub fn new(inner: R) -> Self {
        Self::with_decoder(inner, FlvDecoder::new())
    }

    /// A reader using `decoder` (for a custom maximum tag size).
    pub fn with_decoder(inner: R, decoder: FlvDecoder) -> Self {
        FlvReader { inner, decoder, header: None, scratch: Vec::new(), done: false }
    }

    /// The file header, reading as much as needed.
    pub fn header(&mut self) -> Result<FlvHeader, MediaError> {
        loop {
            if let Some(h) = self.header {
                return Ok(h);
            }
            if let Some(h) = self.decoder.poll_header()? {
                self.header = Some(h);
            } else if !self.fill()? {
                self.decoder.finish()?;
                // `finish` always fails before the header is complete.
                return Err(MediaError::TruncatedFile { what: "FLV header", buffered: 0 });
            }
        }
    }

    /// How many PreviousTagSize fields did not match so far.
    pub fn previous_tag_size_mismatches(&self) -> u64 {
        self.decoder.previous_tag_size_mismatches()
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads one chunk into the decoder; `false` at end of input.
    fn fill(&mut self) -> Result<bool, MediaError> {
        self.scratch.resize(READ_CHUNK, 0);
        loop {
            match self.inner.read(&mut self.scratch) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.decoder.handle_input(self.scratch.get(..n).unwrap_or_default());
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn next_tag(&mut self) -> Result<Option<FlvTag>, MediaError> {
        self.header()?;
        loop {
            if let Some(tag) = self.decoder.poll_tag()? {
                return Ok(Some(tag));
            }
            if !self.fill()? {
                self.decoder.finish()?;
                return Ok(None);
            }
        }
    }
}

impl<R: Read> Iterator for FlvReader<R> {
    type Item = Result<FlvTag, MediaError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.next_tag().transpose();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }
}

/// Writes an FLV file: the header on creation, then [`FlvWriter::write_tag`]. Tag data is
/// written straight from the tag's `Bytes`, not copied into a buffer.
#[derive(Debug)]
pub struct FlvWriter<W: Write> {
    inner: W,
    encoder: FlvEncoder,
    scratch: BytesMut,
}

impl<W: Write> FlvWriter<W> {
    /// Writes the header (and PreviousTagSize0) to `inner`.
    pub fn new(mut inner: W, header: &FlvHeader) -> Result<Self, MediaError> {
        let mut encoder = FlvEncoder::new();
        let mut scratch = BytesMut::new();
        encoder.write_header(header, &mut scratch)?;
        inner.write_all(&scratch)?;
        scratch.clear();
        Ok(FlvWriter { inner, encoder, scratch })
    }

    /// Writes one tag and its PreviousTagSize.
    pub fn write_tag(&mut self, tag: &FlvTag) -> Result<(), MediaError> {
        self.scratch.clear();
        self.encoder.write_tag_header(tag, &mut self.scratch)?;
        self.inner.write_all(&self.scratch)?;
        self.inner.write_all(&tag.data)?;
        self.inner.write_all(&FlvEncoder::previous_tag_size(tag))?;
        Ok(())
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> Result<(), MediaError> {
        self.inner.flush()?;
        Ok(())
    }

    /// The underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.inner
    }
}
