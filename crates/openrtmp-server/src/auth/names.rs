//! App and stream name rules, checked before anything else.
//!
//! A name is 1..=`max_len` bytes of ASCII letters, digits and `- _ . ~ = + @`; an app may
//! also have `/` between path segments. No segment is empty or starts with `.` (so never `.`
//! or `..`). Nothing that could act as a path, an escape or a control character survives:
//! `%`, `\`, `:`, NUL and every non-ASCII character are refused, not decoded. Stream and
//! app names are only ever used as map keys; whatever turns them into file names later
//! (recording, HLS) may rely on this check having passed, so a client can never name a path
//! outside the server's directories.

use std::fmt;

/// Characters allowed in names besides ASCII letters and digits.
const ALLOWED_PUNCTUATION: &str = "-_.~=+@";

/// Which name is checked (it changes the rules for `/`, and the wording of reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    /// The app (`live`, `live/tenant`).
    App,
    /// The stream.
    Stream,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::App => "app",
            NameKind::Stream => "stream",
        })
    }
}

/// Checks a name (query already split off) and returns it without leading and trailing
/// `/`. The error is a sentence for the client and the log: it names the rule broken and
/// the offending character, never the whole name (a stream name can be a publish key).
pub(crate) fn check(kind: NameKind, name: &str, max_len: usize) -> Result<&str, String> {
    let name = name.trim_matches('/');
    if name.is_empty() {
        return Err(format!("{kind} name is empty"));
    }
    if name.len() > max_len {
        return Err(format!("{kind} name is {} bytes long; the limit is {max_len}", name.len()));
    }
    if let Some((at, c)) = name.char_indices().find(|&(_, c)| !allowed(kind, c)) {
        return Err(format!(
            "{kind} name contains {c:?} at byte {at}; only letters, digits and {} are allowed{}",
            ALLOWED_PUNCTUATION,
            if kind == NameKind::App { " (and '/' between segments)" } else { "" }
        ));
    }
    for segment in name.split('/') {
        if segment.is_empty() {
            return Err(format!("{kind} name has an empty path segment"));
        }
        if segment.starts_with('.') {
            return Err(format!("{kind} name (or a segment of it) must not start with '.'"));
        }
    }
    Ok(name)
}

fn allowed(kind: NameKind, c: char) -> bool {
    c.is_ascii_alphanumeric()
        || ALLOWED_PUNCTUATION.contains(c)
        || (c == '/' && kind == NameKind::App)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str) -> Result<&str, String> {
        check(NameKind::App, name, 16)
    }

    fn stream(name: &str) -> Result<&str, String> {
        check(NameKind::Stream, name, 16)
    }

    #[test]
    fn accepts_good_names() {
        assert_eq!(app("live"), Ok("live"));
        assert_eq!(app("/live/"), Ok("live"));
        assert_eq!(app("live/tenant-1"), Ok("live/tenant-1"));
        assert_eq!(stream("cam_1.hd~x=y+z@a"), Ok("cam_1.hd~x=y+z@a"));
        assert_eq!(stream("a..b"), Ok("a..b"));
        assert_eq!(stream(&"x".repeat(16)), Ok("x".repeat(16).as_str()));
    }

    #[test]
    fn refuses_traversal_and_odd_characters() {
        for bad in [
            "../etc", "..", ".", ".hidden", "a/../b", "a/./b", "%2e%2e", "a\0b", "a\\b", "c:x",
            "a b", "é", "a\nb", "/", "", "a?", "a#b",
        ] {
            assert!(stream(bad).is_err(), "stream {bad:?} accepted");
        }
        for bad in ["../etc", "a/../b", "a//b", "a/.b", "%2e%2e/x", "a\0", "/", "..", "a\\b"] {
            assert!(app(bad).is_err(), "app {bad:?} accepted");
        }
    }

    #[test]
    fn reasons_name_the_problem_but_not_the_name() {
        let reason = stream("secret%2e").unwrap_err();
        assert!(reason.contains("'%'") && reason.contains("byte 6"), "{reason}");
        assert!(!reason.contains("secret"), "{reason}");
        assert!(stream("a\0").unwrap_err().contains("'\\0'"));
        assert!(stream("a/b").unwrap_err().contains("'/'"));
        let long = stream(&"x".repeat(17)).unwrap_err();
        assert_eq!(long, "stream name is 17 bytes long; the limit is 16");
        assert_eq!(app("a//b").unwrap_err(), "app name has an empty path segment");
        assert_eq!(stream("").unwrap_err(), "stream name is empty");
        assert!(app("a/..").unwrap_err().contains("must not start with '.'"));
    }
}
