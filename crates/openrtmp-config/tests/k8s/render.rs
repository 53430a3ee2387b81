//! Rendering an overlay with `kubectl kustomize` (offline: no cluster is contacted) and
//! reading the rendered objects.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `kubectl` (`KUBECTL`, else from PATH), or `None` locally when it is missing (the test
/// then skips with a reason; in CI it fails: `.ci/run` installs it).
pub fn kubectl() -> Option<PathBuf> {
    let path = std::env::var_os("KUBECTL").map_or_else(|| PathBuf::from("kubectl"), PathBuf::from);
    openrtmp_testkit::require_with("kubectl", Some(path), &["version", "--client"])
}

/// The objects `kubectl kustomize deploy/k8s/overlays/<overlay>` renders.
pub fn render(kubectl: &Path, overlay: &str) -> Vec<Value> {
    let dir = repo_root().join("deploy/k8s/overlays").join(overlay);
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("running {} kustomize: {e}", kubectl.display()));
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("kustomize prints UTF-8");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("rendered {overlay} is not YAML: {e}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// The overlays under deploy/k8s/overlays, sorted.
pub fn overlay_dirs() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("deploy/k8s/overlays"))
        .expect("deploy/k8s/overlays")
        .map(|e| e.expect("directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `kind` of an object.
pub fn kind(o: &Value) -> &str {
    o["kind"].as_str().unwrap_or("")
}

/// `metadata.name` of an object.
pub fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

/// `kind/name`, for messages.
pub fn id(o: &Value) -> String {
    format!("{}/{}", kind(o), name(o))
}

/// The objects of one kind.
pub fn of_kind<'a>(objects: &'a [Value], k: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    objects.iter().filter(move |o| kind(o) == k)
}

/// The object of `kind` named `name`.
pub fn find<'a>(objects: &'a [Value], k: &str, n: &str) -> Option<&'a Value> {
    objects.iter().find(|o| kind(o) == k && name(o) == n)
}

/// Whether a label selector (`matchLabels`, `matchExpressions` with In/NotIn/Exists/
/// DoesNotExist) selects `labels`. An empty or missing selector selects everything.
pub fn selects(selector: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let by_labels = selector["matchLabels"]
        .as_object()
        .is_none_or(|m| m.iter().all(|(k, v)| label(k) == v.as_str()));
    let by_expressions = selector["matchExpressions"].as_array().is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let key = e["key"].as_str().unwrap_or("");
            let values: Vec<&str> = e["values"]
                .as_array()
                .map_or(vec![], |v| v.iter().filter_map(Value::as_str).collect());
            match e["operator"].as_str() {
                Some("In") => label(key).is_some_and(|l| values.contains(&l)),
                Some("NotIn") => label(key).is_none_or(|l| !values.contains(&l)),
                Some("Exists") => label(key).is_some(),
                Some("DoesNotExist") => label(key).is_none(),
                _ => false,
            }
        })
    });
    by_labels && by_expressions
}

/// A Service's selector (a plain map) as a label selector.
pub fn service_selects(service: &Value, labels: &Value) -> bool {
    let selector = &service["spec"]["selector"];
    selector.as_object().is_some_and(|m| !m.is_empty())
        && selects(&serde_json::json!({ "matchLabels": selector }), labels)
}

/// A memory quantity (`512Mi`, `2Gi`, `1G`, `1000`) in bytes.
pub fn quantity_bytes(q: &Value) -> Option<u64> {
    let s = match q {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let units: [(&str, u64); 8] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    for (suffix, factor) in units {
        if let Some(n) = s.strip_suffix(suffix) {
            return n.parse::<u64>().ok().map(|n| n * factor);
        }
    }
    s.parse().ok()
}

/// Standard base64 (a Secret's `data`), `None` when malformed.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|&c| c != b'=' && !c.is_ascii_whitespace()) {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[test]
fn helpers_decode_and_select() {
    assert_eq!(
        base64_decode("cmVkaXM6Ly9yOjYzNzkvMA==").as_deref(),
        Some(&b"redis://r:6379/0"[..])
    );
    assert_eq!(quantity_bytes(&Value::from("1536Mi")), Some(1536 << 20));
    let labels = serde_json::json!({"app.kubernetes.io/name": "openrtmp", "role": "edge"});
    let sel = serde_json::json!({"matchExpressions": [
        {"key": "app.kubernetes.io/name", "operator": "In", "values": ["openrtmp"]}]});
    assert!(selects(&sel, &labels));
    assert!(!selects(&serde_json::json!({"matchLabels": {"role": "ingest"}}), &labels));
}
