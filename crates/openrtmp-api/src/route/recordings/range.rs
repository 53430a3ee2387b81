//! One byte range of a file (RFC 9110 §14): what a `Range` header asks of a file of `len`
//! bytes, and the file's bytes streamed without loading it.
//!
//! A single range is served (`bytes=first-last`, `bytes=first-`, `bytes=-suffix`); a header
//! that is malformed, names another unit or asks for several ranges is ignored and the whole
//! file sent, which §14.2 allows ("a server MAY ignore the Range header field"). Players and
//! download tools ask for one range.

use axum::body::Body;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Bytes read from the file per body chunk.
const CHUNK: u64 = 64 * 1024;

/// What to answer a `Range` header with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ranged {
    /// `200`, the whole file.
    Full,
    /// `206`, bytes `first..=last`.
    Part { first: u64, last: u64 },
    /// `416`: no byte of the file is in the range.
    Unsatisfiable,
}

/// The answer to `header` (the `Range` value, if any) for a file of `len` bytes.
pub(crate) fn parse(header: Option<&str>, len: u64) -> Ranged {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ranged::Full;
    };
    let Some((first, last)) = spec.trim().split_once('-') else { return Ranged::Full };
    if spec.contains(',') {
        return Ranged::Full;
    }
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
    };
    match (num(first), num(last), last.trim().is_empty()) {
        // `-suffix`: the last `suffix` bytes.
        (None, Some(suffix), _) if first.trim().is_empty() => {
            if suffix == 0 || len == 0 {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part { first: len.saturating_sub(suffix), last: len - 1 }
            }
        }
        (Some(first), None, true) if first < len => Ranged::Part { first, last: len - 1 },
        (Some(first), Some(last), _) if first <= last => {
            if first < len {
                Ranged::Part { first, last: last.min(len - 1) }
            } else {
                Ranged::Unsatisfiable
            }
        }
        (Some(_), None, true) => Ranged::Unsatisfiable,
        _ => Ranged::Full,
    }
}

/// A body of `count` bytes of `file` from `first`, read a chunk at a time.
pub(crate) async fn body(
    mut file: tokio::fs::File,
    first: u64,
    count: u64,
) -> std::io::Result<Body> {
    if first > 0 {
        file.seek(std::io::SeekFrom::Start(first)).await?;
    }
    let stream = futures_util::stream::unfold((file, count), |(mut file, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; usize::try_from(left.min(CHUNK)).unwrap_or(64 * 1024)];
        match file.read(&mut buf).await {
            // Cut short (truncated under us): end the body; the client sees it incomplete.
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), (file, left - n as u64)))
            }
            Err(e) => Some((Err(e), (file, 0))),
        }
    });
    Ok(Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_of_a_file() {
        let p = |h: &str| parse(Some(h), 1000);
        assert_eq!(parse(None, 1000), Ranged::Full);
        assert_eq!(p("bytes=0-99"), Ranged::Part { first: 0, last: 99 });
        assert_eq!(p("bytes=500-"), Ranged::Part { first: 500, last: 999 });
        assert_eq!(p("bytes=900-5000"), Ranged::Part { first: 900, last: 999 });
        assert_eq!(p("bytes=-100"), Ranged::Part { first: 900, last: 999 });
        assert_eq!(p("bytes=-5000"), Ranged::Part { first: 0, last: 999 });
        assert_eq!(p("bytes=1000-"), Ranged::Unsatisfiable);
        assert_eq!(p("bytes=1000-1001"), Ranged::Unsatisfiable);
        assert_eq!(p("bytes=-0"), Ranged::Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-"), 0), Ranged::Unsatisfiable);
        for ignored in ["items=0-1", "bytes=5-1", "bytes=0-1,5-6", "bytes=x-", "bytes=-", "bytes=1"]
        {
            assert_eq!(p(ignored), Ranged::Full, "{ignored}");
        }
    }
}
