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
//!    (or one address), `OPENRTMP_API__TOKEN=x`, `OPENRTMP_API__LISTEN=null`. A whole section
//!    may be given as JSON (`OPENRTMP_STREAMS='{"gop_cache": "3s"}'`); variables apply in name
//!    order, so a specific key beats its section. Each value is read per field type: JSON
//!    when it is JSON (`5`, `true`, `null`, `[..]`), else text. [`ENV_IGNORED`] names are
//!    left to the CLI;
//! 4. `overrides`: a partial [`FileConfig`] the CLI fills from its flags.
//!
//! `null` switches off `api.listen`, `api.token`, `log.file` and `log.rotate_size`; an
//! absent key keeps the layer below.
//!
//! # Validation
//!
//! Every problem is reported, each as a [`ConfigIssue`] `path: message`, never only the
//! first: YAML/JSON syntax errors (`line 3 column 5: ...`), unknown keys with the nearest
//! known one (`streams.gop_cach: unknown key (did you mean gop_cache?) (line 4 column 3)`),
//! type errors from the parsers, range errors
//! (`rtmp.chunk_size: 64 is out of range 128..=65536`), and
//! [`openrtmp_server::Config::validate`]. Durations are `"10s"`, `"500ms"`, `"2m"` or
//! seconds; sizes are `"32MiB"`, `"4KiB"`, `"100MB"` or bytes (see [`mod@unit`]).
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
    ApiSection, FileConfig, LimitsSection, LogSection, RtmpSection, ShutdownSection,
    StreamsSection, Toggle, ROOT_KEYS,
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
    for (name, value) in vars {
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
    resolve_checked(merged, issues).map(|config| Loaded { config, sources })
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

/// The effective configuration as a complete file (every key), `api.token` written as
/// [`REDACTED`]. It reads back with [`check_file`] to the same settings, except that a
/// redacted token is refused until the real one is put back.
pub fn dump(config: &Config, format: Format) -> String {
    let model = resolve::to_file(config);
    let text = match format {
        Format::Yaml => serde_saphyr::to_string(&model).map_err(|e| e.to_string()),
        Format::Json => serde_json::to_string_pretty(&model).map_err(|e| e.to_string()),
    };
    // Serializing plain strings, numbers and maps cannot fail; keep a readable fallback.
    text.unwrap_or_else(|e| format!("# cannot write the configuration: {e}\n"))
}

#[cfg(test)]
mod tests;
