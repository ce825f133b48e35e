//! What every sample needs: a client for the registry named by the environment.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use acr::{AccessToken, ContainerRegistryClient, Credential, Secret};

/// A client for `CONTAINERREGISTRY_ENDPOINT`, authenticated by the first of:
/// - an Azure AD service principal: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
///   `AZURE_CLIENT_SECRET` (and `AZURE_AUTHORITY_HOST` outside the public cloud);
/// - `CONTAINERREGISTRY_USERNAME` and `CONTAINERREGISTRY_PASSWORD`;
/// - `CONTAINERREGISTRY_REFRESH_TOKEN` (`az acr login --expose-token`);
///
/// else anonymous. `http://` endpoints are accepted for registries on the loopback
/// interface.
pub(crate) fn client_from_env() -> Result<ContainerRegistryClient, Box<dyn std::error::Error>> {
    client_from(|name| std::env::var(name).ok())
}

/// [`client_from_env`], reading the variables through `lookup`.
pub(crate) fn client_from(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<ContainerRegistryClient, Box<dyn std::error::Error>> {
    let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
    let endpoint = var("CONTAINERREGISTRY_ENDPOINT")
        .ok_or("set CONTAINERREGISTRY_ENDPOINT to the registry's URL")?;
    let credential = if let (Some(tenant), Some(client_id), Some(secret)) = (
        var("AZURE_TENANT_ID"),
        var("AZURE_CLIENT_ID"),
        var("AZURE_CLIENT_SECRET"),
    ) {
        let authority = var("AZURE_AUTHORITY_HOST")
            .unwrap_or_else(|| "https://login.microsoftonline.com".into());
        Credential::from(Arc::new(ServicePrincipal {
            authority,
            tenant,
            client_id,
            secret: Secret::new(secret),
        }))
    } else if let (Some(username), Some(password)) = (
        var("CONTAINERREGISTRY_USERNAME"),
        var("CONTAINERREGISTRY_PASSWORD"),
    ) {
        Credential::basic(username, password)
    } else if let Some(token) = var("CONTAINERREGISTRY_REFRESH_TOKEN") {
        Credential::refresh_token(token)
    } else {
        Credential::anonymous()
    };
    let loopback =
        endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost");
    Ok(ContainerRegistryClient::builder(endpoint)
        .credential(credential)
        .allow_http(loopback)
        .build()?)
}

/// Azure AD's client-credentials grant, in a few lines. Applications would rather pass an
/// `azure_identity` credential through `Credential::azure` (feature `azure-identity`);
/// this keeps the samples free of a second HTTP stack.
#[derive(Debug)]
struct ServicePrincipal {
    authority: String,
    tenant: String,
    client_id: String,
    secret: Secret,
}

#[async_trait::async_trait]
impl acr::TokenCredential for ServicePrincipal {
    async fn get_token(&self, scopes: &[&str]) -> acr::Result<AccessToken> {
        #[derive(serde::Deserialize)]
        struct Token {
            access_token: String,
            expires_in: u64,
        }
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority.trim_end_matches('/'),
            self.tenant
        );
        let scope = scopes.join(" ");
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.secret.expose()),
            ("scope", scope.as_str()),
        ];
        let refused = |e: reqwest::Error| {
            acr::Error::authentication(format!(
                "Azure AD refused the service principal: {}",
                e.without_url()
            ))
        };
        let token: Token = reqwest::Client::new()
            .post(url)
            .form(&form)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(refused)?
            .json()
            .await
            .map_err(refused)?;
        Ok(AccessToken {
            token: Secret::new(token.access_token),
            expires_on: SystemTime::now() + Duration::from_secs(token.expires_in),
        })
    }
}
