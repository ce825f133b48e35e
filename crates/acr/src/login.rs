//! Signing in once, for tools and processes that come later: the client's credential
//! checked with the registry's token service and, where it yields one, exchanged for an
//! ACR refresh token that can be stored (as `az acr login --expose-token` prints it, and
//! as docker config `identitytoken` entries hold it).

use std::sync::Arc;

use crate::auth::{Grant, Issuer, challenge, realm};
use crate::credential::Kind;
use crate::{ContainerRegistryClient, Error, Result, Secret};

impl ContainerRegistryClient {
    /// Checks the client's credential with the registry's token service, and returns an
    /// ACR refresh token when the credential yields one:
    ///
    /// - an Azure AD identity: its token exchanged at `POST /oauth2/exchange`;
    /// - an ACR refresh token: itself, once the token service has accepted it;
    /// - a username and password: `None`, after the token service has accepted them (ACR
    ///   exchanges them for access tokens only).
    ///
    /// The refresh token is a secret that grants what the identity may do on this
    /// registry for about three hours; [`crate::Credential::refresh_token`] uses it.
    /// Registries that ask for Basic authentication rather than tokens accept a username
    /// and password on each request, so nothing is checked or exchanged there. On a
    /// registry whose tokens come from a Docker token service (the realm of its challenge),
    /// a username and password are exchanged for the identity token the service gives
    /// (`offline_token`), if any, and an identity token is checked and returned (the newer
    /// one, if the service replaces it).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an anonymous client, which has nothing to sign in
    /// with; [`Error::Authentication`] when the token service refuses the credential.
    pub async fn sign_in(&self) -> Result<Option<Secret>> {
        let pipeline = &self.pipeline;
        let credential = pipeline.auth.credential.clone();
        if matches!(credential, Kind::Anonymous) {
            return Err(Error::InvalidInput(
                "an anonymous client has no credential to sign in with".into(),
            ));
        }
        // The challenge of the API root names the service tokens are issued for.
        let operation = Arc::new(pipeline.token_operation("sign_in"));
        let headers = match operation
            .clone()
            .run(|client| async move { client.check_docker_v2_support().send().await })
            .await
        {
            Ok(response) => response.headers().clone(),
            Err(Error::Authentication {
                status: Some(401), ..
            }) => operation.take_failed_headers().unwrap_or_default(),
            Err(error) => return Err(error),
        };
        let Some(challenge) = challenge::bearer(&headers) else {
            return Ok(match credential {
                Kind::RefreshToken(token) => Some(token),
                _ => None,
            });
        };
        let service = challenge
            .service
            .unwrap_or_else(|| pipeline.endpoint.host_str().unwrap_or_default().to_owned());
        let issuer = Issuer::of_realm(challenge.realm.as_deref());
        if let Issuer::Realm(realm) = &issuer {
            // A Docker token service: a password is exchanged for an identity token where
            // the service gives one (`offline_token`), an identity token is checked.
            let grant = Grant {
                issuer: issuer.clone(),
                service,
                scope: String::new(),
            };
            let issued = realm::access_token(pipeline, realm, &grant, &credential, true).await?;
            return Ok(match credential {
                Kind::RefreshToken(token) => Some(issued.refresh_token.unwrap_or(token)),
                _ => issued.refresh_token,
            });
        }
        match credential {
            Kind::Anonymous => unreachable!("refused above"),
            Kind::Aad(identity) => {
                let refresh = pipeline
                    .auth
                    .refresh_token(pipeline, identity.as_ref(), &service)
                    .await?;
                Ok(Some(refresh.token))
            }
            Kind::RefreshToken(token) => {
                access_token_without_scope(pipeline, service).await?;
                Ok(Some(token))
            }
            Kind::Basic { .. } => {
                access_token_without_scope(pipeline, service).await?;
                Ok(None)
            }
        }
    }
}

/// An access token for no scope at all: what the token service issues to any credential
/// it accepts, so asking for one checks the credential and nothing else.
async fn access_token_without_scope(
    pipeline: &Arc<crate::pipeline::Pipeline>,
    service: String,
) -> Result<()> {
    let grant = Grant {
        issuer: Issuer::Registry,
        service,
        scope: String::new(),
    };
    pipeline.auth.access_token(pipeline, &grant).await.map(drop)
}
