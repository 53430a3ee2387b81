//! onMetaData for a WHIP publication: a WebRTC sender sends no script data, so the
//! session makes one from what the assembler learnt (picture size, frame rate), as an
//! encoder's onMetaData would say it; the hub enriches it with the codecs.

use openrtmp_amf::{Amf0Value, AmfObject};
use openrtmp_media::ScriptData;
use openrtmp_webrtc::media::VideoInfo;

use crate::connection::publishing::Publishing;

/// Sends onMetaData when the picture size is new or the frame rate is first measured
/// (not at every wobble of the measured rate: each change goes to every viewer).
pub(super) fn metadata(p: &mut Publishing, sent: &mut Option<(u32, u32, bool)>, info: &VideoInfo) {
    let now = (info.width, info.height, info.fps.is_some());
    if *sent == Some(now) {
        return;
    }
    *sent = Some(now);
    p.metadata(0, script(info.width, info.height, info.fps));
}

fn script(width: u32, height: u32, fps: Option<f64>) -> ScriptData {
    let mut entries = AmfObject::new();
    entries.push("width", Amf0Value::Number(f64::from(width)));
    entries.push("height", Amf0Value::Number(f64::from(height)));
    if let Some(fps) = fps {
        entries.push("framerate", Amf0Value::Number((fps * 100.0).round() / 100.0));
    }
    entries.push("encoder", Amf0Value::String("WebRTC (WHIP)".into()));
    let count = entries.len() as u32;
    ScriptData::new("onMetaData", vec![Amf0Value::EcmaArray { count, entries }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_says_size_and_rate() {
        let s = script(1280, 720, Some(30.0));
        assert!(s.is_on_meta_data());
        let m = s.metadata().expect("an object");
        assert_eq!(m.get("width"), Some(&Amf0Value::Number(1280.0)));
        assert_eq!(m.get("height"), Some(&Amf0Value::Number(720.0)));
        assert_eq!(m.get("framerate"), Some(&Amf0Value::Number(30.0)));
    }
}
