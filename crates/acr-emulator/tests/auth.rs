//! The token service and how the server enforces the tokens it issues.

mod common;

use std::time::Duration;

use acr_emulator::Emulator;
use base64::Engine as _;
use common::*;
use serde_json::{Value, json};

async fn exchange(emu: &Emulator, aad: &str) -> reqwest::Response {
    client()
        .post(format!(
            "{}/oauth2/exchange?api-version=2021-07-01",
            emu.endpoint()
        ))
        .form(&[
            ("grant_type", "access_token"),
            ("service", emu.host()),
            ("access_token", aad),
        ])
        .send()
        .await
        .unwrap()
}

async fn access_from_refresh(emu: &Emulator, refresh: &str, scope: &str) -> reqwest::Response {
    client()
        .post(format!(
            "{}/oauth2/token?api-version=2021-07-01",
            emu.endpoint()
        ))
        .form(&[
            ("service", emu.host()),
            ("scope", scope),
            ("refresh_token", refresh),
            ("grant_type", "refresh_token"),
        ])
        .send()
        .await
        .unwrap()
}

fn claims(jwt: &str) -> Value {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "JWT-shaped: header.payload.signature");
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .expect("base64url payload");
    serde_json::from_slice(&payload).expect("JSON payload")
}

#[tokio::test]
async fn aad_exchange_then_scoped_access_token_opens_the_challenged_request() {
    let emu = start().await;
    emu.put_manifest(
        "library/hello-world",
        "latest",
        "application/vnd.oci.image.manifest.v1+json",
        "{}",
    )
    .unwrap();
    let url = format!(
        "{}/acr/v1/library%2Fhello-world?api-version=2021-07-01",
        emu.endpoint()
    );

    let resp = client().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = header(&resp, "www-authenticate").unwrap();
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"http://{0}/oauth2/token\",service=\"{0}\",scope=\"repository:library/hello-world:metadata_read\"",
            emu.host()
        )
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["detail"],
        json!([{"Type": "repository", "Name": "library/hello-world", "Action": "metadata_read"}])
    );

    let resp = exchange(&emu, GOOD_AAD).await;
    assert_eq!(resp.status(), 200);
    let refresh = resp.json::<Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let c = claims(&refresh);
    assert!(c["exp"].as_i64().unwrap() > c["iat"].as_i64().unwrap());

    let resp = access_from_refresh(
        &emu,
        &refresh,
        "repository:library/hello-world:metadata_read",
    )
    .await;
    assert_eq!(resp.status(), 200);
    let access = resp.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        claims(&access)["access"],
        json!([{"type": "repository", "name": "library/hello-world", "actions": ["metadata_read"]}])
    );

    let resp = client()
        .get(&url)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // The same token does not open an operation needing another action.
    let resp = client()
        .delete(&url)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(header(&resp, "www-authenticate").unwrap().ends_with(
        ",scope=\"repository:library/hello-world:delete\",error=\"insufficient_scope\""
    ));
    emu.shutdown().await;
}

#[tokio::test]
async fn rejected_aad_token_and_forged_refresh_token_get_401() {
    let emu = start().await;
    let resp = exchange(&emu, "bad-aad-token").await;
    assert_eq!(resp.status(), 401);
    assert_eq!(header(&resp, "content-type").unwrap(), "application/json");
    assert_eq!(error_code(resp).await, "UNAUTHORIZED");

    let resp = access_from_refresh(&emu, "a.b.c", "registry:catalog:*").await;
    assert_eq!(resp.status(), 401);

    // A token from another emulator is not trusted.
    let other = start().await;
    let refresh = exchange(&other, GOOD_AAD)
        .await
        .json::<Value>()
        .await
        .unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = access_from_refresh(&emu, &refresh, "registry:catalog:*").await;
    assert_eq!(resp.status(), 401);

    // A service other than this registry is refused.
    let resp = client()
        .post(format!("{}/oauth2/exchange", emu.endpoint()))
        .form(&[
            ("grant_type", "access_token"),
            ("service", "elsewhere.azurecr.io"),
            ("access_token", GOOD_AAD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

async fn anonymous_token(emu: &Emulator, scope: &str) -> reqwest::Response {
    client()
        .post(format!("{}/oauth2/token", emu.endpoint()))
        .form(&[
            ("service", emu.host()),
            ("scope", scope),
            ("grant_type", "password"),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn anonymous_tokens_pull_but_never_push_delete_or_write_metadata() {
    let emu = Emulator::builder()
        .anonymous_pull(true)
        .start()
        .await
        .unwrap();
    let digest = emu.put_blob("pub", b"data".to_vec()).unwrap();
    emu.put_manifest(
        "pub",
        "v1",
        "application/vnd.oci.image.manifest.v1+json",
        "{}",
    )
    .unwrap();

    let resp = anonymous_token(
        &emu,
        "repository:pub:pull,push,delete,metadata_read,metadata_write",
    )
    .await;
    assert_eq!(resp.status(), 200);
    let token = resp.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        claims(&token)["access"][0]["actions"],
        json!(["pull", "metadata_read"])
    );

    let c = client();
    let resp = c
        .get(format!("{}/v2/pub/blobs/{digest}", emu.endpoint()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = c
        .get(format!("{}/acr/v1/pub/_tags", emu.endpoint()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    for req in [
        c.delete(format!("{}/v2/pub/blobs/{digest}", emu.endpoint())),
        c.post(format!("{}/v2/pub/blobs/uploads/", emu.endpoint())),
        c.patch(format!("{}/acr/v1/pub", emu.endpoint())).body("{}"),
    ] {
        let resp = req.bearer_auth(&token).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert!(
            header(&resp, "www-authenticate")
                .unwrap()
                .contains("error=\"insufficient_scope\"")
        );
    }
    emu.shutdown().await;

    // Without anonymous pull, the password grant needs credentials.
    let emu = start().await;
    assert_eq!(
        anonymous_token(&emu, "repository:pub:pull").await.status(),
        401
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn basic_auth_users_get_tokens_and_wrong_passwords_do_not() {
    let emu = start().await;
    let resp = client()
        .get(format!("{}/oauth2/token", emu.endpoint()))
        .basic_auth(USER, Some("wrong"))
        .query(&[("service", emu.host()), ("scope", "registry:catalog:*")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let token = token(&emu, &["registry:catalog:*"]).await;
    assert_eq!(
        claims(&token)["access"],
        json!([{"type": "registry", "name": "catalog", "actions": ["*"]}])
    );
    let resp = client()
        .get(format!("{}/acr/v1/_catalog", emu.endpoint()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // The password grant on POST works with form credentials too.
    let resp = client()
        .post(format!("{}/oauth2/token", emu.endpoint()))
        .form(&[
            ("service", emu.host()),
            ("scope", "registry:catalog:*"),
            ("grant_type", "password"),
            ("username", USER),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    emu.shutdown().await;
}

#[tokio::test]
async fn expired_tokens_are_challenged_again() {
    let emu = Emulator::builder()
        .user(USER, PASSWORD)
        .token_lifetime(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let token = token(&emu, &["registry:catalog:*"]).await;
    let c = claims(&token);
    assert_eq!(c["exp"], c["iat"]);
    let resp = client()
        .get(format!("{}/acr/v1/_catalog", emu.endpoint()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        header(&resp, "www-authenticate").unwrap(),
        format!(
            "Bearer realm=\"http://{0}/oauth2/token\",service=\"{0}\",scope=\"registry:catalog:*\",error=\"invalid_token\"",
            emu.host()
        )
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn tls_serves_with_the_generated_certificate() {
    let emu = Emulator::builder().tls(true).start().await.unwrap();
    assert!(emu.endpoint().starts_with("https://127.0.0.1:"));
    let pem = emu.ca_cert_pem().expect("a certificate when tls is on");
    let trusted = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let resp = trusted
        .get(format!("{}/v2/", emu.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        header(&resp, "www-authenticate")
            .unwrap()
            .starts_with(&format!(
                "Bearer realm=\"https://{}/oauth2/token\"",
                emu.host()
            ))
    );
    // A client that does not trust the certificate fails the handshake.
    let untrusted = reqwest::Client::new();
    assert!(
        untrusted
            .get(format!("{}/v2/", emu.endpoint()))
            .send()
            .await
            .is_err()
    );
    emu.shutdown().await;
}
