//! ACR's token service: scopes, JWT-shaped refresh and access tokens, and challenges.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// One `type:name:actions` scope, as in challenges and token requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Access {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) actions: Vec<String>,
}

impl Access {
    pub(crate) fn repository(name: &str, actions: &[&str]) -> Self {
        Access {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }

    pub(crate) fn catalog() -> Self {
        Access {
            kind: "registry".into(),
            name: "catalog".into(),
            actions: vec!["*".into()],
        }
    }

    /// Parses `repository:library/hello-world:pull,push`; the name may hold `/` but not `:`.
    pub(crate) fn parse(scope: &str) -> Option<Self> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Access {
            kind: kind.into(),
            name: name.into(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    /// The challenge form, `repository:NAME:pull,push`.
    pub(crate) fn to_scope(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// Who a token was issued to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Identity {
    Anonymous,
    /// A configured Basic-auth user or an accepted AAD token; both get every action, since
    /// the emulator models no role assignments.
    Principal(String),
}

/// The claims of the tokens the emulator issues.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub(crate) jti: String,
    pub(crate) sub: String,
    pub(crate) aud: String,
    pub(crate) iss: String,
    pub(crate) iat: i64,
    pub(crate) nbf: i64,
    pub(crate) exp: i64,
    pub(crate) grant_type: String,
    #[serde(default)]
    pub(crate) access: Vec<Access>,
    pub(crate) version: String,
}

/// Issues and verifies tokens with a per-process key.
pub(crate) struct TokenService {
    key: Vec<u8>,
    pub(crate) host: String,
    pub(crate) lifetime: Duration,
    counter: std::sync::atomic::AtomicU64,
}

/// Why a presented token was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TokenError {
    Malformed,
    Expired,
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // RFC 2104 over SHA-256; tokens only need to be unforgeable by the tests that use them.
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

impl TokenService {
    pub(crate) fn new(host: String, lifetime: Duration) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let key = Sha256::digest(format!("{host}/{nanos}/{:p}", &nanos).as_bytes()).to_vec();
        TokenService {
            key,
            host,
            lifetime,
            counter: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn issue(&self, identity: &Identity, grant_type: &str, access: Vec<Access>) -> String {
        let now = chrono::Utc::now().timestamp();
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let claims = Claims {
            jti: format!("{n:016x}"),
            sub: match identity {
                Identity::Anonymous => String::new(),
                Identity::Principal(p) => p.clone(),
            },
            aud: self.host.clone(),
            iss: "acr-emulator".into(),
            iat: now,
            nbf: now,
            exp: now + self.lifetime.as_secs() as i64,
            grant_type: grant_type.into(),
            access,
            version: "1.0".into(),
        };
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let sig = URL_SAFE_NO_PAD.encode(hmac_sha256(&self.key, signing_input.as_bytes()));
        format!("{signing_input}.{sig}")
    }

    /// MAC of `data` under this emulator's key (also used for upload `_state` values).
    pub(crate) fn sign(&self, data: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.key, data)
    }

    /// A refresh token for a principal (never for anonymous callers, as on ACR).
    pub(crate) fn refresh_token(&self, principal: &str) -> String {
        self.issue(
            &Identity::Principal(principal.into()),
            "refresh_token",
            Vec::new(),
        )
    }

    /// An access token granting what `identity` may do out of `requested`.
    pub(crate) fn access_token(&self, identity: &Identity, requested: &[Access]) -> String {
        let granted = requested
            .iter()
            .map(|a| Access {
                kind: a.kind.clone(),
                name: a.name.clone(),
                actions: a
                    .actions
                    .iter()
                    .filter(|action| match identity {
                        Identity::Principal(_) => true,
                        // Anonymous pull covers reading content and metadata and listing the
                        // catalog, never push, delete or metadata_write.
                        Identity::Anonymous => {
                            matches!(action.as_str(), "pull" | "metadata_read")
                                || (a.kind == "registry" && a.name == "catalog")
                        }
                    })
                    .cloned()
                    .collect(),
            })
            .collect();
        self.issue(identity, "access_token", granted)
    }

    /// Verifies signature and expiry.
    pub(crate) fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let expected = URL_SAFE_NO_PAD.encode(hmac_sha256(
            &self.key,
            format!("{header}.{payload}").as_bytes(),
        ));
        if expected != sig {
            return Err(TokenError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
        if claims.exp <= chrono::Utc::now().timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Whether the granted access list covers every action in `needed`.
pub(crate) fn covers(granted: &[Access], needed: &Access) -> bool {
    needed.actions.iter().all(|action| {
        granted.iter().any(|g| {
            g.kind == needed.kind
                && g.name == needed.name
                && g.actions.iter().any(|a| a == action || a == "*")
        })
    })
}

/// Decodes `Authorization: Basic ...` into user and password.
pub(crate) fn parse_basic(header: &str) -> Option<(String, String)> {
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// `Bearer ...` token from an `Authorization` header.
pub(crate) fn parse_bearer(header: &str) -> Option<&str> {
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_round_trips_names_with_slashes() {
        let a = Access::parse("repository:library/hello-world:pull,push").expect("parses");
        assert_eq!(a.name, "library/hello-world");
        assert_eq!(a.actions, vec!["pull", "push"]);
        assert_eq!(a.to_scope(), "repository:library/hello-world:pull,push");
        assert_eq!(Access::parse("registry:catalog:*"), Some(Access::catalog()));
        assert_eq!(Access::parse("nonsense"), None);
    }

    #[test]
    fn tokens_verify_and_reject_tampering() {
        let svc = TokenService::new("127.0.0.1:1".into(), Duration::from_secs(60));
        let token = svc.access_token(
            &Identity::Anonymous,
            &[Access::repository("r", &["pull", "push", "delete"])],
        );
        let claims = svc.verify(&token).expect("valid");
        assert_eq!(claims.access[0].actions, vec!["pull"]);
        let mut forged = token.clone();
        forged.push('x');
        assert_eq!(svc.verify(&forged).unwrap_err(), TokenError::Malformed);
        let other = TokenService::new("127.0.0.1:1".into(), Duration::from_secs(60));
        assert!(
            other.verify(&token).is_err(),
            "another emulator's key must not verify"
        );
    }

    #[test]
    fn zero_lifetime_tokens_are_expired() {
        let svc = TokenService::new("h".into(), Duration::ZERO);
        let token = svc.refresh_token("admin");
        assert_eq!(svc.verify(&token).unwrap_err(), TokenError::Expired);
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
