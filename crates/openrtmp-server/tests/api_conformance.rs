//! API conformance: names every public item of `openrtmp_server` with the type or signature
//! it is expected to have, and calls what is cheap to call against a real server on
//! 127.0.0.1:0.
//!
//! `.ci/cross` compiles this file for every shipping target (`cargo check --all-targets
//! --target ...`): that the file type-checks everywhere is the proof that the public API is
//! the same on every target (issue 6). `ci/api-surface.py` lists the public items from
//! rustdoc for each target and fails when one of them is not named here; when it does, add
//! the item below with its signature.
//!
//! Conventions:
//! * functions and methods: `let _: fn(Args) -> Ret = Path::name;` (async ones are awaited
//!   with a typed result instead);
//! * structs with public fields: destructured without `..` and every field given its type,
//!   so a field added, removed or retyped on any target breaks the build here;
//! * enums: matched without a wildcard (except `#[non_exhaustive]` ones), each variant's
//!   fields typed.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openrtmp_server::auth::{
    self, AclRules, AclSettings, AppKeys, AuthAction, AuthError, AuthSettings, AuthStats,
    BruteForceSettings, CallbackSettings, CircuitState, ClientTls, Fingerprint, IpNet, KeySecret,
    NameRules, PlayTokenSettings, PublishKey,
};
use openrtmp_server::platform::{
    self, AppState, EnergyStats, LocalNetworkAccess, NetKind, NetworkInfo, NetworkPolicy,
    NetworkSnapshot, PlatformEvent, PowerState,
};
use openrtmp_server::{
    Config, ConfigChange, ConfigError, ConnectionInfo, DelayHistogram, LogSettings, Server,
    ServerError, ServerHandle, ServerInfo, ServerStats, StreamStatus,
};

/// Pins the type of a value without using it.
fn typed<T>(_: &T) {}

/// Pins the output type of a future without running it.
fn future_of<F: Future<Output = O>, O>(f: F) -> F {
    f
}

// ---------------------------------------------------------------------------------------------
// Crate root: constants, settings, errors
// ---------------------------------------------------------------------------------------------

#[test]
fn constants() {
    let _: &str = openrtmp_server::DEFAULT_LISTEN;
    let _: u32 = openrtmp_server::DEFAULT_CHUNK_SIZE;
    let _: Duration = openrtmp_server::DEFAULT_HANDSHAKE_TIMEOUT;
    let _: Duration = openrtmp_server::DEFAULT_CONNECT_TIMEOUT;
    let _: Duration = openrtmp_server::DEFAULT_IDLE_TIMEOUT;
    let _: Duration = openrtmp_server::DEFAULT_PUBLISHER_TIMEOUT;
    let _: Duration = openrtmp_server::DEFAULT_UNPUBLISHED_WAIT;
    let _: Duration = openrtmp_server::DEFAULT_PUBLISHER_GRACE;
    let _: Duration = openrtmp_server::DEFAULT_WRITE_TIMEOUT;
    let _: usize = openrtmp_server::DEFAULT_MAX_CONNECTIONS;
    let _: usize = openrtmp_server::DEFAULT_MAX_CONNECTIONS_PER_IP;
    let _: usize = openrtmp_server::DEFAULT_MEMORY_BUDGET;
    let _: usize = openrtmp_server::DEFAULT_REASSEMBLY_BUDGET;
    let _: &str = openrtmp_server::DEFAULT_API_LISTEN;
    let _: Duration = openrtmp_server::DEFAULT_SHUTDOWN_GRACE;
    let _: Duration = openrtmp_server::DEFAULT_BACKGROUND_NOTICE;
    let _: u32 = openrtmp_server::LOW_LATENCY_MAX_LAG_MS;
    let _: [u64; 12] = openrtmp_server::DELAY_BUCKETS_MS;
    assert!(openrtmp_server::DEFAULT_LISTEN.parse::<SocketAddr>().is_ok());
    assert!(openrtmp_server::DEFAULT_API_LISTEN.parse::<SocketAddr>().is_ok());

    let _: Duration = auth::DEFAULT_CALLBACK_TIMEOUT;
    let _: u32 = auth::DEFAULT_BREAKER_FAILURES;
    let _: Duration = auth::DEFAULT_BREAKER_COOLDOWN;
    let _: u32 = auth::DEFAULT_NOTIFY_ATTEMPTS;
}

/// `Config` with every field, on every target.
fn full_config() -> Config {
    let d = Config::default();
    let Config {
        listen,
        chunk_size,
        window_ack_size,
        handshake_timeout,
        connect_timeout,
        idle_timeout,
        publisher_timeout,
        unpublished_wait,
        publisher_grace,
        write_timeout,
        max_connections,
        max_connections_per_ip,
        memory_budget,
        reassembly_budget,
        low_latency,
        io_uring,
        hub,
        api_listen,
        api_token,
        api_stat_public,
        shutdown_grace,
        log,
        rtmps_listen,
        tls,
        auth,
        network_policy,
        cellular_warning_bytes,
        watch_network,
        background_notice,
        mdns,
        mdns_name,
        relay,
        record,
        webrtc,
        cluster,
        edge,
        proxy_protocol,
    } = d;
    let _: Vec<SocketAddr> = listen;
    let _: Option<SocketAddr> = api_listen;
    let _: bool = watch_network;
    Config {
        listen: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 0))],
        chunk_size: typed_val::<u32>(chunk_size),
        window_ack_size: typed_val::<u32>(window_ack_size),
        handshake_timeout: typed_val::<Duration>(handshake_timeout),
        connect_timeout: typed_val::<Duration>(connect_timeout),
        idle_timeout: typed_val::<Duration>(idle_timeout),
        publisher_timeout: typed_val::<Duration>(publisher_timeout),
        unpublished_wait: typed_val::<Duration>(unpublished_wait),
        publisher_grace: typed_val::<Duration>(publisher_grace),
        write_timeout: typed_val::<Duration>(write_timeout),
        max_connections: typed_val::<usize>(max_connections),
        max_connections_per_ip: typed_val::<usize>(max_connections_per_ip),
        memory_budget: typed_val::<usize>(memory_budget),
        reassembly_budget: typed_val::<usize>(reassembly_budget),
        low_latency: typed_val::<bool>(low_latency),
        io_uring: typed_val::<bool>(io_uring),
        hub: typed_val::<openrtmp_hub::HubConfig>(hub),
        api_listen: None,
        api_token: typed_val::<Option<String>>(api_token),
        api_stat_public: typed_val::<bool>(api_stat_public),
        shutdown_grace: Duration::from_millis(100).min(typed_val::<Duration>(shutdown_grace)),
        log: typed_val::<LogSettings>(log),
        rtmps_listen: typed_val::<Vec<SocketAddr>>(rtmps_listen),
        tls: typed_val::<Option<openrtmp_tls::ServerTlsSettings>>(tls),
        auth: typed_val::<AuthSettings>(auth),
        network_policy: typed_val::<NetworkPolicy>(network_policy),
        cellular_warning_bytes: typed_val::<Option<u64>>(cellular_warning_bytes),
        // The OS watcher is target-specific behaviour; the field is not.
        watch_network: false,
        background_notice: typed_val::<Duration>(background_notice),
        mdns: typed_val::<bool>(mdns),
        mdns_name: typed_val::<Option<String>>(mdns_name),
        relay: typed_val::<openrtmp_server::relay::RelaySettings>(relay),
        record: typed_val::<openrtmp_server::record::RecordSettings>(record),
        // Any free ports: the test servers must not take the default 8189.
        webrtc: openrtmp_server::WebrtcSettings {
            udp_port: 0,
            tcp_port: Some(0),
            ..typed_val::<openrtmp_server::WebrtcSettings>(webrtc)
        },
        cluster: typed_val::<openrtmp_server::cluster::ClusterSettings>(cluster),
        edge: typed_val::<openrtmp_server::cluster::EdgeSettings>(edge),
        proxy_protocol: typed_val::<openrtmp_server::ProxyProtocolSettings>(proxy_protocol),
    }
}

fn typed_val<T>(v: T) -> T {
    v
}

#[test]
fn config_types() {
    let config = full_config();
    let _: fn(&Config) -> Result<(), Vec<ConfigError>> = Config::validate;
    let _: fn(&Config) -> openrtmp_hub::HubConfig = Config::effective_hub;
    let _: fn(&Config) -> openrtmp_proto::session::SessionLimits = Config::session_limits;
    assert_eq!(config.validate(), Ok(()));
    let _ = config.effective_hub();
    let _ = config.session_limits();

    let LogSettings { level, json, file, rotate_size_bytes, rotate_daily, keep_files, stderr } =
        LogSettings::default();
    let _ = LogSettings {
        level: typed_val::<String>(level),
        json: typed_val::<bool>(json),
        file: typed_val::<Option<std::path::PathBuf>>(file),
        rotate_size_bytes: typed_val::<Option<u64>>(rotate_size_bytes),
        rotate_daily: typed_val::<bool>(rotate_daily),
        keep_files: typed_val::<usize>(keep_files),
        stderr: typed_val::<bool>(stderr),
    };

    let openrtmp_server::ProxyProtocolSettings { trusted, required } =
        openrtmp_server::ProxyProtocolSettings::default();
    let proxy = openrtmp_server::ProxyProtocolSettings {
        trusted: typed_val::<Vec<openrtmp_server::auth::IpNet>>(trusted),
        required: typed_val::<bool>(required),
    };
    let _: fn(&openrtmp_server::ProxyProtocolSettings, std::net::IpAddr) -> bool =
        openrtmp_server::ProxyProtocolSettings::trusts;
    assert!(!proxy.trusts(Ipv4Addr::LOCALHOST.into()), "off by default");

    let bad = Config { listen: Vec::new(), chunk_size: 1, ..full_config() };
    let errors = bad.validate().expect_err("invalid");
    for e in errors.iter().chain([
        &ConfigError::Auth(String::new()),
        &ConfigError::Tls(""),
        &ConfigError::OutOfRange { field: "f", value: String::new(), range: "r" },
    ]) {
        let _: String = e.to_string();
        match e {
            ConfigError::OutOfRange { field, value, range } => {
                let _: (&&'static str, &String, &&'static str) = (field, value, range);
            }
            ConfigError::NoListener => {}
            ConfigError::Auth(reason) => typed::<String>(reason),
            ConfigError::Tls(reason) => typed::<&'static str>(reason),
        }
    }

    let ConfigChange { applied, needs_restart } = ConfigChange::default();
    let _: (Vec<String>, Vec<String>) = (applied, needs_restart);

    let DelayHistogram { buckets, count, sum } = DelayHistogram::default();
    let h = DelayHistogram {
        buckets: typed_val::<Vec<(f64, u64)>>(buckets),
        count: typed_val::<u64>(count),
        sum: typed_val::<Duration>(sum),
    };
    let _: fn(&DelayHistogram, f64) -> Option<Duration> = DelayHistogram::quantile;
    let _: fn(&DelayHistogram) -> Option<Duration> = DelayHistogram::mean;
    assert_eq!(h.quantile(0.5), None);
    assert_eq!(h.mean(), None);
}

fn server_error(e: &ServerError) {
    let _: String = e.to_string();
    match e {
        ServerError::Config(errors) => typed::<Vec<ConfigError>>(errors),
        ServerError::Tls(err) => typed::<openrtmp_tls::TlsError>(err),
        ServerError::Auth(err) => auth_error(err),
        ServerError::Directory(err) => typed::<openrtmp_server::cluster::DirectoryError>(err),
        ServerError::Bind { addr, source } => {
            typed::<SocketAddr>(addr);
            typed::<std::io::Error>(source);
        }
    }
}

fn auth_error(e: &AuthError) {
    #[allow(unreachable_patterns)]
    match e {
        AuthError::BadUrl { what, url, reason } => {
            let _: (&&'static str, &String, &String) = (what, url, reason);
        }
        AuthError::Tls(err) => typed::<openrtmp_tls::TlsError>(err),
        AuthError::HttpClient { detail } => typed::<String>(detail),
        AuthError::BadKeyStream { app, stream, reason } => {
            let _: (&String, &String, &String) = (app, stream, reason);
        }
        // `AuthError` is #[non_exhaustive].
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// auth
// ---------------------------------------------------------------------------------------------

#[test]
fn auth_types() {
    let key = PublishKey { secret: KeySecret::Plain("k".into()), stream: None };
    let PublishKey { secret, stream } = key.clone();
    typed::<Option<String>>(&stream);
    for s in [secret, KeySecret::Sha256([0; 32])] {
        match s {
            KeySecret::Plain(k) => typed::<String>(&k),
            KeySecret::Sha256(h) => typed::<[u8; 32]>(&h),
        }
    }
    let AppKeys { app, keys } = AppKeys { app: "live".into(), keys: vec![key] };
    let _: (String, Vec<PublishKey>) = (app, keys);

    let PlayTokenSettings { secret, apps } =
        PlayTokenSettings { secret: "s".into(), apps: Vec::new() };
    let _: (String, Vec<String>) = (secret, apps);

    for action in [AuthAction::Connect, AuthAction::Publish, AuthAction::Play] {
        let _: fn(AuthAction) -> &'static str = AuthAction::as_str;
        let name = match action {
            AuthAction::Connect => "connect",
            AuthAction::Publish => "publish",
            AuthAction::Play => "play",
        };
        assert_eq!(action.as_str(), name);
    }

    let _: fn(&'static str) -> CallbackSettings = CallbackSettings::new;
    let CallbackSettings {
        url,
        actions,
        notify_url,
        timeout,
        fail_open,
        breaker_failures,
        breaker_cooldown,
        notify_attempts,
        signing_secret,
        tls,
    } = CallbackSettings::new("http://127.0.0.1:9/auth");
    let callback = CallbackSettings {
        url: typed_val::<String>(url),
        actions: typed_val::<Vec<AuthAction>>(actions),
        notify_url: typed_val::<Option<String>>(notify_url),
        timeout: typed_val::<Duration>(timeout),
        fail_open: typed_val::<bool>(fail_open),
        breaker_failures: typed_val::<u32>(breaker_failures),
        breaker_cooldown: typed_val::<Duration>(breaker_cooldown),
        notify_attempts: typed_val::<u32>(notify_attempts),
        signing_secret: typed_val::<Option<String>>(signing_secret),
        tls: typed_val::<ClientTls>(tls),
    };
    assert_eq!(callback.timeout, auth::DEFAULT_CALLBACK_TIMEOUT);

    let net: IpNet = "10.0.0.0/8".parse().expect("net");
    let AclRules { allow, deny } = AclRules { allow: vec![net], deny: Vec::new() };
    let _: (Vec<IpNet>, Vec<IpNet>) = (allow, deny);
    let AclSettings { connect, publish, play } = AclSettings::default();
    let _: (AclRules, AclRules, AclRules) = (connect, publish, play);
    let BruteForceSettings { max_failures, window } = BruteForceSettings::default();
    let _: (u32, Duration) = (max_failures, window);
    let NameRules { max_len } = NameRules::default();
    typed::<usize>(&max_len);
    let AuthSettings { publish_keys, play_tokens, callback, acl, brute_force, names } =
        AuthSettings::default();
    let _ = AuthSettings {
        publish_keys: typed_val::<Vec<AppKeys>>(publish_keys),
        play_tokens: typed_val::<Option<PlayTokenSettings>>(play_tokens),
        callback: typed_val::<Option<CallbackSettings>>(callback),
        acl: typed_val::<AclSettings>(acl),
        brute_force: typed_val::<BruteForceSettings>(brute_force),
        names: typed_val::<NameRules>(names),
    };
    let _: fn(&AuthSettings) -> String = AuthSettings::summary;

    // Re-exported from openrtmp-tls.
    let _: Option<Fingerprint> = None;

    let AuthStats {
        denied,
        allowed,
        brute_force_blocked_ips,
        callback_calls,
        callback_errors,
        callback_timeouts,
        circuit_opened,
        notifications_sent,
        notifications_failed,
        notifications_dropped,
    } = AuthStats::default();
    let _: BTreeMap<String, u64> = denied;
    let _: [u64; 8] = [
        allowed,
        callback_calls,
        callback_errors,
        callback_timeouts,
        circuit_opened,
        notifications_sent,
        notifications_failed,
        notifications_dropped,
    ];
    typed::<usize>(&brute_force_blocked_ips);

    for state in [CircuitState::Closed, CircuitState::Open, CircuitState::HalfOpen] {
        match state {
            CircuitState::Closed | CircuitState::Open | CircuitState::HalfOpen => {}
        }
    }

    let _: fn(&str, &str, &str, u64) -> String = auth::sign_play_token;
    let token = auth::sign_play_token("secret", "live", "cam", 1);
    assert_eq!(token.len(), 64);
}

// ---------------------------------------------------------------------------------------------
// platform
// ---------------------------------------------------------------------------------------------

fn net_kind(k: NetKind) -> &'static str {
    match k {
        NetKind::Wifi => "wifi",
        NetKind::Cellular => "cellular",
        NetKind::Ethernet => "ethernet",
        NetKind::Loopback => "loopback",
        NetKind::Other => "other",
    }
}

fn platform_event(e: &PlatformEvent) -> &'static str {
    match e {
        PlatformEvent::StatsChanged { streams, connections } => {
            let _: (&usize, &usize) = (streams, connections);
            "stats"
        }
        PlatformEvent::CellularDataWarning { bytes, threshold } => {
            let _: (&u64, &u64) = (bytes, threshold);
            "cellular"
        }
        PlatformEvent::BackgroundExpiring { remaining } => {
            typed::<Duration>(remaining);
            "background"
        }
        PlatformEvent::Rebound { addrs } => {
            typed::<Vec<SocketAddr>>(addrs);
            "rebound"
        }
        PlatformEvent::NetworkChanged { snapshot } => {
            typed::<NetworkSnapshot>(snapshot);
            "network"
        }
    }
}

#[test]
fn platform_types() {
    for k in
        [NetKind::Wifi, NetKind::Cellular, NetKind::Ethernet, NetKind::Loopback, NetKind::Other]
    {
        assert!(!net_kind(k).is_empty());
    }
    let info = NetworkInfo {
        id: 1u64,
        name: String::from("lo"),
        kind: NetKind::Loopback,
        addrs: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        expensive: false,
    };
    let NetworkInfo { id, name, kind, addrs, expensive } = info.clone();
    let _: (u64, String, NetKind, Vec<IpAddr>, bool) = (id, name, kind, addrs, expensive);
    let NetworkSnapshot { networks, default } =
        NetworkSnapshot { networks: vec![info], default: Some(1) };
    let _: (Vec<NetworkInfo>, Option<u64>) = (networks, default);

    for p in [NetworkPolicy::Any, NetworkPolicy::WifiOnly, NetworkPolicy::CellularOnly] {
        match p {
            NetworkPolicy::Any | NetworkPolicy::WifiOnly | NetworkPolicy::CellularOnly => {}
        }
    }
    assert_eq!(NetworkPolicy::default(), NetworkPolicy::Any);
    for a in [
        LocalNetworkAccess::NotRequired,
        LocalNetworkAccess::Pending,
        LocalNetworkAccess::Granted,
        LocalNetworkAccess::Denied,
    ] {
        match a {
            LocalNetworkAccess::NotRequired
            | LocalNetworkAccess::Pending
            | LocalNetworkAccess::Granted
            | LocalNetworkAccess::Denied => {}
        }
    }
    for s in [AppState::Foreground, AppState::Background { remaining: None }, AppState::Suspended] {
        match s {
            AppState::Foreground | AppState::Suspended => {}
            AppState::Background { remaining } => typed::<Option<Duration>>(&remaining),
        }
    }
    let PowerState { on_battery, low_power, device_idle } = PowerState::default();
    let _: (bool, bool, bool) = (on_battery, low_power, device_idle);

    for e in [
        PlatformEvent::StatsChanged { streams: 0, connections: 0 },
        PlatformEvent::CellularDataWarning { bytes: 0, threshold: 0 },
        PlatformEvent::BackgroundExpiring { remaining: Duration::ZERO },
        PlatformEvent::Rebound { addrs: Vec::new() },
        PlatformEvent::NetworkChanged { snapshot: NetworkSnapshot::default() },
    ] {
        assert!(!platform_event(&e).is_empty());
    }

    let EnergyStats { cpu_time, bytes_in, bytes_out, cellular_bytes_out, wakeups, stream_bytes_in } =
        EnergyStats::default();
    typed::<Option<Duration>>(&cpu_time);
    let _: [u64; 3] = [bytes_in, bytes_out, cellular_bytes_out];
    typed::<Option<u64>>(&wakeups);
    let _: Vec<(String, u64)> = stream_bytes_in;

    // The module paths themselves.
    let _: Option<platform::NetKind> = None;
    let _: Option<auth::AuthSettings> = None;
}

// ---------------------------------------------------------------------------------------------
// Server, ServerHandle and the figures they return
// ---------------------------------------------------------------------------------------------

fn server_info(i: &ServerInfo) {
    let ServerInfo {
        version,
        uptime,
        connections,
        publishers,
        players,
        streams,
        accepted,
        refused,
        panics,
        bytes_in,
        bytes_out,
        process_cpu,
        rss_bytes,
        memory_bytes,
        memory_budget,
        listeners,
        errors,
        dropped_frames,
        rtmps_listeners,
        tls_certificate,
        auth,
        auth_circuit,
    } = i;
    typed::<&'static str>(version);
    typed::<Duration>(uptime);
    typed::<Option<Duration>>(process_cpu);
    let _: [&usize; 6] = [connections, publishers, players, streams, memory_bytes, memory_budget];
    let _: [&u64; 6] = [accepted, refused, panics, bytes_in, bytes_out, dropped_frames];
    typed::<Option<u64>>(rss_bytes);
    let _: [&Vec<SocketAddr>; 2] = [listeners, rtmps_listeners];
    typed::<Vec<(String, u64)>>(errors);
    typed::<Option<openrtmp_tls::CertificateInfo>>(tls_certificate);
    typed::<AuthStats>(auth);
    typed::<Option<CircuitState>>(auth_circuit);
}

fn connection_info(c: &ConnectionInfo) {
    let ConnectionInfo {
        id,
        peer,
        role,
        app,
        stream,
        connected_for,
        bytes_in,
        bytes_out,
        queue_bytes,
        dropped_frames,
        lag_ms,
        protocol,
    } = c;
    let _: [&u64; 4] = [id, bytes_in, bytes_out, dropped_frames];
    typed::<SocketAddr>(peer);
    let _: [&&'static str; 2] = [role, protocol];
    let _: [&String; 2] = [app, stream];
    typed::<Duration>(connected_for);
    typed::<usize>(queue_bytes);
    typed::<u32>(lag_ms);
}

fn stream_status(s: &StreamStatus) {
    let StreamStatus {
        app,
        name,
        publishing,
        source_lost,
        publisher,
        video_codec,
        width,
        height,
        fps,
        audio_codec,
        sample_rate,
        channels,
        viewers,
        direct_viewers,
        gop_cache_bytes,
        gop_cache_frames,
        gop_cache_ms,
        frames_in,
        bytes_in,
        video_bytes_in,
        audio_bytes_in,
        publishing_for,
        ingest_delay,
        distribution_delay,
        catch_up_delay,
    } = s;
    let _: [&String; 2] = [app, name];
    let _: [&bool; 2] = [publishing, source_lost];
    typed::<Option<u64>>(publisher);
    let _: [&Option<String>; 2] = [video_codec, audio_codec];
    let _: [&Option<u32>; 3] = [width, height, sample_rate];
    typed::<Option<f64>>(fps);
    typed::<Option<u8>>(channels);
    let _: [&usize; 4] = [viewers, direct_viewers, gop_cache_bytes, gop_cache_frames];
    typed::<u32>(gop_cache_ms);
    let _: [&u64; 4] = [frames_in, bytes_in, video_bytes_in, audio_bytes_in];
    typed::<Option<Duration>>(publishing_for);
    let _: [&DelayHistogram; 3] = [ingest_delay, distribution_delay, catch_up_delay];
}

fn server_stats(s: &ServerStats) -> u64 {
    let ServerStats {
        accepted,
        refused,
        panics,
        bytes_in,
        bytes_out,
        dropped_frames,
        listener_failures,
    } = s;
    let all: [&AtomicU64; 7] =
        [accepted, refused, panics, bytes_in, bytes_out, dropped_frames, listener_failures];
    all.iter().map(|a| a.load(Ordering::Relaxed)).sum()
}

/// Every method signature of `Server` and `ServerHandle` (sync ones as fn pointers).
#[test]
fn signatures() {
    let _: fn(&Server) -> Vec<SocketAddr> = Server::local_addrs;
    let _: fn(&Server) -> Vec<SocketAddr> = Server::rtmps_addrs;
    let _: fn(&Server) -> openrtmp_hub::Hub = Server::hub;
    let _: fn(&Server) -> Arc<ServerStats> = Server::stats;
    let _: fn(&Server) -> usize = Server::connections;
    let _: fn(&Server) -> ServerInfo = Server::metrics;
    let _: fn(&Server) -> ServerHandle = Server::handle;
    // async: `Server::bind` and `Server::run` are awaited in `live_server` below.

    let _: fn(&ServerHandle) -> ServerInfo = ServerHandle::info;
    let _: fn(&ServerHandle) -> ServerInfo = ServerHandle::metrics;
    let _: fn(&ServerHandle) -> Vec<ConnectionInfo> = ServerHandle::connections;
    let _: fn(&ServerHandle) -> Vec<openrtmp_server::relay::TargetStatus> =
        ServerHandle::push_targets;
    let _: fn(&ServerHandle, &str, &str, &str) -> Result<u64, openrtmp_server::relay::RelayError> =
        ServerHandle::add_push_target;
    let _: fn(&ServerHandle, &str, &str, &str) -> Result<u64, openrtmp_server::relay::RelayError> =
        ServerHandle::add_push_target_until_unpublish;
    let _: fn(&ServerHandle, &str, &str, u64) -> bool = ServerHandle::remove_push_target;
    let _: fn(&ServerHandle, &str, &str) -> Vec<openrtmp_server::relay::TargetStatus> =
        ServerHandle::push_targets_of;
    let _: fn(&ServerHandle) -> Vec<openrtmp_server::relay::PullStatus> = ServerHandle::pulls;
    let _: fn(&ServerHandle, &str, &str) -> Option<openrtmp_server::relay::PullStatus> =
        ServerHandle::pull_of;
    let _: fn(&ServerHandle) -> String = ServerHandle::node_id;
    let _: fn(&ServerHandle, u64) -> bool = ServerHandle::kick;
    let _: fn(&ServerHandle) -> Vec<StreamStatus> = ServerHandle::streams;
    let _: fn(&ServerHandle, &str, &str) -> bool = ServerHandle::end_stream;
    let _: fn(&ServerHandle) -> Config = ServerHandle::config;
    let _: fn(&ServerHandle, Config) -> Result<ConfigChange, Vec<ConfigError>> =
        ServerHandle::apply_config;
    let _: fn(&ServerHandle) -> Result<bool, openrtmp_tls::TlsError> =
        ServerHandle::reload_certificates;
    let _: fn(&ServerHandle, bool) = ServerHandle::shutdown;
    let _: fn(&ServerHandle) -> (bool, Vec<String>) = ServerHandle::readiness;
    // Platform seam.
    let _: fn(&ServerHandle) -> tokio::sync::broadcast::Receiver<PlatformEvent> =
        ServerHandle::events;
    let _: fn(&ServerHandle, NetworkSnapshot) = ServerHandle::network_changed;
    let _: fn(&ServerHandle, NetworkPolicy) = ServerHandle::set_network_policy;
    let _: fn(&ServerHandle, AppState) = ServerHandle::set_app_state;
    let _: fn(&ServerHandle, Duration) = ServerHandle::background_time_expiring;
    let _: fn(&ServerHandle, PowerState) = ServerHandle::set_power;
    let _: fn(&ServerHandle) -> PowerState = ServerHandle::power;
    let _: fn(&ServerHandle, LocalNetworkAccess) = ServerHandle::set_local_network_access;
    let _: fn(&ServerHandle) -> EnergyStats = ServerHandle::energy;
    // async: `ServerHandle::stopped` is awaited in `live_server`.

    // Cheap to share across threads, on every target.
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<ServerHandle>();
    send_sync::<Server>();
    send_sync::<ServerStats>();
    send_sync::<ServerError>();
    send_sync::<PlatformEvent>();
}

/// A real server on 127.0.0.1:0: every inbound seam call, the figures, and a shutdown.
#[test]
fn live_server() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // An invalid configuration is refused with ServerError::Config.
        let bad = Config { listen: Vec::new(), ..full_config() };
        let err = Server::bind(bad).await.expect_err("no listener");
        server_error(&err);
        assert!(matches!(err, ServerError::Config(_)));
        auth_error(&AuthError::HttpClient { detail: String::new() });

        let bound: Result<Server, ServerError> = Server::bind(full_config()).await;
        let server = bound.expect("bind");
        let addrs = server.local_addrs();
        assert_eq!(addrs.len(), 1);
        assert!(addrs[0].port() != 0);
        assert!(server.rtmps_addrs().is_empty());
        let _hub = server.hub();
        assert_eq!(server_stats(&server.stats()), 0);
        assert_eq!(server.connections(), 0);
        server_info(&server.metrics());

        let handle = server.handle();
        let mut events = handle.events();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let run = future_of::<_, ()>(server.run(async move {
            let _ = stop_rx.await;
        }));
        let task = tokio::spawn(run);

        // A plain TCP connection is accepted (and counted) on every target.
        let tcp = tokio::net::TcpStream::connect(addrs[0]).await.expect("connect");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while handle.info().accepted == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(handle.info().accepted, 1);
        drop(tcp);

        let info = handle.info();
        server_info(&info);
        assert_eq!(info.listeners, addrs);
        server_info(&handle.metrics());
        for c in handle.connections() {
            connection_info(&c);
        }
        assert!(!handle.kick(u64::MAX));
        for s in handle.streams() {
            stream_status(&s);
        }
        assert!(!handle.end_stream("live", "nobody"));
        let config = handle.config();
        let change = handle
            .apply_config(Config { low_latency: !config.low_latency, ..config.clone() })
            .expect("apply");
        assert_eq!(change.applied, vec!["streams".to_string()]);
        assert!(handle.apply_config(Config { chunk_size: 1, ..config }).is_err());
        assert!(!handle.reload_certificates().expect("no tls"));
        let (ready, reasons) = handle.readiness();
        assert!(ready, "{reasons:?}");

        // The platform seam, inbound.
        let snapshot = NetworkSnapshot {
            networks: vec![NetworkInfo {
                id: 1,
                name: "lo".into(),
                kind: NetKind::Loopback,
                addrs: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
                expensive: false,
            }],
            default: Some(1),
        };
        handle.network_changed(snapshot.clone());
        handle.set_network_policy(NetworkPolicy::Any);
        handle.set_app_state(AppState::Background { remaining: None });
        handle.set_app_state(AppState::Foreground);
        handle.background_time_expiring(Duration::from_secs(1));
        handle.set_app_state(AppState::Foreground);
        let power = PowerState { on_battery: true, low_power: false, device_idle: false };
        handle.set_power(power);
        assert_eq!(handle.power(), power);
        handle.set_local_network_access(LocalNetworkAccess::Denied);
        assert!(!handle.readiness().0);
        handle.set_local_network_access(LocalNetworkAccess::NotRequired);
        let energy = handle.energy();
        assert!(energy.bytes_in <= handle.info().bytes_in);

        // The platform seam, outbound: the snapshot came back as an event.
        let mut seen = Vec::new();
        while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_secs(2), events.recv()).await {
            seen.push(platform_event(&e));
            if let PlatformEvent::NetworkChanged { snapshot: s } = &e {
                assert_eq!(s, &snapshot);
                break;
            }
        }
        assert!(seen.contains(&"network"), "events: {seen:?}");

        handle.shutdown(true);
        let stopped = future_of::<_, ()>(handle.stopped());
        tokio::time::timeout(Duration::from_secs(10), stopped).await.expect("stopped");
        let _ = stop_tx.send(());
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("run returns")
            .expect("run task");
    });
}

#[test]
fn relay_types() {
    use openrtmp_server::relay::{
        redact_url, PushRule, RelayError, RelaySettings, TargetOrigin, TargetState, TargetStatus,
        ACK_TIMEOUT, ANY, BACKOFF_INITIAL, BACKOFF_MAX, BACKOFF_RESET_AFTER, PUSH_WINDOW_ACK_SIZE,
        RATE_WINDOW, REDACTED_KEY, STALL_AFTER,
    };
    let _: (Duration, Duration, Duration) = (ACK_TIMEOUT, RATE_WINDOW, STALL_AFTER);
    let _: u32 = PUSH_WINDOW_ACK_SIZE;
    let _: (&str, &str) = (ANY, REDACTED_KEY);
    let _: (Duration, Duration, Duration) = (BACKOFF_INITIAL, BACKOFF_MAX, BACKOFF_RESET_AFTER);
    let _: fn(&str) -> String = redact_url;
    let rule: PushRule = PushRule::everything("rtmp://h/{app}/{stream}");
    let PushRule { app, stream, url } = rule.clone();
    let _: (String, String, String) = (app, stream, url);
    let key = openrtmp_hub::StreamKey::new("live", "s");
    let _: bool = PushRule::matches(&rule, &key);
    let _: String = PushRule::url_for(&rule, &key);
    let RelaySettings { push, pull, pull_linger, max_hops, tls } =
        RelaySettings { push: vec![rule], ..RelaySettings::default() };
    let _: Vec<PushRule> = push;
    let _: (Vec<openrtmp_server::relay::PullRule>, Duration, u32) = (pull, pull_linger, max_hops);
    let _: openrtmp_tls::ClientTls = tls;
    for state in [
        TargetState::Connecting,
        TargetState::Live,
        TargetState::Stalled,
        TargetState::Backoff { retry_in: Duration::ZERO },
        TargetState::Failed { reason: String::new() },
    ] {
        let _: &'static str = state.name();
        match state {
            TargetState::Connecting | TargetState::Live | TargetState::Stalled => {}
            TargetState::Backoff { retry_in } => {
                let _: Duration = retry_in;
            }
            TargetState::Failed { reason } => {
                let _: String = reason;
            }
        }
    }
    let status = TargetStatus {
        id: 1,
        app: String::new(),
        stream: String::new(),
        url: String::new(),
        origin: TargetOrigin::Api,
        until_unpublish: false,
        state: TargetState::Live,
        since: std::time::SystemTime::UNIX_EPOCH,
        bytes_sent: 0,
        bytes_acked: 0,
        acknowledges: true,
        bitrate_bps: 0,
        frames_sent: 0,
        queue_frames: 0,
        queue_ms: 0,
        dropped_frames: 0,
        reconnects: 0,
        uptime: None,
        last_error: None,
    };
    let TargetStatus {
        id,
        app,
        stream,
        url,
        origin,
        until_unpublish,
        state,
        since,
        bytes_sent,
        bytes_acked,
        acknowledges,
        bitrate_bps,
        frames_sent,
        queue_frames,
        queue_ms,
        dropped_frames,
        reconnects,
        uptime,
        last_error,
    } = status;
    let _: (u64, bool, u64, u64, u32) =
        (bytes_acked, acknowledges, bitrate_bps, queue_frames, queue_ms);
    let _: Option<Duration> = uptime;
    let _: (u64, String, String, String, TargetState) = (id, app, stream, url, state);
    let _: (std::time::SystemTime, u64, u64, u64, u64) =
        (since, bytes_sent, frames_sent, dropped_frames, reconnects);
    let _: Option<String> = last_error;
    let _: TargetOrigin = origin;
    let _: bool = until_unpublish;
    for origin in [TargetOrigin::Config, TargetOrigin::Api] {
        let _: &'static str = origin.name();
        match origin {
            TargetOrigin::Config | TargetOrigin::Api => {}
        }
    }
    for error in [
        RelayError::InvalidUrl { url: String::new(), reason: String::new() },
        RelayError::Duplicate {
            app: String::new(),
            stream: String::new(),
            url: String::new(),
            id: 1,
        },
    ] {
        match error {
            RelayError::InvalidUrl { url, reason } => {
                let _: (String, String) = (url, reason);
            }
            RelayError::Duplicate { app, stream, url, id } => {
                let _: (String, String, String, u64) = (app, stream, url, id);
            }
        }
    }
}

#[test]
fn relay_pull_types() {
    use openrtmp_server::relay::{
        OriginSelect, PullMode, PullRule, PullState, PullStatus, DEFAULT_MAX_HOPS,
        DEFAULT_PULL_LINGER, MEDIA_TIMEOUT, ORIGIN_TIMEOUT, SOURCE_GRACE,
    };
    let _: (Duration, u32) = (DEFAULT_PULL_LINGER, DEFAULT_MAX_HOPS);
    let _: (Duration, Duration, Duration) = (SOURCE_GRACE, MEDIA_TIMEOUT, ORIGIN_TIMEOUT);
    let rule = PullRule {
        app: "live".into(),
        stream: "*".into(),
        origins: vec!["rtmp://o/{app}/{stream}".into()],
        mode: PullMode::OnDemand,
        select: OriginSelect::Order,
    };
    let key = openrtmp_hub::StreamKey::new("live", "s");
    let _: bool = PullRule::matches(&rule, &key);
    let _: Vec<String> = PullRule::origins_for(&rule, &key);
    let PullRule { app, stream, origins, mode, select } = rule;
    let _: (String, String, Vec<String>) = (app, stream, origins);
    for mode in [mode, PullMode::Always, PullMode::default()] {
        let _: &'static str = mode.name();
        match mode {
            PullMode::OnDemand | PullMode::Always => {}
        }
    }
    for select in [select, OriginSelect::Hash, OriginSelect::default()] {
        let _: &'static str = select.name();
        match select {
            OriginSelect::Order | OriginSelect::Hash => {}
        }
    }
    for state in
        [PullState::Connecting, PullState::Live, PullState::Backoff { retry_in: Duration::ZERO }]
    {
        let _: &'static str = state.name();
        match state {
            PullState::Connecting | PullState::Live => {}
            PullState::Backoff { retry_in } => {
                let _: Duration = retry_in;
            }
        }
    }
    let status = PullStatus {
        app: String::new(),
        stream: String::new(),
        mode: PullMode::Always,
        state: PullState::Live,
        since: std::time::SystemTime::UNIX_EPOCH,
        origin: Some((0, String::new())),
        origins: Vec::new(),
        switches: 0,
        frames_in: 0,
        bytes_in: 0,
        publishing: true,
        via: String::new(),
        last_error: None,
    };
    let PullStatus {
        app,
        stream,
        mode,
        state,
        since,
        origin,
        origins,
        switches,
        frames_in,
        bytes_in,
        publishing,
        via,
        last_error,
    } = status;
    let _: (String, String, PullMode, PullState, std::time::SystemTime) =
        (app, stream, mode, state, since);
    let _: (Option<(usize, String)>, Vec<String>, u64, u64, u64) =
        (origin, origins, switches, frames_in, bytes_in);
    let _: (bool, String, Option<String>) = (publishing, via, last_error);
}

/// The history the dashboard charts (`openrtmp_server::history`) and its `ServerHandle`
/// methods.
#[test]
fn history_types() {
    use openrtmp_server::history::{
        self, ServerSample, StreamHistory, StreamSample, Verdict, VerdictLevel,
    };
    let _: Duration = history::HISTORY_PERIOD;
    let _: usize = history::HISTORY_SAMPLES;
    let _: usize = history::MAX_HISTORY_STREAMS;
    let _: fn(&[StreamSample], Option<&str>) -> Vec<Verdict> = history::verdicts;
    let _: fn(&ServerHandle) -> Vec<ServerSample> = ServerHandle::history;
    let _: fn(&ServerHandle, &str, &str) -> Option<StreamHistory> = ServerHandle::stream_history;
    let _: fn(&ServerHandle, usize) -> Vec<StreamHistory> = ServerHandle::stream_histories;
    let _: fn(&ServerHandle) -> tokio::sync::watch::Receiver<u64> = ServerHandle::history_updates;
    let _: fn(VerdictLevel) -> &'static str = VerdictLevel::as_str;

    let ServerSample {
        at_ms,
        connections,
        publishers,
        players,
        streams,
        bitrate_in_kbps,
        bitrate_out_kbps,
    } = ServerSample::default();
    let _: (u64, u32, u32, u32, u32, f32, f32) =
        (at_ms, connections, publishers, players, streams, bitrate_in_kbps, bitrate_out_kbps);
    let StreamSample {
        at_ms,
        video_kbps,
        audio_kbps,
        fps,
        keyframe_interval_ms,
        viewers,
        ingest_delay_ms,
        distribution_delay_ms,
        timestamp_jumps,
        publishing,
    } = StreamSample::default();
    let _: (u64, f32, f32, f32, u32, u32) =
        (at_ms, video_kbps, audio_kbps, fps, keyframe_interval_ms, viewers);
    let _: (Option<f32>, Option<f32>, u32, bool) =
        (ingest_delay_ms, distribution_delay_ms, timestamp_jumps, publishing);
    let h = StreamHistory {
        app: String::new(),
        stream: String::new(),
        samples: vec![],
        verdicts: vec![],
    };
    let StreamHistory { app, stream, samples, verdicts } = h;
    let _: (String, String, Vec<StreamSample>, Vec<Verdict>) = (app, stream, samples, verdicts);
    let v = Verdict { level: VerdictLevel::Ok, code: "healthy", message: String::new() };
    let Verdict { level, code, message } = v;
    let _: (&'static str, String) = (code, message);
    match level {
        VerdictLevel::Ok | VerdictLevel::Warning | VerdictLevel::Problem => {}
    }
}

/// Web playback (HTTP-FLV, WebSocket-FLV): the protocol names, the refusals, and a viewer's
/// methods. The end-to-end tests are crates/openrtmp-api/tests/web.rs.
#[test]
fn web_play_types() {
    use openrtmp_server::{PlayRefusal, WebPlayer, WebProtocol};
    assert_eq!(WebProtocol::HttpFlv.as_str(), "http-flv");
    assert_eq!(WebProtocol::WsFlv.as_str(), "ws-flv");
    let refusal = |r: &PlayRefusal| match r {
        PlayRefusal::Denied { kind, reason } => format!("{kind}: {reason}"),
        PlayRefusal::NotFound { app, stream } => format!("{app}/{stream}"),
        PlayRefusal::ShuttingDown => r.to_string(),
        PlayRefusal::Busy { reason } => reason.clone(),
        _ => String::new(),
    };
    assert_eq!(refusal(&PlayRefusal::ShuttingDown), "the server is shutting down");
    let _: fn(&WebPlayer) -> u64 = WebPlayer::conn_id;
    let _: fn(&WebPlayer) -> &openrtmp_hub::StreamKey = WebPlayer::key;
    let _: fn(&mut WebPlayer, &std::io::Error) = WebPlayer::transport_failed;
    // async: `ServerHandle::open_web_player` and `WebPlayer::next`.
    async fn open(h: ServerHandle) -> Option<WebPlayer> {
        let peer: SocketAddr = "127.0.0.1:1".parse().ok()?;
        let mut player =
            h.open_web_player("live", "cam", None, peer, WebProtocol::HttpFlv).await.ok()?;
        let mut out = Vec::new();
        player.next(&mut out).await;
        Some(player)
    }
    let _ = open;
    fn send<T: Send + 'static>() {}
    send::<WebPlayer>();
    send::<PlayRefusal>();
}

#[test]
fn recording_catalog_types() {
    use openrtmp_server::record::{
        CatalogError, Format, Recording, RecordingFilter, RecordingList, MAX_LISTED, SWEEP_INTERVAL,
    };
    let _: usize = MAX_LISTED;
    let _: Duration = SWEEP_INTERVAL;
    let recording = |r: Recording| {
        let Recording {
            app,
            stream,
            recording_id,
            file_name,
            format,
            recording_start,
            segment_start,
            bytes,
            duration_ms,
            recording,
            path,
        } = r;
        let _: (String, String, String, String, Format) =
            (app, stream, recording_id, file_name, format);
        let _: (std::time::SystemTime, std::time::SystemTime) = (recording_start, segment_start);
        let _: (u64, Option<u64>, bool, std::path::PathBuf) = (bytes, duration_ms, recording, path);
    };
    let _ = recording;
    let RecordingFilter { app, stream, from, to, recording } = RecordingFilter::default();
    let _: (Option<String>, Option<String>, Option<String>) = (app, stream, recording);
    let _: (Option<std::time::SystemTime>, Option<std::time::SystemTime>) = (from, to);
    let _: fn(&RecordingFilter, &Recording) -> bool = RecordingFilter::matches;
    let RecordingList { recordings, truncated } = RecordingList::default();
    let _: (Vec<Recording>, bool) = (recordings, truncated);
    let catalog_error = |e: &CatalogError| match e {
        CatalogError::BadName { app, stream, file }
        | CatalogError::NotFound { app, stream, file } => format!("{app}/{stream}/{file}"),
        CatalogError::Busy { file } => file.clone(),
        CatalogError::Io { op, path, reason } => format!("{op} {path}: {reason}"),
    };
    let _ = catalog_error;
    let _: fn(&ServerHandle) -> Vec<(&'static str, u64)> = ServerHandle::recordings_deleted;
    let openrtmp_server::record::Retention { max_age, max_bytes } = Default::default();
    let _: (Option<Duration>, Option<u64>) = (max_age, max_bytes);
    // async: the catalog runs on a blocking thread.
    async fn catalog(h: ServerHandle) -> Result<(), CatalogError> {
        let _: RecordingList = h.recordings(RecordingFilter::default()).await;
        let _: Recording = h.recording_file("live", "cam", "f.mp4").await?;
        h.delete_recording("live", "cam", "f.mp4").await
    }
    let _ = catalog;
}

#[test]
fn record_types() {
    use openrtmp_server::record::{
        self, Fault, FaultKind, Format, RecordRule, RecordSettings, RecordingError, RecordingEvent,
        RecordingOrigin, RecordingState, RecordingStats, RecordingStatus, Retention,
    };
    let _: &str = record::ANY;
    let _: &str = record::DEFAULT_RECORD_DIR;
    let _: Duration = record::DEFAULT_SEGMENT_DURATION;
    let _: usize = record::DEFAULT_QUEUE_BYTES;
    let _: Duration = record::IDENTITY_CHECK_EVERY;
    let _: Duration = record::RESUME_WITHIN;
    let _: Duration = record::RETRY_AFTER;
    let RecordSettings {
        dir,
        all,
        rules,
        format,
        segment_duration,
        segment_bytes,
        fragment_duration,
        queue_bytes,
        retention,
    } = RecordSettings::default();
    let _: (std::path::PathBuf, bool, Vec<RecordRule>, Format) = (dir, all, rules, format);
    let _: (Option<Duration>, Option<u64>, Option<Duration>, usize) =
        (segment_duration, segment_bytes, fragment_duration, queue_bytes);
    let Retention { max_age, max_bytes } = retention;
    let _: (Option<Duration>, Option<u64>) = (max_age, max_bytes);
    let rule = RecordRule::new("live", record::ANY);
    let RecordRule { app, stream, format, dir, segment_duration, segment_bytes } = rule.clone();
    let _: (String, String, Option<Format>, Option<std::path::PathBuf>) =
        (app, stream, format, dir);
    let _: (Option<Duration>, Option<u64>) = (segment_duration, segment_bytes);
    let _: fn(&RecordRule, &openrtmp_hub::StreamKey) -> bool = RecordRule::matches;
    assert!(rule.matches(&openrtmp_hub::StreamKey::new("live", "x")));
    for kind in FaultKind::ALL {
        let _: &str = kind.name();
        assert_eq!(FaultKind::ALL[kind.index()], kind);
        match kind {
            FaultKind::DiskFull
            | FaultKind::ReadOnly
            | FaultKind::NoDirectory
            | FaultKind::Deleted
            | FaultKind::Io => {}
            _ => {}
        }
    }
    let Fault { kind, reason } = Fault { kind: FaultKind::Io, reason: String::new() };
    let _: (FaultKind, String) = (kind, reason);
    let state = |s: &RecordingState| match s {
        RecordingState::Waiting | RecordingState::Recording | RecordingState::Dropping => {
            s.name().to_owned()
        }
        RecordingState::Error { kind, reason } => format!("{}: {reason}", kind.name()),
    };
    assert_eq!(state(&RecordingState::Waiting), "waiting");
    for origin in [RecordingOrigin::Config, RecordingOrigin::Api] {
        let _: &str = origin.name();
    }
    let error = |e: &RecordingError| match e {
        RecordingError::NotLive { app, stream }
        | RecordingError::AlreadyRecorded { app, stream } => {
            format!("{app}/{stream}")
        }
    };
    let _ = error;
    let status = |s: RecordingStatus| {
        let RecordingStatus {
            app,
            stream,
            id,
            format,
            origin,
            state,
            started,
            path,
            segments,
            bytes_written,
            segment_duration_ms,
            dropped_frames,
            dropped_bytes,
            errors,
            last_error,
        } = s;
        let _: (String, String, String, Format, RecordingOrigin, RecordingState) =
            (app, stream, id, format, origin, state);
        let _: (std::time::SystemTime, Option<std::path::PathBuf>, u64, u64, u64) =
            (started, path, segments, bytes_written, segment_duration_ms);
        let _: (u64, u64, u64, Option<String>) =
            (dropped_frames, dropped_bytes, errors, last_error);
    };
    let _ = status;
    let RecordingEvent { app, stream, what, path, detail } = RecordingEvent {
        app: String::new(),
        stream: String::new(),
        what: "started",
        path: None,
        detail: None,
    };
    let _: (String, String, &str, Option<std::path::PathBuf>, Option<String>) =
        (app, stream, what, path, detail);
    let RecordingStats { active, bytes_written, segments_closed, dropped_frames, errors } =
        RecordingStats::default();
    let _: (u64, u64, u64, u64, Vec<(&str, u64)>) =
        (active, bytes_written, segments_closed, dropped_frames, errors);
    let _: fn(
        &ServerHandle,
        &str,
        &str,
        Option<Format>,
    ) -> Result<RecordingStatus, RecordingError> = ServerHandle::start_recording;
    let _: fn(&ServerHandle, &str, &str) -> bool = ServerHandle::stop_recording;
    let _: fn(&ServerHandle, &str, &str) -> Option<RecordingStatus> = ServerHandle::recording;
    let _: fn(&ServerHandle) -> Vec<RecordingStatus> = ServerHandle::recordings_active;
    let _: fn(&ServerHandle) -> RecordingStats = ServerHandle::recording_stats;
    let _: fn(&ServerHandle) -> tokio::sync::broadcast::Receiver<RecordingEvent> =
        ServerHandle::recording_events;
}

#[test]
fn whip_types() {
    use openrtmp_server::whip::{
        self, WebrtcSettings, DEFAULT_AUDIO_BITRATE, DEFAULT_KEYFRAME_INTERVAL,
        DEFAULT_WEBRTC_PORT, MAX_OFFER_BYTES,
    };
    use openrtmp_server::{WhipAnswer, WhipError, WhipOffer};
    let _: u16 = DEFAULT_WEBRTC_PORT;
    let _: u32 = DEFAULT_AUDIO_BITRATE;
    let _: Duration = DEFAULT_KEYFRAME_INTERVAL;
    let _: usize = MAX_OFFER_BYTES;
    let _: whip::WhipError = WhipError::Disabled;
    let WebrtcSettings {
        enabled,
        udp_port,
        tcp_port,
        public_addresses,
        audio_bitrate,
        keyframe_interval,
    } = WebrtcSettings::default();
    let _: (bool, u16, Option<u16>) = (enabled, udp_port, tcp_port);
    let _: (Vec<std::net::IpAddr>, u32, Duration) =
        (public_addresses, audio_bitrate, keyframe_interval);
    let offer = WhipOffer {
        app: "live".into(),
        stream: "cam".into(),
        bearer: Some("k".into()),
        offer_sdp: String::new(),
        peer: Ipv4Addr::LOCALHOST.into(),
    };
    assert!(!format!("{offer:?}").contains("\"k\""), "the bearer is not in Debug");
    let WhipAnswer { session_id, answer_sdp } =
        WhipAnswer { session_id: String::new(), answer_sdp: String::new() };
    let _: (String, String) = (session_id, answer_sdp);
    let status = |e: &WhipError| match e {
        WhipError::Disabled
        | WhipError::ShuttingDown
        | WhipError::NoCredentials
        | WhipError::UnknownSession => e.status(),
        WhipError::Refused { reason }
        | WhipError::InUse { reason }
        | WhipError::Busy { reason } => {
            let _: &String = reason;
            e.status()
        }
        WhipError::BadOffer(m) | WhipError::Unsupported(m) | WhipError::Internal(m) => {
            let _: &String = m;
            e.status()
        }
        WhipError::TooLarge { len, limit } => {
            let _: (&usize, &usize) = (len, limit);
            e.status()
        }
        _ => 0,
    };
    assert_eq!(status(&WhipError::NoCredentials), 401);
    let _: fn(&WhipError) -> u16 = WhipError::status;
    let _: fn(&ServerHandle) -> (Vec<SocketAddr>, Option<u16>) = ServerHandle::webrtc_addrs;
    // async: `ServerHandle::whip_publish`, `whip_patch`, `whip_delete`.
    async fn calls(h: ServerHandle, offer: WhipOffer) -> Result<(), WhipError> {
        let answer: WhipAnswer = h.whip_publish(offer).await?;
        let _: usize = h.whip_patch("live", "cam", &answer.session_id, "").await?;
        h.whip_delete("live", "cam", &answer.session_id).await
    }
    let _ = calls;
    fn send<T: Send + Sync + 'static>() {}
    send::<WhipError>();
    send::<WhipOffer>();
}

#[test]
fn cluster_types() {
    use openrtmp_hub::StreamKey;
    use openrtmp_server::cluster::{
        build_directory, redact_redis_url, Claim, ClaimError, Cluster, ClusterSettings,
        ClusterStats, Directory, DirectoryError, DirectoryFuture, DirectoryKind, DirectorySettings,
        DrainPhase, EdgeSettings, HeartbeatReply, Lease, MemoryDirectory, NodeLoad, NodeRecord,
        NodeState, OwnedStream, Route, StaticDirectory, StaticNode, SwitchReason, GAP_BUCKETS_SECS,
        REDIS_AVAILABLE,
    };
    use openrtmp_server::{ClusterStatus, StreamRoute};

    let _: bool = REDIS_AVAILABLE;
    let _: [f64; 12] = GAP_BUCKETS_SECS;
    let _: fn(&str) -> String = redact_redis_url;
    let _: fn(&DirectorySettings) -> Result<Arc<dyn Directory>, DirectoryError> = build_directory;
    let ClusterSettings { node_id, advertise_rtmp, directory, claim_wait, drain_start_wait } =
        ClusterSettings::default();
    let _: (String, Option<String>, Duration, Duration) =
        (node_id, advertise_rtmp, claim_wait, drain_start_wait);
    let DirectorySettings { kind, url, node_ttl, heartbeat, nodes } = directory;
    let _: (Option<String>, Duration, Duration, Vec<StaticNode>) =
        (url, node_ttl, heartbeat, nodes);
    let _: &str = match kind {
        DirectoryKind::Local | DirectoryKind::Static | DirectoryKind::Redis => kind.name(),
    };
    let EdgeSettings { enabled } = EdgeSettings::default();
    let _: bool = enabled;
    let StaticNode { id, rtmp } = StaticNode { id: "n1".into(), rtmp: "rtmp://n1".into() };
    let _: (String, String) = (id, rtmp);
    let fixed =
        StaticDirectory::new(vec![StaticNode { id: "n1".into(), rtmp: "rtmp://n1".into() }]);
    let _: Option<&StaticNode> = fixed.home(&StreamKey::new("live", "cam"));
    let memory = MemoryDirectory::new();
    memory.clear();
    let _: fn(&MemoryDirectory) = MemoryDirectory::clear;
    let e = DirectoryError::Unavailable("x".into());
    let _: &str = match &e {
        DirectoryError::Unavailable(m) | DirectoryError::Protocol(m) => m,
    };
    let _: fn(&DirectoryError) -> &'static str = DirectoryError::kind;
    let _: fn(NodeState) -> &'static str = NodeState::name;
    let _: fn(&str) -> Option<NodeState> = NodeState::parse;
    let _ = matches!(NodeState::default(), NodeState::Active | NodeState::Draining);
    let NodeLoad { connections, streams, egress_bps } = NodeLoad::default();
    let _: (u64, u64, u64) = (connections, streams, egress_bps);
    let lease = Lease {
        node_id: "n1".into(),
        epoch: "e".into(),
        advertise_rtmp: "rtmp://n1".into(),
        state: NodeState::Active,
        load: NodeLoad::default(),
        ttl: Duration::from_secs(5),
    };
    let Lease { node_id, epoch, advertise_rtmp, state, load, ttl } = lease.clone();
    let _: (String, String, String, NodeState, NodeLoad, Duration) =
        (node_id, epoch, advertise_rtmp, state, load, ttl);
    let NodeRecord { node_id, epoch, advertise_rtmp, state, load, expires_in } = NodeRecord {
        node_id: String::new(),
        epoch: String::new(),
        advertise_rtmp: String::new(),
        state: NodeState::Draining,
        load: NodeLoad::default(),
        expires_in: None,
    };
    let _: (String, String, String, NodeState, NodeLoad, Option<Duration>) =
        (node_id, epoch, advertise_rtmp, state, load, expires_in);
    let OwnedStream { key, epoch } = OwnedStream { key: StreamKey::new("a", "b"), epoch: 1 };
    let _: (StreamKey, u64) = (key, epoch);
    let route = Route {
        owner: String::new(),
        owner_epoch: String::new(),
        epoch: 1,
        advertise_rtmp: String::new(),
        owner_state: NodeState::Active,
    };
    let Route { owner, owner_epoch, epoch, advertise_rtmp, owner_state } = route.clone();
    let _: (String, String, u64, String, NodeState) =
        (owner, owner_epoch, epoch, advertise_rtmp, owner_state);
    match Claim::Held(route.clone()) {
        Claim::Claimed { epoch } => typed::<u64>(&epoch),
        Claim::Held(r) => typed::<Route>(&r),
    }
    let HeartbeatReply { lost, restored } = HeartbeatReply::default();
    let _: (Vec<(StreamKey, Route)>, usize) = (lost, restored);
    let ClaimError::Held { stream, owner, url } =
        ClaimError::Held { stream: String::new(), owner: String::new(), url: String::new() };
    let _: (String, String, String) = (stream, owner, url);
    for phase in DrainPhase::ALL {
        let _: &str = match phase {
            DrainPhase::Serving
            | DrainPhase::StartWait
            | DrainPhase::Reconnecting
            | DrainPhase::Grace
            | DrainPhase::Releasing
            | DrainPhase::Done => phase.name(),
        };
    }
    for reason in SwitchReason::ALL {
        let _: &str = match reason {
            SwitchReason::Closed
            | SwitchReason::Ended
            | SwitchReason::Silent
            | SwitchReason::Refused => reason.name(),
        };
    }
    let ClusterStats {
        claims_claimed,
        claims_refused,
        claims_waited,
        claims_unverified,
        streams_fenced,
        streams_restored,
        heartbeats,
        errors_unavailable,
        errors_protocol,
        reconnect_requests,
        switches,
        gap_buckets,
        gap_sum_us,
    } = ClusterStats::default();
    let _: [AtomicU64; 10] = [
        claims_claimed,
        claims_refused,
        claims_waited,
        claims_unverified,
        streams_fenced,
        streams_restored,
        heartbeats,
        errors_unavailable,
        errors_protocol,
        reconnect_requests,
    ];
    let _: ([AtomicU64; 4], [AtomicU64; 13], AtomicU64) = (switches, gap_buckets, gap_sum_us);
    let cluster = Cluster::new(ClusterSettings::default(), Arc::new(MemoryDirectory::new()));
    let _: fn(ClusterSettings, Arc<dyn Directory>) -> Cluster = Cluster::new;
    let _: &ClusterSettings = cluster.settings();
    let _: Arc<dyn Directory> = cluster.directory();
    cluster.set_directory(Arc::new(MemoryDirectory::new()));
    let _: Lease = cluster.lease();
    let _: Vec<OwnedStream> = cluster.owned_streams();
    let _: Option<u64> = cluster.owned_epoch(&StreamKey::new("a", "b"));
    let _: DrainPhase = cluster.phase();
    let _: &ClusterStats = &cluster.stats;
    // async: `Cluster::claim`, `release`, `resolve`, `nodes`, `heartbeat`, `leave`, and the
    // trait's `Directory::heartbeat`, `claim`, `release`, `resolve`, `nodes`, `leave`, `kind`.
    async fn calls(c: &Cluster, d: &dyn Directory, lease: &Lease) -> Result<(), DirectoryError> {
        let key = StreamKey::new("live", "cam");
        let _: Result<u64, ClaimError> = c.claim(&key, false).await;
        c.release(&key).await;
        let _: Option<Route> = c.resolve(&key).await?;
        let _: Vec<NodeRecord> = c.nodes().await?;
        let _: Vec<(StreamKey, Route)> = c.heartbeat(NodeLoad::default()).await?;
        c.leave().await;
        let _: &'static str = d.kind();
        let _: HeartbeatReply = d.heartbeat(lease, &[]).await?;
        let _: Claim = d.claim(lease, &key, false).await?;
        d.release(lease, &key, 1).await?;
        let _: Option<Route> = d.resolve(&key).await?;
        let _: Vec<NodeRecord> = d.nodes().await?;
        let f: DirectoryFuture<'_, ()> = d.leave(lease);
        f.await
    }
    let _ = calls;
    async fn handle_calls(h: ServerHandle) {
        let ClusterStatus {
            node_id,
            epoch,
            advertise_rtmp,
            state,
            phase,
            directory,
            edge,
            nodes,
            directory_error,
            owned,
            claims,
            fenced,
            directory_errors,
            reconnect_requests,
        } = h.cluster_status().await;
        let _: (String, String, String, NodeState, DrainPhase, &str, bool) =
            (node_id, epoch, advertise_rtmp, state, phase, directory, edge);
        let _: (Vec<NodeRecord>, Option<String>, Vec<OwnedStream>) =
            (nodes, directory_error, owned);
        let _: ([u64; 4], u64, [u64; 2], u64) =
            (claims, fenced, directory_errors, reconnect_requests);
        let StreamRoute {
            owner,
            owner_rtmp,
            epoch,
            local,
            upstream,
            upstream_state,
            upstream_switches,
            directory_error,
        } = h.stream_route("live", "cam").await;
        let _: (Option<String>, Option<String>, Option<u64>, bool) =
            (owner, owner_rtmp, epoch, local);
        let _: (Option<String>, Option<&str>, u64, Option<String>) =
            (upstream, upstream_state, upstream_switches, directory_error);
    }
    let _ = handle_calls;
    let _: fn(&ServerHandle) -> Arc<Cluster> = ServerHandle::cluster;
    let _: fn(&ServerHandle) -> bool = ServerHandle::drain;
    fn send<T: Send + Sync + 'static>() {}
    send::<Cluster>();
    send::<MemoryDirectory>();
    send::<StaticDirectory>();
}

/// The Redis directory (cluster/redis.rs): the type exists in every build; without the
/// `redis` cargo feature its constructor fails, saying so.
#[test]
fn redis_directory_types() {
    use openrtmp_server::cluster::{Directory, DirectoryError, RedisDirectory};
    let _: fn(&str) -> Result<RedisDirectory, DirectoryError> = RedisDirectory::new;
    fn is_directory<T: Directory + 'static>() {}
    is_directory::<RedisDirectory>();
    // A URL that does not parse is refused without connecting (and so is any URL in a
    // build without the feature).
    assert!(RedisDirectory::new("no scheme at all").is_err());
}
