//! FOURCC codec identifiers (Enhanced RTMP v1 "ExVideoTagHeader", v2 "Enhanced Audio" /
//! "Enhanced Video").

use std::fmt;

/// A four-character code, "encoded as UI32" (E-RTMP v2 "Simple Data Types"), that names the
/// codec of an enhanced audio or video track. Unknown codes are kept as they are so the
/// server can relay codecs it does not know.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    /// `avc1`: H.264 / AVC (E-RTMP v2 `VideoFourCc.Avc`).
    pub const AVC: FourCc = FourCc(*b"avc1");
    /// `hvc1`: H.265 / HEVC (`VideoFourCc.Hevc`).
    pub const HEVC: FourCc = FourCc(*b"hvc1");
    /// `vvc1`: H.266 / VVC (`VideoFourCc.Vvc`).
    pub const VVC: FourCc = FourCc(*b"vvc1");
    /// `av01`: AV1 (`VideoFourCc.Av1`).
    pub const AV1: FourCc = FourCc(*b"av01");
    /// `vp09`: VP9 (`VideoFourCc.Vp9`).
    pub const VP9: FourCc = FourCc(*b"vp09");
    /// `vp08`: VP8 (`VideoFourCc.Vp8`).
    pub const VP8: FourCc = FourCc(*b"vp08");
    /// `Opus` (`AudioFourCc.Opus`).
    pub const OPUS: FourCc = FourCc(*b"Opus");
    /// `fLaC`: FLAC (`AudioFourCc.Flac`).
    pub const FLAC: FourCc = FourCc(*b"fLaC");
    /// `ac-3`: AC-3 (`AudioFourCc.Ac3`).
    pub const AC3: FourCc = FourCc(*b"ac-3");
    /// `ec-3`: E-AC-3 (`AudioFourCc.Eac3`).
    pub const EAC3: FourCc = FourCc(*b"ec-3");
    /// `mp4a`: AAC (`AudioFourCc.Aac`).
    pub const AAC: FourCc = FourCc(*b"mp4a");
    /// `.mp3`: MP3 (`AudioFourCc.Mp3`).
    pub const MP3: FourCc = FourCc(*b".mp3");

    /// Whether coded frames of this codec carry an SI24 composition time offset after
    /// the header (E-RTMP v2 "ExVideoTagBody": `CodedFrames` of AVC, HEVC and VVC).
    pub fn has_composition_time(self) -> bool {
        matches!(self, FourCc::AVC | FourCc::HEVC | FourCc::VVC)
    }
}

impl fmt::Display for FourCc {
    /// The four characters, with non-printable bytes escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FourCc(\"{self}\")")
    }
}

impl From<[u8; 4]> for FourCc {
    fn from(b: [u8; 4]) -> Self {
        FourCc(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_escapes_unprintable() {
        assert_eq!(FourCc::AVC.to_string(), "avc1");
        assert_eq!(FourCc::MP3.to_string(), ".mp3");
        assert_eq!(FourCc([0, b'a', 0xff, b' ']).to_string(), "\\x00a\\xff ");
        assert_eq!(format!("{:?}", FourCc::OPUS), "FourCc(\"Opus\")");
    }

    #[test]
    fn composition_time_only_for_nal_codecs() {
        assert!(FourCc::AVC.has_composition_time());
        assert!(FourCc::HEVC.has_composition_time());
        assert!(FourCc::VVC.has_composition_time());
        assert!(!FourCc::AV1.has_composition_time());
        assert!(!FourCc::VP9.has_composition_time());
    }
}
