//! Validation of what callers name: repositories (OCI distribution spec, "Pulling
//! manifests"), checked before any request.

use crate::{Error, Result};

/// Repository names: path components of `[a-z0-9]+` joined by `.`, `_`, `__` or runs of
/// `-`, separated by `/`; at most 255 characters in all.
pub(crate) fn validate_repository(name: &str) -> Result<()> {
    let valid = !name.is_empty() && name.len() <= 255 && name.split('/').all(is_path_component);
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{name:?} is not a repository name: expected lower-case path components such as \
             \"library/hello-world\""
        )))
    }
}

fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    // Between alphanumeric runs: exactly `.`, `_` or `__`, or any number of `-`.
    let mut separator = String::new();
    for &b in bytes {
        if alnum(&b) {
            if !matches!(separator.as_str(), "" | "." | "_" | "__")
                && !separator.bytes().all(|s| s == b'-')
            {
                return false;
            }
            separator.clear();
        } else if matches!(b, b'.' | b'_' | b'-') {
            separator.push(b as char);
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_follow_the_distribution_grammar() {
        for good in ["a", "library/hello-world", "a.b_c__d---e/f0", "x/y/z", "9"] {
            assert!(validate_repository(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "A",
            "a/",
            "/a",
            "a//b",
            "a..b",
            "a___b",
            "a_.b",
            "-a",
            "a-",
            "a b",
            "a:b",
            "a@b",
            &"a".repeat(256),
        ] {
            assert!(
                matches!(validate_repository(bad), Err(Error::InvalidInput(_))),
                "{bad}"
            );
        }
    }
}
