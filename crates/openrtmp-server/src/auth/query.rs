//! The `?query` part that clients append to app and stream names
//! (`rtmp://host/live?token=..`, `live/cam?key=..`). Only the authorisation layer reads it;
//! everything after it sees the bare names.

use std::collections::BTreeMap;

/// Longest query string accepted (app or stream), in bytes. The RTMP command that carries
/// it is bounded anyway; this keeps what we parse and forward to a callback small.
pub(crate) const MAX_QUERY_LEN: usize = 2048;
/// Most parameters kept from one query string; later ones are ignored.
const MAX_QUERY_PAIRS: usize = 32;

/// Splits `name?query` into the name and the query (without the `?`; empty when none).
pub(crate) fn split(raw: &str) -> (&str, &str) {
    raw.split_once('?').unwrap_or((raw, ""))
}

/// Parsed `a=1&b=2` parameters, percent-decoded, in the order sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a query string. Lenient, as players are: empty parts are skipped, a part
    /// without `=` has an empty value, malformed `%` escapes are kept as they are, `+` is a
    /// plus (stream keys contain it), and invalid UTF-8 is replaced.
    pub(crate) fn parse(query: &str) -> Query {
        let pairs = query
            .split('&')
            .filter(|part| !part.is_empty())
            .take(MAX_QUERY_PAIRS)
            .map(|part| {
                let (k, v) = part.split_once('=').unwrap_or((part, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Query { pairs }
    }

    /// The first value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Whether there are no parameters.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// The parameters of one request: the stream's query first, then the app's (players put
/// tokens on either, depending on how the URL was split into app and stream).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params<'a> {
    pub(crate) stream: &'a Query,
    pub(crate) app: &'a Query,
}

impl Params<'_> {
    /// The stream's value of `key`, else the app's.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.stream.get(key).or_else(|| self.app.get(key))
    }

    /// All parameters as one map (stream values win), for the callback request.
    pub(crate) fn to_map(self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        for (k, v) in self.app.pairs.iter().chain(&self.stream.pairs) {
            map.insert(k.clone(), v.clone());
        }
        map
    }
}

/// `s` as a query value that [`Query::parse`] gives back whole: everything but RFC 3986's
/// unreserved characters is `%XX` (a WHIP bearer becomes the `?key=` of a publish).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = match (b, bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex_value(h).zip(hex_value(l)).map(|(h, l)| (h << 4) | l),
            _ => None,
        };
        match escaped {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_parses() {
        assert_eq!(split("cam?key=a%2Bb&x"), ("cam", "key=a%2Bb&x"));
        assert_eq!(split("cam"), ("cam", ""));
        let q = Query::parse("key=a%2Bb+c&&x&bad=%zz%4&key=second");
        assert_eq!(q.get("key"), Some("a+b+c"));
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(q.get("bad"), Some("%zz%4"));
        assert_eq!(q.get("missing"), None);
        assert!(Query::parse("").is_empty());
    }

    #[test]
    fn encoded_values_parse_back_whole() {
        for value in ["plain", "a+b c&d=e%f?g#h/é", "", "~-._"] {
            let q = Query::parse(&format!("key={}&x=1", percent_encode(value)));
            assert_eq!(q.get("key"), Some(value));
        }
        assert_eq!(percent_encode("a b+"), "a%20b%2B");
    }

    #[test]
    fn stream_params_win_over_app_params() {
        let app = Query::parse("token=app&a=1");
        let stream = Query::parse("token=stream");
        let p = Params { stream: &stream, app: &app };
        assert_eq!(p.get("token"), Some("stream"));
        assert_eq!(p.get("a"), Some("1"));
        let map = p.to_map();
        assert_eq!(map.get("token").map(String::as_str), Some("stream"));
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn pairs_are_bounded() {
        let long: Vec<String> = (0..100).map(|i| format!("k{i}=v")).collect();
        let q = Query::parse(&long.join("&"));
        assert!(q.get("k31").is_some());
        assert!(q.get("k32").is_none());
    }
}
