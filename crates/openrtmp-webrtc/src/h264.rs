//! H.264 from WebRTC to FLV: str0m depacketizes an access unit into Annex B (start codes,
//! ITU-T H.264 Annex B), FLV and RTMP carry AVC as an AVCDecoderConfigurationRecord
//! (ISO/IEC 14496-15 §5.3.3.1) in a sequence header tag plus length-prefixed NAL units
//! (FLV 10.1 §E.4.3.1, AVCPacketType 0 and 1).
//!
//! Chrome (OpenH264) and OBS send SPS and PPS in-band before every IDR; [`AvcConverter`]
//! lifts them into a sequence header (a new one whenever they change, e.g. on a resolution
//! change) and strips them, and the access unit delimiters, from the frames. SEI is kept.
//! Composition time is always 0: RTP carries no CTS, and WebRTC senders do not use
//! B-frames (a sender that did would need POC parsing, which is not done).

use bytes::{BufMut, Bytes, BytesMut};
use h264_reader::nal::sps::{ChromaFormat, SeqParameterSet};
use h264_reader::nal::{Nal, RefNal};

use crate::WebrtcError;

/// `nal_unit_type` values (H.264 Table 7-1) this module acts on.
pub mod nal_type {
    /// Coded slice of a non-IDR picture.
    pub const SLICE: u8 = 1;
    /// Coded slice of an IDR picture: a random access point.
    pub const IDR: u8 = 5;
    /// Supplemental enhancement information (kept in frames).
    pub const SEI: u8 = 6;
    /// Sequence parameter set (goes into the sequence header).
    pub const SPS: u8 = 7;
    /// Picture parameter set (goes into the sequence header).
    pub const PPS: u8 = 8;
    /// Access unit delimiter (dropped: FLV frames are already delimited).
    pub const AUD: u8 = 9;
}

/// FLV VideoTagHeader first byte: FrameType 1 (key frame) | CodecID 7 (AVC).
const KEY_AVC: u8 = 0x17;
/// FLV VideoTagHeader first byte: FrameType 2 (inter frame) | CodecID 7 (AVC).
const INTER_AVC: u8 = 0x27;
/// AVCPacketType 0: sequence header; 1: NALUs.
const AVC_SEQUENCE_HEADER: u8 = 0x00;
const AVC_NALU: u8 = 0x01;
/// Profiles whose record carries the chroma format / bit depth tail (ISO/IEC 14496-15
/// §5.3.3.1.1: `if (AVCProfileIndication == 100 || 110 || 122 || 144)`; 144 was retired
/// and 244, High 4:4:4 Predictive, replaced it, which is what FFmpeg writes the tail for).
const HIGH_PROFILES: [u8; 5] = [100, 110, 122, 144, 244];

/// The `nal_unit_type` of a NAL unit (the low 5 bits of its header byte); `None` for an
/// empty one.
pub fn nal_unit_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| b & 0x1f)
}

/// The NAL units of an Annex B byte stream, without their start codes (3 or 4 bytes) and
/// without trailing zero bytes (`trailing_zero_8bits`). Bytes before the first start code
/// count as a NAL unit, so a stream that has none yields itself. Empty units are skipped.
pub fn split_annex_b(data: &[u8]) -> AnnexB<'_> {
    AnnexB { rest: data }
}

/// Iterator of [`split_annex_b`].
#[derive(Debug, Clone)]
pub struct AnnexB<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for AnnexB<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (nal, rest) = match find_start_code(self.rest) {
                Some((at, len)) => {
                    let (nal, tail) = self.rest.split_at(at);
                    (nal, tail.get(len..).unwrap_or_default())
                }
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            let nal = trim_trailing_zeros(nal);
            if !nal.is_empty() {
                return Some(nal);
            }
        }
    }
}

/// The position and length (3) of the first `00 00 01`. A 4-byte start code's leading zero
/// stays with the NAL before it and is trimmed as a trailing zero.
fn find_start_code(data: &[u8]) -> Option<(usize, usize)> {
    data.windows(3).position(|w| w == [0, 0, 1]).map(|at| (at, 3))
}

fn trim_trailing_zeros(nal: &[u8]) -> &[u8] {
    let end = nal.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    nal.get(..end).unwrap_or_default()
}

/// The fields of an SPS the configuration record and the stream metadata need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    /// `profile_idc`.
    pub profile_idc: u8,
    /// The constraint_set flags byte (`profile_compatibility` in the record).
    pub constraints: u8,
    /// `level_idc`.
    pub level_idc: u8,
    /// `chroma_format_idc` (1 = 4:2:0 unless a high profile says otherwise).
    pub chroma_format_idc: u8,
    /// `bit_depth_luma_minus8`.
    pub bit_depth_luma_minus8: u8,
    /// `bit_depth_chroma_minus8`.
    pub bit_depth_chroma_minus8: u8,
    /// Displayed size: coded size with the frame cropping applied.
    pub width: u32,
    /// See `width`.
    pub height: u32,
}

impl SpsInfo {
    /// Parses an SPS NAL unit (with its header byte, emulation prevention still in).
    pub fn parse(sps: &[u8]) -> Result<Self, WebrtcError> {
        if nal_unit_type(sps) != Some(nal_type::SPS) {
            return Err(WebrtcError::Media(format!(
                "not an SPS: nal_unit_type {:?}",
                nal_unit_type(sps)
            )));
        }
        let bad = |e: &dyn std::fmt::Debug| WebrtcError::Media(format!("bad SPS: {e:?}"));
        let parsed = SeqParameterSet::from_bits(RefNal::new(sps, &[], true).rbsp_bits())
            .map_err(|e| bad(&e))?;
        let (width, height) = parsed.pixel_dimensions().map_err(|e| bad(&e))?;
        let chroma = &parsed.chroma_info;
        let chroma_format_idc = match chroma.chroma_format {
            ChromaFormat::Monochrome => 0,
            ChromaFormat::YUV420 => 1,
            ChromaFormat::YUV422 => 2,
            ChromaFormat::YUV444 => 3,
            ChromaFormat::Invalid(v) => return Err(bad(&format!("chroma_format_idc {v}"))),
        };
        Ok(SpsInfo {
            profile_idc: parsed.profile_idc.into(),
            constraints: parsed.constraint_flags.into(),
            level_idc: parsed.level_idc,
            chroma_format_idc,
            bit_depth_luma_minus8: chroma.bit_depth_luma_minus8,
            bit_depth_chroma_minus8: chroma.bit_depth_chroma_minus8,
            width,
            height,
        })
    }
}

/// Builds an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1) with
/// `lengthSizeMinusOne` 3 (4-byte NAL lengths, what [`frame_tag`] writes) from one SPS and
/// its PPS list. High profiles get the chroma format / bit depth tail with no SPS extensions.
pub fn decoder_configuration_record(sps: &[u8], pps: &[Bytes]) -> Result<Bytes, WebrtcError> {
    let info = SpsInfo::parse(sps)?;
    let too_long = |what: &str, len: usize| WebrtcError::Media(format!("{what} of {len} bytes"));
    let sps_len = u16::try_from(sps.len()).map_err(|_| too_long("SPS", sps.len()))?;
    let pps_count = u8::try_from(pps.len()).map_err(|_| too_long("PPS list", pps.len()))?;
    let mut out =
        BytesMut::with_capacity(16 + sps.len() + pps.iter().map(|p| p.len() + 2).sum::<usize>());
    // configurationVersion, AVCProfileIndication, profile_compatibility, AVCLevelIndication.
    out.put_slice(&[1, info.profile_idc, info.constraints, info.level_idc]);
    // reserved '111111' + lengthSizeMinusOne 3; reserved '111' + numOfSequenceParameterSets 1.
    out.put_slice(&[0xFC | 3, 0xE0 | 1]);
    out.put_u16(sps_len);
    out.put_slice(sps);
    out.put_u8(pps_count);
    for p in pps {
        out.put_u16(u16::try_from(p.len()).map_err(|_| too_long("PPS", p.len()))?);
        out.put_slice(p);
    }
    if HIGH_PROFILES.contains(&info.profile_idc) {
        out.put_slice(&[
            0xFC | info.chroma_format_idc,
            0xF8 | (info.bit_depth_luma_minus8 & 0x07),
            0xF8 | (info.bit_depth_chroma_minus8 & 0x07),
            0, // numOfSequenceParameterSetExt
        ]);
    }
    Ok(out.freeze())
}

/// The FLV video tag body of an AVC sequence header: `0x17 0x00`, CompositionTime 0, record.
pub fn sequence_header_tag(record: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + record.len());
    out.put_slice(&[KEY_AVC, AVC_SEQUENCE_HEADER, 0, 0, 0]);
    out.put_slice(record);
    out.freeze()
}

/// The FLV video tag body of a coded frame: `0x17` (key) or `0x27`, `0x01`, CompositionTime
/// 0, then each NAL unit as a u32 big-endian length and the unit.
pub fn frame_tag<'a>(keyframe: bool, nals: impl IntoIterator<Item = &'a [u8]> + Clone) -> Bytes {
    let size: usize = nals.clone().into_iter().map(|n| 4 + n.len()).sum();
    let mut out = BytesMut::with_capacity(5 + size);
    out.put_slice(&[if keyframe { KEY_AVC } else { INTER_AVC }, AVC_NALU, 0, 0, 0]);
    for nal in nals {
        // A NAL unit inside one RTP access unit is far below 4 GiB; saturate rather than
        // wrap if it ever were not.
        out.put_u32(u32::try_from(nal.len()).unwrap_or(u32::MAX));
        out.put_slice(nal);
    }
    out.freeze()
}

/// What one access unit became.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Converted {
    /// A new sequence header tag body, when this access unit brought parameter sets that
    /// differ from the current ones. It goes out before `frame`.
    pub sequence_header: Option<Bytes>,
    /// The frame tag body; `None` when nothing but parameter sets and delimiters was left.
    pub frame: Option<Bytes>,
    /// Whether the access unit holds an IDR slice.
    pub keyframe: bool,
}

/// Access units in, sequence headers and frames out. Keeps the parameter sets of the current
/// sequence header, so that a resolution change (new SPS/PPS before an IDR) emits a new one.
#[derive(Debug, Clone, Default)]
pub struct AvcConverter {
    /// The SPS of the current sequence header (empty before the first).
    sps: Bytes,
    /// Its PPS list.
    pps: Vec<Bytes>,
    /// The current sequence header's SPS, decoded.
    info: Option<SpsInfo>,
}

impl AvcConverter {
    /// A converter that has seen no parameter sets yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current SPS, decoded (`None` before the first sequence header).
    pub fn sps_info(&self) -> Option<SpsInfo> {
        self.info
    }

    /// Whether a sequence header has gone out.
    pub fn has_sequence_header(&self) -> bool {
        self.info.is_some()
    }

    /// Converts one Annex B access unit. An error (a broken SPS) leaves the converter's
    /// parameter sets as they were; the caller drops the unit and waits for the next IDR.
    pub fn push(&mut self, access_unit: &[u8]) -> Result<Converted, WebrtcError> {
        let mut new_sps: Option<&[u8]> = None;
        let mut new_pps: Vec<Bytes> = Vec::new();
        let mut keyframe = false;
        let mut kept: Vec<&[u8]> = Vec::new();
        for nal in split_annex_b(access_unit) {
            match nal_unit_type(nal) {
                Some(nal_type::SPS) => new_sps = Some(nal),
                Some(nal_type::PPS) if !new_pps.iter().any(|p| p.as_ref() == nal) => {
                    new_pps.push(Bytes::copy_from_slice(nal));
                }
                Some(nal_type::PPS | nal_type::AUD) => {}
                Some(t) => {
                    keyframe |= t == nal_type::IDR;
                    kept.push(nal);
                }
                None => {}
            }
        }
        let mut sequence_header = None;
        if new_sps.is_some() || !new_pps.is_empty() {
            let sps = new_sps.unwrap_or(&self.sps);
            let pps = if new_pps.is_empty() { self.pps.clone() } else { new_pps };
            let changed = sps != self.sps.as_ref() || pps != self.pps;
            if changed && !sps.is_empty() && !pps.is_empty() {
                let record = decoder_configuration_record(sps, &pps)?;
                self.info = Some(SpsInfo::parse(sps)?);
                self.sps = Bytes::copy_from_slice(sps);
                self.pps = pps;
                sequence_header = Some(sequence_header_tag(&record));
            }
        }
        let frame = (!kept.is_empty()).then(|| frame_tag(keyframe, kept.iter().copied()));
        Ok(Converted { sequence_header, frame, keyframe })
    }
}

#[cfg(test)]
pub(crate) mod tests;
