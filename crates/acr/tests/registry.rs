//! Registry operations against the sessions recorded from the real service (replayed by
//! httpmock), and the pager against synthetic listings.

mod common;

use std::sync::Arc;

use acr::{
    ArtifactArchitecture, ArtifactManifestOrder, ArtifactOperatingSystem, ArtifactTagOrder,
    Credential, Error, PropertiesUpdate,
};
use common::{RecordedAad, client, recorded_body, recording, replay};
use futures_util::{StreamExt as _, TryStreamExt as _};
use httpmock::Method::GET;
use httpmock::{HttpMockRequest, HttpMockResponse, MockServer};
use serde_json::{Value, json};

const AAD: &str = "test_container_registry_client.pyTestContainerRegistryClient";
const ANON: &str = "test_anon_access.pyTestContainerRegistryClient";

fn aad() -> Credential {
    Credential::from(Arc::new(RecordedAad))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The recorded pages of a listing: bodies of the successful GETs under `path`, in order.
fn recorded_pages(entries: &[Value], path: &str) -> Vec<(Value, Option<String>)> {
    entries
        .iter()
        .filter(|e| e["RequestMethod"] == "GET" && e["StatusCode"] == 200)
        .filter(|e| {
            e["RequestUri"]
                .as_str()
                .unwrap()
                .split('?')
                .next()
                .unwrap()
                .ends_with(path)
        })
        .map(|e| {
            let link = e["ResponseHeaders"]["Link"]
                .as_str()
                .map(|l| l[1..l.find('>').unwrap()].to_owned());
            (e["ResponseBody"].clone(), link)
        })
        .collect()
}

#[tokio::test]
async fn list_repository_names_as_recorded() {
    for (recording_name, credential) in [
        (format!("{AAD}test_list_repository_names.json"), aad()),
        (
            format!("{ANON}test_list_repository_names.json"),
            Credential::anonymous(),
        ),
    ] {
        let entries = recording(&recording_name);
        let server = MockServer::start_async().await;
        let replay = replay(&server, &entries).await;
        let names: Vec<String> = client(&server, credential)
            .list_repository_names()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            names,
            strings(&recorded_body(&entries, "GET", "/acr/v1/_catalog")["repositories"])
        );
        assert!(replay.served() > 0);
    }
}

#[tokio::test]
async fn list_repository_names_page_by_page_follows_the_recorded_links() {
    for (recording_name, credential) in [
        (
            format!("{AAD}test_list_repository_names_by_page.json"),
            aad(),
        ),
        (
            format!("{ANON}test_list_repository_names_by_page.json"),
            Credential::anonymous(),
        ),
    ] {
        let entries = recording(&recording_name);
        let expected = recorded_pages(&entries, "/acr/v1/_catalog");
        assert!(expected.len() > 2, "{recording_name}");
        let server = MockServer::start_async().await;
        let _replay = replay(&server, &entries).await;

        let pages: Vec<acr::Page<String>> = client(&server, credential)
            .list_repository_names()
            .page_size(2)
            .into_pages()
            .try_collect()
            .await
            .unwrap();

        assert_eq!(pages.len(), expected.len(), "{recording_name}");
        for (page, (body, link)) in pages.iter().zip(&expected) {
            assert!(page.items().len() <= 2);
            assert_eq!(page.items(), strings(&body["repositories"]));
            assert_eq!(page.continuation(), link.as_deref());
        }
        assert_eq!(pages.last().unwrap().continuation(), None);
    }
}

#[tokio::test]
async fn list_tag_properties_as_recorded_in_every_order() {
    for (name, order) in [
        ("test_list_tag_properties.json", ArtifactTagOrder::Unordered),
        (
            "test_list_tag_properties_order_ascending.json",
            ArtifactTagOrder::LastUpdatedOnAscending,
        ),
        (
            "test_list_tag_properties_order_descending.json",
            ArtifactTagOrder::LastUpdatedOnDescending,
        ),
    ] {
        let entries = recording(&format!("{AAD}{name}"));
        let body = recorded_body(&entries, "GET", "/_tags");
        let repository = body["imageName"].as_str().unwrap();
        let server = MockServer::start_async().await;
        let replay = replay(&server, &entries).await;

        // The replay answers only the recorded query, so `orderby` must be the recorded one.
        let tags: Vec<_> = client(&server, aad())
            .list_tag_properties(repository, order)
            .try_collect()
            .await
            .unwrap();

        let recorded = body["tags"].as_array().unwrap();
        assert_eq!(tags.len(), recorded.len(), "{name}");
        for (tag, wire) in tags.iter().zip(recorded) {
            assert_eq!(tag.repository_name, repository);
            assert_eq!(tag.name, wire["name"].as_str().unwrap());
            assert_eq!(tag.digest, wire["digest"].as_str().unwrap());
            assert_eq!(
                tag.can_delete,
                wire["changeableAttributes"]["deleteEnabled"].as_bool()
            );
        }
        let times: Vec<_> = tags.iter().map(|t| t.last_updated_on).collect();
        match order {
            ArtifactTagOrder::LastUpdatedOnAscending => assert!(times.is_sorted(), "{name}"),
            ArtifactTagOrder::LastUpdatedOnDescending => {
                assert!(times.iter().rev().is_sorted(), "{name}")
            }
            _ => {}
        }
        assert!(replay.served() > 0);
    }
}

#[tokio::test]
async fn list_manifest_properties_as_recorded_in_every_order() {
    for (name, order) in [
        (
            "test_list_registry_artifacts.json",
            ArtifactManifestOrder::Unordered,
        ),
        (
            "test_list_registry_artifacts_ascending.json",
            ArtifactManifestOrder::LastUpdatedOnAscending,
        ),
        (
            "test_list_registry_artifacts_descending.json",
            ArtifactManifestOrder::LastUpdatedOnDescending,
        ),
    ] {
        let entries = recording(&format!("{AAD}{name}"));
        let body = recorded_body(&entries, "GET", "/_manifests");
        let server = MockServer::start_async().await;
        let _replay = replay(&server, &entries).await;
        let client = client(&server, aad());

        let manifests: Vec<_> = client
            .list_manifest_properties("library/busybox", order)
            .try_collect()
            .await
            .unwrap();

        let recorded = body["manifests"].as_array().unwrap();
        assert_eq!(manifests.len(), recorded.len(), "{name}");
        let host = client.endpoint().host_str().unwrap().to_owned();
        for (manifest, wire) in manifests.iter().zip(recorded) {
            assert_eq!(manifest.digest, wire["digest"].as_str().unwrap());
            assert_eq!(manifest.media_type.as_deref(), wire["mediaType"].as_str());
            assert_eq!(
                manifest.config_media_type.as_deref(),
                wire["configMediaType"].as_str()
            );
            assert_eq!(manifest.size_in_bytes, wire["imageSize"].as_u64());
            assert_eq!(
                manifest.architecture.as_ref().map(|a| a.as_str()),
                wire["architecture"].as_str()
            );
            assert_eq!(
                manifest.operating_system.as_ref().map(|o| o.as_str()),
                wire["os"].as_str()
            );
            assert_eq!(
                manifest.related_artifacts.len(),
                wire["references"].as_array().map_or(0, Vec::len)
            );
            assert_eq!(
                manifest.tags,
                wire["tags"]
                    .as_array()
                    .map(|_| strings(&wire["tags"]))
                    .unwrap_or_default()
            );
            let reference = manifest.fully_qualified_reference();
            assert!(reference.starts_with(&format!("{host}:")), "{reference}");
            assert!(
                reference.ends_with(&format!(
                    "/library/busybox@{}",
                    wire["digest"].as_str().unwrap()
                )),
                "{reference}"
            );
        }
        let times: Vec<_> = manifests.iter().map(|m| m.last_updated_on).collect();
        match order {
            ArtifactManifestOrder::LastUpdatedOnAscending => assert!(times.is_sorted(), "{name}"),
            ArtifactManifestOrder::LastUpdatedOnDescending => {
                assert!(times.iter().rev().is_sorted(), "{name}")
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn list_manifest_properties_by_page_as_recorded() {
    let entries = recording(&format!("{AAD}test_list_registry_artifacts_by_page.json"));
    let expected = recorded_pages(&entries, "/_manifests");
    let server = MockServer::start_async().await;
    let _replay = replay(&server, &entries).await;
    let pages: Vec<_> = client(&server, aad())
        .list_manifest_properties("library/busybox", ArtifactManifestOrder::Unordered)
        .page_size(2)
        .into_pages()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), expected.len());
    for (page, (body, link)) in pages.iter().zip(&expected) {
        let digests: Vec<_> = page.items().iter().map(|m| m.digest.as_str()).collect();
        let recorded: Vec<_> = body["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap())
            .collect();
        assert_eq!(digests, recorded);
        assert_eq!(page.continuation(), link.as_deref());
    }
}

#[tokio::test]
async fn get_manifest_properties_resolves_a_tag_first() {
    let entries = recording(&format!("{AAD}test_get_manifest_properties.json"));
    let tag = recorded_body(&entries, "GET", "/_tags/tag1e243c5e")["tag"].clone();
    let wire = recorded_body(
        &entries,
        "GET",
        &format!("/_manifests/{}", tag["digest"].as_str().unwrap()),
    )["manifest"]
        .clone();
    let server = MockServer::start_async().await;
    let _replay = replay(&server, &entries).await;

    let manifest = client(&server, aad())
        .get_manifest_properties("repo1e243c5e", "tag1e243c5e")
        .await
        .unwrap();

    assert_eq!(manifest.digest, tag["digest"].as_str().unwrap());
    assert_eq!(manifest.repository_name, "repo1e243c5e");
    assert_eq!(manifest.tags, strings(&wire["tags"]));
    assert_eq!(
        manifest.architecture.as_ref().map(|a| a.as_str()),
        wire["architecture"].as_str()
    );
    let recorded_time =
        chrono::DateTime::parse_from_rfc3339(wire["createdTime"].as_str().unwrap()).unwrap();
    assert_eq!(manifest.created_on, recorded_time);
}

#[tokio::test]
async fn missing_manifests_and_tags_are_not_found() {
    let entries = recording(&format!(
        "{AAD}test_get_manifest_properties_does_not_exist.json"
    ));
    let server = MockServer::start_async().await;
    let _replay = replay(&server, &entries).await;
    let missing = "sha256:13e367d31ae85359f42d637adf6da428f76d75dc9afeb3c21faea0aaaaaaaaaa";
    let error = client(&server, aad())
        .get_manifest_properties("repoe63342a4", missing)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::NotFound { message, .. } if message == "manifest unknown"),
        "{error:?}"
    );
    assert_eq!(error.status(), Some(404));

    // The recording asks for `Nonexistent`, which is no repository name: refused here
    // before any request.
    let entries = recording(&format!("{AAD}test_get_tag_properties_does_not_exist.json"));
    let server = MockServer::start_async().await;
    let replay = replay(&server, &entries).await;
    let error = client(&server, aad())
        .get_tag_properties("Nonexistent", "Nonexistent")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
    assert_eq!(replay.served(), 0);
}

#[tokio::test]
async fn get_tag_properties_as_recorded() {
    let entries = recording(&format!("{AAD}test_get_tag_properties.json"));
    let wire = recorded_body(&entries, "GET", "/_tags/tagf04e3a43")["tag"].clone();
    let server = MockServer::start_async().await;
    let _replay = replay(&server, &entries).await;
    let tag = client(&server, aad())
        .get_tag_properties("repof04e3a43", "tagf04e3a43")
        .await
        .unwrap();
    assert_eq!(
        (tag.name.as_str(), tag.digest.as_str()),
        (
            wire["name"].as_str().unwrap(),
            wire["digest"].as_str().unwrap()
        )
    );
    assert_eq!(
        tag.repository_name, "repof04e3a43",
        "the Python SDK leaves this empty"
    );
}

/// The recorded session again, its `api-version` changed to another version: a client
/// set to that version replays it, and one left at the default does not match it.
#[tokio::test]
async fn the_api_version_set_on_the_builder_goes_out_instead_of_the_default() {
    const OTHER: &str = "2099-01-01-preview";
    let entries: Vec<Value> = recording(&format!("{AAD}test_get_tag_properties.json"))
        .into_iter()
        .map(|mut entry| {
            let uri = entry["RequestUri"].as_str().unwrap().replace(
                &format!("api-version={RECORDED_VERSION}"),
                &format!("api-version={OTHER}"),
            );
            entry["RequestUri"] = Value::from(uri);
            entry
        })
        .collect();
    assert!(
        entries
            .iter()
            .any(|e| e["RequestUri"].as_str().unwrap().contains(OTHER)),
        "the recording names the default version"
    );
    let server = MockServer::start_async().await;
    let _replay = replay(&server, &entries).await;
    let other = acr::ContainerRegistryClient::builder(server.base_url())
        .credential(aad())
        .allow_http(true)
        .retry(acr::RetryOptions::none())
        .api_version(OTHER)
        .build()
        .unwrap();
    let tag = other
        .get_tag_properties("repof04e3a43", "tagf04e3a43")
        .await
        .unwrap();
    assert_eq!(tag.name, "tagf04e3a43");

    let default = client(&server, aad())
        .get_tag_properties("repof04e3a43", "tagf04e3a43")
        .await;
    assert!(default.is_err(), "{default:?}");
}

/// The version the recordings were made with, which is the client's default.
const RECORDED_VERSION: &str = "2021-07-01";

/// Locks, then unlocks, as the recorded tests do; the replay answers only the recorded
/// bodies, so each update must send exactly the recorded fields.
#[tokio::test]
async fn updates_send_only_what_was_set_and_return_the_new_properties() {
    let lock = PropertiesUpdate::default()
        .can_delete(false)
        .can_write(false)
        .can_list(false)
        .can_read(false);
    let unlock = PropertiesUpdate::default()
        .can_delete(true)
        .can_write(true)
        .can_list(true)
        .can_read(true);

    let entries = recording(&format!("{AAD}test_update_tag_properties.json"));
    let server = MockServer::start_async().await;
    let _replay = replay(&server, &entries).await;
    let client_ = client(&server, aad());
    let locked = client_
        .update_tag_properties("repoa4a73b86", "taga4a73b86", &lock)
        .await
        .unwrap();
    assert_eq!(
        (
            locked.can_delete,
            locked.can_write,
            locked.can_list,
            locked.can_read
        ),
        (Some(false), Some(false), Some(false), Some(false))
    );
    let unlocked = client_
        .update_tag_properties("repoa4a73b86", "taga4a73b86", &unlock)
        .await
        .unwrap();
    assert_eq!(unlocked.can_delete, Some(true));

    let entries = recording(&format!("{AAD}test_update_tag_properties_kwargs.json"));
    let server = MockServer::start_async().await;
    let _replay = replay(&server, &entries).await;
    let client_ = client(&server, aad());
    let update = PropertiesUpdate::default().can_delete(false);
    let tag = client_
        .update_tag_properties("repo571f3e74", "tag571f3e74", &update)
        .await
        .unwrap();
    assert_eq!((tag.can_delete, tag.can_read), (Some(false), Some(true)));
    let tag = client_
        .update_tag_properties(
            "repo571f3e74",
            "tag571f3e74",
            &PropertiesUpdate::default().can_read(false),
        )
        .await
        .unwrap();
    assert_eq!((tag.can_delete, tag.can_read), (Some(false), Some(false)));
    assert_eq!(
        update,
        PropertiesUpdate::default().can_delete(false),
        "the caller's value is not changed"
    );

    let entries = recording(&format!("{AAD}test_update_manifest_properties.json"));
    let server = MockServer::start_async().await;
    let _replay = replay(&server, &entries).await;
    let client_ = client(&server, aad());
    let manifest = client_
        .update_manifest_properties("repod8bd3da1", "tagd8bd3da1", &lock)
        .await
        .unwrap();
    assert_eq!(
        (manifest.can_delete, manifest.can_write),
        (Some(false), Some(false))
    );
    let manifest = client_
        .update_manifest_properties("repod8bd3da1", "tagd8bd3da1", &unlock)
        .await
        .unwrap();
    assert_eq!(
        (manifest.can_delete, manifest.can_write),
        (Some(true), Some(true))
    );

    let entries = recording(&format!("{AAD}test_update_repository_properties.json"));
    let server = MockServer::start_async().await;
    let _replay = replay(&server, &entries).await;
    let client_ = client(&server, aad());
    let repository = client_
        .update_repository_properties("repo5b823eaa", &lock)
        .await
        .unwrap();
    assert_eq!(
        (repository.can_delete, repository.can_list),
        (Some(false), Some(false))
    );
    let repository = client_
        .update_repository_properties("repo5b823eaa", &unlock)
        .await
        .unwrap();
    assert_eq!(
        (repository.can_delete, repository.can_list),
        (Some(true), Some(true))
    );
}

#[tokio::test]
async fn deletes_as_recorded_and_missing_items_are_already_deleted() {
    let entries = recording(&format!("{AAD}test_delete_repository.json"));
    let server = MockServer::start_async().await;
    let _replay = replay(&server, &entries).await;
    let client_ = client(&server, aad());
    client_.delete_repository("to_be_deleted").await.unwrap();
    let names: Vec<String> = client_.list_repository_names().try_collect().await.unwrap();
    assert!(!names.is_empty() && !names.contains(&"to_be_deleted".to_owned()));

    let entries = recording(&format!("{AAD}test_delete_tag.json"));
    let server = MockServer::start_async().await;
    let _replay = replay(&server, &entries).await;
    let client_ = client(&server, aad());
    client_
        .delete_tag("repo220636ca", "tag220636ca0")
        .await
        .unwrap();
    let tags: Vec<_> = client_
        .list_tag_properties("repo220636ca", ArtifactTagOrder::Unordered)
        .try_collect()
        .await
        .unwrap();
    assert!(!tags.is_empty() && tags.iter().all(|t| t.name != "tag220636ca0"));

    let entries = recording(&format!("{AAD}test_delete_manifest.json"));
    let server = MockServer::start_async().await;
    let _replay = replay(&server, &entries).await;
    let client_ = client(&server, aad());
    client_
        .delete_manifest("repo3ea338e5", "tag3ea338e5")
        .await
        .unwrap();
    let error = client_
        .get_tag_properties("repo3ea338e5", "tag3ea338e5")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");

    for (name, call) in [
        ("test_delete_tag_does_not_exist.json", "tag"),
        ("test_delete_manifest_does_not_exist.json", "manifest"),
        ("test_delete_repository_does_not_exist.json", "repository"),
    ] {
        let entries = recording(&format!("{AAD}{name}"));
        let server = MockServer::start_async().await;
        let replay = replay(&server, &entries).await;
        let client_ = client(&server, aad());
        match call {
            "tag" => client_
                .delete_tag("does_not_exist", "does_not_exist")
                .await
                .unwrap(),
            "manifest" => client_
                .delete_manifest(
                    "repod29b3f2b",
                    "sha256:53f1bbee2f52c39e41682ee1d388285290c5c8a76cc92b42687eecaaaaaaaaaa",
                )
                .await
                .unwrap(),
            _ => client_.delete_repository("not_real_repo").await.unwrap(),
        }
        assert!(replay.served() > 0, "{name}");
    }
}

#[tokio::test]
async fn anonymous_clients_read_and_are_refused_writes() {
    let entries = recording(&format!("{ANON}test_list_tag_properties.json"));
    let server = MockServer::start_async().await;
    let _replay = replay(&server, &entries).await;
    let tags: Vec<_> = client(&server, Credential::anonymous())
        .list_tag_properties("library/hello-world", ArtifactTagOrder::Unordered)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        tags.len(),
        recorded_body(&entries, "GET", "/_tags")["tags"]
            .as_array()
            .unwrap()
            .len()
    );

    let entries = recording(&format!("{ANON}test_list_manifest_properties.json"));
    let server = MockServer::start_async().await;
    let _replay = replay(&server, &entries).await;
    let manifests: Vec<_> = client(&server, Credential::anonymous())
        .list_manifest_properties("library/hello-world", ArtifactManifestOrder::Unordered)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        manifests.len(),
        recorded_body(&entries, "GET", "/_manifests")["manifests"]
            .as_array()
            .unwrap()
            .len()
    );

    let entries = recording(&format!("{ANON}test_get_manifest_properties.json"));
    let server = MockServer::start_async().await;
    let _replay = replay(&server, &entries).await;
    let manifest = client(&server, Credential::anonymous())
        .get_manifest_properties("library/hello-world", "latest")
        .await
        .unwrap();
    assert!(manifest.tags.contains(&"latest".to_owned()));

    // What the recorded anonymous writes asked for.
    let lock = PropertiesUpdate::default()
        .can_delete(true)
        .can_write(true)
        .can_list(true)
        .can_read(true);
    for name in [
        "test_update_tag_properties.json",
        "test_update_manifest_properties.json",
        "test_update_repository_properties.json",
        "test_delete_tag.json",
        "test_delete_manifest.json",
        "test_delete_repository.json",
    ] {
        let entries = recording(&format!("{ANON}{name}"));
        let server = MockServer::start_async().await;
        let _replay = replay(&server, &entries).await;
        let client_ = client(&server, Credential::anonymous());
        let outcome = match name {
            "test_update_tag_properties.json" => client_
                .update_tag_properties("library/hello-world", "latest", &lock)
                .await
                .map(drop),
            "test_update_manifest_properties.json" => client_
                .update_manifest_properties("library/hello-world", "latest", &lock)
                .await
                .map(drop),
            "test_update_repository_properties.json" => client_
                .update_repository_properties("library/hello-world", &lock)
                .await
                .map(drop),
            "test_delete_tag.json" => client_.delete_tag("library/hello-world", "latest").await,
            "test_delete_manifest.json" => {
                client_
                    .delete_manifest("library/hello-world", "latest")
                    .await
            }
            _ => client_.delete_repository("library/hello-world").await,
        };
        assert!(
            matches!(outcome, Err(Error::Authentication { .. })),
            "{name}: {outcome:?}"
        );
    }
}

// Synthetic listings: shapes the recordings do not show.

fn tag_json(name: &str) -> Value {
    json!({
        "name": name,
        "digest": "sha256:13e367d31ae85359f42d637adf6da428f76d75dc9afeb3c21faea0d976f5c651",
        "createdTime": "2024-01-01T00:00:00Z",
        "lastUpdateTime": "2024-01-01T00:00:00Z"
    })
}

#[tokio::test]
async fn an_empty_repository_lists_nothing_whether_the_array_is_null_or_absent() {
    for body in [
        json!({"registry": "r", "imageName": "empty", "tags": null}),
        json!({}),
        json!({"tags": []}),
    ] {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.method(GET).path("/acr/v1/empty/_tags");
                then.status(200).json_body(body.clone());
            })
            .await;
        let tags: Vec<_> = client(&server, Credential::anonymous())
            .list_tag_properties("empty", ArtifactTagOrder::Unordered)
            .try_collect()
            .await
            .unwrap();
        assert!(tags.is_empty(), "{body}");
    }
}

#[tokio::test]
async fn unknown_or_differently_cased_platforms_are_kept() {
    let server = MockServer::start_async().await;
    let manifest = |digest_end: &str, arch: &str, os: &str| {
        json!({
            "digest": format!("sha256:{}{digest_end}", "0".repeat(63)),
            "createdTime": "2024-01-01T00:00:00Z",
            "lastUpdateTime": "2024-01-01T00:00:00Z",
            "architecture": arch, "os": os, "tags": null, "imageSize": 0
        })
    };
    let body =
        json!({"manifests": [manifest("1", "loong64", "wasip1"), manifest("2", "AMD64", "Linux")]});
    server
        .mock_async(|when, then| {
            when.method(GET).path("/acr/v1/repo/_manifests");
            then.status(200).json_body(body.clone());
        })
        .await;
    let manifests: Vec<_> = client(&server, Credential::anonymous())
        .list_manifest_properties("repo", ArtifactManifestOrder::Unordered)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        manifests[0].architecture,
        Some(ArtifactArchitecture::Other("loong64".into()))
    );
    assert_eq!(
        manifests[0].operating_system,
        Some(ArtifactOperatingSystem::Other("wasip1".into()))
    );
    assert_eq!(manifests[1].architecture, Some(ArtifactArchitecture::Amd64));
    assert_eq!(
        manifests[1].operating_system,
        Some(ArtifactOperatingSystem::Linux)
    );
    assert_eq!(
        (manifests[1].size_in_bytes, manifests[1].tags.len()),
        (Some(0), 0)
    );
}

#[tokio::test]
async fn a_link_to_another_host_is_an_error_and_is_not_followed() {
    let registry = MockServer::start_async().await;
    let elsewhere = MockServer::start_async().await;
    let stolen = elsewhere
        .mock_async(|_when, then| {
            then.status(200).json_body(json!({"tags": []}));
        })
        .await;
    let link = format!(
        "<{}>; rel=\"next\"",
        elsewhere.url("/acr/v1/repo/_tags?last=a&n=1")
    );
    registry
        .mock_async(|when, then| {
            when.method(GET).path("/acr/v1/repo/_tags");
            then.status(200)
                .header("link", link.as_str())
                .json_body(json!({"tags": [tag_json("a")]}));
        })
        .await;
    let mut tags = client(&registry, Credential::anonymous())
        .list_tag_properties("repo", ArtifactTagOrder::Unordered);
    assert_eq!(tags.next().await.unwrap().unwrap().name, "a");
    let error = tags.next().await.unwrap().unwrap_err();
    assert!(
        matches!(&error, Error::Protocol(message) if message.contains("not to the registry")),
        "{error:?}"
    );
    assert_eq!(stolen.calls_async().await, 0);
}

#[tokio::test]
async fn a_repeated_link_is_an_error_not_an_endless_loop() {
    let server = MockServer::start_async().await;
    let pages = server
        .mock_async(|when, then| {
            when.method(GET).path("/acr/v1/repo/_tags");
            then.status(200)
                .header("link", r#"</acr/v1/repo/_tags?last=a&n=1>; rel="next""#)
                .json_body(json!({"tags": [tag_json("a")]}));
        })
        .await;
    let outcomes: Vec<_> = client(&server, Credential::anonymous())
        .list_tag_properties("repo", ArtifactTagOrder::Unordered)
        .into_pages()
        .take(10)
        .collect()
        .await;
    assert_eq!(
        outcomes.len(),
        3,
        "first page, the linked page, then the error"
    );
    assert!(
        matches!(&outcomes[2], Err(Error::Protocol(message)) if message.contains("twice")),
        "{:?}",
        outcomes[2]
    );
    assert_eq!(pages.calls_async().await, 2);
}

#[tokio::test]
async fn invalid_repository_names_fail_the_listing_before_any_request() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|_when, then| {
            then.status(200);
        })
        .await;
    let outcomes: Vec<_> = client(&server, Credential::anonymous())
        .list_tag_properties("Not/Valid", ArtifactTagOrder::Unordered)
        .collect()
        .await;
    assert!(
        matches!(outcomes.as_slice(), [Err(Error::InvalidInput(_))]),
        "{outcomes:?}"
    );
    assert_eq!(any.calls_async().await, 0);
}

#[tokio::test]
async fn an_error_body_that_is_not_json_still_explains_itself() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET);
            then.status(502)
                .header("x-ms-request-id", "rid")
                .body("<html><body>502 Bad Gateway</body></html>");
        })
        .await;
    let client_ = acr::ContainerRegistryClient::builder(server.base_url())
        .allow_http(true)
        .retry(acr::RetryOptions::none())
        .build()
        .unwrap();
    let error = client_
        .list_repository_names()
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&error, Error::Service { status: 502, message, request_id: Some(_), .. } if message.contains("502 Bad Gateway")),
        "{error:?}"
    );
    let error = client_.get_tag_properties("repo", "v1").await.unwrap_err();
    assert!(
        matches!(&error, Error::Service { status: 502, message, .. } if message.contains("502 Bad Gateway")),
        "{error:?}"
    );
}

/// A registry with 10 000 tags, paged by `last` and `n` as ACR pages.
async fn ten_thousand_tags(server: &MockServer) {
    server
        .mock_async(|when, then| {
            when.method(GET).path("/acr/v1/big/_tags");
            then.respond_with(|req: &HttpMockRequest| {
                let query: Vec<(String, String)> =
                    url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
                        .into_owned()
                        .collect();
                let param = |name: &str| {
                    query
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                };
                let n: usize = param("n").and_then(|n| n.parse().ok()).unwrap_or(100);
                let start = param("last").map_or(0, |last| last[3..].parse::<usize>().unwrap() + 1);
                let end = (start + n).min(10_000);
                let tags: Vec<Value> = (start..end)
                    .map(|i| tag_json(&format!("tag{i:05}")))
                    .collect();
                let mut response = HttpMockResponse::builder()
                    .status(200)
                    .header("content-type", "application/json");
                if end < 10_000 {
                    let link = format!(
                        "</acr/v1/big/_tags?last=tag{:05}&n={n}&orderby=>; rel=\"next\"",
                        end - 1
                    );
                    response = response.header("link", link);
                }
                response
                    .body(json!({"registry": "r", "imageName": "big", "tags": tags}).to_string())
                    .build()
            });
        })
        .await;
}

#[tokio::test]
async fn a_ten_thousand_tag_listing_resumes_mid_way_from_its_continuation() {
    let server = MockServer::start_async().await;
    ten_thousand_tags(&server).await;
    let client_ = client(&server, Credential::anonymous());

    let mut names = Vec::new();
    let mut pages = client_
        .list_tag_properties("big", ArtifactTagOrder::Unordered)
        .page_size(100)
        .into_pages();
    let mut continuation = None;
    for _ in 0..37 {
        let page = pages.try_next().await.unwrap().unwrap();
        assert_eq!(page.items().len(), 100);
        names.extend(page.items().iter().map(|t| t.name.clone()));
        continuation = page.continuation().map(str::to_owned);
    }
    drop(pages);

    // Later, perhaps in another process: the rest of the listing.
    let rest: Vec<_> = client_
        .list_tag_properties("big", ArtifactTagOrder::Unordered)
        .resume_from(continuation.unwrap())
        .try_collect()
        .await
        .unwrap();
    names.extend(rest.into_iter().map(|t| t.name));

    let expected: Vec<String> = (0..10_000).map(|i| format!("tag{i:05}")).collect();
    assert_eq!(names, expected);
}

/// A registry without ACR's metadata API answers its paths with a bare `404 page not
/// found`: that is no absent tag, so a delete is `Unsupported`, not done, and the client
/// does not ask that API again. A tag delete then tries the OCI API's, which distribution
/// 2.x refuses as it does here (`400 DIGEST_INVALID`).
#[tokio::test]
async fn a_registry_without_the_metadata_api_makes_deletes_unsupported_not_done() {
    let server = MockServer::start_async().await;
    let bare = server
        .mock_async(|when, then| {
            when.path_prefix("/acr/v1/");
            then.status(404)
                .header("content-type", "text/plain; charset=utf-8")
                .body("404 page not found\n");
        })
        .await;
    let by_manifest = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::DELETE)
                .path("/v2/hello/manifests/v1");
            then.status(400).json_body(json!({"errors": [{"code": "DIGEST_INVALID", "message": "provided digest did not match uploaded content"}]}));
        })
        .await;
    let client = client(&server, Credential::anonymous());
    let error = client.delete_tag("hello", "v1").await.unwrap_err();
    assert!(
        matches!(&error, Error::Unsupported { operation, .. } if operation == "delete_tag"),
        "{error:?}"
    );
    for error in [
        client.delete_repository("hello").await.unwrap_err(),
        client.get_repository_properties("hello").await.unwrap_err(),
        client
            .update_manifest_properties(
                "hello",
                format!("sha256:{}", "ab".repeat(32)),
                &PropertiesUpdate::default(),
            )
            .await
            .unwrap_err(),
        client
            .list_tag_properties("hello", ArtifactTagOrder::Unordered)
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(error, Error::Unsupported { .. }), "{error:?}");
    }
    assert_eq!(bare.calls_async().await, 1, "the API was asked again");
    assert_eq!(by_manifest.calls_async().await, 1);
}

/// Where the registry deletes tags through the OCI API (`DELETE` on the manifest by tag,
/// `202`), `delete_tag` does so; a tag the registry says is unknown is already deleted; a
/// `404` that names nothing (no error envelope) is not taken for a deleted tag.
#[tokio::test]
async fn a_tag_is_deleted_through_the_oci_api_where_the_registry_allows_it() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path_prefix("/acr/v1/");
            then.status(404).body("404 page not found\n");
        })
        .await;
    let deleted = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::DELETE)
                .path("/v2/team/hello/manifests/v1");
            then.status(202);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(httpmock::Method::DELETE)
                .path("/v2/team/hello/manifests/gone");
            then.status(404).json_body(
                json!({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}),
            );
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(httpmock::Method::DELETE)
                .path("/v2/team/hello/manifests/nowhere");
            then.status(404).body("404 page not found\n");
        })
        .await;
    let client = client(&server, Credential::anonymous());
    client.delete_tag("team/hello", "v1").await.unwrap();
    deleted.assert_async().await;
    client.delete_tag("team/hello", "gone").await.unwrap();
    let error = client
        .delete_tag("team/hello", "nowhere")
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::NotFound { code: None, .. }),
        "{error:?}"
    );
}

/// Without ACR's metadata API, a manifest named by a tag is found by the OCI API's `HEAD`
/// (`Docker-Content-Digest`) and deleted by that digest.
#[tokio::test]
async fn a_tag_is_resolved_by_head_where_the_metadata_api_is_absent() {
    let server = MockServer::start_async().await;
    let digest = format!("sha256:{}", "ab".repeat(32));
    server
        .mock_async(|when, then| {
            when.path_prefix("/acr/v1/");
            then.status(404).body("404 page not found\n");
        })
        .await;
    let head = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::HEAD)
                .path("/v2/hello/manifests/v1");
            then.status(200).header("docker-content-digest", &digest);
        })
        .await;
    let delete = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::DELETE)
                .path(format!("/v2/hello/manifests/{digest}"));
            then.status(202);
        })
        .await;
    let client = client(&server, Credential::anonymous());
    client.delete_manifest("hello", "v1").await.unwrap();
    assert_eq!(
        (head.calls_async().await, delete.calls_async().await),
        (1, 1)
    );

    // A `HEAD` answer has no body to name what is missing: its 404 is the tag's absence,
    // so the manifest it would name is already deleted.
    let absent = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::HEAD)
                .path("/v2/hello/manifests/gone");
            then.status(404);
        })
        .await;
    client.delete_manifest("hello", "gone").await.unwrap();
    absent.assert_async().await;
    assert_eq!(delete.calls_async().await, 1, "nothing else was deleted");
}
