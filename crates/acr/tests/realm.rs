//! The Docker token flow, against httpmock: a registry whose challenge names a token
//! service elsewhere (its realm), as distribution with token authentication, Docker Hub,
//! GHCR, Harbor and Quay do.

use std::time::Duration;

use acr::{ContainerRegistryClient, Credential, Error, MountOutcome};
use base64::Engine as _;
use futures_util::TryStreamExt as _;
use httpmock::Method::{GET, POST};
use httpmock::MockServer;
use serde_json::json;

const SERVICE: &str = "registry.example";
const REPO: &str = "library/hello";
const DIGEST: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

fn challenge(realm: &MockServer, scope: &str) -> String {
    format!(
        r#"Bearer realm="{}",service="{SERVICE}",scope="{scope}""#,
        realm.url("/token")
    )
}

fn client(registry: &MockServer, credential: Credential) -> ContainerRegistryClient {
    ContainerRegistryClient::builder(registry.base_url())
        .allow_http(true)
        .credential(credential)
        .build()
        .unwrap()
}

/// The tag names of `REPO`, through the OCI tag list.
async fn tags(client: &ContainerRegistryClient) -> acr::Result<Vec<String>> {
    client.list_tag_names(REPO).try_collect().await
}

fn basic(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

/// `GET /v2/<REPO>/tags/list`: 401 without the token, the list with it.
async fn tag_list<'a>(
    registry: &'a MockServer,
    realm: &MockServer,
    token: &str,
) -> httpmock::Mock<'a> {
    let scope = format!("repository:{REPO}:pull");
    let path = format!("/v2/{REPO}/tags/list");
    registry
        .mock_async(|when, then| {
            when.method(GET)
                .path(path.clone())
                .header_missing("authorization");
            then.status(401)
                .header("www-authenticate", challenge(realm, &scope))
                .json_body(json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}));
        })
        .await;
    registry
        .mock_async(|when, then| {
            when.method(GET)
                .path(path)
                .header("authorization", format!("Bearer {token}"));
            then.status(200)
                .json_body(json!({"name": REPO, "tags": ["v1", "v2"]}));
        })
        .await
}

#[tokio::test]
async fn a_password_goes_to_the_realm_only_and_the_token_to_the_registry() {
    let registry = MockServer::start_async().await;
    let realm = MockServer::start_async().await;
    let listed = tag_list(&registry, &realm, "opaque-token").await;
    let token = realm
        .mock_async(|when, then| {
            when.method(GET)
                .path("/token")
                .query_param("service", SERVICE)
                .query_param("scope", format!("repository:{REPO}:pull"))
                .query_param("account", "me")
                .header("authorization", basic("me", "secret"));
            then.status(200)
                .json_body(json!({"token": "opaque-token", "expires_in": 300}));
        })
        .await;
    let client = client(&registry, Credential::basic("me", "secret"));

    for _ in 0..3 {
        assert_eq!(tags(&client).await.unwrap(), ["v1", "v2"]);
    }
    // One token for its 300 s, sent up front after the first challenge.
    assert_eq!(token.calls_async().await, 1);
    assert_eq!(listed.calls_async().await, 3);
    // The registry's two mocks take requests with no `Authorization` or with the bearer
    // token: a request carrying the password would have matched neither and failed.
}

#[tokio::test]
async fn an_identity_token_is_exchanged_with_the_oauth2_form() {
    let registry = MockServer::start_async().await;
    let realm = MockServer::start_async().await;
    tag_list(&registry, &realm, "access-from-post").await;
    let token = realm
        .mock_async(|when, then| {
            when.method(POST)
                .path("/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .form_urlencoded_tuple("grant_type", "refresh_token")
                .form_urlencoded_tuple("refresh_token", "identity-token")
                .form_urlencoded_tuple("service", SERVICE)
                .form_urlencoded_tuple("scope", format!("repository:{REPO}:pull"))
                .form_urlencoded_tuple("client_id", "acr-rust")
                .header_missing("authorization");
            // OAuth2 answers name the token `access_token`.
            then.status(200)
                .json_body(json!({"access_token": "access-from-post", "expires_in": 60}));
        })
        .await;
    let client = client(&registry, Credential::refresh_token("identity-token"));
    let tags = tags(&client).await.unwrap();
    assert_eq!(tags, ["v1", "v2"]);
    token.assert_async().await;
}

#[tokio::test]
async fn an_anonymous_client_asks_the_realm_without_credentials() {
    let registry = MockServer::start_async().await;
    let realm = MockServer::start_async().await;
    tag_list(&registry, &realm, "anonymous-token").await;
    let token = realm
        .mock_async(|when, then| {
            when.method(GET)
                .path("/token")
                .query_param("service", SERVICE)
                .header_missing("authorization");
            then.status(200)
                .json_body(json!({"token": "anonymous-token"}));
        })
        .await;
    let client = client(&registry, Credential::anonymous());
    let tags = tags(&client).await.unwrap();
    assert_eq!(tags.len(), 2);
    token.assert_async().await;
}

#[tokio::test]
async fn a_short_expires_in_is_honoured() {
    let registry = MockServer::start_async().await;
    let realm = MockServer::start_async().await;
    tag_list(&registry, &realm, "short-lived").await;
    let token = realm
        .mock_async(|when, then| {
            when.method(GET).path("/token");
            then.status(200)
                .json_body(json!({"token": "short-lived", "expires_in": 1}));
        })
        .await;
    let client = client(&registry, Credential::basic("me", "secret"));
    for _ in 0..2 {
        tags(&client).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert_eq!(
        token.calls_async().await,
        2,
        "a 1 s token is not reused after 1.1 s"
    );
}

#[tokio::test]
async fn a_realm_that_redirects_elsewhere_gets_no_password_there() {
    let registry = MockServer::start_async().await;
    let realm = MockServer::start_async().await;
    let elsewhere = MockServer::start_async().await;
    tag_list(&registry, &realm, "never").await;
    realm
        .mock_async(|when, then| {
            when.method(GET).path("/token");
            then.status(307).header("location", elsewhere.url("/token"));
        })
        .await;
    let stolen = elsewhere
        .mock_async(|when, then| {
            when.method(GET)
                .path("/token")
                .header_exists("authorization");
            then.status(200).json_body(json!({"token": "stolen"}));
        })
        .await;
    let unauthenticated = elsewhere
        .mock_async(|when, then| {
            when.method(GET)
                .path("/token")
                .header_missing("authorization");
            then.status(401)
                .json_body(json!({"errors": [{"code": "UNAUTHORIZED", "message": "who are you"}]}));
        })
        .await;
    let client = client(&registry, Credential::basic("me", "secret"));
    let error = tags(&client).await.unwrap_err();
    assert!(matches!(error, Error::Authentication { .. }), "{error:?}");
    assert_eq!(stolen.calls_async().await, 0);
    assert!(unauthenticated.calls_async().await >= 1);
}

#[tokio::test]
async fn a_refused_password_is_an_authentication_error_with_the_services_message() {
    let registry = MockServer::start_async().await;
    let realm = MockServer::start_async().await;
    tag_list(&registry, &realm, "never").await;
    realm
        .mock_async(|when, then| {
            when.method(GET).path("/token");
            then.status(401).json_body(
                json!({"errors": [{"code": "UNAUTHORIZED", "message": "incorrect username or password"}]}),
            );
        })
        .await;
    let client = client(&registry, Credential::basic("me", "wrong-secret"));
    let error = tags(&client).await.unwrap_err();
    let shown = error.to_string();
    assert!(matches!(error, Error::Authentication { .. }), "{error:?}");
    assert!(shown.contains("incorrect username or password"), "{shown}");
    assert!(!shown.contains("wrong-secret"), "{shown}");
}

#[tokio::test]
async fn an_azure_identity_is_not_sent_to_another_token_service() {
    #[derive(Debug)]
    struct NeverAsked;
    #[async_trait::async_trait]
    impl acr::TokenCredential for NeverAsked {
        async fn get_token(&self, _: &[&str]) -> acr::Result<acr::AccessToken> {
            panic!("an Azure AD token was asked for a Docker token service");
        }
    }
    let registry = MockServer::start_async().await;
    let realm = MockServer::start_async().await;
    tag_list(&registry, &realm, "never").await;
    let asked = realm
        .mock_async(|when, then| {
            when.path("/token");
            then.status(500);
        })
        .await;
    let client = client(&registry, Credential::from(std::sync::Arc::new(NeverAsked)));
    let error = tags(&client).await.unwrap_err();
    assert!(matches!(error, Error::Authentication { .. }), "{error:?}");
    assert_eq!(asked.calls_async().await, 0);
}

#[tokio::test]
async fn a_mount_asks_for_both_repositories_in_one_token() {
    let registry = MockServer::start_async().await;
    let realm = MockServer::start_async().await;
    let target = "team/app";
    let source = "library/base";
    // The first operation teaches the client the token service.
    tag_list(&registry, &realm, "pull-token").await;
    realm
        .mock_async(|when, then| {
            when.method(GET)
                .path("/token")
                .query_param("scope", format!("repository:{REPO}:pull"));
            then.status(200).json_body(json!({"token": "pull-token"}));
        })
        .await;
    let both = realm
        .mock_async(|when, then| {
            when.method(GET)
                .path("/token")
                .query_param("scope", format!("repository:{target}:pull,push"))
                .query_param("scope", format!("repository:{source}:pull"));
            then.status(200).json_body(json!({"token": "mount-token"}));
        })
        .await;
    let mounted = registry
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("/v2/{target}/blobs/uploads/"))
                .query_param("mount", DIGEST)
                .query_param("from", source)
                .header("authorization", "Bearer mount-token");
            then.status(201)
                .header("location", format!("/v2/{target}/blobs/{DIGEST}"))
                .header("docker-content-digest", DIGEST);
        })
        .await;
    let client = client(&registry, Credential::basic("me", "secret"));
    tags(&client).await.unwrap();

    let outcome = client
        .mount_blob(target, source, &DIGEST.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(outcome, MountOutcome::Mounted);
    both.assert_async().await;
    // Sent up front: the mount met no challenge.
    mounted.assert_async().await;
}

#[tokio::test]
async fn sign_in_exchanges_a_password_for_the_realms_identity_token() {
    let registry = MockServer::start_async().await;
    let realm = MockServer::start_async().await;
    registry
        .mock_async(|when, then| {
            when.method(GET).path("/v2/");
            then.status(401).header(
                "www-authenticate",
                format!(
                    r#"Bearer realm="{}",service="{SERVICE}""#,
                    realm.url("/token")
                ),
            );
        })
        .await;
    let offline = realm
        .mock_async(|when, then| {
            when.method(GET)
                .path("/token")
                .query_param("service", SERVICE)
                .query_param("offline_token", "true")
                .query_param("client_id", "acr-rust")
                .header("authorization", basic("me", "secret"));
            then.status(200).json_body(
                json!({"token": "t", "access_token": "t", "refresh_token": "identity-token"}),
            );
        })
        .await;
    let client = client(&registry, Credential::basic("me", "secret"));
    let identity = client.sign_in().await.unwrap().expect("an identity token");
    assert_eq!(identity.expose(), "identity-token");
    offline.assert_async().await;
}
