//! The start of what a push sends: metadata, sequence headers, then the first video
//! keyframe — no audio before it when the stream has video.
//!
//! The hub starts a subscriber of a stream that has shown no video yet at the head (every
//! audio frame is a sync point there), so a target that connects while the publisher has
//! sent only audio would begin with audio and see video start seconds later. Ingest
//! servers (and the platforms' stream health checks) take that for an audio-only stream.
//! Players may well start that way; a push must not: when the stream declares video
//! (`onMetaData` with a `videocodecid`, or a video sequence header), its audio is held
//! back until the first keyframe has gone out. A stream that declares video but sends
//! none within [`MAX_HELD_AUDIO_MS`] of media is taken for audio-only after all.

use openrtmp_hub::{Frame, FrameKind};
use openrtmp_media::script::ScriptData;

/// Media time of audio held back waiting for the declared video before it is let through.
pub(crate) const MAX_HELD_AUDIO_MS: u32 = 5_000;

/// Which frames of a connection's start are sent (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Lead {
    /// The stream declared video (metadata or a video sequence header).
    expects_video: bool,
    /// A video keyframe went out: everything passes from now on.
    video_started: bool,
    /// Timestamp of the first audio frame held back.
    held_from: Option<u32>,
}

impl Lead {
    /// Whether `frame` is sent.
    pub(crate) fn admits(&mut self, frame: &Frame) -> bool {
        if self.video_started {
            return true;
        }
        match frame.kind {
            FrameKind::Video => {
                self.expects_video = true;
                self.video_started = frame.keyframe && !frame.sequence_header;
                true
            }
            FrameKind::Data => {
                self.expects_video |= declares_video(frame);
                true
            }
            FrameKind::Audio if frame.sequence_header || !self.expects_video => true,
            FrameKind::Audio => {
                let from = *self.held_from.get_or_insert(frame.timestamp);
                if frame.timestamp.wrapping_sub(from) >= MAX_HELD_AUDIO_MS {
                    // No video after all: an audio-only stream with a misleading header.
                    self.expects_video = false;
                    return true;
                }
                false
            }
        }
    }
}

/// Whether `frame` is `onMetaData` naming a video codec.
fn declares_video(frame: &Frame) -> bool {
    let Ok(script) = ScriptData::parse(&frame.payload) else { return false };
    let script = script.strip_set_data_frame();
    script.metadata().and_then(|m| m.get("videocodecid")).is_some_and(|v| {
        v.as_number().is_some_and(|n| n != 0.0) || v.as_str().is_some_and(|s| !s.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use openrtmp_amf::{Amf0Value, AmfObject};

    fn meta(video: bool) -> Frame {
        let mut props = vec![("audiocodecid", Amf0Value::Number(10.0))];
        if video {
            props.push(("videocodecid", Amf0Value::Number(7.0)));
        }
        let script = ScriptData {
            name: "onMetaData".into(),
            values: vec![Amf0Value::EcmaArray { count: 0, entries: AmfObject::from_pairs(props) }],
        };
        Frame::classify(FrameKind::Data, 0, script.to_bytes())
    }

    fn audio(ts: u32) -> Frame {
        Frame::classify(FrameKind::Audio, ts, Bytes::from_static(b"\xaf\x01aac"))
    }

    fn audio_header() -> Frame {
        Frame::classify(FrameKind::Audio, 0, Bytes::from_static(b"\xaf\x00\x12\x10"))
    }

    fn keyframe(ts: u32) -> Frame {
        Frame::classify(FrameKind::Video, ts, Bytes::from_static(b"\x17\x01\0\0\0frame"))
    }

    #[test]
    fn audio_waits_for_the_first_keyframe_of_a_stream_with_video() {
        let mut lead = Lead::default();
        assert!(lead.admits(&meta(true)));
        assert!(lead.admits(&audio_header()), "sequence headers always go");
        assert!(!lead.admits(&audio(0)));
        assert!(!lead.admits(&audio(23)));
        assert!(lead.admits(&keyframe(40)));
        assert!(lead.admits(&audio(46)));
    }

    #[test]
    fn audio_only_streams_pass_at_once_and_false_promises_expire() {
        let mut lead = Lead::default();
        assert!(lead.admits(&meta(false)));
        assert!(lead.admits(&audio(0)));
        let mut lead = Lead::default();
        assert!(lead.admits(&meta(true)));
        assert!(!lead.admits(&audio(1000)));
        assert!(!lead.admits(&audio(1000 + MAX_HELD_AUDIO_MS - 1)));
        assert!(lead.admits(&audio(1000 + MAX_HELD_AUDIO_MS)));
        assert!(lead.admits(&audio(1000 + MAX_HELD_AUDIO_MS + 23)));
    }
}
