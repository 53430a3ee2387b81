//! `auth:` who may connect, publish and play: publish keys, play tokens, the HTTP callback,
//! IP access lists, brute-force limits and name rules.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{check, toggle, Item, Shape, Spec, Toggle};
use crate::unit::{HumanDuration, Net, Pin, Sha256Hex};

section! {
    /// `auth:` authentication and access control; everything is off by default.
    AuthSection {
        /// Publish keys per app name (`*`: every app without an entry of its own).
        publish_keys: BTreeMap<String, Vec<PublishKeyEntry>>,
        /// Play tokens; `null` for none; default none.
        play_tokens: Toggle<PlayTokensSection> => "toggle",
        /// HTTP callbacks; `null` for none; default none.
        callback: Toggle<CallbackSection> => "toggle",
        /// IP allow and deny lists.
        acl: AclSection,
        /// Failed attempts per IP before it is blocked for a while.
        brute_force: BruteForceSection,
        /// Rules for app and stream names.
        names: NamesSection,
    }
}

section! {
    /// One publish key: `key` or `key_sha256`, and optionally the stream it may publish.
    PublishKeyEntry {
        /// The key itself (secret).
        key: String,
        /// SHA-256 of the key, 64 hex digits (`printf %s KEY | sha256sum`).
        key_sha256: Sha256Hex,
        /// The only stream this key may publish; absent: any stream of the app.
        stream: String,
    }
}

section! {
    /// `auth.play_tokens:` players need `?expires=<unix>&token=<hex HMAC>`.
    PlayTokensSection {
        /// The HMAC secret (required).
        secret: String,
        /// Apps that require a token; empty: every app.
        apps: Vec<String>,
    }
}

section! {
    /// `auth.callback:` an HTTP service that decides and is notified.
    CallbackSection {
        /// Decision endpoint, `http://` or `https://` (required).
        url: String,
        /// Decisions asked: `connect`, `publish`, `play`; default all three.
        actions: Vec<CallbackAction>,
        /// Where notifications go; `null` for none; default none.
        notify_url: Toggle<String> => "toggle",
        /// Time allowed for a decision; default 3s.
        timeout: HumanDuration,
        /// Allow when the service cannot answer; default false.
        fail_open: bool,
        /// Consecutive failures that open the circuit; default 5.
        breaker_failures: u32,
        /// How long an open circuit waits before one probe; default 30s.
        breaker_cooldown: HumanDuration,
        /// Notification delivery attempts; default 3.
        notify_attempts: u32,
        /// Secret of the `X-OpenRTMP-Signature` header; `null` for none; default none.
        signing_secret: Toggle<String> => "toggle",
        /// TLS for `https://` URLs.
        tls: CallbackTlsSection,
    }
}

section! {
    /// `auth.callback.tls:` TLS for `https://` callback URLs.
    CallbackTlsSection {
        /// Extra trusted roots (PEM files).
        ca_files: Vec<PathBuf>,
        /// SHA-256 fingerprints of the service's public key (SubjectPublicKeyInfo).
        pinned_keys: Vec<Pin>,
        /// Skip chain and name checks (development only; pins still apply); default false.
        insecure: bool,
    }
}

section! {
    /// `auth.acl:` IP access lists per action.
    AclSection {
        /// Who may connect at all.
        connect: AclRulesSection,
        /// Who may publish.
        publish: AclRulesSection,
        /// Who may play.
        play: AclRulesSection,
    }
}

section! {
    /// Allow and deny lists of one action (CIDR networks or addresses).
    AclRulesSection {
        /// Networks allowed; empty: everyone not denied.
        allow: Vec<Net>,
        /// Networks refused (checked first).
        deny: Vec<Net>,
    }
}

section! {
    /// `auth.brute_force:` failed attempts per client IP.
    BruteForceSection {
        /// Failures allowed per IP within `window` (0: no limit); default 5.
        max_failures: u32,
        /// The window, and how long an IP stays blocked; default 1m.
        window: HumanDuration,
    }
}

section! {
    /// `auth.names:` rules for app and stream names.
    NamesSection {
        /// Longest app or stream name, in bytes; default 128.
        max_len: usize,
    }
}

choice! {
    /// A decision the callback is asked about.
    CallbackAction, "a callback action" {
        /// `connect`.
        Connect = "connect",
        /// `publish`.
        Publish = "publish",
        /// `play`.
        Play = "play",
    }
}

const STRINGS: Shape = Shape::List(Item::Value(check::<String>));
const NETS: Shape = Shape::List(Item::Value(check::<Net>));

const PUBLISH_KEY: Spec = Spec {
    name: "publish key",
    keys: PublishKeyEntry::KEYS,
    check: check::<PublishKeyEntry>,
    nested: &[],
};

const PLAY_TOKENS: Spec = Spec {
    name: "play_tokens",
    keys: PlayTokensSection::KEYS,
    check: check::<PlayTokensSection>,
    nested: &[("apps", STRINGS)],
};

const CALLBACK_TLS: Spec = Spec {
    name: "tls",
    keys: CallbackTlsSection::KEYS,
    check: check::<CallbackTlsSection>,
    nested: &[
        ("ca_files", Shape::List(Item::Value(check::<PathBuf>))),
        ("pinned_keys", Shape::List(Item::Value(check::<Pin>))),
    ],
};

const CALLBACK: Spec = Spec {
    name: "callback",
    keys: CallbackSection::KEYS,
    check: check::<CallbackSection>,
    nested: &[
        ("actions", Shape::List(Item::Value(check::<CallbackAction>))),
        ("tls", Shape::Section(&CALLBACK_TLS, false)),
    ],
};

const ACL_RULES: Spec = Spec {
    name: "acl",
    keys: AclRulesSection::KEYS,
    check: check::<AclRulesSection>,
    nested: &[("allow", NETS), ("deny", NETS)],
};

const ACL: Spec = Spec {
    name: "acl",
    keys: AclSection::KEYS,
    check: check::<AclSection>,
    nested: &[
        ("connect", Shape::Section(&ACL_RULES, false)),
        ("publish", Shape::Section(&ACL_RULES, false)),
        ("play", Shape::Section(&ACL_RULES, false)),
    ],
};

const BRUTE_FORCE: Spec = Spec {
    name: "brute_force",
    keys: BruteForceSection::KEYS,
    check: check::<BruteForceSection>,
    nested: &[],
};

const NAMES: Spec =
    Spec { name: "names", keys: NamesSection::KEYS, check: check::<NamesSection>, nested: &[] };

pub(super) const AUTH: Spec = Spec {
    name: "auth",
    keys: AuthSection::KEYS,
    check: check::<AuthSection>,
    nested: &[
        ("publish_keys", Shape::Names(Item::Section(&PUBLISH_KEY))),
        ("play_tokens", Shape::Section(&PLAY_TOKENS, true)),
        ("callback", Shape::Section(&CALLBACK, true)),
        ("acl", Shape::Section(&ACL, false)),
        ("brute_force", Shape::Section(&BRUTE_FORCE, false)),
        ("names", Shape::Section(&NAMES, false)),
    ],
};
