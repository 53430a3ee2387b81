//! Publishing FLV tags (from a file) to a server, in real time or as fast as possible.

use std::path::Path;
use std::time::Duration;

use openrtmp_media::flv_file::{FlvDecoder, FlvTag};
use openrtmp_media::script::ScriptData;
use openrtmp_media::TagType;
use openrtmp_proto::command::{PublishType, StatusLevel};
use openrtmp_proto::message::{csid, Message, MessageType};
use openrtmp_proto::session::ClientEvent;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use crate::connection::{ClientError, ConnectOptions, Connection};
use crate::follow::{FollowLimits, FollowingPublisher};
use crate::url::RtmpUrl;

/// How to publish.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// Pace by the tags' timestamps (true) or send as fast as possible.
    pub realtime: bool,
    /// How many times to send the file (timestamps continue across repeats).
    pub repeat: u32,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions { realtime: true, repeat: 1 }
    }
}

/// What was sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublishStats {
    /// Tags sent (audio, video, script).
    pub tags: u64,
    /// Video messages sent.
    pub video_frames: u64,
    /// Audio messages sent.
    pub audio_frames: u64,
    /// Payload bytes sent.
    pub bytes: u64,
    /// Media time covered, seconds.
    pub media_seconds: f64,
    /// Wall time, seconds.
    pub elapsed_seconds: f64,
}

/// Connects to `url`, publishes `url.stream` and sends the FLV file at `path`. With
/// `options.reconnect`, follows the server's reconnect requests ([`FollowingPublisher`]).
pub async fn publish_file(
    path: &Path,
    url: &RtmpUrl,
    options: ConnectOptions,
    publish: PublishOptions,
) -> Result<PublishStats, ClientError> {
    // Read the file before connecting: a bad file fails without touching the server.
    let tags = read_flv(path).await?;
    url.require_stream()?;
    if options.reconnect {
        let mut publisher =
            FollowingPublisher::connect(url, options, FollowLimits::default()).await?;
        let stats = send_tags(&mut publisher, &tags, &publish).await?;
        publisher.close().await?;
        return Ok(stats);
    }
    let mut conn = Connection::connect(url, options).await?;
    conn.publish(&url.stream, PublishType::Live).await?;
    let stats = publish_tags(&mut conn, &tags, &publish).await?;
    conn.close().await?;
    Ok(stats)
}

/// Reads a whole FLV file into tags.
async fn read_flv(path: &Path) -> Result<Vec<FlvTag>, ClientError> {
    let name = path.display().to_string();
    let file_err = |source| ClientError::File { path: name.clone(), source };
    let media_err = |e: openrtmp_media::MediaError| ClientError::Media {
        path: name.clone(),
        reason: e.to_string(),
    };
    let mut file = tokio::fs::File::open(path).await.map_err(file_err)?;
    let mut decoder = FlvDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut tags = Vec::new();
    loop {
        let n = file.read(&mut buf).await.map_err(file_err)?;
        if n == 0 {
            break;
        }
        decoder.handle_input(buf.get(..n).unwrap_or_default());
        while let Some(tag) = decoder.poll_tag().map_err(media_err)? {
            tags.push(tag);
        }
    }
    decoder.finish().map_err(media_err)?;
    if tags.is_empty() {
        return Err(ClientError::Media { path: name, reason: "no tags in file".into() });
    }
    Ok(tags)
}

/// The message for a tag: audio/video as they are; `onMetaData` script data wrapped in
/// `@setDataFrame` (what encoders send, and servers cache).
pub fn tag_message(tag: &FlvTag, timestamp: u32) -> Message {
    let (type_id, csid, payload) = match tag.tag_type {
        TagType::AUDIO => (MessageType::AUDIO, csid::AUDIO, tag.data.clone()),
        TagType::VIDEO => (MessageType::VIDEO, csid::VIDEO, tag.data.clone()),
        _ => {
            let payload = match ScriptData::parse(&tag.data) {
                Ok(script) if script.is_on_meta_data() => script.add_set_data_frame().to_bytes(),
                _ => tag.data.clone(),
            };
            (MessageType::DATA_AMF0, csid::STREAM_COMMAND, payload)
        }
    };
    Message { csid, timestamp, type_id, stream_id: 0, payload }
}

/// Sends `tags` on a connection that is publishing, `publish.repeat` times.
pub async fn publish_tags(
    conn: &mut Connection,
    tags: &[FlvTag],
    publish: &PublishOptions,
) -> Result<PublishStats, ClientError> {
    send_tags(conn, tags, publish).await
}

/// Where [`send_tags`] sends: one connection, or a [`FollowingPublisher`] that may move.
pub(crate) trait Sink {
    /// Sends one message and writes it out.
    async fn send(&mut self, message: &Message) -> Result<(), ClientError>;
    /// Waits until `due`, handling what the server sends.
    async fn wait_until(&mut self, due: Instant) -> Result<(), ClientError>;
    /// Handles what the server sent, without waiting.
    async fn poll_servers(&mut self) -> Result<(), ClientError>;
}

impl Sink for Connection {
    async fn send(&mut self, message: &Message) -> Result<(), ClientError> {
        self.session().send_media(message).map_err(|_| ClientError::Refused {
            code: "NetStream.Publish.Failed".into(),
            description: "the server stopped the publication".into(),
        })?;
        self.flush().await
    }

    async fn wait_until(&mut self, due: Instant) -> Result<(), ClientError> {
        wait_until(self, due).await
    }

    async fn poll_servers(&mut self) -> Result<(), ClientError> {
        if let Ok(read) = tokio::time::timeout(Duration::ZERO, self.read_input()).await {
            if !read? {
                return Err(ClientError::Closed { addr: self.url().authority() });
            }
            check_events(self)?;
        }
        Ok(())
    }
}

/// Publishing files while following reconnect requests (here, beside the pacing).
impl FollowingPublisher {
    /// Sends FLV `tags` as [`publish_tags`](crate::publish_tags) does (paced by their
    /// timestamps unless `publish.realtime` is off, `publish.repeat` times), following
    /// reconnect requests meanwhile.
    pub async fn send_tags(
        &mut self,
        tags: &[FlvTag],
        publish: &PublishOptions,
    ) -> Result<PublishStats, ClientError> {
        send_tags(self, tags, publish).await
    }
}

impl Sink for FollowingPublisher {
    async fn send(&mut self, message: &Message) -> Result<(), ClientError> {
        FollowingPublisher::send(self, message).await
    }

    async fn wait_until(&mut self, due: Instant) -> Result<(), ClientError> {
        FollowingPublisher::wait_until(self, due).await
    }

    async fn poll_servers(&mut self) -> Result<(), ClientError> {
        FollowingPublisher::poll_servers(self).await
    }
}

/// Sends `tags` to `sink`, `publish.repeat` times, paced by their timestamps (realtime)
/// or as fast as possible.
pub(crate) async fn send_tags(
    sink: &mut impl Sink,
    tags: &[FlvTag],
    publish: &PublishOptions,
) -> Result<PublishStats, ClientError> {
    let mut stats = PublishStats::default();
    let start = Instant::now();
    let first_ts = tags.first().map_or(0, |t| t.timestamp);
    let last_ts = tags.iter().map(|t| t.timestamp.wrapping_sub(first_ts)).max().unwrap_or(0);
    // Each repeat continues after the previous one, one frame interval (40 ms) later.
    let period = u64::from(last_ts) + 40;
    let mut sent_since_check = 0u32;
    for round in 0..u64::from(publish.repeat.max(1)) {
        for tag in tags {
            let media_ms = round * period + u64::from(tag.timestamp.wrapping_sub(first_ts));
            if publish.realtime {
                sink.wait_until(start + Duration::from_millis(media_ms)).await?;
            } else if sent_since_check >= 64 {
                sent_since_check = 0;
                // Look at what the server said, without waiting.
                sink.poll_servers().await?;
            }
            sink.send(&tag_message(tag, (media_ms & 0xFFFF_FFFF) as u32)).await?;
            sent_since_check += 1;
            stats.tags += 1;
            stats.bytes += tag.data.len() as u64;
            match tag.tag_type {
                TagType::VIDEO => stats.video_frames += 1,
                TagType::AUDIO => stats.audio_frames += 1,
                _ => {}
            }
            stats.media_seconds = media_ms as f64 / 1000.0;
        }
    }
    stats.elapsed_seconds = start.elapsed().as_secs_f64();
    Ok(stats)
}

/// Waits until `due` while handling what the server sends (acks, pings, errors).
async fn wait_until(conn: &mut Connection, due: Instant) -> Result<(), ClientError> {
    loop {
        check_events(conn)?;
        conn.flush().await?;
        tokio::select! {
            _ = tokio::time::sleep_until(due) => return Ok(()),
            read = conn.read_input() => {
                if !read? {
                    return Err(ClientError::Closed { addr: conn.url().authority() });
                }
            }
        }
    }
}

/// Fails on an error status from the server (e.g. the publication was stopped).
fn check_events(conn: &mut Connection) -> Result<(), ClientError> {
    while let Some(event) = conn.session().poll_event() {
        if let ClientEvent::Status { level, code, description, .. } = event {
            if level == StatusLevel::Error.as_str() {
                return Err(ClientError::Refused { code, description });
            }
            tracing::info!(%code, %description, "server status");
        }
    }
    Ok(())
}
