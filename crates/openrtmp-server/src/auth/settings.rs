//! Authentication and access-control settings (part of [`crate::Config`]). Everything is
//! off by default: the built-in defaults serve anyone, as a development server should.

use std::time::Duration;

pub use ipnet::IpNet;
pub use openrtmp_tls::{ClientTls, Fingerprint};

/// A publish key as configured.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySecret {
    /// The key itself (config files: `key: "..."`).
    Plain(String),
    /// SHA-256 of the key (config files: `key_sha256: "<64 hex digits>"`), so the file
    /// does not hold the secret.
    Sha256([u8; 32]),
}

impl std::fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySecret::Plain(_) => f.write_str("Plain(<redacted>)"),
            KeySecret::Sha256(_) => f.write_str("Sha256(<redacted>)"),
        }
    }
}

/// One publish key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishKey {
    /// The secret.
    pub secret: KeySecret,
    /// The stream this key may publish. `None`: any stream of the app. A key given as the
    /// stream name (`rtmp://host/live/<key>`) publishes under this name (or, when `None`,
    /// under the key itself).
    pub stream: Option<String>,
}

/// The publish keys of one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppKeys {
    /// App name; `*` applies to every app without an entry of its own.
    pub app: String,
    /// Accepted keys (at least one).
    pub keys: Vec<PublishKey>,
}

/// Play authorisation with HMAC-signed expiring tokens: `?expires=<unix seconds>&token=<hex>`
/// where token = hex(HMAC-SHA256(secret, `"<app>/<stream>:<expires>"`)).
#[derive(Clone, PartialEq, Eq)]
pub struct PlayTokenSettings {
    /// The shared secret (never logged).
    pub secret: String,
    /// Apps that require a token; empty: every app.
    pub apps: Vec<String>,
}

impl std::fmt::Debug for PlayTokenSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlayTokenSettings")
            .field("secret", &"<redacted>")
            .field("apps", &self.apps)
            .finish()
    }
}

/// What a callback is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthAction {
    /// `connect` (app-level).
    Connect,
    /// `publish`.
    Publish,
    /// `play`.
    Play,
}

impl AuthAction {
    /// `connect`, `publish` or `play`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthAction::Connect => "connect",
            AuthAction::Publish => "publish",
            AuthAction::Play => "play",
        }
    }
}

/// HTTP callbacks to an external authorisation service.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackSettings {
    /// Decision endpoint: JSON POST, 2xx allows, anything else denies.
    pub url: String,
    /// Which decisions are asked (default: connect, publish and play).
    pub actions: Vec<AuthAction>,
    /// Where notifications (publish_done, play_done, disconnect) go; `None`: no
    /// notifications.
    pub notify_url: Option<String>,
    /// Time allowed for a decision (default 3 s).
    pub timeout: Duration,
    /// Allow when the service cannot be asked (timeout, refused, circuit open). Default:
    /// deny (fail closed).
    pub fail_open: bool,
    /// Consecutive failures (timeouts, connection errors, 5xx) that open the circuit.
    pub breaker_failures: u32,
    /// How long an open circuit stays open before one probe request is let through.
    pub breaker_cooldown: Duration,
    /// Notification delivery attempts (with backoff) before one is given up.
    pub notify_attempts: u32,
    /// Secret for the `X-OpenRTMP-Signature: sha256=<hex HMAC of the body>` header on every
    /// request (decisions and notifications). Never logged.
    pub signing_secret: Option<String>,
    /// TLS for `https://` callback URLs (extra CAs, pinned server keys).
    pub tls: ClientTls,
}

impl std::fmt::Debug for CallbackSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackSettings")
            .field("url", &self.url)
            .field("actions", &self.actions)
            .field("notify_url", &self.notify_url)
            .field("timeout", &self.timeout)
            .field("fail_open", &self.fail_open)
            .field("breaker_failures", &self.breaker_failures)
            .field("breaker_cooldown", &self.breaker_cooldown)
            .field("notify_attempts", &self.notify_attempts)
            .field("signing_secret", &self.signing_secret.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .finish()
    }
}

/// Default decision timeout.
pub const DEFAULT_CALLBACK_TIMEOUT: Duration = Duration::from_secs(3);
/// Default consecutive failures that open the circuit.
pub const DEFAULT_BREAKER_FAILURES: u32 = 5;
/// Default time an open circuit waits before probing.
pub const DEFAULT_BREAKER_COOLDOWN: Duration = Duration::from_secs(30);
/// Default notification attempts.
pub const DEFAULT_NOTIFY_ATTEMPTS: u32 = 3;

impl CallbackSettings {
    /// Callbacks to `url` for every decision, with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        CallbackSettings {
            url: url.into(),
            actions: vec![AuthAction::Connect, AuthAction::Publish, AuthAction::Play],
            notify_url: None,
            timeout: DEFAULT_CALLBACK_TIMEOUT,
            fail_open: false,
            breaker_failures: DEFAULT_BREAKER_FAILURES,
            breaker_cooldown: DEFAULT_BREAKER_COOLDOWN,
            notify_attempts: DEFAULT_NOTIFY_ATTEMPTS,
            signing_secret: None,
            tls: ClientTls::default(),
        }
    }
}

/// Allow and deny lists for one action. Evaluation: an address in `deny` is refused; else,
/// when `allow` is not empty, an address not in `allow` is refused; else it is allowed.
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are matched as IPv4.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AclRules {
    /// Networks allowed (empty: everyone not denied).
    pub allow: Vec<IpNet>,
    /// Networks refused (checked first).
    pub deny: Vec<IpNet>,
}

/// IP access control per action. `connect` is checked first; publish and play are checked
/// on top of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AclSettings {
    /// Who may connect at all.
    pub connect: AclRules,
    /// Who may publish.
    pub publish: AclRules,
    /// Who may play.
    pub play: AclRules,
}

/// Brute-force protection: failed authentication attempts per client IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BruteForceSettings {
    /// Failures allowed per IP within `window` (0 turns the protection off). After that,
    /// attempts from the IP are refused at once, without checking or calling anything,
    /// until the window has passed.
    pub max_failures: u32,
    /// The window.
    pub window: Duration,
}

impl Default for BruteForceSettings {
    fn default() -> Self {
        BruteForceSettings { max_failures: 5, window: Duration::from_secs(60) }
    }
}

/// Rules for app and stream names (checked before anything else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRules {
    /// Longest app or stream name, in bytes.
    pub max_len: usize,
}

impl Default for NameRules {
    fn default() -> Self {
        NameRules { max_len: 128 }
    }
}

/// Everything about who may connect, publish and play.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthSettings {
    /// Publish keys per app. Apps without an entry (and no `*` entry) publish freely.
    pub publish_keys: Vec<AppKeys>,
    /// Play tokens (`None`: playing is open).
    pub play_tokens: Option<PlayTokenSettings>,
    /// HTTP callbacks (`None`: none).
    pub callback: Option<CallbackSettings>,
    /// IP allow/deny lists.
    pub acl: AclSettings,
    /// Brute-force limits.
    pub brute_force: BruteForceSettings,
    /// Name rules.
    pub names: NameRules,
}

impl AuthSettings {
    /// What is enforced, in one line for the start-up log, without a secret (no key, token
    /// secret, signing secret or callback URL, which may carry credentials):
    /// `publish keys for 2 apps (live, cam); play tokens (every app); callbacks: connect,
    /// publish; ACL: 1 allow, 2 deny; brute-force limit: 5 failures per 60s`, or
    /// `none (any app, any stream)` when nothing is.
    ///
    /// The brute-force limit is named only next to something that authenticates: without
    /// keys, tokens or callbacks no attempt can fail.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.publish_keys.is_empty() {
            let apps: Vec<&str> = self.publish_keys.iter().map(|a| a.app.as_str()).collect();
            let n = apps.len();
            let s = if n == 1 { "" } else { "s" };
            parts.push(format!("publish keys for {n} app{s} ({})", apps.join(", ")));
        }
        if let Some(tokens) = &self.play_tokens {
            let apps =
                if tokens.apps.is_empty() { "every app".into() } else { tokens.apps.join(", ") };
            parts.push(format!("play tokens ({apps})"));
        }
        if let Some(callback) = &self.callback {
            parts.push(callback_summary(callback));
        }
        let authenticates = !parts.is_empty();
        let rules = [&self.acl.connect, &self.acl.publish, &self.acl.play];
        let allow: usize = rules.iter().map(|r| r.allow.len()).sum();
        let deny: usize = rules.iter().map(|r| r.deny.len()).sum();
        if allow + deny > 0 {
            parts.push(format!("ACL: {allow} allow, {deny} deny"));
        }
        if authenticates {
            let b = &self.brute_force;
            parts.push(match b.max_failures {
                0 => "brute-force limit: off".into(),
                n => format!("brute-force limit: {n} failures per {:?}", b.window),
            });
        }
        if parts.is_empty() {
            "none (any app, any stream)".into()
        } else {
            parts.join("; ")
        }
    }
}

/// `callbacks: connect, publish (fail open); notifications`.
fn callback_summary(callback: &CallbackSettings) -> String {
    let actions: Vec<&str> = callback.actions.iter().map(|a| a.as_str()).collect();
    let mut text = if actions.is_empty() {
        "callbacks: no decisions".to_string()
    } else {
        format!("callbacks: {}", actions.join(", "))
    };
    if callback.fail_open && !actions.is_empty() {
        text.push_str(" (fail open)");
    }
    if callback.notify_url.is_some() {
        text.push_str("; notifications");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> PublishKey {
        PublishKey { secret: KeySecret::Plain(secret.into()), stream: None }
    }

    #[test]
    fn summary_of_the_defaults_is_none() {
        assert_eq!(AuthSettings::default().summary(), "none (any app, any stream)");
    }

    #[test]
    fn summary_names_what_is_enforced_without_secrets() {
        let mut callback = CallbackSettings::new("http://user:pw@auth.example/decide");
        callback.actions = vec![AuthAction::Connect, AuthAction::Publish];
        callback.signing_secret = Some("sign-s3cret".into());
        let settings = AuthSettings {
            publish_keys: vec![
                AppKeys { app: "live".into(), keys: vec![key("key-s3cret")] },
                AppKeys { app: "cam".into(), keys: vec![key("other-s3cret"), key("third")] },
            ],
            play_tokens: Some(PlayTokenSettings { secret: "tok-s3cret".into(), apps: vec![] }),
            callback: Some(callback),
            acl: AclSettings {
                connect: AclRules { allow: vec![], deny: vec!["10.0.0.0/8".parse().unwrap()] },
                publish: AclRules {
                    allow: vec!["127.0.0.1/32".parse().unwrap()],
                    deny: vec!["192.0.2.0/24".parse().unwrap()],
                },
                play: AclRules::default(),
            },
            ..AuthSettings::default()
        };
        let summary = settings.summary();
        assert_eq!(
            summary,
            "publish keys for 2 apps (live, cam); play tokens (every app); \
             callbacks: connect, publish; ACL: 1 allow, 2 deny; \
             brute-force limit: 5 failures per 60s"
        );
        for secret in ["s3cret", "pw", "auth.example", "third"] {
            assert!(!summary.contains(secret), "{secret} in {summary}");
        }
    }

    #[test]
    fn summary_parts_alone() {
        let only_acl = AuthSettings {
            acl: AclSettings {
                play: AclRules { allow: vec!["::1/128".parse().unwrap()], deny: vec![] },
                ..AclSettings::default()
            },
            ..AuthSettings::default()
        };
        assert_eq!(only_acl.summary(), "ACL: 1 allow, 0 deny");
        let mut callback = CallbackSettings::new("http://127.0.0.1:9000/auth");
        callback.fail_open = true;
        callback.notify_url = Some("http://127.0.0.1:9000/notify".into());
        let tokens_and_callback = AuthSettings {
            play_tokens: Some(PlayTokenSettings {
                secret: "x".into(),
                apps: vec!["vip".into(), "paid".into()],
            }),
            callback: Some(callback),
            brute_force: BruteForceSettings { max_failures: 0, ..BruteForceSettings::default() },
            ..AuthSettings::default()
        };
        assert_eq!(
            tokens_and_callback.summary(),
            "play tokens (vip, paid); callbacks: connect, publish, play (fail open); \
             notifications; brute-force limit: off"
        );
        let one_app = AuthSettings {
            publish_keys: vec![AppKeys { app: "*".into(), keys: vec![key("k")] }],
            ..AuthSettings::default()
        };
        assert_eq!(
            one_app.summary(),
            "publish keys for 1 app (*); brute-force limit: 5 failures per 60s"
        );
    }
}
