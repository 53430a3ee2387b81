//! OpenRTMP client: connect to an RTMP server, publish an FLV file, play a stream into an
//! FLV file, probe a stream.
//!
//! A thin tokio driver over [`openrtmp_proto::session::ClientSession`] (RTMP 1.0 §5, §7):
//! the session does the protocol, this crate owns the socket, the clock and the files.
//! Publishing can follow the Enhanced RTMP v2 reconnect request ([`FollowingPublisher`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), openrtmp_client::ClientError> {
//! use openrtmp_client::{ConnectOptions, Player, PlayOptions, RtmpUrl};
//! let url = RtmpUrl::parse("rtmp://127.0.0.1/live/cam")?;
//! let mut player = Player::open(&url, ConnectOptions::default(), PlayOptions::default()).await?;
//! while let Some(tag) = player.next_tag().await? {
//!     println!("{:?} at {} ms, {} bytes", tag.tag_type, tag.timestamp, tag.data.len());
//! }
//! # Ok(()) }
//! ```

mod connection;
mod follow;
mod play;
mod probe;
mod publish;
mod url;

pub use connection::{ClientError, ConnectOptions, Connection, Transport};
pub use follow::{
    FollowLimits, FollowingPublisher, DEFAULT_MAX_REDIRECTS, DEFAULT_REDIRECT_WINDOW,
};
pub use play::{play_to_writer, PlayEnd, PlayOptions, PlayStats, Player};
pub use probe::{probe, ProbeReport};
pub use publish::{publish_file, publish_tags, tag_message, PublishOptions, PublishStats};
pub use url::{RtmpUrl, UrlError, DEFAULT_PORT, DEFAULT_TLS_PORT};
