//! What the client logs. A test binary of its own: `tracing` caches per call site whether
//! anyone listens, so a subscriber installed by one test among many parallel ones would
//! miss events.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use acr::{AccessToken, ContainerRegistryClient, Credential, Secret};
use base64::Engine as _;
use httpmock::Method::{GET, POST};
use httpmock::MockServer;
use serde_json::json;

const REPO: &str = "library/hello-world";
const REPO_PATH: &str = "/acr/v1/library/hello-world";
const SERVICE: &str = "myregistry.azurecr.io";
const AAD_TOKEN: &str = "aad-token-that-must-stay-secret";

fn jwt(name: &str, seconds: u64) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + seconds;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        b64.encode("{}"),
        b64.encode(json!({ "exp": exp, "jti": name }).to_string()),
        b64.encode(name)
    )
}

#[derive(Debug)]
struct FakeAad;

#[async_trait::async_trait]
impl acr::TokenCredential for FakeAad {
    async fn get_token(&self, _scopes: &[&str]) -> acr::Result<AccessToken> {
        Ok(AccessToken {
            token: Secret::new(AAD_TOKEN),
            expires_on: SystemTime::now() + Duration::from_secs(3600),
        })
    }
}

#[tokio::test]
async fn no_secret_reaches_the_logs_at_any_level() {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || LogWriter(writer.clone()))
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start_async().await;
    let (refresh, access) = (jwt("refresh-secret", 3600), jwt("access-secret", 3600));
    let scope = format!("repository:{REPO}:metadata_read");
    server
        .mock_async(|when, then| {
            when.method(GET).path(REPO_PATH).header_missing("authorization");
            then.status(401).header(
                "www-authenticate",
                format!(r#"Bearer realm="https://{SERVICE}/oauth2/token",service="{SERVICE}",scope="{scope}""#),
            );
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/exchange");
            then.status(200)
                .json_body(json!({ "refresh_token": refresh }));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/token");
            then.status(200)
                .json_body(json!({ "access_token": access }));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(REPO_PATH)
                .header("authorization", format!("Bearer {access}"));
            then.status(200)
                .header("x-ms-request-id", "rid-42")
                .json_body(json!({
                    "registry": SERVICE, "imageName": REPO,
                    "createdTime": "2022-07-08T21:52:31Z", "lastUpdateTime": "2022-07-08T21:52:28Z",
                    "manifestCount": 1, "tagCount": 1
                }));
        })
        .await;
    let client = ContainerRegistryClient::builder(server.base_url())
        .credential(Credential::from(Arc::new(FakeAad)))
        .allow_http(true)
        .build()
        .unwrap();
    client.get_repository_properties(REPO).await.unwrap();
    client.get_repository_properties(REPO).await.unwrap();
    let debug = format!("{client:?}");

    // The mock registry logs what it receives, secrets included: its lines are the
    // server's, not the client's.
    let logs: String = String::from_utf8(logs.lock().unwrap().clone())
        .unwrap()
        .lines()
        .filter(|line| !line.contains("httpmock::"))
        .map(|line| format!("{line}\n"))
        .collect();
    for expected in [
        "get_repository_properties",
        "exchange_aad_token_for_refresh_token",
        "status=200",
        "rid-42",
    ] {
        assert!(logs.contains(expected), "{expected} missing from:\n{logs}");
    }
    for secret in [AAD_TOKEN, refresh.as_str(), access.as_str(), "Bearer "] {
        assert!(!logs.contains(secret), "{secret} leaked into:\n{logs}");
        assert!(!debug.contains(secret), "{secret} leaked into {debug}");
    }
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
