//! Replays the registry's side of a recorded ACR session on an httpmock server.

#![allow(dead_code, reason = "each test binary uses part of this module")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use httpmock::{HttpMockRequest, HttpMockResponse, Mock, MockServer};
use serde_json::Value;

/// The recorded registry's host; requests to other hosts (Azure AD, ARM) belong to the
/// recording test's own setup and are not replayed.
const RECORDED_HOST: &str = "https://fake_url.azurecr.io";

pub(crate) fn recording(name: &str) -> Vec<Value> {
    let path = format!(
        "{}/../../fixtures/recordings/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let json: Value = serde_json::from_str(&text).unwrap();
    json["Entries"].as_array().unwrap().clone()
}

/// What tells requests apart: method, path as sent, the query and form fields as sets, and
/// whether a token was sent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    form: Vec<(String, String)>,
    /// A JSON body, keys sorted.
    json: String,
    authorized: bool,
}

/// JSON with object keys sorted, so that key order does not tell bodies apart.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<_> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::from(k.as_str()), canonical(&map[*k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

fn pairs(text: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect();
    pairs.sort();
    pairs
}

fn split(uri: &str) -> (String, String) {
    match uri.split_once('?') {
        Some((path, query)) => (normal_path(path), query.to_owned()),
        None => (normal_path(uri), String::new()),
    }
}

/// `:` may be sent percent-encoded (the recorder's client did) or not (it is allowed in a
/// path segment), and the recorder encoded the `/` of repository names, which this client
/// sends literally as the distribution spec writes them; both forms name the same resource.
fn normal_path(path: &str) -> String {
    path.replace("%3A", ":")
        .replace("%3a", ":")
        .replace("%2F", "/")
        .replace("%2f", "/")
}

fn key_of(entry: &Value) -> Option<Key> {
    let uri = entry["RequestUri"].as_str()?.strip_prefix(RECORDED_HOST)?;
    let (path, query) = split(uri);
    let token_endpoint = path.starts_with("/oauth2/");
    let form = match (&entry["RequestBody"], token_endpoint) {
        (Value::String(body), true) => pairs(body),
        _ => Vec::new(),
    };
    // A bare challenge has no `error`; a challenge with `error="insufficient_scope"`
    // answers a request that carried a token.
    let challenge = entry["ResponseHeaders"]["WWW-Authenticate"]
        .as_str()
        .unwrap_or_default();
    let authorized =
        !token_endpoint && (entry["StatusCode"] != 401 || challenge.contains("error="));
    let json = match &entry["RequestBody"] {
        body @ (Value::Object(_) | Value::Array(_)) => canonical(body),
        _ => String::new(),
    };
    Some(Key {
        method: entry["RequestMethod"].as_str()?.to_owned(),
        path,
        query: pairs(&query),
        form,
        json,
        authorized,
    })
}

fn key_of_request(request: &HttpMockRequest, authorized: bool) -> Key {
    let uri = request.uri();
    let path = normal_path(uri.path());
    let token_endpoint = path.starts_with("/oauth2/");
    Key {
        method: request.method().to_string(),
        path,
        query: pairs(uri.query().unwrap_or_default()),
        form: if token_endpoint {
            pairs(&String::from_utf8_lossy(request.body().as_ref()))
        } else {
            Vec::new()
        },
        json: match serde_json::from_slice::<Value>(request.body().as_ref()) {
            Ok(body) if !token_endpoint => canonical(&body),
            _ => String::new(),
        },
        authorized: authorized && !token_endpoint,
    }
}

/// The recorder replaced some digests in URLs by `sha256_encoded_stream` (and dropped
/// their query): such a segment stands for any sha256 digest.
const SANITIZED_DIGEST: &str = "sha256_encoded_stream";

fn same_request(recorded: &Key, actual: &Key) -> bool {
    if !recorded.path.contains(SANITIZED_DIGEST) {
        return recorded == actual;
    }
    let segments = |path: &str| path.split('/').map(str::to_owned).collect::<Vec<_>>();
    let (want, got) = (segments(&recorded.path), segments(&actual.path));
    want.len() == got.len()
        && want
            .iter()
            .zip(&got)
            .all(|(w, g)| w == g || (w == SANITIZED_DIGEST && g.starts_with("sha256:")))
        && (
            &recorded.method,
            &recorded.form,
            &recorded.json,
            recorded.authorized,
        ) == (
            &actual.method,
            &actual.form,
            &actual.json,
            actual.authorized,
        )
}

fn response_of(entry: &Value) -> HttpMockResponse {
    let mut response =
        HttpMockResponse::builder().status(entry["StatusCode"].as_u64().unwrap() as u16);
    for (name, value) in entry["ResponseHeaders"].as_object().unwrap() {
        let skipped = ["content-length", "transfer-encoding", "connection", "date"];
        if !skipped.contains(&name.to_ascii_lowercase().as_str()) {
            response = response.header(name, value.as_str().unwrap_or_default());
        }
    }
    let body = match &entry["ResponseBody"] {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        json => json.to_string(),
    };
    response.body(body).build()
}

/// The recorded registry: one mock per distinct request, answering its recorded
/// responses in order (the last one again once they run out).
pub(crate) struct Replay<'a> {
    pub(crate) mocks: Vec<(String, Mock<'a>)>,
    served: Arc<AtomicUsize>,
}

impl Replay<'_> {
    /// How many requests were answered from the recording.
    pub(crate) fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

pub(crate) async fn replay<'a>(server: &'a MockServer, entries: &[Value]) -> Replay<'a> {
    let mut groups: BTreeMap<Key, Vec<HttpMockResponse>> = BTreeMap::new();
    for entry in entries {
        if let Some(key) = key_of(entry) {
            groups.entry(key).or_default().push(response_of(entry));
        }
    }
    let served = Arc::new(AtomicUsize::new(0));
    let mut mocks = Vec::new();
    for (key, responses) in groups {
        let label = format!(
            "{} {} {:?} authorized={}",
            key.method, key.path, key.query, key.authorized
        );
        let matched = key.clone();
        let count = Arc::new(AtomicUsize::new(0));
        let served = served.clone();
        let mock = server
            .mock_async(|when, then| {
                when.is_true(move |req| {
                    let authorized = req.headers().contains_key("authorization");
                    same_request(&matched, &key_of_request(req, authorized))
                });
                then.respond_with(move |_req: &HttpMockRequest| {
                    served.fetch_add(1, Ordering::SeqCst);
                    let n = count
                        .fetch_add(1, Ordering::SeqCst)
                        .min(responses.len() - 1);
                    responses[n].clone()
                });
            })
            .await;
        mocks.push((label, mock));
    }
    Replay { mocks, served }
}

/// The recordings' Azure AD token is the placeholder `access_token`.
#[derive(Debug)]
pub(crate) struct RecordedAad;

#[async_trait::async_trait]
impl acr::TokenCredential for RecordedAad {
    async fn get_token(&self, _scopes: &[&str]) -> acr::Result<acr::AccessToken> {
        Ok(acr::AccessToken {
            token: acr::Secret::new("access_token"),
            expires_on: SystemTime::now() + Duration::from_secs(3600),
        })
    }
}

pub(crate) fn client(
    server: &MockServer,
    credential: acr::Credential,
) -> acr::ContainerRegistryClient {
    acr::ContainerRegistryClient::builder(server.base_url())
        .credential(credential)
        .allow_http(true)
        .retry(acr::RetryOptions::none())
        .build()
        .unwrap()
}

/// The body of the recorded response to the last `method` request whose path ends with
/// `path_suffix` and that succeeded.
pub(crate) fn recorded_body(entries: &[Value], method: &str, path_suffix: &str) -> Value {
    entries
        .iter()
        .rev()
        .find(|e| {
            e["RequestMethod"] == method
                && e["StatusCode"].as_u64().is_some_and(|s| s < 300)
                && split(e["RequestUri"].as_str().unwrap()).0.ends_with(path_suffix)
        })
        .unwrap_or_else(|| panic!("no successful {method} …{path_suffix} in the recording"))["ResponseBody"]
        .clone()
}
