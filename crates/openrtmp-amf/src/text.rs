//! UTF-8 text helpers shared by the encoders.

/// The longest prefix of `s` that fits in `max` bytes and ends on a char boundary, for
/// length fields too narrow for the string (AMF0 keys: U16; AMF3 strings: 28 bits).
pub(crate) fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    // A char is at most 4 bytes, so a boundary is at most 3 bytes below `max`.
    (max.saturating_sub(3)..=max)
        .rev()
        .find(|&end| s.is_char_boundary(end))
        .and_then(|end| s.get(..end))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_at_char_boundaries() {
        assert_eq!(truncate_utf8("abc", 3), "abc");
        assert_eq!(truncate_utf8("abc", 2), "ab");
        // "é" is 2 bytes, "€" 3 bytes, "😀" 4 bytes.
        assert_eq!(truncate_utf8("aé", 2), "a");
        assert_eq!(truncate_utf8("€€", 5), "€");
        assert_eq!(truncate_utf8("😀", 3), "");
        assert_eq!(truncate_utf8("x😀", 4), "x");
        assert_eq!(truncate_utf8("abc", 0), "");
    }
}
