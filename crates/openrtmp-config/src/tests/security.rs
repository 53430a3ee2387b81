//! `rtmps_listen`, `tls` and `auth`: loading, every validation message with its path, the
//! environment, dump round trips and redaction.

use std::time::Duration;

use openrtmp_server::auth::{
    AclRules, AppKeys, AuthAction, AuthSettings, CallbackSettings, ClientTls, Fingerprint,
    KeySecret, PlayTokenSettings, PublishKey,
};
use openrtmp_tls::{
    AcmeChallenge, AcmeSettings, CertSource, ClientAuthSettings, MinTlsVersion, ServerTlsSettings,
};

use super::*;

/// 64 hex digits of `byte`.
fn hex64(byte: u8) -> String {
    format!("{byte:02x}").repeat(32)
}

/// A certificate and a key file (the configuration only checks that they can be read).
fn cert_and_key() -> (PathBuf, PathBuf) {
    (file("cert.pem", "-----BEGIN CERTIFICATE-----\n"), file("key.pem", "-----BEGIN KEY-----\n"))
}

fn net(text: &str) -> openrtmp_server::auth::IpNet {
    text.parse().unwrap()
}

#[test]
fn full_example_loads() {
    let (cert, key) = cert_and_key();
    let ca = file("ca.pem", "-----BEGIN CERTIFICATE-----\n");
    let text = format!(
        r#"
listen: ["0.0.0.0:1935"]
rtmps_listen: ["0.0.0.0:1936", "[::]:1936"]
tls:
  cert: {cert}
  key: {key}
  min_version: 1.3
  reload_interval: 30s
  client_auth: {{ pinned: ["{pin}"], required: false }}
auth:
  publish_keys:
    live:
      - key: s3cret
        stream: alice
      - key_sha256: {hash}
    "*":
      - {{ key: fallback }}
  play_tokens: {{ secret: play-secret, apps: [vod] }}
  callback:
    url: https://auth.example.com/rtmp
    actions: [publish, play, publish]
    notify_url: https://auth.example.com/notify
    timeout: 1500ms
    fail_open: true
    breaker_failures: 3
    breaker_cooldown: 1m
    notify_attempts: 5
    signing_secret: sign-secret
    tls: {{ ca_files: [{ca}], pinned_keys: ["{pin}"], insecure: true }}
  acl:
    connect: {{ deny: ["10.0.0.0/8"] }}
    publish: {{ allow: ["127.0.0.1/32", "::1"] }}
  brute_force: {{ max_failures: 10, window: 5m }}
  names: {{ max_len: 64 }}
"#,
        cert = cert.display(),
        key = key.display(),
        ca = ca.display(),
        pin = vec!["ab"; 32].join(":"),
        hash = hex64(0xcd),
    );
    let c = check_file(&file("full.yaml", &text)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.rtmps_listen, ["0.0.0.0:1936".parse().unwrap(), "[::]:1936".parse().unwrap()]);
    assert_eq!(
        c.tls,
        Some(ServerTlsSettings {
            source: CertSource::Files { cert, key },
            min_version: MinTlsVersion::Tls13,
            client_auth: Some(ClientAuthSettings {
                pinned: vec![Fingerprint([0xab; 32])],
                required: false
            }),
            reload_interval: Duration::from_secs(30),
        })
    );
    let mut callback = CallbackSettings::new("https://auth.example.com/rtmp");
    callback.actions = vec![AuthAction::Publish, AuthAction::Play];
    callback.notify_url = Some("https://auth.example.com/notify".into());
    callback.timeout = Duration::from_millis(1500);
    callback.fail_open = true;
    callback.breaker_failures = 3;
    callback.breaker_cooldown = Duration::from_secs(60);
    callback.notify_attempts = 5;
    callback.signing_secret = Some("sign-secret".into());
    callback.tls = ClientTls {
        ca_files: vec![ca],
        pinned_keys: vec![Fingerprint([0xab; 32])],
        insecure: true,
    };
    let mut want = AuthSettings {
        publish_keys: vec![
            AppKeys {
                app: "*".into(),
                keys: vec![PublishKey {
                    secret: KeySecret::Plain("fallback".into()),
                    stream: None,
                }],
            },
            AppKeys {
                app: "live".into(),
                keys: vec![
                    PublishKey {
                        secret: KeySecret::Plain("s3cret".into()),
                        stream: Some("alice".into()),
                    },
                    PublishKey { secret: KeySecret::Sha256([0xcd; 32]), stream: None },
                ],
            },
        ],
        play_tokens: Some(PlayTokenSettings {
            secret: "play-secret".into(),
            apps: vec!["vod".into()],
        }),
        callback: Some(callback),
        ..AuthSettings::default()
    };
    want.acl.connect = AclRules { allow: vec![], deny: vec![net("10.0.0.0/8")] };
    want.acl.publish = AclRules { allow: vec![net("127.0.0.1/32"), net("::1/128")], deny: vec![] };
    want.brute_force.max_failures = 10;
    want.brute_force.window = Duration::from_secs(300);
    want.names.max_len = 64;
    assert_eq!(c.auth, want);
}

#[test]
fn tls_sources() {
    let (cert, key) = cert_and_key();
    let c =
        check_str("rtmps_listen: 127.0.0.1:0\ntls: { self_signed: true }\n", Format::Yaml).unwrap();
    assert_eq!(c.rtmps_listen, ["127.0.0.1:0".parse().unwrap()]);
    let tls = c.tls.unwrap();
    assert_eq!(tls.source, CertSource::SelfSigned { names: vec![] });
    assert_eq!(tls.min_version, MinTlsVersion::Tls12);
    assert_eq!(tls.reload_interval, openrtmp_tls::DEFAULT_RELOAD_INTERVAL);
    assert_eq!(tls.client_auth, None);

    let text = "tls:\n  acme:\n    domains: [live.example.com]\n    contact: [mailto:ops@example.com]\n    cache_dir: /var/lib/openrtmp/acme\n    challenge: http-01\n    renew_before: 20d\n    directory: https://localhost:14000/dir\n";
    let tls = check_str(text, Format::Yaml).unwrap().tls.unwrap();
    assert_eq!(
        tls.source,
        CertSource::Acme(AcmeSettings {
            directory: "https://localhost:14000/dir".into(),
            domains: vec!["live.example.com".into()],
            contact: vec!["mailto:ops@example.com".into()],
            cache_dir: "/var/lib/openrtmp/acme".into(),
            challenge: AcmeChallenge::Http01 { listen: "0.0.0.0:80".parse().unwrap() },
            renew_before: Duration::from_secs(20 * 86_400),
            check_interval: openrtmp_tls::DEFAULT_CHECK_INTERVAL,
            directory_ca: None,
        })
    );

    // `tls: null` (or an empty `tls:`) is no TLS.
    let text = format!("tls: {{ cert: {}, key: {} }}\n", cert.display(), key.display());
    let path = file("t.yaml", &text);
    assert!(check_file(&path).unwrap().tls.is_some());
    let vars = env(&[("OPENRTMP_TLS", "null")]);
    assert_eq!(load(Some(&path), &vars, &FileConfig::default()).unwrap().config.tls, None);
    assert_eq!(check_str("tls:\n", Format::Yaml).unwrap().tls, None);
}

#[test]
fn tls_problems_are_listed_with_their_paths() {
    let (cert, _) = cert_and_key();
    let cases: &[(&str, &[&str])] = &[
        (
            "rtmps_listen: [\"0.0.0.0:1936\"]\n",
            &["rtmps_listen: rtmps listeners need a certificate (tls.cert + tls.key, tls.self_signed or tls.acme)"],
        ),
        (
            "rtmps_listen: [\"0.0.0.0:1936\"]\ntls: { min_version: \"1.3\" }\n",
            &["tls: no certificate source: set cert and key, self_signed: true, or acme (tls: null for no TLS)"],
        ),
        (
            "tls: { cert: /nonexistent/cert.pem, key: /nonexistent/key.pem }\nrtmps_listen: 0.0.0.0:1935\n",
            &[
                "rtmps_listen[0]: 0.0.0.0:1935 is also in listen",
                "tls.cert: /nonexistent/cert.pem does not exist",
                "tls.key: /nonexistent/key.pem does not exist",
            ],
        ),
        (
            "tls: { cert: /tmp, key: /tmp, self_signed: true, acme: { domains: [a.example] } }\n",
            &["tls: choose one certificate source: cert + key, self_signed or acme (found cert + key and self_signed and acme)"],
        ),
        ("tls: { key: /tmp/key.pem }\n", &["tls.cert: is required with tls.key"]),
        (
            "tls: { self_signed: false, self_signed_names: [a], acme: { cache_dir: /tmp, contact: [ops@example.com], http01_listen: \"0.0.0.0:80\", directory: acme.example, renew_before: 0 } }\n",
            &[
                "tls.self_signed_names: only used with self_signed: true",
                "tls.acme.directory: \"acme.example\" is not an http:// or https:// URL",
                "tls.acme.domains: at least one domain is required",
                "tls.acme.contact[0]: \"ops@example.com\" must be a mailto: URI (mailto:ops@example.com)",
                "tls.acme.http01_listen: only used with challenge: http-01",
                "tls.acme.renew_before: 0s must be longer than zero",
            ],
        ),
        (
            "tls: { self_signed: true, acme: null, reload_interval: 0s, client_auth: {} }\n",
            &[
                "tls.reload_interval: 0s must be longer than zero",
                "tls.client_auth.pinned: at least one fingerprint is required (client_auth: null for no client certificates)",
            ],
        ),
        ("tls: { acme: { domains: [a.example] } }\n", &[
            "tls.acme.cache_dir: is required (where the account and the certificates are kept)",
        ]),
    ];
    for (text, want) in cases {
        assert_eq!(messages(check_str(text, Format::Yaml)), *want, "{text}");
    }

    // Reading errors carry their position; a refused value is not reported again as missing.
    let text = format!(
        "tls:\n  cert: {}\n  min_version: 1.1\n  client_auth:\n    pinned: [abcd]\n  acme: {{ chalenge: dns-01, cache_dir: 5 }}\n  bogus: 1\n",
        cert.display()
    );
    assert_eq!(
        messages(check_str(&text, Format::Yaml)),
        [
            "tls.min_version: \"1.1\" is not a TLS version (1.2 or 1.3) (line 3 column 16)",
            "tls.client_auth.pinned[0]: \"abcd\" is not a SHA-256 fingerprint (64 hex digits, colons allowed) (line 5 column 14)",
            "tls.acme.chalenge: unknown key (did you mean challenge?) (line 6 column 21)",
            "tls.acme.cache_dir: invalid type: integer `5`, expected path string (line 6 column 40)",
            "tls.bogus: unknown key (line 7 column 10)",
            "tls: choose one certificate source: cert + key, self_signed or acme (found cert + key and acme)",
        ]
    );
}

#[test]
fn auth_problems_are_listed_with_their_paths() {
    let text = format!(
        r#"auth:
  publish_keys:
    live:
      - key: ""
      - {{ key: a, key_sha256: {hash} }}
      - stream: bob
      - {{ key: b, stream: "" }}
    vod:
      - key_sha256: xyz
    tv: []
  play_tokens: {{ apps: [live, ""] }}
  callback:
    url: ftp://auth.example.com/check
    actions: [connect, record]
    notify_url: "http://"
    timeout: 0s
    breaker_failures: 0
    notify_attempts: 0
    signing_secret: <redacted>
    tls: {{ ca_files: [/nonexistent/ca.pem], pinned_keys: [nope] }}
  acl:
    publish: {{ allow: ["10.0.0.300/8", "10.0.0.0/8"], deny: 300.1.1.1 }}
    conect: {{}}
  brute_force: {{ window: 0s }}
  names: {{ max_len: 0 }}
"#,
        hash = hex64(0xa1)
    );
    assert_eq!(
        messages(check_str(&text, Format::Yaml)),
        [
            "auth.publish_keys.vod[0].key_sha256: \"xyz\" is not a SHA-256 hash (64 hex digits, as sha256sum prints them) (line 9 column 21)",
            "auth.callback.actions[1]: \"record\" is not a callback action (connect, publish or play) (line 14 column 24)",
            "auth.callback.tls.pinned_keys[0]: \"nope\" is not a SHA-256 fingerprint (64 hex digits, colons allowed) (line 20 column 59)",
            "auth.acl.publish.allow[0]: \"10.0.0.300/8\" is not an IP network (CIDR) (line 22 column 24)",
            "auth.acl.publish.deny: \"300.1.1.1\" is not an IP network (CIDR) (line 22 column 61)",
            "auth.acl.conect: unknown key (did you mean connect?) (line 23 column 13)",
            "auth.publish_keys.live[0].key: must not be empty",
            "auth.publish_keys.live[1]: key or key_sha256, not both",
            "auth.publish_keys.live[2].key: is required (or key_sha256)",
            "auth.publish_keys.live[3].stream: must not be empty (leave it out for any stream)",
            "auth.publish_keys.tv: at least one key is required (leave the app out to publish freely)",
            "auth.play_tokens.secret: is required (play_tokens: null for no play tokens)",
            "auth.play_tokens.apps[1]: must not be empty",
            "auth.callback.url: \"ftp://auth.example.com/check\" is not an http:// or https:// URL",
            "auth.callback.notify_url: \"http://\" has no host",
            "auth.callback.timeout: 0s must be longer than zero",
            "auth.callback.breaker_failures: 0 must be at least 1",
            "auth.callback.notify_attempts: 0 must be at least 1",
            "auth.callback.signing_secret: \"<redacted>\" is the placeholder written by config dump; set the real secret",
            "auth.callback.tls.ca_files[0]: /nonexistent/ca.pem does not exist",
            "auth.brute_force.window: 0s must be longer than zero",
            "auth.names.max_len: 0 must be at least 1",
        ]
    );
    let got = messages(check_str("auth: { callback: { timeout: 1s }, acl: 5 }\n", Format::Yaml));
    assert_eq!(
        got,
        [
            "auth.acl: expected a mapping of acl settings (line 1 column 41)",
            "auth.callback.url: is required (callback: null for no callback)",
        ]
    );
}

#[test]
fn env_covers_the_new_keys() {
    let (cert, key) = cert_and_key();
    let path = file(
        "e.yaml",
        "tls: { self_signed: true }\nauth:\n  play_tokens: { secret: file-secret }\n  callback: { url: \"http://127.0.0.1:1/a\", timeout: 1s }\n  publish_keys: { live: [{ key: k1 }] }\n",
    );
    let cert_text = cert.display().to_string();
    let key_text = key.display().to_string();
    let vars = env(&[
        ("OPENRTMP_RTMPS_LISTEN", "0.0.0.0:1936"),
        ("OPENRTMP_TLS__SELF_SIGNED", "false"),
        ("OPENRTMP_TLS__CERT", &cert_text),
        ("OPENRTMP_TLS__KEY", &key_text),
        ("OPENRTMP_TLS__MIN_VERSION", "1.3"),
        ("OPENRTMP_AUTH__CALLBACK__URL", "http://127.0.0.1:9000/auth"),
        ("OPENRTMP_AUTH__CALLBACK__ACTIONS", "publish"),
        ("OPENRTMP_AUTH__CALLBACK__SIGNING_SECRET", "12345"),
        ("OPENRTMP_AUTH__PLAY_TOKENS", "null"),
        ("OPENRTMP_AUTH__ACL__PUBLISH__ALLOW", r#"["127.0.0.1/32", "::1/128"]"#),
        ("OPENRTMP_AUTH__ACL__PLAY__DENY", "10.0.0.0/8"),
        ("OPENRTMP_AUTH__PUBLISH_KEYS__TV", r#"[{"key_sha256": "{hash}"}]"#),
        ("OPENRTMP_AUTH__BRUTE_FORCE__MAX_FAILURES", "0"),
    ]);
    let vars: Vec<(String, String)> =
        vars.into_iter().map(|(k, v)| (k, v.replace("{hash}", &hex64(2)))).collect();
    let c =
        load(Some(&path), &vars, &FileConfig::default()).unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(c.rtmps_listen, ["0.0.0.0:1936".parse().unwrap()]);
    let tls = c.tls.unwrap();
    assert_eq!(tls.source, CertSource::Files { cert, key });
    assert_eq!(tls.min_version, MinTlsVersion::Tls13);
    let cb = c.auth.callback.unwrap();
    assert_eq!(cb.url, "http://127.0.0.1:9000/auth");
    assert_eq!(cb.timeout, Duration::from_secs(1), "file value kept where env is silent");
    assert_eq!(cb.actions, [AuthAction::Publish]);
    assert_eq!(cb.signing_secret.as_deref(), Some("12345"), "numeric text stays a string");
    assert_eq!(c.auth.play_tokens, None);
    assert_eq!(c.auth.acl.publish.allow, [net("127.0.0.1/32"), net("::1/128")]);
    assert_eq!(c.auth.acl.play.deny, [net("10.0.0.0/8")]);
    let apps: Vec<&str> = c.auth.publish_keys.iter().map(|a| a.app.as_str()).collect();
    assert_eq!(apps, ["live", "tv"]);
    assert_eq!(c.auth.publish_keys[1].keys[0].secret, KeySecret::Sha256([2; 32]));
    assert_eq!(c.auth.brute_force.max_failures, 0);

    let vars = env(&[
        ("OPENRTMP_AUTH__ACL__PUBLISH__ALLOW", "10.0.0.300/8"),
        ("OPENRTMP_AUTH__CALLBACK__ACTIONS", r#"["play", "record"]"#),
        ("OPENRTMP_TLS__MIN_VERSION", "1.0"),
        ("OPENRTMP_TLS__SELF_SIGNED", "yes"),
        ("OPENRTMP_TLS__CRT", "/x"),
    ]);
    let got: Vec<String> = load(None, &vars, &FileConfig::default())
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        [
            "auth.acl.publish.allow: \"10.0.0.300/8\" is not an IP network (CIDR) (from OPENRTMP_AUTH__ACL__PUBLISH__ALLOW)",
            "auth.callback.actions[1]: \"record\" is not a callback action (connect, publish or play) (from OPENRTMP_AUTH__CALLBACK__ACTIONS)",
            "tls.min_version: \"1.0\" is not a TLS version (1.2 or 1.3) (from OPENRTMP_TLS__MIN_VERSION)",
            "tls.self_signed: invalid type: string \"yes\", expected a boolean (from OPENRTMP_TLS__SELF_SIGNED)",
            "tls: no certificate source: set cert and key, self_signed: true, or acme (tls: null for no TLS)",
            "auth.callback.url: is required (callback: null for no callback)",
        ]
    );
    // Issue 10: a name that is not a key is skipped with a warning, not refused.
    assert_eq!(
        env_warnings(&vars)[0].to_string(),
        "OPENRTMP_TLS__CRT: not a configuration key (tls.crt: unknown key; did you mean tls.cert?); ignored"
    );
}

/// Every secret is set, every source kind used across the configurations.
fn secret_configs() -> Vec<Config> {
    let (cert, key) = cert_and_key();
    let mut callback = CallbackSettings::new("http://127.0.0.1:9000/auth");
    callback.signing_secret = Some("sign-secret".into());
    callback.notify_url = Some("http://127.0.0.1:9000/notify".into());
    callback.tls.pinned_keys = vec![Fingerprint([7; 32])];
    let auth = AuthSettings {
        publish_keys: vec![AppKeys {
            app: "live".into(),
            keys: vec![
                PublishKey {
                    secret: KeySecret::Plain("key-secret".into()),
                    stream: Some("a".into()),
                },
                PublishKey { secret: KeySecret::Sha256([9; 32]), stream: None },
            ],
        }],
        play_tokens: Some(PlayTokenSettings { secret: "token-secret".into(), apps: vec![] }),
        callback: Some(callback),
        ..AuthSettings::default()
    };
    let tls = |source| ServerTlsSettings {
        source,
        min_version: MinTlsVersion::Tls13,
        client_auth: Some(ClientAuthSettings {
            pinned: vec![Fingerprint([5; 32])],
            required: true,
        }),
        reload_interval: Duration::from_secs(5),
    };
    let acme = AcmeSettings {
        directory: "https://acme.example/dir".into(),
        domains: vec!["live.example.com".into()],
        contact: vec!["mailto:ops@example.com".into()],
        cache_dir: "/var/lib/openrtmp/acme".into(),
        challenge: AcmeChallenge::Http01 { listen: "0.0.0.0:8080".parse().unwrap() },
        renew_before: Duration::from_secs(86_400),
        check_interval: Duration::from_secs(3600),
        directory_ca: Some(cert.clone()),
    };
    let base = Config {
        rtmps_listen: vec!["0.0.0.0:1936".parse().unwrap()],
        api_token: Some("api-secret".into()),
        auth,
        ..Config::default()
    };
    [
        CertSource::Files { cert, key },
        CertSource::SelfSigned { names: vec!["live.example.com".into()] },
        CertSource::Acme(acme),
    ]
    .into_iter()
    .map(|source| Config { tls: Some(tls(source)), ..base.clone() })
    .collect()
}

#[test]
fn dump_redacts_every_secret() {
    for c in secret_configs() {
        for format in [Format::Yaml, Format::Json] {
            let text = dump(&c, format);
            for secret in ["key-secret", "token-secret", "sign-secret", "api-secret"] {
                assert!(!text.contains(secret), "{secret} in\n{text}");
            }
            assert!(text.contains(&hex64(9)), "key_sha256 is not a secret:\n{text}");
            assert_eq!(
                messages(check_str(&text, format)),
                [
                    "api.token: \"<redacted>\" is the placeholder written by config dump; set the real token",
                    "auth.publish_keys.live[0].key: \"<redacted>\" is the placeholder written by config dump; set the real key",
                    "auth.play_tokens.secret: \"<redacted>\" is the placeholder written by config dump; set the real secret",
                    "auth.callback.signing_secret: \"<redacted>\" is the placeholder written by config dump; set the real secret",
                ],
                "{text}"
            );
        }
    }
    let yaml = dump(&secret_configs()[0], Format::Yaml);
    for line in
        ["      - key: <redacted>\n", "    secret: <redacted>\n", "  min_version: \"1.3\"\n"]
    {
        assert!(yaml.contains(line), "{line:?} in\n{yaml}");
    }
}

#[test]
fn dump_round_trips_tls_and_auth() {
    for c in secret_configs() {
        // In process, secrets included.
        let back = load(None, &[], &to_file_with_secrets(&c)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.config.tls, c.tls);
        assert_eq!(back.config.auth, c.auth);
        assert_eq!(back.config.rtmps_listen, c.rtmps_listen);
        // Through the text, once the secrets are not in it.
        let mut c = c;
        c.api_token = None;
        c.auth.publish_keys[0].keys.remove(0);
        c.auth.play_tokens = None;
        if let Some(cb) = &mut c.auth.callback {
            cb.signing_secret = None;
        }
        for (format, name) in [(Format::Yaml, "d.yaml"), (Format::Json, "d.json")] {
            let text = dump(&c, format);
            let back = check_file(&file(name, &text)).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(back.tls, c.tls, "{text}");
            assert_eq!(back.auth, c.auth, "{text}");
            assert_eq!(format!("{back:?}"), format!("{c:?}"), "{text}");
            assert_eq!(dump(&back, format), text);
        }
    }
}

#[test]
fn defaults_dump_tls_and_auth_as_off() {
    let yaml = dump(&Config::default(), Format::Yaml);
    for line in ["tls: null\n", "  play_tokens: null\n", "  callback: null\n", "    max_len: 128\n"]
    {
        assert!(yaml.contains(line), "{line:?} in\n{yaml}");
    }
    let c = check_str(&yaml, Format::Yaml).unwrap();
    assert_eq!(c.tls, None);
    assert_eq!(c.auth, AuthSettings::default());
}

#[test]
fn the_shipped_example_loads_with_tls_and_auth_off() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/openrtmp.example.yaml");
    let c = check_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.tls, None);
    assert_eq!(c.rtmps_listen, []);
    assert_eq!(c.auth, AuthSettings::default());
}
