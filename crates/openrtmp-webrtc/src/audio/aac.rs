//! A live AAC-LC encoder on top of `rusty_aac`, which only encodes whole clips.
//!
//! `rusty_aac::AacEncoder` buffers all PCM and encodes on `finish()` (frames in parallel,
//! on threads, once there are 16 or more). Its frames are independent of each other by
//! design: frame `b` is a pure function of blocks `b-1` and `b` (the MDCT overlap), of the
//! window sequence of `b`, and of a fixed per-frame bit budget (no bit reservoir). The
//! window sequence of `b` depends on the transient flags of blocks `b-2..=b+2`. So a short
//! clip of blocks `b-HISTORY .. b+BATCH+LOOKAHEAD` encodes frames `b .. b+BATCH` exactly as
//! a whole-stream encode would (up to the transient detector's level floor, which is taken
//! from the clip: a live stream gets a floor that follows its recent level). That clip has
//! fewer than 16 blocks, so `rusty_aac` stays on the calling thread.
//!
//! The cost is encoding `HISTORY + BATCH + LOOKAHEAD + 1` frames for `BATCH` frames, and
//! `(BATCH + LOOKAHEAD)` blocks of delay between PCM in and AAC out (about 128 ms).

use bytes::Bytes;
use rusty_aac::{AacEncoder, AacEncoderConfig};

use super::{AacFrame, CHANNELS, SAMPLE_RATE};

/// Samples per AAC-LC frame (and per MDCT block).
pub(crate) const FRAME_LEN: usize = 1024;
/// Blocks before the first frame of a batch: one for the MDCT overlap, two for the
/// transient flags that decide a LongStop window.
const HISTORY: usize = 3;
/// Frames emitted per encode call: 4 × 21.3 ms. Fewer costs more CPU per frame (the
/// history and lookahead are re-encoded each batch); more adds delay.
const BATCH: usize = 4;
/// Blocks after the last frame of a batch whose transient flags decide a LongStart.
const LOOKAHEAD: usize = 2;
/// Blocks one encode call reads.
const WINDOW: usize = HISTORY + BATCH + LOOKAHEAD;

/// One timeline of AAC frames: PCM in from `origin` (48 kHz samples on the stream's clock),
/// raw AUs out. Frame `b` of `rusty_aac` decodes to block `b-1` (one frame of encoder
/// delay, measured with FFmpeg in the quality test), so frame `b` gets the pts
/// `origin + (b-1)·1024` and frame 0 (the priming frame) `origin − 1024`.
#[derive(Debug)]
pub(crate) struct AacTimeline {
    bitrate_bps: u32,
    origin: u64,
    /// Planar PCM of blocks `next_frame − HISTORY ..` (zeros before the timeline starts).
    left: Vec<f32>,
    right: Vec<f32>,
    /// The next frame to emit.
    next_frame: u64,
}

impl AacTimeline {
    pub(crate) fn new(bitrate_bps: u32, origin: u64) -> Self {
        let zeros = vec![0.0; HISTORY * FRAME_LEN];
        Self { bitrate_bps, origin, left: zeros.clone(), right: zeros, next_frame: 0 }
    }

    /// The pts of the first sample the next pushed sample will have.
    pub(crate) fn end_pts(&self) -> u64 {
        let buffered = (self.left.len() - HISTORY * FRAME_LEN) as u64;
        self.origin + self.next_frame * FRAME_LEN as u64 + buffered
    }

    /// Appends interleaved stereo PCM and emits every frame that has its lookahead.
    pub(crate) fn push_interleaved(
        &mut self,
        pcm: &[f32],
        cache: &mut SilentAu,
        out: &mut Vec<AacFrame>,
    ) {
        for pair in pcm.chunks_exact(CHANNELS) {
            if let [l, r] = pair {
                self.left.push(*l);
                self.right.push(*r);
            }
        }
        self.drain(cache, out);
    }

    /// Appends `n` samples of digital silence.
    pub(crate) fn push_zeros(&mut self, mut n: u64, cache: &mut SilentAu, out: &mut Vec<AacFrame>) {
        // In slices of a batch so the buffer stays bounded whatever `n` is.
        while n > 0 {
            let step = n.min((BATCH * FRAME_LEN) as u64);
            let len = self.left.len() + step as usize;
            self.left.resize(len, 0.0);
            self.right.resize(len, 0.0);
            self.drain(cache, out);
            n -= step;
        }
    }

    /// Ends the timeline: pads with silence and emits the frames that carry the pushed
    /// samples (through the one that decodes to the last partial block).
    pub(crate) fn finish(mut self, cache: &mut SilentAu, out: &mut Vec<AacFrame>) {
        let pushed = self.end_pts() - self.origin;
        // Frame b decodes to block b−1: the last block with samples needs frame `last + 1`.
        let last_frame = pushed.div_ceil(FRAME_LEN as u64);
        let start = out.len();
        while self.next_frame <= last_frame {
            let len = WINDOW * FRAME_LEN;
            if self.left.len() < len {
                self.left.resize(len, 0.0);
                self.right.resize(len, 0.0);
            }
            self.drain(cache, out);
        }
        let keep =
            out[start..].iter().take_while(|f| f.pts < self.frame_pts(last_frame + 1)).count();
        out.truncate(start + keep);
    }

    fn frame_pts(&self, frame: u64) -> u64 {
        (self.origin + frame * FRAME_LEN as u64).wrapping_sub(FRAME_LEN as u64)
    }

    fn drain(&mut self, cache: &mut SilentAu, out: &mut Vec<AacFrame>) {
        while self.left.len() >= WINDOW * FRAME_LEN {
            let window = ..WINDOW * FRAME_LEN;
            let silent = self.left[window].iter().chain(&self.right[window]).all(|s| *s == 0.0);
            let aus = if silent {
                let au = cache.get(self.bitrate_bps);
                vec![au; BATCH]
            } else {
                encode_batch(self.bitrate_bps, &self.left[window], &self.right[window])
            };
            for au in aus {
                let frame = self.next_frame;
                self.next_frame += 1;
                // The priming frame of a timeline that starts before 1024 has no pts.
                if frame == 0 && self.origin < FRAME_LEN as u64 {
                    continue;
                }
                out.push(AacFrame { pts: self.frame_pts(frame), data: au });
            }
            self.left.drain(..BATCH * FRAME_LEN);
            self.right.drain(..BATCH * FRAME_LEN);
        }
    }
}

/// Encodes one window and returns its middle `BATCH` frames.
fn encode_batch(bitrate_bps: u32, left: &[f32], right: &[f32]) -> Vec<Bytes> {
    let mut enc = AacEncoder::new(AacEncoderConfig { bitrate_bps, ..AacEncoderConfig::default() });
    // Two channels at 48 kHz are always accepted: the only errors are other layouts/rates.
    if enc.push_pcm_planar(&[left, right], SAMPLE_RATE).is_err() {
        return vec![Bytes::new(); BATCH];
    }
    enc.finish();
    let mut aus = Vec::with_capacity(BATCH);
    let mut index = 0;
    while let Ok(packet) = enc.next_packet() {
        if (HISTORY..HISTORY + BATCH).contains(&index) {
            aus.push(Bytes::from(packet.data));
        }
        index += 1;
    }
    aus
}

/// The AU of a frame whose window is all digital silence, encoded once per bitrate and
/// reused: a stream without a microphone costs no encoding.
#[derive(Debug, Default)]
pub(crate) struct SilentAu {
    au: Option<(u32, Bytes)>,
}

impl SilentAu {
    pub(crate) fn get(&mut self, bitrate_bps: u32) -> Bytes {
        match &self.au {
            Some((rate, au)) if *rate == bitrate_bps => au.clone(),
            _ => {
                let zeros = vec![0.0; WINDOW * FRAME_LEN];
                let au = encode_batch(bitrate_bps, &zeros, &zeros)
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                self.au = Some((bitrate_bps, au.clone()));
                au
            }
        }
    }
}
