//! The samples' credentials from the environment, the Azure AD service principal among
//! them, against a stand-in Azure AD (httpmock) and the project's test registry.

#[allow(dead_code, reason = "the samples use the rest")]
#[path = "../examples/common/mod.rs"]
mod common;

use std::collections::HashMap;

use httpmock::Method::POST;
use httpmock::MockServer;

#[tokio::test]
async fn a_service_principal_from_the_environment_reaches_the_registry() {
    let aad = MockServer::start_async().await;
    let login = aad
        .mock_async(|when, then| {
            when.method(POST)
                .path("/my-tenant/oauth2/v2.0/token")
                .form_urlencoded_tuple("grant_type", "client_credentials")
                .form_urlencoded_tuple("client_id", "my-app")
                .form_urlencoded_tuple("client_secret", "my-secret")
                .form_urlencoded_tuple("scope", "https://containerregistry.azure.net/.default");
            then.status(200).json_body(serde_json::json!({"access_token": "aad-token", "expires_in": 3600, "token_type": "Bearer"}));
        })
        .await;
    let registry = acr_emulator::Emulator::builder()
        .aad_check(|token| token == "aad-token")
        .start()
        .await
        .unwrap();
    let vars: HashMap<&str, String> = [
        ("CONTAINERREGISTRY_ENDPOINT", registry.endpoint().to_owned()),
        ("AZURE_TENANT_ID", "my-tenant".into()),
        ("AZURE_CLIENT_ID", "my-app".into()),
        ("AZURE_CLIENT_SECRET", "my-secret".into()),
        ("AZURE_AUTHORITY_HOST", aad.base_url()),
    ]
    .into();
    let client = common::client_from(|name| vars.get(name).cloned()).unwrap();

    let uploaded = client
        .upload_blob("sp/repo", b"via azure ad".to_vec())
        .await
        .unwrap();
    assert_eq!(
        client
            .blob_exists("sp/repo", &uploaded.digest)
            .await
            .unwrap(),
        Some(12)
    );
    assert_eq!(login.calls_async().await, 1);

    // A wrong secret is refused by Azure AD: an authentication error, no secret in it.
    let mut wrong = vars.clone();
    wrong.insert("AZURE_CLIENT_SECRET", "guess".into());
    let client = common::client_from(|name| wrong.get(name).cloned()).unwrap();
    let error = client
        .upload_blob("sp/repo", b"x".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, acr::Error::Authentication { message, .. } if !message.contains("guess")),
        "{error:?}"
    );
}
