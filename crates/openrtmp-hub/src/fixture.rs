//! Test media: tiny but valid FLV audio/video tag bodies, classified by the real parser.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{Frame, FrameKind};

fn body(header: &[u8], size: usize) -> Bytes {
    let mut b = BytesMut::with_capacity(size.max(header.len()));
    b.put_slice(header);
    b.resize(size.max(header.len()), 0x5a);
    b.freeze()
}

/// AVC keyframe NALU message: `[0x17, 0x01, ct ct ct, ...]`, `size` bytes in all.
pub(crate) fn key(ts: u32, size: usize) -> Frame {
    Frame::classify(FrameKind::Video, ts, body(&[0x17, 0x01, 0, 0, 0], size))
}

/// AVC inter frame: `[0x27, 0x01, ...]`.
pub(crate) fn inter(ts: u32, size: usize) -> Frame {
    Frame::classify(FrameKind::Video, ts, body(&[0x27, 0x01, 0, 0, 0], size))
}

/// AVC sequence header: `[0x17, 0x00, ...]`; `tag` makes versions distinguishable.
pub(crate) fn avc_sh(ts: u32, tag: u8) -> Frame {
    Frame::classify(FrameKind::Video, ts, body(&[0x17, 0x00, 0, 0, 0, 1, 0x64, tag], 8))
}

/// AAC sequence header: `[0xAF, 0x00, ...]`.
pub(crate) fn aac_sh(ts: u32, tag: u8) -> Frame {
    Frame::classify(FrameKind::Audio, ts, body(&[0xAF, 0x00, 0x12, tag], 4))
}

/// AAC raw frame: `[0xAF, 0x01, ...]`.
pub(crate) fn aac(ts: u32, size: usize) -> Frame {
    Frame::classify(FrameKind::Audio, ts, body(&[0xAF, 0x01], size))
}

/// An onMetaData data frame (content is opaque to the hub).
pub(crate) fn meta(tag: u8) -> Frame {
    Frame::classify(FrameKind::Data, 0, body(&[0x02, 0x00, 0x0a, b'o', b'n', tag], 6))
}

/// Interleaved A/V: audio every 20 ms, video every 40 ms (25 fps), a keyframe every
/// `gop_ms`; timestamps from `start` for `duration_ms` (wrapping).
pub(crate) fn av(
    start: u32,
    duration_ms: u32,
    gop_ms: u32,
    video: usize,
    audio: usize,
) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut t = 0;
    while t < duration_ms {
        let ts = start.wrapping_add(t);
        if t % 40 == 0 {
            out.push(if t % gop_ms == 0 { key(ts, video) } else { inter(ts, video) });
        }
        out.push(aac(ts, audio));
        t += 20;
    }
    out
}
