//! `cluster` and `edge`: defaults, every key from a file and the environment, dumps that
//! load back (the Redis password redacted when asked), and problems reported with their
//! paths.

use std::time::Duration;

use openrtmp_server::cluster::{ClusterSettings, DirectoryKind, EdgeSettings, StaticNode};

use super::*;

#[test]
fn cluster_defaults() {
    let c = check_str("{}", Format::Json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.cluster, ClusterSettings::default());
    assert_eq!(c.cluster.directory.kind, DirectoryKind::Local);
    assert_eq!(c.cluster.directory.node_ttl, Duration::from_secs(5));
    assert_eq!(c.cluster.directory.heartbeat, Duration::from_millis(1500));
    assert_eq!(c.cluster.claim_wait, Duration::from_secs(6));
    assert_eq!(c.cluster.drain_start_wait, Duration::ZERO);
    assert!(!c.cluster.node_id.is_empty());
    assert_eq!(c.edge, EdgeSettings::default());
    assert!(!c.edge.enabled);
}

#[test]
fn cluster_loads_every_key_and_dumps_back() {
    let text = r#"
cluster:
  node_id: o1
  advertise_rtmp: rtmp://10.0.0.11:1935/
  directory:
    kind: static
    node_ttl: 4s
    heartbeat: 1s
    nodes:
      - {id: o1, rtmp: "rtmp://10.0.0.11:1935"}
      - {id: o2, rtmp: "rtmp://10.0.0.12:1935"}
  claim_wait: 3s
  drain_start_wait: 5s
edge:
  enabled: true
"#;
    let c = check_str(text, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    let k = &c.cluster;
    assert_eq!(k.node_id, "o1");
    assert_eq!(k.advertise_rtmp.as_deref(), Some("rtmp://10.0.0.11:1935"), "trailing / trimmed");
    assert_eq!(k.directory.kind, DirectoryKind::Static);
    assert_eq!(k.directory.node_ttl, Duration::from_secs(4));
    assert_eq!(k.directory.heartbeat, Duration::from_secs(1));
    assert_eq!(
        k.directory.nodes,
        [
            StaticNode { id: "o1".into(), rtmp: "rtmp://10.0.0.11:1935".into() },
            StaticNode { id: "o2".into(), rtmp: "rtmp://10.0.0.12:1935".into() },
        ]
    );
    assert_eq!(k.claim_wait, Duration::from_secs(3));
    assert_eq!(k.drain_start_wait, Duration::from_secs(5));
    assert!(c.edge.enabled);
    for format in [Format::Yaml, Format::Json] {
        let text = dump(&c, format);
        let back = check_str(&text, format).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.cluster, c.cluster);
        assert_eq!(back.edge, c.edge);
    }
}

#[test]
fn cluster_from_the_environment_as_kubernetes_sets_it() {
    let vars = env(&[
        ("OPENRTMP_CLUSTER__NODE_ID", "openrtmp-7d9f-abcde"),
        ("OPENRTMP_CLUSTER__ADVERTISE_RTMP", "rtmp://10.1.2.3:1935"),
        ("OPENRTMP_CLUSTER__DRAIN_START_WAIT", "10s"),
        ("OPENRTMP_EDGE__ENABLED", "true"),
        // What Kubernetes injects for a Service named `openrtmp`: not keys, only warned about.
        ("OPENRTMP_PORT", "tcp://10.96.0.10:1935"),
    ]);
    let c = load(None, &vars, &FileConfig::default()).unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(c.cluster.node_id, "openrtmp-7d9f-abcde");
    assert_eq!(c.cluster.advertise_rtmp.as_deref(), Some("rtmp://10.1.2.3:1935"));
    assert_eq!(c.cluster.drain_start_wait, Duration::from_secs(10));
    assert!(c.edge.enabled);
}

#[test]
fn cluster_problems_name_their_key() {
    let text = r#"{"cluster": {"node_id": "has space", "advertise_rtmp": "http://x/app",
                   "directory": {"kind": "static", "heartbeat": "4s", "node_ttl": "5s",
                                 "nodes": [{"id": "o1"}]}}}"#;
    let problems = messages(check_str(text, Format::Json));
    for path in [
        "cluster.node_id",
        "cluster.advertise_rtmp",
        "cluster.directory.heartbeat",
        "cluster.directory.nodes[0].rtmp",
    ] {
        assert!(problems.iter().any(|p| p.starts_with(path)), "{path}: {problems:?}");
    }
    let problems =
        messages(check_str(r#"{"cluster": {"directory": {"kind": "static"}}}"#, Format::Json));
    assert!(problems.iter().any(|p| p.starts_with("cluster.directory.nodes")), "{problems:?}");
    let problems =
        messages(check_str(r#"{"cluster": {"directory": {"kind": "etcd"}}}"#, Format::Json));
    assert!(problems.iter().any(|p| p.starts_with("cluster.directory.kind")), "{problems:?}");
    let problems = messages(check_str(r#"{"edge": {"enable": true}}"#, Format::Json));
    assert!(problems.iter().any(|p| p.starts_with("edge.enable")), "{problems:?}");
}
