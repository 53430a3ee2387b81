//! `auth:` to [`AuthSettings`] and back.

use std::collections::BTreeMap;

use openrtmp_server::auth::{
    AclRules, AppKeys, AuthAction, AuthSettings, CallbackSettings, KeySecret, PlayTokenSettings,
    PublishKey,
};

use super::Checker;
use crate::model::{
    AclRulesSection, AclSection, AuthSection, BruteForceSection, CallbackAction, CallbackSection,
    CallbackTlsSection, NamesSection, PlayTokensSection, PublishKeyEntry, Toggle,
};
use crate::unit::{HumanDuration, Net, Pin, Sha256Hex};

/// `auth` into `a` (the defaults: everything off).
pub(super) fn auth(s: &AuthSection, a: &mut AuthSettings, k: &mut Checker) {
    if let Some(apps) = &s.publish_keys {
        a.publish_keys = apps.iter().map(|(app, keys)| app_keys(app, keys, k)).collect();
    }
    match &s.play_tokens {
        None => {}
        Some(Toggle::Off) => a.play_tokens = None,
        Some(Toggle::On(t)) => a.play_tokens = Some(play_tokens(t, k)),
    }
    match &s.callback {
        None => {}
        Some(Toggle::Off) => a.callback = None,
        Some(Toggle::On(cb)) => a.callback = Some(callback(cb, k)),
    }
    if let Some(acl) = &s.acl {
        for (section, rules) in [
            (&acl.connect, &mut a.acl.connect),
            (&acl.publish, &mut a.acl.publish),
            (&acl.play, &mut a.acl.play),
        ] {
            if let Some(section) = section {
                acl_rules(section, rules);
            }
        }
    }
    if let Some(b) = &s.brute_force {
        a.brute_force.max_failures = b.max_failures.unwrap_or(a.brute_force.max_failures);
        if let Some(window) = b.window {
            a.brute_force.window = k.nonzero("auth.brute_force.window", window.0);
        }
    }
    if let Some(max_len) = s.names.as_ref().and_then(|n| n.max_len) {
        a.names.max_len = k.at_least("auth.names.max_len", max_len, 1);
    }
}

fn app_keys(app: &str, entries: &[PublishKeyEntry], k: &mut Checker) -> AppKeys {
    let path = format!("auth.publish_keys.{app}");
    if app.trim().is_empty() {
        k.fail("auth.publish_keys", format!("{app:?} is not an app name (\"*\" for every app)"));
    }
    if entries.is_empty() {
        k.fail(&path, "at least one key is required (leave the app out to publish freely)".into());
    }
    let keys = entries
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| publish_key(&format!("{path}[{i}]"), entry, k))
        .collect();
    AppKeys { app: app.to_string(), keys }
}

fn publish_key(path: &str, e: &PublishKeyEntry, k: &mut Checker) -> Option<PublishKey> {
    if let Some(stream) = &e.stream {
        if stream.is_empty() {
            let message = "must not be empty (leave it out for any stream)";
            k.fail(&format!("{path}.stream"), message.into());
        }
    }
    let secret = match (&e.key, &e.key_sha256) {
        (Some(_), Some(_)) => {
            k.fail(path, "key or key_sha256, not both".into());
            return None;
        }
        (None, None) => {
            k.required(&format!("{path}.key"), " (or key_sha256)");
            return None;
        }
        (Some(key), None) => {
            k.secret(&format!("{path}.key"), key, "key");
            KeySecret::Plain(key.clone())
        }
        (None, Some(hash)) => KeySecret::Sha256(hash.0),
    };
    Some(PublishKey { secret, stream: e.stream.clone() })
}

fn play_tokens(s: &PlayTokensSection, k: &mut Checker) -> PlayTokenSettings {
    let secret = s.secret.clone().unwrap_or_default();
    match &s.secret {
        None => k.required("auth.play_tokens.secret", " (play_tokens: null for no play tokens)"),
        Some(secret) => k.secret("auth.play_tokens.secret", secret, "secret"),
    }
    let apps = s.apps.clone().unwrap_or_default();
    for (i, app) in apps.iter().enumerate() {
        if app.trim().is_empty() {
            k.fail(&format!("auth.play_tokens.apps[{i}]"), "must not be empty".into());
        }
    }
    PlayTokenSettings { secret, apps }
}

fn callback(s: &CallbackSection, k: &mut Checker) -> CallbackSettings {
    let url = s.url.clone().unwrap_or_default();
    match &s.url {
        None => k.required("auth.callback.url", " (callback: null for no callback)"),
        Some(url) => k.http_url("auth.callback.url", url),
    }
    let mut cb = CallbackSettings::new(url);
    if let Some(actions) = &s.actions {
        cb.actions.clear();
        for action in actions {
            let action = match action {
                CallbackAction::Connect => AuthAction::Connect,
                CallbackAction::Publish => AuthAction::Publish,
                CallbackAction::Play => AuthAction::Play,
            };
            if !cb.actions.contains(&action) {
                cb.actions.push(action);
            }
        }
    }
    if let Some(notify_url) = &s.notify_url {
        cb.notify_url = notify_url.clone().into_option();
        if let Some(url) = &cb.notify_url {
            k.http_url("auth.callback.notify_url", url);
        }
    }
    if let Some(timeout) = s.timeout {
        cb.timeout = k.nonzero("auth.callback.timeout", timeout.0);
    }
    cb.fail_open = s.fail_open.unwrap_or(cb.fail_open);
    if let Some(n) = s.breaker_failures {
        cb.breaker_failures = k.at_least("auth.callback.breaker_failures", n, 1);
    }
    if let Some(cooldown) = s.breaker_cooldown {
        cb.breaker_cooldown = k.nonzero("auth.callback.breaker_cooldown", cooldown.0);
    }
    if let Some(n) = s.notify_attempts {
        cb.notify_attempts = k.at_least("auth.callback.notify_attempts", n, 1);
    }
    if let Some(secret) = &s.signing_secret {
        cb.signing_secret = secret.clone().into_option();
        if let Some(secret) = &cb.signing_secret {
            k.secret("auth.callback.signing_secret", secret, "secret");
        }
    }
    if let Some(tls) = &s.tls {
        if let Some(files) = &tls.ca_files {
            for (i, file) in files.iter().enumerate() {
                k.readable_file(&format!("auth.callback.tls.ca_files[{i}]"), file);
            }
            cb.tls.ca_files = files.clone();
        }
        if let Some(pins) = &tls.pinned_keys {
            cb.tls.pinned_keys = pins.iter().map(|p| p.0).collect();
        }
        cb.tls.insecure = tls.insecure.unwrap_or(cb.tls.insecure);
    }
    cb
}

fn acl_rules(s: &AclRulesSection, rules: &mut AclRules) {
    if let Some(allow) = &s.allow {
        rules.allow = allow.iter().map(|n| n.0).collect();
    }
    if let Some(deny) = &s.deny {
        rules.deny = deny.iter().map(|n| n.0).collect();
    }
}

/// The `auth` section of a dump (every key), secrets passed through `secret`.
pub(super) fn to_file(a: &AuthSettings, secret: &dyn Fn(&str) -> String) -> AuthSection {
    let mut publish_keys: BTreeMap<String, Vec<PublishKeyEntry>> = BTreeMap::new();
    for app in &a.publish_keys {
        let entries = app.keys.iter().map(|key| {
            let (plain, hash) = match &key.secret {
                KeySecret::Plain(text) => (Some(secret(text)), None),
                KeySecret::Sha256(hash) => (None, Some(Sha256Hex(*hash))),
            };
            PublishKeyEntry { key: plain, key_sha256: hash, stream: key.stream.clone() }
        });
        publish_keys.entry(app.app.clone()).or_default().extend(entries);
    }
    let rules = |r: &AclRules| AclRulesSection {
        allow: Some(r.allow.iter().copied().map(Net).collect()),
        deny: Some(r.deny.iter().copied().map(Net).collect()),
    };
    AuthSection {
        publish_keys: Some(publish_keys),
        play_tokens: Some(Toggle::from_option(a.play_tokens.as_ref().map(|t| PlayTokensSection {
            secret: Some(secret(&t.secret)),
            apps: Some(t.apps.clone()),
        }))),
        callback: Some(Toggle::from_option(
            a.callback.as_ref().map(|cb| callback_file(cb, secret)),
        )),
        acl: Some(AclSection {
            connect: Some(rules(&a.acl.connect)),
            publish: Some(rules(&a.acl.publish)),
            play: Some(rules(&a.acl.play)),
        }),
        brute_force: Some(BruteForceSection {
            max_failures: Some(a.brute_force.max_failures),
            window: Some(HumanDuration(a.brute_force.window)),
        }),
        names: Some(NamesSection { max_len: Some(a.names.max_len) }),
    }
}

fn callback_file(cb: &CallbackSettings, secret: &dyn Fn(&str) -> String) -> CallbackSection {
    let d = |v| Some(HumanDuration(v));
    CallbackSection {
        url: Some(cb.url.clone()),
        actions: Some(
            cb.actions
                .iter()
                .map(|a| match a {
                    AuthAction::Connect => CallbackAction::Connect,
                    AuthAction::Publish => CallbackAction::Publish,
                    AuthAction::Play => CallbackAction::Play,
                })
                .collect(),
        ),
        notify_url: Some(Toggle::from_option(cb.notify_url.clone())),
        timeout: d(cb.timeout),
        fail_open: Some(cb.fail_open),
        breaker_failures: Some(cb.breaker_failures),
        breaker_cooldown: d(cb.breaker_cooldown),
        notify_attempts: Some(cb.notify_attempts),
        signing_secret: Some(Toggle::from_option(cb.signing_secret.as_deref().map(secret))),
        tls: Some(CallbackTlsSection {
            ca_files: Some(cb.tls.ca_files.clone()),
            pinned_keys: Some(cb.tls.pinned_keys.iter().copied().map(Pin).collect()),
            insecure: Some(cb.tls.insecure),
        }),
    }
}
