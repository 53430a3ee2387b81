//! The one JSON object a run prints: throughput, keep-up, latency, time to first frame,
//! stalls and errors, built from every connection's statistics.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::args::Mode;
use crate::histogram::Histogram;
use crate::player::{IdleStats, PlayerStats};
use crate::procstat::{CpuSamples, IrqAccounting, ProcSample, ServerSamples};
use crate::publisher::PublisherStats;

/// A player keeps up when it received at least this share of what its publisher sent in
/// the window (see [`PlayerStats::window_sent_bytes`]) and did not stall.
pub const KEEP_UP_RATIO: f64 = 0.95;

/// Facts about the run the statistics do not carry.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// The mode.
    pub mode: Mode,
    /// The base URL.
    pub url: String,
    /// `--duration`, seconds.
    pub duration_secs: f64,
    /// `--warmup-secs`.
    pub warmup_secs: f64,
    /// Length of the measured window, seconds.
    pub measured_secs: f64,
    /// `--bitrate-kbps` (0 in idle mode).
    pub bitrate_kbps: u32,
    /// Connections whose task neither returned nor panicked in time (aborted).
    pub hung: u64,
    /// Connection tasks that panicked.
    pub panicked: u64,
    /// Readings of the server process (`--server-pid`).
    pub server: Option<ServerSamples>,
    /// Readings of the server's CPU (`--server-cpu`): interrupt work done there.
    pub server_cpu: Option<CpuSamples>,
    /// Readings of the load generator's own process at the start and end of the window
    /// (to tell when the generator, not the server, is the bottleneck).
    pub own: Option<(ProcSample, ProcSample)>,
}

/// What the server under test spent (`--server-pid`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerUsage {
    /// Its process id.
    pub pid: u32,
    /// CPU seconds (user + system) in the measured window.
    pub cpu_secs: f64,
    /// CPU seconds per Gbit delivered to players (published, without players) in the
    /// window; `None` when nothing was delivered.
    pub cpu_secs_per_gbit: Option<f64>,
    /// Resident memory before the first connection, KiB.
    pub rss_kb_before: u64,
    /// Resident memory once every connection was set up (window start), KiB.
    pub rss_kb_loaded: u64,
    /// Resident memory at the end of the window, KiB.
    pub rss_kb_end: u64,
    /// Peak resident memory of the process so far, KiB.
    pub hwm_kb: u64,
    /// (loaded - before) / connections established, KiB.
    pub rss_kb_per_connection: Option<f64>,
    /// The CPU the server is pinned to (`--server-cpu`).
    pub server_cpu: Option<u32>,
    /// How the kernel charges interrupt time; decides what `cpu_secs_with_softirq` adds.
    pub irq_accounting: Option<IrqAccounting>,
    /// irq + softirq time of the server's CPU in the window, whichever task it interrupted.
    pub softirq_secs: Option<f64>,
    /// CPU time of `ksoftirqd/N` on the server's CPU in the window.
    pub ksoftirqd_secs: Option<f64>,
    /// `cpu_secs` plus the interrupt work on the server's CPU the process was not charged
    /// for (see [`IrqAccounting`]); `None` when that cannot be told.
    pub cpu_secs_with_softirq: Option<f64>,
    /// `cpu_secs_with_softirq` per Gbit, like `cpu_secs_per_gbit`.
    pub cpu_secs_per_gbit_with_softirq: Option<f64>,
}

/// min / p50 / max.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Smallest.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// Largest.
    pub max: f64,
}

/// p50 / p99 / max of a histogram in milliseconds, and how many values it holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// Median, ms.
    pub p50: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// Largest, ms.
    pub max: f64,
    /// Values recorded.
    pub samples: u64,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Facts about the run.
    pub info: RunInfo,
    /// Publishers started.
    pub publishers: u64,
    /// Publishers that got NetStream.Publish.Start.
    pub publishers_ok: u64,
    /// Players started.
    pub players: u64,
    /// Idle connections started.
    pub idle: u64,
    /// Audio + video sent by all publishers in the window, Mbit/s.
    pub publish_mbps: f64,
    /// Audio + video received by all players in the window, Mbit/s.
    pub delivered_mbps: f64,
    /// Per-player Mbit/s (a failed player counts as 0); `None` without players.
    pub player_mbps: Option<Spread>,
    /// Players that kept up (see [`KEEP_UP_RATIO`]).
    pub players_keeping_up: u64,
    /// Relay latency of video frames.
    pub latency_ms: Option<Percentiles>,
    /// Time to first frame.
    pub ttff_ms: Option<Percentiles>,
    /// Stalls over all players.
    pub stalls: u64,
    /// Video frames received by all players in the window.
    pub video_frames_delivered: u64,
    /// Error kind -> connections it ended.
    pub errors: BTreeMap<String, u64>,
    /// Connections of any role whose `connect` never succeeded.
    pub connect_failures: u64,
    /// Connections of any role whose `connect` succeeded.
    pub connections_established: u64,
    /// The server's CPU and memory, with `--server-pid`.
    pub server: Option<ServerUsage>,
}

fn mbps(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 * 8.0 / secs / 1e6
    } else {
        0.0
    }
}

fn percentiles_ms(h: &Histogram) -> Option<Percentiles> {
    let ms = |us: Option<u64>| us.map_or(0.0, |v| v as f64 / 1000.0);
    (h.count() > 0).then(|| Percentiles {
        p50: ms(h.quantile(0.5)),
        p99: ms(h.quantile(0.99)),
        max: ms(h.max()),
        samples: h.count(),
    })
}

fn server_usage(
    s: &ServerSamples,
    cpu: Option<&CpuSamples>,
    gbit: f64,
    connections: usize,
) -> ServerUsage {
    let cpu_secs = s.window_end.cpu_since(&s.window_start).as_secs_f64();
    let grown = s.window_start.rss_kb.saturating_sub(s.before.rss_kb);
    let usage = cpu.map(CpuSamples::usage);
    let with_softirq = cpu.and_then(|c| c.with_softirq(cpu_secs));
    let per_gbit = |secs: f64| (gbit > 0.0).then(|| secs / gbit);
    ServerUsage {
        pid: s.pid,
        cpu_secs,
        cpu_secs_per_gbit: per_gbit(cpu_secs),
        rss_kb_before: s.before.rss_kb,
        rss_kb_loaded: s.window_start.rss_kb,
        rss_kb_end: s.window_end.rss_kb,
        hwm_kb: s.window_end.hwm_kb,
        rss_kb_per_connection: (connections > 0).then(|| grown as f64 / connections as f64),
        server_cpu: cpu.map(|c| c.cpu),
        irq_accounting: cpu.and_then(|c| c.accounting),
        softirq_secs: usage.map(|u| u.softirq_secs),
        ksoftirqd_secs: usage.and_then(|u| u.ksoftirqd_secs),
        cpu_secs_with_softirq: with_softirq,
        cpu_secs_per_gbit_with_softirq: with_softirq.and_then(per_gbit),
    }
}

/// Rounds to 3 decimals, so the JSON stays readable.
fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Summary {
    /// Aggregates the statistics of every connection. `players` must already have had
    /// [`PlayerStats::close_window`] applied.
    pub fn build(
        info: RunInfo,
        publishers: &[PublisherStats],
        players: &[PlayerStats],
        idle: &[IdleStats],
    ) -> Summary {
        let secs = info.measured_secs;
        let mut errors = BTreeMap::<String, u64>::new();
        let mut add_error = |kind: &str| *errors.entry(kind.to_owned()).or_default() += 1;
        let connected = publishers.iter().filter(|p| p.connected).count()
            + players.iter().filter(|p| p.connected).count()
            + idle.iter().filter(|c| c.connected).count();
        let total = publishers.len() + players.len() + idle.len();
        publishers.iter().filter_map(|p| p.error).for_each(&mut add_error);
        idle.iter().filter_map(|c| c.error).for_each(&mut add_error);
        let mut latency = Histogram::new();
        let mut ttff = Histogram::new();
        let mut rates = Vec::with_capacity(players.len());
        let mut keeping_up = 0;
        for p in players {
            match p.error {
                Some(kind) => add_error(kind),
                None if p.playing && p.ttff.is_none() => add_error("no_video"),
                None => {}
            }
            latency.merge(&p.latency_us);
            if let Some(t) = p.ttff {
                ttff.record(u64::try_from(t.as_micros()).unwrap_or(u64::MAX));
            }
            rates.push(mbps(p.window_bytes, secs));
            let sent =
                publishers.iter().find(|s| s.stream == p.stream).map_or(0, |s| s.window_bytes);
            if p.error.is_none()
                && p.stalls == 0
                && sent > 0
                && p.window_sent_bytes as f64 >= KEEP_UP_RATIO * sent as f64
            {
                keeping_up += 1;
            }
        }
        for _ in 0..info.hung {
            add_error("hung");
        }
        for _ in 0..info.panicked {
            add_error("panicked");
        }
        rates.sort_by(f64::total_cmp);
        let player_mbps = match (rates.first(), rates.get(rates.len() / 2), rates.last()) {
            (Some(&min), Some(&p50), Some(&max)) => Some(Spread { min, p50, max }),
            _ => None,
        };
        let publish_mbps = mbps(publishers.iter().map(|p| p.window_bytes).sum(), secs);
        let delivered_mbps = mbps(players.iter().map(|p| p.window_bytes).sum(), secs);
        let carried_mbps = if players.is_empty() { publish_mbps } else { delivered_mbps };
        let gbit = carried_mbps * secs / 1000.0;
        let server =
            info.server.map(|s| server_usage(&s, info.server_cpu.as_ref(), gbit, connected));
        Summary {
            publishers: publishers.len() as u64,
            publishers_ok: publishers.iter().filter(|p| p.publishing).count() as u64,
            players: players.len() as u64,
            idle: idle.len() as u64,
            publish_mbps,
            delivered_mbps,
            player_mbps,
            players_keeping_up: keeping_up,
            latency_ms: percentiles_ms(&latency),
            ttff_ms: percentiles_ms(&ttff),
            stalls: players.iter().map(|p| u64::from(p.stalls)).sum(),
            video_frames_delivered: players.iter().map(|p| p.window_video_frames).sum(),
            errors,
            connect_failures: (total - connected) as u64,
            connections_established: connected as u64,
            server,
            info,
        }
    }

    /// The summary as one JSON object (absent measurements are `null`).
    pub fn to_json(&self) -> Value {
        let spread = |s: Option<Spread>| {
            s.map_or(Value::Null, |s| json!({"min": r3(s.min), "p50": r3(s.p50), "max": r3(s.max)}))
        };
        let pcts = |p: Option<Percentiles>| {
            p.map_or(Value::Null, |p| {
                json!({"p50": r3(p.p50), "p99": r3(p.p99), "max": r3(p.max), "samples": p.samples})
            })
        };
        let info = &self.info;
        json!({
            "mode": info.mode.as_str(),
            "url": info.url,
            "duration_secs": info.duration_secs,
            "warmup_secs": info.warmup_secs,
            "measured_secs": r3(info.measured_secs),
            "publishers": self.publishers,
            "publishers_ok": self.publishers_ok,
            "players": self.players,
            "idle_connections": self.idle,
            "stream_bitrate_kbps": info.bitrate_kbps,
            "publish_mbps": r3(self.publish_mbps),
            "delivered_mbps": r3(self.delivered_mbps),
            "player_mbps": spread(self.player_mbps),
            "players_keeping_up": self.players_keeping_up,
            "latency_ms": pcts(self.latency_ms),
            "ttff_ms": pcts(self.ttff_ms),
            "stalls": self.stalls,
            "video_frames_delivered": self.video_frames_delivered,
            "errors": self.errors,
            "connect_failures": self.connect_failures,
            "connections_established": self.connections_established,
            "loadgen": self.info.own.map_or(Value::Null, |(start, end)| {
                let cpu = end.cpu_since(&start).as_secs_f64();
                let util = if info.measured_secs > 0.0 { cpu / info.measured_secs } else { 0.0 };
                json!({"cpu_secs": r3(cpu), "cpu_util": r3(util), "rss_kb": end.rss_kb})
            }),
            "server": self.server.map_or(Value::Null, |s| json!({
                "pid": s.pid,
                "cpu_secs": r3(s.cpu_secs),
                "cpu_secs_per_gbit": s.cpu_secs_per_gbit.map(r3),
                "rss_kb_before": s.rss_kb_before,
                "rss_kb_loaded": s.rss_kb_loaded,
                "rss_kb_end": s.rss_kb_end,
                "hwm_kb": s.hwm_kb,
                "rss_kb_per_connection": s.rss_kb_per_connection.map(r3),
                "server_cpu": s.server_cpu,
                "irq_accounting": s.irq_accounting.map(IrqAccounting::as_str),
                "softirq_secs": s.softirq_secs.map(r3),
                "ksoftirqd_secs": s.ksoftirqd_secs.map(r3),
                "cpu_secs_with_softirq": s.cpu_secs_with_softirq.map(r3),
                "cpu_secs_per_gbit_with_softirq": s.cpu_secs_per_gbit_with_softirq.map(r3),
            })),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn info(mode: Mode) -> RunInfo {
        RunInfo {
            mode,
            url: "rtmp://127.0.0.1:1935/live".into(),
            duration_secs: 10.0,
            warmup_secs: 2.0,
            measured_secs: 8.0,
            bitrate_kbps: 3000,
            hung: 0,
            panicked: 0,
            server: None,
            server_cpu: None,
            own: None,
        }
    }

    fn player(stream: usize, window_bytes: u64, latency_ms: &[u64]) -> PlayerStats {
        let mut p = PlayerStats {
            stream,
            connected: true,
            playing: true,
            ttff: Some(Duration::from_millis(40)),
            window_bytes,
            window_sent_bytes: window_bytes,
            window_video_frames: latency_ms.len() as u64,
            total_bytes: window_bytes,
            ..PlayerStats::default()
        };
        latency_ms.iter().for_each(|&ms| p.latency_us.record(ms * 1000));
        p
    }

    #[test]
    fn fanout_summary_shape_and_values() {
        let publisher = PublisherStats {
            stream: 0,
            connected: true,
            publishing: true,
            window_bytes: 3_000_000,
            total_bytes: 3_750_000,
            video_frames: 300,
            error: None,
        };
        let mut stalled = player(0, 2_990_000, &[5]);
        stalled.stalls = 1;
        let mut failed = player(0, 0, &[]);
        (failed.connected, failed.playing, failed.ttff, failed.error) =
            (false, false, None, Some("tcp_connect"));
        let players =
            [player(0, 3_000_000, &[1, 2, 3]), player(0, 2_000_000, &[4, 100]), stalled, failed];
        let s = Summary::build(info(Mode::Fanout), &[publisher], &players, &[]);
        let j = s.to_json();
        let obj = j.as_object().unwrap();
        for key in [
            "mode",
            "url",
            "duration_secs",
            "players",
            "publishers",
            "stream_bitrate_kbps",
            "delivered_mbps",
            "player_mbps",
            "players_keeping_up",
            "latency_ms",
            "ttff_ms",
            "stalls",
            "errors",
            "connect_failures",
            "connections_established",
        ] {
            assert!(obj.contains_key(key), "missing {key}");
        }
        assert_eq!(j["mode"], "fanout");
        assert_eq!((j["players"].as_u64(), j["publishers"].as_u64()), (Some(4), Some(1)));
        assert_eq!(j["publish_mbps"], 3.0);
        assert_eq!(j["delivered_mbps"], 7.99);
        assert_eq!(j["player_mbps"]["min"], 0.0);
        assert_eq!(j["player_mbps"]["max"], 3.0);
        // Only the first player: the second is too slow, the third stalled, the last failed.
        assert_eq!(j["players_keeping_up"], 1);
        assert_eq!(j["latency_ms"]["samples"], 6);
        let p50 = j["latency_ms"]["p50"].as_f64().unwrap();
        assert!((p50 - 3.0).abs() < 0.1, "{p50}"); // bucket precision
        assert_eq!(j["latency_ms"]["max"], 100.0);
        assert_eq!(j["ttff_ms"]["p50"], 40.0);
        assert_eq!(j["stalls"], 1);
        assert_eq!(j["errors"], json!({"tcp_connect": 1}));
        assert_eq!(
            (j["connect_failures"].as_u64(), j["connections_established"].as_u64()),
            (Some(1), Some(4))
        );
    }

    #[test]
    fn server_usage_per_gbit_and_per_connection() {
        let at = |cpu_ticks, rss_kb| ProcSample { cpu_ticks, rss_kb, hwm_kb: 50_000 };
        let mut i = info(Mode::Ingest);
        i.server = Some(ServerSamples {
            pid: 42,
            before: at(10, 10_000),
            window_start: at(110, 20_000),
            window_end: at(510, 21_000),
        });
        let publisher = PublisherStats {
            connected: true,
            publishing: true,
            window_bytes: 1_000_000_000, // 1 Gbyte in 8 s: 1000 Mbit/s, 8 Gbit
            ..PublisherStats::default()
        };
        let j = Summary::build(i, &[publisher], &[], &[]).to_json();
        assert_eq!(j["publish_mbps"], 1000.0);
        assert_eq!(j["server"]["pid"], 42);
        assert_eq!(j["server"]["cpu_secs"], 4.0);
        assert_eq!(j["server"]["cpu_secs_per_gbit"], 0.5);
        assert_eq!(j["server"]["rss_kb_per_connection"], 10_000.0);
        assert_eq!(j["server"]["hwm_kb"], 50_000);
        assert!(j["loadgen"].is_null());
    }

    #[test]
    fn server_usage_with_the_softirq_of_its_cpu() {
        use crate::procstat::CpuSample;
        let at = |cpu_ticks| ProcSample { cpu_ticks, rss_kb: 1, hwm_kb: 1 };
        let mut i = info(Mode::Ingest);
        i.server = Some(ServerSamples {
            pid: 42,
            before: at(0),
            window_start: at(0),
            window_end: at(400),
        });
        let publisher = PublisherStats {
            connected: true,
            publishing: true,
            window_bytes: 1_000_000_000, // 8 Gbit in the window
            ..PublisherStats::default()
        };
        let build =
            |i: RunInfo| Summary::build(i, std::slice::from_ref(&publisher), &[], &[]).to_json();
        let j = build(i.clone());
        for key in ["server_cpu", "irq_accounting", "softirq_secs", "ksoftirqd_secs"] {
            assert!(j["server"][key].is_null(), "{key} without --server-cpu");
        }
        assert!(j["server"]["cpu_secs_per_gbit_with_softirq"].is_null());
        let cpu = |irq_softirq_ticks, k| CpuSample { irq_softirq_ticks, ksoftirqd_ticks: Some(k) };
        i.server_cpu = Some(CpuSamples {
            cpu: 0,
            accounting: Some(IrqAccounting::Tick),
            window_start: cpu(100, 10),
            window_end: cpu(260, 90),
        });
        let j = build(i);
        assert_eq!(j["server"]["server_cpu"], 0);
        assert_eq!(j["server"]["irq_accounting"], "tick");
        assert_eq!(j["server"]["softirq_secs"], 1.6);
        assert_eq!(j["server"]["ksoftirqd_secs"], 0.8);
        assert_eq!(j["server"]["cpu_secs"], 4.0);
        assert_eq!(j["server"]["cpu_secs_with_softirq"], 4.8);
        assert_eq!(j["server"]["cpu_secs_per_gbit_with_softirq"], 0.6);
    }

    #[test]
    fn idle_summary_has_nulls_for_media() {
        let idle = [
            IdleStats { connected: true, error: None },
            IdleStats { connected: true, error: Some("closed") },
            IdleStats { connected: false, error: Some("connect_timeout") },
        ];
        let mut i = info(Mode::Idle);
        i.hung = 1;
        let j = Summary::build(i, &[], &[], &idle).to_json();
        assert_eq!(j["mode"], "idle");
        assert_eq!(j["connections_established"], 2);
        assert_eq!(j["connect_failures"], 1);
        assert_eq!(j["idle_connections"], 3);
        assert!(j["latency_ms"].is_null() && j["ttff_ms"].is_null() && j["player_mbps"].is_null());
        assert!(j["server"].is_null());
        assert_eq!(j["errors"], json!({"closed": 1, "connect_timeout": 1, "hung": 1}));
        // One line of valid JSON.
        let line = j.to_string();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), j);
    }
}
