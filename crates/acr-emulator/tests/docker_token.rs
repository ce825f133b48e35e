//! The Docker token service: what it grants whom, the shape of its answers, and tokens
//! that verify against the certificate it hands out. The last test checks, against a CNCF
//! distribution registry that `.ci/run` starts, that distribution accepts those tokens.

use std::time::Duration;

use acr_emulator::{TokenRequestRecord, TokenService};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

const SERVICE: &str = "e2e-registry";
const ISSUER: &str = "test-issuer";
const USER: &str = "e2e";
const PASSWORD: &str = "e2e-password";

async fn start(anonymous_pull: bool) -> TokenService {
    TokenService::builder()
        .service(SERVICE)
        .issuer(ISSUER)
        .user(USER, PASSWORD)
        .anonymous_pull(anonymous_pull)
        .lifetime(Duration::from_secs(120))
        .start()
        .await
        .expect("token service starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// `GET /token` with these query parameters, as `user` (with `PASSWORD`) or anonymously.
async fn get(
    service: &TokenService,
    query: &[(&str, &str)],
    user: Option<&str>,
) -> reqwest::Response {
    let mut request = client().get(service.realm()).query(query);
    if let Some(user) = user {
        request = request.basic_auth(user, Some(PASSWORD));
    }
    request.send().await.expect("token request")
}

async fn post(service: &TokenService, form: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(service.realm())
        .form(form)
        .send()
        .await
        .expect("token request")
}

async fn json_ok(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("JSON body")
}

async fn error_code(resp: reqwest::Response) -> String {
    let body: Value = resp.json().await.expect("error body is JSON");
    body["errors"][0]["code"]
        .as_str()
        .expect("errors[0].code")
        .to_string()
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// The token's header and claims, after checking its signature with the service's key.
fn verified(service: &TokenService, token: &str) -> (Value, Value) {
    let (signing_input, signature) = token.rsplit_once('.').expect("three parts");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        service.public_key(),
    )
    .verify(signing_input.as_bytes(), &signature)
    .expect("signature verifies with the service's key");
    let (header, claims) = signing_input.split_once('.').expect("header.claims");
    (decode_part(header), decode_part(claims))
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("PEM body is base64")
}

#[tokio::test]
async fn a_user_gets_every_requested_action_with_the_spec_claims() {
    let service = start(false).await;
    let body = json_ok(
        get(
            &service,
            &[
                ("service", SERVICE),
                ("scope", "repository:a:pull,push"),
                // One value may carry several scopes.
                (
                    "scope",
                    "repository:b/c:pull,push,delete,* registry:catalog:*",
                ),
            ],
            Some(USER),
        )
        .await,
    )
    .await;
    let token = body["token"].as_str().expect("token");
    assert_eq!(body["access_token"], token);
    assert_eq!(body["expires_in"], 120);
    assert!(body.get("refresh_token").is_none(), "{body}");
    let issued_at = chrono::DateTime::parse_from_rfc3339(body["issued_at"].as_str().unwrap())
        .expect("issued_at is RFC 3339");

    let (_, claims) = verified(&service, token);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], USER);
    assert_eq!(claims["aud"], SERVICE);
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(iat, issued_at.timestamp());
    assert_eq!(claims["nbf"].as_i64().unwrap(), iat);
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 120);
    assert!(!claims["jti"].as_str().unwrap().is_empty());
    assert_eq!(
        claims["access"],
        json!([
            {"type": "repository", "name": "a", "actions": ["pull", "push"]},
            {"type": "repository", "name": "b/c", "actions": ["pull", "push", "delete", "*"]},
            {"type": "registry", "name": "catalog", "actions": ["*"]},
        ])
    );

    // Each token is its own: a fresh jti every time.
    let again = json_ok(get(&service, &[("service", SERVICE)], Some(USER)).await).await;
    let (_, again) = verified(&service, again["token"].as_str().unwrap());
    assert_ne!(again["jti"], claims["jti"]);
    assert_eq!(again["access"], json!([]));
}

#[tokio::test]
async fn anonymous_callers_get_pull_on_repositories_only_with_anonymous_pull() {
    let query = [
        ("service", SERVICE),
        ("scope", "repository:a:pull,push,delete"),
        ("scope", "registry:catalog:*"),
    ];
    let open = start(true).await;
    let body = json_ok(get(&open, &query, None).await).await;
    let (_, claims) = verified(&open, body["token"].as_str().unwrap());
    assert_eq!(claims["sub"], "");
    assert_eq!(
        claims["access"],
        json!([{"type": "repository", "name": "a", "actions": ["pull"]}])
    );

    // Without anonymous pull: still a token (as Docker Hub answers), granting nothing.
    let closed = start(false).await;
    let body = json_ok(get(&closed, &query, None).await).await;
    let (_, claims) = verified(&closed, body["token"].as_str().unwrap());
    assert_eq!(claims["access"], json!([]));

    // offline_token needs credentials: none for anonymous callers.
    let body = json_ok(
        get(
            &open,
            &[("service", SERVICE), ("offline_token", "true")],
            None,
        )
        .await,
    )
    .await;
    assert!(body.get("refresh_token").is_none(), "{body}");
}

#[tokio::test]
async fn wrong_credentials_are_401_and_another_service_is_400() {
    let service = start(true).await;
    for (user, password) in [(USER, "wrong"), ("nobody", PASSWORD)] {
        let resp = client()
            .get(service.realm())
            .query(&[("service", SERVICE), ("scope", "repository:a:pull")])
            .basic_auth(user, Some(password))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{user}");
        assert_eq!(error_code(resp).await, "UNAUTHORIZED");
    }
    // Credentials of another scheme are not taken for anonymous.
    let resp = client()
        .get(service.realm())
        .bearer_auth("some-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let resp = get(&service, &[("service", "other")], Some(USER)).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "INVALID_REQUEST");
    let resp = post(
        &service,
        &[
            ("grant_type", "password"),
            ("username", USER),
            ("password", PASSWORD),
            ("client_id", "tests"),
            ("service", "other"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 400);

    let resp = client()
        .get(format!("{}/elsewhere", service.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn tokens_carry_the_certificate_whose_key_signed_them() {
    let service = start(false).await;
    let body = json_ok(get(&service, &[("service", SERVICE)], Some(USER)).await).await;
    let token = body["token"].as_str().unwrap();
    let (header, _) = verified(&service, token);
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["alg"], "ES256");
    let x5c = header["x5c"].as_array().expect("x5c");
    assert_eq!(
        x5c.len(),
        1,
        "the self-signed certificate is the whole chain"
    );
    let der = STANDARD
        .decode(x5c[0].as_str().unwrap())
        .expect("x5c is base64");
    assert_eq!(der, pem_to_der(service.cert_pem()));
    let key = service.public_key();
    assert_eq!(key.len(), 65);
    assert!(
        der.windows(key.len()).any(|w| w == key),
        "the certificate holds the signing key"
    );

    // A changed claim, or another service's key, fails the check.
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let (header_part, _) = signing_input.split_once('.').unwrap();
    let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin"}"#);
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        service.public_key(),
    );
    assert!(
        key.verify(
            format!("{header_part}.{forged_claims}").as_bytes(),
            &signature
        )
        .is_err()
    );
    let other = start(false).await;
    assert_ne!(other.public_key(), service.public_key());
    let other_key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        other.public_key(),
    );
    assert!(
        other_key
            .verify(signing_input.as_bytes(), &signature)
            .is_err()
    );
}

#[tokio::test]
async fn the_password_grant_answers_in_the_oauth2_shape() {
    let service = start(false).await;
    let body = json_ok(
        post(
            &service,
            &[
                ("grant_type", "password"),
                ("username", USER),
                ("password", PASSWORD),
                ("client_id", "tests"),
                ("service", SERVICE),
                ("scope", "repository:a:pull,push registry:catalog:*"),
            ],
        )
        .await,
    )
    .await;
    assert!(body.get("token").is_none(), "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(body["expires_in"], 120);
    assert_eq!(body["scope"], "repository:a:pull,push registry:catalog:*");
    chrono::DateTime::parse_from_rfc3339(body["issued_at"].as_str().unwrap())
        .expect("issued_at is RFC 3339");
    let (_, claims) = verified(&service, body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], USER);
    assert_eq!(claims["aud"], SERVICE);
    assert_eq!(
        claims["access"],
        json!([
            {"type": "repository", "name": "a", "actions": ["pull", "push"]},
            {"type": "registry", "name": "catalog", "actions": ["*"]},
        ])
    );
}

#[tokio::test]
async fn refresh_tokens_from_either_endpoint_work_in_the_refresh_grant() {
    let service = start(false).await;
    let from_get = json_ok(
        get(
            &service,
            &[("service", SERVICE), ("offline_token", "true")],
            Some(USER),
        )
        .await,
    )
    .await;
    let from_post = json_ok(
        post(
            &service,
            &[
                ("grant_type", "password"),
                ("username", USER),
                ("password", PASSWORD),
                ("client_id", "tests"),
                ("access_type", "offline"),
            ],
        )
        .await,
    )
    .await;
    let first = from_get["refresh_token"].as_str().expect("refresh_token");
    let second = from_post["refresh_token"].as_str().expect("refresh_token");
    assert_ne!(first, second);

    for refresh_token in [first, second] {
        let body = json_ok(
            post(
                &service,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                    ("client_id", "tests"),
                    ("service", SERVICE),
                    ("scope", "repository:a:push"),
                    ("access_type", "offline"),
                ],
            )
            .await,
        )
        .await;
        // Refresh tokens do not rotate: the one presented comes back.
        assert_eq!(body["refresh_token"], refresh_token);
        let (_, claims) = verified(&service, body["access_token"].as_str().unwrap());
        assert_eq!(claims["sub"], USER);
        assert_eq!(
            claims["access"],
            json!([{"type": "repository", "name": "a", "actions": ["push"]}])
        );
    }
}

#[tokio::test]
async fn the_oauth2_endpoint_refuses_what_it_cannot_grant() {
    let service = start(true).await;
    let cases: [(&[(&str, &str)], u16); 6] = [
        (
            &[
                ("grant_type", "password"),
                ("username", USER),
                ("password", "wrong"),
                ("client_id", "tests"),
            ],
            401,
        ),
        (
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "made-up"),
                ("client_id", "tests"),
            ],
            401,
        ),
        (
            &[
                ("grant_type", "password"),
                ("username", USER),
                ("password", PASSWORD),
            ],
            400,
        ),
        (&[("grant_type", "password"), ("client_id", "tests")], 400),
        (&[("grant_type", "implicit"), ("client_id", "tests")], 400),
        (&[("client_id", "tests")], 400),
    ];
    for (form, status) in cases {
        let resp = post(&service, form).await;
        assert_eq!(resp.status(), status, "{form:?}");
        let code = error_code(resp).await;
        assert!(!code.is_empty());
    }
    let resp = client().put(service.realm()).send().await.unwrap();
    assert_eq!(resp.status(), 405);
}

#[tokio::test]
async fn requests_are_recorded_without_credentials() {
    let service = start(false).await;
    get(&service, &[("service", SERVICE)], Some(USER)).await;
    get(&service, &[("password", PASSWORD)], None).await;
    post(
        &service,
        &[
            ("grant_type", "password"),
            ("username", USER),
            ("password", PASSWORD),
        ],
    )
    .await;
    client()
        .get(service.realm())
        .basic_auth(USER, Some("wrong"))
        .send()
        .await
        .unwrap();
    let records = service.requests();
    assert_eq!(
        records,
        vec![
            TokenRequestRecord {
                method: "GET".into(),
                path_and_query: format!("/token?service={SERVICE}"),
                auth_scheme: Some("Basic".into()),
                status: 200,
            },
            TokenRequestRecord {
                method: "GET".into(),
                path_and_query: "/token?password=<redacted>".into(),
                auth_scheme: None,
                status: 200,
            },
            TokenRequestRecord {
                method: "POST".into(),
                path_and_query: "/token".into(),
                auth_scheme: None,
                status: 400,
            },
            TokenRequestRecord {
                method: "GET".into(),
                path_and_query: "/token".into(),
                auth_scheme: Some("Basic".into()),
                status: 401,
            },
        ]
    );
    let printed = format!("{records:?}");
    assert!(!printed.contains(PASSWORD) && !printed.contains("wrong"));
    service.shutdown().await;
}

/// The URL in `variable`, set by `.ci/run`. Outside CI an unset variable skips the test,
/// saying so; under CI (`CI` set) it fails it, since a missing registry there is a broken
/// run, not a reason to skip.
fn from_env(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) => Some(value),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("{variable} is not set: .ci/run starts that service and sets it")
        }
        Err(_) => {
            eprintln!("{variable} not set: skipping (CI runs it)");
            None
        }
    }
}

/// The value of `name="…"` in a challenge.
fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let len = challenge[start..].find('"')?;
    Some(challenge[start..start + len].to_string())
}

/// A `401` whose bearer challenge names `error`.
fn assert_refused(resp: &reqwest::Response, error: &str) {
    assert_eq!(resp.status(), 401);
    let refused = challenge(resp);
    assert_eq!(
        challenge_param(&refused, "error").as_deref(),
        Some(error),
        "{refused}"
    );
}

fn challenge(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("www-authenticate")
        .expect("a challenge")
        .to_str()
        .unwrap()
        .to_string()
}

async fn token_from(realm: &str, service: &str, scope: &str, user: Option<&str>) -> String {
    let mut request = client()
        .get(realm)
        .query(&[("service", service), ("scope", scope)]);
    if let Some(user) = user {
        request = request.basic_auth(user, Some(PASSWORD));
    }
    let body = json_ok(request.send().await.unwrap()).await;
    body["token"].as_str().expect("token").to_string()
}

#[tokio::test]
async fn distribution_accepts_the_tokens_and_enforces_their_scopes() {
    let (Some(registry), Some(realm)) = (
        from_env("ACR_E2E_DISTRIBUTION_TOKEN"),
        from_env("ACR_E2E_TOKEN_REALM"),
    ) else {
        return;
    };
    let http = client();

    let resp = http.get(format!("{registry}/v2/")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let first = challenge(&resp);
    assert!(first.starts_with("Bearer "), "{first}");
    assert_eq!(challenge_param(&first, "realm").as_deref(), Some(&*realm));
    let service = challenge_param(&first, "service").expect("service");

    let catalog = token_from(&realm, &service, "registry:catalog:*", Some(USER)).await;
    let resp = http
        .get(format!("{registry}/v2/_catalog"))
        .bearer_auth(&catalog)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body["repositories"].is_array(), "{body}");

    // The user may push: distribution opens an upload, and cancelling it takes delete.
    let scope = "repository:e2e-token/probe:pull,push,delete";
    let push = token_from(&realm, &service, scope, Some(USER)).await;
    let resp = http
        .post(format!("{registry}/v2/e2e-token/probe/blobs/uploads/"))
        .bearer_auth(&push)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let location = if location.starts_with('/') {
        format!("{registry}{location}")
    } else {
        location
    };
    let resp = http
        .delete(location)
        .bearer_auth(&push)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);

    // An anonymous token holds no push right (at most pull): distribution says which scope
    // is missing.
    let anonymous = token_from(&realm, &service, scope, None).await;
    let resp = http
        .post(format!("{registry}/v2/e2e-token/probe/blobs/uploads/"))
        .bearer_auth(&anonymous)
        .send()
        .await
        .unwrap();
    assert_refused(&resp, "insufficient_scope");

    // Same issuer and service, another key: distribution checks the signature, not just
    // the claims.
    let claims = decode_part(catalog.split('.').nth(1).expect("claims"));
    let impostor = TokenService::builder()
        .service(&service)
        .issuer(claims["iss"].as_str().expect("iss"))
        .user(USER, PASSWORD)
        .start()
        .await
        .unwrap();
    let forged = token_from(impostor.realm(), &service, "registry:catalog:*", Some(USER)).await;
    let resp = http
        .get(format!("{registry}/v2/_catalog"))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_refused(&resp, "invalid_token");
}
