//! The `Hooks` seam: every generated operation passes through `prepare` and `execute`,
//! which is where `acr` authenticates, retries and logs.

use std::sync::{Arc, Mutex};

use acr_rest::{API_VERSION, Client, Error, Hooks, Inner};
use httpmock::prelude::*;

#[derive(Debug, Default)]
struct Recorder {
    seen: Mutex<Vec<&'static str>>,
    refuse: bool,
}

#[async_trait::async_trait]
impl Hooks for Recorder {
    async fn prepare(
        &self,
        request: &mut reqwest::Request,
        operation_id: &'static str,
    ) -> Result<(), String> {
        if self.refuse {
            return Err(format!("{operation_id}: no credential"));
        }
        request
            .headers_mut()
            .insert("authorization", "Bearer test-token".parse().unwrap());
        Ok(())
    }

    async fn execute(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
        operation_id: &'static str,
    ) -> reqwest::Result<reqwest::Response> {
        self.seen.lock().unwrap().push(operation_id);
        client.execute(request).await
    }
}

fn client(server: &MockServer, hooks: Arc<Recorder>) -> Client {
    Client::new_with_client(
        &server.base_url(),
        reqwest::Client::new(),
        Inner::new(hooks),
    )
}

#[tokio::test]
async fn hooks_see_every_operation_and_shape_its_request() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/acr/v1/hello-world")
                .query_param("api-version", API_VERSION)
                .header("authorization", "Bearer test-token");
            then.status(200).json_body(serde_json::json!({
                "registry": "r.azurecr.io", "imageName": "hello-world",
                "createdTime": "2021-01-01T00:00:00Z", "lastUpdateTime": "2021-01-01T00:00:00Z",
                "manifestCount": 1, "tagCount": 1
            }));
        })
        .await;
    let check = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v2/")
                .header("authorization", "Bearer test-token");
            then.status(200);
        })
        .await;

    let hooks = Arc::new(Recorder::default());
    let client = client(&server, hooks.clone());
    let props = client
        .get_repository_properties()
        .name("hello-world")
        .api_version(API_VERSION)
        .send()
        .await
        .unwrap();
    assert_eq!(props.tag_count, 1);
    client.check_docker_v2_support().send().await.unwrap();

    mock.assert_async().await;
    check.assert_async().await;
    assert_eq!(
        *hooks.seen.lock().unwrap(),
        ["get_repository_properties", "check_docker_v2_support"]
    );
}

#[tokio::test]
async fn a_refusal_in_prepare_stops_the_operation_before_any_request() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|_, then| {
            then.status(200);
        })
        .await;

    let hooks = Arc::new(Recorder {
        refuse: true,
        ..Recorder::default()
    });
    let err = client(&server, hooks.clone())
        .check_docker_v2_support()
        .send()
        .await
        .unwrap_err();

    assert!(
        matches!(&err, Error::Custom(m) if m == "check_docker_v2_support: no credential"),
        "{err:?}"
    );
    assert_eq!(any.calls_async().await, 0);
    assert!(hooks.seen.lock().unwrap().is_empty());
}

/// Error responses are re-read by the shim (to give others an envelope); one with
/// ACR's envelope must come through with its status, headers and body intact.
#[tokio::test]
async fn an_error_envelope_passes_through_with_status_and_headers() {
    let server = MockServer::start_async().await;
    // The 404 of a missing tag, as the service sends it (Python SDK recording
    // test_delete_tag_does_not_exist).
    let envelope = serde_json::json!({
        "errors": [{ "code": "TAG_UNKNOWN", "message": "the specified tag does not exist" }]
    });
    server
        .mock_async(|when, then| {
            when.method(DELETE);
            then.status(404)
                .header("x-ms-request-id", "req-1")
                .json_body(envelope.clone());
        })
        .await;

    let client = client(&server, Arc::new(Recorder::default()));
    let err = client
        .delete_tag()
        .name("does_not_exist")
        .reference("does_not_exist")
        .api_version(API_VERSION)
        .send()
        .await
        .unwrap_err();

    let Error::ErrorResponse(response) = err else {
        panic!("{err:?}")
    };
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-ms-request-id"], "req-1");
    let errors = response.errors.as_deref().unwrap();
    assert_eq!(errors[0].code.as_deref(), Some("TAG_UNKNOWN"));
}

/// A gateway's HTML or text error page still gives the caller its status and words.
#[tokio::test]
async fn a_text_error_body_becomes_an_envelope_with_its_text() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(DELETE);
            then.status(502)
                .header("content-type", "text/html")
                .body("<html>\n  <body>Bad   Gateway</body>\n</html>");
        })
        .await;
    let client = client(&server, Arc::new(Recorder::default()));
    let err = client
        .delete_tag()
        .name("repo")
        .reference("v1")
        .api_version(API_VERSION)
        .send()
        .await
        .unwrap_err();
    let Error::ErrorResponse(response) = err else {
        panic!("{err:?}")
    };
    assert_eq!(response.status(), 502);
    let errors = response.errors.as_deref().unwrap();
    assert_eq!(errors[0].code, None);
    assert_eq!(
        errors[0].message.as_deref(),
        Some("<html> <body>Bad Gateway</body> </html>")
    );
}
