//! The client and its builder.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::auth::Authenticator;
use crate::pipeline::Pipeline;
use crate::{Credential, Error, Result, RetryOptions};

/// The audience of Azure AD tokens for ACR in every Azure cloud.
pub const DEFAULT_AUDIENCE: &str = "https://containerregistry.azure.net";

/// A client for one container registry. Cheap to clone: clones share the connection pool
/// and the token caches.
///
/// ```no_run
/// # fn demo() -> acr::Result<()> {
/// let client = acr::ContainerRegistryClient::builder("myregistry.azurecr.io")
///     .credential(acr::Credential::basic("myregistry", "password"))
///     .build()?;
/// assert_eq!(client.endpoint().as_str(), "https://myregistry.azurecr.io/");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ContainerRegistryClient {
    pub(crate) pipeline: Arc<Pipeline>,
}

impl ContainerRegistryClient {
    /// Starts configuring a client for the registry at `endpoint`
    /// (`https://myregistry.azurecr.io`; the scheme may be left out).
    pub fn builder(endpoint: impl Into<String>) -> ContainerRegistryClientBuilder {
        ContainerRegistryClientBuilder {
            endpoint: endpoint.into(),
            credential: Credential::anonymous(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            retry: RetryOptions::default(),
            connect_timeout: Duration::from_secs(20),
            read_timeout: Duration::from_secs(60),
            http_client: None,
            allow_http: false,
            api_version: API_VERSION.to_owned(),
            response_timeout: Duration::from_secs(15),
            token_service: None,
        }
    }

    /// The registry's URL, normalised.
    pub fn endpoint(&self) -> &Url {
        &self.pipeline.endpoint
    }
}

/// The REST API version of the ACR data-plane spec this client is generated from, sent
/// unless [`ContainerRegistryClientBuilder::api_version`] says otherwise.
pub const API_VERSION: &str = acr_rest::API_VERSION;

/// Configures a [`ContainerRegistryClient`]; see [`ContainerRegistryClient::builder`].
#[derive(Debug)]
#[must_use]
pub struct ContainerRegistryClientBuilder {
    endpoint: String,
    credential: Credential,
    audience: String,
    retry: RetryOptions,
    connect_timeout: Duration,
    read_timeout: Duration,
    http_client: Option<reqwest::Client>,
    allow_http: bool,
    api_version: String,
    response_timeout: Duration,
    token_service: Option<String>,
}

impl ContainerRegistryClientBuilder {
    /// How the client authenticates; anonymous when not set.
    pub fn credential(mut self, credential: impl Into<Credential>) -> Self {
        self.credential = credential.into();
        self
    }

    /// The audience of the Azure AD tokens, [`DEFAULT_AUDIENCE`] unless set; the client asks
    /// for the scope `<audience>/.default`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// How throttled and failed requests are retried.
    pub fn retry(mut self, retry: RetryOptions) -> Self {
        self.retry = retry;
        self
    }

    /// How long to wait for a connection (20 s unless set). Ignored with
    /// [`http_client`](Self::http_client), which brings its own.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a read may wait for data (60 s unless set). There is no total timeout: a
    /// blob transfer may take as long as it keeps moving. Ignored with
    /// [`http_client`](Self::http_client).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// How long a try waits for the registry's answer to begin, its status and headers
    /// (15 s unless set); apart from [`read_timeout`](Self::read_timeout), which bounds
    /// each wait for body data. A try left unanswered is repeated once, so a registry that
    /// accepts connections and never answers fails in about twice this.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Sends requests with this `reqwest` client (proxies, custom root certificates). Give
    /// it `redirect::Policy::none()`: the client follows redirects itself, so that it can
    /// apply the https rule to every hop.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Allows plain `http://`, for registries on the loopback interface in tests. Tokens
    /// and passwords then travel unencrypted.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// The REST API version sent as `api-version` on the operations that take one (the
    /// `/acr/v1/…` metadata operations and the token exchanges); [`API_VERSION`], the
    /// version this client is generated from, unless set. Another version is for a
    /// registry that requires it: the requests and answers keep this version's shape.
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// The `service` that the registry's own token service (ACR's `/oauth2/token`) issues
    /// tokens for: on ACR, the registry's host name. Known in advance, it lets even the
    /// first operation of a client send a token instead of meeting a challenge first, which
    /// halves the requests of a short-lived process. A wrong guess costs one request: the
    /// client then takes the token service the registry's challenge names, as it does when
    /// this is not set. An ACR refresh token issued for this registry (its `aud` claim is
    /// the registry's host) sets it by itself.
    pub fn token_service(mut self, service: impl Into<String>) -> Self {
        self.token_service = Some(service.into());
        self
    }

    /// The client, or [`Error::InvalidInput`] for an endpoint that is not a registry URL.
    pub fn build(self) -> Result<ContainerRegistryClient> {
        let endpoint = normalize_endpoint(&self.endpoint, self.allow_http)?;
        let http = match self.http_client {
            Some(client) => client,
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .read_timeout(self.read_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::Transport(Box::new(e)))?,
        };
        let auth = Authenticator::new(
            self.credential,
            &self.audience,
            self.token_service,
            &crate::registry::registry_host(&endpoint),
        );
        Ok(ContainerRegistryClient {
            pipeline: Arc::new(Pipeline::new(
                http,
                endpoint,
                self.allow_http,
                self.retry,
                auth,
                self.api_version,
                self.response_timeout,
            )),
        })
    }
}

/// `endpoint` as an error may show it: any user and password before the host are
/// replaced, so that a password typed into a URL is never echoed.
fn shown(endpoint: &str) -> String {
    let start = endpoint.find("://").map_or(0, |i| i + 3);
    let end = endpoint[start..]
        .find(['/', '?', '#'])
        .map_or(endpoint.len(), |i| start + i);
    match endpoint[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &endpoint[..start], &endpoint[start + at..]),
        None => endpoint.to_owned(),
    }
}

/// `myregistry.azurecr.io`, `https://myregistry.azurecr.io/` → `https://myregistry.azurecr.io/`.
fn normalize_endpoint(endpoint: &str, allow_http: bool) -> Result<Url> {
    let invalid = |why: &str| {
        Error::InvalidInput(format!(
            "invalid registry endpoint {:?}: {why}",
            shown(endpoint)
        ))
    };
    let trimmed = endpoint.trim();
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("https://{trimmed}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| invalid(&e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err(invalid("plain http must be enabled with `allow_http`")),
        _ => return Err(invalid("the scheme must be https")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "credentials belong in `credential`, not in the URL",
        ));
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.path().trim_end_matches('/').is_empty()
    {
        return Err(invalid(
            "a registry endpoint has no path, query or fragment",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_endpoint_is_never_echoed() {
        for endpoint in [
            "https://user:hunter2@r.azurecr.io",
            "http://user:hunter2@r.azurecr.io",
            "https://user:hunter2@r.azurecr.io/path?q#f",
            "user:hunter2@r.azurecr.io",
            "ftp://user:hunter2@r.azurecr.io",
            "https://user:hunter2@",
            "https://us@er:hunter2@r.azurecr.io",
        ] {
            let error = normalize_endpoint(endpoint, false).unwrap_err().to_string();
            assert!(!error.contains("hunter2"), "{error}");
            assert!(error.contains("***"), "{error}");
        }
    }

    #[test]
    fn endpoints_are_normalised() {
        for (given, expected) in [
            ("myregistry.azurecr.io", "https://myregistry.azurecr.io/"),
            (
                "https://myregistry.azurecr.io/",
                "https://myregistry.azurecr.io/",
            ),
            (
                "  HTTPS://MyRegistry.azurecr.io  ",
                "https://myregistry.azurecr.io/",
            ),
            ("https://localhost:5000", "https://localhost:5000/"),
        ] {
            assert_eq!(
                normalize_endpoint(given, false).unwrap().as_str(),
                expected,
                "{given}"
            );
        }
        assert_eq!(
            normalize_endpoint("http://127.0.0.1:5000/", true)
                .unwrap()
                .as_str(),
            "http://127.0.0.1:5000/"
        );
    }

    #[test]
    fn endpoints_that_are_not_registry_urls_are_invalid_input() {
        for endpoint in [
            "",
            "https://",
            "http://127.0.0.1:5000",
            "ftp://r.azurecr.io",
            "https://user:pass@r.azurecr.io",
            "https://r.azurecr.io/v2/",
            "https://r.azurecr.io/?x=1",
            "not a url at all",
        ] {
            let error = normalize_endpoint(endpoint, false).unwrap_err();
            assert!(
                matches!(error, Error::InvalidInput(_)),
                "{endpoint}: {error:?}"
            );
        }
    }
}
