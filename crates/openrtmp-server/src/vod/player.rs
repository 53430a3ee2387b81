//! The VOD players of one connection: each sends its recording's messages paced by the
//! wall clock, up to a lead ahead of real time (the client's SetBufferLength, bounded by
//! [`MAX_LEAD`]; [`DEFAULT_LEAD`] until it sends one). The connection's loop calls
//! [`VodPlayers::pump`] only while its output queue is below the high-water mark, the same
//! backpressure as live players: a client that stops reading stops the reader too (its
//! channel fills, it blocks).
//!
//! Status messages follow what a VOD server (FMS, Wowza) sends: at the start the session's
//! StreamBegin, Play.Reset, Play.Start and `|RtmpSampleAccess`, then `onMetaData` and the
//! sequence headers; at the end `onPlayStatus` NetStream.Play.Complete, StreamEOF and
//! NetStream.Play.Stop; on `seek` NetStream.Seek.Notify, then Play.Start, StreamBegin and the
//! headers again from the keyframe at or before the target.

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use bytes::Bytes;
use openrtmp_amf::{Amf0Value, AmfObject};
use openrtmp_media::ScriptData;
use openrtmp_proto::command::StatusCode;
use openrtmp_proto::control::UserControl;
use openrtmp_proto::message::{Message, MessageType};
use openrtmp_proto::session::ServerSession;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::reader::{self, Item, Seek};
use super::VodFile;

/// Lead over real time before the client announced its buffer.
pub(crate) const DEFAULT_LEAD: Duration = Duration::from_secs(1);
/// The most a client's buffer length may make us send ahead.
pub(crate) const MAX_LEAD: Duration = Duration::from_secs(10);
/// Payload bytes sent per pump and player (then the loop checks its queue again).
const BATCH_BYTES: usize = 128 * 1024;

/// What a `play` asked of a recording (RTMP 1.0 §7.2.2.1, in ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlayRange {
    /// Where to start (a negative `start` is the beginning).
    pub(crate) start_ms: u64,
    /// How much to play from there (`None`: to the end; `duration` -1, and 0 too).
    pub(crate) duration_ms: Option<u64>,
}

impl PlayRange {
    /// From `play`'s `start` and `duration` in seconds.
    pub(crate) fn from_play(start: f64, duration: f64) -> PlayRange {
        let ms =
            |s: f64| (s.is_finite() && s > 0.0).then(|| (s * 1000.0).min(u64::MAX as f64) as u64);
        PlayRange { start_ms: ms(start).unwrap_or(0), duration_ms: ms(duration) }
    }
}

#[derive(Debug)]
struct VodPlayer {
    stream_id: u32,
    file_name: String,
    items: mpsc::Receiver<Item>,
    seeks: std_mpsc::Sender<Seek>,
    /// Items of older generations (before the last seek) are dropped.
    generation: u64,
    /// The next item, received but not yet due.
    held: Option<Item>,
    /// Media time `.1` is due at wall time `.0` (set at each start, seek and unpause).
    clock: Option<(Instant, u64)>,
    paused: bool,
    /// Play.Stop sent: nothing more until a seek.
    ended: bool,
    /// Media after this time is not sent (`play`'s duration).
    stop_at: Option<u64>,
    duration: Option<u64>,
    last_ms: u64,
    /// No media sent since the last start or seek.
    fresh: bool,
    bytes: u64,
    lead: Duration,
}

/// A `getStreamLength` answered: stream id, transaction id, length in ms.
type Length = (u32, f64, u64);

/// Every recording this connection plays, and `getStreamLength` questions being answered:
/// nothing (one pointer) on a connection that never plays a recording (a connection task's
/// size is tested in `listener/accept.rs`).
#[derive(Debug, Default)]
pub(crate) struct VodPlayers {
    state: Option<Box<State>>,
    /// The client's last SetBufferLength (stream id, ms), for players started after it.
    buffer: Option<(u32, u32)>,
}

impl VodPlayers {
    fn state(&mut self) -> &mut State {
        let state = self.state.get_or_insert_with(Box::default);
        if let Some((stream_id, millis)) = self.buffer.take() {
            state.buffer_length(stream_id, millis);
        }
        state
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.state.as_ref().is_none_or(|s| s.is_empty())
    }

    /// Whether `stream_id` plays a recording.
    pub(crate) fn plays(&self, stream_id: u32) -> bool {
        self.state.as_ref().is_some_and(|s| s.plays(stream_id))
    }

    /// Plays `file` on `stream_id` (replacing what it played); the reader starts at once.
    pub(crate) fn start(
        &mut self,
        file: &VodFile,
        stream_id: u32,
        range: PlayRange,
    ) -> std::io::Result<()> {
        self.state().start(file, stream_id, range)
    }

    /// `closeStream`/`deleteStream`: stops the player on `stream_id` (its reader ends and
    /// closes the file).
    pub(crate) fn stop(&mut self, stream_id: u32) {
        if let Some(s) = &mut self.state {
            s.stop(stream_id);
        }
    }

    /// `pause`/unpause (already acknowledged by the session).
    pub(crate) fn pause(&mut self, stream_id: u32, paused: bool) {
        if let Some(s) = &mut self.state {
            s.pause(stream_id, paused);
        }
    }

    /// SetBufferLength: the lead of the player on `stream_id` (now or later).
    pub(crate) fn buffer_length(&mut self, stream_id: u32, millis: u32) {
        match &mut self.state {
            Some(s) => s.buffer_length(stream_id, millis),
            None => self.buffer = Some((stream_id, millis)),
        }
    }

    /// `seek` on `stream_id`; false when it plays no recording (a live stream).
    pub(crate) fn seek(&mut self, session: &mut ServerSession, stream_id: u32, ms: f64) -> bool {
        self.state.as_mut().is_some_and(|s| s.seek(session, stream_id, ms))
    }

    /// `getStreamLength`: the length of `file` (`None`: not a recording: 0, live), in
    /// seconds, answered once a thread has opened it.
    pub(crate) fn stream_length(
        &mut self,
        session: &mut ServerSession,
        stream_id: u32,
        transaction_id: f64,
        file: Option<VodFile>,
    ) {
        match file {
            Some(file) => self.state().stream_length(session, stream_id, transaction_id, file),
            None => session.send_result(stream_id, transaction_id, Amf0Value::Number(0.0)),
        }
    }

    /// Resolves when a player has an item due or a length was measured (cancel-safe).
    /// Boxed: the connection's loop holds this future inline.
    pub(crate) async fn ready(&mut self) {
        match &mut self.state {
            Some(s) => Box::pin(s.ready()).await,
            None => std::future::pending().await,
        }
    }

    /// Sends what is due, one batch per player, and the lengths measured.
    pub(crate) fn pump(&mut self, session: &mut ServerSession) {
        if let Some(s) = &mut self.state {
            s.pump(session);
        }
    }
}

#[derive(Debug)]
struct State {
    list: Vec<VodPlayer>,
    /// The client's SetBufferLength per stream id, for players started after it.
    buffers: Vec<(u32, Duration)>,
    /// Lengths measured on a reader thread (opening a recording reads it).
    lengths_tx: mpsc::Sender<Length>,
    lengths: mpsc::Receiver<Length>,
    /// Questions asked, not yet received back.
    measuring: usize,
    /// Answers received, not yet sent.
    measured: Vec<Length>,
}

impl Default for State {
    fn default() -> Self {
        let (lengths_tx, lengths) = mpsc::channel(MAX_LENGTH_QUESTIONS);
        State {
            list: Vec::new(),
            buffers: Vec::new(),
            lengths_tx,
            lengths,
            measuring: 0,
            measured: Vec::new(),
        }
    }
}

/// `getStreamLength` questions measured at once per connection; more are answered 0.
const MAX_LENGTH_QUESTIONS: usize = 4;

impl State {
    fn is_empty(&self) -> bool {
        self.list.is_empty() && self.measuring == 0 && self.measured.is_empty()
    }

    fn stream_length(
        &mut self,
        session: &mut ServerSession,
        stream_id: u32,
        transaction_id: f64,
        file: VodFile,
    ) {
        let Some(file) = Some(file).filter(|_| self.measuring < MAX_LENGTH_QUESTIONS) else {
            session.send_result(stream_id, transaction_id, Amf0Value::Number(0.0));
            return;
        };
        let tx = self.lengths_tx.clone();
        let spawned =
            std::thread::Builder::new().name("openrtmp-vod-length".into()).spawn(move || {
                let ms = openrtmp_record::vod::open_parts(&file.parts)
                    .map(|s| s.duration_ms())
                    .unwrap_or(0);
                let _ = tx.blocking_send((stream_id, transaction_id, ms));
            });
        match spawned {
            Ok(_) => self.measuring += 1,
            Err(_) => session.send_result(stream_id, transaction_id, Amf0Value::Number(0.0)),
        }
    }

    /// Whether `stream_id` plays a recording.
    fn plays(&self, stream_id: u32) -> bool {
        self.list.iter().any(|p| p.stream_id == stream_id)
    }

    /// Plays `file` on `stream_id` (replacing what it played); the reader starts at once.
    fn start(&mut self, file: &VodFile, stream_id: u32, range: PlayRange) -> std::io::Result<()> {
        let (items, seeks) = reader::spawn(file.parts.clone(), range.start_ms)?;
        self.stop(stream_id);
        let lead =
            self.buffers.iter().find(|(id, _)| *id == stream_id).map_or(DEFAULT_LEAD, |b| b.1);
        tracing::info!(
            stream = %file.file_name,
            start_ms = range.start_ms,
            duration_ms = range.duration_ms,
            "vod play start"
        );
        self.list.push(VodPlayer {
            stream_id,
            file_name: file.file_name.clone(),
            items,
            seeks,
            generation: 0,
            held: None,
            clock: None,
            paused: false,
            ended: false,
            stop_at: None,
            duration: range.duration_ms,
            last_ms: range.start_ms,
            fresh: true,
            bytes: 0,
            lead,
        });
        Ok(())
    }

    /// `closeStream`/`deleteStream`: stops the player on `stream_id` (its reader ends and
    /// closes the file).
    fn stop(&mut self, stream_id: u32) {
        self.list.retain(|p| {
            if p.stream_id == stream_id {
                tracing::info!(stream = %p.file_name, bytes = p.bytes, "vod play stop");
            }
            p.stream_id != stream_id
        });
    }

    /// `pause`/unpause (already acknowledged by the session).
    fn pause(&mut self, stream_id: u32, paused: bool) {
        for p in self.list.iter_mut().filter(|p| p.stream_id == stream_id) {
            if p.paused && !paused {
                // Real time starts again where media stopped.
                p.clock = p.clock.map(|_| (Instant::now(), p.last_ms));
            }
            p.paused = paused;
        }
    }

    /// SetBufferLength: the lead of the player on `stream_id` (now or later).
    fn buffer_length(&mut self, stream_id: u32, millis: u32) {
        let lead = Duration::from_millis(u64::from(millis)).min(MAX_LEAD);
        tracing::debug!(stream_id, millis, "vod buffer length");
        self.buffers.retain(|(id, _)| *id != stream_id);
        self.buffers.push((stream_id, lead));
        for p in self.list.iter_mut().filter(|p| p.stream_id == stream_id) {
            p.lead = lead;
        }
    }

    /// `seek` on `stream_id`; false when it plays no recording (a live stream).
    fn seek(&mut self, session: &mut ServerSession, stream_id: u32, ms: f64) -> bool {
        let Some(p) = self.list.iter_mut().find(|p| p.stream_id == stream_id) else {
            return false;
        };
        let ms = if ms.is_finite() && ms > 0.0 { ms as u64 } else { 0 };
        p.generation += 1;
        if p.seeks.send(Seek { generation: p.generation, ms }).is_err() {
            tracing::debug!(stream = %p.file_name, "vod reader gone: seek ignored");
        }
        p.held = None;
        p.clock = None;
        p.ended = false;
        p.last_ms = ms;
        tracing::info!(stream = %p.file_name, ms, "vod seek");
        session.send_status(stream_id, StatusCode::SEEK_NOTIFY, Some(&format!("Seeking {ms}.")));
        true
    }

    /// Resolves when a player has an item due or a length was measured (cancel-safe: a
    /// received item is kept).
    async fn ready(&mut self) {
        if !self.measured.is_empty() {
            return;
        }
        let State { list, lengths, measuring, measured, .. } = self;
        let players = async {
            match list.as_mut_slice() {
                [] => std::future::pending().await,
                [one] => one.ready().await,
                many => {
                    let all = many.iter_mut().map(|p| Box::pin(p.ready()));
                    futures_util::future::select_all(all).await;
                }
            }
        };
        tokio::select! {
            Some(length) = lengths.recv(), if *measuring > 0 => {
                *measuring -= 1;
                measured.push(length);
            }
            () = players => {}
        }
    }

    /// Sends what is due, one batch per player, and the lengths measured.
    fn pump(&mut self, session: &mut ServerSession) {
        for (stream_id, transaction_id, ms) in self.measured.drain(..) {
            session.send_result(stream_id, transaction_id, Amf0Value::Number(ms as f64 / 1000.0));
        }
        let now = Instant::now();
        for p in &mut self.list {
            p.pump(session, now);
        }
    }
}

impl VodPlayer {
    async fn ready(&mut self) {
        loop {
            if self.paused || self.ended {
                return std::future::pending().await;
            }
            let item = match self.held.take() {
                Some(item) => item,
                None => match self.items.recv().await {
                    Some(item) if item.generation() == self.generation => item,
                    Some(_) => continue,
                    None => {
                        let error = "the recording's reader stopped".to_owned();
                        Item::Failed { generation: self.generation, error }
                    }
                },
            };
            let due = match &item {
                Item::Media { message, .. } => self.due(message.timestamp),
                _ => None,
            };
            self.held = Some(item);
            if let Some(due) = due {
                tokio::time::sleep_until(due).await;
            }
            return;
        }
    }

    /// When a message of media time `ms` may be sent (`None`: now).
    fn due(&self, ms: u32) -> Option<Instant> {
        let (at, media) = self.clock?;
        let ahead = u64::from(ms).saturating_sub(media);
        Some((at + Duration::from_millis(ahead)).checked_sub(self.lead).unwrap_or(at))
    }

    fn pump(&mut self, session: &mut ServerSession, now: Instant) {
        let mut budget = BATCH_BYTES;
        while !self.paused && !self.ended && budget > 0 {
            let item = match self.held.take() {
                Some(item) => item,
                None => match self.items.try_recv() {
                    Ok(item) => item,
                    Err(_) => return,
                },
            };
            if item.generation() != self.generation {
                continue;
            }
            match item {
                Item::Start { position_ms, duration_ms, headers, .. } => {
                    self.started(session, position_ms, duration_ms, headers)
                }
                Item::Media { message, generation } => {
                    if self.due(message.timestamp).is_some_and(|due| due > now) {
                        self.held = Some(Item::Media { message, generation });
                        return;
                    }
                    let ms = u64::from(message.timestamp);
                    // A source that starts before the time its seek reported (frames muxed
                    // ahead of the keyframe): the clock starts at the earliest frame, so no
                    // later frame goes out early.
                    if let Some((at, media)) = self.clock.as_mut() {
                        if ms < *media && self.fresh {
                            (*at, *media) = (now, ms);
                        }
                    }
                    self.fresh = false;
                    if self.stop_at.is_some_and(|end| ms > end) {
                        self.complete(session);
                        return;
                    }
                    budget = budget.saturating_sub(message.payload.len());
                    self.send(session, message);
                }
                Item::End { .. } => self.complete(session),
                Item::Failed { error, .. } => {
                    tracing::warn!(stream = %self.file_name, %error, "vod play failed");
                    session.send_status(self.stream_id, StatusCode::PLAY_FAILED, Some(&error));
                    self.ended = true;
                }
            }
        }
    }

    /// The reader is positioned: (after a seek: Play.Start again,) headers, clock.
    fn started(
        &mut self,
        session: &mut ServerSession,
        position_ms: u64,
        duration_ms: u64,
        headers: Vec<openrtmp_record::Message>,
    ) {
        let stream_id = self.stream_id;
        if self.generation > 0 {
            session.send_user_control(UserControl::StreamBegin { stream_id });
            let d = format!("Started playing {}.", self.file_name);
            session.send_status(stream_id, StatusCode::PLAY_START, Some(&d));
        }
        let lead_ms = self.lead.as_millis() as u64;
        tracing::debug!(stream = %self.file_name, position_ms, duration_ms, lead_ms, "vod positioned");
        self.stop_at = self.duration.map(|d| position_ms.saturating_add(d));
        self.clock = Some((Instant::now(), position_ms));
        self.last_ms = position_ms;
        self.fresh = true;
        let ts = u32::try_from(position_ms).unwrap_or(u32::MAX);
        for header in headers {
            self.send(session, openrtmp_record::Message { timestamp: ts, ..header });
        }
    }

    fn send(&mut self, session: &mut ServerSession, message: openrtmp_record::Message) {
        self.last_ms = self.last_ms.max(u64::from(message.timestamp));
        self.bytes += message.payload.len() as u64;
        let msg = Message {
            csid: 0,
            timestamp: message.timestamp,
            type_id: MessageType(message.kind.0),
            stream_id: self.stream_id,
            payload: message.payload,
        };
        session.send_media(self.stream_id, &msg);
    }

    /// The end: onPlayStatus NetStream.Play.Complete, StreamEOF, NetStream.Play.Stop.
    fn complete(&mut self, session: &mut ServerSession) {
        let stream_id = self.stream_id;
        tracing::info!(stream = %self.file_name, bytes = self.bytes, "vod play complete");
        let mut info = AmfObject::new();
        info.insert("code", Amf0Value::string("NetStream.Play.Complete"));
        info.insert("level", Amf0Value::string("status"));
        info.insert("duration", Amf0Value::Number(self.last_ms as f64 / 1000.0));
        info.insert("bytes", Amf0Value::Number(self.bytes as f64));
        let payload: Bytes =
            ScriptData::new("onPlayStatus", vec![Amf0Value::Object(info)]).to_bytes();
        let ts = u32::try_from(self.last_ms).unwrap_or(u32::MAX);
        let msg =
            Message { csid: 0, timestamp: ts, type_id: MessageType::DATA_AMF0, stream_id, payload };
        session.send_media(stream_id, &msg);
        session.send_user_control(UserControl::StreamEof { stream_id });
        let d = format!("Stopped playing {}.", self.file_name);
        session.send_status(stream_id, StatusCode::PLAY_STOP, Some(&d));
        self.ended = true;
        self.held = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn play_arguments_in_ms() {
        let r = PlayRange::from_play;
        assert_eq!(r(-2.0, -1.0), PlayRange { start_ms: 0, duration_ms: None });
        assert_eq!(r(-2000.0, 0.0), PlayRange { start_ms: 0, duration_ms: None });
        assert_eq!(r(10.0, 5.5), PlayRange { start_ms: 10_000, duration_ms: Some(5_500) });
        assert_eq!(r(f64::NAN, f64::INFINITY), PlayRange { start_ms: 0, duration_ms: None });
    }
}
