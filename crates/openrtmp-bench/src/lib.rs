//! OpenRTMP load generator: `openrtmp bench`.
//!
//! Drives any RTMP 1.0 server (ours, nginx-rtmp, ...) with synthetic publishers and many
//! players from one process, and prints one JSON summary: delivered throughput, players
//! keeping up, relay latency, time to first frame, stalls and errors.
//!
//! Modes ([`Mode`]):
//! - `fanout`: one publisher, N players on its stream;
//! - `ingest`: P publishers sending as fast as the server takes it;
//! - `streams`: P publishers, N players on each stream;
//! - `idle`: N connections that handshake, `connect` and idle (per-connection cost).
//!
//! The publisher sends a realistic stream ([`synth`]): `@setDataFrame onMetaData`, a real
//! AVCDecoderConfigurationRecord and AudioSpecificConfig (from FFmpeg), H.264 GOPs with
//! keyframes 8x the size of inter frames, AAC frames every 21.33 ms, sized to the bitrate
//! and paced in real time. Every video frame carries a [`marker`] with its send time, so
//! players in the same process measure relay latency without clock skew. Player latencies
//! go into per-player log-bucketed [`Histogram`]s merged at the end.
//!
//! Each connection is a tokio task driving [`openrtmp_proto::session::ClientSession`]
//! directly over a `TcpStream` (reads through a per-thread buffer, vectored writes), so a
//! thousand players fit on one core.
//!
//! ```no_run
//! # async fn demo() -> Result<(), openrtmp_bench::BenchError> {
//! use openrtmp_bench::{execute, BenchArgs, Mode};
//! let args = BenchArgs { mode: Mode::Fanout, players: 100, ..BenchArgs::default() };
//! let summary = execute(&args).await?;
//! println!("{}", summary.to_json());
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

mod args;
mod conn;
mod context;
mod error;
pub mod histogram;
pub mod marker;
mod player;
pub mod procstat;
mod publisher;
mod runner;
mod summary;
pub mod synth;

pub use args::{BenchArgs, Mode, Plan, MAX_CONNECTIONS};
pub use conn::Target;
pub use error::{BenchError, ConnError, Phase};
pub use histogram::Histogram;
pub use player::{IdleStats, PlayerStats, STALL_GAP};
pub use publisher::PublisherStats;
pub use runner::{execute, SHUTDOWN_GRACE};
pub use summary::{Percentiles, RunInfo, ServerUsage, Spread, Summary, KEEP_UP_RATIO};

/// Runs the load generator and prints its summary as one line of JSON on stdout;
/// progress goes to stderr. The entry point of `openrtmp bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let summary = execute(&args).await?;
    println!("{}", summary.to_json());
    Ok(())
}
