//! Command-line arguments of `openrtmp bench`, and their validation into a [`Plan`].

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use openrtmp_client::RtmpUrl;

use crate::conn::Target;
use crate::error::BenchError;
use crate::synth::StreamProfile;

/// What to measure.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One synthetic publisher, `--players` players on its stream.
    Fanout,
    /// `--publishers` publishers sending as fast as the server takes it; no players.
    Ingest,
    /// `--publishers` paced publishers, `--players` players on each stream.
    Streams,
    /// `--players` connections that handshake, `connect`, then stay idle.
    Idle,
}

impl Mode {
    /// The name used on the command line and in the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Fanout => "fanout",
            Mode::Ingest => "ingest",
            Mode::Streams => "streams",
            Mode::Idle => "idle",
        }
    }
}

/// `openrtmp bench`: an RTMP load generator. Prints one JSON summary on stdout.
///
/// The run: publishers connect and start, then players (or idle connections) connect
/// `--ramp-ms` apart; once all are set up (or failed, at most `--connect-timeout-secs`
/// each), the run lasts `--duration` seconds, of which the first `--warmup-secs` are not
/// measured. Then every connection is closed.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// fanout, ingest, streams or idle.
    #[arg(long, value_enum, default_value_t = Mode::Fanout)]
    pub mode: Mode,
    /// Base URL; stream names `<prefix>0`, `<prefix>1`, ... are appended.
    #[arg(long, default_value = "rtmp://127.0.0.1:1935/live")]
    pub url: String,
    /// Players (per stream in `streams` mode); idle connections in `idle` mode.
    #[arg(long, visible_alias = "connections", default_value_t = 10)]
    pub players: u32,
    /// Publishers (`ingest` and `streams`; `fanout` always has one).
    #[arg(long, default_value_t = 1)]
    pub publishers: u32,
    /// Seconds the run lasts once all connections are set up, warm-up included.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds at the start of the run left out of the statistics.
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
    /// Audio + video bitrate of each synthetic stream, kbit/s.
    #[arg(long, default_value_t = 3000)]
    pub bitrate_kbps: u32,
    /// Video frames per second.
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Seconds between keyframes.
    #[arg(long, default_value_t = 2.0)]
    pub gop_secs: f64,
    /// Milliseconds between two connection starts (0: all at once).
    #[arg(long, default_value_t = 1)]
    pub ramp_ms: u64,
    /// Outbound chunk size of every connection.
    #[arg(long, default_value_t = 4096)]
    pub chunk_size: u32,
    /// Seconds allowed per connection for TCP connect, handshake, `connect` and
    /// publish/play start.
    #[arg(long, default_value_t = 10.0)]
    pub connect_timeout_secs: f64,
    /// Prefix of the stream names.
    #[arg(long, default_value = "bench")]
    pub stream_prefix: String,
    /// Spread connections over this many loopback source addresses (127.0.0.1,
    /// 127.0.0.2, ...), e.g. to stay under a server's per-IP connection limit. Needs a
    /// 127.x.y.z target.
    #[arg(long, default_value_t = 1)]
    pub source_ips: u8,
    /// Process id of the server under test (Linux): its CPU time in the measured window
    /// and its memory are read from /proc and added to the summary.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// CPU the server is pinned to (Linux, with --server-pid): the kernel's interrupt work
    /// on it in the measured window (`cpuN` irq + softirq of /proc/stat, the `ksoftirqd/N`
    /// thread) is reported, and added to the server's CPU where the kernel did not already
    /// charge it to the server (`cpu_secs_per_gbit_with_softirq`).
    #[arg(long, value_name = "N")]
    pub server_cpu: Option<u32>,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

impl Default for BenchArgs {
    /// The command-line defaults.
    fn default() -> Self {
        BenchArgs {
            mode: Mode::Fanout,
            url: "rtmp://127.0.0.1:1935/live".into(),
            players: 10,
            publishers: 1,
            duration: 10.0,
            warmup_secs: 2.0,
            bitrate_kbps: 3000,
            fps: 30,
            gop_secs: 2.0,
            ramp_ms: 1,
            chunk_size: 4096,
            connect_timeout_secs: 10.0,
            stream_prefix: "bench".into(),
            source_ips: 1,
            server_pid: None,
            server_cpu: None,
            quiet: false,
        }
    }
}

/// Most connections of one role in one run (file descriptors run out long before).
pub const MAX_CONNECTIONS: u32 = 100_000;

/// Validated arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The mode.
    pub mode: Mode,
    /// The base URL as given.
    pub url: String,
    /// Where to connect.
    pub target: Target,
    /// Publishers to start.
    pub publishers: u32,
    /// Players per stream (0 in ingest and idle modes).
    pub players_per_stream: u32,
    /// Idle connections (idle mode only).
    pub idle: u32,
    /// Whether publishers pace in real time.
    pub paced: bool,
    /// Length of the run after setup.
    pub duration: Duration,
    /// Unmeasured start of the run.
    pub warmup: Duration,
    /// Spacing of connection starts.
    pub ramp: Duration,
    /// Per-connection setup deadline.
    pub setup_timeout: Duration,
    /// The synthetic stream.
    pub profile: StreamProfile,
    /// Outbound chunk size.
    pub chunk_size: u32,
    /// Stream name prefix.
    pub stream_prefix: String,
    /// Local addresses to bind connections to, in turn (empty: unbound).
    pub sources: Vec<IpAddr>,
}

fn invalid(reason: impl Into<String>) -> BenchError {
    BenchError::InvalidArgs { reason: reason.into() }
}

fn secs(name: &str, value: f64, max: f64) -> Result<Duration, BenchError> {
    if !(0.0..=max).contains(&value) {
        return Err(invalid(format!("{name} must be within 0..={max} seconds, not {value}")));
    }
    Ok(Duration::from_secs_f64(value))
}

/// 127.0.0.1 .. 127.0.0.n, when `n` > 1 and the target is on loopback (Linux routes all of
/// 127.0.0.0/8 to `lo`, so every one of them can reach it).
fn source_ips(host: &str, n: u8) -> Result<Vec<IpAddr>, BenchError> {
    if n <= 1 {
        return Ok(Vec::new());
    }
    match host.parse::<Ipv4Addr>() {
        Ok(ip) if ip.is_loopback() => {
            Ok((1..=n.min(254)).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i))).collect())
        }
        _ => Err(invalid("--source-ips needs a 127.x.y.z target address")),
    }
}

impl Plan {
    /// Checks `args` and works out what to start.
    pub fn new(args: &BenchArgs) -> Result<Plan, BenchError> {
        let url = RtmpUrl::parse(&args.url)?;
        if url.is_tls() {
            return Err(BenchError::TlsUnsupported);
        }
        let target = Target {
            host: url.host.clone(),
            port: url.port,
            app: url.app.clone(),
            tc_url: url.tc_url(),
        };
        let duration = secs("--duration", args.duration, 86_400.0)?;
        let warmup = secs("--warmup-secs", args.warmup_secs, 86_400.0)?;
        if warmup >= duration {
            return Err(invalid("--warmup-secs must be shorter than --duration"));
        }
        let setup_timeout = secs("--connect-timeout-secs", args.connect_timeout_secs, 3600.0)?;
        if setup_timeout.is_zero() {
            return Err(invalid("--connect-timeout-secs must be positive"));
        }
        if !(1..=240).contains(&args.fps) {
            return Err(invalid("--fps must be within 1..=240"));
        }
        if !(args.gop_secs > 0.0 && args.gop_secs <= 60.0) {
            return Err(invalid("--gop-secs must be within (0, 60]"));
        }
        if !(1..=10_000_000).contains(&args.bitrate_kbps) {
            return Err(invalid("--bitrate-kbps must be within 1..=10000000"));
        }
        if !(128..=0xFF_FFFF).contains(&args.chunk_size) {
            return Err(invalid("--chunk-size must be within 128..=16777215"));
        }
        if args.players > MAX_CONNECTIONS || args.publishers > MAX_CONNECTIONS {
            return Err(invalid(format!("at most {MAX_CONNECTIONS} players and publishers")));
        }
        let (publishers, players_per_stream, idle) = match args.mode {
            Mode::Fanout => (1, args.players, 0),
            Mode::Ingest => (args.publishers, 0, 0),
            Mode::Streams => (args.publishers, args.players, 0),
            Mode::Idle => (0, 0, args.players),
        };
        if publishers.saturating_mul(players_per_stream) > MAX_CONNECTIONS {
            return Err(invalid(format!("at most {MAX_CONNECTIONS} players in all")));
        }
        if publishers + players_per_stream + idle == 0 {
            return Err(invalid("nothing to run: raise --players or --publishers"));
        }
        let sources = source_ips(&url.host, args.source_ips)?;
        Ok(Plan {
            mode: args.mode,
            url: args.url.clone(),
            target,
            publishers,
            players_per_stream,
            idle,
            paced: args.mode != Mode::Ingest,
            duration,
            warmup,
            ramp: Duration::from_millis(args.ramp_ms.min(60_000)),
            setup_timeout,
            profile: StreamProfile {
                bitrate_kbps: args.bitrate_kbps,
                fps: args.fps,
                gop_secs: args.gop_secs,
            },
            chunk_size: args.chunk_size,
            stream_prefix: args.stream_prefix.clone(),
            sources,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_shape_the_plan() {
        let mut args = BenchArgs { players: 5, publishers: 3, ..BenchArgs::default() };
        let p = Plan::new(&args).unwrap();
        assert_eq!((p.publishers, p.players_per_stream, p.idle, p.paced), (1, 5, 0, true));
        assert_eq!(p.target.tc_url, "rtmp://127.0.0.1:1935/live");
        args.mode = Mode::Streams;
        let p = Plan::new(&args).unwrap();
        assert_eq!((p.publishers, p.players_per_stream), (3, 5));
        args.mode = Mode::Ingest;
        let p = Plan::new(&args).unwrap();
        assert_eq!((p.publishers, p.players_per_stream, p.paced), (3, 0, false));
        args.mode = Mode::Idle;
        let p = Plan::new(&args).unwrap();
        assert_eq!((p.publishers, p.idle), (0, 5));
    }

    #[test]
    fn bad_arguments_are_refused() {
        let bad = [
            BenchArgs { url: "http://x/live".into(), ..BenchArgs::default() },
            BenchArgs { warmup_secs: 10.0, ..BenchArgs::default() },
            BenchArgs { duration: f64::NAN, ..BenchArgs::default() },
            BenchArgs { fps: 0, ..BenchArgs::default() },
            BenchArgs { gop_secs: 0.0, ..BenchArgs::default() },
            BenchArgs { chunk_size: 1, ..BenchArgs::default() },
            BenchArgs { mode: Mode::Idle, players: 0, ..BenchArgs::default() },
        ];
        for args in bad {
            assert!(Plan::new(&args).is_err(), "{args:?}");
        }
        let far =
            BenchArgs { url: "rtmp://10.0.0.1/live".into(), source_ips: 4, ..BenchArgs::default() };
        assert!(Plan::new(&far).is_err());
        let near = BenchArgs { source_ips: 3, ..BenchArgs::default() };
        let sources = Plan::new(&near).unwrap().sources;
        assert_eq!(sources.last(), Some(&IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))));
        let tls = BenchArgs { url: "rtmps://127.0.0.1/live".into(), ..BenchArgs::default() };
        assert!(matches!(Plan::new(&tls), Err(BenchError::TlsUnsupported)));
    }

    #[test]
    fn clap_defaults_match_default() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: BenchArgs,
        }
        let parsed = Cli::parse_from(["bench"]).args;
        assert_eq!(format!("{parsed:?}"), format!("{:?}", BenchArgs::default()));
        let parsed = Cli::parse_from(["bench", "--mode", "idle", "--connections", "7"]).args;
        assert_eq!((parsed.mode, parsed.players), (Mode::Idle, 7));
    }
}
