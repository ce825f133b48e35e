//! The registry client the flags and the environment describe: endpoint, credential, TLS.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use acr::{AccessToken, ContainerRegistryClient, Credential, Secret, TokenCredential};

use crate::cli::Global;
use crate::error::{CliError, CliResult};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The client for `--registry`, authenticated as the flags and the environment say.
pub(crate) fn build(global: &Global, registry: &str) -> CliResult<ContainerRegistryClient> {
    let host = registry_host(registry)?;
    // From here on the registry is known to carry no password, so messages may show it.
    if global.allow_http && registry.trim().starts_with("http://") && !is_loopback(&host) {
        return Err(CliError::Usage(format!(
            "--allow-http is for registries on the loopback interface, not {host}"
        )));
    }
    let http = http_client(global)?;
    let credential = credential(global, &host, http.clone())?;
    let mut builder = ContainerRegistryClient::builder(registry)
        .credential(credential)
        .allow_http(global.allow_http);
    if let Some(http) = http {
        builder = builder.http_client(http);
    }
    Ok(builder.build()?)
}

/// `host[:port]` of a registry given with or without scheme, as docker config keys it.
/// A registry URL with a user or password in it is refused without being shown.
pub(crate) fn registry_host(registry: &str) -> CliResult<String> {
    let trimmed = registry.trim();
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("https://{trimmed}")
    };
    let shown = redacted(registry);
    let url = url::Url::parse(&with_scheme)
        .map_err(|e| CliError::Usage(format!("--registry {shown:?} is not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(CliError::Usage(format!(
            "--registry {shown:?} carries credentials: give them with --username and \
             ACR_PASSWORD, or sign in with `acr login`"
        )));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| CliError::Usage(format!("--registry {shown:?} names no host")))?;
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// `url` with whatever precedes an `@` in its authority replaced, so that a password
/// written into it never reaches a message.
fn redacted(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        // An IPv6 literal keeps its brackets in the host; a bare colon is a port.
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A `reqwest` client trusting `--ca-cert`, when given. Redirects stay off: the registry
/// client follows them itself, holding every hop to its https rule.
fn http_client(global: &Global) -> CliResult<Option<reqwest::Client>> {
    let Some(path) = &global.ca_cert else {
        return Ok(None);
    };
    let pem = std::fs::read(path).map_err(|e| CliError::io("reading", path, e))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        CliError::Other(format!("{} holds no PEM certificate: {e}", path.display()))
    })?;
    if certs.is_empty() {
        return Err(CliError::Other(format!(
            "{} holds no PEM certificate",
            path.display()
        )));
    }
    reqwest::Client::builder()
        .tls_certs_merge(certs)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
        .map(Some)
        .map_err(|e| CliError::Other(format!("cannot set up TLS with {}: {e}", path.display())))
}

fn credential(global: &Global, host: &str, http: Option<reqwest::Client>) -> CliResult<Credential> {
    if global.anonymous {
        return Ok(Credential::anonymous());
    }
    // Checked here rather than by clap, whose `requires` misfires on global flags.
    match (&global.username, &global.password) {
        (Some(username), Some(password)) => {
            return Ok(Credential::basic(username.clone(), password.clone()));
        }
        (Some(_), None) => {
            return Err(CliError::Usage(
                "--username needs a password: give --password or set ACR_PASSWORD".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(CliError::Usage(
                "--password needs a user name: give --username or set ACR_USERNAME".into(),
            ));
        }
        (None, None) => {}
    }
    if let Some(principal) = ServicePrincipal::from_env(global.allow_http, http)? {
        return Ok(Credential::token_credential(Arc::new(principal)));
    }
    Ok(crate::docker_config::credential(host)?.unwrap_or_default())
}

/// Whether the flags or the environment give a credential to sign in with (a username
/// and password, or a service principal), as opposed to one stored by an earlier sign-in.
pub(crate) fn has_sign_in_credential(global: &Global) -> bool {
    !global.anonymous
        && (global.username.is_some()
            || ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"]
                .iter()
                .all(|name| env(name).is_some()))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// An Azure AD service principal with a client secret, signed in with the OAuth 2.0
/// client credentials grant. Written here rather than taken from `azure_identity`, whose
/// HTTP stack would come with its default features.
struct ServicePrincipal {
    token_url: String,
    client_id: String,
    client_secret: Secret,
    http: reqwest::Client,
}

impl std::fmt::Debug for ServicePrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServicePrincipal")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .finish_non_exhaustive()
    }
}

impl ServicePrincipal {
    /// The principal `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` name,
    /// when all three are set; `AZURE_AUTHORITY_HOST` selects a sovereign cloud.
    fn from_env(allow_http: bool, http: Option<reqwest::Client>) -> CliResult<Option<Self>> {
        let (Some(tenant), Some(client_id), Some(client_secret)) = (
            env("AZURE_TENANT_ID"),
            env("AZURE_CLIENT_ID"),
            env("AZURE_CLIENT_SECRET"),
        ) else {
            return Ok(None);
        };
        let authority = env("AZURE_AUTHORITY_HOST")
            .unwrap_or_else(|| "https://login.microsoftonline.com".to_owned());
        let authority = authority.trim_end_matches('/');
        let secure = authority.starts_with("https://")
            || (allow_http
                && authority.starts_with("http://")
                && is_loopback(&registry_host(authority)?));
        if !secure {
            return Err(CliError::Usage(format!(
                "AZURE_AUTHORITY_HOST {:?} must be an https:// URL",
                redacted(authority)
            )));
        }
        let http = match http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .build()
                .map_err(|e| CliError::Other(format!("cannot set up HTTP: {e}")))?,
        };
        Ok(Some(Self {
            token_url: format!("{authority}/{tenant}/oauth2/v2.0/token"),
            client_id,
            client_secret: Secret::new(client_secret),
            http,
        }))
    }
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(serde::Deserialize)]
struct TokenError {
    error: Option<String>,
    error_description: Option<String>,
}

#[async_trait::async_trait]
impl TokenCredential for ServicePrincipal {
    async fn get_token(&self, scopes: &[&str]) -> acr::Result<AccessToken> {
        let scope = scopes.join(" ");
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("scope", scope.as_str()),
        ];
        let response = self
            .http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| acr::Error::Transport(Box::new(e.without_url())))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| acr::Error::Transport(Box::new(e.without_url())))?;
        if !status.is_success() {
            // Azure AD's description names the problem (wrong secret, unknown client)
            // and carries no secret.
            let message = serde_json::from_slice::<TokenError>(&body)
                .ok()
                .and_then(|e| e.error_description.or(e.error))
                .unwrap_or_else(|| format!("Azure AD answered {status}"));
            let message = message.lines().next().unwrap_or_default().to_owned();
            return Err(acr::Error::authentication(format!(
                "service principal sign-in failed: {message}"
            )));
        }
        let token: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            acr::Error::Protocol(format!("Azure AD's token response could not be read: {e}"))
        })?;
        Ok(AccessToken {
            token: Secret::new(token.access_token),
            expires_on: SystemTime::now() + Duration::from_secs(token.expires_in),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_keyed_as_docker_does() {
        assert_eq!(
            registry_host("myregistry.azurecr.io").unwrap(),
            "myregistry.azurecr.io"
        );
        assert_eq!(
            registry_host("https://MyRegistry.azurecr.io/").unwrap(),
            "myregistry.azurecr.io"
        );
        assert_eq!(
            registry_host("http://127.0.0.1:5000").unwrap(),
            "127.0.0.1:5000"
        );
    }

    #[test]
    fn credentials_in_a_registry_url_are_refused_unseen() {
        for registry in [
            "https://user:hunter2@r.azurecr.io",
            "user:hunter2@r.azurecr.io",
            "https://user:hunter2@bad host/",
            "http://:hunter2@127.0.0.1:5000",
        ] {
            let error = registry_host(registry).unwrap_err();
            assert!(matches!(error, CliError::Usage(_)), "{registry}");
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
        assert_eq!(
            redacted("https://u:pw@host:5/a@b"),
            "https://***@host:5/a@b"
        );
        assert_eq!(redacted("host/path"), "host/path");
    }

    #[test]
    fn loopback_is_recognised_with_and_without_port() {
        for host in ["127.0.0.1:5000", "localhost", "[::1]:443", "127.0.0.2"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["myregistry.azurecr.io", "10.0.0.1:5000", "[2001:db8::1]"] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
