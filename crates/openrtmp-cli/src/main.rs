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
    /// Log filter (error, warn, info, debug, trace, or a tracing directive). Default: info for
    /// `serve`, warn for the client tools.
    #[arg(long, global = true, env = "OPENRTMP_LOG")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the RTMP server (built-in defaults: listen on 0.0.0.0:1935, any app, no auth).
    Serve {
        /// Address to listen on (repeatable), e.g. 0.0.0.0:1935 or an IPv6 address in brackets;
        /// port 0 picks a free port.
        #[arg(long = "listen", value_name = "ADDR:PORT")]
        listen: Vec<std::net::SocketAddr>,
        /// Outbound chunk size.
        #[arg(long, default_value_t = openrtmp_server::DEFAULT_CHUNK_SIZE, value_parser = clap::value_parser!(u32).range(128..=65536))]
        chunk_size: u32,
        /// Low-latency mode: players lagging more than 500 ms skip to the next keyframe.
        #[arg(long)]
        low_latency: bool,
        /// Refuse to play streams nobody publishes (NetStream.Play.StreamNotFound) instead of
        /// letting players wait for a publisher.
        #[arg(long)]
        no_wait_for_publisher: bool,
        /// Let a new publisher replace the current one on the same stream key.
        #[arg(long)]
        replace_publisher: bool,
        /// Seconds players of an unpublished stream wait for a new publisher (0: close at once).
        #[arg(long, default_value_t = 30.0)]
        unpublished_wait: f64,
        /// Most simultaneous connections.
        #[arg(long, default_value_t = openrtmp_server::DEFAULT_MAX_CONNECTIONS)]
        max_connections: usize,
        /// Most simultaneous connections from one IP address.
        #[arg(long, default_value_t = openrtmp_server::DEFAULT_MAX_CONNECTIONS_PER_IP)]
        max_connections_per_ip: usize,
    },
    /// Load generator: fan-out, ingest, many streams, idle connections (JSON summary).
    Bench(openrtmp_bench::BenchArgs),
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
    let default_level = if matches!(cli.command, Command::Serve { .. }) { "info" } else { "warn" };
    let level = cli.log.as_deref().unwrap_or(default_level);
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
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

async fn serve(config: openrtmp_server::Config) -> anyhow::Result<()> {
    tracing::info!(
        listen = ?config.listen,
        chunk_size = config.chunk_size,
        gop_cache_ms = config.hub.gop_cache_ms,
        viewer_max_lag_ms = config.effective_hub().viewer_max_lag_ms,
        max_connections = config.max_connections,
        max_connections_per_ip = config.max_connections_per_ip,
        memory_budget = config.memory_budget,
        wait_for_publisher = config.hub.wait_for_publisher,
        auth = "none (any app, any stream)",
        "starting with these settings"
    );
    let server = openrtmp_server::Server::bind(config).await?;
    for addr in server.local_addrs() {
        tracing::info!(%addr, "listening (rtmp://{addr}/APP/STREAM)");
    }
    server.run(shutdown_signal()).await;
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn seconds(s: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| anyhow::anyhow!("{flag} must be a non-negative number of seconds"))
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            listen,
            chunk_size,
            low_latency,
            no_wait_for_publisher,
            replace_publisher,
            unpublished_wait,
            max_connections,
            max_connections_per_ip,
        } => {
            let mut config = openrtmp_server::Config::default();
            if !listen.is_empty() {
                config.listen = listen;
            }
            config.chunk_size = chunk_size;
            config.low_latency = low_latency;
            config.hub.wait_for_publisher = !no_wait_for_publisher;
            config.hub.replace_publisher = replace_publisher;
            config.unpublished_wait = seconds(unpublished_wait, "--unpublished-wait")?;
            config.max_connections = max_connections;
            config.max_connections_per_ip = max_connections_per_ip;
            serve(config).await
        }
        Command::Bench(args) => openrtmp_bench::run(args).await,
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
