//! Signed download links: the dashboard plays and downloads recordings through URLs a
//! `<video>` element or a link can fetch, which cannot carry an `Authorization` header, and
//! the API token must never be put in a URL (logs, history, referrers keep URLs). So a
//! token-holder asks for a link (`POST .../{file}/link`) and gets the file's path with
//! `expires` (Unix seconds) and `sig` = HMAC-SHA256 over `"{path}\n{expires}"` with a key
//! drawn at random when the API starts: a link opens that one path, for [`LINK_TTL`], on this
//! server process only (a restart voids every link).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::hmac;

/// How long a signed link stays valid.
pub(crate) const LINK_TTL: Duration = Duration::from_secs(300);

/// The per-process signing key (`None` if the OS gave no randomness: links are refused).
pub(crate) struct Links {
    key: Option<hmac::Key>,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Links(<key>)")
    }
}

impl Links {
    pub(crate) fn new() -> Links {
        let rng = ring::rand::SystemRandom::new();
        Links { key: hmac::Key::generate(hmac::HMAC_SHA256, &rng).ok() }
    }

    /// `(expires, sig)` for `path`, valid for [`LINK_TTL`] from `now`.
    pub(crate) fn sign(&self, path: &str, now: SystemTime) -> Option<(u64, String)> {
        let expires = unix_secs(now) + LINK_TTL.as_secs();
        let tag = hmac::sign(self.key.as_ref()?, message(path, expires).as_bytes());
        Some((expires, hex(tag.as_ref())))
    }

    /// Whether `sig` signs `path` until `expires`, and `now` is not past it.
    pub(crate) fn verify(&self, path: &str, expires: u64, sig: &str, now: SystemTime) -> bool {
        let (Some(key), Some(sig)) = (self.key.as_ref(), unhex(sig)) else { return false };
        unix_secs(now) <= expires
            && hmac::verify(key, message(path, expires).as_bytes(), &sig).is_ok()
    }
}

fn message(path: &str, expires: u64) -> String {
    format!("{path}\n{expires}")
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_opens_its_path_until_it_expires() {
        let links = Links::new();
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let (expires, sig) = links.sign("/a/b", now).unwrap();
        assert_eq!(expires, 1_000_300);
        assert!(links.verify("/a/b", expires, &sig, now));
        assert!(links.verify("/a/b", expires, &sig, now + LINK_TTL));
        assert!(!links.verify("/a/b", expires, &sig, now + LINK_TTL + Duration::from_secs(1)));
        assert!(!links.verify("/a/c", expires, &sig, now), "bound to its path");
        assert!(!links.verify("/a/b", expires + 1, &sig, now), "expiry is signed");
        assert!(!links.verify("/a/b", expires, "zz", now));
        assert!(!Links::new().verify("/a/b", expires, &sig, now), "another process's key");
    }
}
