//! `proxy_protocol`: off by default, every key from a file and the environment, dumps that
//! load back, and bad networks reported with their paths.

use openrtmp_server::ProxyProtocolSettings;

use super::*;

#[test]
fn proxy_protocol_is_off_by_default() {
    let c = check_str("{}", Format::Json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.proxy_protocol, ProxyProtocolSettings::default());
    assert!(c.proxy_protocol.trusted.is_empty());
    assert!(c.proxy_protocol.required, "required unless said otherwise");
}

#[test]
fn proxy_protocol_loads_every_key_and_dumps_back() {
    let text = r#"
proxy_protocol:
  trusted: [10.0.0.0/8, 192.168.1.10, "fd00::/8"]
  required: false
"#;
    let c = check_str(text, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    let p = &c.proxy_protocol;
    let nets: Vec<String> = p.trusted.iter().map(ToString::to_string).collect();
    assert_eq!(nets, ["10.0.0.0/8", "192.168.1.10/32", "fd00::/8"]);
    assert!(!p.required);
    assert!(p.trusts("10.20.30.40".parse().unwrap()));
    assert!(p.trusts("::ffff:192.168.1.10".parse().unwrap()), "dual-stack listeners");
    assert!(!p.trusts("192.168.1.11".parse().unwrap()));
    for format in [Format::Yaml, Format::Json] {
        let text = dump(&c, format);
        assert!(text.contains("proxy_protocol"), "{text}");
        assert_eq!(check_str(&text, format).unwrap_or_else(|e| panic!("{e}")).proxy_protocol, *p);
    }
    // Trusted networks alone: a header is required.
    let c = check_str(r#"{"proxy_protocol": {"trusted": ["10.0.0.1"]}}"#, Format::Json).unwrap();
    assert!(c.proxy_protocol.required);
}

#[test]
fn proxy_protocol_from_the_environment() {
    let vars = env(&[
        ("OPENRTMP_PROXY_PROTOCOL__TRUSTED", r#"["10.0.0.0/8", "172.16.0.0/12"]"#),
        ("OPENRTMP_PROXY_PROTOCOL__REQUIRED", "false"),
    ]);
    let c = load(None, &vars, &FileConfig::default()).unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(c.proxy_protocol.trusted.len(), 2);
    assert!(!c.proxy_protocol.required);
}

#[test]
fn proxy_protocol_problems_name_their_key() {
    let text = r#"{"proxy_protocol": {"trusted": ["10.0.0.0/8", "10.0.0.0/33"], "require": true}}"#;
    let problems = messages(check_str(text, Format::Json));
    for path in ["proxy_protocol.trusted[1]", "proxy_protocol.require"] {
        assert!(problems.iter().any(|p| p.starts_with(path)), "{path}: {problems:?}");
    }
}
