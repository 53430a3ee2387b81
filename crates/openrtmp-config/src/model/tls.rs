//! `tls:` the RTMPS listeners' certificate: PEM files, a self-signed one, or ACME.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{check, toggle, Item, Shape, Spec, Toggle};
use crate::unit::{Addr, HumanDuration, Pin};

section! {
    /// `tls:` TLS for the RTMPS listeners. Exactly one certificate source: `cert` + `key`,
    /// `self_signed: true`, or `acme`.
    TlsSection {
        /// Certificate chain (PEM, leaf first); with `key`; reloaded when it changes.
        cert: Toggle<PathBuf> => "toggle",
        /// Private key (PEM: PKCS#8, PKCS#1 or SEC1); with `cert`.
        key: Toggle<PathBuf> => "toggle",
        /// Generate a self-signed certificate at start (development only).
        self_signed: bool,
        /// Names of the self-signed certificate besides `localhost`, `127.0.0.1` and `::1`.
        self_signed_names: Vec<String>,
        /// Certificates issued and renewed by an ACME CA; `null` for none.
        acme: Toggle<AcmeSection> => "toggle",
        /// Lowest TLS version accepted, `"1.2"` or `"1.3"`; default `"1.2"`.
        min_version: TlsVersion,
        /// How often `cert` and `key` are checked for changes; default 10s.
        reload_interval: HumanDuration,
        /// Client certificates (mutual TLS); `null` for none; default none.
        client_auth: Toggle<ClientAuthSection> => "toggle",
    }
}

section! {
    /// `tls.acme:` issuance and renewal by an ACME CA (RFC 8555).
    AcmeSection {
        /// Directory URL; default Let's Encrypt's production directory.
        directory: String,
        /// Names on the certificate (at least one).
        domains: Vec<String>,
        /// Contact addresses, `mailto:` URIs.
        contact: Vec<String>,
        /// Where the account and the certificates are kept between runs (required).
        cache_dir: PathBuf,
        /// `tls-alpn-01` (answered on the RTMPS listener) or `http-01`; default `tls-alpn-01`.
        challenge: AcmeChallenge,
        /// Listen address of the HTTP-01 responder; default `0.0.0.0:80`.
        http01_listen: Toggle<Addr> => "toggle",
        /// Renew when the certificate expires within this; default 30d.
        renew_before: HumanDuration,
        /// How often the expiry is checked; default 12h.
        check_interval: HumanDuration,
        /// Extra root certificate (PEM) trusted for the directory's HTTPS; `null` for none.
        directory_ca: Toggle<PathBuf> => "toggle",
    }
}

section! {
    /// `tls.client_auth:` which client certificates are accepted.
    ClientAuthSection {
        /// SHA-256 fingerprints of the accepted client certificates (at least one).
        pinned: Vec<Pin>,
        /// Refuse clients without a certificate; default true.
        required: bool,
    }
}

choice! {
    /// `tls.min_version`.
    TlsVersion, "a TLS version" {
        /// TLS 1.2 and 1.3.
        V12 = "1.2",
        /// TLS 1.3 only.
        V13 = "1.3",
    }
}

choice! {
    /// `tls.acme.challenge`.
    AcmeChallenge, "an ACME challenge" {
        /// TLS-ALPN-01 (RFC 8737), answered on the RTMPS listener.
        TlsAlpn01 = "tls-alpn-01",
        /// HTTP-01, answered on `http01_listen`.
        Http01 = "http-01",
    }
}

const STRINGS: Shape = Shape::List(Item::Value(check::<String>));
const PINS: Shape = Shape::List(Item::Value(check::<Pin>));

const ACME: Spec = Spec {
    name: "acme",
    keys: AcmeSection::KEYS,
    check: check::<AcmeSection>,
    nested: &[("domains", STRINGS), ("contact", STRINGS)],
};

const CLIENT_AUTH: Spec = Spec {
    name: "client_auth",
    keys: ClientAuthSection::KEYS,
    check: check::<ClientAuthSection>,
    nested: &[("pinned", PINS)],
};

pub(super) const TLS: Spec = Spec {
    name: "tls",
    keys: TlsSection::KEYS,
    check: check::<TlsSection>,
    nested: &[
        ("self_signed_names", STRINGS),
        ("acme", Shape::Section(&ACME, true)),
        ("client_auth", Shape::Section(&CLIENT_AUTH, true)),
    ],
};
