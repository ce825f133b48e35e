//! Path parsing and the scope each operation needs.

use http::Method;

use crate::auth::Access;

/// Every operation the emulator knows, with its path parameters.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    V2Base,
    V2Catalog,
    TagsList(String),
    Manifest(String, String),
    Blob(String, String),
    UploadStart(String),
    Upload(String, String),
    Referrers(String, String),
    AcrCatalog,
    AcrRepo(String),
    AcrTags(String),
    AcrTag(String, String),
    AcrManifests(String),
    AcrManifest(String, String),
    Exchange,
    Token,
    NotFound,
}

/// The OCI distribution grammar for repository names (lower case only, which is why
/// ACR's router 404s on upper-case names).
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name.split('/').all(|component| {
            let bytes = component.as_bytes();
            if bytes.is_empty()
                || !bytes[0].is_ascii_alphanumeric()
                || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
            {
                return false;
            }
            let mut prev_sep: Option<u8> = None;
            let mut run = 0;
            for &b in bytes {
                if b.is_ascii_lowercase() || b.is_ascii_digit() {
                    prev_sep = None;
                    run = 0;
                } else if matches!(b, b'.' | b'_' | b'-') {
                    run += 1;
                    match (prev_sep, b) {
                        (None, _) => {}
                        (Some(b'_'), b'_') if run == 2 => {}
                        (Some(b'-'), b'-') => {}
                        _ => return false,
                    }
                    prev_sep = Some(b);
                } else {
                    return false;
                }
            }
            true
        })
}

/// The distribution spec's tag grammar, `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub(crate) fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    !bytes.is_empty()
        && bytes.len() <= 128
        && word(&bytes[0])
        && bytes[1..]
            .iter()
            .all(|b| word(b) || matches!(b, b'.' | b'-'))
}

fn split_suffix<'a>(rest: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let at = rest.rfind(marker)?;
    Some((&rest[..at], &rest[at + marker.len()..]))
}

fn named(name: &str, make: impl FnOnce(String) -> Route) -> Route {
    if valid_name(name) {
        make(name.to_string())
    } else {
        Route::NotFound
    }
}

/// Maps a percent-decoded path to a route; repository names may contain `/`.
pub(crate) fn parse(path: &str) -> Route {
    if path == "/oauth2/exchange" {
        return Route::Exchange;
    }
    if path == "/oauth2/token" {
        return Route::Token;
    }
    if path == "/v2/" || path == "/v2" {
        return Route::V2Base;
    }
    if let Some(rest) = path.strip_prefix("/v2/") {
        if rest == "_catalog" {
            return Route::V2Catalog;
        }
        if let Some(name) = rest.strip_suffix("/tags/list") {
            return named(name, Route::TagsList);
        }
        if let Some(name) = rest
            .strip_suffix("/blobs/uploads/")
            .or_else(|| rest.strip_suffix("/blobs/uploads"))
        {
            return named(name, Route::UploadStart);
        }
        if let Some((name, id)) = split_suffix(rest, "/blobs/uploads/") {
            return named(name, |n| Route::Upload(n, id.to_string()));
        }
        if let Some((name, digest)) = split_suffix(rest, "/blobs/") {
            return named(name, |n| Route::Blob(n, digest.to_string()));
        }
        if let Some((name, reference)) = split_suffix(rest, "/manifests/") {
            return named(name, |n| Route::Manifest(n, reference.to_string()));
        }
        if let Some((name, digest)) = split_suffix(rest, "/referrers/") {
            return named(name, |n| Route::Referrers(n, digest.to_string()));
        }
        return Route::NotFound;
    }
    if let Some(rest) = path.strip_prefix("/acr/v1/") {
        if rest == "_catalog" {
            return Route::AcrCatalog;
        }
        if let Some(name) = rest.strip_suffix("/_tags") {
            return named(name, Route::AcrTags);
        }
        if let Some(name) = rest.strip_suffix("/_manifests") {
            return named(name, Route::AcrManifests);
        }
        if let Some((name, tag)) = split_suffix(rest, "/_tags/") {
            return named(name, |n| Route::AcrTag(n, tag.to_string()));
        }
        if let Some((name, reference)) = split_suffix(rest, "/_manifests/") {
            return named(name, |n| Route::AcrManifest(n, reference.to_string()));
        }
        return named(rest, Route::AcrRepo);
    }
    Route::NotFound
}

/// What a request needs: nothing (token endpoints), any valid credential (`/v2/`), or a scope.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Needs {
    Nothing,
    AnyToken,
    Scope(Access),
}

/// The scope a route and method need, named as ACR's challenges name it.
pub(crate) fn needs(route: &Route, method: &Method) -> Needs {
    let repo = |name: &str, actions: &[&str]| Needs::Scope(Access::repository(name, actions));
    let read = method == Method::GET || method == Method::HEAD;
    match route {
        Route::Exchange | Route::Token | Route::NotFound => Needs::Nothing,
        Route::V2Base => Needs::AnyToken,
        Route::V2Catalog | Route::AcrCatalog => Needs::Scope(Access::catalog()),
        Route::TagsList(n) | Route::Referrers(n, _) => repo(n, &["pull"]),
        Route::Manifest(n, _) | Route::Blob(n, _) => {
            if read {
                repo(n, &["pull"])
            } else if method == Method::DELETE {
                repo(n, &["delete"])
            } else {
                repo(n, &["pull", "push"])
            }
        }
        Route::UploadStart(n) | Route::Upload(n, _) => repo(n, &["pull", "push"]),
        Route::AcrRepo(n)
        | Route::AcrTags(n)
        | Route::AcrTag(n, _)
        | Route::AcrManifests(n)
        | Route::AcrManifest(n, _) => {
            if read {
                repo(n, &["metadata_read"])
            } else if method == Method::DELETE {
                repo(n, &["delete"])
            } else {
                repo(n, &["metadata_write"])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_slashes_and_separators() {
        assert_eq!(
            parse("/v2/library/hello-world/manifests/sha256:ab"),
            Route::Manifest("library/hello-world".into(), "sha256:ab".into())
        );
        assert_eq!(
            parse("/v2/a/b/blobs/uploads/"),
            Route::UploadStart("a/b".into())
        );
        assert_eq!(
            parse("/v2/a/b/blobs/uploads/1234"),
            Route::Upload("a/b".into(), "1234".into())
        );
        assert_eq!(
            parse("/acr/v1/a/b/_tags/v1"),
            Route::AcrTag("a/b".into(), "v1".into())
        );
        assert_eq!(parse("/acr/v1/x/y"), Route::AcrRepo("x/y".into()));
        assert_eq!(parse("/acr/v1/Nonexistent/_tags/x"), Route::NotFound);
        assert!(valid_name("a__b.c-d--e/f"));
        assert!(!valid_name("a___b"));
        assert!(!valid_name("a//b"));
        assert!(!valid_name("-a"));
    }

    #[test]
    fn tags() {
        assert!(valid_tag("v1.2.3-rc_1"));
        assert!(valid_tag("_x"));
        assert!(valid_tag(&"a".repeat(128)));
        assert!(!valid_tag(&"a".repeat(129)));
        assert!(!valid_tag(""));
        assert!(!valid_tag(".v1"));
        assert!(!valid_tag("-v1"));
        assert!(!valid_tag("bad:tag"));
        assert!(!valid_tag("a/b"));
    }
}
