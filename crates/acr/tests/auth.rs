//! Authentication and the request pipeline, against httpmock: the flows recorded from the
//! real service, token caching, single flight, retries and redirects.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use acr::{
    AccessToken, ContainerRegistryClient, Credential, Error, PropertiesUpdate, RetryOptions, Secret,
};
use base64::Engine as _;
use httpmock::Method::{GET, PATCH, POST};
use httpmock::{Mock, MockServer};
use serde_json::{Value, json};

const REPO: &str = "library/hello-world";
const REPO_PATH: &str = "/acr/v1/library/hello-world";
const SERVICE: &str = "myregistry.azurecr.io";
const AAD_TOKEN: &str = "aad-token-that-must-stay-secret";

fn recording(name: &str) -> Vec<Value> {
    let path = format!(
        "{}/../../fixtures/recordings/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let json: Value = serde_json::from_str(&text).unwrap();
    json["Entries"].as_array().unwrap().clone()
}

/// A JWT-shaped token expiring `seconds` from now (negative: already expired).
fn jwt(name: &str, seconds: i64) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + seconds;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        b64.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64.encode(json!({ "exp": exp, "jti": name }).to_string()),
        b64.encode(name)
    )
}

fn challenge(scope: &str) -> String {
    format!(r#"Bearer realm="https://{SERVICE}/oauth2/token",service="{SERVICE}",scope="{scope}""#)
}

fn repository_json() -> Value {
    json!({
        "registry": SERVICE,
        "imageName": REPO,
        "createdTime": "2022-07-08T21:52:31.1999242Z",
        "lastUpdateTime": "2022-07-08T21:52:28.9476933Z",
        "manifestCount": 12,
        "tagCount": 5,
        "changeableAttributes": {"deleteEnabled": true, "writeEnabled": true, "readEnabled": true, "listEnabled": true}
    })
}

fn unauthorized_body() -> Value {
    json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required, visit https://aka.ms/acr/authorization for more information."}]})
}

fn client(server: &MockServer, credential: Credential) -> ContainerRegistryClient {
    ContainerRegistryClient::builder(server.base_url())
        .credential(credential)
        .allow_http(true)
        .retry(RetryOptions::default().initial_delay(Duration::from_millis(10)))
        .build()
        .unwrap()
}

/// An Azure AD credential that counts its calls and records the scopes asked for.
#[derive(Debug, Default)]
struct FakeAad {
    calls: AtomicUsize,
    scopes: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl acr::TokenCredential for FakeAad {
    async fn get_token(&self, scopes: &[&str]) -> acr::Result<AccessToken> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.scopes
            .lock()
            .unwrap()
            .extend(scopes.iter().map(|s| s.to_string()));
        Ok(AccessToken {
            token: Secret::new(AAD_TOKEN),
            expires_on: SystemTime::now() + Duration::from_secs(3600),
        })
    }
}

/// The registry side of ACR's AAD flow for `GET <REPO_PATH>`: a challenge without a token,
/// the exchange, the token endpoint, and the resource for the issued access token.
struct AadRegistry<'a> {
    probe: Mock<'a>,
    exchange: Mock<'a>,
    token: Mock<'a>,
    resource: Mock<'a>,
}

async fn aad_registry<'a>(
    server: &'a MockServer,
    refresh_token: &str,
    access_token: &str,
) -> AadRegistry<'a> {
    let scope = format!("repository:{REPO}:metadata_read");
    let probe = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .header_missing("authorization");
            then.status(401)
                .header("www-authenticate", challenge(&scope))
                .json_body(unauthorized_body());
        })
        .await;
    let exchange = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/oauth2/exchange")
                .query_param("api-version", "2021-07-01")
                .form_urlencoded_tuple("grant_type", "access_token")
                .form_urlencoded_tuple("service", SERVICE)
                .form_urlencoded_tuple("access_token", AAD_TOKEN);
            then.status(200)
                .json_body(json!({ "refresh_token": refresh_token }));
        })
        .await;
    let token = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/oauth2/token")
                .form_urlencoded_tuple("grant_type", "refresh_token")
                .form_urlencoded_tuple("service", SERVICE)
                .form_urlencoded_tuple("scope", &scope)
                .form_urlencoded_tuple("refresh_token", refresh_token);
            then.status(200)
                .json_body(json!({ "access_token": access_token }));
        })
        .await;
    let resource = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .header("authorization", format!("Bearer {access_token}"));
            then.status(200).json_body(repository_json());
        })
        .await;
    AadRegistry {
        probe,
        exchange,
        token,
        resource,
    }
}

#[tokio::test]
async fn anonymous_read_follows_the_recorded_flow() {
    let entries = recording(
        "test_anon_access.pyTestContainerRegistryClienttest_get_repository_properties.json",
    );
    let (challenged, token, ok) = (&entries[0], &entries[1], &entries[2]);
    let server = MockServer::start_async().await;
    let probe = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .query_param("api-version", "2021-07-01")
                .header_missing("authorization");
            then.status(401)
                .header(
                    "www-authenticate",
                    challenged["ResponseHeaders"]["WWW-Authenticate"]
                        .as_str()
                        .unwrap(),
                )
                .json_body(challenged["ResponseBody"].clone());
        })
        .await;
    // The recorded form, field for field, and nothing else (no empty `refresh_token`).
    let recorded_form: Vec<(String, String)> =
        url::form_urlencoded::parse(token["RequestBody"].as_str().unwrap().as_bytes())
            .into_owned()
            .collect();
    let expected_form = recorded_form.clone();
    let anonymous_token = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/oauth2/token")
                .query_param("api-version", "2021-07-01")
                .is_true(move |req| {
                    let mut got: Vec<(String, String)> =
                        url::form_urlencoded::parse(req.body().as_ref())
                            .into_owned()
                            .collect();
                    let mut want = expected_form.clone();
                    got.sort();
                    want.sort();
                    got == want
                });
            then.status(200).json_body(token["ResponseBody"].clone());
        })
        .await;
    let resource = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .header("authorization", "Bearer access_token");
            then.status(200).json_body(ok["ResponseBody"].clone());
        })
        .await;

    let properties = client(&server, Credential::anonymous())
        .get_repository_properties(REPO)
        .await
        .unwrap();

    assert_eq!(properties.name, "library/hello-world");
    assert_eq!(properties.registry, "yallacrtestsanon.azurecr.io");
    assert_eq!(
        properties.manifest_count,
        ok["ResponseBody"]["manifestCount"].as_u64().unwrap()
    );
    assert!(
        recorded_form
            .iter()
            .any(|(k, v)| k == "grant_type" && v == "password")
    );
    assert_eq!(
        (
            probe.calls_async().await,
            anonymous_token.calls_async().await,
            resource.calls_async().await
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn a_write_refused_to_an_anonymous_client_is_an_authentication_error_after_one_retry() {
    let entries = recording(
        "test_anon_access.pyTestContainerRegistryClienttest_update_repository_properties.json",
    );
    let (first, refused) = (&entries[3], &entries[5]);
    assert_eq!(
        (first["StatusCode"].as_u64(), refused["StatusCode"].as_u64()),
        (Some(401), Some(401))
    );
    let server = MockServer::start_async().await;
    let bare = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .path(REPO_PATH)
                .header_missing("authorization");
            then.status(401)
                .header(
                    "www-authenticate",
                    first["ResponseHeaders"]["WWW-Authenticate"]
                        .as_str()
                        .unwrap(),
                )
                .json_body(first["ResponseBody"].clone());
        })
        .await;
    let token = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/oauth2/token")
                .form_urlencoded_tuple("grant_type", "password")
                .form_urlencoded_tuple("scope", "repository:library/hello-world:metadata_write");
            then.status(200)
                .json_body(json!({"access_token": "access_token"}));
        })
        .await;
    let with_token = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .path(REPO_PATH)
                .header("authorization", "Bearer access_token");
            then.status(401)
                .header(
                    "www-authenticate",
                    refused["ResponseHeaders"]["WWW-Authenticate"]
                        .as_str()
                        .unwrap(),
                )
                .json_body(refused["ResponseBody"].clone());
        })
        .await;

    let error = client(&server, Credential::anonymous())
        .update_repository_properties(REPO, &PropertiesUpdate::default().can_write(true))
        .await
        .unwrap_err();

    let Error::Authentication { message, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(message.contains("authentication required"), "{message}");
    assert!(message.contains("insufficient_scope"), "{message}");
    assert_eq!(
        (
            bare.calls_async().await,
            token.calls_async().await,
            with_token.calls_async().await
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn aad_costs_three_requests_once_then_one_per_operation() {
    let server = MockServer::start_async().await;
    let registry = aad_registry(&server, &jwt("refresh", 3 * 3600), &jwt("access", 3600)).await;
    let aad = Arc::new(FakeAad::default());
    let client = client(&server, Credential::from(aad.clone()));

    const N: usize = 5;
    for _ in 0..N {
        let properties = client.get_repository_properties(REPO).await.unwrap();
        assert_eq!(properties.tag_count, 5);
    }

    let calls = (
        registry.probe.calls_async().await,
        registry.exchange.calls_async().await,
        registry.token.calls_async().await,
        registry.resource.calls_async().await,
    );
    assert_eq!(
        calls,
        (1, 1, 1, N),
        "probe, exchange, token, then one request per operation"
    );
    assert_eq!(aad.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        *aad.scopes.lock().unwrap(),
        ["https://containerregistry.azure.net/.default"]
    );
}

#[tokio::test]
async fn fifty_concurrent_operations_share_one_exchange_and_one_token() {
    let server = MockServer::start_async().await;
    let registry = aad_registry(&server, &jwt("refresh", 3 * 3600), &jwt("access", 3600)).await;
    let aad = Arc::new(FakeAad::default());
    let client = client(&server, Credential::from(aad.clone()));

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get_repository_properties(REPO).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    assert_eq!(registry.exchange.calls_async().await, 1);
    assert_eq!(registry.token.calls_async().await, 1);
    assert_eq!(registry.resource.calls_async().await, 50);
    assert_eq!(aad.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn tokens_at_the_end_of_their_lifetime_are_fetched_again_fresh_ones_are_not() {
    // A token is renewed in the last quarter of its lifetime (at most five minutes before
    // it expires): one that expires now is fetched again every time. Whether the exchange
    // repeats depends only on the refresh token's own lifetime.
    for (refresh_lifetime, access_lifetime, exchanges, tokens) in
        [(0, 0, 3, 3), (3 * 3600, 0, 1, 3), (3 * 3600, 60, 1, 1)]
    {
        let server = MockServer::start_async().await;
        let registry = aad_registry(
            &server,
            &jwt("refresh", refresh_lifetime),
            &jwt("access", access_lifetime),
        )
        .await;
        let client = client(&server, Credential::from(Arc::new(FakeAad::default())));
        for _ in 0..3 {
            client.get_repository_properties(REPO).await.unwrap();
        }
        let lifetimes = format!("refresh {refresh_lifetime}s, access {access_lifetime}s");
        assert_eq!(
            registry.exchange.calls_async().await,
            exchanges,
            "{lifetimes}"
        );
        assert_eq!(registry.token.calls_async().await, tokens, "{lifetimes}");
        assert_eq!(registry.probe.calls_async().await, 1);
    }
}

/// Opaque tokens (no JWT expiry to read) are reused within their short default lifetime,
/// not fetched again before every request.
#[tokio::test]
async fn tokens_without_a_readable_expiry_work_and_are_reused_briefly() {
    let server = MockServer::start_async().await;
    let registry = aad_registry(&server, "opaque-refresh", "opaque-access").await;
    let client = client(&server, Credential::from(Arc::new(FakeAad::default())));
    for _ in 0..2 {
        client.get_repository_properties(REPO).await.unwrap();
    }
    assert_eq!(registry.exchange.calls_async().await, 1);
    assert_eq!(registry.token.calls_async().await, 1);
}

/// Twenty reads with opaque tokens: one challenge, one exchange, one token, then the
/// cached token for every read.
#[tokio::test]
async fn twenty_reads_with_opaque_tokens_cost_twenty_three_requests() {
    let server = MockServer::start_async().await;
    let registry = aad_registry(&server, "opaque-refresh", "opaque-access").await;
    let client = client(&server, Credential::from(Arc::new(FakeAad::default())));
    for _ in 0..20 {
        client.get_repository_properties(REPO).await.unwrap();
    }
    let requests = registry.probe.calls_async().await
        + registry.exchange.calls_async().await
        + registry.token.calls_async().await
        + registry.resource.calls_async().await;
    assert!(requests <= 23, "{requests} requests");
    assert_eq!(registry.resource.calls_async().await, 20);
}

#[tokio::test]
async fn a_second_401_is_an_error_not_a_loop() {
    let server = MockServer::start_async().await;
    let registry = aad_registry(&server, &jwt("refresh", 3600), &jwt("access", 3600)).await;
    let resource = registry.resource;
    resource.delete_async().await;
    let refused = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .header_exists("authorization");
            then.status(401)
                .header(
                    "www-authenticate",
                    challenge(&format!("repository:{REPO}:metadata_read")),
                )
                .json_body(
                    json!({"errors": [{"code": "UNAUTHORIZED", "message": "token revoked"}]}),
                );
        })
        .await;
    let client = client(&server, Credential::from(Arc::new(FakeAad::default())));

    let error = client.get_repository_properties(REPO).await.unwrap_err();
    assert!(
        matches!(&error, Error::Authentication { message, .. } if message.contains("token revoked")),
        "{error:?}"
    );
    assert_eq!(
        (
            registry.probe.calls_async().await,
            refused.calls_async().await
        ),
        (1, 1)
    );

    // Next time the learned scope's token goes up front, is refused, is replaced once, and
    // the replacement is refused too: still no loop.
    let error = client.get_repository_properties(REPO).await.unwrap_err();
    assert!(matches!(error, Error::Authentication { .. }));
    assert_eq!(
        (
            registry.probe.calls_async().await,
            refused.calls_async().await
        ),
        (1, 3)
    );
}

#[tokio::test]
async fn a_revoked_cached_token_is_replaced_once() {
    let server = MockServer::start_async().await;
    let scope = format!("repository:{REPO}:metadata_read");
    let (first, second) = (jwt("access-1", 3600), jwt("access-2", 3600));
    let probe = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .header_missing("authorization");
            then.status(401)
                .header("www-authenticate", challenge(&scope));
        })
        .await;
    let issued = Arc::new(AtomicUsize::new(0));
    let tokens = [first.clone(), second.clone()];
    let counter = issued.clone();
    let token = server
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/token");
            then.respond_with(move |_req: &httpmock::HttpMockRequest| {
                let n = counter.fetch_add(1, Ordering::SeqCst).min(1);
                httpmock::HttpMockResponse::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(json!({ "access_token": tokens[n] }).to_string())
                    .build()
            });
        })
        .await;
    let accepts_first = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .header("authorization", format!("Bearer {first}"));
            then.status(200).json_body(repository_json());
        })
        .await;
    let client = client(&server, Credential::anonymous());
    client.get_repository_properties(REPO).await.unwrap();

    // The registry now refuses the first token and accepts only the second.
    accepts_first.delete_async().await;
    let rejects_first = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .header("authorization", format!("Bearer {first}"));
            then.status(401)
                .header("www-authenticate", challenge(&scope));
        })
        .await;
    let accepts_second = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .header("authorization", format!("Bearer {second}"));
            then.status(200).json_body(repository_json());
        })
        .await;
    client.get_repository_properties(REPO).await.unwrap();
    client.get_repository_properties(REPO).await.unwrap();

    assert_eq!(probe.calls_async().await, 1);
    assert_eq!(token.calls_async().await, 2);
    assert_eq!(rejects_first.calls_async().await, 1);
    assert_eq!(accepts_second.calls_async().await, 2);
}

#[tokio::test]
async fn a_wrong_audience_is_an_authentication_error_with_the_services_message() {
    let entries = recording(
        "test_container_registry_client.pyTestContainerRegistryClienttest_set_audience.json",
    );
    let refused = entries.last().unwrap();
    assert!(
        refused["RequestUri"]
            .as_str()
            .unwrap()
            .contains("/oauth2/exchange")
    );
    let server = MockServer::start_async().await;
    let probe = server
        .mock_async(|when, then| {
            when.method(GET).path(REPO_PATH);
            then.status(401).header(
                "www-authenticate",
                challenge(&format!("repository:{REPO}:metadata_read")),
            );
        })
        .await;
    let exchange = server
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/exchange");
            then.status(401).json_body(refused["ResponseBody"].clone());
        })
        .await;
    let aad = Arc::new(FakeAad::default());
    let client = ContainerRegistryClient::builder(server.base_url())
        .credential(Credential::from(aad.clone()))
        .audience("https://management.usgovcloudapi.net/")
        .allow_http(true)
        .build()
        .unwrap();

    let error = client.get_repository_properties(REPO).await.unwrap_err();

    assert!(
        matches!(&error, Error::Authentication { message, .. } if message.contains("retrieving permissions failed")),
        "{error:?}"
    );
    assert_eq!(
        *aad.scopes.lock().unwrap(),
        ["https://management.usgovcloudapi.net/.default"]
    );
    assert_eq!(
        (probe.calls_async().await, exchange.calls_async().await),
        (1, 1)
    );
}

#[tokio::test]
async fn username_and_password_go_only_to_the_registrys_token_endpoint() {
    let server = MockServer::start_async().await;
    let scope = format!("repository:{REPO}:metadata_read");
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("admin:hunter2")
    );
    let probe = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .header_missing("authorization");
            then.status(401)
                .header("www-authenticate", challenge(&scope));
        })
        .await;
    let token = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/oauth2/token")
                .query_param("service", SERVICE)
                .query_param("scope", &scope)
                .header("authorization", &basic);
            then.status(200)
                .json_body(json!({"access_token": "basic-access"}));
        })
        .await;
    let resource = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .header("authorization", "Bearer basic-access");
            then.status(200).json_body(repository_json());
        })
        .await;
    let client = client(&server, Credential::basic("admin", "hunter2"));
    client.get_repository_properties(REPO).await.unwrap();
    assert_eq!(
        (
            probe.calls_async().await,
            token.calls_async().await,
            resource.calls_async().await
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn a_raw_refresh_token_skips_the_exchange() {
    let server = MockServer::start_async().await;
    let registry = aad_registry(&server, "refresh-from-az-cli", &jwt("access", 3600)).await;
    let client = client(&server, Credential::refresh_token("refresh-from-az-cli"));
    client.get_repository_properties(REPO).await.unwrap();
    assert_eq!(registry.exchange.calls_async().await, 0);
    assert_eq!(registry.token.calls_async().await, 1);
}

#[tokio::test]
async fn a_known_token_service_saves_the_first_challenge() {
    let server = MockServer::start_async().await;
    let registry = aad_registry(&server, "refresh-from-acr-login", &jwt("access", 3600)).await;
    let client = ContainerRegistryClient::builder(server.base_url())
        .credential(Credential::refresh_token("refresh-from-acr-login"))
        .token_service(SERVICE)
        .allow_http(true)
        .build()
        .unwrap();
    client.get_repository_properties(REPO).await.unwrap();
    // Two requests: the token, then the resource; no challenge.
    assert_eq!(registry.probe.calls_async().await, 0);
    assert_eq!(registry.token.calls_async().await, 1);
    assert_eq!(registry.resource.calls_async().await, 1);
}

#[tokio::test]
async fn a_wrong_token_service_costs_one_request_then_the_challenge_decides() {
    let server = MockServer::start_async().await;
    let registry = aad_registry(&server, "refresh-from-acr-login", &jwt("access", 3600)).await;
    let refused = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/oauth2/token")
                .form_urlencoded_tuple("service", "not-this-registry");
            then.status(401).json_body(unauthorized_body());
        })
        .await;
    let client = ContainerRegistryClient::builder(server.base_url())
        .credential(Credential::refresh_token("refresh-from-acr-login"))
        .token_service("not-this-registry")
        .allow_http(true)
        .build()
        .unwrap();
    for _ in 0..2 {
        client.get_repository_properties(REPO).await.unwrap();
    }
    assert_eq!(refused.calls_async().await, 1, "given up after one refusal");
    assert_eq!(registry.probe.calls_async().await, 1);
    assert_eq!(registry.token.calls_async().await, 1);
    assert_eq!(registry.resource.calls_async().await, 2);
}

#[tokio::test]
async fn a_redirect_to_another_host_carries_no_authorization() {
    let registry = MockServer::start_async().await;
    let storage = MockServer::start_async().await;
    let scope = format!("repository:{REPO}:metadata_read");
    registry
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .header_missing("authorization");
            then.status(401)
                .header("www-authenticate", challenge(&scope));
        })
        .await;
    registry
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/token");
            then.status(200)
                .json_body(json!({"access_token": "registry-only"}));
        })
        .await;
    let redirect = registry
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .header("authorization", "Bearer registry-only");
            then.status(307)
                .header("location", storage.url("/blob?sig=signed"));
        })
        .await;
    let leaked = storage
        .mock_async(|when, then| {
            when.header_exists("authorization");
            then.status(400);
        })
        .await;
    let clean = storage
        .mock_async(|when, then| {
            when.method(GET)
                .path("/blob")
                .query_param("sig", "signed")
                .header_missing("authorization");
            then.status(200).json_body(repository_json());
        })
        .await;

    client(&registry, Credential::anonymous())
        .get_repository_properties(REPO)
        .await
        .unwrap();

    assert_eq!(
        (
            redirect.calls_async().await,
            clean.calls_async().await,
            leaked.calls_async().await
        ),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn retries_honour_retry_after_and_give_up_when_it_is_too_long() {
    let server = MockServer::start_async().await;
    let throttled = Arc::new(AtomicUsize::new(0));
    let counter = throttled.clone();
    let mock = server
        .mock_async(|when, then| {
            when.method(GET).path(REPO_PATH);
            then.respond_with(move |_req: &httpmock::HttpMockRequest| {
                let response = httpmock::HttpMockResponse::builder()
                    .header("content-type", "application/json");
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    response
                        .status(429)
                        .header("retry-after", "1")
                        .body(r#"{"errors":[]}"#)
                        .build()
                } else {
                    response
                        .status(200)
                        .body(repository_json().to_string())
                        .build()
                }
            });
        })
        .await;
    let started = Instant::now();
    client(&server, Credential::anonymous())
        .get_repository_properties(REPO)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(mock.calls_async().await, 2);

    // A wait beyond `max_delay` is not waited: the throttling error comes back at once.
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET).path(REPO_PATH);
            then.status(429).header("retry-after", "3600").json_body(
                json!({"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]}),
            );
        })
        .await;
    let error = client(&server, Credential::anonymous())
        .get_repository_properties(REPO)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Service { status: 429, .. }) && error.is_retryable(),
        "{error:?}"
    );
    assert_eq!(mock.calls_async().await, 1);
}

#[tokio::test]
async fn server_failures_are_retried_a_bounded_number_of_times() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET).path(REPO_PATH);
            then.status(503)
                .header("x-ms-request-id", "req-1")
                .json_body(json!({"errors": [{"code": "UNAVAILABLE", "message": "try later"}]}));
        })
        .await;
    let client = ContainerRegistryClient::builder(server.base_url())
        .allow_http(true)
        .retry(
            RetryOptions::default()
                .max_retries(2)
                .initial_delay(Duration::from_millis(5)),
        )
        .build()
        .unwrap();
    let error = client.get_repository_properties(REPO).await.unwrap_err();
    let Error::Service {
        status,
        code,
        message,
        request_id,
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(
        (
            *status,
            code.as_deref(),
            message.as_str(),
            request_id.as_deref()
        ),
        (503, Some("UNAVAILABLE"), "try later", Some("req-1"))
    );
    assert_eq!(mock.calls_async().await, 3);
}

#[tokio::test]
async fn every_request_names_the_sdk_and_the_operation() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .header(
                    "user-agent",
                    concat!("azsdk-rust-acr/", env!("CARGO_PKG_VERSION")),
                )
                .header_matches(
                    "x-ms-client-request-id",
                    "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
                );
            then.status(200).json_body(repository_json());
        })
        .await;
    client(&server, Credential::anonymous())
        .get_repository_properties(REPO)
        .await
        .unwrap();
    mock.assert_async().await;
}

#[tokio::test]
async fn invalid_names_and_plain_http_are_refused_before_any_request() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|_when, then| {
            then.status(200);
        })
        .await;
    let client = client(&server, Credential::anonymous());
    for name in ["Library/Hello", "a//b", ""] {
        let error = client.get_repository_properties(name).await.unwrap_err();
        assert!(matches!(error, Error::InvalidInput(_)), "{name}: {error:?}");
    }
    let error = ContainerRegistryClient::builder(server.base_url())
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
    assert_eq!(any.calls_async().await, 0);
}

#[tokio::test]
async fn deleting_a_missing_repository_succeeds_as_recorded() {
    let entries = recording(
        "test_container_registry_client.pyTestContainerRegistryClienttest_delete_repository_does_not_exist.json",
    );
    let missing = entries.last().unwrap();
    assert_eq!(missing["StatusCode"], 404);
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::DELETE)
                .path("/acr/v1/not_real_repo");
            then.status(404).json_body(missing["ResponseBody"].clone());
        })
        .await;
    client(&server, Credential::anonymous())
        .delete_repository("not_real_repo")
        .await
        .unwrap();
    assert_eq!(mock.calls_async().await, 1);
}

#[tokio::test]
async fn a_failing_token_service_is_retried_once_over_not_per_attempt() {
    let server = MockServer::start_async().await;
    let probe = server
        .mock_async(|when, then| {
            when.method(GET).path(REPO_PATH);
            then.status(401).header(
                "www-authenticate",
                challenge(&format!("repository:{REPO}:metadata_read")),
            );
        })
        .await;
    let token = server
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/token");
            then.status(503).json_body(
                json!({"errors": [{"code": "UNAVAILABLE", "message": "token service down"}]}),
            );
        })
        .await;
    let client = ContainerRegistryClient::builder(server.base_url())
        .allow_http(true)
        .retry(
            RetryOptions::default()
                .max_retries(2)
                .initial_delay(Duration::from_millis(1)),
        )
        .build()
        .unwrap();

    let error = client.get_repository_properties(REPO).await.unwrap_err();

    assert!(
        matches!(&error, Error::Service { status: 503, .. }),
        "{error:?}"
    );
    assert_eq!(
        (probe.calls_async().await, token.calls_async().await),
        (1, 3)
    );
}

#[tokio::test]
async fn a_basic_challenge_is_answered_with_the_password_then_sent_up_front() {
    let server = MockServer::start_async().await;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("admin:hunter2")
    );
    let challenged = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .header_missing("authorization");
            then.status(401)
                .header("www-authenticate", r#"Basic realm="basic-realm""#);
        })
        .await;
    let answered = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .header("authorization", &basic);
            then.status(200).json_body(repository_json());
        })
        .await;
    let with_password = client(&server, Credential::basic("admin", "hunter2"));
    for _ in 0..3 {
        with_password.get_repository_properties(REPO).await.unwrap();
    }
    assert_eq!(
        (challenged.calls_async().await, answered.calls_async().await),
        (1, 3)
    );

    // Without a password there is nothing to answer with.
    let error = client(&server, Credential::anonymous())
        .get_repository_properties(REPO)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Authentication { .. }), "{error:?}");
}
