//! The run: start publishers, ramp up players or idle connections, measure, stop, and
//! aggregate. Everything is bounded in time: setup by the per-connection timeout, the run by
//! `--duration`, and the shutdown by [`SHUTDOWN_GRACE`], after which tasks are aborted.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::args::{BenchArgs, Plan};
use crate::context::{ReadyGuard, RunContext, Window};
use crate::error::BenchError;
use crate::marker;
use crate::player::{self, IdleStats, PlayerStats};
use crate::procstat::{self, CpuProbe, CpuSamples, ProcSample, ServerSamples};
use crate::publisher::{self, PublisherStats};
use crate::summary::{RunInfo, Summary};

/// How long tasks get to return their statistics once told to stop.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Time players keep receiving after the window, for frames sent in it.
pub const DRAIN: Duration = Duration::from_millis(500);
/// Slack on top of the setup timeout when waiting for connections to report.
const READY_SLACK: Duration = Duration::from_secs(1);

/// Progress lines on stderr (unless `--quiet`).
#[derive(Debug, Clone, Copy)]
struct Progress {
    quiet: bool,
    start: Instant,
}

impl Progress {
    fn say(&self, what: std::fmt::Arguments<'_>) {
        if !self.quiet {
            eprintln!("[bench {:6.2}s] {what}", self.start.elapsed().as_secs_f64());
        }
    }
}

/// The connection tasks of a run, by role.
struct Tasks {
    publishers: JoinSet<PublisherStats>,
    players: JoinSet<PlayerStats>,
    idle: JoinSet<IdleStats>,
}

/// Process readings at the edges of the measured window.
struct Readings {
    server: Option<ServerSamples>,
    cpu: Option<CpuSamples>,
    own: Option<(ProcSample, ProcSample)>,
}

/// Runs the load described by `args` and returns its summary.
pub async fn execute(args: &BenchArgs) -> Result<Summary, BenchError> {
    let plan = Plan::new(args)?;
    marker::init();
    let progress = Progress { quiet: args.quiet, start: Instant::now() };
    let server_before = args.server_pid.and_then(procstat::sample);
    if let (Some(pid), None) = (args.server_pid, server_before) {
        progress.say(format_args!("cannot read /proc/{pid}: no server figures"));
    }
    let cpu_probe = args.server_cpu.map(CpuProbe::new);
    if let Some(probe) = cpu_probe {
        progress.say(format_args!(
            "server CPU {}: ksoftirqd pid {:?}, interrupt time accounting {}",
            probe.cpu,
            probe.ksoftirqd,
            probe.accounting.map_or("unknown", |a| a.as_str())
        ));
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let ctx = Arc::new(RunContext {
        target: plan.target.clone(),
        stream_prefix: plan.stream_prefix.clone(),
        chunk_size: plan.chunk_size,
        profile: plan.profile,
        setup_timeout: plan.setup_timeout,
        sources: plan.sources.clone(),
        opened: AtomicUsize::new(0),
        window: OnceLock::new(),
        stop: stop_rx,
    });
    let mut tasks = start(&ctx, &plan, progress).await;

    let ready_at = Instant::now();
    let window = Window { start: ready_at + plan.warmup, end: ready_at + plan.duration };
    // Only the runner sets it, once.
    let _ = ctx.window.set(window);
    progress.say(format_args!(
        "running {:.1}s ({:.1}s warm-up)",
        plan.duration.as_secs_f64(),
        plan.warmup.as_secs_f64()
    ));
    let readings = measure(window, args.server_pid, server_before, cpu_probe).await;
    if !tasks.players.is_empty() {
        // Frames sent just before the end are still on their way to the players.
        tokio::time::sleep(DRAIN).await;
    }
    let _ = stop_tx.send(true);

    let grace = Instant::now() + SHUTDOWN_GRACE;
    let (mut hung, mut panicked) = (0, 0);
    let publishers = collect(&mut tasks.publishers, grace, &mut hung, &mut panicked).await;
    let mut players = collect(&mut tasks.players, grace, &mut hung, &mut panicked).await;
    let idle = collect(&mut tasks.idle, grace, &mut hung, &mut panicked).await;
    players.iter_mut().for_each(|p| p.close_window(window.end));
    progress.say(format_args!("done"));

    let info = RunInfo {
        mode: plan.mode,
        url: plan.url.clone(),
        duration_secs: plan.duration.as_secs_f64(),
        warmup_secs: plan.warmup.as_secs_f64(),
        measured_secs: (window.end - window.start).as_secs_f64(),
        bitrate_kbps: if plan.idle > 0 { 0 } else { plan.profile.bitrate_kbps },
        hung,
        panicked,
        server: readings.server,
        server_cpu: readings.cpu,
        own: readings.own,
    };
    Ok(Summary::build(info, &publishers, &players, &idle))
}

/// Starts the publishers and waits for them to publish, then ramps up players or idle
/// connections and waits for them to be set up (each bounded by the setup timeout).
async fn start(ctx: &Arc<RunContext>, plan: &Plan, progress: Progress) -> Tasks {
    let mut tasks =
        Tasks { publishers: JoinSet::new(), players: JoinSet::new(), idle: JoinSet::new() };
    let (tx, mut rx) = mpsc::unbounded_channel();
    for stream in 0..plan.publishers as usize {
        let ready = ReadyGuard::new(tx.clone());
        tasks.publishers.spawn(publisher::run(ctx.clone(), stream, plan.paced, ready));
    }
    drop(tx);
    let up = wait_ready(&mut rx, plan.publishers, Instant::now() + plan.setup_timeout).await;
    if plan.publishers > 0 {
        progress.say(format_args!("{up}/{} publishers set up", plan.publishers));
    }

    let (tx, mut rx) = mpsc::unbounded_channel();
    let ramp_start = Instant::now();
    let total = plan.publishers * plan.players_per_stream + plan.idle;
    for i in 0..total {
        tokio::time::sleep_until((ramp_start + plan.ramp * i).into()).await;
        let ready = ReadyGuard::new(tx.clone());
        if plan.idle > 0 {
            tasks.idle.spawn(player::run_idle(ctx.clone(), ready));
        } else {
            // Streams get their players round-robin, so every stream ramps up together.
            let stream = (i % plan.publishers) as usize;
            tasks.players.spawn(player::run_player(ctx.clone(), stream, ready));
        }
    }
    drop(tx);
    let up = wait_ready(&mut rx, total, Instant::now() + plan.setup_timeout).await;
    if total > 0 {
        progress.say(format_args!("{up}/{total} connections set up"));
    }
    tasks
}

/// Waits for the window to pass, reading the server, its CPU and this process at both ends.
async fn measure(
    window: Window,
    server_pid: Option<u32>,
    before: Option<ProcSample>,
    cpu_probe: Option<CpuProbe>,
) -> Readings {
    let read_all = || {
        let server = server_pid.and_then(procstat::sample);
        let cpu = cpu_probe.and_then(|p| p.sample());
        (server, cpu, procstat::sample(std::process::id()))
    };
    tokio::time::sleep_until(window.start.into()).await;
    let (server_start, cpu_start, own_start) = read_all();
    tokio::time::sleep_until(window.end.into()).await;
    let (server_end, cpu_end, own_end) = read_all();
    let cpu = match (cpu_probe, cpu_start, cpu_end) {
        (Some(p), Some(window_start), Some(window_end)) => {
            Some(CpuSamples { cpu: p.cpu, accounting: p.accounting, window_start, window_end })
        }
        _ => None,
    };
    let server = match (server_pid, before, server_start, server_end) {
        (Some(pid), Some(before), Some(window_start), Some(window_end)) => {
            Some(ServerSamples { pid, before, window_start, window_end })
        }
        _ => None,
    };
    Readings { server, cpu, own: own_start.zip(own_end) }
}

/// Waits until `expected` connections reported set up, or `deadline` plus some slack for
/// the last ones; returns how many reported.
async fn wait_ready(rx: &mut mpsc::UnboundedReceiver<()>, expected: u32, deadline: Instant) -> u32 {
    let deadline = deadline + READY_SLACK;
    let mut got = 0;
    while got < expected {
        match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
            Ok(Some(())) => got += 1,
            // Every guard is gone, or time is up.
            Ok(None) | Err(_) => break,
        }
    }
    got
}

/// The results of every task in `set`; tasks still running at `grace` are aborted and
/// counted as hung.
async fn collect<T: 'static>(
    set: &mut JoinSet<T>,
    grace: Instant,
    hung: &mut u64,
    panicked: &mut u64,
) -> Vec<T> {
    let mut out = Vec::with_capacity(set.len());
    loop {
        match tokio::time::timeout_at(grace.into(), set.join_next()).await {
            Ok(Some(Ok(stats))) => out.push(stats),
            Ok(Some(Err(e))) => {
                tracing::warn!(error = %e, "connection task failed");
                *panicked += 1;
            }
            Ok(None) => break,
            Err(_) => {
                *hung += set.len() as u64;
                set.abort_all();
                break;
            }
        }
    }
    out
}
