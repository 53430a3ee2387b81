//! The FFI object driven from Rust: start, stats, events, stop, errors.

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use super::*;

fn loopback_config() -> FfiConfig {
    FfiConfig { listen: vec!["127.0.0.1:0".into()], shutdown_grace_ms: 1_000, ..default_config() }
}

/// Forwards events to a channel.
struct Collect(Mutex<std_mpsc::Sender<FfiEvent>>);

impl EventListener for Collect {
    fn on_event(&self, event: FfiEvent) {
        let _ = self.0.lock().unwrap().send(event);
    }
}

fn wait_for(
    rx: &std_mpsc::Receiver<FfiEvent>,
    within: Duration,
    want: impl Fn(&FfiEvent) -> bool,
) -> Option<FfiEvent> {
    let deadline = Instant::now() + within;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(e) if want(&e) => return Some(e),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[test]
fn default_config_maps_to_server_defaults() {
    let c = default_config();
    assert_eq!(c.listen, vec!["0.0.0.0:1935".to_string()]);
    let server = c.to_config().unwrap();
    assert_eq!(server.api_listen, None, "the FFI never serves the HTTP API");
    assert_eq!(server.chunk_size, Config::default().chunk_size);
}

#[test]
fn invalid_config_lists_every_problem() {
    let c = FfiConfig {
        listen: vec!["nonsense".into(), "127.0.0.1:0".into()],
        chunk_size: 10,
        max_connections: 0,
        publish_keys: Some(FfiPublishKeys { app: "live".into(), keys: vec![] }),
        ..default_config()
    };
    let Err(FfiError::InvalidConfig { problems }) = OpenRtmpServer::new(c) else {
        panic!("expected InvalidConfig");
    };
    let all = problems.join("\n");
    assert_eq!(problems.len(), 4, "{all}");
    assert!(all.contains("listen[0]"), "{all}");
    assert!(all.contains("chunk_size"), "{all}");
    assert!(all.contains("max_connections"), "{all}");
    assert!(all.contains("publish_keys.keys"), "{all}");
    let message = FfiError::InvalidConfig { problems }.to_string();
    assert!(message.starts_with("invalid configuration: listen[0]"), "{message}");
}

#[test]
fn not_started() {
    let server = OpenRtmpServer::new(loopback_config()).unwrap();
    assert!(!server.is_running());
    assert_eq!(server.stats(), FfiStats::default());
    assert!(server.streams().is_empty());
    assert_eq!(server.end_stream("live".into(), "x".into()), Err(FfiError::NotStarted));
    server.stop(false); // no-op
}

#[test]
fn start_stats_events_stop() {
    let server = OpenRtmpServer::new(loopback_config()).unwrap();
    let (tx, rx) = std_mpsc::channel();
    server.set_listener(Arc::new(Collect(Mutex::new(tx))));

    let addrs = server.start().unwrap();
    assert_eq!(addrs.len(), 1);
    let addr: SocketAddr = addrs[0].parse().unwrap();
    assert_ne!(addr.port(), 0);
    assert_eq!(server.local_addrs(), addrs);
    assert_eq!(server.start(), Err(FfiError::AlreadyRunning));

    // The first poll reports the initial counts.
    let first = wait_for(&rx, Duration::from_secs(3), |_| true);
    assert_eq!(first, Some(FfiEvent::StatsChanged { streams: 0, connections: 0 }));

    // A client connects (and starts a handshake): the connection count changes.
    let mut client = TcpStream::connect(addr).unwrap();
    client.write_all(&[3]).unwrap();
    let seen = wait_for(&rx, Duration::from_secs(3), |e| {
        matches!(e, FfiEvent::StatsChanged { connections: 1, .. })
    });
    assert!(seen.is_some(), "no StatsChanged with connections = 1");
    let stats = server.stats();
    assert!(stats.running);
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.listeners, addrs);

    let t = Instant::now();
    server.stop(true);
    assert!(t.elapsed() < Duration::from_secs(3), "forced stop took {:?}", t.elapsed());
    assert!(!server.is_running());
    assert!(!server.stats().running);
    drop(client);

    // It can start again (new port).
    let again = server.start().unwrap();
    assert_eq!(again.len(), 1);
    server.stop(false);
}

#[test]
fn bind_failure_is_reported() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let server =
        OpenRtmpServer::new(FfiConfig { listen: vec![addr.clone()], ..loopback_config() }).unwrap();
    match server.start() {
        Err(FfiError::Bind { reason }) => assert!(reason.contains(&addr), "{reason}"),
        other => panic!("expected Bind, got {other:?}"),
    }
    assert!(!server.is_running());
}

#[test]
fn from_yaml() {
    let server = OpenRtmpServer::from_yaml(
        "listen: [\"127.0.0.1:0\"]\nrtmp:\n  chunk_size: 8192\napi:\n  listen: \"127.0.0.1:0\"\n"
            .into(),
    )
    .unwrap();
    assert_eq!(server.config.chunk_size, 8192);
    assert_eq!(server.config.api_listen, None);
    let addrs = server.start().unwrap();
    assert_eq!(addrs.len(), 1);
    server.stop(true);

    let Err(FfiError::InvalidConfig { problems }) =
        OpenRtmpServer::from_yaml("rtmp:\n  chunk_size: 1\n  nope: 3\n".into())
    else {
        panic!("expected InvalidConfig");
    };
    assert!(problems.len() >= 2, "{problems:?}");
}

#[test]
fn init_logging_is_idempotent_and_checks_the_filter() {
    init_logging("info".into()).unwrap();
    init_logging("debug".into()).unwrap();
    assert!(matches!(
        init_logging("openrtmp=notalevel".into()),
        Err(FfiError::InvalidConfig { .. })
    ));
}

#[test]
fn platform_seam_before_and_after_start() {
    let server =
        OpenRtmpServer::new(FfiConfig { watch_network: false, ..loopback_config() }).unwrap();
    let (tx, rx) = std_mpsc::channel();
    server.set_listener(Arc::new(Collect(Mutex::new(tx))));
    let bad = FfiNetworkSnapshot {
        networks: vec![FfiNetworkInfo {
            id: 1,
            name: "wlan0".into(),
            kind: FfiNetKind::Wifi,
            addrs: vec!["not-an-ip".into()],
            expensive: false,
        }],
        default_id: Some(1),
    };
    assert!(matches!(server.network_changed(bad), Err(FfiError::InvalidConfig { .. })));
    let lo = FfiNetworkSnapshot {
        networks: vec![FfiNetworkInfo {
            id: 1,
            name: "lo".into(),
            kind: FfiNetKind::Loopback,
            addrs: vec!["127.0.0.1".into(), "::1".into()],
            expensive: false,
        }],
        default_id: Some(1),
    };
    // Reported before start: remembered and replayed on start.
    server.network_changed(lo.clone()).unwrap();
    server.set_power(FfiPowerState { on_battery: true, low_power: true, device_idle: false });
    server.set_local_network_access(FfiLocalNetworkAccess::Granted);
    server.set_network_policy(FfiNetworkPolicy::Any);
    server.set_app_state(FfiAppState::Foreground);
    assert_eq!(server.energy(), FfiEnergyStats::default());
    server.background_time_expiring_ms(1_000); // not running: no-op

    let addrs = server.start().unwrap();
    let handle = server.handle().unwrap();
    assert!(handle.power().low_power, "power state replayed on start");
    let seen = wait_for(&rx, Duration::from_secs(3), |e| *e == FfiEvent::NetworkChanged);
    assert!(seen.is_some(), "no NetworkChanged after the replayed snapshot");

    // While running: applied at once.
    server.network_changed(lo).unwrap();
    assert!(wait_for(&rx, Duration::from_secs(3), |e| *e == FfiEvent::NetworkChanged).is_some());
    server.set_app_state(FfiAppState::Background { remaining_ms: None });
    server.background_time_expiring_ms(500);
    let expiring =
        wait_for(&rx, Duration::from_secs(3), |e| matches!(e, FfiEvent::BackgroundExpiring { .. }));
    assert_eq!(expiring, Some(FfiEvent::BackgroundExpiring { remaining_ms: 500 }));
    server.set_app_state(FfiAppState::Foreground);
    let _client = TcpStream::connect(addrs[0].parse::<SocketAddr>().unwrap()).unwrap();
    let energy = server.energy();
    assert!(energy.stream_bytes_in.is_empty());
    server.stop(true);
}

/// Regression (with `event::tests::a_stuck_listener_keeps_the_queue_bounded_and_drops_are_counted`):
/// a host listener that blocks no longer queues every later event; the drops show in
/// `stats()`, and once the listener returns the host is sent the current counts.
#[test]
fn a_stuck_listener_drops_events_and_then_gets_the_current_counts() {
    let server =
        OpenRtmpServer::new(FfiConfig { watch_network: false, ..loopback_config() }).unwrap();
    let (listener, barrier, got) = crate::event::tests::stuck_listener();
    server.set_listener(listener);
    server.start().unwrap();
    barrier.wait(); // the listener is inside its call for the start-up counts
    let lo = FfiNetworkSnapshot {
        networks: vec![FfiNetworkInfo {
            id: 1,
            name: "lo".into(),
            kind: FfiNetKind::Loopback,
            addrs: vec!["127.0.0.1".into()],
            expensive: false,
        }],
        default_id: Some(1),
    };
    // Each snapshot is one NetworkChanged event; more than the queue holds must drop.
    let mut changes = 0;
    while server.stats().events_dropped == 0 {
        assert!(changes < 100_000, "nothing dropped after {changes} events to a stuck listener");
        server.network_changed(lo.clone()).unwrap();
        changes += 1;
    }
    assert!(changes > EVENT_QUEUE_CAPACITY, "dropped after {changes} events");
    barrier.wait(); // let it go

    // It catches up: after the drops it is told the current counts (paced by events it
    // receives, not by a clock).
    assert_eq!(
        got.recv_timeout(Duration::from_secs(30)).unwrap(),
        FfiEvent::StatsChanged { streams: 0, connections: 0 },
        "the start-up counts come first"
    );
    let mut caught_up = false;
    for _ in 0..10_000 {
        server.network_changed(lo.clone()).unwrap();
        while let Ok(event) = got.recv_timeout(Duration::from_millis(50)) {
            caught_up |= matches!(event, FfiEvent::StatsChanged { .. });
        }
        if caught_up {
            break;
        }
    }
    assert!(caught_up, "no StatsChanged after the listener caught up");
    assert!(server.stats().events_dropped > 0);
    server.stop(true);
    assert!(server.stats().events_dropped > 0, "the count outlives the run");
}
