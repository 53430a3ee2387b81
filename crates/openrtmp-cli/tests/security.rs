//! The binary over RTMPS with authorisation: `openrtmp cert dev` makes a certificate,
//! `openrtmp serve --rtmps-listen --tls-cert --tls-key` serves it beside RTMP with publish
//! keys and play tokens from the environment, and the client tools publish, play and probe
//! over `rtmps://` trusting by CA file or by key pin. Wrong keys, missing tokens and an
//! untrusted certificate fail with clear messages.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{ChildGuard, TempDir};

fn openrtmp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_openrtmp"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run openrtmp")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Starts `serve` with `args` and `env`; returns it and the RTMPS port it logged.
fn serve(args: &[&str], env: &[(&str, &str)]) -> (ChildGuard, u16) {
    let mut cmd = openrtmp();
    cmd.arg("serve").args(args).stderr(Stdio::piped()).stdout(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut server = ChildGuard(cmd.spawn().expect("spawn serve"));
    let log = server.0.stderr.take().expect("stderr");
    let mut lines = BufReader::new(log).lines();
    let mut seen = String::new();
    let port = loop {
        let Some(Ok(line)) = lines.next() else {
            let status = server.0.wait();
            panic!("serve exited early ({status:?}); it logged:\n{seen}");
        };
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.split("listening (rtmps://").nth(1) {
            let addr = rest.split('/').next().unwrap_or_default();
            break addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (server, port)
}

#[test]
fn cert_dev_serve_rtmps_with_keys_and_tokens_and_the_client_tools() {
    let Some(ffmpeg) = support::ffmpeg() else { return };
    let dir = TempDir::new("cli-rtmps");
    let input = dir.path("in.flv");
    support::make_h264_aac_flv(&ffmpeg, &input, 3);

    // A development certificate, and the pin it prints.
    let certs = dir.path("certs");
    let out = run(openrtmp().args(["cert", "dev", "--out"]).arg(&certs));
    assert!(out.status.success(), "cert dev: {}", text(&out));
    let printed = text(&out);
    let pin = printed
        .lines()
        .find_map(|l| l.strip_prefix("key pin (--tls-pin): "))
        .expect("cert dev prints the key pin")
        .to_owned();
    let (cert, key) = (certs.join("cert.pem"), certs.join("key.pem"));
    assert!(cert.exists() && key.exists(), "{printed}");

    let port = support::free_port();
    let rtmps_listen = format!("127.0.0.1:{port}");
    let (_server, port) = serve(
        &[
            "--listen",
            "127.0.0.1:0",
            "--no-api",
            "--rtmps-listen",
            &rtmps_listen,
            "--tls-cert",
            cert.to_str().expect("path"),
            "--tls-key",
            key.to_str().expect("path"),
        ],
        &[
            ("OPENRTMP_AUTH__PUBLISH_KEYS__LIVE", r#"[{"key": "s3cret", "stream": "cam"}]"#),
            ("OPENRTMP_AUTH__PLAY_TOKENS", r#"{"secret": "token-secret"}"#),
        ],
    );
    let url = |path: &str| format!("rtmps://localhost:{port}/live/{path}");
    let ca = cert.to_str().expect("path");

    // Untrusted certificate: a clear TLS error.
    let out = run(openrtmp().args(["probe", &url("cam"), "--duration", "0.5"]));
    assert!(!out.status.success());
    assert!(text(&out).contains("TLS handshake"), "{}", text(&out));

    // A play token from `openrtmp token`.
    let out = run(openrtmp().args([
        "token",
        "--secret",
        "token-secret",
        "--app",
        "live",
        "--stream",
        "cam",
        "--ttl",
        "60",
    ]));
    assert!(out.status.success(), "token: {}", text(&out));
    let query = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(query.starts_with("expires=") && query.contains("&token="), "{query}");

    // Without a token, play is refused.
    let out = run(openrtmp().args(["play", &url("cam"), "--tls-ca", ca, "--duration", "1"]));
    assert!(!out.status.success(), "play without a token must fail");
    assert!(text(&out).contains("NetStream.Play.Failed"), "{}", text(&out));

    // A player with the token (trusting the CA file) waits for the publisher.
    let out_flv = dir.path("out.flv");
    let mut player = ChildGuard(
        openrtmp()
            .args(["play", &url(&format!("cam?{query}")), "--tls-ca", ca, "-o"])
            .arg(&out_flv)
            .args(["--duration", "20"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn play"),
    );
    std::thread::sleep(Duration::from_millis(500));

    // A wrong key is refused (and publishes nothing); the key as the stream name publishes
    // as "cam". Trust by pin.
    let wrong = run(openrtmp().arg("publish").arg(&input).arg(url("cam?key=wrong")).args([
        "--tls-pin",
        &pin,
        "--fast",
    ]));
    assert!(!wrong.status.success(), "a wrong key must be refused");
    assert!(text(&wrong).contains("NetStream.Publish.BadName"), "{}", text(&wrong));
    let good =
        run(openrtmp().arg("publish").arg(&input).arg(url("s3cret")).args(["--tls-pin", &pin]));
    assert!(good.status.success(), "publish with the key: {}", text(&good));

    let status = player.wait_timeout(Duration::from_secs(10)).expect("player ends with the stream");
    assert!(status.success(), "player failed");
    let sent = support::read_tags(&input);
    let got = support::read_tags(&out_flv);
    support::assert_same_frames(&sent, &got, "rtmps player with a token");
}
