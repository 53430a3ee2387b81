//! The checks on a rendered overlay. Each returns every problem found (never only the
//! first), as `kind/name: what`, so a failing test lists them all.

use serde_json::Value;

use super::render::{find, id, kind, name, of_kind, selects, service_selects};

/// Kinds (with their apiVersion) the manifests may contain: anything else is a mistake
/// (or a new kind the checks below must learn first).
pub const KNOWN_KINDS: &[(&str, &str)] = &[
    ("v1", "ServiceAccount"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("policy/v1", "PodDisruptionBudget"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
];

/// The image the OpenRTMP containers run (any pinned tag).
pub const IMAGE: &str = "ghcr.io/openrtmp/openrtmp";
/// The autoscaler's metric (a Pods metric from the Prometheus adapter, docs/kubernetes.md).
pub const EGRESS_METRIC: &str = "openrtmp_egress_bits_per_second";

/// Problems found, `kind/name: message` each.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<String>);

impl Problems {
    fn add(&mut self, o: &Value, msg: impl AsRef<str>) {
        self.0.push(format!("{}: {}", id(o), msg.as_ref()));
    }

    /// Fields of `v` (an object at `path`) not in `allowed`: a typo in a manifest is a
    /// field the API server would reject or, worse, silently drop.
    fn known(&mut self, o: &Value, path: &str, v: &Value, allowed: &[&str]) {
        match v.as_object() {
            Some(map) => {
                for key in map.keys().filter(|k| !allowed.contains(&k.as_str())) {
                    self.add(o, format!("{path}.{key}: unknown field (known: {allowed:?})"));
                }
            }
            None if v.is_null() => {}
            None => self.add(o, format!("{path}: expected an object, found {v}")),
        }
    }

    /// [`Problems::known`] on each element of the list at `path`.
    fn known_each(&mut self, o: &Value, path: &str, v: &Value, allowed: &[&str]) {
        for (i, item) in v.as_array().into_iter().flatten().enumerate() {
            self.known(o, &format!("{path}[{i}]"), item, allowed);
        }
    }
}

/// Every check of one rendered overlay.
pub fn all(objects: &[Value]) -> Problems {
    let mut p = Problems::default();
    for o in objects {
        kind_and_fields(o, &mut p);
    }
    for d in of_kind(objects, "Deployment") {
        images(d, &mut p);
        pod_hardening(d, objects, &mut p);
    }
    for d in openrtmp_deployments(objects) {
        openrtmp_deployment(d, &mut p);
        companions(d, objects, &mut p);
    }
    for s in of_kind(objects, "Service") {
        if s["spec"]["type"] == "LoadBalancer" && s["spec"]["externalTrafficPolicy"] != "Local" {
            p.add(
                s,
                "a LoadBalancer Service must keep client addresses: externalTrafficPolicy: Local",
            );
        }
    }
    for h in of_kind(objects, "HorizontalPodAutoscaler") {
        autoscaler(h, objects, &mut p);
    }
    p
}

/// The Deployments running the OpenRTMP image.
pub fn openrtmp_deployments(objects: &[Value]) -> impl Iterator<Item = &Value> {
    of_kind(objects, "Deployment").filter(|d| {
        containers(d).any(|c| c["image"].as_str().is_some_and(|i| i.starts_with(IMAGE)))
    })
}

fn containers(d: &Value) -> impl Iterator<Item = &Value> {
    d["spec"]["template"]["spec"]["containers"].as_array().into_iter().flatten()
}

fn pod_labels(d: &Value) -> &Value {
    &d["spec"]["template"]["metadata"]["labels"]
}

const METADATA: &[&str] = &["name", "namespace", "labels", "annotations"];
const OBJECT: &[&str] = &["apiVersion", "kind", "metadata", "spec"];
const SELECTOR: &[&str] = &["matchLabels", "matchExpressions"];

fn kind_and_fields(o: &Value, p: &mut Problems) {
    let api = o["apiVersion"].as_str().unwrap_or("");
    if !KNOWN_KINDS.contains(&(api, kind(o))) {
        p.add(o, format!("unknown kind or apiVersion {api} (known: {KNOWN_KINDS:?})"));
        return;
    }
    p.known(o, "metadata", &o["metadata"], METADATA);
    let spec = &o["spec"];
    match kind(o) {
        "ServiceAccount" => {
            p.known(o, "", o, &["apiVersion", "kind", "metadata", "automountServiceAccountToken"])
        }
        "ConfigMap" => p.known(o, "", o, &["apiVersion", "kind", "metadata", "data"]),
        "Secret" => p.known(o, "", o, &["apiVersion", "kind", "metadata", "data", "type"]),
        "Service" => {
            p.known(o, "", o, OBJECT);
            let keys = ["type", "externalTrafficPolicy", "sessionAffinity", "selector", "ports"];
            p.known(
                o,
                "spec",
                spec,
                &[&keys[..], &["clusterIP", "publishNotReadyAddresses"]].concat(),
            );
            p.known_each(
                o,
                "spec.ports",
                &spec["ports"],
                &["name", "port", "targetPort", "protocol"],
            );
        }
        "Deployment" => deployment_fields(o, p),
        "PodDisruptionBudget" => {
            p.known(o, "", o, OBJECT);
            p.known(o, "spec", spec, &["maxUnavailable", "minAvailable", "selector"]);
            p.known(o, "spec.selector", &spec["selector"], SELECTOR);
        }
        "HorizontalPodAutoscaler" => {
            p.known(o, "", o, OBJECT);
            let keys = ["scaleTargetRef", "minReplicas", "maxReplicas", "metrics", "behavior"];
            p.known(o, "spec", spec, &keys);
            p.known(o, "spec.behavior", &spec["behavior"], &["scaleUp", "scaleDown"]);
            for dir in ["scaleUp", "scaleDown"] {
                let rules = &spec["behavior"][dir];
                let path = format!("spec.behavior.{dir}");
                p.known(
                    o,
                    &path,
                    rules,
                    &["stabilizationWindowSeconds", "selectPolicy", "policies"],
                );
                p.known_each(
                    o,
                    &format!("{path}.policies"),
                    &rules["policies"],
                    &["type", "value", "periodSeconds"],
                );
            }
            p.known_each(
                o,
                "spec.metrics",
                &spec["metrics"],
                &["type", "pods", "resource", "object", "external"],
            );
        }
        "NetworkPolicy" => {
            p.known(o, "", o, OBJECT);
            p.known(o, "spec", spec, &["podSelector", "policyTypes", "ingress", "egress"]);
            p.known_each(o, "spec.ingress", &spec["ingress"], &["from", "ports"]);
            p.known_each(o, "spec.egress", &spec["egress"], &["to", "ports"]);
        }
        _ => {}
    }
}

fn deployment_fields(o: &Value, p: &mut Problems) {
    let spec = &o["spec"];
    p.known(o, "", o, OBJECT);
    let keys = ["replicas", "strategy", "revisionHistoryLimit", "selector", "template"];
    p.known(
        o,
        "spec",
        spec,
        &[&keys[..], &["minReadySeconds", "progressDeadlineSeconds"]].concat(),
    );
    p.known(o, "spec.strategy", &spec["strategy"], &["type", "rollingUpdate"]);
    p.known(
        o,
        "spec.strategy.rollingUpdate",
        &spec["strategy"]["rollingUpdate"],
        &["maxUnavailable", "maxSurge"],
    );
    p.known(o, "spec.template", &spec["template"], &["metadata", "spec"]);
    let pod = &spec["template"]["spec"];
    let pod_keys = [
        "serviceAccountName",
        "automountServiceAccountToken",
        "enableServiceLinks",
        "terminationGracePeriodSeconds",
        "securityContext",
        "topologySpreadConstraints",
        "containers",
        "volumes",
        "affinity",
        "nodeSelector",
        "tolerations",
        "priorityClassName",
    ];
    p.known(o, "spec.template.spec", pod, &pod_keys);
    let pod_sc = ["runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "seccompProfile"];
    p.known(o, "spec.template.spec.securityContext", &pod["securityContext"], &pod_sc);
    let spread = [
        "maxSkew",
        "topologyKey",
        "whenUnsatisfiable",
        "labelSelector",
        "matchLabelKeys",
        "minDomains",
    ];
    p.known_each(
        o,
        "spec.template.spec.topologySpreadConstraints",
        &pod["topologySpreadConstraints"],
        &spread,
    );
    p.known_each(
        o,
        "spec.template.spec.volumes",
        &pod["volumes"],
        &["name", "configMap", "emptyDir", "secret"],
    );
    let container_keys = [
        "name",
        "image",
        "imagePullPolicy",
        "command",
        "args",
        "env",
        "ports",
        "resources",
        "securityContext",
        "startupProbe",
        "livenessProbe",
        "readinessProbe",
        "volumeMounts",
    ];
    for (i, c) in containers(o).enumerate() {
        let path = format!("spec.template.spec.containers[{i}]");
        p.known(o, &path, c, &container_keys);
        p.known_each(o, &format!("{path}.env"), &c["env"], &["name", "value", "valueFrom"]);
        p.known_each(
            o,
            &format!("{path}.ports"),
            &c["ports"],
            &["name", "containerPort", "protocol"],
        );
        p.known(o, &format!("{path}.resources"), &c["resources"], &["requests", "limits"]);
        let sc = [
            "allowPrivilegeEscalation",
            "readOnlyRootFilesystem",
            "runAsNonRoot",
            "runAsUser",
            "capabilities",
        ];
        p.known(o, &format!("{path}.securityContext"), &c["securityContext"], &sc);
        p.known_each(
            o,
            &format!("{path}.volumeMounts"),
            &c["volumeMounts"],
            &["name", "mountPath", "readOnly"],
        );
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            let keys = [
                "httpGet",
                "tcpSocket",
                "periodSeconds",
                "timeoutSeconds",
                "failureThreshold",
                "successThreshold",
                "initialDelaySeconds",
            ];
            p.known(o, &format!("{path}.{probe}"), &c[probe], &keys);
            p.known(o, &format!("{path}.{probe}.httpGet"), &c[probe]["httpGet"], &["path", "port"]);
        }
    }
}

/// Every image pinned to a tag (or digest), never `latest`.
fn images(d: &Value, p: &mut Problems) {
    for c in containers(d) {
        let image = c["image"].as_str().unwrap_or("");
        if let Some(problem) = image_problem(image) {
            p.add(d, format!("container {}: image {image:?} {problem}", c["name"]));
        }
    }
}

/// Why `image` is not pinned, if it is not: no tag, or `latest`.
pub fn image_problem(image: &str) -> Option<&'static str> {
    if image.contains("@sha256:") {
        return None;
    }
    // The tag follows the last ':' after the last '/' (a registry may have a port).
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => Some("has no tag (means latest)"),
        Some((_, "latest")) => Some("is tagged latest"),
        Some((_, "")) => Some("has an empty tag"),
        Some(_) => None,
    }
}

/// Non-root, read-only, no capabilities, no service links, no service-account token.
fn pod_hardening(d: &Value, objects: &[Value], p: &mut Problems) {
    let pod = &d["spec"]["template"]["spec"];
    if pod["enableServiceLinks"] != false {
        p.add(d, "enableServiceLinks must be false (injected OPENRTMP_* variables)");
    }
    if pod["automountServiceAccountToken"] != false {
        p.add(d, "automountServiceAccountToken must be false");
    }
    if let Some(sa) = pod["serviceAccountName"].as_str() {
        match find(objects, "ServiceAccount", sa) {
            Some(a) if a["automountServiceAccountToken"] == false => {}
            Some(_) => p.add(
                d,
                format!("ServiceAccount {sa} must set automountServiceAccountToken: false"),
            ),
            None => p.add(d, format!("ServiceAccount {sa} is not rendered")),
        }
    }
    for c in containers(d) {
        let sc = &c["securityContext"];
        let non_root = sc["runAsNonRoot"] == true || pod["securityContext"]["runAsNonRoot"] == true;
        let drops_all =
            sc["capabilities"]["drop"].as_array().is_some_and(|d| d.iter().any(|c| c == "ALL"));
        if !non_root
            || sc["readOnlyRootFilesystem"] != true
            || !drops_all
            || sc["allowPrivilegeEscalation"] != false
        {
            let want = "runAsNonRoot, readOnlyRootFilesystem, allowPrivilegeEscalation: false \
                        and capabilities.drop [ALL]";
            p.add(d, format!("container {}: needs {want}", c["name"]));
        }
        let res = &c["resources"];
        if !res["requests"].is_object() || !res["limits"]["memory"].is_string() {
            p.add(
                d,
                format!("container {}: needs resources.requests and limits.memory", c["name"]),
            );
        }
    }
}

/// What an OpenRTMP Deployment must have: the rollout, the probes, the identity.
fn openrtmp_deployment(d: &Value, p: &mut Problems) {
    let spec = &d["spec"];
    if spec["strategy"]["type"] != "RollingUpdate"
        || spec["strategy"]["rollingUpdate"]["maxUnavailable"] != 0
    {
        p.add(
            d,
            "strategy must be RollingUpdate with maxUnavailable: 0 \
             (a new pod is ready before an old one drains)",
        );
    }
    let pod = &spec["template"]["spec"];
    if pod["topologySpreadConstraints"].as_array().is_none_or(Vec::is_empty) {
        p.add(d, "needs topologySpreadConstraints");
    }
    for spread in pod["topologySpreadConstraints"].as_array().into_iter().flatten() {
        if !selects(&spread["labelSelector"], pod_labels(d)) {
            p.add(
                d,
                format!("topology spread on {} does not select the pods", spread["topologyKey"]),
            );
        }
    }
    let Some(c) = containers(d).find(|c| c["image"].as_str().is_some_and(|i| i.starts_with(IMAGE)))
    else {
        return;
    };
    for (probe, path) in
        [("startupProbe", "/health"), ("livenessProbe", "/health"), ("readinessProbe", "/readyz")]
    {
        if c[probe]["httpGet"]["path"] != path {
            p.add(d, format!("{probe} must GET {path}, found {}", c[probe]["httpGet"]["path"]));
        }
        let port = &c[probe]["httpGet"]["port"];
        let api = c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|cp| &cp["name"] == port || &cp["containerPort"] == port);
        if api.is_none_or(|cp| cp["containerPort"] != 8080) {
            p.add(d, format!("{probe} port {port} is not the API's container port 8080"));
        }
    }
    let env: Vec<&str> =
        c["env"].as_array().into_iter().flatten().filter_map(|e| e["name"].as_str()).collect();
    let at = |n: &str| env.iter().position(|e| *e == n);
    let field = |n: &str| {
        c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == n)
            .map(|e| &e["valueFrom"]["fieldRef"]["fieldPath"])
    };
    if field("OPENRTMP_CLUSTER__NODE_ID").is_none_or(|f| f != "metadata.name") {
        p.add(d, "OPENRTMP_CLUSTER__NODE_ID must come from metadata.name (the pod name)");
    }
    if field("POD_IP").is_none_or(|f| f != "status.podIP") {
        p.add(d, "POD_IP must come from status.podIP");
    }
    match (at("POD_IP"), at("OPENRTMP_CLUSTER__ADVERTISE_RTMP")) {
        (Some(ip), Some(adv)) if ip < adv => {}
        _ => p.add(
            d,
            "OPENRTMP_CLUSTER__ADVERTISE_RTMP must follow POD_IP \
             (a $(VAR) sees only variables above it)",
        ),
    }
}

/// Each OpenRTMP Deployment's pods are selected by a PodDisruptionBudget, a NetworkPolicy,
/// a headless Service and a LoadBalancer Service.
fn companions(d: &Value, objects: &[Value], p: &mut Problems) {
    let labels = pod_labels(d);
    if !selects(&d["spec"]["selector"], labels) {
        p.add(d, "spec.selector does not select its own pods");
    }
    let pdbs = of_kind(objects, "PodDisruptionBudget")
        .filter(|b| selects(&b["spec"]["selector"], labels))
        .count();
    if pdbs != 1 {
        p.add(d, format!("{pdbs} PodDisruptionBudgets select the pods (want 1)"));
    }
    let policies: Vec<&Value> = of_kind(objects, "NetworkPolicy")
        .filter(|n| selects(&n["spec"]["podSelector"], labels))
        .collect();
    if policies.is_empty() {
        p.add(d, "no NetworkPolicy selects the pods");
    }
    for n in &policies {
        let types: Vec<&str> = n["spec"]["policyTypes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !(types.contains(&"Ingress") && types.contains(&"Egress")) {
            p.add(n, "policyTypes must be [Ingress, Egress]");
        }
        let open_rtmp = n["spec"]["ingress"].as_array().into_iter().flatten().any(|r| {
            r["from"].is_null()
                && r["ports"].as_array().into_iter().flatten().any(|port| port["port"] == 1935)
        });
        if !open_rtmp {
            p.add(n, "ingress must admit RTMP (1935) from anywhere");
        }
        let open_api = n["spec"]["ingress"].as_array().into_iter().flatten().any(|r| {
            r["from"].is_null()
                && r["ports"].as_array().into_iter().flatten().any(|port| port["port"] == 8080)
        });
        if open_api {
            p.add(n, "the API (8080) must not be open to everyone");
        }
    }
    let services: Vec<&Value> =
        of_kind(objects, "Service").filter(|s| service_selects(s, labels)).collect();
    if !services.iter().any(|s| s["spec"]["clusterIP"] == "None") {
        p.add(d, "no headless Service selects the pods");
    }
    if services.iter().filter(|s| s["spec"]["type"] == "LoadBalancer").count() != 1 {
        p.add(d, "want exactly one LoadBalancer Service for the pods");
    }
}

/// autoscaling/v2 on the egress metric, a slow and small scale-down, a Deployment target
/// that leaves `replicas` to it.
fn autoscaler(h: &Value, objects: &[Value], p: &mut Problems) {
    let spec = &h["spec"];
    let target = &spec["scaleTargetRef"];
    match find(objects, "Deployment", target["name"].as_str().unwrap_or("")) {
        Some(d) if target["kind"] == "Deployment" => {
            if !d["spec"]["replicas"].is_null() {
                p.add(
                    d,
                    format!(
                        "sets replicas while {} scales it (every apply would reset it)",
                        name(h)
                    ),
                );
            }
        }
        _ => p.add(h, format!("scaleTargetRef {target} is not a rendered Deployment")),
    }
    let egress = spec["metrics"].as_array().into_iter().flatten().any(|m| {
        m["type"] == "Pods"
            && m["pods"]["metric"]["name"] == EGRESS_METRIC
            && m["pods"]["target"]["type"] == "AverageValue"
    });
    if !egress {
        p.add(h, format!("needs a Pods metric {EGRESS_METRIC} with an AverageValue target"));
    }
    let down = &spec["behavior"]["scaleDown"];
    if down["stabilizationWindowSeconds"].as_u64().is_none_or(|s| s < 600) {
        p.add(h, "scaleDown.stabilizationWindowSeconds must be at least 600 (long sessions)");
    }
    let policies = down["policies"].as_array().map_or(&[][..], Vec::as_slice);
    let small = !policies.is_empty()
        && policies.iter().all(|pol| match pol["type"].as_str() {
            Some("Pods") => pol["value"].as_u64().is_some_and(|v| v <= 2),
            Some("Percent") => pol["value"].as_u64().is_some_and(|v| v <= 20),
            _ => false,
        });
    if !small {
        p.add(h, "scaleDown.policies must be small (at most 2 pods or 20 % per period)");
    }
    if spec["minReplicas"].as_u64().is_none_or(|m| m < 2) {
        p.add(h, "minReplicas below 2: one pod's drain would empty the role");
    }
}
