//! A synthetic heartbeat load on the Redis directory: `--nodes` simulated nodes, each with
//! its own lease and `--streams` owned streams, heartbeating every `--interval-ms`
//! (spread evenly over the interval) for `--seconds`. Reports the latency of each
//! heartbeat script call (p50/p99/max), calls per second, errors, and what Redis holds
//! for that load (keys, `used_memory`, the CPU Redis spent).
//!
//! ```text
//! redis-server --port 6399 --save '' --appendonly no &
//! cargo run --release -p openrtmp-server --features redis --example directory_load -- \
//!     --url redis://127.0.0.1:6399 --nodes 1000 --streams 10 --seconds 20
//! ```
//!
//! The simulated nodes share `--connections` directories (one multiplexed connection
//! each; default 16): a real node has one. Everything it wrote is removed at the end
//! (`leave`). Point it at a Redis of its own: it writes the `{openrtmp}:` keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use openrtmp_hub::StreamKey;
use openrtmp_server::cluster::{
    Claim, Directory, Lease, NodeLoad, NodeState, OwnedStream, RedisDirectory,
};

struct Args {
    url: String,
    nodes: usize,
    streams: usize,
    seconds: u64,
    interval: Duration,
    connections: usize,
}

fn args() -> Args {
    let mut args = Args {
        url: "redis://127.0.0.1:6379".into(),
        nodes: 1000,
        streams: 10,
        seconds: 20,
        interval: Duration::from_millis(1500),
        connections: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let number = || value.parse::<u64>().unwrap_or_else(|_| panic!("{flag}: {value}"));
        match flag.as_str() {
            "--url" => args.url = value.clone(),
            "--nodes" => args.nodes = number() as usize,
            "--streams" => args.streams = number() as usize,
            "--seconds" => args.seconds = number(),
            "--interval-ms" => args.interval = Duration::from_millis(number()),
            "--connections" => args.connections = number().max(1) as usize,
            other => panic!("unknown flag {other} (--url --nodes --streams --seconds --interval-ms --connections)"),
        }
    }
    args
}

/// What Redis says about itself: `INFO` fields.
async fn info(url: &str) -> std::collections::HashMap<String, String> {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let text: String = redis::cmd("INFO").query_async(&mut conn).await.unwrap();
    let mut map: std::collections::HashMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect();
    let keys: i64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
    map.insert("dbsize".into(), keys.to_string());
    map
}

fn cpu(info: &std::collections::HashMap<String, String>) -> f64 {
    ["used_cpu_sys", "used_cpu_user"].iter().filter_map(|k| info.get(*k)?.parse::<f64>().ok()).sum()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let args = args();
    let dirs: Vec<Arc<RedisDirectory>> = (0..args.connections)
        .map(|_| Arc::new(RedisDirectory::new(&args.url).expect("redis url")))
        .collect();
    let before = info(&args.url).await;

    // Every node writes its lease and claims its streams.
    let setup = Instant::now();
    let mut nodes = Vec::with_capacity(args.nodes);
    for n in 0..args.nodes {
        let dir = Arc::clone(&dirs[n % dirs.len()]);
        let lease = Lease {
            node_id: format!("load-{n:05}"),
            epoch: format!("{:016x}", rand::random::<u64>()),
            advertise_rtmp: format!("rtmp://10.0.{}.{}:1935", n / 250, n % 250),
            state: NodeState::Active,
            load: NodeLoad { connections: 100, streams: args.streams as u64, egress_bps: 1 << 30 },
            ttl: Duration::from_secs(5),
        };
        dir.heartbeat(&lease, &[]).await.expect("heartbeat");
        let mut owned = Vec::with_capacity(args.streams);
        for s in 0..args.streams {
            let key = StreamKey::new("live", format!("n{n:05}-s{s:02}"));
            match dir.claim(&lease, &key, false).await.expect("claim") {
                Claim::Claimed { epoch } => owned.push(OwnedStream { key, epoch }),
                Claim::Held(route) => panic!("{key:?} held by {}: use an empty Redis", route.owner),
            }
        }
        nodes.push((dir, lease, owned));
    }
    let setup = setup.elapsed();
    let loaded = info(&args.url).await;

    // The heartbeats, spread over the interval.
    let started = tokio::time::Instant::now();
    let end = started + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for (n, (dir, lease, owned)) in nodes.iter().cloned().enumerate() {
        let offset = args.interval.mul_f64(n as f64 / args.nodes as f64);
        let interval = args.interval;
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let (mut errors, mut lost) = (0u64, 0u64);
            let mut next = started + offset;
            while next < end {
                tokio::time::sleep_until(next).await;
                let t = Instant::now();
                match dir.heartbeat(&lease, &owned).await {
                    Ok(reply) => lost += reply.lost.len() as u64 + reply.restored as u64,
                    Err(_) => errors += 1,
                }
                samples.push(t.elapsed());
                next += interval;
            }
            (samples, errors, lost)
        }));
    }
    let mut samples = Vec::new();
    let (mut errors, mut anomalies) = (0, 0);
    for task in tasks {
        let (s, e, l) = task.await.unwrap();
        samples.extend(s);
        errors += e;
        anomalies += l;
    }
    let elapsed = started.elapsed();
    let after = info(&args.url).await;
    samples.sort();

    for (dir, lease, _) in &nodes {
        dir.leave(lease).await.expect("leave");
    }
    let left = info(&args.url).await;

    let get = |m: &std::collections::HashMap<String, String>, k: &str| {
        m.get(k).cloned().unwrap_or_default()
    };
    let calls = samples.len();
    let streams = args.nodes * args.streams;
    println!(
        "redis {} at {}",
        get(&before, "redis_version"),
        args.url.rsplit('@').next().unwrap_or("")
    );
    println!(
        "setup: {} nodes x {} streams ({streams} claims + {} heartbeats) in {:.1} s",
        args.nodes,
        args.streams,
        args.nodes,
        setup.as_secs_f64()
    );
    println!(
        "heartbeats: {calls} calls in {:.1} s = {:.0} calls/s ({} connections), errors {errors}, lost/restored {anomalies}",
        elapsed.as_secs_f64(),
        calls as f64 / elapsed.as_secs_f64(),
        args.connections
    );
    println!(
        "heartbeat latency ({} streams each): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        args.streams,
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    let cpu_used = cpu(&after) - cpu(&loaded);
    println!(
        "redis CPU during the heartbeats: {:.1} s over {:.1} s = {:.0} % of one core",
        cpu_used,
        elapsed.as_secs_f64(),
        100.0 * cpu_used / elapsed.as_secs_f64()
    );
    let memory = |m| get(m, "used_memory").parse::<i64>().unwrap_or(0);
    println!(
        "redis keys: {} before, {} loaded, {} after leave; used_memory {} -> {} bytes (+{} bytes, {:.0} bytes per stream)",
        get(&before, "dbsize"),
        get(&after, "dbsize"),
        get(&left, "dbsize"),
        memory(&before),
        memory(&after),
        memory(&after) - memory(&before),
        (memory(&after) - memory(&before)) as f64 / streams.max(1) as f64
    );
}
