//! RTMP commands (RTMP 1.0 §7.1.1, §7.2): typed parsing of what clients send, and builders
//! for what servers answer.
//!
//! A command message is an AMF0 sequence `name, transaction id, command object, args...`. Type 17
//! (AMF3 command) carries the same sequence after one leading format byte (0x00), with values
//! that may switch to AMF3 through the avmplus marker (§7.1.1). Unknown commands are not errors:
//! they come back as [`Command::Unknown`].

mod build;
mod connect;
mod status;

pub use build::*;
pub use connect::{
    ConnectCommand, EnhancedCaps, CAPS_EX_MODEX, CAPS_EX_MULTITRACK, CAPS_EX_RECONNECT,
    FOURCC_CAN_DECODE, FOURCC_CAN_ENCODE, FOURCC_CAN_FORWARD,
};
pub use status::{StatusCode, StatusLevel};

use bytes::Bytes;
use openrtmp_amf::{amf0, Amf0Value, AmfError, AmfObject, Limits};
use openrtmp_media::ScriptData;

use crate::message::{Message, MessageType};

/// Errors from parsing a command or data message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The AMF payload could not be decoded.
    #[error("invalid AMF in command: {0}")]
    Amf(#[from] AmfError),
    /// The message is empty or its first value is not a string.
    #[error("command name missing or not a string")]
    MissingName,
    /// The transaction id is missing, not a number, or not finite.
    #[error("command {name:?}: transaction id is missing, not a number or not finite")]
    InvalidTransactionId {
        /// The command name.
        name: String,
    },
    /// A required argument is missing or of the wrong type.
    #[error("command {name:?}: argument {index} ({what}) is missing or has the wrong type")]
    BadArgument {
        /// The command name.
        name: String,
        /// Position after the transaction id (0 = command object).
        index: usize,
        /// What was expected there.
        what: &'static str,
    },
    /// The message type is not a command or data message.
    #[error("message type {0} is not a command or data message")]
    NotACommand(u8),
}

/// A command as decoded, before interpretation: name, transaction id, command object, arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct RawCommand {
    /// Command name (`connect`, `publish`, `_result`, ...).
    pub name: String,
    /// Transaction id; always finite.
    pub transaction_id: f64,
    /// The command object (often `Null`).
    pub command_object: Amf0Value,
    /// Remaining arguments.
    pub args: Vec<Amf0Value>,
}

/// Publishing type of `publish` (§7.2.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishType {
    /// "live": not recorded.
    Live,
    /// "record": recorded, replacing a previous file.
    Record,
    /// "append": recorded, appended to a previous file.
    Append,
}

impl PublishType {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            PublishType::Live => "live",
            PublishType::Record => "record",
            PublishType::Append => "append",
        }
    }

    fn parse(s: Option<&str>) -> Self {
        match s {
            Some(t) if t.eq_ignore_ascii_case("record") => PublishType::Record,
            Some(t) if t.eq_ignore_ascii_case("append") => PublishType::Append,
            // "live", missing, or anything else: live (what every server does).
            _ => PublishType::Live,
        }
    }
}

/// A typed command. Client-to-server commands of §7.2 and the responses a client receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `connect` (§7.2.1.1).
    Connect(Box<ConnectCommand>),
    /// `createStream` (§7.2.1.3).
    CreateStream {
        /// Transaction id.
        transaction_id: f64,
    },
    /// `releaseStream` (FMLE/OBS; not in the spec).
    ReleaseStream {
        /// Transaction id.
        transaction_id: f64,
        /// Stream name as sent (may carry a query string).
        stream_name: String,
    },
    /// `FCPublish` (FMLE/OBS; not in the spec).
    FcPublish {
        /// Transaction id.
        transaction_id: f64,
        /// Stream name as sent.
        stream_name: String,
    },
    /// `FCUnpublish` (FMLE/OBS; not in the spec).
    FcUnpublish {
        /// Transaction id.
        transaction_id: f64,
        /// Stream name as sent.
        stream_name: String,
    },
    /// `publish` (§7.2.2.6).
    Publish {
        /// Transaction id (0 in the spec; clients send other values).
        transaction_id: f64,
        /// Publishing name, possibly with a query string.
        stream_name: String,
        /// live / record / append.
        publish_type: PublishType,
    },
    /// `play` (§7.2.2.1).
    Play {
        /// Transaction id.
        transaction_id: f64,
        /// Stream name, possibly with a query string.
        stream_name: String,
        /// Start: -2 live or recorded (default), -1 live only, >= 0 seconds into a recording.
        start: f64,
        /// Duration: -1 until the end (default), 0 a single frame, > 0 seconds.
        duration: f64,
        /// Whether to flush previous playlists (default true).
        reset: bool,
    },
    /// `play2` (§7.2.2.2).
    Play2 {
        /// Transaction id.
        transaction_id: f64,
        /// The NetStreamPlayOptions object.
        parameters: AmfObject,
    },
    /// `deleteStream` (§7.2.2.3). Sent on the stream being deleted's NetConnection.
    DeleteStream {
        /// Transaction id.
        transaction_id: f64,
        /// The message stream id to delete.
        stream_id: f64,
    },
    /// `closeStream`: stop playing/publishing on the message stream the command arrived on.
    CloseStream {
        /// Transaction id.
        transaction_id: f64,
    },
    /// `receiveAudio` (§7.2.2.4).
    ReceiveAudio {
        /// Whether audio is wanted.
        enabled: bool,
    },
    /// `receiveVideo` (§7.2.2.5).
    ReceiveVideo {
        /// Whether video is wanted.
        enabled: bool,
    },
    /// `seek` (§7.2.2.7).
    Seek {
        /// Transaction id.
        transaction_id: f64,
        /// Target in milliseconds.
        milliseconds: f64,
    },
    /// `pause` (§7.2.2.8).
    Pause {
        /// Transaction id.
        transaction_id: f64,
        /// true to pause, false to resume.
        pause: bool,
        /// Stream time at which the stream was paused or resumed, ms.
        milliseconds: f64,
    },
    /// `getStreamLength` (sent by some Flash-era players before play).
    GetStreamLength {
        /// Transaction id.
        transaction_id: f64,
        /// Stream name.
        stream_name: String,
    },
    /// `_result` (a response; clients receive it).
    Result(RawCommand),
    /// `_error` (a response; clients receive it).
    Error(RawCommand),
    /// `onStatus` with its info object.
    OnStatus {
        /// The info object (level, code, description, ...).
        info: AmfObject,
    },
    /// Anything else (`onBWDone`, `onFCPublish`, `_checkbw`, application calls, ...).
    Unknown(RawCommand),
}

fn decode_values(
    type_id: MessageType,
    payload: &[u8],
    limits: &Limits,
) -> Result<Vec<Amf0Value>, CommandError> {
    let body = match type_id {
        MessageType::COMMAND_AMF0 | MessageType::DATA_AMF0 => payload,
        // §7.1.1/§7.1.2: AMF3 messages start with one format byte (0), then AMF0 values that may
        // switch to AMF3 with the avmplus marker.
        MessageType::COMMAND_AMF3 | MessageType::DATA_AMF3 => match payload.split_first() {
            Some((0, rest)) => rest,
            _ => payload,
        },
        other => return Err(CommandError::NotACommand(other.0)),
    };
    let values = amf0::decode_all(body, limits)?;
    Ok(values.into_iter().map(Amf0Value::into_amf0).collect())
}

impl RawCommand {
    /// Decodes a command message (type 20 or 17).
    pub fn decode(
        type_id: MessageType,
        payload: &[u8],
        limits: &Limits,
    ) -> Result<Self, CommandError> {
        let mut values = decode_values(type_id, payload, limits)?.into_iter();
        let name = take_name(&mut values)?;
        let transaction_id = match values.next() {
            Some(Amf0Value::Number(n)) if n.is_finite() => n,
            // Some clients omit everything after the name for notifications.
            None => 0.0,
            Some(_) => return Err(CommandError::InvalidTransactionId { name }),
        };
        let command_object = values.next().unwrap_or(Amf0Value::Null);
        Ok(RawCommand { name, transaction_id, command_object, args: values.collect() })
    }

    /// Encodes as an AMF0 command payload.
    pub fn encode(&self) -> Bytes {
        let mut out = bytes::BytesMut::new();
        amf0::encode(&Amf0Value::string(self.name.clone()), &mut out);
        amf0::encode(&Amf0Value::Number(self.transaction_id), &mut out);
        amf0::encode(&self.command_object, &mut out);
        amf0::encode_all(&self.args, &mut out);
        out.freeze()
    }

    fn arg(&self, index: usize) -> Option<&Amf0Value> {
        self.args.get(index)
    }

    fn string_arg(&self, index: usize, what: &'static str) -> Result<String, CommandError> {
        match self.arg(index).and_then(Amf0Value::as_str) {
            Some(s) => Ok(s.to_owned()),
            None => {
                Err(CommandError::BadArgument { name: self.name.clone(), index: index + 1, what })
            }
        }
    }

    fn number_arg(&self, index: usize) -> Option<f64> {
        self.arg(index).and_then(Amf0Value::as_number).filter(|n| n.is_finite())
    }

    fn bool_arg(&self, index: usize) -> Option<bool> {
        match self.arg(index)? {
            Amf0Value::Boolean(b) => Some(*b),
            // Some clients send 0/1 numbers for booleans.
            Amf0Value::Number(n) => Some(*n != 0.0),
            _ => None,
        }
    }
}

impl Command {
    /// The command name as on the wire.
    pub fn name(&self) -> &str {
        match self {
            Command::Connect(_) => "connect",
            Command::CreateStream { .. } => "createStream",
            Command::ReleaseStream { .. } => "releaseStream",
            Command::FcPublish { .. } => "FCPublish",
            Command::FcUnpublish { .. } => "FCUnpublish",
            Command::Publish { .. } => "publish",
            Command::Play { .. } => "play",
            Command::Play2 { .. } => "play2",
            Command::DeleteStream { .. } => "deleteStream",
            Command::CloseStream { .. } => "closeStream",
            Command::ReceiveAudio { .. } => "receiveAudio",
            Command::ReceiveVideo { .. } => "receiveVideo",
            Command::Seek { .. } => "seek",
            Command::Pause { .. } => "pause",
            Command::GetStreamLength { .. } => "getStreamLength",
            Command::OnStatus { .. } => "onStatus",
            Command::Result(raw) | Command::Error(raw) | Command::Unknown(raw) => &raw.name,
        }
    }

    /// The transaction id; 0 for commands that carry none in their typed form
    /// (`receiveAudio`, `receiveVideo`, `onStatus`), which expect no answer (§7.2.2.4, §7.2.2.5).
    pub fn transaction_id(&self) -> f64 {
        match self {
            Command::Connect(c) => c.transaction_id,
            Command::CreateStream { transaction_id }
            | Command::ReleaseStream { transaction_id, .. }
            | Command::FcPublish { transaction_id, .. }
            | Command::FcUnpublish { transaction_id, .. }
            | Command::Publish { transaction_id, .. }
            | Command::Play { transaction_id, .. }
            | Command::Play2 { transaction_id, .. }
            | Command::DeleteStream { transaction_id, .. }
            | Command::CloseStream { transaction_id }
            | Command::Seek { transaction_id, .. }
            | Command::Pause { transaction_id, .. }
            | Command::GetStreamLength { transaction_id, .. } => *transaction_id,
            Command::Result(raw) | Command::Error(raw) | Command::Unknown(raw) => {
                raw.transaction_id
            }
            Command::ReceiveAudio { .. }
            | Command::ReceiveVideo { .. }
            | Command::OnStatus { .. } => 0.0,
        }
    }

    /// Parses a command message (type 20 or 17) into a typed command.
    pub fn parse(
        type_id: MessageType,
        payload: &[u8],
        limits: &Limits,
    ) -> Result<Self, CommandError> {
        RawCommand::decode(type_id, payload, limits).and_then(Command::from_raw)
    }

    /// Parses a [`Message`] carrying a command.
    pub fn from_message(msg: &Message, limits: &Limits) -> Result<Self, CommandError> {
        Self::parse(msg.type_id, &msg.payload, limits)
    }

    /// Interprets a raw command.
    pub fn from_raw(raw: RawCommand) -> Result<Self, CommandError> {
        let tid = raw.transaction_id;
        Ok(match raw.name.as_str() {
            "connect" => Command::Connect(Box::new(ConnectCommand::from_raw(&raw)?)),
            "createStream" => Command::CreateStream { transaction_id: tid },
            "releaseStream" => Command::ReleaseStream {
                transaction_id: tid,
                stream_name: raw.string_arg(0, "stream name")?,
            },
            "FCPublish" => Command::FcPublish {
                transaction_id: tid,
                stream_name: raw.string_arg(0, "stream name")?,
            },
            "FCUnpublish" => Command::FcUnpublish {
                transaction_id: tid,
                stream_name: raw.string_arg(0, "stream name").unwrap_or_default(),
            },
            "publish" => Command::Publish {
                transaction_id: tid,
                stream_name: raw.string_arg(0, "publishing name")?,
                publish_type: PublishType::parse(raw.arg(1).and_then(Amf0Value::as_str)),
            },
            "play" => Command::Play {
                transaction_id: tid,
                stream_name: raw.string_arg(0, "stream name")?,
                start: raw.number_arg(1).unwrap_or(-2.0),
                duration: raw.number_arg(2).unwrap_or(-1.0),
                reset: raw.bool_arg(3).unwrap_or(true),
            },
            "play2" => Command::Play2 {
                transaction_id: tid,
                parameters: raw.arg(0).and_then(Amf0Value::as_object).cloned().ok_or(
                    CommandError::BadArgument {
                        name: raw.name.clone(),
                        index: 1,
                        what: "parameters object",
                    },
                )?,
            },
            "deleteStream" => Command::DeleteStream {
                transaction_id: tid,
                stream_id: raw.number_arg(0).ok_or(CommandError::BadArgument {
                    name: raw.name.clone(),
                    index: 1,
                    what: "stream id",
                })?,
            },
            "closeStream" => Command::CloseStream { transaction_id: tid },
            "receiveAudio" => Command::ReceiveAudio { enabled: raw.bool_arg(0).unwrap_or(true) },
            "receiveVideo" => Command::ReceiveVideo { enabled: raw.bool_arg(0).unwrap_or(true) },
            "seek" => Command::Seek {
                transaction_id: tid,
                milliseconds: raw.number_arg(0).unwrap_or(0.0),
            },
            "pause" => Command::Pause {
                transaction_id: tid,
                pause: raw.bool_arg(0).unwrap_or(true),
                milliseconds: raw.number_arg(1).unwrap_or(0.0),
            },
            "getStreamLength" => Command::GetStreamLength {
                transaction_id: tid,
                stream_name: raw.string_arg(0, "stream name").unwrap_or_default(),
            },
            "_result" => Command::Result(raw),
            "_error" => Command::Error(raw),
            "onStatus" => {
                // The info object is normally the first argument after a null command object;
                // some servers put it in the command object slot.
                let info = raw
                    .args
                    .iter()
                    .chain(std::iter::once(&raw.command_object))
                    .find_map(Amf0Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                Command::OnStatus { info }
            }
            _ => Command::Unknown(raw),
        })
    }
}

/// Decodes a data message (type 18, AMF0, or type 15, AMF3, §7.1.2) into the one script-data
/// type the workspace shares with FLV files ([`ScriptData`], FLV 10.1 §E.4.4.1). A type 15
/// payload starts with one format byte and may switch values to AMF3 (avmplus marker); the
/// values are converted to their AMF0 form.
pub fn decode_data(
    type_id: MessageType,
    payload: &[u8],
    limits: &Limits,
) -> Result<ScriptData, CommandError> {
    let mut values = decode_values(type_id, payload, limits)?.into_iter();
    let name = take_name(&mut values)?;
    Ok(ScriptData::new(name, values.collect()))
}

/// The first value of a command or data message: its name, a string (§7.1.1, §7.1.2).
fn take_name(values: &mut impl Iterator<Item = Amf0Value>) -> Result<String, CommandError> {
    match values.next() {
        Some(Amf0Value::String(s)) | Some(Amf0Value::LongString(s)) => Ok(s),
        _ => Err(CommandError::MissingName),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openrtmp_amf::amf0;

    fn payload(values: &[Amf0Value]) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        amf0::encode_all(values, &mut out);
        out.to_vec()
    }

    fn parse(values: &[Amf0Value]) -> Result<Command, CommandError> {
        Command::parse(MessageType::COMMAND_AMF0, &payload(values), &Limits::default())
    }

    fn s(v: &str) -> Amf0Value {
        Amf0Value::string(v)
    }

    fn n(v: f64) -> Amf0Value {
        Amf0Value::Number(v)
    }

    #[test]
    fn obs_publish_sequence() {
        // As OBS sends them (librtmp): releaseStream, FCPublish, createStream, publish.
        assert_eq!(
            parse(&[s("releaseStream"), n(2.0), Amf0Value::Null, s("key")]),
            Ok(Command::ReleaseStream { transaction_id: 2.0, stream_name: "key".into() })
        );
        assert_eq!(
            parse(&[s("FCPublish"), n(3.0), Amf0Value::Null, s("key")]),
            Ok(Command::FcPublish { transaction_id: 3.0, stream_name: "key".into() })
        );
        assert_eq!(
            parse(&[s("createStream"), n(4.0), Amf0Value::Null]),
            Ok(Command::CreateStream { transaction_id: 4.0 })
        );
        assert_eq!(
            parse(&[s("publish"), n(5.0), Amf0Value::Null, s("key"), s("live")]),
            Ok(Command::Publish {
                transaction_id: 5.0,
                stream_name: "key".into(),
                publish_type: PublishType::Live
            })
        );
        assert_eq!(
            parse(&[s("publish"), n(5.0), Amf0Value::Null, s("key"), s("append")]).map(
                |c| match c {
                    Command::Publish { publish_type, .. } => publish_type,
                    _ => PublishType::Live,
                }
            ),
            Ok(PublishType::Append)
        );
    }

    #[test]
    fn play_defaults_and_variants() {
        // FFmpeg: play(tid, null, name) with start -2 only when it's live; librtmp sends all.
        assert_eq!(
            parse(&[s("play"), n(4.0), Amf0Value::Null, s("cam")]),
            Ok(Command::Play {
                transaction_id: 4.0,
                stream_name: "cam".into(),
                start: -2.0,
                duration: -1.0,
                reset: true
            })
        );
        assert_eq!(
            parse(&[
                s("play"),
                n(0.0),
                Amf0Value::Null,
                s("cam"),
                n(-1.0),
                n(-1.0),
                Amf0Value::Boolean(false)
            ]),
            Ok(Command::Play {
                transaction_id: 0.0,
                stream_name: "cam".into(),
                start: -1.0,
                duration: -1.0,
                reset: false
            })
        );
        assert_eq!(
            parse(&[s("pause"), n(0.0), Amf0Value::Null, Amf0Value::Boolean(true), n(1234.0)]),
            Ok(Command::Pause { transaction_id: 0.0, pause: true, milliseconds: 1234.0 })
        );
        assert_eq!(
            parse(&[s("deleteStream"), n(0.0), Amf0Value::Null, n(1.0)]),
            Ok(Command::DeleteStream { transaction_id: 0.0, stream_id: 1.0 })
        );
        assert_eq!(
            parse(&[s("receiveVideo"), n(0.0), Amf0Value::Null, Amf0Value::Boolean(false)]),
            Ok(Command::ReceiveVideo { enabled: false })
        );
        assert_eq!(
            parse(&[s("closeStream"), n(0.0), Amf0Value::Null]),
            Ok(Command::CloseStream { transaction_id: 0.0 })
        );
    }

    #[test]
    fn unknown_commands_are_events_not_errors() {
        match parse(&[s("_checkbw"), n(7.0), Amf0Value::Null]) {
            Ok(Command::Unknown(raw)) => {
                assert_eq!((raw.name.as_str(), raw.transaction_id), ("_checkbw", 7.0))
            }
            other => panic!("{other:?}"),
        }
        // A bare notification without transaction id.
        assert!(matches!(parse(&[s("onBWDone")]), Ok(Command::Unknown(_))));
    }

    #[test]
    fn malformed_commands_are_precise_errors() {
        assert_eq!(parse(&[n(1.0)]), Err(CommandError::MissingName));
        assert_eq!(parse(&[]), Err(CommandError::MissingName));
        assert_eq!(
            parse(&[s("connect"), n(f64::NAN), Amf0Value::Null]),
            Err(CommandError::InvalidTransactionId { name: "connect".into() })
        );
        assert_eq!(
            parse(&[s("connect"), n(f64::INFINITY)]),
            Err(CommandError::InvalidTransactionId { name: "connect".into() })
        );
        assert_eq!(
            parse(&[s("publish"), n(5.0), Amf0Value::Null]),
            Err(CommandError::BadArgument {
                name: "publish".into(),
                index: 1,
                what: "publishing name"
            })
        );
        assert_eq!(
            parse(&[s("connect"), n(1.0), Amf0Value::Null]),
            Err(CommandError::BadArgument {
                name: "connect".into(),
                index: 0,
                what: "command object"
            })
        );
        assert!(matches!(
            Command::parse(
                MessageType::COMMAND_AMF0,
                &[0x02, 0x00, 0x05, b'a'],
                &Limits::default()
            ),
            Err(CommandError::Amf(_))
        ));
        assert_eq!(
            Command::parse(MessageType::VIDEO, &[], &Limits::default()),
            Err(CommandError::NotACommand(9))
        );
    }

    #[test]
    fn on_status_info_is_found() {
        let info = build::status_info(StatusCode::PUBLISH_BAD_NAME, Some("in use"));
        match parse(&[s("onStatus"), n(0.0), Amf0Value::Null, Amf0Value::Object(info.clone())]) {
            Ok(Command::OnStatus { info: got }) => assert_eq!(got, info),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn amf3_data_message_decodes_to_script_data() {
        // Type 15 (§7.1.2): a format byte 0, then AMF0 values; the last one switches to AMF3
        // (avmplus marker 0x11, AMF0 §3.1) for an AMF3 integer 5 (AMF3 §3.6: marker 0x04).
        let mut p = vec![0u8];
        p.extend(payload(&[s("onTextData"), s("hello")]));
        p.extend_from_slice(&[0x11, 0x04, 0x05]);
        let data = decode_data(MessageType::DATA_AMF3, &p, &Limits::default()).unwrap();
        assert_eq!(data.name, "onTextData");
        assert_eq!(data.values.len(), 2);
        assert_eq!(data.values[0].as_str(), Some("hello"));
        assert_eq!(data.values[1].as_number(), Some(5.0));
        assert_eq!(
            decode_data(MessageType::DATA_AMF0, &payload(&[n(1.0)]), &Limits::default()),
            Err(CommandError::MissingName)
        );
    }

    #[test]
    fn raw_command_round_trips() {
        let raw = RawCommand {
            name: "myCall".into(),
            transaction_id: 9.0,
            command_object: Amf0Value::Null,
            args: vec![s("a"), n(2.0)],
        };
        assert_eq!(
            RawCommand::decode(MessageType::COMMAND_AMF0, &raw.encode(), &Limits::default()),
            Ok(raw)
        );
    }
}
