//! `relay.push`: parsing, defaults, `{app}`/`{stream}` substitution, the stream key kept
//! out of dumps, and problems reported with their paths.

use openrtmp_hub::StreamKey;
use openrtmp_server::relay::{PushRule, ANY};

use super::*;

#[test]
fn relay_push_loads_with_defaults_and_substitutes_app_and_stream() {
    let text = r#"
relay:
  push:
    - { app: live, stream: "*", url: "rtmp://backup.example/{app}/{stream}" }
    - { stream: cam1, url: "rtmps://live.example:443/app/sk_live_secret" }
"#;
    let c = check_str(text, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.relay.push,
        [
            PushRule {
                app: "live".into(),
                stream: ANY.into(),
                url: "rtmp://backup.example/{app}/{stream}".into()
            },
            PushRule {
                app: ANY.into(),
                stream: "cam1".into(),
                url: "rtmps://live.example:443/app/sk_live_secret".into()
            },
        ]
    );
    let key = StreamKey::new("live", "cam7");
    assert!(c.relay.push[0].matches(&key));
    assert_eq!(c.relay.push[0].url_for(&key), "rtmp://backup.example/live/cam7");
    assert!(!c.relay.push[1].matches(&key));
    assert!(c.relay.push[1].matches(&StreamKey::new("other", "cam1")));
}

#[test]
fn relay_push_keys_stay_out_of_dumps() {
    let text = r#"{"relay": {"push": [{"url": "rtmp://h/app/sk_live_secret"}]}}"#;
    let c = check_str(text, Format::Json).unwrap_or_else(|e| panic!("{e}"));
    let yaml = dump(&c, Format::Yaml);
    assert!(!yaml.contains("sk_live_secret"), "{yaml}");
    assert!(yaml.contains("rtmp://h/app/<redacted>"), "{yaml}");
    assert_eq!(
        messages(check_str(&yaml, Format::Yaml)),
        ["relay.push[0].url: \"<redacted>\" is the placeholder written by config dump; set the real stream key"]
    );
}

#[test]
fn relay_push_problems_name_their_entry() {
    let text = r#"
relay:
  push:
    - { app: live }
    - { url: "http://h/app/k" }
    - { url: "rtmp:///app/k" }
    - { app: "", url: "rtmp://h/app/k" }
    - { url: "rtmp://h" }
"#;
    assert_eq!(
        messages(check_str(text, Format::Yaml)),
        [
            "relay.push[0].url: is required (rtmp://host/app/key or rtmps://...)",
            "relay.push[1].url: \"http://h/app/****\" is not an rtmp:// or rtmps:// URL",
            "relay.push[2].url: \"rtmp:///app/****\" has no host",
            "relay.push[3].app: \"\" is not a name (\"*\" for every one)",
            "relay.push[4].url: \"rtmp://h\" has no application (rtmp://host/app/key)",
        ]
    );
}

#[test]
fn relay_pull_loads_with_defaults_and_substitutes_origins() {
    use openrtmp_server::relay::{OriginSelect, PullMode, PullRule, RelaySettings};
    let defaults = check_str("{}", Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(defaults.relay, RelaySettings::default());
    assert_eq!(defaults.relay.pull_linger, std::time::Duration::from_secs(10));
    assert_eq!(defaults.relay.max_hops, 4);
    let text = r#"
relay:
  pull_linger: 3s
  max_hops: 2
  pull:
    - { app: live, origins: ["rtmp://o1/{app}/{stream}", "rtmps://o2:443/{app}/{stream}"] }
    - { app: tv, stream: news, origins: ["rtmp://o3/tv/news"], mode: always, select: hash }
"#;
    let c = check_str(text, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.relay.pull_linger, std::time::Duration::from_secs(3));
    assert_eq!(c.relay.max_hops, 2);
    assert_eq!(
        c.relay.pull,
        [
            PullRule {
                app: "live".into(),
                stream: ANY.into(),
                origins: vec![
                    "rtmp://o1/{app}/{stream}".into(),
                    "rtmps://o2:443/{app}/{stream}".into()
                ],
                mode: PullMode::OnDemand,
                select: OriginSelect::Order,
            },
            PullRule {
                app: "tv".into(),
                stream: "news".into(),
                origins: vec!["rtmp://o3/tv/news".into()],
                mode: PullMode::Always,
                select: OriginSelect::Hash,
            },
        ]
    );
    let key = StreamKey::new("live", "cam7");
    assert!(c.relay.pull[0].matches(&key));
    assert_eq!(
        c.relay.pull[0].origins_for(&key),
        ["rtmp://o1/live/cam7", "rtmps://o2:443/live/cam7"]
    );
    let yaml = dump(&c, Format::Yaml);
    for want in ["pull_linger: 3s", "max_hops: 2", "mode: always", "select: hash"] {
        assert!(yaml.contains(want), "{want} not in {yaml}");
    }
}

#[test]
fn relay_pull_problems_name_their_entry() {
    let text = r#"
relay:
  max_hops: 0
  pull:
    - { stream: cam, origins: ["rtmp://o/live/cam"] }
    - { app: live }
    - { app: live, origins: ["http://o/live/x"] }
    - { app: live, stream: "*", origins: ["rtmp://o/live/{stream}"], mode: always }
    - { app: "*", origins: ["rtmp://o/live/{stream}"] }
"#;
    let got = messages(check_str(text, Format::Yaml));
    let want = [
        "relay.max_hops: 0 must be at least 1",
        "relay.pull[0].app: is required (the application whose streams are pulled)",
        "relay.pull[1].origins: is required (at least one rtmp://host/app/{stream} URL)",
        "relay.pull[2].origins[0]: \"http://o/live/****\" is not an rtmp:// or rtmps:// URL",
        "relay.pull[3].mode: always needs a concrete stream name (with stream \"*\" there is nothing to start; use on_demand)",
        "relay.pull[4].app: \"*\" is not a name",
    ];
    for w in want {
        assert!(got.iter().any(|g| g == w), "missing {w:?} in {got:#?}");
    }
    let text = r#"{"relay": {"pull": [{"app": "live", "origins": ["rtmp://o/l/x"], "mode": "sometimes"}]}}"#;
    let got = messages(check_str(text, Format::Json));
    assert!(got.iter().any(|g| g.contains("on_demand or always")), "{got:#?}");
}

#[test]
fn relay_pull_origin_keys_stay_out_of_dumps() {
    let text = r#"{"relay": {"pull": [{"app": "live", "origins": ["rtmp://o/live/secret_key"]}]}}"#;
    let c = check_str(text, Format::Json).unwrap_or_else(|e| panic!("{e}"));
    let yaml = dump(&c, Format::Yaml);
    assert!(!yaml.contains("secret_key"), "{yaml}");
    assert!(messages(check_str(&yaml, Format::Yaml))
        .iter()
        .any(|m| m.starts_with("relay.pull[0].origins[0]: \"<redacted>\" is the placeholder")));
}

#[test]
fn relay_tls_loads_and_dumps() {
    let dir = std::env::temp_dir().join(format!("openrtmp-relay-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, "not checked here").unwrap();
    let pin = "ab".repeat(32);
    let text = format!(
        "relay:\n  tls:\n    ca_files: [{ca:?}]\n    pinned_keys: [\"{pin}\"]\n    insecure: true\n"
    );
    let c = check_str(&text, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.relay.tls.ca_files, [ca]);
    assert_eq!(c.relay.tls.pinned_keys.len(), 1);
    assert!(c.relay.tls.insecure);
    let yaml = dump(&c, Format::Yaml);
    let again = check_str(&yaml, Format::Yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(again.relay.tls, c.relay.tls);

    let missing = "relay:\n  tls:\n    ca_files: [/nonexistent/ca.pem]\n";
    let problems = messages(check_str(missing, Format::Yaml));
    assert!(problems.iter().any(|m| m.starts_with("relay.tls.ca_files[0]")), "{problems:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
