//! `relay.pull`, `relay.pull_linger` and `relay.max_hops` to the server's relay settings
//! and back (`relay.push` is in `resolve.rs`).

use openrtmp_server::relay::{
    OriginSelect as Select, PullMode as Mode, PullRule, RelaySettings, ANY, REDACTED_KEY,
};

use super::{check_push_url, Checker, REDACTED};
use crate::model::{OriginSelect, PullEntry, PullMode, RelaySection};
use crate::unit::HumanDuration;

/// The pull settings of `s` into `r`.
pub(super) fn pull(s: &RelaySection, r: &mut RelaySettings, k: &mut Checker) {
    if let Some(linger) = s.pull_linger {
        r.pull_linger = linger.0;
    }
    if let Some(max) = s.max_hops {
        r.max_hops = k.at_least("relay.max_hops", max, 1);
    }
    let Some(pull) = &s.pull else { return };
    r.pull = pull
        .iter()
        .enumerate()
        .map(|(i, entry)| pull_rule(entry, &format!("relay.pull[{i}]"), k))
        .collect();
}

/// One `relay.pull` entry: a named app, a name or `*` for the stream, at least one origin
/// URL, and `always` only for a named stream (with `*` there is nothing to start).
fn pull_rule(entry: &PullEntry, path: &str, k: &mut Checker) -> PullRule {
    let name = |field: &str, value: Option<&String>, any: bool, k: &mut Checker| {
        let value = value.cloned().unwrap_or_else(|| ANY.into());
        let bad = value.is_empty() || value.contains(['/', '?', '{', '}']);
        if bad || (!any && value == ANY) {
            let hint = if any { " (\"*\" for every one)" } else { "" };
            k.fail(&format!("{path}.{field}"), format!("{value:?} is not a name{hint}"));
        }
        value
    };
    if entry.app.is_none() {
        k.required(&format!("{path}.app"), " (the application whose streams are pulled)");
    }
    let app =
        entry.app.as_ref().map_or_else(String::new, |_| name("app", entry.app.as_ref(), false, k));
    let stream = name("stream", entry.stream.as_ref(), true, k);
    let origins = entry.origins.clone().unwrap_or_default();
    if origins.is_empty() {
        k.required(&format!("{path}.origins"), " (at least one rtmp://host/app/{stream} URL)");
    }
    for (i, url) in origins.iter().enumerate() {
        let at = format!("{path}.origins[{i}]");
        if url.contains(REDACTED) {
            k.secret(&at, REDACTED, "stream key");
        } else {
            check_push_url(&at, url, k);
        }
    }
    let mode = match entry.mode.unwrap_or(PullMode::OnDemand) {
        PullMode::OnDemand => Mode::OnDemand,
        PullMode::Always => Mode::Always,
    };
    if mode == Mode::Always && stream == ANY {
        k.fail(
            &format!("{path}.mode"),
            "always needs a concrete stream name (with stream \"*\" there is nothing to start; use on_demand)".into(),
        );
    }
    let select = match entry.select.unwrap_or(OriginSelect::Order) {
        OriginSelect::Order => Select::Order,
        OriginSelect::Hash => Select::Hash,
    };
    PullRule { app, stream, origins, mode, select }
}

/// The pull settings of `r` for `config dump` (origin keys redacted when `redact`).
pub(super) fn dump(r: &RelaySettings, s: &mut RelaySection, redact: bool) {
    s.pull_linger = Some(HumanDuration(r.pull_linger));
    s.max_hops = Some(r.max_hops);
    let url = |u: &String| {
        if redact {
            openrtmp_server::relay::redact_url(u).replace(REDACTED_KEY, REDACTED)
        } else {
            u.clone()
        }
    };
    s.pull = Some(
        r.pull
            .iter()
            .map(|rule| PullEntry {
                app: Some(rule.app.clone()),
                stream: Some(rule.stream.clone()),
                origins: Some(rule.origins.iter().map(url).collect()),
                mode: Some(match rule.mode {
                    Mode::OnDemand => PullMode::OnDemand,
                    Mode::Always => PullMode::Always,
                }),
                select: Some(match rule.select {
                    Select::Order => OriginSelect::Order,
                    Select::Hash => OriginSelect::Hash,
                }),
            })
            .collect(),
    );
}
