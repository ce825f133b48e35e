//! Helpers shared by the integration tests: a started emulator and tokens for it.
#![allow(dead_code, unreachable_pub)]

use acr_emulator::Emulator;
use serde_json::Value;

pub const USER: &str = "admin";
pub const PASSWORD: &str = "s3cret";
pub const GOOD_AAD: &str = "good-aad-token";

pub async fn start() -> Emulator {
    Emulator::builder()
        .user(USER, PASSWORD)
        .aad_check(|t: &str| t == GOOD_AAD)
        .start()
        .await
        .expect("emulator starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// An access token for `scopes`, through `GET /oauth2/token` with the test user.
pub async fn token(emu: &Emulator, scopes: &[&str]) -> String {
    let mut query = vec![("service", emu.host().to_string())];
    for s in scopes {
        query.push(("scope", s.to_string()));
    }
    let resp = client()
        .get(format!("{}/oauth2/token", emu.endpoint()))
        .basic_auth(USER, Some(PASSWORD))
        .query(&query)
        .send()
        .await
        .expect("token request");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// A token with every repository action on `repo` and the catalog.
pub async fn admin_token(emu: &Emulator, repo: &str) -> String {
    token(
        emu,
        &[
            &format!("repository:{repo}:pull,push,delete,metadata_read,metadata_write"),
            "registry:catalog:*",
        ],
    )
    .await
}

pub fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_string())
}

pub async fn error_code(resp: reqwest::Response) -> String {
    let body: Value = resp.json().await.expect("error body is JSON");
    body["errors"][0]["code"]
        .as_str()
        .expect("errors[0].code")
        .to_string()
}

pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(data);
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

pub fn sha512(data: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha512::digest(data);
    format!(
        "sha512:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// An OCI image manifest for a config and layers already in the registry.
pub fn image_manifest(config: (&str, usize), layers: &[(&str, usize)]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
        "layers": layers.iter().map(|(d, s)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s
        })).collect::<Vec<_>>(),
    }))
    .expect("json")
}
