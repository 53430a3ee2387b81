//! Playing a stream: frames as FLV tags, into a file or any writer.

use std::time::Duration;

use bytes::BytesMut;
use openrtmp_media::flv_file::{FlvEncoder, FlvHeader, FlvTag};
use openrtmp_media::TagType;
use openrtmp_proto::command::{StatusCode, StatusLevel};
use openrtmp_proto::message::MessageType;
use openrtmp_proto::session::ClientEvent;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::connection::{ClientError, ConnectOptions, Connection};
use crate::url::RtmpUrl;

/// How to play.
#[derive(Debug, Clone)]
pub struct PlayOptions {
    /// Stop after this much wall time.
    pub duration: Option<Duration>,
    /// Stop after this many tags.
    pub max_tags: Option<u64>,
    /// Give up when nothing arrives for this long (default 30 s).
    pub idle_timeout: Duration,
}

impl Default for PlayOptions {
    fn default() -> Self {
        PlayOptions { duration: None, max_tags: None, idle_timeout: Duration::from_secs(30) }
    }
}

/// Why playing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayEnd {
    /// The publisher stopped (StreamEOF, UnpublishNotify or Play.Stop after media).
    Eof,
    /// `duration` elapsed.
    Duration,
    /// `max_tags` reached.
    MaxTags,
    /// The server closed the connection.
    ServerClosed,
    /// Nothing arrived for `idle_timeout`.
    Idle,
}

impl std::fmt::Display for PlayEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PlayEnd::Eof => "end of stream",
            PlayEnd::Duration => "duration reached",
            PlayEnd::MaxTags => "tag limit reached",
            PlayEnd::ServerClosed => "server closed the connection",
            PlayEnd::Idle => "no data (idle timeout)",
        })
    }
}

/// What was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayStats {
    /// Tags received (audio, video, metadata).
    pub tags: u64,
    /// Video messages.
    pub video_frames: u64,
    /// Audio messages.
    pub audio_frames: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Why it stopped.
    pub end: PlayEnd,
}

/// A playing connection that yields the stream as FLV tags.
#[derive(Debug)]
pub struct Player {
    conn: Connection,
    stream_id: u32,
    options: PlayOptions,
    started: Instant,
    received: u64,
    end: Option<PlayEnd>,
}

impl Player {
    /// Connects and plays `url.stream`.
    pub async fn open(
        url: &RtmpUrl,
        options: ConnectOptions,
        play: PlayOptions,
    ) -> Result<Self, ClientError> {
        let name = url.require_stream()?.to_owned();
        let mut conn = Connection::connect(url, options).await?;
        let stream_id = conn.play(&name).await?;
        Ok(Player {
            conn,
            stream_id,
            options: play,
            started: Instant::now(),
            received: 0,
            end: None,
        })
    }

    /// The next audio, video or metadata tag; `None` when playing ended ([`Player::end`]
    /// says why).
    pub async fn next_tag(&mut self) -> Result<Option<FlvTag>, ClientError> {
        if self.end.is_some() {
            return Ok(None);
        }
        if self.options.max_tags.is_some_and(|m| self.received >= m) {
            return Ok(self.finish(PlayEnd::MaxTags));
        }
        loop {
            let wall_deadline = self.options.duration.map(|d| self.started + d);
            let idle_deadline = Instant::now() + self.options.idle_timeout;
            let (deadline, why) = match wall_deadline {
                Some(w) if w < idle_deadline => (w, PlayEnd::Duration),
                _ => (idle_deadline, PlayEnd::Idle),
            };
            let event = match tokio::time::timeout_at(deadline, self.conn.next_event()).await {
                Err(_) => return Ok(self.finish(why)),
                Ok(event) => event?,
            };
            let Some(event) = event else {
                return Ok(self.finish(PlayEnd::ServerClosed));
            };
            match event {
                ClientEvent::Media { message, stream_id } if stream_id == self.stream_id => {
                    let tag_type = if message.type_id == MessageType::AUDIO {
                        TagType::AUDIO
                    } else {
                        TagType::VIDEO
                    };
                    self.received += 1;
                    return Ok(Some(FlvTag {
                        tag_type,
                        timestamp: message.timestamp,
                        data: message.payload,
                    }));
                }
                ClientEvent::Data { data, message, stream_id }
                    if stream_id == self.stream_id && data.name == "onMetaData" =>
                {
                    self.received += 1;
                    return Ok(Some(FlvTag {
                        tag_type: TagType::SCRIPT,
                        timestamp: message.timestamp,
                        data: message.payload,
                    }));
                }
                ClientEvent::StreamEof { stream_id }
                    if stream_id == self.stream_id && self.received > 0 =>
                {
                    return Ok(self.finish(PlayEnd::Eof));
                }
                ClientEvent::Status { code, level, description, .. } => {
                    let ended = code == StatusCode::PLAY_UNPUBLISH_NOTIFY.code
                        || code == StatusCode::PLAY_STOP.code;
                    if ended && self.received > 0 {
                        return Ok(self.finish(PlayEnd::Eof));
                    }
                    if level == StatusLevel::Error.as_str() {
                        return Err(ClientError::Refused { code, description });
                    }
                }
                _ => {}
            }
        }
    }

    fn finish(&mut self, end: PlayEnd) -> Option<FlvTag> {
        self.end = Some(end);
        None
    }

    /// Why playing ended, once `next_tag` returned `None`.
    pub fn end(&self) -> Option<PlayEnd> {
        self.end
    }

    /// Stops playing and closes the connection.
    pub async fn close(self) -> Result<(), ClientError> {
        self.conn.close().await
    }
}

/// Plays `url` into `writer` as an FLV file (header, then every tag as it arrives).
pub async fn play_to_writer<W: AsyncWrite + Unpin>(
    url: &RtmpUrl,
    options: ConnectOptions,
    play: PlayOptions,
    mut writer: W,
) -> Result<PlayStats, ClientError> {
    let file_err = |source| ClientError::File { path: "output".into(), source };
    let mut player = Player::open(url, options, play).await?;
    let mut encoder = FlvEncoder::new();
    let mut buf = BytesMut::new();
    encoder
        .write_header(&FlvHeader::new(true, true), &mut buf)
        .map_err(|e| ClientError::Media { path: "output".into(), reason: e.to_string() })?;
    writer.write_all(&buf).await.map_err(file_err)?;
    let mut stats = PlayStats {
        tags: 0,
        video_frames: 0,
        audio_frames: 0,
        bytes: 0,
        end: PlayEnd::ServerClosed,
    };
    while let Some(tag) = player.next_tag().await? {
        buf.clear();
        encoder
            .write_tag(&tag, &mut buf)
            .map_err(|e| ClientError::Media { path: "output".into(), reason: e.to_string() })?;
        writer.write_all(&buf).await.map_err(file_err)?;
        stats.tags += 1;
        stats.bytes += tag.data.len() as u64;
        match tag.tag_type {
            TagType::VIDEO => stats.video_frames += 1,
            TagType::AUDIO => stats.audio_frames += 1,
            _ => {}
        }
    }
    writer.flush().await.map_err(file_err)?;
    stats.end = player.end().unwrap_or(PlayEnd::ServerClosed);
    let _ = player.close().await;
    Ok(stats)
}
