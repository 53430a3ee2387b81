//! Script data (FLV 10.1 §E.4.4.1 SCRIPTDATA, §E.5 onMetaData): the AMF0 data messages
//! of RTMP (message type 18) and FLV tag type 18, and the `@setDataFrame` wrapper that
//! publishers put in front of `onMetaData`.
//!
//! A publisher sends `"@setDataFrame", "onMetaData", {...}`; the server stores and relays
//! `"onMetaData", {...}`, which is also what an FLV file holds.

use bytes::{Bytes, BytesMut};
use openrtmp_amf::{amf0, Amf0Value, AmfObject, Limits};

use crate::{AudioInfo, MediaError, VideoInfo};

/// The handler name that asks the server to store a data frame for later subscribers.
pub const SET_DATA_FRAME: &str = "@setDataFrame";
/// The name of the stream metadata data frame (§E.5).
pub const ON_META_DATA: &str = "onMetaData";

/// `"@setDataFrame"` as an AMF0 string (§2.4): marker 0x02, UI16 length 13, the text.
const SET_DATA_FRAME_AMF0: [u8; 16] = [
    0x02, 0x00, 0x0d, b'@', b's', b'e', b't', b'D', b'a', b't', b'a', b'F', b'r', b'a', b'm', b'e',
];

/// A decoded data message: a name (the method or object name, §E.4.4.1) and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptData {
    /// The name, e.g. `"onMetaData"` or `"@setDataFrame"`.
    pub name: String,
    /// The values after the name (for onMetaData, one ECMA array or object).
    pub values: Vec<Amf0Value>,
}

impl ScriptData {
    /// A data message from its parts.
    pub fn new(name: impl Into<String>, values: Vec<Amf0Value>) -> Self {
        ScriptData { name: name.into(), values }
    }

    /// Decodes an AMF0 payload with the default AMF [`Limits`].
    pub fn parse(payload: &[u8]) -> Result<Self, MediaError> {
        Self::parse_with_limits(payload, &Limits::default())
    }

    /// Decodes an AMF0 payload; the first value must be a string.
    pub fn parse_with_limits(payload: &[u8], limits: &Limits) -> Result<Self, MediaError> {
        let mut values = amf0::decode_all(payload, limits)?.into_iter();
        let name = match values.next() {
            Some(Amf0Value::String(s) | Amf0Value::LongString(s)) => s,
            Some(_) => {
                return Err(MediaError::InvalidScriptData { reason: "the name is not a string" })
            }
            None => return Err(MediaError::InvalidScriptData { reason: "empty payload" }),
        };
        Ok(ScriptData { name, values: values.collect() })
    }

    /// Appends the AMF0 encoding: the name, then the values.
    pub fn encode(&self, out: &mut BytesMut) {
        amf0::encode(&Amf0Value::string(self.name.as_str()), out);
        amf0::encode_all(&self.values, out);
    }

    /// The AMF0 encoding as `Bytes`.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }

    /// Whether the name is `@setDataFrame`.
    pub fn is_set_data_frame(&self) -> bool {
        self.name == SET_DATA_FRAME
    }

    /// Whether the name is `onMetaData`.
    pub fn is_on_meta_data(&self) -> bool {
        self.name == ON_META_DATA
    }

    /// Removes an `@setDataFrame` wrapper: `"@setDataFrame", "onMetaData", {..}` becomes
    /// `"onMetaData", {..}`. Anything else is returned unchanged.
    pub fn strip_set_data_frame(self) -> Self {
        if !self.is_set_data_frame() || self.values.first().and_then(|v| v.as_str()).is_none() {
            return self;
        }
        let mut values = self.values.into_iter();
        let name = values.next().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        ScriptData { name, values: values.collect() }
    }

    /// Wraps in `@setDataFrame` (the reverse of [`ScriptData::strip_set_data_frame`]), as a
    /// publisher sends it. An already wrapped message is returned unchanged.
    pub fn add_set_data_frame(self) -> Self {
        if self.is_set_data_frame() {
            return self;
        }
        let mut values = Vec::with_capacity(self.values.len() + 1);
        values.push(Amf0Value::string(self.name));
        values.extend(self.values);
        ScriptData { name: SET_DATA_FRAME.into(), values }
    }

    /// The properties of onMetaData: the first object-like value (ECMA array, object or
    /// typed object) when the name is `onMetaData`.
    pub fn metadata(&self) -> Option<&AmfObject> {
        if !self.is_on_meta_data() {
            return None;
        }
        self.values.iter().find_map(Amf0Value::as_object)
    }

    /// The metadata with what a server learnt from the stream added (FLV 10.1 §E.5
    /// onMetaData properties): `server` set to `server` (replacing any; nothing when
    /// empty), and `width`, `height` (from `video`), `audiosamplerate` and
    /// `audiochannels` (from `audio`) where the encoder left them out. An encoder's own
    /// values win: it may scale or resample after the sequence header was written.
    ///
    /// The properties go into the first object or ECMA array among the values; a message
    /// without one is returned unchanged. An ECMA array's declared count is kept in step
    /// when it matched its entries.
    pub fn with_stream_info(
        &self,
        server: &str,
        video: Option<&VideoInfo>,
        audio: Option<&AudioInfo>,
    ) -> ScriptData {
        let mut data = self.clone();
        let Some((obj, count)) = data.values.iter_mut().find_map(|v| match v {
            Amf0Value::Object(o) => Some((o, None)),
            Amf0Value::EcmaArray { entries, count } => Some((entries, Some(count))),
            _ => None,
        }) else {
            return data;
        };
        let honest = count.as_ref().is_some_and(|c| usize::try_from(**c).ok() == Some(obj.len()));
        if !server.is_empty() {
            obj.insert("server", Amf0Value::string(server));
        }
        let mut add = |key: &str, value: Option<f64>| {
            if let (None, Some(v)) = (obj.get(key), value) {
                obj.insert(key, Amf0Value::Number(v));
            }
        };
        if let Some(v) = video {
            add("width", v.width.map(f64::from));
            add("height", v.height.map(f64::from));
        }
        if let Some(a) = audio {
            add("audiosamplerate", Some(f64::from(a.sample_rate)));
            add("audiochannels", (a.channels > 0).then_some(f64::from(a.channels)));
        }
        if let (true, Some(count)) = (honest, count) {
            *count = u32::try_from(obj.len()).unwrap_or(u32::MAX);
        }
        data
    }
}

/// Removes a leading AMF0 `"@setDataFrame"` string from a data message payload without
/// decoding the rest; the result is a slice of `payload`. A payload without the wrapper
/// is returned as is (a cheap `Bytes` clone).
pub fn strip_set_data_frame(payload: &Bytes) -> Bytes {
    if payload.starts_with(&SET_DATA_FRAME_AMF0) {
        payload.slice(SET_DATA_FRAME_AMF0.len()..)
    } else {
        payload.clone()
    }
}

/// Prepends the AMF0 `"@setDataFrame"` string to a data message payload (the reverse of
/// [`strip_set_data_frame`]), unless it is already there.
pub fn add_set_data_frame(payload: &[u8]) -> Bytes {
    if payload.starts_with(&SET_DATA_FRAME_AMF0) {
        return Bytes::copy_from_slice(payload);
    }
    let mut out = BytesMut::with_capacity(SET_DATA_FRAME_AMF0.len() + payload.len());
    out.extend_from_slice(&SET_DATA_FRAME_AMF0);
    out.extend_from_slice(payload);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The onMetaData tag of tests/fixtures/h264_aac_ffmpeg5.flv (FFmpeg 5.1).
    fn ffmpeg_metadata() -> Bytes {
        let file: &[u8] = include_bytes!("../tests/fixtures/h264_aac_ffmpeg5.flv");
        Bytes::copy_from_slice(&file[13 + 11..13 + 11 + 268])
    }

    #[test]
    fn ffmpeg_on_meta_data() {
        let payload = ffmpeg_metadata();
        let s = ScriptData::parse(&payload).unwrap();
        assert!(s.is_on_meta_data());
        let meta = s.metadata().unwrap();
        assert_eq!(meta.get("width").and_then(Amf0Value::as_number), Some(320.0));
        assert_eq!(meta.get("height").and_then(Amf0Value::as_number), Some(240.0));
        assert_eq!(meta.get("videocodecid").and_then(Amf0Value::as_number), Some(7.0));
        assert_eq!(s.to_bytes(), payload);
    }

    #[test]
    fn set_data_frame_bytes() {
        let payload = ffmpeg_metadata();
        let wrapped = add_set_data_frame(&payload);
        assert_eq!(&wrapped[..16], &SET_DATA_FRAME_AMF0);
        assert_eq!(add_set_data_frame(&wrapped), wrapped);
        let stripped = strip_set_data_frame(&wrapped);
        assert_eq!(stripped, payload);
        assert_eq!(stripped.as_ptr(), wrapped[16..].as_ptr());
        assert_eq!(strip_set_data_frame(&payload), payload);
        // The golden wrapper is what the AMF encoder writes for the string.
        let mut out = BytesMut::new();
        amf0::encode(&Amf0Value::from(SET_DATA_FRAME), &mut out);
        assert_eq!(&out[..], &SET_DATA_FRAME_AMF0);
    }

    #[test]
    fn set_data_frame_values() {
        let s = ScriptData::parse(&ffmpeg_metadata()).unwrap();
        let wrapped = s.clone().add_set_data_frame();
        assert!(wrapped.is_set_data_frame());
        assert_eq!(wrapped.values[0].as_str(), Some(ON_META_DATA));
        assert_eq!(ScriptData::parse(&wrapped.to_bytes()).unwrap(), wrapped);
        assert_eq!(wrapped.clone().strip_set_data_frame(), s);
        assert_eq!(wrapped.clone().add_set_data_frame(), wrapped);
        assert!(wrapped.metadata().is_none());
        let odd = ScriptData::new(SET_DATA_FRAME, vec![Amf0Value::Null]);
        assert_eq!(odd.clone().strip_set_data_frame(), odd);
    }

    /// Moved from the server's connection driver (`PublishState::enriched_metadata`),
    /// same assertions.
    #[test]
    fn metadata_is_enriched_with_what_the_server_parsed() {
        let encoder_meta = AmfObject::from_pairs([("framerate", Amf0Value::Number(30.0))]);
        let data = ScriptData::new(
            ON_META_DATA,
            vec![Amf0Value::EcmaArray { count: 1, entries: encoder_meta }],
        );
        // A real AVC sequence header (320x240, from an FFmpeg-made FLV).
        let seq = Bytes::from_static(b"\x17\x00\x00\x00\x00\x01B\xc0\r\xff\xe1\x00\x16gB\xc0\r\xda\x05\x07\xec\x04@\x00\x00\x03\x00@\x00\x00\x0c\x83\xc5\n\xa8\x01\x00\x04h\xce\x0f\xc8");
        let video = crate::video_info(&crate::parse_video(&seq).unwrap()).unwrap().unwrap();
        let server = concat!("OpenRTMP ", env!("CARGO_PKG_VERSION"));
        let enriched = data.with_stream_info(server, Some(&video), None);
        let data = ScriptData::parse(&enriched.to_bytes()).unwrap();
        let meta = data.metadata().unwrap();
        assert_eq!(meta.get("width").and_then(Amf0Value::as_number), Some(320.0));
        assert_eq!(meta.get("height").and_then(Amf0Value::as_number), Some(240.0));
        assert_eq!(meta.get("framerate").and_then(Amf0Value::as_number), Some(30.0));
        assert!(meta
            .get("server")
            .and_then(Amf0Value::as_str)
            .is_some_and(|s| s.starts_with("OpenRTMP")));
    }

    #[test]
    fn enrichment_keeps_what_the_encoder_said() {
        let audio =
            AudioInfo { codec: "AAC".into(), sample_rate: 44_100, channels: 0, profile: None };
        let video = VideoInfo {
            codec: "H.264".into(),
            width: Some(1280),
            height: None,
            profile: None,
            level: None,
        };
        let s = ScriptData::parse(&ffmpeg_metadata()).unwrap();
        let before = s.metadata().unwrap().clone();
        let e = s.with_stream_info("", Some(&video), Some(&audio));
        let meta = e.metadata().unwrap();
        // The encoder's width (320) and sample rate stay; no server name when empty.
        for key in ["width", "height", "audiosamplerate", "audiochannels"] {
            assert_eq!(meta.get(key), before.get(key), "{key}");
        }
        assert!(meta.get("server").is_none());
        // An object without those keys: the learnt ones are added, unknown ones skipped
        // (no height, channels 0), and a server name replaces the encoder's.
        let bare = ScriptData::new(
            ON_META_DATA,
            vec![Amf0Value::Object(AmfObject::from_pairs([("server", Amf0Value::from("x"))]))],
        );
        let e = bare.with_stream_info("OpenRTMP", Some(&video), Some(&audio));
        let keys: Vec<&str> = e.metadata().unwrap().iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["server", "width", "audiosamplerate"]);
        assert_eq!(
            e.metadata().unwrap().get("server").and_then(Amf0Value::as_str),
            Some("OpenRTMP")
        );
        // The ECMA array count follows the entries it matched.
        let Amf0Value::EcmaArray { count, entries } = &e_count().values[0] else { panic!() };
        assert_eq!(*count as usize, entries.len());
        // Nothing object-like: unchanged.
        let odd = ScriptData::new(ON_META_DATA, vec![Amf0Value::Null]);
        assert_eq!(odd.with_stream_info("OpenRTMP", Some(&video), None), odd);

        fn e_count() -> ScriptData {
            let arr = Amf0Value::EcmaArray { count: 0, entries: AmfObject::default() };
            ScriptData::new(ON_META_DATA, vec![arr]).with_stream_info("s", None, None)
        }
    }

    #[test]
    fn errors_and_truncation() {
        assert_eq!(
            ScriptData::parse(&[]),
            Err(MediaError::InvalidScriptData { reason: "empty payload" })
        );
        assert!(matches!(ScriptData::parse(&[0x05]), Err(MediaError::InvalidScriptData { .. })));
        let payload = ffmpeg_metadata();
        // 13 bytes is exactly the name string, a valid message without values; after it
        // the AMF decoder decides how lenient to be about a missing ECMA array end, so
        // only check that no prefix panics.
        for n in 1..payload.len() {
            let r = ScriptData::parse(&payload[..n]);
            if n < 13 {
                assert!(r.is_err(), "{n}");
            }
        }
    }
}
