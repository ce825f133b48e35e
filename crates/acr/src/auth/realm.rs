//! The Docker token flow: a token from the realm that a registry's `Bearer` challenge names
//! (distribution's token authentication, and the registries built like it: Docker Hub,
//! GHCR, Harbor, Quay).
//!
//! A username and password go with `GET realm?service=…&scope=…` as Basic authentication,
//! an identity token with a `POST` of the OAuth2 form (`grant_type=refresh_token`), and an
//! anonymous client asks with neither. The realm is the only place the password goes: it is
//! the registry's own challenge that names it, the pipeline refuses plain http unless
//! allowed, and a redirect away from the realm drops the credential.

use std::sync::Arc;
use std::time::Duration;

use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use url::Url;

use super::{Grant, basic_authorization, refused_by_token_service};
use crate::credential::Kind;
use crate::pipeline::Pipeline;
use crate::{Error, Result, Secret};

/// The `client_id` token services ask OAuth2 clients to name themselves with.
const CLIENT_ID: &str = "acr-rust";

/// A token service's answer.
pub(crate) struct Issued {
    pub(crate) token: Secret,
    /// `expires_in`, when stated.
    pub(crate) lifetime: Option<Duration>,
    /// An identity token, when one was asked for and given.
    pub(crate) refresh_token: Option<Secret>,
}

/// The answer's fields; older token services send `token`, OAuth2 ones `access_token`.
#[derive(serde::Deserialize)]
struct Answer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<i64>,
    refresh_token: Option<String>,
}

/// An access token for `grant` from `realm`. With `offline`, an identity token is asked
/// for too (what `docker login` stores as `identitytoken`).
pub(crate) async fn access_token(
    pipeline: &Arc<Pipeline>,
    realm: &Url,
    grant: &Grant,
    credential: &Kind,
    offline: bool,
) -> Result<Issued> {
    check_realm(realm, pipeline.allow_http)?;
    let request = match credential {
        Kind::Anonymous => get(realm, grant, None, false),
        Kind::Basic { username, password } => {
            get(realm, grant, Some((username, password)), offline)
        }
        Kind::RefreshToken(token) => post(realm, grant, token, offline),
        Kind::Aad(_) => {
            return Err(Error::authentication(format!(
                "an Azure AD identity signs in to ACR's token service only; this registry's \
                 tokens come from {}",
                realm.host_str().unwrap_or_default()
            )));
        }
    };
    let operation = pipeline.token_operation("get_realm_token");
    let response = operation
        .send(request)
        .await
        .map_err(refused_by_token_service)?;
    if !response.status().is_success() {
        return Err(refused_by_token_service(
            Error::from_response(response).await,
        ));
    }
    let body = response
        .bytes()
        .await
        .map_err(crate::pipeline::transport_error)?;
    let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
        Error::Protocol(format!(
            "the token service's answer is not a token response: {e}"
        ))
    })?;
    let token = [answer.access_token, answer.token]
        .into_iter()
        .flatten()
        .find(|token| !token.is_empty())
        .ok_or_else(|| Error::authentication("the token service answered without a token"))?;
    Ok(Issued {
        token: Secret::new(token),
        lifetime: answer
            .expires_in
            .filter(|&seconds| seconds > 0)
            .map(|seconds| Duration::from_secs(seconds as u64)),
        refresh_token: answer
            .refresh_token
            .filter(|token| !token.is_empty())
            .map(Secret::new),
    })
}

/// A realm to send credentials to: https, or http where the client allows it (test
/// registries on loopback).
fn check_realm(realm: &Url, allow_http: bool) -> Result<()> {
    match realm.scheme() {
        "https" => Ok(()),
        "http" if allow_http => Ok(()),
        scheme => Err(Error::authentication(format!(
            "the registry's token service is at a {scheme} URL ({}); credentials go over \
             https only, unless `allow_http` is set",
            realm.host_str().unwrap_or_default()
        ))),
    }
}

/// `GET realm?service=…&scope=…&scope=…`, with Basic authentication when there is a
/// password.
fn get(
    realm: &Url,
    grant: &Grant,
    basic: Option<(&String, &Secret)>,
    offline: bool,
) -> reqwest::Request {
    let mut url = realm.clone();
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("service", &grant.service);
        for scope in grant.scope.split_whitespace() {
            query.append_pair("scope", scope);
        }
        if let Some((username, _)) = basic {
            query.append_pair("account", username);
        }
        if offline {
            query.append_pair("offline_token", "true");
            query.append_pair("client_id", CLIENT_ID);
        }
    }
    let mut request = reqwest::Request::new(http::Method::GET, url);
    if let Some((username, password)) = basic {
        request
            .headers_mut()
            .insert(AUTHORIZATION, basic_authorization(username, password));
    }
    request
}

/// The OAuth2 form `POST` that exchanges an identity token for an access token.
fn post(realm: &Url, grant: &Grant, refresh_token: &Secret, offline: bool) -> reqwest::Request {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "refresh_token")
        .append_pair("service", &grant.service)
        .append_pair("client_id", CLIENT_ID)
        .append_pair("refresh_token", refresh_token.expose());
    if !grant.scope.is_empty() {
        form.append_pair("scope", &grant.scope);
    }
    if offline {
        form.append_pair("access_type", "offline");
    }
    let mut request = reqwest::Request::new(http::Method::POST, realm.clone());
    request.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    *request.body_mut() = Some(reqwest::Body::from(form.finish()));
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Issuer;

    fn grant(scope: &str) -> Grant {
        Grant {
            issuer: Issuer::Realm(Url::parse("https://auth.example/token").unwrap()),
            service: "registry.example".into(),
            scope: scope.into(),
        }
    }

    #[test]
    fn credentials_go_to_https_realms_only_unless_http_is_allowed() {
        let https = Url::parse("https://auth.example/token").unwrap();
        let http = Url::parse("http://auth.example/token").unwrap();
        let other = Url::parse("ftp://auth.example/token").unwrap();
        assert!(check_realm(&https, false).is_ok());
        assert!(matches!(
            check_realm(&http, false),
            Err(Error::Authentication { .. })
        ));
        assert!(check_realm(&http, true).is_ok());
        assert!(check_realm(&other, true).is_err());
    }

    #[test]
    fn several_scopes_are_several_query_parameters() {
        let realm = Url::parse("https://auth.example/token").unwrap();
        let request = get(
            &realm,
            &grant("repository:a/b:pull,push repository:c:pull"),
            None,
            false,
        );
        assert_eq!(
            request.url().query(),
            Some(
                "service=registry.example&scope=repository%3Aa%2Fb%3Apull%2Cpush&scope=repository%3Ac%3Apull"
            )
        );
        assert!(request.headers().get(AUTHORIZATION).is_none());
    }

    #[test]
    fn a_password_goes_as_basic_authentication_to_the_realm() {
        let realm = Url::parse("https://auth.example/token?via=x").unwrap();
        let password = Secret::new("pw");
        let request = get(
            &realm,
            &grant("repository:a:pull"),
            Some((&"me".to_owned(), &password)),
            true,
        );
        assert_eq!(request.url().host_str(), Some("auth.example"));
        let query = request.url().query().unwrap();
        assert!(query.starts_with("via=x&service="), "{query}");
        assert!(query.ends_with("&account=me&offline_token=true&client_id=acr-rust"));
        assert!(request.headers()[AUTHORIZATION].is_sensitive());
    }
}
