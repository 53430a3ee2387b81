//! The environment a rendered Deployment's container would get, and its configuration file
//! loaded through the real loader with it (`openrtmp_config::load`, as `openrtmp serve
//! --config` does).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::render::{base64_decode, find, kind, name, of_kind};

/// The pod name and IP the downward API gives in these checks.
pub const POD_NAME: &str = "openrtmp-7d9c5b8f6-x2k4q";
pub const POD_IP: &str = "10.244.3.17";
/// What a secretKeyRef to a Secret the manifests do not render (`openrtmp-api`, created
/// by the operator) reads as.
pub const OPERATOR_SECRET: &str = "operator-made-secret-0123456789abcdef";

/// The container's environment in order, as the kubelet builds it: downward API fields,
/// Secrets (rendered ones decoded, others [`OPERATOR_SECRET`]) and `$(VAR)` references to
/// variables defined above. A reference to a variable not (yet) defined stays as written,
/// as in Kubernetes.
pub fn container_env(
    container: &Value,
    objects: &[Value],
) -> Result<Vec<(String, String)>, String> {
    let mut env: Vec<(String, String)> = Vec::new();
    for var in container["env"].as_array().into_iter().flatten() {
        let var_name = var["name"].as_str().ok_or("env entry without a name")?.to_owned();
        let value = if let Some(v) = var["value"].as_str() {
            expand(v, &env)
        } else if let Some(path) = var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            match path {
                "metadata.name" => POD_NAME.to_owned(),
                "status.podIP" => POD_IP.to_owned(),
                other => return Err(format!("{var_name}: fieldRef {other} not modelled here")),
            }
        } else if let Some(r) = var["valueFrom"]["secretKeyRef"].as_object() {
            let secret = r.get("name").and_then(Value::as_str).unwrap_or("");
            let key = r.get("key").and_then(Value::as_str).unwrap_or("");
            match find(objects, "Secret", secret) {
                Some(s) => {
                    let data = s["data"][key]
                        .as_str()
                        .ok_or(format!("{var_name}: Secret {secret} has no key {key}"))?;
                    let bytes =
                        base64_decode(data).ok_or(format!("Secret {secret}: bad base64"))?;
                    String::from_utf8(bytes).map_err(|_| format!("Secret {secret}: not UTF-8"))?
                }
                None => OPERATOR_SECRET.to_owned(),
            }
        } else {
            return Err(format!("{var_name}: a value source not modelled here: {var}"));
        };
        env.push((var_name, value));
    }
    Ok(env)
}

/// `$(NAME)` replaced by NAME's value when NAME is defined in `env` (Kubernetes'
/// dependent environment variables).
fn expand(value: &str, env: &[(String, String)]) -> String {
    let mut out = value.to_owned();
    for (k, v) in env {
        out = out.replace(&format!("$({k})"), v);
    }
    out
}

/// The variables Kubernetes injects for the Services of the namespace when
/// `enableServiceLinks` is on (docker-link style): for each Service with a cluster IP,
/// `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT`, `<NAME>_SERVICE_PORT_<PORT NAME>`,
/// `<NAME>_PORT`, `<NAME>_PORT_<port>_<PROTO>`, `..._PROTO`, `..._PORT`, `..._ADDR`.
/// Headless Services get none.
pub fn service_links(objects: &[Value]) -> Vec<(String, String)> {
    let mut vars = BTreeMap::new();
    for (i, svc) in of_kind(objects, "Service").enumerate() {
        if svc["spec"]["clusterIP"].as_str() == Some("None") {
            continue;
        }
        let ip = format!("10.96.0.{}", 10 + i);
        let prefix = name(svc).to_ascii_uppercase().replace('-', "_");
        for (j, port) in svc["spec"]["ports"].as_array().into_iter().flatten().enumerate() {
            let number = port["port"].as_u64().unwrap_or(0);
            let proto = port["protocol"].as_str().unwrap_or("TCP");
            let url = format!("{}://{ip}:{number}", proto.to_ascii_lowercase());
            if j == 0 {
                vars.insert(format!("{prefix}_SERVICE_HOST"), ip.clone());
                vars.insert(format!("{prefix}_SERVICE_PORT"), number.to_string());
                vars.insert(format!("{prefix}_PORT"), url.clone());
            }
            if let Some(port_name) = port["name"].as_str() {
                let port_name = port_name.to_ascii_uppercase().replace('-', "_");
                vars.insert(format!("{prefix}_SERVICE_PORT_{port_name}"), number.to_string());
            }
            let base = format!("{prefix}_PORT_{number}_{proto}");
            vars.insert(base.clone(), url);
            vars.insert(format!("{base}_PROTO"), proto.to_ascii_lowercase());
            vars.insert(format!("{base}_PORT"), number.to_string());
            vars.insert(format!("{base}_ADDR"), ip.clone());
        }
    }
    vars.into_iter().collect()
}

/// The mounted configuration file of a Deployment: `--config PATH` in the container's
/// args, the volume mounted at PATH's directory and the ConfigMap key PATH's file name.
/// Returns the file's text.
pub fn config_file(deployment: &Value, objects: &[Value]) -> Result<String, String> {
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args: Vec<&str> =
        container["args"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let path = args
        .windows(2)
        .find(|w| w[0] == "--config")
        .map(|w| PathBuf::from(w[1]))
        .ok_or("no --config FILE in the container's args")?;
    let (dir, file) = (path.parent().unwrap_or(&path), path.file_name().unwrap_or_default());
    let mount = container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["mountPath"].as_str().map(PathBuf::from).as_deref() == Some(dir))
        .ok_or(format!("nothing mounted at {}", dir.display()))?;
    let volume = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == mount["name"])
        .ok_or("the config mount names no volume")?;
    let cm_name =
        volume["configMap"]["name"].as_str().ok_or("the config volume is not a ConfigMap")?;
    let cm =
        find(objects, "ConfigMap", cm_name).ok_or(format!("ConfigMap {cm_name} not rendered"))?;
    cm["data"][file.to_string_lossy().as_ref()]
        .as_str()
        .map(str::to_owned)
        .ok_or(format!("ConfigMap {cm_name} has no key {}", file.to_string_lossy()))
}

/// The Deployment's configuration as the server would load it at start, with the
/// container's environment and the service-link variables of every rendered Service (as
/// if `enableServiceLinks` were on: the belt under the braces), then `extra`.
pub fn load(
    overlay: &str,
    deployment: &Value,
    objects: &[Value],
    extra: &[(String, String)],
) -> Result<(openrtmp_config::Loaded, Vec<(String, String)>), String> {
    assert_eq!(kind(deployment), "Deployment");
    let text = config_file(deployment, objects)?;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("k8s");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = dir.join(format!("{overlay}-{}.yaml", name(deployment)));
    std::fs::write(&file, text).map_err(|e| e.to_string())?;
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let links = service_links(objects);
    let mut env = container_env(container, objects)?;
    env.extend(links.iter().cloned());
    env.extend(extra.iter().cloned());
    openrtmp_config::load(Some(&file), &env, &openrtmp_config::FileConfig::default())
        .map(|loaded| (loaded, links))
        .map_err(|e| format!("the configuration does not load:\n{e}"))
}
