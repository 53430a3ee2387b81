//! `rtmps_listen` and `tls:` to [`ServerTlsSettings`] and back.

use std::net::SocketAddr;

use openrtmp_server::Config;
use openrtmp_tls::{
    AcmeChallenge as Challenge, AcmeSettings, CertSource, ClientAuthSettings, MinTlsVersion,
    ServerTlsSettings, DEFAULT_CHECK_INTERVAL, DEFAULT_RELOAD_INTERVAL, DEFAULT_RENEW_BEFORE,
};

use super::Checker;
use crate::model::{
    AcmeChallenge, AcmeSection, ClientAuthSection, FileConfig, TlsSection, TlsVersion, Toggle,
};
use crate::unit::{Addr, HumanDuration, Pin};

/// Default `tls.acme.directory`: Let's Encrypt's production directory.
const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// Default `tls.acme.http01_listen`: port 80 of every interface (where the CA connects).
const DEFAULT_HTTP01_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 80);

/// `rtmps_listen` and `tls` into `c` (after `listen`).
pub(super) fn tls(file: &FileConfig, c: &mut Config, k: &mut Checker) {
    if let Some(listen) = &file.rtmps_listen {
        c.rtmps_listen = listen.iter().map(|a| a.0).collect();
        for (i, addr) in c.rtmps_listen.iter().enumerate() {
            // Port 0 picks a free port: the same entry in both lists is two listeners.
            if addr.port() != 0 && c.listen.contains(addr) {
                k.fail(&format!("rtmps_listen[{i}]"), format!("{addr} is also in listen"));
            }
        }
    }
    match &file.tls {
        None => {}
        Some(Toggle::Off) => c.tls = None,
        Some(Toggle::On(section)) => c.tls = server_tls(section, k),
    }
}

/// The settings, or `None` when anything is wrong (every problem reported).
fn server_tls(s: &TlsSection, k: &mut Checker) -> Option<ServerTlsSettings> {
    let before = k.issues.len();
    let source = source(s, k);
    let min_version = match s.min_version.unwrap_or(TlsVersion::V12) {
        TlsVersion::V12 => MinTlsVersion::Tls12,
        TlsVersion::V13 => MinTlsVersion::Tls13,
    };
    let reload_interval = s
        .reload_interval
        .map_or(DEFAULT_RELOAD_INTERVAL, |d| k.nonzero("tls.reload_interval", d.0));
    let client_auth = match &s.client_auth {
        Some(Toggle::On(section)) => Some(client_auth(section, k)),
        _ => None,
    };
    let settings = ServerTlsSettings { source: source?, min_version, client_auth, reload_interval };
    (k.issues.len() == before).then_some(settings)
}

/// Exactly one of cert + key, self_signed and acme.
fn source(s: &TlsSection, k: &mut Checker) -> Option<CertSource> {
    let cert = s.cert.clone().and_then(Toggle::into_option);
    let key = s.key.clone().and_then(Toggle::into_option);
    let self_signed = s.self_signed == Some(true);
    let acme = s.acme.clone().and_then(Toggle::into_option);
    let names = s.self_signed_names.clone().unwrap_or_default();
    if !self_signed && !names.is_empty() {
        k.fail("tls.self_signed_names", "only used with self_signed: true".into());
    }
    let mut found = Vec::new();
    if cert.is_some() || key.is_some() {
        found.push("cert + key");
    }
    if self_signed {
        found.push("self_signed");
    }
    if acme.is_some() {
        found.push("acme");
    }
    match found.len() {
        0 => {
            k.fail(
                "tls",
                "no certificate source: set cert and key, self_signed: true, or acme \
                 (tls: null for no TLS)"
                    .into(),
            );
            return None;
        }
        1 => {}
        _ => {
            k.fail(
                "tls",
                format!(
                    "choose one certificate source: cert + key, self_signed or acme (found {})",
                    found.join(" and ")
                ),
            );
            return None;
        }
    }
    if let Some(acme) = acme {
        return acme_settings(&acme, k).map(CertSource::Acme);
    }
    if self_signed {
        for (i, name) in names.iter().enumerate() {
            if name.trim().is_empty() {
                k.fail(&format!("tls.self_signed_names[{i}]"), "must not be empty".into());
            }
        }
        return Some(CertSource::SelfSigned { names });
    }
    match (cert, key) {
        (Some(cert), Some(key)) => {
            k.readable_file("tls.cert", &cert);
            k.readable_file("tls.key", &key);
            Some(CertSource::Files { cert, key })
        }
        (Some(_), None) => {
            k.required("tls.key", " with tls.cert");
            None
        }
        _ => {
            k.required("tls.cert", " with tls.key");
            None
        }
    }
}

fn acme_settings(s: &AcmeSection, k: &mut Checker) -> Option<AcmeSettings> {
    let directory = s.directory.clone().unwrap_or_else(|| LETS_ENCRYPT.to_string());
    k.http_url("tls.acme.directory", &directory);
    let domains = s.domains.clone().unwrap_or_default();
    if domains.is_empty() {
        k.fail("tls.acme.domains", "at least one domain is required".into());
    }
    for (i, domain) in domains.iter().enumerate() {
        if domain.is_empty() || domain.contains(|c: char| c.is_whitespace() || c == '/') {
            k.fail(&format!("tls.acme.domains[{i}]"), format!("{domain:?} is not a domain name"));
        }
    }
    let contact = s.contact.clone().unwrap_or_default();
    for (i, address) in contact.iter().enumerate() {
        if !address.starts_with("mailto:") || address.len() == "mailto:".len() {
            k.fail(
                &format!("tls.acme.contact[{i}]"),
                format!("{address:?} must be a mailto: URI (mailto:ops@example.com)"),
            );
        }
    }
    let cache_dir = s.cache_dir.clone().unwrap_or_default();
    if cache_dir.as_os_str().is_empty() {
        k.required("tls.acme.cache_dir", " (where the account and the certificates are kept)");
    }
    let listen = s.http01_listen.clone().and_then(Toggle::into_option);
    let challenge = match s.challenge.unwrap_or(AcmeChallenge::TlsAlpn01) {
        AcmeChallenge::TlsAlpn01 => {
            if listen.is_some() {
                k.fail("tls.acme.http01_listen", "only used with challenge: http-01".into());
            }
            Challenge::TlsAlpn01
        }
        AcmeChallenge::Http01 => {
            Challenge::Http01 { listen: listen.map_or(DEFAULT_HTTP01_LISTEN, |a| a.0) }
        }
    };
    let renew_before =
        s.renew_before.map_or(DEFAULT_RENEW_BEFORE, |d| k.nonzero("tls.acme.renew_before", d.0));
    let check_interval = s
        .check_interval
        .map_or(DEFAULT_CHECK_INTERVAL, |d| k.nonzero("tls.acme.check_interval", d.0));
    let directory_ca = s.directory_ca.clone().and_then(Toggle::into_option);
    if let Some(ca) = &directory_ca {
        k.readable_file("tls.acme.directory_ca", ca);
    }
    Some(AcmeSettings {
        directory,
        domains,
        contact,
        cache_dir,
        challenge,
        renew_before,
        check_interval,
        directory_ca,
    })
}

fn client_auth(s: &ClientAuthSection, k: &mut Checker) -> ClientAuthSettings {
    let pinned: Vec<_> = s.pinned.iter().flatten().map(|p| p.0).collect();
    if pinned.is_empty() {
        k.fail(
            "tls.client_auth.pinned",
            "at least one fingerprint is required (client_auth: null for no client certificates)"
                .into(),
        );
    }
    ClientAuthSettings { pinned, required: s.required.unwrap_or(true) }
}

/// The `tls` section of a dump (every key; the sources not in use are `null`).
pub(super) fn to_file(t: &ServerTlsSettings) -> TlsSection {
    let d = |v| Some(HumanDuration(v));
    let (files, self_signed, acme) = match &t.source {
        CertSource::Files { cert, key } => (Some((cert.clone(), key.clone())), None, None),
        CertSource::SelfSigned { names } => (None, Some(names.clone()), None),
        CertSource::Acme(a) => (None, None, Some(a)),
    };
    let (cert, key) = files.unzip();
    TlsSection {
        cert: Some(Toggle::from_option(cert)),
        key: Some(Toggle::from_option(key)),
        self_signed: Some(self_signed.is_some()),
        self_signed_names: Some(self_signed.unwrap_or_default()),
        acme: Some(Toggle::from_option(acme.map(|a| AcmeSection {
            directory: Some(a.directory.clone()),
            domains: Some(a.domains.clone()),
            contact: Some(a.contact.clone()),
            cache_dir: Some(a.cache_dir.clone()),
            challenge: Some(match a.challenge {
                Challenge::TlsAlpn01 => AcmeChallenge::TlsAlpn01,
                Challenge::Http01 { .. } => AcmeChallenge::Http01,
            }),
            http01_listen: Some(Toggle::from_option(match a.challenge {
                Challenge::TlsAlpn01 => None,
                Challenge::Http01 { listen } => Some(Addr(listen)),
            })),
            renew_before: d(a.renew_before),
            check_interval: d(a.check_interval),
            directory_ca: Some(Toggle::from_option(a.directory_ca.clone())),
        }))),
        min_version: Some(match t.min_version {
            MinTlsVersion::Tls12 => TlsVersion::V12,
            MinTlsVersion::Tls13 => TlsVersion::V13,
        }),
        reload_interval: d(t.reload_interval),
        client_auth: Some(Toggle::from_option(t.client_auth.as_ref().map(|a| ClientAuthSection {
            pinned: Some(a.pinned.iter().copied().map(Pin).collect()),
            required: Some(a.required),
        }))),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn defaults_are_the_tls_crate_defaults() {
        let mut k = Checker { issues: Vec::new() };
        let acme = AcmeSection {
            domains: Some(vec!["live.example.com".into()]),
            cache_dir: Some(PathBuf::from("/var/lib/openrtmp/acme")),
            ..AcmeSection::default()
        };
        let got = acme_settings(&acme, &mut k).unwrap();
        assert_eq!(k.issues, vec![]);
        assert_eq!(got.directory, LETS_ENCRYPT);
        assert_eq!(got.challenge, Challenge::TlsAlpn01);
        assert_eq!(got.renew_before, DEFAULT_RENEW_BEFORE);
        assert_eq!(got.check_interval, DEFAULT_CHECK_INTERVAL);
        let http = AcmeSection { challenge: Some(AcmeChallenge::Http01), ..acme };
        let got = acme_settings(&http, &mut k).unwrap();
        assert_eq!(got.challenge, Challenge::Http01 { listen: DEFAULT_HTTP01_LISTEN });
    }
}
