//! Builders for command and data message payloads (AMF0), client and server side.
//!
//! Each returns the payload `Bytes`; [`command_message`] / [`data_message`] wrap one in a
//! [`Message`] on the conventional chunk stream.

use bytes::{Bytes, BytesMut};
use openrtmp_amf::{amf0, Amf0Value, AmfObject};

use super::{EnhancedCaps, PublishType, StatusCode};
use crate::message::{csid, Message, MessageType};

/// The `fmsVer` we announce: the version string players and encoders expect from an
/// FMS-compatible server.
pub const FMS_VERSION: &str = "FMS/3,5,7,7009";
/// `capabilities` value of the connect `_result` (as FMS and nginx-rtmp send).
pub const FMS_CAPABILITIES: f64 = 31.0;

fn encode(values: &[Amf0Value]) -> Bytes {
    let mut out = BytesMut::new();
    amf0::encode_all(values, &mut out);
    out.freeze()
}

fn name(s: &str) -> Amf0Value {
    Amf0Value::String(s.to_owned())
}

/// Wraps a command payload in a type-20 message. Stream 0 commands go on the NetConnection
/// chunk stream, others on the NetStream one.
pub fn command_message(stream_id: u32, payload: Bytes) -> Message {
    let csid = if stream_id == 0 { csid::COMMAND } else { csid::STREAM_COMMAND };
    Message { csid, timestamp: 0, type_id: MessageType::COMMAND_AMF0, stream_id, payload }
}

/// Wraps a data payload in a type-18 message on the NetStream chunk stream.
pub fn data_message(stream_id: u32, timestamp: u32, payload: Bytes) -> Message {
    Message {
        csid: csid::STREAM_COMMAND,
        timestamp,
        type_id: MessageType::DATA_AMF0,
        stream_id,
        payload,
    }
}

/// An info object `{level, code, description}` (§7.2.1.1, §7.2.2).
pub fn status_info(code: StatusCode, description: Option<&str>) -> AmfObject {
    AmfObject::from_pairs([
        ("level", name(code.level.as_str())),
        ("code", name(code.code)),
        ("description", Amf0Value::string(description.unwrap_or(code.description))),
    ])
}

/// `onStatus(0, null, info)`.
pub fn on_status(info: AmfObject) -> Bytes {
    encode(&[name("onStatus"), Amf0Value::Number(0.0), Amf0Value::Null, Amf0Value::Object(info)])
}

/// `_result(tid, properties, info)` answering `connect` (§7.2.1.1). `enhanced` adds the
/// Enhanced RTMP v2 capabilities to the properties object.
pub fn connect_result(
    transaction_id: f64,
    object_encoding: f64,
    enhanced: Option<&EnhancedCaps>,
) -> Bytes {
    let mut props = AmfObject::from_pairs([
        ("fmsVer", name(FMS_VERSION)),
        ("capabilities", Amf0Value::Number(FMS_CAPABILITIES)),
        ("mode", Amf0Value::Number(1.0)),
    ]);
    if let Some(caps) = enhanced {
        caps.write_to(&mut props);
    }
    let mut info = status_info(StatusCode::CONNECT_SUCCESS, None);
    info.insert("objectEncoding", Amf0Value::Number(object_encoding));
    encode(&[
        name("_result"),
        Amf0Value::Number(transaction_id),
        Amf0Value::Object(props),
        Amf0Value::Object(info),
    ])
}

/// `_error(tid, null, info)`: a refused command (e.g. `NetConnection.Connect.Rejected`).
pub fn error_response(transaction_id: f64, info: AmfObject) -> Bytes {
    encode(&[
        name("_error"),
        Amf0Value::Number(transaction_id),
        Amf0Value::Null,
        Amf0Value::Object(info),
    ])
}

/// `_result(tid, null, value)`: e.g. createStream's stream id, or `undefined` for
/// releaseStream/FCPublish acknowledgements.
pub fn result(transaction_id: f64, value: Amf0Value) -> Bytes {
    encode(&[name("_result"), Amf0Value::Number(transaction_id), Amf0Value::Null, value])
}

/// `onBWDone(0, null)`: sent after the connect result; FMLE-style encoders wait for it.
pub fn on_bw_done() -> Bytes {
    encode(&[name("onBWDone"), Amf0Value::Number(0.0), Amf0Value::Null])
}

/// `onFCPublish(0, null, {code: NetStream.Publish.Start, description})`; the description is
/// the stream name without its query (which may hold a key).
pub fn on_fc_publish(stream_name: &str) -> Bytes {
    let info = AmfObject::from_pairs([
        ("code", name(StatusCode::PUBLISH_START.code)),
        ("description", Amf0Value::string(without_query(stream_name))),
    ]);
    encode(&[name("onFCPublish"), Amf0Value::Number(0.0), Amf0Value::Null, Amf0Value::Object(info)])
}

/// `onFCUnpublish(0, null, {code: NetStream.Unpublish.Success, description})`; the
/// description is the stream name without its query.
pub fn on_fc_unpublish(stream_name: &str) -> Bytes {
    let info = AmfObject::from_pairs([
        ("code", name(StatusCode::UNPUBLISH_SUCCESS.code)),
        ("description", Amf0Value::string(without_query(stream_name))),
    ]);
    encode(&[
        name("onFCUnpublish"),
        Amf0Value::Number(0.0),
        Amf0Value::Null,
        Amf0Value::Object(info),
    ])
}

/// `|RtmpSampleAccess(true, true)`: lets Flash-based players read the media (data message).
pub fn rtmp_sample_access() -> Bytes {
    encode(&[name("|RtmpSampleAccess"), Amf0Value::Boolean(true), Amf0Value::Boolean(true)])
}

/// Parameters of a client's `connect`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectParams {
    /// `app`.
    pub app: String,
    /// `tcUrl`.
    pub tc_url: String,
    /// `flashVer`.
    pub flash_ver: String,
    /// `type` ("nonprivate" for publishers, as FMLE/OBS send).
    pub connect_type: Option<String>,
    /// Whether to announce playback capabilities (audioCodecs, videoCodecs, ...).
    pub player: bool,
    /// Enhanced RTMP capabilities to announce.
    pub enhanced: Option<EnhancedCaps>,
    /// `openrtmpVia`: the relay chain (comma-separated node ids) of an OpenRTMP relay
    /// connection, so the server can refuse relay loops; other servers ignore it.
    pub via: Option<String>,
}

/// `connect(tid, {app, type, flashVer, tcUrl, ...})` (§7.2.1.1).
pub fn connect(transaction_id: f64, params: &ConnectParams) -> Bytes {
    let mut obj = AmfObject::new();
    obj.push("app", Amf0Value::string(params.app.clone()));
    if let Some(t) = &params.connect_type {
        obj.push("type", Amf0Value::string(t.clone()));
    }
    obj.push("flashVer", Amf0Value::string(params.flash_ver.clone()));
    obj.push("tcUrl", Amf0Value::string(params.tc_url.clone()));
    if params.player {
        obj.push("fpad", Amf0Value::Boolean(false));
        obj.push("capabilities", Amf0Value::Number(15.0));
        obj.push("audioCodecs", Amf0Value::Number(4071.0));
        obj.push("videoCodecs", Amf0Value::Number(252.0));
        obj.push("videoFunction", Amf0Value::Number(1.0));
    }
    if let Some(caps) = &params.enhanced {
        caps.write_to(&mut obj);
    }
    if let Some(via) = &params.via {
        obj.push("openrtmpVia", Amf0Value::string(via.clone()));
    }
    encode(&[name("connect"), Amf0Value::Number(transaction_id), Amf0Value::Object(obj)])
}

/// A command with a null command object and the given arguments: `name(tid, null, args..)`.
pub fn call(command: &str, transaction_id: f64, args: &[Amf0Value]) -> Bytes {
    let mut values = vec![name(command), Amf0Value::Number(transaction_id), Amf0Value::Null];
    values.extend_from_slice(args);
    encode(&values)
}

/// `publish(tid, null, name, type)` (§7.2.2.6).
pub fn publish(transaction_id: f64, stream_name: &str, publish_type: PublishType) -> Bytes {
    call("publish", transaction_id, &[Amf0Value::string(stream_name), name(publish_type.as_str())])
}

/// `play(tid, null, name, start, duration, reset)` (§7.2.2.1).
pub fn play(
    transaction_id: f64,
    stream_name: &str,
    start: f64,
    duration: f64,
    reset: bool,
) -> Bytes {
    call(
        "play",
        transaction_id,
        &[
            Amf0Value::string(stream_name),
            Amf0Value::Number(start),
            Amf0Value::Number(duration),
            Amf0Value::Boolean(reset),
        ],
    )
}

/// `@setDataFrame("onMetaData", metadata)`: how encoders send stream metadata.
pub fn set_data_frame(metadata: AmfObject) -> Bytes {
    encode(&[
        name("@setDataFrame"),
        name("onMetaData"),
        Amf0Value::EcmaArray { count: 0, entries: metadata },
    ])
}

/// A stream name without its query (a key or token: clients and relays log descriptions).
fn without_query(stream_name: &str) -> &str {
    stream_name.split('?').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{decode_data, Command};
    use openrtmp_amf::Limits;

    #[test]
    fn on_status_golden_bytes() {
        // Hand-assembled from AMF0 §2.2, §2.4, §2.5, §2.7: onStatus(0, null, {level, code, description}).
        let info = status_info(StatusCode::PLAY_START, Some("x"));
        let bytes = on_status(info);
        let mut expected = vec![0x02, 0x00, 0x08];
        expected.extend_from_slice(b"onStatus");
        expected.extend_from_slice(&[0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0x03]);
        for (k, v) in [("level", "status"), ("code", "NetStream.Play.Start"), ("description", "x")]
        {
            expected.extend_from_slice(&(k.len() as u16).to_be_bytes());
            expected.extend_from_slice(k.as_bytes());
            expected.push(0x02);
            expected.extend_from_slice(&(v.len() as u16).to_be_bytes());
            expected.extend_from_slice(v.as_bytes());
        }
        expected.extend_from_slice(&[0x00, 0x00, 0x09]);
        assert_eq!(&bytes[..], &expected[..]);
    }

    #[test]
    fn builders_parse_back() {
        let limits = Limits::default();
        let p = publish(5.0, "key?token=1", PublishType::Live);
        assert_eq!(
            Command::parse(MessageType::COMMAND_AMF0, &p, &limits),
            Ok(Command::Publish {
                transaction_id: 5.0,
                stream_name: "key?token=1".into(),
                publish_type: PublishType::Live
            })
        );
        let p = play(4.0, "s", -2.0, -1.0, true);
        assert_eq!(
            Command::parse(MessageType::COMMAND_AMF0, &p, &limits),
            Ok(Command::Play {
                transaction_id: 4.0,
                stream_name: "s".into(),
                start: -2.0,
                duration: -1.0,
                reset: true
            })
        );
        let params = ConnectParams {
            app: "live".into(),
            tc_url: "rtmp://h/live".into(),
            flash_ver: "FMLE/3.0".into(),
            connect_type: Some("nonprivate".into()),
            player: true,
            enhanced: Some(EnhancedCaps::relay_server()),
            via: None,
        };
        match Command::parse(MessageType::COMMAND_AMF0, &connect(1.0, &params), &limits) {
            Ok(Command::Connect(c)) => {
                assert_eq!(c.app, "live");
                assert_eq!(c.tc_url.as_deref(), Some("rtmp://h/live"));
                assert_eq!(c.enhanced, EnhancedCaps::relay_server());
                assert!(c.command_object.get("openrtmpVia").is_none());
            }
            other => panic!("{other:?}"),
        }
        // A relay connection carries its chain.
        let via = ConnectParams { via: Some("00000000000000ab".into()), ..params };
        match Command::parse(MessageType::COMMAND_AMF0, &connect(1.0, &via), &limits) {
            Ok(Command::Connect(c)) => assert_eq!(
                c.command_object.get("openrtmpVia").and_then(|v| v.as_str()),
                Some("00000000000000ab")
            ),
            other => panic!("{other:?}"),
        }
        let m = decode_data(MessageType::DATA_AMF0, &set_data_frame(AmfObject::new()), &limits);
        assert_eq!(m.map(|m| m.strip_set_data_frame().name), Ok("onMetaData".to_owned()));
    }
}
