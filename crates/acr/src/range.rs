//! `Content-Range` of ranged blob responses (RFC 9110 §14.4).

/// What a `Content-Range` says: the byte range sent (inclusive), and the total length,
/// either of which the server may leave unknown (`*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContentRange {
    pub(crate) range: Option<(u64, u64)>,
    pub(crate) total: Option<u64>,
}

/// `bytes 0-99/1000`, `bytes */1000`, `bytes 0-99/*`; `None` for anything else,
/// including a range that ends before it starts or past the total.
pub(crate) fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes")?;
    let rest = rest.strip_prefix([' ', '\t'])?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        number => Some(digits(number)?),
    };
    let range = match range.trim() {
        "*" => None,
        span => {
            let (first, last) = span.split_once('-')?;
            let (first, last) = (digits(first)?, digits(last)?);
            if last < first || total.is_some_and(|t| last >= t) {
                return None;
            }
            Some((first, last))
        }
    };
    if range.is_none() && total.is_none() {
        return None;
    }
    Some(ContentRange { range, total })
}

/// How many bytes an upload session holds, from the `Range: 0-<last>` of its status:
/// `last + 1`, except that `0-0` (and the spec's `0--1`) is read as empty, since
/// registries write it for an empty session. `None` for anything else.
pub(crate) fn parse_upload_range(value: &str) -> Option<u64> {
    let value = value.trim();
    let value = value.strip_prefix("bytes=").unwrap_or(value);
    let last = value.strip_prefix("0-")?;
    if last == "-1" || last == "0" {
        return Some(0);
    }
    digits(last)?.checked_add(1)
}

fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ranges_say_how_many_bytes_a_session_holds() {
        assert_eq!(parse_upload_range("0-0"), Some(0));
        assert_eq!(parse_upload_range("0--1"), Some(0));
        assert_eq!(parse_upload_range("0-99"), Some(100));
        assert_eq!(parse_upload_range("bytes=0-4194303"), Some(4 << 20));
        for bad in [
            "",
            "1-5",
            "0-",
            "0-x",
            "0-18446744073709551615",
            "bytes 0-5",
        ] {
            assert_eq!(parse_upload_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_forms_registries_send() {
        let parse = |v| parse_content_range(v);
        assert_eq!(
            parse("bytes 0-99/1000"),
            Some(ContentRange {
                range: Some((0, 99)),
                total: Some(1000)
            })
        );
        assert_eq!(
            parse("bytes  5-5/6"),
            Some(ContentRange {
                range: Some((5, 5)),
                total: Some(6)
            })
        );
        assert_eq!(
            parse("bytes */0"),
            Some(ContentRange {
                range: None,
                total: Some(0)
            })
        );
        assert_eq!(
            parse("bytes 0-99/*"),
            Some(ContentRange {
                range: Some((0, 99)),
                total: None
            })
        );
        for bad in [
            "",
            "0-99/1000",
            "bytes 0-99",
            "bytes 9-0/10",
            "bytes 0-10/10",
            "bytes */*",
            "bytes -1-5/9",
            "items 0-1/2",
            "bytes 0-99/1e3",
            "bytes 0-+9/10",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_values_never_panic(value in "[ -~]*") {
            let _ = parse_content_range(&value);
        }

        #[test]
        fn valid_ranges_round_trip(first in 0u64..1 << 40, len in 1u64..1 << 20, extra in 0u64..1 << 20) {
            let last = first + len - 1;
            let total = last + 1 + extra;
            let parsed = parse_content_range(&format!("bytes {first}-{last}/{total}"));
            proptest::prop_assert_eq!(parsed, Some(ContentRange { range: Some((first, last)), total: Some(total) }));
        }
    }
}
