//! The `connect` command (RTMP 1.0 §7.2.1.1) and the Enhanced RTMP v2 capability negotiation
//! ("Enhancing NetConnection connect Command": `fourCcList`, `videoFourCcInfoMap`,
//! `audioFourCcInfoMap`, `capsEx`).

use openrtmp_amf::{Amf0Value, AmfObject};

use super::{CommandError, RawCommand};

/// `capsEx` bit: the peer supports `NetConnection.Connect.ReconnectRequest`.
pub const CAPS_EX_RECONNECT: u32 = 0x01;
/// `capsEx` bit: the peer supports multitrack.
pub const CAPS_EX_MULTITRACK: u32 = 0x02;
/// `capsEx` bit: the peer can parse the ModEx signal.
pub const CAPS_EX_MODEX: u32 = 0x04;

/// `FourCcInfoMask.CanDecode`.
pub const FOURCC_CAN_DECODE: u32 = 0x01;
/// `FourCcInfoMask.CanEncode`.
pub const FOURCC_CAN_ENCODE: u32 = 0x02;
/// `FourCcInfoMask.CanForward`.
pub const FOURCC_CAN_FORWARD: u32 = 0x04;

/// What a peer announced about Enhanced RTMP in its connect command object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnhancedCaps {
    /// `fourCcList` entries (v1 style), e.g. `["hvc1", "av01"]`; `"*"` = any.
    pub fourcc_list: Vec<String>,
    /// `videoFourCcInfoMap`: FourCC (or `"*"`) -> FourCcInfoMask flags.
    pub video_fourcc_info: Vec<(String, u32)>,
    /// `audioFourCcInfoMap`: FourCC (or `"*"`) -> FourCcInfoMask flags.
    pub audio_fourcc_info: Vec<(String, u32)>,
    /// `capsEx` flags (CAPS_EX_*).
    pub caps_ex: u32,
}

impl EnhancedCaps {
    /// Whether the peer announced anything Enhanced RTMP.
    pub fn is_enhanced(&self) -> bool {
        !self.fourcc_list.is_empty()
            || !self.video_fourcc_info.is_empty()
            || !self.audio_fourcc_info.is_empty()
            || self.caps_ex != 0
    }

    /// Whether the peer supports the reconnect request.
    pub fn supports_reconnect(&self) -> bool {
        self.caps_ex & CAPS_EX_RECONNECT != 0
    }

    /// Reads the Enhanced RTMP properties of a connect command object (or `_result` properties).
    pub fn from_object(obj: &AmfObject) -> Self {
        let fourcc_list = match obj.get("fourCcList") {
            Some(Amf0Value::StrictArray(items)) => {
                items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
            }
            _ => Vec::new(),
        };
        let map = |key: &str| -> Vec<(String, u32)> {
            obj.get(key)
                .and_then(Amf0Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.to_owned(), flags(v.as_number()?))))
                        .collect()
                })
                .unwrap_or_default()
        };
        EnhancedCaps {
            fourcc_list,
            video_fourcc_info: map("videoFourCcInfoMap"),
            audio_fourcc_info: map("audioFourCcInfoMap"),
            caps_ex: obj.get("capsEx").and_then(Amf0Value::as_number).map(flags).unwrap_or(0),
        }
    }

    /// Writes these capabilities into `obj` (for a client's connect or a server's `_result`).
    pub fn write_to(&self, obj: &mut AmfObject) {
        if !self.fourcc_list.is_empty() {
            let list = self.fourcc_list.iter().map(|s| Amf0Value::string(s.clone())).collect();
            obj.insert("fourCcList", Amf0Value::StrictArray(list));
        }
        let map = |entries: &[(String, u32)]| {
            Amf0Value::Object(AmfObject::from_pairs(
                entries.iter().map(|(k, v)| (k.clone(), Amf0Value::Number(f64::from(*v)))),
            ))
        };
        if !self.video_fourcc_info.is_empty() {
            obj.insert("videoFourCcInfoMap", map(&self.video_fourcc_info));
        }
        if !self.audio_fourcc_info.is_empty() {
            obj.insert("audioFourCcInfoMap", map(&self.audio_fourcc_info));
        }
        if self.caps_ex != 0 {
            obj.insert("capsEx", Amf0Value::Number(f64::from(self.caps_ex)));
        }
    }

    /// What a relaying server supports: it forwards every codec untouched, understands
    /// multitrack and ModEx, and can ask clients to reconnect.
    pub fn relay_server() -> Self {
        let fourccs = ["avc1", "hvc1", "av01", "vp09", "vp08"];
        let audio = ["Opus", "fLaC", "ac-3", "ec-3", "mp4a", ".mp3"];
        EnhancedCaps {
            fourcc_list: Vec::new(),
            video_fourcc_info: std::iter::once(("*".to_owned(), FOURCC_CAN_FORWARD))
                .chain(fourccs.iter().map(|f| ((*f).to_owned(), FOURCC_CAN_FORWARD)))
                .collect(),
            audio_fourcc_info: std::iter::once(("*".to_owned(), FOURCC_CAN_FORWARD))
                .chain(audio.iter().map(|f| ((*f).to_owned(), FOURCC_CAN_FORWARD)))
                .collect(),
            caps_ex: CAPS_EX_RECONNECT | CAPS_EX_MULTITRACK | CAPS_EX_MODEX,
        }
    }

    /// The server's answer to a client's announcement: only sent to clients that announced
    /// Enhanced RTMP (legacy clients get a legacy `_result`). `fourCcList` is echoed as the
    /// intersection with what we forward (here: everything the client listed).
    pub fn answer(&self, ours: &EnhancedCaps) -> Option<EnhancedCaps> {
        if !self.is_enhanced() {
            return None;
        }
        let mut answer = ours.clone();
        answer.fourcc_list = self.fourcc_list.clone();
        answer.caps_ex = ours.caps_ex & (self.caps_ex | CAPS_EX_MULTITRACK | CAPS_EX_MODEX);
        if answer.caps_ex == 0 {
            answer.caps_ex = ours.caps_ex;
        }
        Some(answer)
    }
}

fn flags(n: f64) -> u32 {
    if n.is_finite() && n >= 0.0 && n <= f64::from(u32::MAX) {
        n as u32
    } else {
        0
    }
}

/// A decoded `connect` command.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectCommand {
    /// Transaction id (always 1 per the spec; echoed whatever it is).
    pub transaction_id: f64,
    /// `app`: the application name (may include a query string, e.g. `live?token=..`).
    pub app: String,
    /// `tcUrl`: the server URL the client connected to.
    pub tc_url: Option<String>,
    /// `flashVer`: the client's identity (e.g. `FMLE/3.0 (compatible; Lavf59.27.100)`).
    pub flash_ver: Option<String>,
    /// `swfUrl`.
    pub swf_url: Option<String>,
    /// `pageUrl`.
    pub page_url: Option<String>,
    /// `type` (OBS sends `nonprivate`).
    pub connect_type: Option<String>,
    /// `objectEncoding`: 0 (AMF0) or 3 (AMF3); echoed in the `_result`.
    pub object_encoding: f64,
    /// Enhanced RTMP capabilities announced.
    pub enhanced: EnhancedCaps,
    /// The whole command object, in wire order.
    pub command_object: AmfObject,
    /// Optional user arguments after the command object.
    pub optional_args: Vec<Amf0Value>,
}

impl ConnectCommand {
    pub(super) fn from_raw(raw: &RawCommand) -> Result<Self, CommandError> {
        let obj = raw.command_object.as_object().cloned().ok_or(CommandError::BadArgument {
            name: raw.name.clone(),
            index: 0,
            what: "command object",
        })?;
        let text = |key: &str| obj.get(key).and_then(Amf0Value::as_str).map(str::to_owned);
        Ok(ConnectCommand {
            transaction_id: raw.transaction_id,
            app: text("app").unwrap_or_default(),
            tc_url: text("tcUrl"),
            flash_ver: text("flashVer").or_else(|| text("flashver")),
            swf_url: text("swfUrl"),
            page_url: text("pageUrl"),
            connect_type: text("type"),
            object_encoding: obj
                .get("objectEncoding")
                .and_then(Amf0Value::as_number)
                .unwrap_or(0.0),
            enhanced: EnhancedCaps::from_object(&obj),
            command_object: obj,
            optional_args: raw.args.clone(),
        })
    }
}
