//! Contract tests: the generated client against the service team's own examples
//! (`spec/examples/`).
//!
//! For each example, an httpmock server expects exactly the request the example describes
//! (method, percent-encoded path, query, the headers and body that matter) and answers with
//! the example's response; the test then checks that the response parsed into the generated
//! types without losing a field. The examples are shape fixtures: their tokens are
//! placeholders and a few values are odd (noted where used).

use acr_rest::{API_VERSION, Client, Error, Inner, ResponseValue, types};
use futures_util::TryStreamExt;
use httpmock::prelude::*;
use serde_json::{Map, Value};

/// Examples the generated client cannot drive, and why.
const NOT_GENERATED: &[(&str, &str)] = &[
    ("GetBlobStatus.json", UPLOAD_SESSION),
    ("UploadBlob.json", UPLOAD_SESSION),
    ("EndBlobUpload.json", UPLOAD_SESSION),
    ("CancelBlobUpload.json", UPLOAD_SESSION),
];

const UPLOAD_SESSION: &str = "an upload-session operation: its path is the server's \
    `Location`, so `acr` sends it by hand and tests it there";

/// Examples exercised below, one test each.
const COVERED: &[&str] = &[
    "GetRepositoryList.json",
    "GetRepositoryAttributes.json",
    "UpdateRepositoryAttributes.json",
    "DeleteAcrRepository.json",
    "GetTagList.json",
    "GetTagAttributes.json",
    "UpdateTagAttributes.json",
    "DeleteTag.json",
    "GetManifestList.json",
    "GetManifestAttributes.json",
    "UpdateManifestAttributes.json",
    "GetManifest.json",
    "DeleteManifest.json",
    "DeleteBlob.json",
    "PostRefreshToken.json",
    "PostAccessToken.json",
];

fn spec_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec")
}

fn example(file: &str) -> Value {
    let path = spec_dir().join("examples").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn param<'a>(ex: &'a Value, name: &str) -> &'a str {
    ex["parameters"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no string parameter {name}"))
}

/// A path segment as it goes on the wire: a repository name's `/` is percent-encoded.
fn seg(value: &str) -> String {
    value.replace('/', "%2F")
}

fn body(ex: &Value, status: &str) -> Value {
    ex["responses"][status]["body"].clone()
}

fn client(server: &MockServer) -> Client {
    Client::new_with_client(&server.base_url(), reqwest::Client::new(), Inner::default())
}

/// Checks that `typed`, serialised again, carries every field of the example body with the
/// same value: a field the generated type dropped or mistyped fails here. Timestamps are
/// compared as instants, since the service writes 7 fractional digits and chrono 9.
fn assert_lossless(typed: &impl serde::Serialize, expected: &Value) {
    fn compare(path: &str, actual: &Value, expected: &Value) {
        match (actual, expected) {
            (Value::Object(a), Value::Object(e)) => {
                for (key, value) in e {
                    let found = a
                        .get(key)
                        .unwrap_or_else(|| panic!("{path}.{key} was dropped"));
                    compare(&format!("{path}.{key}"), found, value);
                }
            }
            (Value::Array(a), Value::Array(e)) => {
                assert_eq!(a.len(), e.len(), "{path}: length");
                for (i, (a, e)) in a.iter().zip(e).enumerate() {
                    compare(&format!("{path}[{i}]"), a, e);
                }
            }
            (Value::String(a), Value::String(e)) if a != e => {
                let instant = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
                assert!(
                    instant(a).is_some() && instant(a) == instant(e),
                    "{path}: {a} != {e}"
                );
            }
            _ => assert_eq!(actual, expected, "{path}"),
        }
    }
    compare("body", &serde_json::to_value(typed).unwrap(), expected);
}

#[test]
fn every_example_is_covered_or_explained() {
    let mut files: Vec<String> = std::fs::read_dir(spec_dir().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    for file in &files {
        let covered = COVERED.contains(&file.as_str());
        let explained = NOT_GENERATED.iter().any(|(f, _)| f == file);
        assert!(
            covered ^ explained,
            "{file} must be covered or explained, not both or neither"
        );
    }
    assert_eq!(
        files.len(),
        COVERED.len() + NOT_GENERATED.len(),
        "a listed example is missing"
    );

    // Every example the spec references and that exists is one of ours. Nine referenced
    // files do not exist upstream at this version (spec/README.md lists them).
    let upstream = std::fs::read_to_string(spec_dir().join("containerregistry.json")).unwrap();
    for part in upstream.split("\"./examples/").skip(1) {
        let file = &part[..part.find('"').unwrap()];
        if spec_dir().join("examples").join(file).exists() {
            assert!(files.iter().any(|f| f == file), "{file}");
        }
    }
}

/// One `GET path?api-version=…` answered with the example's 200; the typed response must
/// carry every field of the example body.
async fn get<T: serde::Serialize>(
    ex: &Value,
    path: String,
    send: impl AsyncFnOnce(Client) -> Result<ResponseValue<T>, Error<types::AcrErrors>>,
) -> T {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(path)
                .query_param("api-version", API_VERSION);
            then.status(200).json_body(body(ex, "200"));
        })
        .await;
    let typed = send(client(&server)).await.unwrap().into_inner();
    mock.assert_async().await;
    assert_lossless(&typed, &body(ex, "200"));
    typed
}

#[tokio::test]
async fn get_repository_list() {
    let ex = example("GetRepositoryList.json");
    let list = get(&ex, "/acr/v1/_catalog".into(), async |c| {
        c.list_repositories().api_version(API_VERSION).send().await
    })
    .await;
    let names = list.repositories.unwrap();
    assert_eq!(names, ["production/alpine", "testing/alpine"]);
}

#[tokio::test]
async fn get_repository_attributes() {
    let ex = example("GetRepositoryAttributes.json");
    let name = param(&ex, "name");
    let props = get(&ex, format!("/acr/v1/{}", seg(name)), async |c| {
        c.get_repository_properties()
            .name(name)
            .api_version(API_VERSION)
            .send()
            .await
    })
    .await;
    assert_eq!((props.manifest_count, props.tag_count), (2, 2));
}

#[tokio::test]
async fn get_tag_list() {
    let ex = example("GetTagList.json");
    let name = param(&ex, "name");
    let list = get(&ex, format!("/acr/v1/{}/_tags", seg(name)), async |c| {
        c.list_tags()
            .name(name)
            .api_version(API_VERSION)
            .send()
            .await
    })
    .await;
    let names: Vec<String> = list.tags.into_iter().flatten().map(|t| t.name).collect();
    assert_eq!(
        names,
        [
            "4.7.2-20180905-nanoserver-1803",
            "4.7.2-20180906-nanoserver-1803"
        ]
    );
}

#[tokio::test]
async fn get_tag_attributes() {
    let ex = example("GetTagAttributes.json");
    // The example's `reference` is a digest with a non-hex `s`; the client passes it through.
    let (name, reference) = (param(&ex, "name"), param(&ex, "reference"));
    let path = format!("/acr/v1/{}/_tags/{reference}", seg(name));
    let props = get(&ex, path, async |c| {
        let r = c.get_tag_properties().name(name).reference(reference);
        r.api_version(API_VERSION).send().await
    })
    .await;
    assert_eq!(props.tag.name, "tagName");
}

#[tokio::test]
async fn get_manifest_list() {
    let ex = example("GetManifestList.json");
    let name = param(&ex, "name");
    let list = get(
        &ex,
        format!("/acr/v1/{}/_manifests", seg(name)),
        async |c| {
            c.list_manifests()
                .name(name)
                .api_version(API_VERSION)
                .send()
                .await
        },
    )
    .await;
    let manifests = list.manifests.unwrap();
    assert_eq!(manifests.len(), 2);
    assert_eq!(manifests[0].architecture.as_ref().unwrap().0, "amd64");
    assert_eq!(manifests[1].image_size, Some(4135121));
}

#[tokio::test]
async fn get_manifest_attributes() {
    let ex = example("GetManifestAttributes.json");
    let (name, digest) = (param(&ex, "name"), param(&ex, "digest"));
    let path = format!("/acr/v1/{}/_manifests/{digest}", seg(name));
    let props = get(&ex, path, async |c| {
        let r = c.get_manifest_properties().name(name).digest(digest);
        r.api_version(API_VERSION).send().await
    })
    .await;
    assert_eq!(props.manifest.digest, digest);
}

/// The three PATCH examples send the example's `value` as the JSON body; the typed
/// response must carry every field of the example's.
async fn update<A: serde::de::DeserializeOwned, T: serde::Serialize>(
    ex: &Value,
    path: String,
    send: impl AsyncFnOnce(Client, A) -> Result<ResponseValue<T>, Error<types::AcrErrors>>,
) -> T {
    let value = ex["parameters"]["value"].clone();
    // UpdateTagAttributes writes the body as a JSON *string*; the service takes the object.
    let value = match value {
        Value::String(s) => serde_json::from_str(&s).unwrap(),
        v => v,
    };
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .path(path)
                .query_param("api-version", API_VERSION)
                .header("content-type", "application/json")
                .json_body(value.clone());
            then.status(200).json_body(body(ex, "200"));
        })
        .await;
    let attrs = serde_json::from_value(value).unwrap();
    let typed = send(client(&server), attrs).await.unwrap().into_inner();
    mock.assert_async().await;
    assert_lossless(&typed, &body(ex, "200"));
    typed
}

#[tokio::test]
async fn update_repository_attributes() {
    let ex = example("UpdateRepositoryAttributes.json");
    let name = param(&ex, "name");
    let props = update(
        &ex,
        format!("/acr/v1/{}", seg(name)),
        async |c, attrs: types::RepositoryChangeableAttributes| {
            let r = c.update_repository_properties().name(name).body(attrs);
            r.api_version(API_VERSION).send().await
        },
    )
    .await;
    assert_eq!(
        props.changeable_attributes.unwrap().write_enabled,
        Some(false)
    );
}

#[tokio::test]
async fn update_tag_attributes() {
    let ex = example("UpdateTagAttributes.json");
    let (name, tag) = (param(&ex, "name"), param(&ex, "reference"));
    let path = format!("/acr/v1/{}/_tags/{tag}", seg(name));
    let props = update(
        &ex,
        path,
        async |c, attrs: types::TagChangeableAttributes| {
            let r = c
                .update_tag_properties()
                .name(name)
                .reference(tag)
                .body(attrs);
            r.api_version(API_VERSION).send().await
        },
    )
    .await;
    assert_eq!(
        props.tag.changeable_attributes.unwrap().write_enabled,
        Some(false)
    );
}

#[tokio::test]
async fn update_manifest_attributes() {
    let ex = example("UpdateManifestAttributes.json");
    let (name, digest) = (param(&ex, "name"), param(&ex, "digest"));
    let path = format!("/acr/v1/{}/_manifests/{digest}", seg(name));
    let props = update(
        &ex,
        path,
        async |c, attrs: types::ManifestChangeableAttributes| {
            let r = c
                .update_manifest_properties()
                .name(name)
                .digest(digest)
                .body(attrs);
            r.api_version(API_VERSION).send().await
        },
    )
    .await;
    assert_eq!(
        props.manifest.changeable_attributes.unwrap().write_enabled,
        Some(false)
    );
}

#[tokio::test]
async fn get_manifest_returns_the_exact_bytes() {
    let ex = example("GetManifest.json");
    let (name, reference, accept) = (
        param(&ex, "name"),
        param(&ex, "reference"),
        param(&ex, "accept"),
    );
    // The bytes as a registry would store them: the digest is over these, not over a
    // re-serialisation, so the client must hand them out untouched.
    let stored = serde_json::to_vec_pretty(&body(&ex, "200")).unwrap();
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v2/{}/manifests/{reference}", seg(name)))
                .header("accept", accept);
            then.status(200)
                .header("content-type", accept)
                .body(&stored);
        })
        .await;
    let response = client(&server)
        .get_manifest()
        .name(name)
        .reference(reference)
        .accept(accept)
        .send()
        .await
        .unwrap();
    mock.assert_async().await;
    assert_eq!(response.headers()["content-type"], accept);
    let bytes: Vec<u8> = response
        .into_inner()
        .into_inner()
        .try_fold(Vec::new(), |mut all, chunk| async move {
            all.extend_from_slice(&chunk);
            Ok(all)
        })
        .await
        .unwrap();
    assert_eq!(bytes, stored);
}

/// DeleteTag, DeleteManifest and DeleteAcrRepository list a body-less 202 and 404: the 202
/// is success; the 404 is an error response whose status survives, for `acr` to judge.
async fn delete(ex: &Value, path: String, with_api_version: bool, send: DeleteFn) {
    for (status, ok) in [(202, true), (404, false)] {
        let server = MockServer::start_async().await;
        let mock = server
            .mock_async(|when, then| {
                let when = when.method(DELETE).path(path.clone());
                if with_api_version {
                    when.query_param("api-version", API_VERSION);
                }
                then.status(status);
            })
            .await;
        let result = send(client(&server), ex.clone()).await;
        mock.assert_async().await;
        match result {
            Ok(()) => assert!(ok, "a {status} was taken for success"),
            Err(Error::ErrorResponse(e)) if !ok => {
                assert_eq!(e.status(), 404);
                assert_eq!(
                    e.errors.as_deref().map(<[_]>::len),
                    Some(0),
                    "{:?}",
                    e.errors
                );
            }
            Err(e) => panic!("a {status} gave {e:?}"),
        }
    }
}

type DeleteFn =
    fn(
        Client,
        Value,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), Error<types::AcrErrors>>> + Send>>;

#[tokio::test]
async fn delete_tag() {
    let ex = example("DeleteTag.json");
    let path = format!(
        "/acr/v1/{}/_tags/{}",
        seg(param(&ex, "name")),
        param(&ex, "reference")
    );
    delete(&ex, path, true, |c, ex| {
        Box::pin(async move {
            let r = c
                .delete_tag()
                .name(param(&ex, "name"))
                .reference(param(&ex, "reference"));
            r.api_version(API_VERSION).send().await.map(|_| ())
        })
    })
    .await;
}

#[tokio::test]
async fn delete_repository() {
    let ex = example("DeleteAcrRepository.json");
    let path = format!("/acr/v1/{}", seg(param(&ex, "name")));
    delete(&ex, path, true, |c, ex| {
        Box::pin(async move {
            let r = c
                .delete_repository()
                .name(param(&ex, "name"))
                .api_version(API_VERSION);
            r.send().await.map(|_| ())
        })
    })
    .await;
}

#[tokio::test]
async fn delete_manifest() {
    let ex = example("DeleteManifest.json");
    // The example deletes by tag; the registry only deletes manifests by digest, which is
    // for `acr` to enforce. The generated call sends what it is given.
    let path = format!(
        "/v2/{}/manifests/{}",
        seg(param(&ex, "name")),
        param(&ex, "reference")
    );
    delete(&ex, path, false, |c, ex| {
        Box::pin(async move {
            let r = c
                .delete_manifest()
                .name(param(&ex, "name"))
                .reference(param(&ex, "reference"));
            r.send().await.map(|_| ())
        })
    })
    .await;
}

#[tokio::test]
async fn delete_blob() {
    let ex = example("DeleteBlob.json");
    let (name, digest) = (param(&ex, "name"), param(&ex, "digest"));
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(DELETE)
                .path(format!("/v2/{}/blobs/{digest}", seg(name)));
            then.status(202)
                .body(ex["responses"]["202"]["body"].as_str().unwrap());
        })
        .await;
    let response = client(&server)
        .delete_blob()
        .name(name)
        .digest(digest)
        .send()
        .await
        .unwrap();
    mock.assert_async().await;
    assert_eq!(response.status(), 202);
}

/// Both token endpoints take an `application/x-www-form-urlencoded` body whose fields are
/// the example's parameters, under their snake_case wire names.
fn expect_form(when: httpmock::When, ex: &Value, path: &str, fields: &[&str]) -> httpmock::When {
    let mut when = when
        .method(POST)
        .path(path)
        .query_param("api-version", API_VERSION)
        .header("content-type", "application/x-www-form-urlencoded");
    for field in fields {
        when = when.form_urlencoded_tuple(*field, param(ex, field));
    }
    // No field beyond the example's: an unexpected one would change the grant.
    let expected: Map<String, Value> = fields
        .iter()
        .map(|f| (f.to_string(), Value::from(param(ex, f))))
        .collect();
    when.is_true(move |req| {
        let pairs = form_urlencoded_pairs(req.body().as_ref());
        pairs.len() == expected.len() && pairs.iter().all(|(k, v)| expected[k] == *v)
    })
}

fn form_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

#[tokio::test]
async fn post_refresh_token() {
    let ex = example("PostRefreshToken.json");
    let fields = ["grant_type", "service", "tenant", "access_token"];
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            expect_form(when, &ex, "/oauth2/exchange", &fields);
            then.status(200).json_body(body(&ex, "200"));
        })
        .await;
    let token = client(&server)
        .exchange_aad_token_for_refresh_token()
        .body_map(|b| {
            b.grant_type(param(&ex, "grant_type"))
                .service(param(&ex, "service"))
                .tenant(Some(param(&ex, "tenant").to_owned()))
                .access_token(Some(param(&ex, "access_token").to_owned()))
        })
        .api_version(API_VERSION)
        .send()
        .await
        .unwrap();
    mock.assert_async().await;
    assert_lossless(&*token, &body(&ex, "200"));
}

#[tokio::test]
async fn post_access_token() {
    let ex = example("PostAccessToken.json");
    let fields = ["grant_type", "service", "scope", "refresh_token"];
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            expect_form(when, &ex, "/oauth2/token", &fields);
            then.status(200).json_body(body(&ex, "200"));
        })
        .await;
    let token = client(&server)
        .exchange_refresh_token_for_access_token()
        .body_map(|b| {
            b.grant_type(param(&ex, "grant_type"))
                .service(param(&ex, "service"))
                .scope(param(&ex, "scope"))
                .refresh_token(Some(param(&ex, "refresh_token").to_owned()))
        })
        .api_version(API_VERSION)
        .send()
        .await
        .unwrap();
    mock.assert_async().await;
    assert_lossless(&*token, &body(&ex, "200"));
}
