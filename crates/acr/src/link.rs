//! The `Link` header of paged listings (RFC 8288): `<…>; rel="next"`.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use url::Url;

use crate::pipeline::Pipeline;
use crate::{Error, Result};

/// Follows a listing's next-page links: only to the registry itself, and never to a link
/// already followed, which would loop forever. Remembers hashes, not links, so that a long
/// listing costs eight bytes a page.
#[derive(Default)]
pub(crate) struct LinkFollower {
    seen: HashSet<u64>,
    hasher: RandomState,
}

impl LinkFollower {
    /// The URL of `link`, resolved against the registry.
    pub(crate) fn follow(&mut self, pipeline: &Pipeline, link: &str) -> Result<Url> {
        let url = pipeline.endpoint.join(link).map_err(|e| {
            Error::Protocol(format!("the next-page link {link:?} is not a URL: {e}"))
        })?;
        if !pipeline.is_registry(&url) {
            return Err(Error::Protocol(format!(
                "the next-page link points to {}, not to the registry; it is not followed",
                url.host_str().unwrap_or("no host")
            )));
        }
        if !self.seen.insert(self.hasher.hash_one(link)) {
            return Err(Error::Protocol(format!(
                "the registry sent the next-page link {link:?} twice; the listing would never end"
            )));
        }
        Ok(url)
    }
}

/// The target of the `rel="next"` link among all `Link` values of a response, as sent
/// (ACR sends a path relative to the registry). Never panics on malformed input.
pub(crate) fn next_link(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::LINK)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(next_in)
}

/// One header value may hold several links, separated by commas outside `<…>` and quotes.
fn next_in(value: &str) -> Option<String> {
    let mut rest = value;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let target = &rest[start + 1..end];
        rest = &rest[end + 1..];
        // The parameters run to the next link's `<`, or to the end.
        let params_end = rest.find('<').unwrap_or(rest.len());
        if params(&rest[..params_end]).any(|(name, value)| {
            name.eq_ignore_ascii_case("rel")
                && value
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        }) {
            return Some(target.trim().to_owned());
        }
    }
}

/// `; name=value; name="quoted value"` pairs.
fn params(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split(';').filter_map(|param| {
        let (name, value) = param.split_once('=')?;
        let value = value.trim().trim_end_matches(',').trim();
        Some((name.trim(), value.trim_matches('"')))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(values: &[&str]) -> Option<String> {
        let mut headers = http::HeaderMap::new();
        for value in values {
            headers.append(
                http::header::LINK,
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        next_link(&headers)
    }

    #[test]
    fn acr_links_as_the_service_sends_them() {
        assert_eq!(
            next(&[r#"</acr/v1/_catalog?last=library%2Fbusybox&n=2&orderby=>; rel="next""#])
                .as_deref(),
            Some("/acr/v1/_catalog?last=library%2Fbusybox&n=2&orderby=")
        );
    }

    #[test]
    fn several_links_spacing_case_and_unquoted_rel() {
        assert_eq!(
            next(&[r#"<https://r/a?x=1>; rel="prev", <https://r/b>;REL=Next"#]).as_deref(),
            Some("https://r/b")
        );
        assert_eq!(
            next(&[r#"</first>; rel="first""#, r#"</n> ; rel = "last next""#]).as_deref(),
            Some("/n")
        );
        assert_eq!(next(&[r#"</x>; title="a, <b>"; rel=prev"#]), None);
    }

    #[test]
    fn no_next_link_is_none() {
        for values in [
            &[][..],
            &[""],
            &["garbage"],
            &["<unterminated; rel=next"],
            &[r#"</p>; rel="prev""#],
        ] {
            assert_eq!(next(values), None, "{values:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_values_never_panic(value in "[ -~]*") {
            let _ = next_in(&value);
        }
    }
}
