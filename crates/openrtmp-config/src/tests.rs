use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::unit::HumanDuration;

mod cluster;
mod proxy;
mod record;
mod relay;
mod security;
mod webrtc;

/// Writes `text` to a fresh temporary file named `name` (its extension picks the format).
fn file(name: &str, text: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "openrtmp-config-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn messages(result: Result<Config, ConfigErrors>) -> Vec<String> {
    result.unwrap_err().0.iter().map(ToString::to_string).collect()
}

const EXAMPLE: &str = r#"
listen: ["0.0.0.0:1935", "[::]:1936"]
rtmp: { chunk_size: 4096, handshake_timeout: 10s, connect_timeout: 10s, window_ack_size: 2500000 }
limits: { max_connections: 10000, max_connections_per_ip: 1000, memory_budget: 1GiB, reassembly_budget: 4MiB }
streams: { gop_cache: 2s, gop_max_bytes: 32MiB, gop_max_frames: 4096, viewer_max_lag: 5s, viewer_max_bytes: 32MiB,
           viewer_disconnect_after: 30s, wait_for_publisher: true, replace_publisher: false, low_latency: false,
           publisher_timeout: 5s, unpublished_wait: 30s, publisher_grace: 4s, write_timeout: 10s, audio_batch: 40ms }
api: { listen: "127.0.0.1:8080", token: "secret", stat_public: true }   # listen: null disables
log: { level: info, format: json, file: /tmp/openrtmp.log, rotate_size: 100MiB, rotate_daily: true, keep: 7, stderr: true }
shutdown: { grace: 45s }
"#;

#[test]
fn example_file_loads() {
    let c = check_file(&file("openrtmp.yaml", EXAMPLE)).unwrap();
    assert_eq!(c.listen.len(), 2);
    assert_eq!(c.memory_budget, 1 << 30);
    assert_eq!(c.hub.audio_batch_ms, 40);
    assert_eq!(c.hub.gop_max_bytes, 32 << 20);
    assert_eq!(c.api_token.as_deref(), Some("secret"));
    assert!(c.api_stat_public);
    assert!(!Config::default().api_stat_public, "/stat takes the token by default");
    assert!(c.log.json);
    assert_eq!(c.log.rotate_size_bytes, Some(100 << 20));
    assert_eq!(c.log.file, Some(PathBuf::from("/tmp/openrtmp.log")));
    assert_eq!(c.shutdown_grace, Duration::from_secs(45));
    assert_eq!(c.publisher_grace, Duration::from_secs(4));
}

#[test]
fn publisher_grace_defaults_disables_and_comes_from_the_environment() {
    let c = load(None, &[], &FileConfig::default()).unwrap().config;
    assert_eq!(c.publisher_grace, openrtmp_server::DEFAULT_PUBLISHER_GRACE);
    let c = check_str("streams: { publisher_grace: 0s }", Format::Yaml).unwrap();
    assert_eq!(c.publisher_grace, Duration::ZERO, "0s disables the grace");
    let vars = env(&[("OPENRTMP_STREAMS__PUBLISHER_GRACE", "1500ms")]);
    let c = load(None, &vars, &FileConfig::default()).unwrap().config;
    assert_eq!(c.publisher_grace, Duration::from_millis(1500));
    // The dump carries it and reads back.
    let text = dump(&c, Format::Yaml);
    assert!(text.contains("publisher_grace"), "{text}");
    assert_eq!(
        check_str(&text, Format::Yaml).unwrap().publisher_grace,
        Duration::from_millis(1500)
    );
}

#[test]
fn empty_file_is_the_defaults() {
    let c = check_file(&file("empty.yaml", "")).unwrap();
    assert_eq!(dump(&c, Format::Yaml), dump(&Config::default(), Format::Yaml));
    let c = check_file(&file("empty.json", "{}")).unwrap();
    assert_eq!(dump(&c, Format::Json), dump(&Config::default(), Format::Json));
}

#[test]
fn every_problem_is_listed_with_its_path() {
    let text = "\
listen: [\"0.0.0.0:1935\", \"0.0.0.0:65536\"]
rtmp:
  chunk_size: 64
streams:
  gop_cach: 2s
  write_timeout: soon
limits: { max_connections: 0 }
log: { format: xml, file: /nope/openrtmp.log, level: loud }
api: { token: \"\" }
bogus: 1
";
    let got = messages(check_file(&file("bad.yaml", text)));
    let want = [
        "listen[1]: \"0.0.0.0:65536\" is not a valid address: port 65536 is out of range (line 1 column 26)",
        "streams.gop_cach: unknown key (did you mean gop_cache?) (line 5 column 13)",
        "streams.write_timeout: \"soon\" is not a duration (expected e.g. \"10s\", \"500ms\", \"2m\", or seconds) (line 6 column 18)",
        "bogus: unknown key (line 10 column 8)",
        "rtmp.chunk_size: 64 is out of range 128..=65536",
        "limits.max_connections: 0 must be at least 1",
        "api.token: must not be empty (use null for no token)",
        "log.level: \"loud\" is not a level (trace, debug, info, warn, error, off) or a filter such as \"info,openrtmp_server=debug\"",
        "log.format: \"xml\" must be text or json",
        "log.file: directory /nope does not exist",
    ];
    assert_eq!(got, want);
}

#[test]
fn type_errors_carry_yaml_positions() {
    let got =
        messages(check_file(&file("t.yaml", "rtmp:\n  chunk_size: big\n  window_ack_size: -1\n")));
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].starts_with("rtmp.chunk_size: invalid type: string \"big\", expected u32"),
        "{got:?}"
    );
    assert!(got[0].ends_with("(line 2 column 15)"), "{got:?}");
    assert!(got[1].starts_with("rtmp.window_ack_size: invalid value: integer `-1`"), "{got:?}");
}

#[test]
fn syntax_errors_carry_positions() {
    let got = messages(check_file(&file("s.yaml", "rtmp:\n  chunk_size: [1\n")));
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("line "), "{got:?}");
    let got = messages(check_file(&file("s.json", "{\"rtmp\": }")));
    assert!(got[0].contains("line 1 column 10"), "{got:?}");
}

#[test]
fn json_files_are_checked_like_yaml() {
    let text =
        r#"{"streams": {"gop_cache": "3s", "nope": 1}, "limits": {"memory_budget": "2GiB"}}"#;
    let got = messages(check_file(&file("c.json", text)));
    assert_eq!(got, ["streams.nope: unknown key"]);
    let c = check_file(&file("c.json", r#"{"streams": {"gop_cache": 3}}"#)).unwrap();
    assert_eq!(c.hub.gop_cache_ms, 3000);
}

#[test]
fn section_of_the_wrong_type() {
    let got = messages(check_file(&file("w.yaml", "rtmp: 5\nlog: null\n")));
    assert_eq!(got, ["rtmp: expected a mapping of rtmp settings (line 1 column 7)"]);
}

#[test]
fn null_switches_features_off() {
    let c =
        check_file(&file("n.yaml", "api: { listen: null }\nlog: { rotate_size: ~ }\n")).unwrap();
    assert_eq!(c.api_listen, None);
    assert_eq!(c.log.rotate_size_bytes, None);
    let c = check_file(&file("n.yaml", "api: {}\n")).unwrap();
    assert_eq!(c.api_listen, Config::default().api_listen);
}

#[test]
fn env_overrides_file_and_flags_override_env() {
    let path = file(
        "f.yaml",
        "streams: { gop_cache: 1s, audio_batch: 10ms }\nrtmp: { chunk_size: 1000 }\n",
    );
    let vars = env(&[
        ("OPENRTMP_STREAMS__GOP_CACHE", "3s"),
        ("OPENRTMP_RTMP__CHUNK_SIZE", "2000"),
        ("OPENRTMP_LISTEN", r#"["127.0.0.1:1935","127.0.0.1:1936"]"#),
        ("OPENRTMP_API__TOKEN", "12345"),
        ("OPENRTMP_API__LISTEN", "null"),
        ("OPENRTMP_STREAMS__LOW_LATENCY", "true"),
        ("OPENRTMP_CONFIG", "/elsewhere.yaml"),
        ("HOME", "/root"),
    ]);
    let loaded = load(Some(&path), &vars, &FileConfig::default()).unwrap();
    let c = &loaded.config;
    assert_eq!(c.hub.gop_cache_ms, 3000);
    assert_eq!(c.hub.audio_batch_ms, 10, "file value kept where env is silent");
    assert_eq!(c.chunk_size, 2000);
    assert_eq!(c.listen.len(), 2);
    assert_eq!(c.api_token.as_deref(), Some("12345"), "numeric text stays a string token");
    assert_eq!(c.api_listen, None);
    assert!(c.low_latency);
    assert_eq!(loaded.sources[0], "defaults");
    assert!(loaded.sources[1].starts_with("file "));
    assert!(loaded.sources.contains(&"env OPENRTMP_STREAMS__GOP_CACHE".to_string()));

    let mut flags = FileConfig::default();
    flags.streams.gop_cache = Some(HumanDuration(Duration::from_secs(5)));
    flags.rtmp.chunk_size = Some(4096);
    let loaded = load(Some(&path), &vars, &flags).unwrap();
    assert_eq!(loaded.config.hub.gop_cache_ms, 5000);
    assert_eq!(loaded.config.chunk_size, 4096);
    assert_eq!(loaded.sources.last().map(String::as_str), Some("flags"));
}

#[test]
fn env_single_listen_and_whole_sections() {
    let vars = env(&[
        ("OPENRTMP_LISTEN", "0.0.0.0:1940"),
        ("OPENRTMP_STREAMS", r#"{"gop_cache": "4s", "gop_max_frames": 10}"#),
        ("OPENRTMP_STREAMS__GOP_MAX_FRAMES", "20"),
    ]);
    let c = load(None, &vars, &FileConfig::default()).unwrap().config;
    assert_eq!(c.listen, ["0.0.0.0:1940".parse().unwrap()]);
    assert_eq!(c.hub.gop_cache_ms, 4000);
    assert_eq!(c.hub.gop_max_frames, 20);
}

#[test]
fn env_problems_name_the_variable() {
    let vars = env(&[
        ("OPENRTMP_STREAMS__NOPE", "1"),
        ("OPENRTMP_STREAMS__GOP_CACH", "1s"),
        ("OPENRTMP_RTMP__CHUNK_SIZE", "abc"),
        ("OPENRTMP_LIMITS__MEMORY_BUDGET", "lots"),
        ("OPENRTMP_NOPE", "x"),
        ("OPENRTMP_LISTEN", "0.0.0.0:99999"),
        ("OPENRTMP_STREAMS", r#"{"gop_cach": "1s"}"#),
    ]);
    let got: Vec<String> = load(None, &vars, &FileConfig::default())
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    // A known key with a bad value stays an error (a section's JSON included); names that are
    // not keys are warnings (`env_names_that_are_not_keys_are_skipped_with_a_warning`).
    assert_eq!(
        got,
        [
            "limits.memory_budget: \"lots\" is not a size (expected e.g. \"32MiB\", \"4KiB\", or bytes) (from OPENRTMP_LIMITS__MEMORY_BUDGET)",
            "listen: \"0.0.0.0:99999\" is not a valid address: port 99999 is out of range (from OPENRTMP_LISTEN)",
            "rtmp.chunk_size: invalid type: string \"abc\", expected u32 (from OPENRTMP_RTMP__CHUNK_SIZE)",
            "streams.gop_cach: unknown key (did you mean gop_cache?) (from OPENRTMP_STREAMS)",
        ]
    );
    let warned: Vec<String> = env_warnings(&vars).iter().map(ToString::to_string).collect();
    assert_eq!(
        warned,
        [
            "OPENRTMP_NOPE: not a configuration key (nope: unknown key); ignored",
            "OPENRTMP_STREAMS__GOP_CACH: not a configuration key (streams.gop_cach: unknown key; did you mean streams.gop_cache?); ignored",
            "OPENRTMP_STREAMS__NOPE: not a configuration key (streams.nope: unknown key); ignored",
        ]
    );
}

/// Regression (issue 10): Kubernetes injects these for a Service named `openrtmp` into every
/// pod; the server refused to start (`port: unknown key (from OPENRTMP_PORT)`).
#[test]
fn env_names_that_are_not_keys_are_skipped_with_a_warning() {
    let vars = env(&[
        ("OPENRTMP_SERVICE_HOST", "10.96.0.12"),
        ("OPENRTMP_SERVICE_PORT", "1935"),
        ("OPENRTMP_PORT", "tcp://10.96.0.12:1935"),
        ("OPENRTMP_PORT_1935_TCP", "tcp://10.96.0.12:1935"),
        ("OPENRTMP_PORT_1935_TCP_PROTO", "tcp"),
        ("OPENRTMP_PORT_1935_TCP_PORT", "1935"),
        ("OPENRTMP_PORT_1935_TCP_ADDR", "10.96.0.12"),
        ("OPENRTMP_STREAMS__GOP_CACHE", "3s"),
        ("OPENRTMP_AUTH__PUBLISH_KEYS__LIVE", r#"[{"key": "k1"}]"#),
        ("OPENRTMP_RTMP__CHUNK_SIZE__X", "1"),
        ("OPENRTMP_AUTH__PUBLISH_KEYS__LIVE__KEY", "k2"),
        ("OPENRTMP_CONFIG", "/etc/openrtmp.yaml"),
        ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
    ]);
    let loaded = load(None, &vars, &FileConfig::default()).unwrap();
    assert_eq!(loaded.config.hub.gop_cache_ms, 3000, "real keys still apply");
    let names: Vec<&str> = loaded.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        names,
        [
            "OPENRTMP_AUTH__PUBLISH_KEYS__LIVE__KEY",
            "OPENRTMP_PORT",
            "OPENRTMP_PORT_1935_TCP",
            "OPENRTMP_PORT_1935_TCP_ADDR",
            "OPENRTMP_PORT_1935_TCP_PORT",
            "OPENRTMP_PORT_1935_TCP_PROTO",
            "OPENRTMP_RTMP__CHUNK_SIZE__X",
            "OPENRTMP_SERVICE_HOST",
            "OPENRTMP_SERVICE_PORT",
        ],
        "one warning per variable, OPENRTMP_CONFIG and other prefixes silent"
    );
    let text: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(text[1], "OPENRTMP_PORT: not a configuration key (port: unknown key); ignored");
    assert_eq!(
        text[6],
        "OPENRTMP_RTMP__CHUNK_SIZE__X: not a configuration key (rtmp.chunk_size has no key x); ignored"
    );
    for warning in &loaded.warnings {
        assert!(!warning.message.contains("10.96.0.12"), "values stay out: {warning}");
    }
    assert!(!loaded.sources.iter().any(|s| s.contains("OPENRTMP_PORT")), "{:?}", loaded.sources);
    assert_eq!(env_warnings(&vars), loaded.warnings);
}

#[test]
fn range_errors_from_flags_and_env() {
    let mut flags = FileConfig::default();
    flags.rtmp.chunk_size = Some(70_000);
    let vars = env(&[("OPENRTMP_LIMITS__REASSEMBLY_BUDGET", "2GiB"), ("OPENRTMP_LISTEN", "[]")]);
    let got: Vec<String> =
        load(None, &vars, &flags).unwrap_err().0.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            "rtmp.chunk_size: 70000 is out of range 128..=65536",
            "limits.reassembly_budget: 2GiB must not exceed limits.memory_budget (1GiB)",
            "listen: at least one address is required",
        ]
    );
}

#[test]
fn millisecond_fields() {
    let got = messages(check_file(&file(
        "m.yaml",
        "streams: { audio_batch: 1500us, gop_cache: 3000h }\n",
    )));
    assert_eq!(
        got,
        [
            "streams.gop_cache: 10800000s is too long (at most 4294967295ms)",
            "streams.audio_batch: 1.5ms must be a whole number of milliseconds",
        ]
    );
}

#[test]
fn dump_round_trips_in_both_formats() {
    let mut c = check_file(&file("r.yaml", EXAMPLE)).unwrap();
    c.api_token = None;
    c.api_listen = None;
    c.handshake_timeout = Duration::from_millis(1500);
    c.network_policy = openrtmp_server::platform::NetworkPolicy::CellularOnly;
    c.cellular_warning_bytes = Some(500 << 20);
    c.watch_network = !c.watch_network;
    c.background_notice = Duration::from_millis(2500);
    c.mdns = true;
    c.mdns_name = Some("Studio B".into());
    for (format, name) in [(Format::Yaml, "d.yaml"), (Format::Json, "d.json")] {
        let text = dump(&c, format);
        let back = check_file(&file(name, &text)).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(format!("{back:?}"), format!("{c:?}"), "{text}");
        assert_eq!(dump(&back, format), text);
    }
}

#[test]
fn dump_redacts_the_token() {
    let c = Config { api_token: Some("hunter2".into()), ..Config::default() };
    let yaml = dump(&c, Format::Yaml);
    let json = dump(&c, Format::Json);
    for text in [&yaml, &json] {
        assert!(!text.contains("hunter2"));
        assert!(text.contains(REDACTED));
    }
    assert!(yaml.contains("token: <redacted>") || yaml.contains("token: \"<redacted>\""), "{yaml}");
    let got = messages(check_str(&yaml, Format::Yaml));
    assert_eq!(
        got,
        ["api.token: \"<redacted>\" is the placeholder written by config dump; set the real token"]
    );
}

#[test]
fn dump_uses_human_units() {
    let c = check_file(&file("p.yaml", EXAMPLE)).unwrap();
    let yaml = dump(&c, Format::Yaml);
    for line in [
        "  memory_budget: 1GiB\n",
        "  audio_batch: 40ms\n",
        "  token: <redacted>\n",
        "  grace: 45s\n",
    ] {
        assert!(yaml.contains(line), "{line:?} in\n{yaml}");
    }
    assert!(dump(&c, Format::Json).contains("\"gop_max_bytes\": \"32MiB\""));
}

#[test]
fn format_from_extension() {
    assert_eq!(Format::from_path(Path::new("a.json")), Format::Json);
    assert_eq!(Format::from_path(Path::new("a.JSON")), Format::Json);
    assert_eq!(Format::from_path(Path::new("a.yml")), Format::Yaml);
    assert_eq!(Format::from_path(Path::new("a.conf")), Format::Yaml);
}

#[test]
fn missing_file() {
    let got = messages(check_file(Path::new("/nonexistent/openrtmp.yaml")));
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("cannot read /nonexistent/openrtmp.yaml"), "{got:?}");
}

#[test]
fn platform_section_loads_and_dumps() {
    use openrtmp_server::platform::NetworkPolicy as Policy;
    let text = "platform: { network_policy: wifi-only, cellular_warning: 500MiB, \
                watch_network: false, background_notice: 3s, mdns: true, mdns_name: Cam 1 }\n";
    let c = check_file(&file("pl.yaml", text)).unwrap();
    assert_eq!(c.network_policy, Policy::WifiOnly);
    assert_eq!(c.cellular_warning_bytes, Some(500 << 20));
    assert!(!c.watch_network);
    assert_eq!(c.background_notice, Duration::from_secs(3));
    assert!(c.mdns);
    assert_eq!(c.mdns_name.as_deref(), Some("Cam 1"));
    let yaml = dump(&c, Format::Yaml);
    for line in [
        "platform:\n",
        "  network_policy: wifi-only\n",
        "  cellular_warning: 500MiB\n",
        "  watch_network: false\n",
        "  background_notice: 3s\n",
        "  mdns: true\n",
        "  mdns_name: Cam 1\n",
    ] {
        assert!(yaml.contains(line), "{line:?} in\n{yaml}");
    }
    for (format, name) in [(Format::Yaml, "pl2.yaml"), (Format::Json, "pl2.json")] {
        let text = dump(&c, format);
        let back = check_file(&file(name, &text)).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(format!("{back:?}"), format!("{c:?}"), "{text}");
    }

    let c = check_file(&file("pl3.yaml", "platform: { cellular_warning: null }\n")).unwrap();
    assert_eq!(c.cellular_warning_bytes, None);
    assert!(dump(&c, Format::Yaml).contains("  cellular_warning: null\n"));
    let d = Config::default();
    let c = check_file(&file("pl4.yaml", "platform: {}\n")).unwrap();
    assert_eq!(
        (c.network_policy, c.cellular_warning_bytes, c.watch_network, c.background_notice),
        (d.network_policy, d.cellular_warning_bytes, d.watch_network, d.background_notice)
    );
}

#[test]
fn platform_from_env() {
    use openrtmp_server::platform::NetworkPolicy as Policy;
    let vars = env(&[
        ("OPENRTMP_PLATFORM__NETWORK_POLICY", "cellular-only"),
        ("OPENRTMP_PLATFORM__CELLULAR_WARNING", "1GiB"),
        ("OPENRTMP_PLATFORM__WATCH_NETWORK", "false"),
        ("OPENRTMP_PLATFORM__BACKGROUND_NOTICE", "10s"),
    ]);
    let c = load(None, &vars, &FileConfig::default()).unwrap().config;
    assert_eq!(c.network_policy, Policy::CellularOnly);
    assert_eq!(c.cellular_warning_bytes, Some(1 << 30));
    assert!(!c.watch_network);
    assert_eq!(c.background_notice, Duration::from_secs(10));
    let vars = env(&[
        ("OPENRTMP_PLATFORM__NETWORK_POLICY", "wifi-only"),
        ("OPENRTMP_PLATFORM__CELLULAR_WARNING", "null"),
    ]);
    let c = load(None, &vars, &FileConfig::default()).unwrap().config;
    assert_eq!(c.network_policy, Policy::WifiOnly);
    assert_eq!(c.cellular_warning_bytes, None);
}

#[test]
fn platform_network_policy_must_be_a_policy() {
    let got = messages(check_file(&file("pe1.yaml", "platform:\n  network_policy: ethernet\n")));
    assert_eq!(
        got,
        ["platform.network_policy: \"ethernet\" is not a network policy (any, wifi-only or cellular-only) (line 2 column 19)"]
    );
}

#[test]
fn platform_cellular_warning_must_be_positive() {
    let got = messages(check_file(&file("pe2.yaml", "platform: { cellular_warning: 0 }\n")));
    assert_eq!(got, ["platform.cellular_warning: 0 must be at least 1B (use null for no warning)"]);
}

#[test]
fn platform_cellular_warning_must_be_a_size() {
    let got = messages(check_file(&file("pe3.yaml", "platform: { cellular_warning: lots }\n")));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("platform.cellular_warning: \"lots\" is not a size"), "{got:?}");
}

#[test]
fn platform_watch_network_must_be_a_bool() {
    let got = messages(check_file(&file("pe4.yaml", "platform: { watch_network: often }\n")));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("platform.watch_network: invalid type"), "{got:?}");
}

#[test]
fn platform_background_notice_must_be_longer_than_zero() {
    let got = messages(check_file(&file("pe5.yaml", "platform: { background_notice: 0s }\n")));
    assert_eq!(got, ["platform.background_notice: 0s must be longer than zero"]);
    let got = messages(check_file(&file("pe6.yaml", "platform: { background_notice: soon }\n")));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("platform.background_notice: \"soon\" is not a duration"),
        "{got:?}"
    );
}

#[test]
fn platform_unknown_key() {
    let got = messages(check_file(&file("pe7.yaml", "platform: { network_polcy: any }\n")));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("platform.network_polcy: unknown key (did you mean network_policy?)"),
        "{got:?}"
    );
}

#[test]
fn idle_timeout_from_file_env_and_dump() {
    assert_eq!(check_str("{}", Format::Json).unwrap().idle_timeout, Duration::from_secs(30));
    let c = check_str("rtmp: { idle_timeout: 45s }\n", Format::Yaml).unwrap();
    assert_eq!(c.idle_timeout, Duration::from_secs(45));
    assert!(dump(&c, Format::Yaml).contains("idle_timeout: 45s"), "{}", dump(&c, Format::Yaml));
    let vars = env(&[("OPENRTMP_RTMP__IDLE_TIMEOUT", "2m")]);
    let c = load(None, &vars, &FileConfig::default()).unwrap().config;
    assert_eq!(c.idle_timeout, Duration::from_secs(120));
    assert_eq!(
        messages(check_str("rtmp: { idle_timeout: 0s }\n", Format::Yaml)),
        ["rtmp.idle_timeout: 0s must be longer than zero"]
    );
}

#[test]
fn max_batch_from_file_env_flags_and_dump() {
    let c = check_str("{}", Format::Json).unwrap();
    assert_eq!(c.hub.max_batch_ms, 0, "off by default");
    assert!(dump(&c, Format::Yaml).contains("  max_batch: 0s\n"), "{}", dump(&c, Format::Yaml));
    let path = file("b.yaml", "streams: { max_batch: 100ms }\n");
    let c = check_file(&path).unwrap();
    assert_eq!(c.hub.max_batch_ms, 100);
    assert!(dump(&c, Format::Yaml).contains("  max_batch: 100ms\n"));
    assert!(dump(&c, Format::Json).contains("\"max_batch\": \"100ms\""));
    let vars = env(&[("OPENRTMP_STREAMS__MAX_BATCH", "0.35s")]);
    let loaded = load(Some(&path), &vars, &FileConfig::default()).unwrap();
    assert_eq!(loaded.config.hub.max_batch_ms, 350, "env overrides the file");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let mut flags = FileConfig::default();
    flags.streams.max_batch = Some(HumanDuration(Duration::from_millis(50)));
    let c = load(Some(&path), &vars, &flags).unwrap().config;
    assert_eq!(c.hub.max_batch_ms, 50, "flags override the environment");
    assert_eq!(
        messages(check_str("streams: { max_batch: 2500us }\n", Format::Yaml)),
        ["streams.max_batch: 2.5ms must be a whole number of milliseconds"]
    );
}
