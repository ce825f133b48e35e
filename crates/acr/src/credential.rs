//! Who the client is to the registry.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::{Result, Secret};

/// An Azure AD token, as a [`TokenCredential`] hands it out.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The bearer token.
    pub token: Secret,
    /// When it stops being valid.
    pub expires_on: SystemTime,
}

/// A source of Azure AD access tokens: the identity the client exchanges for ACR tokens.
///
/// With the `azure-identity` feature, [`Credential::azure`] wraps any
/// `azure_core::credentials::TokenCredential` (every `azure_identity` credential); this
/// trait is for other sources.
#[async_trait::async_trait]
pub trait TokenCredential: Send + Sync + fmt::Debug {
    /// A token for `scopes` (the client asks for `<audience>/.default`). Caching is the
    /// credential's business; the client calls this once per ACR refresh token.
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken>;
}

/// How the client authenticates. Build one with the constructors; without one, the client
/// is anonymous.
#[derive(Clone, Default)]
pub struct Credential(pub(crate) Kind);

#[derive(Clone, Default)]
pub(crate) enum Kind {
    #[default]
    Anonymous,
    Aad(Arc<dyn TokenCredential>),
    Basic {
        username: String,
        password: Secret,
    },
    RefreshToken(Secret),
}

impl Credential {
    /// No credential: ACR's anonymous pull (`grant_type=password` without a password). Only
    /// registries with anonymous pull enabled answer, and only to reads.
    pub fn anonymous() -> Self {
        Self(Kind::Anonymous)
    }

    /// An Azure AD identity: its token is exchanged for an ACR refresh token
    /// (`POST /oauth2/exchange`), then for access tokens (`POST /oauth2/token`).
    pub fn token_credential(credential: Arc<dyn TokenCredential>) -> Self {
        Self(Kind::Aad(credential))
    }

    /// A username and password: on ACR the admin user, or a repository-scoped token and
    /// one of its passwords. Sent with Basic authentication to the registry's own
    /// `GET /oauth2/token`; on other registries, with each request where the registry asks
    /// for Basic authentication, or to the token service its challenge names (over https
    /// unless `allow_http` is set). Never elsewhere.
    pub fn basic(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self(Kind::Basic {
            username: username.into(),
            password: password.into(),
        })
    }

    /// An ACR refresh token, such as `az acr login --expose-token` prints, used as is for
    /// access tokens; or the identity token of a Docker token service (what `docker login`
    /// stores as `identitytoken`), exchanged at the realm the registry's challenge names.
    pub fn refresh_token(token: impl Into<Secret>) -> Self {
        Self(Kind::RefreshToken(token.into()))
    }

    /// Any `azure_core` credential, for example one from `azure_identity`:
    ///
    /// ```no_run
    /// # fn demo(credential: std::sync::Arc<dyn azure_core::credentials::TokenCredential>) {
    /// let credential = acr::Credential::azure(credential);
    /// # }
    /// ```
    #[cfg(feature = "azure-identity")]
    pub fn azure(credential: Arc<dyn azure_core::credentials::TokenCredential>) -> Self {
        Self::token_credential(Arc::new(crate::azure::AzureCredential(credential)))
    }
}

impl<T: TokenCredential + 'static> From<Arc<T>> for Credential {
    fn from(credential: Arc<T>) -> Self {
        Self::token_credential(credential)
    }
}

impl From<Arc<dyn TokenCredential>> for Credential {
    fn from(credential: Arc<dyn TokenCredential>) -> Self {
        Self::token_credential(credential)
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Anonymous => f.write_str("Credential::Anonymous"),
            Kind::Aad(credential) => f.debug_tuple("Credential::Aad").field(credential).finish(),
            Kind::Basic { username, password } => f
                .debug_struct("Credential::Basic")
                .field("username", username)
                .field("password", password)
                .finish(),
            Kind::RefreshToken(token) => f
                .debug_tuple("Credential::RefreshToken")
                .field(token)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_kind_and_hides_the_secrets() {
        let basic = format!("{:?}", Credential::basic("admin", "hunter2"));
        assert_eq!(
            basic,
            r#"Credential::Basic { username: "admin", password: <redacted> }"#
        );
        let refresh = format!("{:?}", Credential::refresh_token("eyJ.secret.token"));
        assert_eq!(refresh, "Credential::RefreshToken(<redacted>)");
        assert_eq!(
            format!("{:?}", Credential::default()),
            "Credential::Anonymous"
        );
    }
}
