//! OpenRTMP configuration: a YAML or JSON file, the environment and command-line flags,
//! layered into one [`openrtmp_server::Config`], with every problem reported by path.
//!
//! # Precedence
//!
//! Lowest to highest; a higher layer replaces single keys, not whole sections:
//!
//! 1. built-in defaults ([`openrtmp_server::Config::default`]);
//! 2. the file (`.json` is JSON, anything else YAML: see [`Format::from_path`]);
//! 3. environment variables `OPENRTMP_<SECTION>__<KEY>` (nested keys joined by `__`,
//!    case-insensitive): `OPENRTMP_STREAMS__GOP_CACHE=3s`, `OPENRTMP_LISTEN='["0.0.0.0:1935"]'`
//!    (or one address), `OPENRTMP_API__TOKEN=x`, `OPENRTMP_API__LISTEN=null`,
//!    `OPENRTMP_TLS__CERT=/etc/openrtmp/cert.pem`, `OPENRTMP_AUTH__CALLBACK__URL=http://..`.
//!    A whole section may be given as JSON (`OPENRTMP_STREAMS='{"gop_cache": "3s"}'`), and
//!    so may a list (one value is a list of one); variables apply in name order, so a
//!    specific key beats its section. Each value is read per field type: JSON when it is
//!    JSON (`5`, `true`, `null`, `[..]`), else text. [`ENV_IGNORED`] names are left to the
//!    CLI. A variable whose name is not a configuration key (`OPENRTMP_PORT`, which
//!    Kubernetes sets for a Service named `openrtmp`) is skipped with a warning
//!    ([`Loaded::warnings`], [`env_warnings`]) naming the variable, never its value; a
//!    variable that names a key but holds a bad value is an error, as in a file;
//! 4. `overrides`: a partial [`FileConfig`] the CLI fills from its flags.
//!
//! `null` switches off an optional setting (`api.listen`, `api.token`, `log.file`,
//! `log.rotate_size`, `tls`, `tls.acme`, `tls.client_auth`, `auth.play_tokens`,
//! `auth.callback`, ...: every [`Toggle`]); an absent key keeps the layer below.
//!
//! # Validation
//!
//! Every problem is reported, each as a [`ConfigIssue`] `path: message`, never only the
//! first: YAML/JSON syntax errors (`line 3 column 5: ...`), unknown keys with the nearest
//! known one (`streams.gop_cach: unknown key (did you mean gop_cache?) (line 4 column 3)`),
//! type errors from the parsers, each list element on its own
//! (`auth.acl.publish.allow[0]: "10.0.0.300/8" is not an IP network (CIDR)`), range and
//! consistency errors (`rtmp.chunk_size: 64 is out of range 128..=65536`,
//! `tls.cert: /etc/openrtmp/cert.pem does not exist`), and
//! [`openrtmp_server::Config::validate`]. A value refused while reading is not reported
//! again as missing. Durations are `"10s"`, `"500ms"`, `"2m"`, `"30d"` or seconds; sizes
//! are `"32MiB"`, `"4KiB"`, `"100MB"` or bytes (see [`mod@unit`]).
//!
//! Every key, its default and the memory each limit allows: `docs/configuration.md`.
//!
//! figment (a dependency for its env support) is not used for merging: its extraction stops
//! at the first error, and this crate must list them all.

use std::fmt;
use std::path::Path;

use openrtmp_server::Config;
use serde_json::{Map, Value};

mod model;
mod resolve;
mod source;
pub mod unit;

pub use model::{
    AclRulesSection, AclSection, AcmeChallenge, AcmeSection, ApiSection, AuthSection, Bitrate,
    BruteForceSection, CallbackAction, CallbackSection, CallbackTlsSection, ClientAuthSection,
    FileConfig, LimitsSection, LogSection, NamesSection, NetworkPolicy, OriginSelect,
    PlatformSection, PlayTokensSection, ProxyProtocolSection, PublishKeyEntry, PullEntry, PullMode,
    PushEntry, RecordEntry, RecordFormat, RecordSection, RelaySection, RelayTlsSection,
    RetentionSection, RtmpSection, ShutdownSection, StreamsSection, TlsSection, TlsVersion, Toggle,
    WebrtcSection, ROOT_KEYS,
};
pub use resolve::REDACTED;

/// Prefix of configuration environment variables.
pub const ENV_PREFIX: &str = "OPENRTMP_";

/// `OPENRTMP_` variables that are not settings (read by the CLI): the config file path.
pub const ENV_IGNORED: &[&str] = &["OPENRTMP_CONFIG"];

/// A configuration file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML 1.2 (JSON is valid YAML too).
    Yaml,
    /// JSON.
    Json,
}

impl Format {
    /// `.json` is JSON; `.yaml`, `.yml` and anything else YAML.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// A loaded configuration and the layers it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The effective settings.
    pub config: Config,
    /// Layers that contributed, lowest first: `defaults`, `file PATH`, `env NAME` per
    /// variable, `flags`.
    pub sources: Vec<String>,
    /// `OPENRTMP_*` variables skipped because their name is not a configuration key, one
    /// issue each (path: the variable's name; never its value, which may be a secret). The
    /// caller logs them once logging is up: logging is configured from this result.
    pub warnings: Vec<ConfigIssue>,
}

/// One problem: the setting's path (`streams.gop_cache`, `listen[1]`; empty for the whole
/// document) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted path of the setting.
    pub path: String,
    /// What is wrong, with the position or variable it came from when known.
    pub message: String,
}

impl ConfigIssue {
    /// An issue at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigIssue { path: path.into(), message: message.into() }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found, in source order (file, environment, flags, then range checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigIssue>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Loads defaults, then `file`, then the `OPENRTMP_*` entries of `env`, then `overrides`
/// (see the crate docs for the rules). Pass `std::env::vars().collect::<Vec<_>>()` for the
/// process environment.
pub fn load(
    file: Option<&Path>,
    env: &[(String, String)],
    overrides: &FileConfig,
) -> Result<Loaded, ConfigErrors> {
    let mut issues = Vec::new();
    let mut sources = vec!["defaults".to_string()];
    let mut merged = Map::new();
    if let Some(path) = file {
        sources.push(format!("file {}", path.display()));
        merged = read_file(path, &mut issues);
    }
    let mut vars: Vec<&(String, String)> = env
        .iter()
        .filter(|(name, _)| name.starts_with(ENV_PREFIX) && !ENV_IGNORED.contains(&name.as_str()))
        .collect();
    vars.sort();
    let mut warnings = Vec::new();
    for (name, value) in vars {
        if let Some(issue) = env_warning(name) {
            warnings.push(issue);
            continue;
        }
        sources.push(format!("env {name}"));
        let node = source::env_node(name, &name[ENV_PREFIX.len()..], value);
        source::merge(&mut merged, source::walk(&node, &mut issues));
    }
    if *overrides != FileConfig::default() {
        sources.push("flags".to_string());
        match serde_json::to_value(overrides) {
            Ok(Value::Object(flags)) => source::merge(&mut merged, flags),
            other => issues.push(ConfigIssue::new("", format!("flags: {other:?}"))),
        }
    }
    resolve_checked(merged, issues).map(|config| Loaded { config, sources, warnings })
}

/// The warning for an `OPENRTMP_*` variable whose name is not a configuration key; `None`
/// for a key (or a name outside the prefix, or one of [`ENV_IGNORED`]).
fn env_warning(name: &str) -> Option<ConfigIssue> {
    let key = name.strip_prefix(ENV_PREFIX)?;
    if ENV_IGNORED.contains(&name) {
        return None;
    }
    let why = source::env_key_problem(key)?;
    Some(ConfigIssue::new(name, format!("not a configuration key ({why}); ignored")))
}

/// The warnings [`load`] gives for `env` (see [`Loaded::warnings`]), in name order, without
/// loading anything: `openrtmp config check` shows what `serve` will skip.
pub fn env_warnings(env: &[(String, String)]) -> Vec<ConfigIssue> {
    let mut names: Vec<&str> = env.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    names.into_iter().filter_map(env_warning).collect()
}

/// Turns checked entries into the server configuration, adding the range checks; fails with
/// every issue found so far and since.
fn resolve_checked(
    merged: Map<String, Value>,
    mut issues: Vec<ConfigIssue>,
) -> Result<Config, ConfigErrors> {
    let model = serde_json::from_value::<FileConfig>(Value::Object(merged)).unwrap_or_else(|e| {
        // Unreachable in practice: every merged entry passed its own check.
        issues.push(ConfigIssue::new("", e.to_string()));
        FileConfig::default()
    });
    let (config, range_issues) = resolve::to_config(&model);
    // A value refused while reading is absent here: it is not reported again as missing.
    let refused = |path: &str| {
        issues.iter().any(|i| {
            i.path == path || i.path.strip_prefix(path).is_some_and(|rest| rest.starts_with('['))
        })
    };
    let range_issues: Vec<ConfigIssue> =
        range_issues.into_iter().filter(|i| !refused(&i.path)).collect();
    issues.extend(range_issues);
    if issues.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors(issues))
    }
}

fn read_file(path: &Path, issues: &mut Vec<ConfigIssue>) -> Map<String, Value> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            issues.push(ConfigIssue::new("", format!("cannot read {}: {e}", path.display())));
            return Map::new();
        }
    };
    parse(&text, Format::from_path(path), issues)
}

/// Parses and checks one document's entries.
fn parse(text: &str, format: Format, issues: &mut Vec<ConfigIssue>) -> Map<String, Value> {
    let node = match format {
        Format::Yaml => source::parse_yaml(text),
        Format::Json => source::parse_json(text),
    };
    match node {
        Ok(node) => source::walk(&node, issues),
        Err(issue) => {
            issues.push(issue);
            Map::new()
        }
    }
}

/// Checks a file alone (no environment, no flags): `openrtmp config check FILE`.
pub fn check_file(path: &Path) -> Result<Config, ConfigErrors> {
    load(Some(path), &[], &FileConfig::default()).map(|loaded| loaded.config)
}

/// Checks a document given as text, as [`check_file`] does for a file.
pub fn check_str(text: &str, format: Format) -> Result<Config, ConfigErrors> {
    let mut issues = Vec::new();
    let merged = parse(text, format, &mut issues);
    resolve_checked(merged, issues)
}

/// The effective configuration as a complete file (every key), every secret (`api.token`,
/// plain publish keys, `auth.play_tokens.secret`, `auth.callback.signing_secret`) written
/// as [`REDACTED`]. It reads back with [`check_file`] to the same settings, except that a
/// redacted secret is refused until the real one is put back.
pub fn dump(config: &Config, format: Format) -> String {
    let model = resolve::to_file(config, true);
    let text = match format {
        Format::Yaml => serde_saphyr::to_string(&model).map_err(|e| e.to_string()),
        Format::Json => serde_json::to_string_pretty(&model).map_err(|e| e.to_string()),
    };
    // Serializing plain strings, numbers and maps cannot fail; keep a readable fallback.
    text.unwrap_or_else(|e| format!("# cannot write the configuration: {e}\n"))
}

/// The effective configuration as a complete file model (every key) with the secrets in
/// clear, for layering a change over a running configuration in the same process (the
/// CLI's `PATCH /api/v1/config`). Never print or log it: [`dump`] is the redacted form.
pub fn to_file_with_secrets(config: &Config) -> FileConfig {
    resolve::to_file(config, false)
}

#[cfg(test)]
mod tests;
