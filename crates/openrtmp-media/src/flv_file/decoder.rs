//! The sans-IO FLV file decoder.

use bytes::{Buf, BytesMut};

use super::{FlvHeader, FlvTag, FLV_HEADER_LEN};
use crate::tag::{TagHeader, TAG_HEADER_LEN};
use crate::MediaError;

/// Default largest tag (header + data) the decoder buffers: 16 MiB. FLV's UI24 DataSize
/// allows just under 16 MiB, so the default accepts every valid tag; lower it to bound the
/// memory a hostile file can make the decoder hold.
pub const DEFAULT_MAX_TAG_SIZE: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    ExpectHeader,
    /// Skipping header bytes beyond the 9 defined ones (DataOffset > 9).
    SkipHeaderPadding(usize),
    ExpectPreviousTagSize,
    ExpectTag,
    Failed(MediaError),
}

/// Decodes an FLV file from bytes pushed in any split: [`FlvDecoder::handle_input`], then
/// [`FlvDecoder::poll_header`] / [`FlvDecoder::poll_tag`] until they return `Ok(None)`
/// ("need more bytes").
///
/// Memory is bounded by what the caller pushes and has not polled, plus at most one tag of
/// `max_tag_size`: a tag header declaring more fails with [`MediaError::TagTooLarge`]
/// before its data is buffered. Tag data are split off the input buffer without copying.
/// Errors are sticky: after one, every poll returns it again.
#[derive(Debug)]
pub struct FlvDecoder {
    buf: BytesMut,
    state: State,
    max_tag_size: usize,
    /// Parsed but not yet returned by `poll_header`.
    header: Option<FlvHeader>,
    header_seen: bool,
    /// The PreviousTagSize the next back-pointer should hold.
    expected_previous_tag_size: u32,
    previous_tag_size_mismatches: u64,
}

impl Default for FlvDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FlvDecoder {
    /// A decoder with [`DEFAULT_MAX_TAG_SIZE`].
    pub fn new() -> Self {
        Self::with_max_tag_size(DEFAULT_MAX_TAG_SIZE)
    }

    /// A decoder that rejects tags (header + data) larger than `max_tag_size` bytes.
    pub fn with_max_tag_size(max_tag_size: usize) -> Self {
        FlvDecoder {
            buf: BytesMut::new(),
            state: State::ExpectHeader,
            max_tag_size,
            header: None,
            header_seen: false,
            expected_previous_tag_size: 0,
            previous_tag_size_mismatches: 0,
        }
    }

    /// Appends input bytes.
    pub fn handle_input(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The FLV header, once: `Ok(Some)` the first time it is complete, `Ok(None)` before
    /// (need more bytes) and after.
    pub fn poll_header(&mut self) -> Result<Option<FlvHeader>, MediaError> {
        if !self.header_seen {
            self.advance_header()?;
        }
        Ok(self.header.take())
    }

    /// The next tag, `Ok(None)` when more bytes are needed. Reads the header first if
    /// [`FlvDecoder::poll_header`] was not called.
    pub fn poll_tag(&mut self) -> Result<Option<FlvTag>, MediaError> {
        let result = self.next_tag();
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    /// How many PreviousTagSize fields did not match the preceding tag (§E.3).
    pub fn previous_tag_size_mismatches(&self) -> u64 {
        self.previous_tag_size_mismatches
    }

    /// Bytes pushed but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Declares the end of input: fails with [`MediaError::TruncatedFile`] when the input
    /// stopped inside the header or a tag. Ending right after a tag, with or without its
    /// PreviousTagSize, is a clean end.
    pub fn finish(&self) -> Result<(), MediaError> {
        let what = match &self.state {
            State::Failed(e) => return Err(e.clone()),
            State::ExpectHeader | State::SkipHeaderPadding(_) => "FLV header",
            State::ExpectPreviousTagSize if self.buf.is_empty() => return Ok(()),
            State::ExpectPreviousTagSize => "PreviousTagSize",
            State::ExpectTag if self.buf.is_empty() => return Ok(()),
            State::ExpectTag => "FLV tag",
        };
        Err(MediaError::TruncatedFile { what, buffered: self.buf.len() })
    }

    /// Moves past the header if it is complete; returns whether it is.
    fn advance_header(&mut self) -> Result<bool, MediaError> {
        match &self.state {
            State::Failed(e) => return Err(e.clone()),
            State::ExpectHeader => {}
            _ => return Ok(true),
        }
        if self.buf.len() < FLV_HEADER_LEN {
            return Ok(false);
        }
        let header = match FlvHeader::parse(&self.buf) {
            Ok(h) => h,
            Err(e) => {
                self.state = State::Failed(e.clone());
                return Err(e);
            }
        };
        self.buf.advance(FLV_HEADER_LEN);
        self.header = Some(header);
        self.header_seen = true;
        self.state = State::SkipHeaderPadding(header.data_offset as usize - FLV_HEADER_LEN);
        Ok(true)
    }

    fn next_tag(&mut self) -> Result<Option<FlvTag>, MediaError> {
        loop {
            match self.state.clone() {
                State::Failed(e) => return Err(e),
                State::ExpectHeader => {
                    if !self.advance_header()? {
                        return Ok(None);
                    }
                }
                State::SkipHeaderPadding(n) => {
                    let skip = n.min(self.buf.len());
                    self.buf.advance(skip);
                    if skip < n {
                        self.state = State::SkipHeaderPadding(n - skip);
                        return Ok(None);
                    }
                    self.state = State::ExpectPreviousTagSize;
                }
                State::ExpectPreviousTagSize => {
                    if self.buf.len() < 4 {
                        return Ok(None);
                    }
                    if self.buf.get_u32() != self.expected_previous_tag_size {
                        self.previous_tag_size_mismatches += 1;
                    }
                    self.state = State::ExpectTag;
                }
                State::ExpectTag => return self.take_tag(),
            }
        }
    }

    fn take_tag(&mut self) -> Result<Option<FlvTag>, MediaError> {
        if self.buf.len() < TAG_HEADER_LEN {
            return Ok(None);
        }
        let header = TagHeader::parse(&self.buf)?;
        let size = TAG_HEADER_LEN + header.data_size as usize;
        if size > self.max_tag_size {
            return Err(MediaError::TagTooLarge { size, limit: self.max_tag_size });
        }
        if self.buf.len() < size {
            return Ok(None);
        }
        self.buf.advance(TAG_HEADER_LEN);
        let data = self.buf.split_to(header.data_size as usize).freeze();
        self.expected_previous_tag_size = size as u32;
        self.state = State::ExpectPreviousTagSize;
        Ok(Some(FlvTag { tag_type: header.tag_type, timestamp: header.timestamp, data }))
    }
}
