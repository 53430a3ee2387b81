//! The whole decision, against a real HTTP service (axum on 127.0.0.1:0).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use ring::hmac;
use serde_json::Value;

use super::clock::Clock;
use super::*;

const SECRET: &str = "signing-secret";
const PEER: &str = "127.0.0.1:40000";
/// The breaker's cooldown. Tests move a manual clock past it; the real clock never ends
/// it during a test.
const COOLDOWN: Duration = Duration::from_secs(200);

/// How the test service answers decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// 200, except 403 with a body for the stream `bad`.
    Normal,
    /// 500 to everything.
    Broken,
    /// Sleeps this long, then 200.
    Slow(Duration),
}

#[derive(Debug)]
struct Service {
    mode: StdMutex<Mode>,
    /// Notifications still to answer with 500.
    notify_failures: AtomicU32,
    /// (path, body as JSON, signature valid).
    seen: StdMutex<Vec<(String, Value, bool)>>,
}

impl Service {
    fn decisions(&self) -> Vec<Value> {
        self.requests("/auth")
    }

    fn requests(&self, path: &str) -> Vec<Value> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|(p, _, _)| p == path).map(|(_, j, _)| j.clone()).collect()
    }

    fn all_signed(&self) -> bool {
        self.seen.lock().unwrap().iter().all(|(_, _, signed)| *signed)
    }
}

async fn handle(
    State(svc): State<Arc<Service>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes());
    let signed = headers
        .get("x-openrtmp-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .is_some_and(|hex| hex == token::to_hex(hmac::sign(&key, &body).as_ref()));
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    svc.seen.lock().unwrap().push((uri.path().to_owned(), json.clone(), signed));
    if !signed {
        return (StatusCode::UNAUTHORIZED, "bad signature".into());
    }
    if uri.path() == "/notify" {
        let failing = svc
            .notify_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        return match failing {
            Ok(_) => (StatusCode::INTERNAL_SERVER_ERROR, "try again".into()),
            Err(_) => (StatusCode::OK, String::new()),
        };
    }
    let mode = *svc.mode.lock().unwrap();
    match mode {
        Mode::Broken => (StatusCode::INTERNAL_SERVER_ERROR, String::new()),
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, String::new())
        }
        Mode::Normal if json["stream"] == "bad" => {
            (StatusCode::FORBIDDEN, "  stream bad is banned\n".into())
        }
        Mode::Normal => (StatusCode::OK, String::new()),
    }
}

/// Starts the service on `addr` (port 0: any).
async fn start_service(addr: SocketAddr) -> (Arc<Service>, SocketAddr) {
    // The layer's own log lines, shown for failing tests (or with --nocapture).
    let _ = tracing_subscriber::fmt()
        .with_env_filter("openrtmp_server=debug")
        .with_test_writer()
        .try_init();
    let svc = Arc::new(Service {
        mode: StdMutex::new(Mode::Normal),
        notify_failures: AtomicU32::new(0),
        seen: StdMutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .route("/auth", post(handle))
        .route("/notify", post(handle))
        .with_state(svc.clone());
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (svc, addr)
}

fn callback(addr: SocketAddr) -> CallbackSettings {
    let mut cb = CallbackSettings::new(format!("http://{addr}/auth"));
    cb.notify_url = Some(format!("http://{addr}/notify"));
    cb.timeout = Duration::from_millis(200);
    cb.breaker_failures = 3;
    cb.breaker_cooldown = COOLDOWN;
    cb.signing_secret = Some(SECRET.into());
    cb
}

fn with_callback(cb: CallbackSettings) -> AuthSettings {
    AuthSettings { callback: Some(cb), ..AuthSettings::default() }
}

fn request(action: AuthAction, app: &str, stream: Option<&str>) -> AuthRequest {
    AuthRequest {
        action,
        app: app.into(),
        stream: stream.map(Into::into),
        tc_url: Some(format!("rtmp://localhost/{app}")),
        peer: PEER.parse().unwrap(),
        conn_id: 7,
    }
}

fn from(mut req: AuthRequest, peer: &str) -> AuthRequest {
    req.peer = peer.parse().unwrap();
    req
}

async fn decide(auth: &Arc<Auth>, req: AuthRequest) -> Verdict {
    auth.authorize(req).await
}

fn denied(verdict: &Verdict) -> (DenyKind, &str) {
    match verdict {
        Verdict::Deny(d) => (d.kind, d.reason.as_str()),
        Verdict::Allow { .. } => panic!("allowed: {verdict:?}"),
    }
}

fn allowed(app: &str, stream: Option<&str>) -> Verdict {
    Verdict::Allow { app: app.into(), stream: stream.map(Into::into) }
}

fn keys(app: &str, key: &str, stream: Option<&str>) -> AppKeys {
    AppKeys {
        app: app.into(),
        keys: vec![PublishKey {
            secret: KeySecret::Plain(key.into()),
            stream: stream.map(Into::into),
        }],
    }
}

#[tokio::test]
async fn open_by_default_and_names_cleaned() {
    let auth = Arc::new(Auth::new(&AuthSettings::default()).unwrap());
    let v = decide(&auth, request(AuthAction::Connect, "/live/?x=1", None)).await;
    assert_eq!(v, allowed("live", None));
    let v = decide(&auth, request(AuthAction::Publish, "live", Some("cam?key=k&x=y"))).await;
    assert_eq!(v, allowed("live", Some("cam")));
    assert_eq!(auth.circuit(), None);
    for bad in ["../etc", "a/../b", "%2e%2e", "a\0b"] {
        let v = decide(&auth, request(AuthAction::Play, "live", Some(bad))).await;
        assert_eq!(denied(&v).0, DenyKind::BadName, "{bad:?}");
    }
    let v = decide(&auth, request(AuthAction::Play, "live", None)).await;
    assert_eq!(denied(&v), (DenyKind::BadName, "stream name is missing"));
    let long_query = format!("cam?{}", "x".repeat(MAX_QUERY_LEN + 1));
    let v = decide(&auth, request(AuthAction::Play, "live", Some(&long_query))).await;
    assert_eq!(denied(&v).0, DenyKind::BadName);
    let stats = auth.stats();
    assert_eq!(stats.allowed, 2);
    assert_eq!(stats.denied["bad_name"], 6);
}

#[tokio::test]
async fn keys_tokens_and_acl_in_order() {
    let mut settings = AuthSettings {
        publish_keys: vec![keys("live", "s3cret", Some("main"))],
        play_tokens: Some(PlayTokenSettings { secret: "t".into(), apps: vec![] }),
        ..AuthSettings::default()
    };
    settings.acl.publish.allow = vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
    settings.acl.connect.deny = vec!["192.0.2.0/24".parse().unwrap()];
    let auth = Arc::new(Auth::new(&settings).unwrap());

    let v = decide(&auth, request(AuthAction::Publish, "live", Some("s3cret"))).await;
    assert_eq!(v, allowed("live", Some("main")), "key mapped to its stream");
    let v = decide(&auth, request(AuthAction::Publish, "live", Some("main?key=s3cret"))).await;
    assert_eq!(v, allowed("live", Some("main")));
    let v = decide(&auth, request(AuthAction::Publish, "live", Some("wrong"))).await;
    assert_eq!(denied(&v), (DenyKind::BadKey, "invalid stream key for app live"));

    // ACL before keys: a good key from outside the allow list is an ACL refusal.
    let v =
        decide(&auth, from(request(AuthAction::Publish, "live", Some("s3cret")), "[::1]:5")).await;
    assert_eq!(v, allowed("live", Some("main")));
    let v = decide(&auth, from(request(AuthAction::Publish, "live", Some("s3cret")), "10.0.0.1:5"))
        .await;
    assert_eq!(denied(&v).0, DenyKind::Acl);
    let v = decide(&auth, from(request(AuthAction::Connect, "live", None), "[::ffff:192.0.2.9]:5"))
        .await;
    assert_eq!(
        denied(&v),
        (DenyKind::Acl, "address 192.0.2.9 is not allowed to connect (deny list)")
    );
    // Names before the ACL.
    let v = decide(&auth, from(request(AuthAction::Connect, "..", None), "192.0.2.1:5")).await;
    assert_eq!(denied(&v).0, DenyKind::BadName);

    let expires = unix_now() + 60;
    let token = sign_play_token("t", "live", "main", expires);
    let q = format!("main?expires={expires}&token={token}");
    assert_eq!(
        decide(&auth, request(AuthAction::Play, "live", Some(&q))).await,
        allowed("live", Some("main"))
    );
    let q = format!("other?expires={expires}&token={token}");
    let v = decide(&auth, request(AuthAction::Play, "live", Some(&q))).await;
    assert_eq!(denied(&v), (DenyKind::BadToken, "invalid play token"));
    // Token on the app instead.
    let app = format!("live?expires={expires}&token={token}");
    assert_eq!(
        decide(&auth, request(AuthAction::Play, &app, Some("main"))).await,
        allowed("live", Some("main"))
    );
    let v = decide(&auth, request(AuthAction::Play, "live", Some("main"))).await;
    assert_eq!(denied(&v), (DenyKind::BadToken, "play token required"));
}

#[tokio::test]
async fn brute_force_blocks_before_the_callback_and_recovers() {
    let (svc, addr) = start_service("127.0.0.1:0".parse().unwrap()).await;
    // The block ends when the test moves the clock. (The limiter's budget refills in real
    // time, one failure every window / 5 = 12 s: far longer than five local requests.)
    let window = Duration::from_secs(60);
    let settings = AuthSettings {
        brute_force: BruteForceSettings { max_failures: 5, window },
        ..with_callback(callback(addr))
    };
    let clock = Clock::manual();
    let auth = Arc::new(Auth::with_clock(&settings, clock.clone()).unwrap());

    for _ in 0..5 {
        let v = decide(&auth, request(AuthAction::Publish, "live", Some("bad"))).await;
        let (kind, reason) = denied(&v);
        assert_eq!(kind, DenyKind::CallbackDenied);
        assert_eq!(reason, "denied by the authorisation service (HTTP 403): stream bad is banned");
    }
    assert_eq!(svc.decisions().len(), 5);
    let v = decide(&auth, request(AuthAction::Publish, "live", Some("good"))).await;
    let (kind, reason) = denied(&v);
    assert_eq!(kind, DenyKind::BruteForce);
    assert!(
        reason.starts_with("too many failed attempts from 127.0.0.1; try again in "),
        "{reason}"
    );
    assert_eq!(svc.decisions().len(), 5, "the service was asked while the client was blocked");
    assert_eq!(auth.stats().brute_force_blocked_ips, 1);
    // Other addresses are not affected.
    let other = from(request(AuthAction::Publish, "live", Some("good")), "127.0.0.2:1");
    assert_eq!(decide(&auth, other).await, allowed("live", Some("good")));

    // A reload with the same limits keeps the block.
    auth.update(&settings).unwrap();
    let v = decide(&auth, request(AuthAction::Publish, "live", Some("good"))).await;
    assert_eq!(denied(&v).0, DenyKind::BruteForce);

    clock.advance(window - Duration::from_millis(1));
    assert_eq!(auth.stats().brute_force_blocked_ips, 1, "blocked for the whole window");
    clock.advance(Duration::from_millis(1));
    let v = decide(&auth, request(AuthAction::Publish, "live", Some("good"))).await;
    assert_eq!(v, allowed("live", Some("good")));
    let stats = auth.stats();
    assert_eq!(stats.denied["callback_denied"], 5);
    assert_eq!(stats.denied["brute_force"], 2);
    assert_eq!(stats.brute_force_blocked_ips, 0);
    assert!(svc.all_signed());
}

#[tokio::test]
async fn name_and_acl_refusals_are_not_guesses() {
    let mut settings = AuthSettings {
        brute_force: BruteForceSettings { max_failures: 2, window: Duration::from_secs(60) },
        ..AuthSettings::default()
    };
    settings.acl.play.deny = vec!["127.0.0.0/8".parse().unwrap()];
    let auth = Arc::new(Auth::new(&settings).unwrap());
    for _ in 0..5 {
        let v = decide(&auth, request(AuthAction::Publish, "live", Some("../x"))).await;
        assert_eq!(denied(&v).0, DenyKind::BadName);
        let v = decide(&auth, request(AuthAction::Play, "live", Some("x"))).await;
        assert_eq!(denied(&v).0, DenyKind::Acl);
    }
    assert_eq!(
        decide(&auth, request(AuthAction::Publish, "live", Some("x"))).await,
        allowed("live", Some("x"))
    );
}

#[tokio::test]
async fn callback_request_body() {
    let (svc, addr) = start_service("127.0.0.1:0".parse().unwrap()).await;
    let settings = AuthSettings {
        publish_keys: vec![keys("live", "k1", Some("studio"))],
        ..with_callback(callback(addr))
    };
    let auth = Arc::new(Auth::new(&settings).unwrap());
    let v = decide(&auth, request(AuthAction::Connect, "live?user=u1", None)).await;
    assert_eq!(v, allowed("live", None));
    let v = decide(&auth, request(AuthAction::Publish, "live?user=u1", Some("k1?x=2"))).await;
    assert_eq!(v, allowed("live", Some("studio")));
    let d = svc.decisions();
    assert_eq!(d.len(), 2);
    let (connect, publish) = (&d[0], &d[1]);
    assert_eq!(connect["action"], "connect");
    assert!(connect["stream"].is_null());
    assert_eq!(connect["tc_url"], "rtmp://localhost/live?user=u1");
    assert_eq!(publish["action"], "publish");
    assert_eq!(publish["app"], "live");
    assert_eq!(publish["stream"], "studio", "the mapped name, not the key");
    assert_eq!(publish["query"]["user"], "u1");
    assert_eq!(publish["query"]["x"], "2");
    assert_eq!(publish["client_ip"], "127.0.0.1");
    assert_eq!(publish["client_port"], 40000);
    assert_eq!(publish["conn_id"], 7);
    assert_eq!(publish["server"], SERVER_NAME);
    assert!(svc.all_signed());
    assert_eq!(auth.circuit(), Some(CircuitState::Closed));
}

#[tokio::test]
async fn unsigned_requests_are_refused_by_the_service() {
    let (_svc, addr) = start_service("127.0.0.1:0".parse().unwrap()).await;
    let mut cb = callback(addr);
    cb.signing_secret = Some("wrong".into());
    let settings = with_callback(cb);
    let auth = Arc::new(Auth::new(&settings).unwrap());
    let v = decide(&auth, request(AuthAction::Connect, "live", None)).await;
    assert_eq!(
        denied(&v),
        (DenyKind::CallbackDenied, "denied by the authorisation service (HTTP 401): bad signature")
    );
}

#[tokio::test]
async fn timeout_fails_closed_or_open() {
    let (svc, addr) = start_service("127.0.0.1:0".parse().unwrap()).await;
    // The service answers after a minute: a verdict well before that came from the 200 ms
    // timeout (bounds that a slow machine cannot miss).
    let answers_after = Duration::from_secs(60);
    *svc.mode.lock().unwrap() = Mode::Slow(answers_after);
    let mut settings = with_callback(callback(addr));
    let auth = Arc::new(Auth::new(&settings).unwrap());
    let started = Instant::now();
    let v = decide(&auth, request(AuthAction::Connect, "live", None)).await;
    assert_eq!(denied(&v), (DenyKind::CallbackUnavailable, "authorisation service unavailable"));
    assert!(started.elapsed() < answers_after / 2, "took {:?}", started.elapsed());

    if let Some(cb) = settings.callback.as_mut() {
        cb.fail_open = true;
    }
    auth.update(&settings).unwrap();
    let v = decide(&auth, request(AuthAction::Connect, "live", None)).await;
    assert_eq!(v, allowed("live", None));
    let stats = auth.stats();
    assert_eq!(stats.callback_timeouts, 2);
    assert_eq!(stats.callback_calls, 2);
    assert_eq!(stats.denied["callback_unavailable"], 1);
    // Unavailability is not a guess.
    assert_eq!(stats.brute_force_blocked_ips, 0);
}

#[tokio::test]
async fn service_errors_open_the_circuit_and_a_probe_closes_it() {
    let (svc, addr) = start_service("127.0.0.1:0".parse().unwrap()).await;
    *svc.mode.lock().unwrap() = Mode::Broken;
    let settings = with_callback(callback(addr));
    let clock = Clock::manual();
    let auth = Arc::new(Auth::with_clock(&settings, clock.clone()).unwrap());
    for _ in 0..3 {
        let v = decide(&auth, request(AuthAction::Connect, "live", None)).await;
        assert_eq!(denied(&v).0, DenyKind::CallbackUnavailable);
    }
    assert_eq!(auth.circuit(), Some(CircuitState::Open));
    let v = decide(&auth, request(AuthAction::Connect, "live", None)).await;
    assert_eq!(denied(&v).0, DenyKind::CallbackUnavailable);
    assert_eq!(svc.decisions().len(), 3, "asked while the circuit was open");
    *svc.mode.lock().unwrap() = Mode::Normal;
    clock.advance(COOLDOWN - Duration::from_millis(1));
    assert_eq!(auth.circuit(), Some(CircuitState::Open), "open for the whole cooldown");
    clock.advance(Duration::from_millis(1));
    assert_eq!(auth.circuit(), Some(CircuitState::HalfOpen));
    assert_eq!(
        decide(&auth, request(AuthAction::Connect, "live", None)).await,
        allowed("live", None)
    );
    assert_eq!(auth.circuit(), Some(CircuitState::Closed));
    let stats = auth.stats();
    assert_eq!((stats.callback_errors, stats.circuit_opened, stats.callback_calls), (3, 1, 4));
}

#[tokio::test]
async fn service_down_opens_the_circuit_until_it_is_back() {
    // A port nobody listens on (for now).
    let addr = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let settings = with_callback(callback(addr));
    let clock = Clock::manual();
    let auth = Arc::new(Auth::with_clock(&settings, clock.clone()).unwrap());
    for _ in 0..3 {
        let v = decide(&auth, request(AuthAction::Play, "live", Some("x"))).await;
        assert_eq!(denied(&v).0, DenyKind::CallbackUnavailable);
    }
    assert_eq!(auth.circuit(), Some(CircuitState::Open));
    assert_eq!(auth.stats().callback_errors, 3);

    // Back up: still refused at once until the cooldown has passed, without a request.
    let (svc, _) = start_service(addr).await;
    let v = decide(&auth, request(AuthAction::Play, "live", Some("x"))).await;
    assert_eq!(denied(&v).0, DenyKind::CallbackUnavailable);
    assert!(svc.decisions().is_empty());
    assert_eq!(auth.stats().callback_calls, 3);
    clock.advance(COOLDOWN);
    assert_eq!(
        decide(&auth, request(AuthAction::Play, "live", Some("x"))).await,
        allowed("live", Some("x"))
    );
    assert_eq!(auth.circuit(), Some(CircuitState::Closed));
    assert_eq!(svc.decisions().len(), 1);

    // fail_open: the same outage allows.
    let mut open = settings.clone();
    if let Some(cb) = open.callback.as_mut() {
        cb.fail_open = true;
        cb.url = "http://127.0.0.1:9/auth".into();
    }
    auth.update(&open).unwrap();
    assert_eq!(auth.circuit(), Some(CircuitState::Closed), "a new URL starts closed");
    assert_eq!(
        decide(&auth, request(AuthAction::Play, "live", Some("x"))).await,
        allowed("live", Some("x"))
    );
}

#[tokio::test]
async fn notifications_are_signed_and_retried() {
    let (svc, addr) = start_service("127.0.0.1:0".parse().unwrap()).await;
    svc.notify_failures.store(1, Ordering::SeqCst);
    let settings = with_callback(callback(addr));
    let auth = Arc::new(Auth::new(&settings).unwrap());
    auth.notify(Notification::PublishDone {
        app: "live".into(),
        stream: "cam".into(),
        peer: PEER.parse().unwrap(),
        conn_id: 7,
        duration: Duration::from_secs(3),
        bytes_in: 1000,
    });
    // Waits for a background task; the bound only limits a failure.
    let deadline = Instant::now() + Duration::from_secs(30);
    while auth.stats().notifications_sent == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let notes = svc.requests("/notify");
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(notes[0], notes[1], "the same notification again");
    assert_eq!(notes[1]["event"], "publish_done");
    assert_eq!(notes[1]["stream"], "cam");
    assert_eq!(notes[1]["bytes_in"], 1000);
    assert!(svc.all_signed());
    let stats = auth.stats();
    assert_eq!((stats.notifications_sent, stats.notifications_failed), (1, 0));
}

#[tokio::test]
async fn notifications_give_up_and_are_bounded() {
    let (svc, addr) = start_service("127.0.0.1:0".parse().unwrap()).await;
    svc.notify_failures.store(u32::MAX, Ordering::SeqCst);
    let mut cb = callback(addr);
    cb.notify_attempts = 2;
    let settings = with_callback(cb);
    let auth = Arc::new(Auth::new(&settings).unwrap());
    let disconnect = |conn_id| Notification::Disconnect {
        app: None,
        peer: PEER.parse().unwrap(),
        conn_id,
        duration: Duration::ZERO,
        bytes_in: 0,
        bytes_out: 0,
        reason: "closed".into(),
    };
    // Fill the in-flight slots: the extra ones are dropped at once.
    let held = auth.notify_slots.clone().try_acquire_many_owned(notify::MAX_IN_FLIGHT as u32 - 1);
    auth.notify(disconnect(1));
    auth.notify(disconnect(2));
    auth.notify(disconnect(3));
    assert_eq!(auth.stats().notifications_dropped, 2);
    drop(held);
    // Waits for a background task; the bound only limits a failure.
    let deadline = Instant::now() + Duration::from_secs(30);
    while auth.stats().notifications_failed == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(svc.requests("/notify").len(), 2, "notify_attempts");
    assert_eq!(auth.stats().notifications_failed, 1);
}

#[tokio::test]
async fn settings_errors_and_reload() {
    let mut settings = with_callback(CallbackSettings::new("ftp://x/"));
    let err = Auth::new(&settings).unwrap_err();
    assert!(matches!(err, AuthError::BadUrl { what: "callback url", .. }), "{err}");
    let mut cb = CallbackSettings::new("http://127.0.0.1:1/auth");
    cb.notify_url = Some("nope".into());
    settings.callback = Some(cb);
    let err = Auth::new(&settings).unwrap_err();
    assert!(matches!(err, AuthError::BadUrl { what: "notify url", .. }), "{err}");
    let mut cb = CallbackSettings::new("https://127.0.0.1:1/auth");
    cb.tls.ca_files = vec!["/nonexistent/ca.pem".into()];
    settings.callback = Some(cb);
    let err = Auth::new(&settings).unwrap_err();
    assert!(matches!(err, AuthError::Tls(_)), "{err}");

    // A failed reload changes nothing; a good one applies new keys.
    let auth = Arc::new(Auth::new(&AuthSettings::default()).unwrap());
    assert!(auth.update(&settings).is_err());
    assert_eq!(auth.circuit(), None);
    let keyed =
        AuthSettings { publish_keys: vec![keys("*", "k", None)], ..AuthSettings::default() };
    auth.update(&keyed).unwrap();
    let v = decide(&auth, request(AuthAction::Publish, "live", Some("x"))).await;
    assert_eq!(denied(&v).0, DenyKind::BadKey);
}

#[test]
fn authorize_future_is_send_and_static() {
    fn check<F: Future<Output = Verdict> + Send + 'static>(_: F) {}
    let auth = Arc::new(Auth::new(&AuthSettings::default()).unwrap());
    check(auth.authorize(request(AuthAction::Connect, "live", None)));
}

#[tokio::test]
async fn https_goes_through_rustls() {
    // The service speaks plain HTTP: the TLS handshake fails, which is an unavailable
    // service (and proves the client was built with our rustls configuration).
    let (svc, addr) = start_service("127.0.0.1:0".parse().unwrap()).await;
    let mut cb = callback(addr);
    cb.url = format!("https://{addr}/auth");
    let auth = Arc::new(Auth::new(&with_callback(cb)).unwrap());
    let v = decide(&auth, request(AuthAction::Connect, "live", None)).await;
    assert_eq!(denied(&v).0, DenyKind::CallbackUnavailable);
    assert_eq!(auth.stats().callback_errors, 1);
    assert!(svc.decisions().is_empty());
}

#[test]
fn logs_never_show_a_key_used_as_stream_name() {
    let settings =
        AuthSettings { publish_keys: vec![keys("live", "k", None)], ..AuthSettings::default() };
    let policy = Policy::new(&settings, None).unwrap();
    let names = |action, app: &str, stream: &str| {
        loggable_names(&policy, &request(action, app, Some(stream)))
    };
    assert_eq!(names(AuthAction::Publish, "live", "s3cret"), ("live".into(), Some("<key>".into())));
    let with_query = names(AuthAction::Publish, "live?token=t", "cam?key=s3cret");
    assert_eq!(with_query, ("live".into(), Some("cam".into())));
    assert_eq!(names(AuthAction::Play, "live", "cam"), ("live".into(), Some("cam".into())));
    let long = names(AuthAction::Play, "live", &"x".repeat(300)).1.unwrap();
    assert_eq!(long, format!("{}...", "x".repeat(200)));
}
