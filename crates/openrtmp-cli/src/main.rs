//! `openrtmp`: the OpenRTMP command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod logging;
mod serve;
mod service;
#[cfg(windows)]
mod winservice;
use openrtmp_client::{ConnectOptions, PlayOptions, PublishOptions, RtmpUrl};

/// OpenRTMP: live streaming over RTMP.
#[derive(Debug, Parser)]
#[command(name = "openrtmp", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Log filter (error, warn, info, debug, trace, or a tracing directive). Default: the
    /// configuration's `log.level` (info; environment `OPENRTMP_LOG__LEVEL`) for `serve`,
    /// warn for the client tools (and info for reconnect requests followed).
    #[arg(long, global = true)]
    pub(crate) log: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (defaults < file < OPENRTMP_* environment), secrets
    /// redacted.
    Dump {
        /// Configuration file.
        #[arg(long, env = "OPENRTMP_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
        /// Output format.
        #[arg(long, default_value = "yaml", value_parser = ["yaml", "json"])]
        format: String,
    },
    /// Validate a configuration file without starting; lists every problem.
    Check {
        /// The file (YAML or JSON).
        file: PathBuf,
    },
}

/// TLS options of the client tools (for `rtmps://` URLs).
#[derive(Debug, Clone, Default, clap::Args)]
struct TlsClientArgs {
    /// Also trust the certificates in this PEM file (repeatable), e.g. a server's
    /// self-signed `cert.pem`.
    #[arg(long = "tls-ca", value_name = "FILE")]
    ca: Vec<PathBuf>,
    /// Trust the server by its key alone: SHA-256 of its SubjectPublicKeyInfo, 64 hex digits
    /// (repeatable; `openrtmp cert dev` prints it as "key pin").
    #[arg(long = "tls-pin", value_name = "SHA256")]
    pins: Vec<openrtmp_tls::Fingerprint>,
    /// Do not verify the server's certificate (development only).
    #[arg(long = "tls-insecure")]
    insecure: bool,
}

impl TlsClientArgs {
    fn settings(&self) -> openrtmp_tls::ClientTls {
        openrtmp_tls::ClientTls {
            ca_files: self.ca.clone(),
            pinned_keys: self.pins.clone(),
            insecure: self.insecure,
        }
    }
}

#[derive(Debug, Subcommand)]
enum CertCommand {
    /// Write a self-signed development certificate (`cert.pem`, `key.pem`) for localhost,
    /// 127.0.0.1, ::1 and the given names; prints its fingerprints.
    Dev {
        /// Output directory (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Extra DNS name or IP address (repeatable).
        #[arg(long = "name", value_name = "NAME")]
        names: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the RTMP server (built-in defaults: listen on 0.0.0.0:1935, any app, no auth;
    /// HTTP API on 127.0.0.1:8080).
    // Boxed: its flags outweigh the other commands' many times over.
    Serve(Box<serve::ServeArgs>),
    /// Check or print configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// TLS certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Install or remove the server as a system service (systemd, launchd, Windows service).
    #[command(subcommand)]
    Service(service::ServiceCommand),
    /// Sign a play token: prints the query string to append to the play URL.
    Token {
        /// The `auth.play_tokens.secret` of the server.
        #[arg(long)]
        secret: String,
        /// Application.
        #[arg(long)]
        app: String,
        /// Stream name.
        #[arg(long)]
        stream: String,
        /// Validity from now, seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
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
        #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(chunk_size_range()))]
        chunk_size: u32,
        /// Do not announce or follow the Enhanced RTMP reconnect request (by default a
        /// draining server can move the publication to another server without a gap).
        #[arg(long)]
        no_follow_reconnect: bool,
        #[command(flatten)]
        tls: TlsClientArgs,
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
        #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(chunk_size_range()))]
        chunk_size: u32,
        #[command(flatten)]
        tls: TlsClientArgs,
    },
    /// Connect to a stream and report codecs, resolution, frame rate and bitrate (JSON).
    Probe {
        /// Stream URL: rtmp://HOST:PORT/APP/STREAM (port optional)
        url: String,
        /// How long to measure, seconds.
        #[arg(long, default_value_t = 3.0)]
        duration: f64,
        #[command(flatten)]
        tls: TlsClientArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) if args.service => return service_main(),
        Command::Serve(args) => return serve::main(*args, cli.log),
        Command::Config(command) => return config_command(command),
        Command::Cert(command) => return cert_command(command),
        Command::Service(command) => return service::main(command),
        Command::Token { secret, app, stream, ttl } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            let expires = now.saturating_add(ttl);
            let token = openrtmp_server::auth::sign_play_token(&secret, &app, &stream, expires);
            println!("expires={expires}&token={token}");
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    // Warnings, plus the publisher's moves (reconnect requests followed): a user watching
    // `openrtmp publish` should see where the stream went.
    let level = cli.log.as_deref().unwrap_or("warn,openrtmp_client::follow=info");
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
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
            eprintln!("openrtmp: {}", explain(&e));
            ExitCode::FAILURE
        }
    }
}

/// `serve --service`: hands the process to the Windows Service Control Manager, which calls
/// back `serve_from_command_line`.
fn service_main() -> ExitCode {
    #[cfg(windows)]
    {
        let service = winservice::Service {
            serve: serve_from_command_line,
            stop: || {
                if let Some(handle) = serve::running() {
                    handle.shutdown(false);
                }
            },
        };
        match winservice::run(service) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("openrtmp: {e}");
                ExitCode::FAILURE
            }
        }
    }
    #[cfg(not(windows))]
    {
        eprintln!("openrtmp: --service is for the Windows Service Control Manager; use systemd or launchd here (docs/service.md)");
        ExitCode::from(2)
    }
}

/// Parses this process's command line again and serves (the Windows service entry point).
#[cfg(windows)]
fn serve_from_command_line() -> ExitCode {
    match Cli::try_parse() {
        Ok(Cli { command: Command::Serve(mut args), log }) => {
            args.service = false;
            serve::main(*args, log)
        }
        Ok(_) => ExitCode::from(2),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// An error and its causes, each cause once: our error messages already name their cause,
/// so a cause is appended only when the message so far does not end with it.
fn explain(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.ends_with(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
}

fn cert_command(command: CertCommand) -> ExitCode {
    match command {
        CertCommand::Dev { out, names } => match openrtmp_tls::dev::write(&out, &names) {
            Ok((cert, key, dev)) => {
                println!("certificate: {}", cert.display());
                println!("private key: {}", key.display());
                println!("names: {}", dev.info.names.join(", "));
                println!("SHA-256 fingerprint: {}", dev.info.fingerprint);
                println!("key pin (--tls-pin): {}", dev.info.spki_pin);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("openrtmp: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn config_command(command: ConfigCommand) -> ExitCode {
    match command {
        ConfigCommand::Dump { config, format } => {
            let env: Vec<(String, String)> = std::env::vars().collect();
            match openrtmp_config::load(
                config.as_deref(),
                &env,
                &openrtmp_config::FileConfig::default(),
            ) {
                Ok(loaded) => {
                    print_env_warnings(&loaded.warnings);
                    let format = if format == "json" {
                        openrtmp_config::Format::Json
                    } else {
                        openrtmp_config::Format::Yaml
                    };
                    println!("{}", openrtmp_config::dump(&loaded.config, format).trim_end());
                    ExitCode::SUCCESS
                }
                Err(errors) => {
                    eprintln!("openrtmp: invalid configuration:\n{errors}");
                    ExitCode::from(2)
                }
            }
        }
        ConfigCommand::Check { file } => {
            // The file alone is checked; say what `serve` will skip from the environment.
            let env: Vec<(String, String)> = std::env::vars().collect();
            print_env_warnings(&openrtmp_config::env_warnings(&env));
            check_command(&file)
        }
    }
}

fn check_command(file: &std::path::Path) -> ExitCode {
    match openrtmp_config::check_file(file) {
        Ok(_) => {
            println!("{}: ok", file.display());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{}: invalid configuration:\n{errors}", file.display());
            ExitCode::from(2)
        }
    }
}

/// The `OPENRTMP_*` variables that are not configuration keys, on stderr (names only).
fn print_env_warnings(warnings: &[openrtmp_config::ConfigIssue]) {
    for warning in warnings {
        eprintln!("openrtmp: warning: environment variable {warning}");
    }
}

/// `serve` and `config` run before the runtime starts (see `main`).
fn unreachable_command() -> anyhow::Result<()> {
    anyhow::bail!("internal: command dispatched twice")
}

/// [`openrtmp_proto::chunk::OUTBOUND_CHUNK_SIZES`] as the `i64` range clap's integer parsers
/// take.
fn chunk_size_range() -> std::ops::RangeInclusive<i64> {
    let sizes = openrtmp_proto::chunk::OUTBOUND_CHUNK_SIZES;
    i64::from(*sizes.start())..=i64::from(*sizes.end())
}

fn seconds(s: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| anyhow::anyhow!("{flag} must be a non-negative number of seconds"))
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(_)
        | Command::Config(_)
        | Command::Cert(_)
        | Command::Service(_)
        | Command::Token { .. } => unreachable_command(),
        Command::Bench(args) => openrtmp_bench::run(args).await,
        Command::Publish { file, url, fast, repeat, chunk_size, no_follow_reconnect, tls } => {
            let url = RtmpUrl::parse(&url)?;
            let options = ConnectOptions {
                chunk_size,
                tls: tls.settings(),
                reconnect: !no_follow_reconnect,
                ..ConnectOptions::default()
            };
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
        Command::Play { url, output, duration, chunk_size, tls } => {
            let url = RtmpUrl::parse(&url)?;
            let options =
                ConnectOptions { chunk_size, tls: tls.settings(), ..ConnectOptions::default() };
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
        Command::Probe { url, duration, tls } => {
            let url = RtmpUrl::parse(&url)?;
            let report = openrtmp_client::probe(
                &url,
                ConnectOptions { tls: tls.settings(), ..ConnectOptions::default() },
                seconds(duration, "--duration")?,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&report.to_json())?);
            Ok(())
        }
    }
}
