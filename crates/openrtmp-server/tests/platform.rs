//! The platform seam end to end, with real sockets: idle wake-ups, background and
//! suspension, background expiry seen by a real FFmpeg player, a publisher reconnecting
//! while its player waits, network changes seen by the netlink watcher inside a network
//! namespace, the cellular data warning, and the energy figures.

mod support;

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use openrtmp_client::{Connection, PublishOptions};
use openrtmp_proto::command::PublishType;
use openrtmp_proto::command::StatusCode;
use openrtmp_proto::session::ClientEvent;
use openrtmp_server::platform::{
    AppState, NetKind, NetworkInfo, NetworkPolicy, NetworkSnapshot, PlatformEvent, PowerState,
};
use openrtmp_server::Config;
use support::{Ffmpeg, Fixture, TempDir, TestServer};
use tokio::sync::broadcast::Receiver;

/// Waits (at most `limit`) for an event `pick` accepts.
fn wait_event<T>(
    events: &mut Receiver<PlatformEvent>,
    limit: Duration,
    mut pick: impl FnMut(&PlatformEvent) -> Option<T>,
) -> Option<T> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        match events.try_recv() {
            Ok(event) => {
                if let Some(found) = pick(&event) {
                    return Some(found);
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    None
}

/// Context switches of the threads whose name is `name` (Linux).
fn switches_of(name: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    let mut total = 0;
    for task in tasks.filter_map(Result::ok) {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    total
}

/// TCP data segments sent so far by the established sockets on local port `port`
/// (`data_segs_out` from `ss -tin`; 0 if `ss` is missing).
fn data_segments_from(port: u16) -> u64 {
    let filter = format!("( sport = :{port} )");
    let Ok(out) = std::process::Command::new("ss")
        .args(["-tinH", "state", "established", filter.as_str()])
        .output()
    else {
        return 0;
    };
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|field| field.strip_prefix("data_segs_out:"))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

/// How long the idle measurement runs (the issue asks 30 s; `IDLE_TEST_SECS` overrides).
const IDLE_SECS_DEFAULT: u64 = 30;

/// A server with no streams wakes up less than once per second. Only the server's own
/// threads are counted (its runtime has a thread name of its own), so neither the
/// measuring thread nor the other tests of this binary count.
#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "the server's own threads' wake-ups are counted from /proc/self/task (Linux only)"
)]
fn idle_server_wakes_up_less_than_once_per_second() {
    let secs = std::env::var("IDLE_TEST_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(IDLE_SECS_DEFAULT);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("idle-srv")
        .enable_all()
        .build()
        .expect("runtime");
    let config = support::test_config();
    let server = rt.block_on(openrtmp_server::Server::bind(config)).expect("bind");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = rt.spawn(server.run(async {
        let _ = stop_rx.await;
    }));
    // Let start-up (listeners, the network watcher's first dump) settle.
    std::thread::sleep(Duration::from_millis(500));
    let before = switches_of("idle-srv");
    std::thread::sleep(Duration::from_secs(secs));
    let after = switches_of("idle-srv");
    let rate = (after - before) as f64 / secs as f64;
    eprintln!("idle wake-ups: {} in {secs} s = {rate:.2}/s", after - before);
    let _ = stop_tx.send(());
    let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await });
    assert!(rate < 1.0, "an idle server woke up {rate:.2} times per second");
}

/// Background closes idle connections and stops accepting; Foreground accepts again.
#[test]
fn background_closes_idle_connections_and_pauses_accepting() {
    let server = TestServer::start(support::test_config());
    let rt = support::client_runtime();
    let url = server.rtmp_url("live");
    let mut idle =
        rt.block_on(Connection::connect(&url, support::quick_options())).expect("connect");

    server.handle.set_app_state(AppState::Background { remaining: None });
    let closed = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(3), async {
            while let Ok(Some(_)) = idle.next_event().await {}
        })
        .await
    });
    assert!(closed.is_ok(), "the idle connection stayed open in the background");

    let accepted = server.stats.accepted.load(std::sync::atomic::Ordering::Relaxed);
    let mut options = support::quick_options();
    options.connect_timeout = Duration::from_millis(700);
    let refused = rt.block_on(Connection::connect(&url, options));
    assert!(refused.is_err(), "a connection was served in the background");
    let now = server.stats.accepted.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(now, accepted, "nothing is accepted in the background");

    server.handle.set_app_state(AppState::Foreground);
    let back = rt.block_on(Connection::connect(&url, support::quick_options()));
    assert!(back.is_ok(), "not accepting after Foreground: {:?}", back.err());

    // Suspended closes everything; the server stays usable.
    let mut open = back.expect("connected");
    server.handle.set_app_state(AppState::Suspended);
    let closed = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(3), async {
            while let Ok(Some(_)) = open.next_event().await {}
        })
        .await
    });
    assert!(closed.is_ok(), "Suspended left a connection open");
    assert!(!server.handle.readiness().0, "readiness reports the suspension");
    server.handle.set_app_state(AppState::Foreground);
    let again = rt.block_on(Connection::connect(&url, support::quick_options()));
    assert!(again.is_ok(), "not accepting after Suspended + Foreground: {:?}", again.err());

    // A known background deadline: clients are told `background_notice` (5 s) before it,
    // here at once.
    let mut events = server.handle.events();
    let remaining = Duration::from_millis(200);
    server.handle.set_app_state(AppState::Background { remaining: Some(remaining) });
    let expiring = wait_event(&mut events, Duration::from_secs(2), |e| match e {
        PlatformEvent::BackgroundExpiring { remaining } => Some(*remaining),
        _ => None,
    });
    assert_eq!(expiring, Some(remaining), "the background deadline was not acted on");
}

/// In the background a connection that is busy at the switch stays; once it stops
/// publishing it is idle and closes too.
#[test]
fn background_closes_a_connection_once_it_becomes_idle() {
    let server = TestServer::start(support::test_config());
    let rt = support::client_runtime();
    let url = server.rtmp_url("live");
    let mut conn =
        rt.block_on(Connection::connect(&url, support::quick_options())).expect("connect");
    rt.block_on(conn.publish("busy", PublishType::Live)).expect("publish");

    server.handle.set_app_state(AppState::Background { remaining: None });
    let early = rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(500), async {
            while let Ok(Some(_)) = conn.next_event().await {}
        })
        .await
    });
    assert!(early.is_err(), "a publishing connection was closed at the background switch");

    let unpublished = Instant::now();
    conn.session().unpublish().expect("unpublish");
    let closed = rt.block_on(async {
        conn.flush().await.expect("flush");
        tokio::time::timeout(Duration::from_secs(3), async {
            while let Ok(Some(_)) = conn.next_event().await {}
        })
        .await
    });
    assert!(closed.is_ok(), "the connection stayed open after it stopped publishing");
    eprintln!("closed {:?} after it became idle", unpublished.elapsed());
    server.handle.set_app_state(AppState::Foreground);
}

/// Low-power mode: the server writes to a player in batches (far fewer TCP segments, so the
/// radio can sleep longer), and the player still gets every frame. Wake-ups are reported.
#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "the server's own threads' wake-ups are counted from /proc/self/task (Linux only)"
)]
fn low_power_mode_sends_a_player_fewer_segments() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 2 }.path(&ffmpeg);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("power-srv")
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(openrtmp_server::Server::bind(support::test_config())).expect("bind");
    let addr = server.local_addrs()[0];
    let handle = server.handle();
    let hub = server.hub();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = rt.spawn(server.run(async {
        let _ = stop_rx.await;
    }));

    let clients = support::client_runtime();
    let url = openrtmp_client::RtmpUrl::parse(&format!("rtmp://{addr}/live/power")).expect("url");
    let play_url = url.clone();
    let player = clients.spawn(async move {
        let mut conn = Connection::connect(&play_url, support::quick_options()).await?;
        let stream_id = conn.play("power").await?;
        let mut arrivals = Vec::new();
        let limit = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            match tokio::time::timeout_at(limit, conn.next_event()).await {
                Ok(Ok(Some(ClientEvent::Media { stream_id: id, .. }))) if id == stream_id => {
                    arrivals.push(Instant::now());
                }
                Ok(Ok(Some(ClientEvent::Status { code, .. })))
                    if code == StatusCode::PLAY_UNPUBLISH_NOTIFY.code =>
                {
                    break
                }
                Ok(Ok(Some(_))) => {}
                _ => break,
            }
        }
        Ok::<_, openrtmp_client::ClientError>(arrivals)
    });
    let attached = support::wait_until(Duration::from_secs(10), || {
        hub.streams().iter().map(|s| s.viewers).sum::<usize>() >= 1
    });
    assert!(attached, "the player did not attach");
    // FFmpeg publishes as encoders do: each packet written when due (-re).
    let dir = TempDir::new("power");
    let publish_url = format!("rtmp://{addr}/live/power");
    let mut publisher = Ffmpeg::spawn(
        &ffmpeg,
        "ffmpeg publisher",
        &["-re", "-stream_loop", "3", "-i", input.to_str().expect("utf-8 path")]
            .into_iter()
            .chain(["-c", "copy", "-f", "flv", publish_url.as_str()])
            .collect::<Vec<_>>(),
        dir.path("publish.log"),
    );

    // 8 s of real-time media: 3 s normal, then 3 s in low-power mode.
    let window = Duration::from_millis(2500);
    std::thread::sleep(Duration::from_millis(500));
    let port = addr.port();
    let sample = || (switches_of("power-srv"), data_segments_from(port), Instant::now());
    let (a0, w0, t0) = sample();
    std::thread::sleep(window);
    let (a1, w1, t1) = sample();
    handle.set_power(PowerState { on_battery: true, low_power: true, device_idle: false });
    std::thread::sleep(Duration::from_millis(300));
    let (b0, x0, t2) = sample();
    std::thread::sleep(window);
    let (b1, x1, t3) = sample();
    let per_sec =
        |n: u64, from: Instant, to: Instant| n as f64 / to.duration_since(from).as_secs_f64();
    let (wake_normal, wake_saving) = (per_sec(a1 - a0, t0, t1), per_sec(b1 - b0, t2, t3));
    let (normal, saving) = (per_sec(w1 - w0, t0, t1), per_sec(x1 - x0, t2, t3));

    publisher.wait_success(Duration::from_secs(20));
    let arrivals = clients.block_on(player).expect("player task").expect("player");
    let count =
        |from: Instant, to: Instant| arrivals.iter().filter(|t| **t >= from && **t < to).count();
    let (frames_normal, frames_saving) = (count(t0, t1), count(t2, t3));
    eprintln!(
        "while streaming to one player: server sent {normal:.1} data segments/s normal, {saving:.1}/s in \
         low-power mode; server wake-ups {wake_normal:.1}/s and {wake_saving:.1}/s; \
         {frames_normal} and {frames_saving} media messages reached the player in the two windows"
    );
    let _ = stop_tx.send(());
    let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await });
    // A 100 ms nap allows at most 10 pumps (one write, one loopback segment each, as long
    // as a batch stays under the 64 KiB MSS) a second; normal mode writes as the publisher's
    // packets arrive (about 25 batches a second from FFmpeg -re here). The bound leaves room
    // for a batch split in two; the ratio keeps the comparison meaningful if a loaded
    // machine coalesces more in normal mode too.
    assert!(
        saving <= 12.5 && saving < normal * 0.8,
        "low-power mode saved too few segments: {normal:.1}/s -> {saving:.1}/s"
    );
    assert!(
        frames_saving as f64 >= frames_normal as f64 * 0.8,
        "the player fell behind in low-power mode: {frames_normal} -> {frames_saving}"
    );
}

/// With `mdns` on, a browser on the LAN (a second mDNS daemon in this process, over real
/// multicast) resolves the server's RTMP port on the machine's addresses; the announcement
/// is withdrawn in the background and in Doze, and comes back in the foreground.
#[test]
fn mdns_announces_the_server_and_follows_the_app_and_power_state() {
    use mdns_sd::{ServiceDaemon, ServiceEvent};
    let instance = format!("OpenRTMP it {}", std::process::id());
    let config = Config {
        listen: vec![SocketAddr::from(([0, 0, 0, 0], 0))],
        watch_network: true,
        mdns: true,
        mdns_name: Some(instance.clone()),
        ..support::test_config()
    };
    let server = TestServer::start(config);
    let port = server.addr.port();
    let fullname = format!("{instance}._rtmp._tcp.local.");
    let browser = ServiceDaemon::new().expect("browser");
    let events = browser.browse("_rtmp._tcp.local.").expect("browse");
    // Some(addresses) when resolved, None when removed.
    let next = |what: &str| -> Option<Vec<IpAddr>> {
        let end = Instant::now() + Duration::from_secs(5);
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match events.recv_timeout(left) {
                Ok(ServiceEvent::ServiceResolved(r)) if r.get_fullname() == fullname => {
                    assert_eq!(r.get_port(), port, "announced port");
                    assert_eq!(r.get_property_val_str("version"), Some(env!("CARGO_PKG_VERSION")));
                    return Some(r.get_addresses().iter().map(|a| a.to_ip_addr()).collect());
                }
                Ok(ServiceEvent::ServiceRemoved(_, name)) if name == fullname => return None,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("mdns: nothing about {fullname} within 5 s ({what})");
    };
    let started = Instant::now();
    let addrs = match next("start") {
        Some(addrs) => addrs,
        None => panic!("removed before it was resolved"),
    };
    println!("mdns: resolved on {addrs:?} after {:?}", started.elapsed());
    assert!(!addrs.is_empty() && addrs.iter().all(|a| !a.is_loopback()), "{addrs:?}");

    server.handle.set_app_state(AppState::Background { remaining: None });
    assert_eq!(next("background"), None, "still announced in the background");
    server.handle.set_app_state(AppState::Foreground);
    assert!(next("foreground").is_some(), "not announced again in the foreground");
    let idle = PowerState { on_battery: true, low_power: false, device_idle: true };
    server.handle.set_power(idle);
    assert_eq!(next("doze"), None, "still announced in Doze");
    server.handle.set_power(PowerState::default());
    assert!(next("awake").is_some(), "not announced again after Doze");
    drop(server);
    assert_eq!(next("shutdown"), None, "the announcement outlived the server");
    let _ = browser.shutdown();
}

/// FFmpeg plays a stream our client publishes; background expiry tells it and closes it.
#[test]
fn background_expiry_tells_an_ffmpeg_player_and_closes_it() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 2 }.path(&ffmpeg);
    let server = TestServer::start(support::test_config());
    let mut events = server.handle.events();
    let rt = support::client_runtime();
    let dir = TempDir::new("background-expiry");
    let url = server.rtmp_url("live/expiry");
    let publish = PublishOptions { realtime: true, repeat: 10 };
    let publisher = rt.spawn(async move {
        openrtmp_client::publish_file(&input, &url, support::quick_options(), publish).await
    });
    // Our client plays too: FFmpeg does not log status-level onStatus messages.
    let play_url = server.rtmp_url("live/expiry");
    let notice = rt.spawn(async move {
        let mut conn = Connection::connect(&play_url, support::quick_options()).await?;
        conn.play("expiry").await?;
        let mut told = None;
        while let Ok(Some(event)) = conn.next_event().await {
            if let ClientEvent::Status { code, description, .. } = event {
                if code == StatusCode::CONNECT_APP_SHUTDOWN.code {
                    told = Some(description);
                }
            }
        }
        Ok::<_, openrtmp_client::ClientError>(told)
    });
    let url = server.url("live/expiry");
    let mut player = Ffmpeg::spawn(
        &ffmpeg,
        "ffmpeg player",
        &["-loglevel", "debug", "-i", url.as_str(), "-c", "copy", "-f", "null", "-"],
        dir.path("player.log"),
    );
    server.wait_viewers(2);
    std::thread::sleep(Duration::from_millis(800));

    let told = Instant::now();
    server.handle.background_time_expiring(Duration::from_secs(3));
    let event = wait_event(&mut events, Duration::from_secs(2), |e| match e {
        PlatformEvent::BackgroundExpiring { remaining } => Some(*remaining),
        _ => None,
    });
    assert_eq!(event, Some(Duration::from_secs(3)), "BackgroundExpiring was not sent");
    let status = player.child.wait_timeout(Duration::from_secs(5));
    let exited = told.elapsed();
    let log = player.log_text();
    assert!(status.is_some(), "FFmpeg still plays 5 s after the notice:\n{log}");
    eprintln!("FFmpeg exited {} ms after the notice ({status:?})", exited.as_millis());
    let shown: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Input/output error") || l.contains("End of file"))
        .collect();
    eprintln!("FFmpeg log lines about the end: {shown:#?}");
    assert!(!shown.is_empty(), "FFmpeg's log shows neither the notice nor the closure:\n{log}");
    let told = rt.block_on(notice).expect("player task").expect("our player");
    eprintln!("our player was told: {told:?}");
    assert!(told.is_some(), "our player did not get NetConnection.Connect.AppShutdown");
    let gone =
        support::wait_until(Duration::from_secs(2), || server.handle.connections().is_empty());
    assert!(gone, "connections left after expiry: {:?}", server.handle.connections());
    let _ = rt.block_on(publisher);
}

/// A publisher drops and reconnects with the same key within `unpublished_wait`: the player
/// stays attached and gets the second publisher's media.
#[test]
fn player_stays_attached_while_the_publisher_reconnects() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 2 }.path(&ffmpeg);
    let config = Config { unpublished_wait: Duration::from_secs(30), ..support::test_config() };
    let server = TestServer::start(config);
    let rt = support::client_runtime();
    let url = server.rtmp_url("live/resume");

    let play_url = url.clone();
    let player = rt.spawn(async move {
        let mut conn = Connection::connect(&play_url, support::quick_options()).await?;
        let stream_id = conn.play("resume").await?;
        // Media counted per publisher: index = unpublish notices seen so far.
        let mut media = [0u32; 2];
        let mut unpublished = 0;
        let limit = tokio::time::Instant::now() + Duration::from_secs(20);
        while unpublished < 2 {
            let event = tokio::time::timeout_at(limit, conn.next_event()).await;
            match event {
                Ok(Ok(Some(ClientEvent::Media { stream_id: id, .. }))) if id == stream_id => {
                    if let Some(n) = media.get_mut(unpublished) {
                        *n += 1;
                    }
                }
                Ok(Ok(Some(ClientEvent::Status { code, .. })))
                    if code == StatusCode::PLAY_UNPUBLISH_NOTIFY.code =>
                {
                    unpublished += 1;
                }
                Ok(Ok(Some(_))) => {}
                _ => break,
            }
        }
        Ok::<_, openrtmp_client::ClientError>(media)
    });
    server.wait_viewers(1);
    let once = || PublishOptions { realtime: false, repeat: 1 };
    let publish = || openrtmp_client::publish_file(&input, &url, support::quick_options(), once());
    rt.block_on(publish()).expect("first publisher");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(server.viewers(), 1, "the player left while the publisher was away");
    rt.block_on(publish()).expect("second publisher");
    let media = rt.block_on(player).expect("player task").expect("player");
    eprintln!("player got {} then {} media messages", media[0], media[1]);
    assert!(media[0] > 20, "too little from the first publisher: {media:?}");
    assert!(media[1] > 20, "too little from the second publisher: {media:?}");
}

/// Bytes sent over a network the snapshot says is cellular pass the threshold: one warning.
/// And the energy figures after the stream.
#[test]
fn cellular_warning_fires_once_and_energy_is_reported() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let input = Fixture::H264Aac { seconds: 2 }.path(&ffmpeg);
    let config = Config {
        cellular_warning_bytes: Some(100_000),
        // The snapshot comes from the test, not from the OS.
        watch_network: false,
        ..support::test_config()
    };
    let server = TestServer::start(config);
    let mut events = server.handle.events();
    server.handle.network_changed(NetworkSnapshot {
        networks: vec![NetworkInfo {
            id: 7,
            name: "rmnet0".into(),
            kind: NetKind::Cellular,
            addrs: vec![IpAddr::from([127, 0, 0, 1])],
            expensive: true,
        }],
        default: Some(7),
    });
    let rt = support::client_runtime();
    let player = rt.spawn(support::play_all(
        server.rtmp_url("live/cell"),
        support::quick_options(),
        Duration::from_secs(15),
    ));
    server.wait_viewers(1);
    let url = server.rtmp_url("live/cell");
    let publish = PublishOptions { realtime: false, repeat: 3 };
    let publisher = rt.spawn(async move {
        openrtmp_client::publish_file(&input, &url, support::quick_options(), publish).await
    });
    let handle = server.handle.clone();
    // The publisher sends as fast as it can: sample the per-stream figure while it runs.
    let mut got_stream_bytes = false;
    while !publisher.is_finished() && !got_stream_bytes {
        got_stream_bytes =
            handle.energy().stream_bytes_in.iter().any(|(name, n)| name == "live/cell" && *n > 0);
        std::thread::sleep(Duration::from_millis(1));
    }
    rt.block_on(publisher).expect("publisher task").expect("publish");
    let played = rt.block_on(player).expect("player task");
    let energy = server.handle.energy();
    eprintln!("player got {} tags; energy: {energy:?}", played.tags.len());

    let mut warnings = Vec::new();
    let mut stats_seen = false;
    while let Some(event) = wait_event(&mut events, Duration::from_millis(600), |e| Some(e.clone()))
    {
        match event {
            PlatformEvent::CellularDataWarning { bytes, threshold } => {
                warnings.push((bytes, threshold))
            }
            PlatformEvent::StatsChanged { .. } => stats_seen = true,
            _ => {}
        }
    }
    assert_eq!(warnings.len(), 1, "expected one cellular warning: {warnings:?}");
    assert!(warnings[0].0 >= 100_000 && warnings[0].1 == 100_000, "{warnings:?}");
    assert!(stats_seen, "no StatsChanged");
    assert!(energy.cellular_bytes_out > 100_000, "{energy:?}");
    assert!(energy.bytes_out >= energy.cellular_bytes_out, "{energy:?}");
    assert!(energy.bytes_in > 100_000, "{energy:?}");
    assert!(got_stream_bytes, "per-stream bytes in were never reported");
    assert!(energy.cpu_time.is_some_and(|t| t > Duration::ZERO), "{energy:?}");
    if cfg!(windows) {
        assert_eq!(energy.wakeups, None, "{energy:?}");
    } else {
        assert!(energy.wakeups.is_some_and(|n| n > 0), "{energy:?}");
    }
}

/// Environment variable that makes the namespace test run its child part.
const NETNS_CHILD: &str = "OPENRTMP_NETNS_CHILD";

/// Inside a rootless network namespace, adding an address is seen by the netlink watcher in
/// under 2 s, and listeners follow the policy (re-exec of this test under `unshare -rn`).
#[test]
#[cfg_attr(not(target_os = "linux"), ignore = "network namespaces are Linux only")]
fn network_change_is_detected_in_a_namespace() {
    if std::env::var_os(NETNS_CHILD).is_some() {
        return namespace_child();
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new("unshare")
        .arg("-rn")
        .arg(exe)
        .args(["--exact", "network_change_is_detected_in_a_namespace", "--nocapture"])
        .env(NETNS_CHILD, "1")
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => return support::skip_or_fail(&format!("unshare cannot run: {e}")),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() && stderr.contains("unshare failed") {
        return support::skip_or_fail(&format!("unshare -rn is not permitted: {stderr}"));
    }
    eprintln!("{stdout}\n{stderr}");
    assert!(out.status.success(), "the namespace child failed");
    assert!(stdout.contains("running 1 test"), "the child ran no test");
}

fn ip(args: &str) {
    let status = std::process::Command::new("ip")
        .args(args.split_whitespace())
        .status()
        .unwrap_or_else(|e| panic!("ip {args}: {e}"));
    assert!(status.success(), "ip {args} failed");
}

fn namespace_child() {
    ip("link set lo up");
    let config = Config {
        watch_network: true,
        network_policy: NetworkPolicy::WifiOnly,
        ..support::test_config()
    };
    let server = TestServer::start(config);
    let port = server.addr.port();
    let mut events = server.handle.events();
    // Let the watcher read the initial addresses.
    std::thread::sleep(Duration::from_millis(300));
    let added = IpAddr::from([10, 77, 0, 1]);
    let start = Instant::now();
    ip("addr add 10.77.0.1/24 dev lo");
    let has = |s: &NetworkSnapshot| s.networks.iter().find(|n| n.addrs.contains(&added)).cloned();
    let seen = wait_event(&mut events, Duration::from_secs(2), |e| match e {
        PlatformEvent::NetworkChanged { snapshot } => has(snapshot),
        _ => None,
    });
    let latency = start.elapsed();
    let network = seen.expect("no NetworkChanged with the new address within 2 s");
    println!("network change seen after {:.1} ms: {network:?}", latency.as_secs_f64() * 1e3);

    // The watcher cannot name the interface of a /32-less local-table address (kind
    // Other): WifiOnly does not allow it, so nothing changes for the loopback listener.
    let rebound = wait_event(&mut events, Duration::from_millis(300), |e| match e {
        PlatformEvent::Rebound { addrs } => Some(addrs.clone()),
        _ => None,
    });
    if network.kind == NetKind::Other {
        assert_eq!(rebound, None, "an address of unknown kind was listened on under WifiOnly");
    }
    TcpStream::connect_timeout(&server.addr, Duration::from_secs(1)).expect("old listener");

    // The host says the address is on Wi-Fi: the listener follows to it, same port.
    server.handle.network_changed(wifi_snapshot(added));
    let want_new = SocketAddr::new(added, port);
    let rebound = wait_event(&mut events, Duration::from_secs(2), |e| match e {
        PlatformEvent::Rebound { addrs } => Some(addrs.clone()),
        _ => None,
    });
    let addrs = rebound.expect("no Rebound after the address was allowed");
    println!("re-bound: {addrs:?}");
    assert!(addrs.contains(&server.addr) && addrs.contains(&want_new), "{addrs:?}");
    TcpStream::connect_timeout(&want_new, Duration::from_secs(1)).expect("new listener");
    let mut listed = server.handle.info().listeners;
    listed.sort();
    assert_eq!(listed, addrs, "ServerInfo.listeners follows the re-binding");

    // The address goes away (seen by the watcher): so does its listener; loopback stays.
    ip("addr del 10.77.0.1/24 dev lo");
    let rebound = wait_event(&mut events, Duration::from_secs(2), |e| match e {
        PlatformEvent::Rebound { addrs } => Some(addrs.clone()),
        _ => None,
    });
    assert_eq!(rebound, Some(vec![server.addr]), "listener not closed with its address");

    // CellularOnly also allows loopback: nothing to re-bind.
    server.handle.set_network_policy(NetworkPolicy::CellularOnly);
    let rebound = wait_event(&mut events, Duration::from_millis(300), |e| match e {
        PlatformEvent::Rebound { addrs } => Some(addrs.clone()),
        _ => None,
    });
    assert_eq!(rebound, None, "loopback is allowed under every policy");
    TcpStream::connect_timeout(&server.addr, Duration::from_secs(1)).expect("loopback listener");
}

/// A snapshot holding loopback and `addr` (on Wi-Fi), as a host would push it.
fn wifi_snapshot(addr: IpAddr) -> NetworkSnapshot {
    let net = |id, name: &str, kind, addrs| NetworkInfo {
        id,
        name: name.into(),
        kind,
        addrs,
        expensive: false,
    };
    NetworkSnapshot {
        networks: vec![
            net(1, "lo", NetKind::Loopback, vec![IpAddr::from([127, 0, 0, 1])]),
            net(2, "wlan0", NetKind::Wifi, vec![addr]),
        ],
        default: Some(2),
    }
}
