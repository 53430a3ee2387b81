//! The OpenRTMP live server: listeners, one task per connection driving a sans-IO
//! [`openrtmp_proto::session::ServerSession`], and the glue between sessions and the stream
//! hub ([`openrtmp_hub`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), openrtmp_server::ServerError> {
//! let mut config = openrtmp_server::Config::default();
//! config.listen = vec!["127.0.0.1:1935".parse().unwrap()];
//! let server = openrtmp_server::Server::bind(config).await?;
//! println!("listening on {:?}", server.local_addrs());
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod auth;
pub mod cluster;
mod config;
mod connection;
mod delay;
mod handle;
pub mod history;
mod limit;
mod listener;
pub mod platform;
pub mod record;
mod registry;
pub mod relay;
mod server;
mod shared;
mod socket;
mod vod;
mod web_play;
pub mod whip;

pub use config::*;
pub use delay::{DelayHistogram, DELAY_BUCKETS_MS};
pub use handle::{
    ClusterStatus, ConfigChange, ConnectionInfo, ServerHandle, ServerInfo, StreamRoute,
    StreamStatus,
};
pub use server::{Server, ServerError};
pub use shared::ServerStats;
pub use web_play::{PlayRefusal, WebPlayer, WebProtocol};
pub use whip::{WebrtcSettings, WhipAnswer, WhipError, WhipOffer};
