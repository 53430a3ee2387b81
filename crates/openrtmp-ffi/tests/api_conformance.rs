//! API conformance of `openrtmp_ffi`: names every public item with the signature it is
//! expected to have and calls them against a real server on 127.0.0.1:0.
//!
//! `.ci/cross` compiles this file for every shipping target (`cargo check --all-targets
//! --target ...`), which proves the FFI surface (what the Kotlin and Swift bindings are
//! generated from) is the same on every target. See also
//! `crates/openrtmp-server/tests/api_conformance.rs` and `ci/api-surface.py`.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openrtmp_ffi::{
    EventListener, FfiAppState, FfiConfig, FfiEnergyStats, FfiError, FfiEvent,
    FfiLocalNetworkAccess, FfiNetKind, FfiNetworkInfo, FfiNetworkPolicy, FfiNetworkSnapshot,
    FfiPowerState, FfiPublishKeys, FfiStats, FfiStream, FfiStreamBytes, OpenRtmpServer,
};

fn typed<T>(_: &T) {}

fn typed_val<T>(v: T) -> T {
    v
}

fn ffi_error(e: &FfiError) -> String {
    match e {
        FfiError::InvalidConfig { problems } => typed::<Vec<String>>(problems),
        FfiError::Bind { reason } | FfiError::Start { reason } => typed::<String>(reason),
        FfiError::NotStarted | FfiError::AlreadyRunning => {}
    }
    e.to_string()
}

fn ffi_event(e: &FfiEvent) -> &'static str {
    match e {
        FfiEvent::StatsChanged { streams, connections } => {
            let _: [&u64; 2] = [streams, connections];
            "stats"
        }
        FfiEvent::CellularDataWarning { bytes, threshold } => {
            let _: [&u64; 2] = [bytes, threshold];
            "cellular"
        }
        FfiEvent::BackgroundExpiring { remaining_ms } => {
            typed::<u64>(remaining_ms);
            "background"
        }
        FfiEvent::Rebound { addrs } => {
            typed::<Vec<String>>(addrs);
            "rebound"
        }
        FfiEvent::NetworkChanged => "network",
    }
}

/// A host-implemented listener, as Kotlin and Swift implement it.
struct Collect(Mutex<mpsc::Sender<FfiEvent>>);

impl EventListener for Collect {
    fn on_event(&self, event: FfiEvent) {
        let _ = self.0.lock().unwrap_or_else(|e| e.into_inner()).send(event);
    }
}

#[test]
fn types_and_signatures() {
    let _: Duration = openrtmp_ffi::STOP_EXTRA_WAIT;
    let _: fn() -> FfiConfig = openrtmp_ffi::default_config;
    let _: fn(String) -> Result<(), FfiError> = openrtmp_ffi::init_logging;
    let _: fn(String, String) -> Result<(), FfiError> = openrtmp_ffi::init_logging_with_subsystem;
    let _: fn(&FfiConfig) -> Result<openrtmp_server::Config, FfiError> = FfiConfig::to_config;

    let FfiConfig {
        listen,
        chunk_size,
        max_connections,
        gop_cache_ms,
        low_latency,
        shutdown_grace_ms,
        publish_keys,
        network_policy,
        cellular_warning_bytes,
        watch_network,
        background_notice_ms,
        mdns,
        mdns_name,
    } = openrtmp_ffi::default_config();
    let _ = FfiConfig {
        listen: typed_val::<Vec<String>>(listen),
        chunk_size: typed_val::<u32>(chunk_size),
        max_connections: typed_val::<u64>(max_connections),
        gop_cache_ms: typed_val::<u32>(gop_cache_ms),
        low_latency: typed_val::<bool>(low_latency),
        shutdown_grace_ms: typed_val::<u64>(shutdown_grace_ms),
        publish_keys: typed_val::<Option<FfiPublishKeys>>(publish_keys),
        network_policy: typed_val::<FfiNetworkPolicy>(network_policy),
        cellular_warning_bytes: typed_val::<Option<u64>>(cellular_warning_bytes),
        watch_network: typed_val::<bool>(watch_network),
        background_notice_ms: typed_val::<u64>(background_notice_ms),
        mdns: typed_val::<bool>(mdns),
        mdns_name: typed_val::<Option<String>>(mdns_name),
    };
    let FfiPublishKeys { app, keys } = FfiPublishKeys { app: "live".into(), keys: vec![] };
    let _: (String, Vec<String>) = (app, keys);

    let FfiStats {
        running,
        connections,
        publishers,
        players,
        streams,
        bytes_in,
        bytes_out,
        cpu_time_ms,
        uptime_ms,
        listeners,
        events_dropped,
    } = FfiStats::default();
    typed::<bool>(&running);
    let _: [u64; 8] =
        [connections, publishers, players, streams, bytes_in, bytes_out, uptime_ms, events_dropped];
    typed::<Option<u64>>(&cpu_time_ms);
    typed::<Vec<String>>(&listeners);
    let _: usize = openrtmp_ffi::EVENT_QUEUE_CAPACITY;

    let _ = |s: FfiStream| {
        let FfiStream {
            app,
            name,
            publishing,
            viewers,
            video_codec,
            width,
            height,
            fps,
            audio_codec,
            frames_in,
            bytes_in,
            publishing_for_ms,
        } = s;
        let _: [String; 2] = [app, name];
        typed::<bool>(&publishing);
        let _: [u64; 3] = [viewers, frames_in, bytes_in];
        let _: [Option<String>; 2] = [video_codec, audio_codec];
        let _: [Option<u32>; 2] = [width, height];
        typed::<Option<f64>>(&fps);
        typed::<Option<u64>>(&publishing_for_ms);
    };

    for e in [
        FfiError::InvalidConfig { problems: vec![] },
        FfiError::Bind { reason: String::new() },
        FfiError::Start { reason: String::new() },
        FfiError::NotStarted,
        FfiError::AlreadyRunning,
    ] {
        assert!(!ffi_error(&e).is_empty());
    }
    for e in [
        FfiEvent::StatsChanged { streams: 0, connections: 0 },
        FfiEvent::CellularDataWarning { bytes: 0, threshold: 0 },
        FfiEvent::BackgroundExpiring { remaining_ms: 0 },
        FfiEvent::Rebound { addrs: vec![] },
        FfiEvent::NetworkChanged,
    ] {
        assert!(!ffi_event(&e).is_empty());
    }

    // The platform seam's records and enums.
    for k in [
        FfiNetKind::Wifi,
        FfiNetKind::Cellular,
        FfiNetKind::Ethernet,
        FfiNetKind::Loopback,
        FfiNetKind::Other,
    ] {
        match k {
            FfiNetKind::Wifi
            | FfiNetKind::Cellular
            | FfiNetKind::Ethernet
            | FfiNetKind::Loopback
            | FfiNetKind::Other => {}
        }
    }
    let FfiNetworkInfo { id, name, kind, addrs, expensive } = FfiNetworkInfo {
        id: 1,
        name: "lo".into(),
        kind: FfiNetKind::Loopback,
        addrs: vec!["127.0.0.1".into()],
        expensive: false,
    };
    let _: (u64, String, FfiNetKind, Vec<String>, bool) = (id, name, kind, addrs, expensive);
    let FfiNetworkSnapshot { networks, default_id } =
        FfiNetworkSnapshot { networks: vec![], default_id: None };
    let _: (Vec<FfiNetworkInfo>, Option<u64>) = (networks, default_id);
    for p in [FfiNetworkPolicy::Any, FfiNetworkPolicy::WifiOnly, FfiNetworkPolicy::CellularOnly] {
        match p {
            FfiNetworkPolicy::Any | FfiNetworkPolicy::WifiOnly | FfiNetworkPolicy::CellularOnly => {
            }
        }
    }
    for a in [
        FfiLocalNetworkAccess::NotRequired,
        FfiLocalNetworkAccess::Pending,
        FfiLocalNetworkAccess::Granted,
        FfiLocalNetworkAccess::Denied,
    ] {
        match a {
            FfiLocalNetworkAccess::NotRequired
            | FfiLocalNetworkAccess::Pending
            | FfiLocalNetworkAccess::Granted
            | FfiLocalNetworkAccess::Denied => {}
        }
    }
    for s in [
        FfiAppState::Foreground,
        FfiAppState::Background { remaining_ms: None },
        FfiAppState::Suspended,
    ] {
        match s {
            FfiAppState::Foreground | FfiAppState::Suspended => {}
            FfiAppState::Background { remaining_ms } => typed::<Option<u64>>(&remaining_ms),
        }
    }
    let FfiPowerState { on_battery, low_power, device_idle } = FfiPowerState::default();
    let _: [bool; 3] = [on_battery, low_power, device_idle];
    let FfiStreamBytes { stream, bytes } = FfiStreamBytes { stream: "live/a".into(), bytes: 0 };
    let _: (String, u64) = (stream, bytes);
    let FfiEnergyStats {
        cpu_time_ms,
        bytes_in,
        bytes_out,
        cellular_bytes_out,
        wakeups,
        stream_bytes_in,
    } = FfiEnergyStats::default();
    let _: [u64; 3] = [bytes_in, bytes_out, cellular_bytes_out];
    let _: [Option<u64>; 2] = [cpu_time_ms, wakeups];
    typed::<Vec<FfiStreamBytes>>(&stream_bytes_in);

    // OpenRtmpServer: constructors and methods.
    let _: fn(FfiConfig) -> Result<Arc<OpenRtmpServer>, FfiError> = OpenRtmpServer::new;
    let _: fn(String) -> Result<Arc<OpenRtmpServer>, FfiError> = OpenRtmpServer::from_yaml;
    let _: fn(&OpenRtmpServer) -> Result<Vec<String>, FfiError> = OpenRtmpServer::start;
    let _: fn(&OpenRtmpServer, bool) = OpenRtmpServer::stop;
    let _: fn(&OpenRtmpServer) -> bool = OpenRtmpServer::is_running;
    let _: fn(&OpenRtmpServer) -> Vec<String> = OpenRtmpServer::local_addrs;
    let _: fn(&OpenRtmpServer) -> FfiStats = OpenRtmpServer::stats;
    let _: fn(&OpenRtmpServer) -> Vec<FfiStream> = OpenRtmpServer::streams;
    let _: fn(&OpenRtmpServer, String, String) -> Result<bool, FfiError> =
        OpenRtmpServer::end_stream;
    let _: fn(&OpenRtmpServer, Arc<dyn EventListener>) = OpenRtmpServer::set_listener;
    let _: fn(&OpenRtmpServer) = OpenRtmpServer::clear_listener;
    let _: fn(&OpenRtmpServer) -> Option<openrtmp_server::ServerHandle> = OpenRtmpServer::handle;
    let _: fn(&OpenRtmpServer, FfiNetworkSnapshot) -> Result<(), FfiError> =
        OpenRtmpServer::network_changed;
    let _: fn(&OpenRtmpServer, FfiNetworkPolicy) = OpenRtmpServer::set_network_policy;
    let _: fn(&OpenRtmpServer, FfiAppState) = OpenRtmpServer::set_app_state;
    let _: fn(&OpenRtmpServer, u64) = OpenRtmpServer::background_time_expiring_ms;
    let _: fn(&OpenRtmpServer, FfiPowerState) = OpenRtmpServer::set_power;
    let _: fn(&OpenRtmpServer, FfiLocalNetworkAccess) = OpenRtmpServer::set_local_network_access;
    let _: fn(&OpenRtmpServer) -> FfiEnergyStats = OpenRtmpServer::energy;
    let _: fn(&Collect, FfiEvent) = <Collect as EventListener>::on_event;

    fn send_sync<T: Send + Sync + ?Sized>() {}
    send_sync::<OpenRtmpServer>();
    send_sync::<dyn EventListener>();
}

/// Start, the seam calls, stats and events, stop: what a host does.
#[test]
fn live_server() {
    openrtmp_ffi::init_logging("warn".into()).expect("log level");
    // Installed already: changes nothing, succeeds.
    openrtmp_ffi::init_logging_with_subsystem("warn".into(), "org.openrtmp.test".into())
        .expect("log level and subsystem");
    assert!(openrtmp_ffi::init_logging("not a=level=".into()).is_err());

    let yaml = OpenRtmpServer::from_yaml("listen: [\"127.0.0.1:0\"]\n".into()).expect("yaml");
    assert!(!yaml.is_running());
    assert!(matches!(
        OpenRtmpServer::from_yaml("rtmp:\n  chunk_size: 1\n".into()),
        Err(FfiError::InvalidConfig { .. })
    ));

    let config = FfiConfig {
        listen: vec!["127.0.0.1:0".into()],
        shutdown_grace_ms: 100,
        watch_network: false,
        ..openrtmp_ffi::default_config()
    };
    assert!(config.to_config().is_ok());
    let server = OpenRtmpServer::new(config).expect("new");
    assert!(matches!(server.end_stream("live".into(), "a".into()), Err(FfiError::NotStarted)));
    assert!(server.handle().is_none());

    let (tx, rx) = mpsc::channel();
    server.set_listener(Arc::new(Collect(Mutex::new(tx))));
    let addrs = server.start().expect("start");
    assert_eq!(addrs.len(), 1);
    assert_eq!(server.local_addrs(), addrs);
    assert!(server.is_running());
    assert!(matches!(server.start(), Err(FfiError::AlreadyRunning)));
    assert!(server.handle().is_some());

    let stats = server.stats();
    assert!(stats.running);
    assert_eq!(stats.listeners, addrs);
    assert!(server.streams().is_empty());
    assert!(!server.end_stream("live".into(), "nobody".into()).expect("running"));

    server
        .network_changed(FfiNetworkSnapshot {
            networks: vec![FfiNetworkInfo {
                id: 1,
                name: "lo".into(),
                kind: FfiNetKind::Loopback,
                addrs: vec!["127.0.0.1".into()],
                expensive: false,
            }],
            default_id: Some(1),
        })
        .expect("snapshot");
    assert!(server
        .network_changed(FfiNetworkSnapshot {
            networks: vec![FfiNetworkInfo {
                id: 2,
                name: "x".into(),
                kind: FfiNetKind::Other,
                addrs: vec!["not an ip".into()],
                expensive: false,
            }],
            default_id: None,
        })
        .is_err());
    server.set_network_policy(FfiNetworkPolicy::Any);
    server.set_app_state(FfiAppState::Background { remaining_ms: None });
    server.set_app_state(FfiAppState::Foreground);
    server.background_time_expiring_ms(1000);
    server.set_app_state(FfiAppState::Foreground);
    server.set_power(FfiPowerState { on_battery: true, ..FfiPowerState::default() });
    server.set_local_network_access(FfiLocalNetworkAccess::NotRequired);
    let energy = server.energy();
    assert!(energy.stream_bytes_in.is_empty());

    // The listener hears the start-up counts and the network change.
    let mut seen = Vec::new();
    while let Ok(e) = rx.recv_timeout(Duration::from_secs(2)) {
        seen.push(ffi_event(&e));
        if matches!(e, FfiEvent::NetworkChanged) {
            break;
        }
    }
    assert!(seen.contains(&"stats") && seen.contains(&"network"), "events: {seen:?}");
    server.clear_listener();

    server.stop(true);
    assert!(!server.is_running());
}
