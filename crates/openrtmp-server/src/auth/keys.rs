//! Publish keys. An app with keys (its own entry, else the `*` entry) only accepts
//! publishers that present one of them: as the `?key=` query parameter (the stream name
//! is then the name part), or as the stream name itself (`rtmp://host/live/<key>`, then the
//! stream is published under the key's bound name, or under the key when unbound).
//!
//! Every key is held as its SHA-256 digest, and a presented key is hashed and compared
//! with each digest in constant time: neither the length nor the content of a configured
//! key shows in the timing of a refusal.

use std::collections::HashMap;

use ring::digest;

use super::names::{self, NameKind};
use super::{AppKeys, AuthError, KeySecret};

/// The `*` entry.
const ANY_APP: &str = "*";

/// The compiled publish keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct PublishKeys {
    apps: HashMap<String, Vec<Key>>,
}

#[derive(Clone)]
struct Key {
    digest: [u8; 32],
    /// Already passed the stream name rules.
    stream: Option<String>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("stream", &self.stream).finish_non_exhaustive()
    }
}

impl PublishKeys {
    /// Compiles the keys; a key bound to a stream name that breaks the name rules is an
    /// error (it could never be published).
    pub(crate) fn new(apps: &[AppKeys], max_len: usize) -> Result<PublishKeys, AuthError> {
        let mut compiled: HashMap<String, Vec<Key>> = HashMap::new();
        for entry in apps {
            let app = entry.app.trim_matches('/').to_owned();
            let keys = compiled.entry(app.clone()).or_default();
            for key in &entry.keys {
                let stream = match &key.stream {
                    Some(stream) => Some(
                        names::check(NameKind::Stream, stream, max_len)
                            .map_err(|reason| AuthError::BadKeyStream {
                                app: app.clone(),
                                stream: stream.clone(),
                                reason,
                            })?
                            .to_owned(),
                    ),
                    None => None,
                };
                let digest = match &key.secret {
                    KeySecret::Plain(plain) => sha256(plain),
                    KeySecret::Sha256(digest) => *digest,
                };
                keys.push(Key { digest, stream });
            }
        }
        Ok(PublishKeys { apps: compiled })
    }

    /// Whether publishing to `app` needs a key.
    pub(crate) fn required(&self, app: &str) -> bool {
        self.keys_for(app).is_some()
    }

    /// Checks a publish request; returns the stream name to publish under. `name` is the
    /// checked stream name, `query_key` the `?key=` parameter if any. The error is the
    /// reason to give (it never contains the key).
    pub(crate) fn check(
        &self,
        app: &str,
        name: &str,
        query_key: Option<&str>,
    ) -> Result<String, String> {
        let Some(keys) = self.keys_for(app) else {
            return Ok(name.to_owned());
        };
        let invalid = || format!("invalid stream key for app {app}");
        match query_key {
            Some(given) => {
                let key = find(keys, given).ok_or_else(invalid)?;
                match &key.stream {
                    Some(bound) if bound != name => Err(format!(
                        "this stream key for app {app} may only publish the stream {bound}"
                    )),
                    _ => Ok(name.to_owned()),
                }
            }
            None => {
                let key = find(keys, name).ok_or_else(invalid)?;
                Ok(key.stream.clone().unwrap_or_else(|| name.to_owned()))
            }
        }
    }

    fn keys_for(&self, app: &str) -> Option<&[Key]> {
        self.apps.get(app).or_else(|| self.apps.get(ANY_APP)).map(Vec::as_slice)
    }
}

/// The matching key; every key is compared, so the time taken does not tell which one
/// (or whether any) matched.
fn find<'a>(keys: &'a [Key], given: &str) -> Option<&'a Key> {
    let given = sha256(given);
    keys.iter().fold(None, |found, key| {
        let equal = constant_time_eq(&key.digest, &given);
        found.or(if equal { Some(key) } else { None })
    })
}

fn sha256(data: &str) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data.as_bytes()).as_ref());
    out
}

/// Compares two digests without an early exit.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::super::PublishKey;
    use super::*;

    fn plain(key: &str, stream: Option<&str>) -> PublishKey {
        PublishKey { secret: KeySecret::Plain(key.into()), stream: stream.map(Into::into) }
    }

    fn keys() -> PublishKeys {
        PublishKeys::new(
            &[
                AppKeys {
                    app: "live".into(),
                    keys: vec![
                        plain("s3cret", None),
                        plain("cam-key", Some("cam")),
                        PublishKey {
                            secret: KeySecret::Sha256(sha256("hashed-key")),
                            stream: Some("studio".into()),
                        },
                    ],
                },
                AppKeys { app: "*".into(), keys: vec![plain("any-key", None)] },
                AppKeys { app: "/open/".into(), keys: vec![] },
            ],
            128,
        )
        .unwrap()
    }

    #[test]
    fn key_as_stream_name() {
        let k = keys();
        assert_eq!(k.check("live", "s3cret", None), Ok("s3cret".into()));
        assert_eq!(k.check("live", "cam-key", None), Ok("cam".into()));
        assert_eq!(k.check("live", "hashed-key", None), Ok("studio".into()));
        let err = k.check("live", "guess", None).unwrap_err();
        assert_eq!(err, "invalid stream key for app live");
    }

    #[test]
    fn key_in_query() {
        let k = keys();
        assert_eq!(k.check("live", "anything", Some("s3cret")), Ok("anything".into()));
        assert_eq!(k.check("live", "cam", Some("cam-key")), Ok("cam".into()));
        assert_eq!(k.check("live", "studio", Some("hashed-key")), Ok("studio".into()));
        // A bound key publishes only its stream.
        let err = k.check("live", "other", Some("cam-key")).unwrap_err();
        assert!(err.contains("only publish the stream cam"), "{err}");
        assert!(!err.contains("cam-key"), "{err}");
        assert!(k.check("live", "cam", Some("wrong")).is_err());
        // The hash itself is not a key.
        let hex: String = sha256("hashed-key").iter().map(|b| format!("{b:02x}")).collect();
        assert!(k.check("live", "studio", Some(&hex)).is_err());
    }

    #[test]
    fn wildcard_and_free_apps() {
        let k = keys();
        assert!(k.required("other"));
        assert_eq!(k.check("other", "any-key", None), Ok("any-key".into()));
        assert!(k.check("other", "s3cret", None).is_err(), "live's keys are live's only");
        // An app's own entry replaces the `*` entry, even an empty one (nobody publishes).
        assert!(k.check("live", "any-key", None).is_err());
        assert!(k.check("open", "x", Some("any-key")).is_err());
        let free = PublishKeys::new(&[], 128).unwrap();
        assert!(!free.required("live"));
        assert_eq!(free.check("live", "cam", Some("whatever")), Ok("cam".into()));
    }

    #[test]
    fn bound_stream_names_are_checked() {
        let err = PublishKeys::new(
            &[AppKeys { app: "live".into(), keys: vec![plain("k", Some("../x"))] }],
            128,
        )
        .unwrap_err();
        assert!(matches!(err, AuthError::BadKeyStream { .. }), "{err}");
        assert!(!err.to_string().contains("\"k\""));
    }
}
