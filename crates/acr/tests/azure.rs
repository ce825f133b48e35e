//! The `azure_core` credential adapter: any `azure_identity` credential authenticates the
//! client through the ACR exchange.
#![cfg(feature = "azure-identity")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use acr::{ContainerRegistryClient, Credential, Error};
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::time::{Duration, OffsetDateTime};
use httpmock::Method::{GET, POST};
use httpmock::MockServer;
use serde_json::json;

/// Stands in for an `azure_identity` credential.
#[derive(Debug, Default)]
struct Identity {
    calls: AtomicUsize,
    fail: bool,
}

#[async_trait::async_trait]
impl TokenCredential for Identity {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(scopes, ["https://containerregistry.azure.net/.default"]);
        if self.fail {
            return Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Credential,
                "no identity available",
            ));
        }
        Ok(AccessToken::new(
            "azure-identity-token",
            OffsetDateTime::now_utc() + Duration::hours(1),
        ))
    }
}

#[tokio::test]
async fn an_azure_core_credential_is_exchanged_for_acr_tokens() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/acr/v1/hello").header_missing("authorization");
            then.status(401).header(
                "www-authenticate",
                r#"Bearer realm="https://r.azurecr.io/oauth2/token",service="r.azurecr.io",scope="repository:hello:metadata_read""#,
            );
        })
        .await;
    let exchange = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/oauth2/exchange")
                .form_urlencoded_tuple("access_token", "azure-identity-token");
            then.status(200).json_body(json!({"refresh_token": "r"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/oauth2/token")
                .form_urlencoded_tuple("refresh_token", "r");
            then.status(200).json_body(json!({"access_token": "a"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/acr/v1/hello")
                .header("authorization", "Bearer a");
            then.status(200).json_body(json!({
                "registry": "r.azurecr.io", "imageName": "hello",
                "createdTime": "2022-07-08T21:52:31Z", "lastUpdateTime": "2022-07-08T21:52:28Z",
                "manifestCount": 1, "tagCount": 2
            }));
        })
        .await;
    let identity = Arc::new(Identity::default());
    let client = ContainerRegistryClient::builder(server.base_url())
        .credential(Credential::azure(identity.clone()))
        .allow_http(true)
        .build()
        .unwrap();

    assert_eq!(
        client
            .get_repository_properties("hello")
            .await
            .unwrap()
            .tag_count,
        2
    );
    assert_eq!(
        (
            identity.calls.load(Ordering::SeqCst),
            exchange.calls_async().await
        ),
        (1, 1)
    );
}

#[tokio::test]
async fn a_failing_azure_credential_is_an_authentication_error() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/acr/v1/hello");
            then.status(401).header(
                "www-authenticate",
                r#"Bearer service="r.azurecr.io",scope="repository:hello:metadata_read""#,
            );
        })
        .await;
    let exchange = server
        .mock_async(|when, then| {
            when.path("/oauth2/exchange");
            then.status(200);
        })
        .await;
    let client = ContainerRegistryClient::builder(server.base_url())
        .credential(Credential::azure(Arc::new(Identity {
            fail: true,
            ..Default::default()
        })))
        .allow_http(true)
        .build()
        .unwrap();
    let error = client.get_repository_properties("hello").await.unwrap_err();
    assert!(
        matches!(&error, Error::Authentication { message, .. } if message.contains("no identity available")),
        "{error:?}"
    );
    assert_eq!(exchange.calls_async().await, 0);
}
