//! `GET /stat`: the streams in nginx-rtmp's statistics XML (`rtmp_stat all`), so that tools
//! written for nginx-rtmp (NOALBS, XSLT pages, monitoring scripts) work unchanged.
//!
//! The shape follows nginx-rtmp's stat module: `<rtmp>` with server-wide figures, then
//! `<server><application><name>..</name><live><stream>..</stream><nclients>..</nclients>
//! </live></application></server>`, one `<application>` per app. Per stream: `name`,
//! `time` (ms since publishing started), `bw_in`/`bw_out`/`bw_video`/`bw_audio` in bit/s
//! (from byte-count deltas between requests, as the API's bit rates), `bytes_in`/
//! `bytes_out`, one `<client>` per publisher and player, `<meta>` with the video's
//! width, height, frame rate and codec and the audio's codec, sample rate and channels,
//! `nclients` (publisher plus players, as nginx-rtmp counts), `<publishing/>` and
//! `<active/>` when live. Codec names are nginx-rtmp's (`H264`, `HEVC`, `AAC`, ...).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use openrtmp_server::{ConnectionInfo, ServerHandle, StreamStatus};

use crate::auth::TokenSource;
use crate::rate::RateSampler;

/// Rate keys: (app, stream, which counter).
type StatKey = (String, String, &'static str);

/// What `/stat` keeps between requests.
struct StatState {
    handle: ServerHandle,
    token: TokenSource,
    /// [`crate::ApiOptions::stat_public`].
    public: bool,
    rates: Mutex<RateSampler<StatKey>>,
}

/// The `/stat` route, with its own state (rates per stream and counter).
pub(crate) fn router(handle: ServerHandle, token: TokenSource, public: bool) -> axum::Router {
    let state = StatState { handle, token, public, rates: Mutex::default() };
    axum::Router::new().route("/stat", axum::routing::get(stat)).with_state(Arc::new(state))
}

/// `GET /stat`: with the API token, unless [`crate::ApiOptions::stat_public`] or the
/// configuration's `api.stat_public` (read per request) opens it: nginx-rtmp's `/stat` is
/// read by tools that send no token (NOALBS).
async fn stat(State(state): State<Arc<StatState>>, headers: HeaderMap) -> Response {
    let public = state.public || state.handle.config().api_stat_public;
    if !public && !crate::auth::allows(&state.token, &headers) {
        tracing::debug!(path = "/stat", "API request refused: bad token");
        return crate::error::ApiError::Unauthorized.into_response();
    }
    let streams = state.handle.streams();
    let conns = state.handle.connections();
    let info = state.handle.info();
    let now = Instant::now();
    // A panic while holding the sampler leaves at worst a stale rate: keep going.
    let mut rates = state.rates.lock().unwrap_or_else(PoisonError::into_inner);
    rates.retain(|(app, name, _)| streams.iter().any(|s| &s.app == app && &s.name == name));
    let mut xml = String::with_capacity(4096);
    xml.push_str("<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<rtmp>\n");
    element(&mut xml, "nginx_rtmp_version", "1.1.4");
    element(&mut xml, "openrtmp_version", info.version);
    element(&mut xml, "uptime", info.uptime.as_secs());
    element(&mut xml, "naccepted", info.accepted);
    let uptime = info.uptime;
    element(&mut xml, "bw_in", bps(rates.kbps(server_key("in"), info.bytes_in, uptime, now)));
    element(&mut xml, "bytes_in", info.bytes_in);
    element(&mut xml, "bw_out", bps(rates.kbps(server_key("out"), info.bytes_out, uptime, now)));
    element(&mut xml, "bytes_out", info.bytes_out);
    xml.push_str("<server>\n");
    let mut apps: BTreeMap<&str, Vec<&StreamStatus>> = BTreeMap::new();
    for s in &streams {
        apps.entry(s.app.as_str()).or_default().push(s);
    }
    for (app, list) in apps {
        xml.push_str("<application>\n");
        element(&mut xml, "name", app);
        xml.push_str("<live>\n");
        let mut app_clients = 0;
        for s in list {
            app_clients += write_stream(&mut xml, s, &conns, &mut rates, now);
        }
        element(&mut xml, "nclients", app_clients);
        xml.push_str("</live>\n</application>\n");
    }
    xml.push_str("</server>\n</rtmp>\n");
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response()
}

/// The server-wide rate keys (no app has an empty name).
fn server_key(which: &'static str) -> StatKey {
    (String::new(), String::new(), which)
}

/// kbit/s to bit/s, as nginx-rtmp reports.
fn bps(kbps: f64) -> u64 {
    (kbps * 1000.0).round() as u64
}

/// Writes one `<stream>`; returns its `nclients`.
fn write_stream(
    xml: &mut String,
    s: &StreamStatus,
    conns: &[ConnectionInfo],
    rates: &mut RateSampler<StatKey>,
    now: Instant,
) -> usize {
    let clients: Vec<&ConnectionInfo> = conns
        .iter()
        .filter(|c| c.app == s.app && c.stream == s.name && c.role != "connecting")
        .collect();
    let bytes_out: u64 = clients.iter().filter(|c| c.role == "player").map(|c| c.bytes_out).sum();
    let active_for = s.publishing_for.unwrap_or_default();
    let mut rate = |which: &'static str, bytes: u64| {
        bps(rates.kbps((s.app.clone(), s.name.clone(), which), bytes, active_for, now))
    };
    let (bw_in, bw_out) = (rate("in", s.bytes_in), rate("out", bytes_out));
    let (bw_video, bw_audio) = (rate("video", s.video_bytes_in), rate("audio", s.audio_bytes_in));
    xml.push_str("<stream>\n");
    element(xml, "name", &s.name);
    element(xml, "time", active_for.as_millis());
    element(xml, "bw_in", bw_in);
    element(xml, "bytes_in", s.bytes_in);
    element(xml, "bw_out", bw_out);
    element(xml, "bytes_out", bytes_out);
    element(xml, "bw_audio", bw_audio);
    element(xml, "bw_video", bw_video);
    for c in &clients {
        write_client(xml, c);
    }
    write_meta(xml, s);
    element(xml, "nclients", clients.len());
    if s.publishing {
        xml.push_str("<publishing/>\n<active/>\n");
    }
    xml.push_str("</stream>\n");
    clients.len()
}

fn write_client(xml: &mut String, c: &ConnectionInfo) {
    xml.push_str("<client>\n");
    element(xml, "id", c.id);
    element(xml, "address", c.peer.ip());
    element(xml, "time", c.connected_for.as_millis());
    element(xml, "flashver", c.protocol);
    element(xml, "dropped", c.dropped_frames);
    element(xml, "avsync", 0);
    element(xml, "timestamp", 0);
    if c.role == "publisher" {
        xml.push_str("<publishing/>\n");
    }
    xml.push_str("<active/>\n</client>\n");
}

fn write_meta(xml: &mut String, s: &StreamStatus) {
    xml.push_str("<meta>\n<video>\n");
    element(xml, "width", s.width.unwrap_or(0));
    element(xml, "height", s.height.unwrap_or(0));
    element(xml, "frame_rate", s.fps.map_or(0, |f| f.round() as u64));
    element(xml, "codec", s.video_codec.as_deref().map(codec_name).unwrap_or_default());
    xml.push_str("</video>\n<audio>\n");
    element(xml, "codec", s.audio_codec.as_deref().map(codec_name).unwrap_or_default());
    element(xml, "channels", s.channels.unwrap_or(0));
    element(xml, "sample_rate", s.sample_rate.unwrap_or(0));
    xml.push_str("</audio>\n</meta>\n");
}

/// nginx-rtmp's spelling of a codec (`H264`, not `H.264`).
fn codec_name(codec: &str) -> String {
    codec.replace(['.', ' '], "")
}

/// `<name>value</name>`, the value escaped.
fn element(xml: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = write!(xml, "<{name}>");
    escape(xml, &value.to_string());
    let _ = writeln!(xml, "</{name}>");
}

/// XML 1.0 §2.4 character data: `&`, `<`, `>` and quotes escaped; control characters
/// (not allowed in XML 1.0) dropped.
fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        let mut out = String::new();
        escape(&mut out, "a<b>&\"c'\u{1}");
        assert_eq!(out, "a&lt;b&gt;&amp;&quot;c&apos;");
    }

    #[test]
    fn codec_names_follow_nginx_rtmp() {
        assert_eq!(codec_name("H.264"), "H264");
        assert_eq!(codec_name("AAC"), "AAC");
    }
}
