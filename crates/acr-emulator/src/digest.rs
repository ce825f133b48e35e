//! Content digests: the OCI image spec's grammar, and the algorithms the registry computes.

use sha2::{Digest as _, Sha256, Sha512};

/// An algorithm the registry can verify content against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Sha256,
    Sha512,
}

/// Why a string cannot serve as a digest here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DigestError {
    /// Not `algorithm:encoded` as the image spec's grammar has it, or, for an algorithm
    /// the spec registers, not its exact form (lower-case hex of the hash's length).
    Invalid,
    /// Well formed, but with an algorithm the registry does not compute.
    Unsupported(String),
}

impl Algorithm {
    /// The algorithm called `name`, as in a digest or the `digest-algorithm` parameter.
    pub(crate) fn named(name: &str) -> Result<Self, DigestError> {
        match name {
            "sha256" => Ok(Algorithm::Sha256),
            "sha512" => Ok(Algorithm::Sha512),
            other => Err(DigestError::Unsupported(other.to_string())),
        }
    }

    /// `algorithm:hex` of `data`.
    pub(crate) fn digest(self, data: &[u8]) -> String {
        let (name, hash) = match self {
            Algorithm::Sha256 => ("sha256", Sha256::digest(data).to_vec()),
            Algorithm::Sha512 => ("sha512", Sha512::digest(data).to_vec()),
        };
        let mut out = String::with_capacity(name.len() + 1 + 2 * hash.len());
        out.push_str(name);
        out.push(':');
        for byte in hash {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        out
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `sha256:<hex>` of `data`, the digest of everything pushed without a digest of its own.
pub(crate) fn sha256_digest(data: &[u8]) -> String {
    Algorithm::Sha256.digest(data)
}

/// Whether `reference` means a digest rather than a tag. Tags cannot contain `:`, so any
/// reference with one is a digest, well formed or not.
pub(crate) fn is_digest(reference: &str) -> bool {
    reference.contains(':')
}

/// Checks `digest` against the image spec's grammar
/// (`algorithm ::= [a-z0-9]+ ([+._-] [a-z0-9]+)*`, `encoded ::= [a-zA-Z0-9=_-]+`) and
/// returns its algorithm when the registry computes it.
pub(crate) fn parse(digest: &str) -> Result<Algorithm, DigestError> {
    let (algorithm, encoded) = digest.split_once(':').ok_or(DigestError::Invalid)?;
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let algorithm_ok = algorithm.split(['+', '.', '_', '-']).all(component_ok);
    let encoded_ok = !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    if !algorithm_ok || !encoded_ok {
        return Err(DigestError::Invalid);
    }
    let algorithm = Algorithm::named(algorithm)?;
    let hex_ok = encoded.len() == algorithm.hex_len()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex_ok {
        Ok(algorithm)
    } else {
        Err(DigestError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        assert_eq!(
            sha256_digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(Algorithm::Sha512.digest(b"abc").starts_with(
            "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        ));
        assert_eq!(Algorithm::Sha512.digest(b"").len(), "sha512:".len() + 128);
    }

    #[test]
    fn grammar_and_registered_forms() {
        let sha256 = format!("sha256:{}", "a".repeat(64));
        let sha512 = format!("sha512:{}", "0".repeat(128));
        assert_eq!(parse(&sha256), Ok(Algorithm::Sha256));
        assert_eq!(parse(&sha512), Ok(Algorithm::Sha512));
        for bad in [
            "sha256:baddigeststring",
            &format!("sha256:{}", "A".repeat(64)),
            &format!("sha512:{}", "a".repeat(64)),
            "sha256:",
            ":abc",
            "Sha256:abc",
            "sha256+:abc",
            "sha256:ab/c",
            "nocolon",
        ] {
            assert_eq!(parse(bad), Err(DigestError::Invalid), "{bad}");
        }
        assert_eq!(
            parse("blake3:abc"),
            Err(DigestError::Unsupported("blake3".into()))
        );
        assert_eq!(
            parse("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"),
            Err(DigestError::Unsupported("multihash+base58".into()))
        );
    }
}
