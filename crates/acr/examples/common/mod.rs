//! What every sample needs: a client for the registry named by the environment.

use acr::{ContainerRegistryClient, Credential};

/// A client for `CONTAINERREGISTRY_ENDPOINT`, with the ACR username and password in
/// `CONTAINERREGISTRY_USERNAME` and `CONTAINERREGISTRY_PASSWORD` when set, else anonymous.
/// `http://` endpoints are accepted for registries on the loopback interface.
pub(crate) fn client_from_env() -> Result<ContainerRegistryClient, Box<dyn std::error::Error>> {
    let endpoint = std::env::var("CONTAINERREGISTRY_ENDPOINT")
        .map_err(|_| "set CONTAINERREGISTRY_ENDPOINT to the registry's URL")?;
    let credential = match (
        std::env::var("CONTAINERREGISTRY_USERNAME"),
        std::env::var("CONTAINERREGISTRY_PASSWORD"),
    ) {
        (Ok(username), Ok(password)) => Credential::basic(username, password),
        _ => Credential::anonymous(),
    };
    let loopback =
        endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost");
    Ok(ContainerRegistryClient::builder(endpoint)
        .credential(credential)
        .allow_http(loopback)
        .build()?)
}
