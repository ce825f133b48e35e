//! Digests and tags, validated before any request (OCI distribution spec, "Pulling
//! manifests"; OCI image spec, "Digests").

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

use crate::{Error, Result};

/// A content digest, `algorithm:encoded` (`sha256:9f86d0…`), checked against the OCI
/// grammar, with the registered algorithms held to their exact form (`sha256`: 64, `sha512`:
/// 128 lower-case hex digits).
///
/// ```
/// let digest: acr::Digest = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".parse()?;
/// assert_eq!(digest.algorithm(), "sha256");
/// assert!("sha256:ABC".parse::<acr::Digest>().is_err());
/// # Ok::<(), acr::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    value: String,
    colon: usize,
}

impl Digest {
    /// Parses and validates a digest; [`Error::InvalidInput`] says what is wrong.
    pub fn parse(value: &str) -> Result<Self> {
        let invalid = |why: &str| Error::InvalidInput(format!("{value:?} is not a digest: {why}"));
        let Some(colon) = value.find(':') else {
            return Err(invalid("expected `algorithm:encoded`"));
        };
        let (algorithm, encoded) = (&value[..colon], &value[colon + 1..]);
        let component = |c: &str| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        if !algorithm.split(['+', '.', '_', '-']).all(component) {
            return Err(invalid(
                "the algorithm must be lower-case letters and digits",
            ));
        }
        let encoded_ok = !encoded.is_empty()
            && encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
        if !encoded_ok {
            return Err(invalid(
                "the encoded part must be letters, digits, `=`, `_` or `-`",
            ));
        }
        let hex = |len: usize| {
            encoded.len() == len
                && encoded
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        match algorithm {
            "sha256" if !hex(64) => return Err(invalid("sha256 takes 64 lower-case hex digits")),
            "sha512" if !hex(128) => return Err(invalid("sha512 takes 128 lower-case hex digits")),
            _ => {}
        }
        Ok(Self {
            value: value.to_owned(),
            colon,
        })
    }

    /// The algorithm (`sha256`).
    pub fn algorithm(&self) -> &str {
        &self.value[..self.colon]
    }

    /// The encoded hash (hex for `sha256`).
    pub fn encoded(&self) -> &str {
        &self.value[self.colon + 1..]
    }

    /// The whole digest, `algorithm:encoded`.
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl Digest {
    /// The `sha256:` digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Self {
        let mut hasher = DigestHasher::sha256();
        hasher.update(bytes);
        hasher.finish()
    }

    /// A hasher for this digest's algorithm, to check content against it while it
    /// streams; [`Error::InvalidInput`] for an algorithm this crate cannot compute.
    pub(crate) fn hasher(&self) -> Result<DigestHasher> {
        match self.algorithm() {
            "sha256" => Ok(DigestHasher::sha256()),
            "sha512" => Ok(DigestHasher::Sha512(sha2::Sha512::new())),
            other => Err(Error::InvalidInput(format!(
                "cannot verify content against a {other} digest: only sha256 and sha512 are computed"
            ))),
        }
    }

    /// [`Error::DigestMismatch`] unless `actual` is this digest.
    pub(crate) fn verify(&self, actual: &Digest) -> Result<()> {
        if self == actual {
            Ok(())
        } else {
            Err(Error::DigestMismatch {
                expected: self.to_string(),
                actual: actual.to_string(),
            })
        }
    }
}

/// A digest computed incrementally, as content streams past.
#[derive(Clone)]
pub(crate) enum DigestHasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl DigestHasher {
    pub(crate) fn sha256() -> Self {
        Self::Sha256(sha2::Sha256::new())
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(hasher) => hasher.update(bytes),
            Self::Sha512(hasher) => hasher.update(bytes),
        }
    }

    pub(crate) fn finish(self) -> Digest {
        let (algorithm, hash) = match self {
            Self::Sha256(hasher) => ("sha256", hasher.finalize().to_vec()),
            Self::Sha512(hasher) => ("sha512", hasher.finalize().to_vec()),
        };
        let mut value = String::with_capacity(algorithm.len() + 1 + hash.len() * 2);
        value.push_str(algorithm);
        value.push(':');
        for byte in hash {
            value.push(char::from(HEX[usize::from(byte >> 4)]));
            value.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        Digest {
            value,
            colon: algorithm.len(),
        }
    }
}

impl fmt::Debug for DigestHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sha256(_) => "DigestHasher(sha256)",
            Self::Sha512(_) => "DigestHasher(sha512)",
        })
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl FromStr for Digest {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self> {
        Self::parse(value)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.value)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.value
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.value == other
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        self.value == *other
    }
}

impl PartialEq<String> for Digest {
    fn eq(&self, other: &String) -> bool {
        &self.value == other
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Digest::parse(&value).map_err(serde::de::Error::custom)
    }
}

/// The registry's `Docker-Content-Digest`, if it sent one; a value that is no digest is
/// [`Error::Protocol`].
pub(crate) fn docker_content_digest(headers: &http::HeaderMap) -> Result<Option<Digest>> {
    let Some(value) = headers.get("docker-content-digest") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| Digest::parse(text.trim()).ok())
        .map(Some)
        .ok_or_else(|| {
            Error::Protocol(format!(
                "the registry's Docker-Content-Digest {value:?} is not a digest"
            ))
        })
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub(crate) fn validate_tag(tag: &str) -> Result<()> {
    let bytes = tag.as_bytes();
    let valid = matches!(bytes.first(), Some(b) if b.is_ascii_alphanumeric() || *b == b'_')
        && bytes.len() <= 128
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{tag:?} is not a tag: up to 128 letters, digits, `.`, `_` or `-`, not starting with `.` or `-`"
        )))
    }
}

/// What a manifest is named by: a tag, or a digest.
///
/// Calls that take either accept anything [`IntoReference`]: a [`Digest`], a `Reference`,
/// or a string, which is a digest when it has the digest's `algorithm:encoded` form (tags
/// cannot hold `:`) and a tag otherwise.
///
/// ```
/// use acr::{IntoReference as _, Reference};
/// assert!(matches!("v1".into_reference()?, Reference::Tag(_)));
/// let digest: acr::Digest =
///     "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".parse()?;
/// assert_eq!(digest.clone().into_reference()?, Reference::Digest(digest));
/// assert!("-v1".into_reference().is_err());
/// # Ok::<(), acr::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reference {
    /// A tag, valid by the OCI grammar `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
    Tag(String),
    /// A digest.
    Digest(Digest),
}

impl Reference {
    /// Parses a tag or a digest; [`Error::InvalidInput`] when it is neither.
    pub fn parse(value: &str) -> Result<Self> {
        if value.contains(':') {
            Digest::parse(value).map(Reference::Digest)
        } else {
            validate_tag(value).map(|()| Reference::Tag(value.to_owned()))
        }
    }

    /// A tag, validated.
    pub fn tag(tag: impl Into<String>) -> Result<Self> {
        let tag = tag.into();
        validate_tag(&tag).map(|()| Reference::Tag(tag))
    }

    /// The reference as it goes into a URL.
    pub fn as_str(&self) -> &str {
        match self {
            Reference::Tag(tag) => tag,
            Reference::Digest(digest) => digest.as_str(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Digest> for Reference {
    fn from(digest: Digest) -> Self {
        Reference::Digest(digest)
    }
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self> {
        Self::parse(value)
    }
}

/// What names a manifest in calls that take a tag or a digest: a [`Reference`], a
/// [`Digest`], or a string parsed by [`Reference::parse`]. Sealed.
pub trait IntoReference: sealed::Sealed {
    /// The reference; [`Error::InvalidInput`] for a string that is neither tag nor digest.
    fn into_reference(self) -> Result<Reference>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Reference {}
    impl Sealed for &super::Reference {}
    impl Sealed for super::Digest {}
    impl Sealed for &super::Digest {}
    impl Sealed for &str {}
    impl Sealed for String {}
    impl Sealed for &String {}
}

impl IntoReference for Reference {
    fn into_reference(self) -> Result<Reference> {
        Ok(self)
    }
}

impl IntoReference for &Reference {
    fn into_reference(self) -> Result<Reference> {
        Ok(self.clone())
    }
}

impl IntoReference for Digest {
    fn into_reference(self) -> Result<Reference> {
        Ok(Reference::Digest(self))
    }
}

impl IntoReference for &Digest {
    fn into_reference(self) -> Result<Reference> {
        Ok(Reference::Digest(self.clone()))
    }
}

impl IntoReference for &str {
    fn into_reference(self) -> Result<Reference> {
        Reference::parse(self)
    }
}

impl IntoReference for String {
    fn into_reference(self) -> Result<Reference> {
        Reference::parse(&self)
    }
}

impl IntoReference for &String {
    fn into_reference(self) -> Result<Reference> {
        Reference::parse(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA256: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn digests_follow_the_oci_grammar() {
        let digest = Digest::parse(SHA256).unwrap();
        assert_eq!((digest.algorithm(), digest.encoded().len()), ("sha256", 64));
        assert_eq!(digest.to_string(), SHA256);
        for good in [
            &format!("sha512:{}", "ab".repeat(64)),
            "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
            "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
        ] {
            assert!(Digest::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "sha256",
            "sha256:",
            ":abc",
            "SHA256:abc",
            "sha256:ABC",
            &SHA256.to_uppercase(),
            &SHA256[..SHA256.len() - 1],
            &format!("{SHA256}0"),
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0g",
            "sha256_encoded_stream",
            "sha+:abc",
            "sha256:a b",
            "sha256:abc/def",
        ] {
            assert!(
                matches!(Digest::parse(bad), Err(Error::InvalidInput(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_reference_is_a_digest_only_in_digest_form() {
        assert_eq!(
            Reference::parse("latest").unwrap(),
            Reference::Tag("latest".into())
        );
        assert_eq!(
            Reference::parse("v1.2.3_rc-1").unwrap(),
            Reference::Tag("v1.2.3_rc-1".into())
        );
        // The Python SDK's guess (`sha` prefix) calls this a tag; it is a digest.
        assert!(matches!(
            Reference::parse(SHA256).unwrap(),
            Reference::Digest(_)
        ));
        // Tags starting with `sha` stay tags.
        assert_eq!(
            Reference::parse("sha256").unwrap(),
            Reference::Tag("sha256".into())
        );
        // The grammar admits unregistered algorithms: `v1:2` is a digest, not a tag.
        assert!(matches!(
            Reference::parse("v1:2").unwrap(),
            Reference::Digest(_)
        ));
        for bad in ["", ".hidden", "-x", "a/b", &"t".repeat(129), "sha256:short"] {
            assert!(
                matches!(Reference::parse(bad), Err(Error::InvalidInput(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn digests_of_known_content() {
        assert_eq!(
            Digest::sha256(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let expected = Digest::parse(SHA256).unwrap();
        assert_eq!(Digest::sha256(b"test"), expected);
        let mut hasher = expected.hasher().unwrap();
        hasher.update(b"te");
        hasher.update(b"st");
        assert!(expected.verify(&hasher.finish()).is_ok());
        let error = expected.verify(&Digest::sha256(b"tesT")).unwrap_err();
        assert!(matches!(error, Error::DigestMismatch { expected: e, .. } if e == SHA256));
        let sha512 = Digest::parse(&format!("sha512:{}", "0".repeat(128))).unwrap();
        let mut hasher = sha512.hasher().unwrap();
        hasher.update(b"abc");
        assert!(
            hasher
                .finish()
                .as_str()
                .starts_with("sha512:ddaf35a193617aba")
        );
        assert!(Digest::parse("md5:abc").unwrap().hasher().is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_strings_never_panic(value in ".*") {
            let _ = Reference::parse(&value);
        }

        #[test]
        fn every_sha256_hex_string_is_a_digest(hex in "[0-9a-f]{64}") {
            let digest = Digest::parse(&format!("sha256:{hex}")).unwrap();
            proptest::prop_assert_eq!(digest.encoded(), hex.as_str());
        }
    }
}
