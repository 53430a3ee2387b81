//! `openrtmp`: the OpenRTMP command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use openrtmp_client::{ConnectOptions, PlayOptions, PublishOptions, RtmpUrl};

/// OpenRTMP: live streaming over RTMP.
#[derive(Debug, Parser)]
#[command(name = "openrtmp", version, about, propagate_version = true)]
struct Cli {
    /// Log filter (error, warn, info, debug, trace, or a tracing directive).
    #[arg(long, global = true, default_value = "warn", env = "OPENRTMP_LOG")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the RTMP server (built-in defaults).
    Serve,
    /// Publish an FLV file to an RTMP URL, in real time unless --fast.
    Publish {
        /// The FLV file (H.264/AAC or Enhanced RTMP codecs).
        file: PathBuf,
        /// Target URL: rtmp://HOST:PORT/APP/STREAM?key=... (port and query optional)
        url: String,
        /// Send as fast as possible instead of at the file's pace.
        #[arg(long)]
        fast: bool,
        /// Publish the file this many times in a row (timestamps continue).
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// Outbound chunk size.
        #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(128..=65536))]
        chunk_size: u32,
    },
    /// Play a stream into an FLV file (or stdout with -o -).
    Play {
        /// Stream URL: rtmp://HOST:PORT/APP/STREAM (port optional)
        url: String,
        /// Output FLV file; `-` for stdout.
        #[arg(short, long, default_value = "-")]
        output: String,
        /// Stop after this many seconds.
        #[arg(long)]
        duration: Option<f64>,
        /// Outbound chunk size.
        #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(128..=65536))]
        chunk_size: u32,
    },
    /// Connect to a stream and report codecs, resolution, frame rate and bitrate (JSON).
    Probe {
        /// Stream URL: rtmp://HOST:PORT/APP/STREAM (port optional)
        url: String,
        /// How long to measure, seconds.
        #[arg(long, default_value_t = 3.0)]
        duration: f64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("openrtmp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("openrtmp: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn seconds(s: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| anyhow::anyhow!("{flag} must be a non-negative number of seconds"))
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            anyhow::bail!(
                "`serve` is not yet available in this build: the live server is the next milestone. \
                 The client tools (publish, play, probe) work today."
            )
        }
        Command::Publish { file, url, fast, repeat, chunk_size } => {
            let url = RtmpUrl::parse(&url)?;
            let options = ConnectOptions { chunk_size, ..ConnectOptions::default() };
            let publish = PublishOptions { realtime: !fast, repeat };
            let stats = openrtmp_client::publish_file(&file, &url, options, publish).await?;
            eprintln!(
                "published {} tags ({} video, {} audio), {} bytes, {:.1} s of media in {:.1} s",
                stats.tags,
                stats.video_frames,
                stats.audio_frames,
                stats.bytes,
                stats.media_seconds,
                stats.elapsed_seconds
            );
            Ok(())
        }
        Command::Play { url, output, duration, chunk_size } => {
            let url = RtmpUrl::parse(&url)?;
            let options = ConnectOptions { chunk_size, ..ConnectOptions::default() };
            let play = PlayOptions {
                duration: duration.map(|d| seconds(d, "--duration")).transpose()?,
                ..PlayOptions::default()
            };
            let stats = if output == "-" {
                openrtmp_client::play_to_writer(&url, options, play, tokio::io::stdout()).await?
            } else {
                let file = tokio::fs::File::create(&output)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot create {output}: {e}"))?;
                openrtmp_client::play_to_writer(&url, options, play, file).await?
            };
            eprintln!(
                "received {} tags ({} video, {} audio), {} bytes; ended: {}",
                stats.tags, stats.video_frames, stats.audio_frames, stats.bytes, stats.end
            );
            Ok(())
        }
        Command::Probe { url, duration } => {
            let url = RtmpUrl::parse(&url)?;
            let report = openrtmp_client::probe(
                &url,
                ConnectOptions::default(),
                seconds(duration, "--duration")?,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&report.to_json())?);
            Ok(())
        }
    }
}
