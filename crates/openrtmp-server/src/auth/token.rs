//! Expiring play tokens: `?expires=<unix seconds>&token=<hex>` with
//! `token = hex(HMAC-SHA256(secret, "<app>/<stream>:<expires>"))`, where app and stream are
//! the names as checked (query split off, no leading or trailing `/`). The signature is
//! checked (in constant time) before the expiry, so a refusal says "expired" only for a
//! token the server did sign.

use std::collections::HashSet;

use ring::hmac;

use super::query::Params;
use super::PlayTokenSettings;

/// Signs a play token for `rtmp://host/<app>/<stream>?expires=<expires_unix>&token=<this>`.
///
/// ```
/// let token = openrtmp_server::auth::sign_play_token("secret", "live", "cam", 1_900_000_000);
/// assert_eq!(token.len(), 64);
/// ```
pub fn sign_play_token(secret: &str, app: &str, stream: &str, expires_unix: u64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    to_hex(hmac::sign(&key, message(app, stream, expires_unix).as_bytes()).as_ref())
}

/// The compiled play token settings.
pub(crate) struct PlayTokens {
    key: hmac::Key,
    /// Empty: every app.
    apps: HashSet<String>,
}

impl std::fmt::Debug for PlayTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlayTokens").field("apps", &self.apps).finish_non_exhaustive()
    }
}

impl PlayTokens {
    pub(crate) fn new(settings: &PlayTokenSettings) -> PlayTokens {
        PlayTokens {
            key: hmac::Key::new(hmac::HMAC_SHA256, settings.secret.as_bytes()),
            apps: settings.apps.iter().map(|app| app.trim_matches('/').to_owned()).collect(),
        }
    }

    /// Whether playing from `app` needs a token.
    pub(crate) fn required(&self, app: &str) -> bool {
        self.apps.is_empty() || self.apps.contains(app)
    }

    /// Checks the token in `params` for `app`/`stream` at `now_unix`; the error is the
    /// reason to give.
    pub(crate) fn check(
        &self,
        app: &str,
        stream: &str,
        params: Params<'_>,
        now_unix: u64,
    ) -> Result<(), String> {
        let (Some(expires), Some(token)) = (params.get("expires"), params.get("token")) else {
            return Err("play token required".into());
        };
        let invalid = || String::from("invalid play token");
        let expires: u64 = expires.parse().map_err(|_| invalid())?;
        let token = unhex(token).ok_or_else(invalid)?;
        hmac::verify(&self.key, message(app, stream, expires).as_bytes(), &token)
            .map_err(|_| invalid())?;
        if expires < now_unix {
            return Err("play token expired".into());
        }
        Ok(())
    }
}

fn message(app: &str, stream: &str, expires: u64) -> String {
    format!("{app}/{stream}:{expires}")
}

/// Lower-case hex (also used for signature headers).
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Lower- or upper-case hex; `None` for anything else.
fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::query::Query;
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn tokens(apps: &[&str]) -> PlayTokens {
        PlayTokens::new(&PlayTokenSettings {
            secret: "play-secret".into(),
            apps: apps.iter().map(|a| a.to_string()).collect(),
        })
    }

    fn check(t: &PlayTokens, app: &str, stream: &str, query: &str) -> Result<(), String> {
        let stream_q = Query::parse(query);
        let app_q = Query::default();
        t.check(app, stream, Params { stream: &stream_q, app: &app_q }, NOW)
    }

    #[test]
    fn valid_expired_tampered_and_wrong_stream() {
        let t = tokens(&[]);
        let good = sign_play_token("play-secret", "live", "cam", NOW + 60);
        assert_eq!(check(&t, "live", "cam", &format!("expires={}&token={good}", NOW + 60)), Ok(()));
        let upper = good.to_uppercase();
        assert_eq!(
            check(&t, "live", "cam", &format!("expires={}&token={upper}", NOW + 60)),
            Ok(())
        );

        let old = sign_play_token("play-secret", "live", "cam", NOW - 1);
        let err = check(&t, "live", "cam", &format!("expires={}&token={old}", NOW - 1));
        assert_eq!(err.unwrap_err(), "play token expired");

        // Extending the expiry breaks the signature.
        let err = check(&t, "live", "cam", &format!("expires={}&token={old}", NOW + 3600));
        assert_eq!(err.unwrap_err(), "invalid play token");
        let mut flipped = good.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        let err = check(&t, "live", "cam", &format!("expires={}&token={flipped}", NOW + 60));
        assert_eq!(err.unwrap_err(), "invalid play token");
        let err = check(&t, "live", "other", &format!("expires={}&token={good}", NOW + 60));
        assert_eq!(err.unwrap_err(), "invalid play token");
        let wrong_key = sign_play_token("other-secret", "live", "cam", NOW + 60);
        let err = check(&t, "live", "cam", &format!("expires={}&token={wrong_key}", NOW + 60));
        assert_eq!(err.unwrap_err(), "invalid play token");
        for junk in ["token=zz&expires=1", "token=abc&expires=1", "token=00&expires=-1"] {
            assert_eq!(check(&t, "live", "cam", junk).unwrap_err(), "invalid play token");
        }
    }

    #[test]
    fn missing_token() {
        let t = tokens(&[]);
        assert_eq!(check(&t, "live", "cam", "").unwrap_err(), "play token required");
        assert_eq!(check(&t, "live", "cam", "token=00").unwrap_err(), "play token required");
    }

    #[test]
    fn token_in_app_query_counts() {
        let t = tokens(&[]);
        let good = sign_play_token("play-secret", "live", "cam", NOW + 60);
        let app_q = Query::parse(&format!("expires={}&token={good}", NOW + 60));
        let stream_q = Query::default();
        assert_eq!(t.check("live", "cam", Params { stream: &stream_q, app: &app_q }, NOW), Ok(()));
    }

    #[test]
    fn listed_apps_only() {
        let t = tokens(&["/vip/"]);
        assert!(t.required("vip"));
        assert!(!t.required("live"));
        assert!(tokens(&[]).required("anything"));
    }
}
