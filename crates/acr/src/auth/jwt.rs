//! Reading the expiry of ACR's refresh and access tokens.
//!
//! The tokens are JWTs signed for the registry, not for us: the signature is never checked,
//! only `exp` is read, to know when to fetch a new token.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

// JWT segments are base64url without padding (RFC 7515 §2), but some issuers pad; the
// standard alphabet would silently corrupt payloads that contain `-` or `_`.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The `exp` claim of a JWT, or `None` when the token is not a JWT, the payload is not
/// base64url JSON, or `exp` is absent, negative or out of range. Never panics.
pub(crate) fn expiry(token: &str) -> Option<SystemTime> {
    let mut segments = token.split('.');
    let (_header, payload, _signature) = (segments.next()?, segments.next()?, segments.next()?);
    let json = BASE64URL.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
    let exp = claims.get("exp")?;
    let seconds = exp.as_u64().or_else(|| {
        exp.as_f64()
            .filter(|s| s.is_finite() && *s >= 0.0 && *s < u64::MAX as f64)
            .map(|s| s as u64)
    })?;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// The `aud` claim of a JWT (the first, when it is a list): ACR's refresh tokens name the
/// registry they were issued for, which is also the `service` of its token service.
pub(crate) fn audience(token: &str) -> Option<String> {
    let mut segments = token.split('.');
    let (_header, payload, _signature) = (segments.next()?, segments.next()?, segments.next()?);
    let json = BASE64URL.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
    match claims.get("aud")? {
        serde_json::Value::String(aud) => Some(aud.clone()),
        serde_json::Value::Array(auds) => auds.first()?.as_str().map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            b64.encode(r#"{"alg":"RS256"}"#),
            b64.encode(payload)
        )
    }

    #[test]
    fn reads_the_audience() {
        assert_eq!(
            audience(&jwt(r#"{"aud":"r.azurecr.io","exp":1}"#)).as_deref(),
            Some("r.azurecr.io")
        );
        assert_eq!(audience(&jwt(r#"{"aud":["a","b"]}"#)).as_deref(), Some("a"));
        assert_eq!(audience(&jwt(r#"{"aud":7}"#)), None);
        assert_eq!(audience("opaque"), None);
    }

    #[test]
    fn reads_exp_as_seconds_since_the_epoch() {
        let token = jwt(r#"{"exp":1700000000,"access":[]}"#);
        assert_eq!(
            expiry(&token),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
    }

    #[test]
    fn decodes_the_url_safe_alphabet_that_standard_base64_corrupts() {
        // `?>>` and `~~~` encode to `-` and `_` in base64url.
        let token = jwt(r#"{"note":"?>>~~~","exp":42}"#);
        assert!(token.split('.').nth(1).unwrap().contains(['-', '_']));
        assert_eq!(expiry(&token), Some(UNIX_EPOCH + Duration::from_secs(42)));
    }

    #[test]
    fn accepts_padded_segments_and_fractional_exp() {
        let b64 = base64::engine::general_purpose::URL_SAFE;
        let token = format!("h.{}.s", b64.encode(r#"{"exp":10.5}"#));
        assert_eq!(expiry(&token), Some(UNIX_EPOCH + Duration::from_secs(10)));
    }

    #[test]
    fn anything_unreadable_is_none() {
        for token in [
            "",
            "opaque-token",
            "a.b",
            "a.!!!.c",
            &jwt("not json"),
            &jwt(r#"{"iat":1}"#),
            &jwt(r#"{"exp":"soon"}"#),
            &jwt(r#"{"exp":-5}"#),
            &jwt(r#"{"exp":1e300}"#),
            &jwt(r#"{"exp":18446744073709551615}"#),
            &jwt("[1,2]"),
        ] {
            assert_eq!(expiry(token), None, "{token}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(token in ".*") {
            let _ = expiry(&token);
        }

        #[test]
        fn arbitrary_payload_bytes_never_panic(payload in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let _ = expiry(&format!("h.{}.s", b64.encode(&payload)));
        }

        #[test]
        fn every_representable_exp_round_trips(exp in 0u64..=253_402_300_799) {
            let token = jwt(&format!(r#"{{"exp":{exp}}}"#));
            proptest::prop_assert_eq!(expiry(&token), Some(UNIX_EPOCH + Duration::from_secs(exp)));
        }
    }
}
