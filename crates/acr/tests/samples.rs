//! The samples in `examples/`, run against the project's test registry.

use std::time::Duration;

use acr::{ArtifactManifestOrder, ContainerRegistryClient, Credential, Error, PropertiesUpdate};
use acr_emulator::Emulator;
use futures_util::TryStreamExt as _;

#[path = "../examples/list_repositories.rs"]
mod list_repositories;

#[path = "../examples/delete_images.rs"]
mod delete_images;

#[path = "../examples/set_image_properties.rs"]
mod set_image_properties;

#[path = "../examples/list_tags.rs"]
mod list_tags;

#[path = "../examples/delete_tags.rs"]
mod delete_tags;

#[path = "../examples/quickstart.rs"]
mod quickstart;

#[path = "../examples/upload_image.rs"]
mod upload_image;

#[path = "../examples/download_image.rs"]
mod download_image;

#[path = "../examples/delete_manifest.rs"]
mod delete_manifest;

#[path = "../examples/delete_blobs.rs"]
mod delete_blobs;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Pushes `count` distinct images tagged `v1`…, a few milliseconds apart so that their
/// update times order them; returns their digests, oldest first.
async fn push_images(registry: &Emulator, repository: &str, count: usize) -> Vec<String> {
    let mut digests = Vec::new();
    for i in 1..=count {
        let config = format!(r#"{{"architecture":"amd64","os":"linux","image":{i}}}"#);
        let config_digest = registry
            .put_blob(repository, config.clone().into_bytes())
            .unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[]}}"#,
            config.len()
        );
        digests.push(
            registry
                .put_manifest(
                    repository,
                    &format!("v{i}"),
                    OCI_MANIFEST,
                    manifest.into_bytes(),
                )
                .unwrap(),
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    digests
}

async fn registry_and_client() -> (Emulator, ContainerRegistryClient) {
    let registry = Emulator::builder()
        .user("admin", "s3cret")
        .start()
        .await
        .unwrap();
    let client = ContainerRegistryClient::builder(registry.endpoint())
        .credential(Credential::basic("admin", "s3cret"))
        .allow_http(true)
        .build()
        .unwrap();
    (registry, client)
}

#[tokio::test]
async fn list_repositories_prints_every_repository() {
    let (registry, client) = registry_and_client().await;
    push_images(&registry, "library/hello-world", 1).await;
    push_images(&registry, "tools/busybox", 1).await;

    let names = list_repositories::list_repositories(&client).await.unwrap();

    assert_eq!(names, ["library/hello-world", "tools/busybox"]);
}

#[tokio::test]
async fn set_image_properties_locks_the_image() {
    let (registry, client) = registry_and_client().await;
    let digests = push_images(&registry, "library/hello-world", 2).await;

    let locked = set_image_properties::set_image_properties(&client, "library/hello-world", "v1")
        .await
        .unwrap();

    assert_eq!(
        (locked.digest.as_str(), locked.can_write, locked.can_delete),
        (digests[0].as_str(), Some(false), Some(false))
    );
    let fetched = client
        .get_manifest_properties("library/hello-world", &digests[0])
        .await
        .unwrap();
    assert_eq!(
        (fetched.can_write, fetched.can_delete),
        (Some(false), Some(false))
    );
    // The registry now refuses to delete it.
    let error = client
        .delete_manifest("library/hello-world", "v1")
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Service { status: 405, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn delete_images_keeps_the_three_newest_of_each_repository_even_locked_ones() {
    let (registry, client) = registry_and_client().await;
    let hello = push_images(&registry, "library/hello-world", 6).await;
    let busybox = push_images(&registry, "tools/busybox", 2).await;
    // The oldest image is locked; the sample unlocks what it deletes.
    client
        .update_manifest_properties(
            "library/hello-world",
            "v1",
            &PropertiesUpdate::default().can_delete(false),
        )
        .await
        .unwrap();

    let deleted = delete_images::delete_images(&client).await.unwrap();

    assert_eq!(deleted.len(), 3);
    for digest in &hello[..3] {
        assert!(
            deleted
                .iter()
                .any(|r| r.ends_with(&format!("/library/hello-world@{digest}"))),
            "{digest} not in {deleted:?}"
        );
    }
    let remaining: Vec<String> = client
        .list_manifest_properties(
            "library/hello-world",
            ArtifactManifestOrder::LastUpdatedOnAscending,
        )
        .map_ok(|m| m.digest.to_string())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(remaining, hello[3..]);
    let untouched: Vec<_> = client
        .list_manifest_properties(
            "tools/busybox",
            ArtifactManifestOrder::LastUpdatedOnAscending,
        )
        .map_ok(|m| m.digest)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(untouched, busybox);
}

#[tokio::test]
async fn upload_download_and_delete_an_image() {
    let (registry, client) = registry_and_client().await;
    let pushed = upload_image::upload_image(&client, "library/hello-world", "latest")
        .await
        .unwrap();

    let directory = std::env::temp_dir().join(format!("acr-sample-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let files =
        download_image::download_image(&client, "library/hello-world", "latest", &directory)
            .await
            .unwrap();
    assert_eq!(files.len(), 2);
    let manifest = std::fs::read(directory.join("manifest.json")).unwrap();
    assert_eq!(acr::Digest::sha256(&manifest), pushed);
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            acr::Digest::sha256(&std::fs::read(file).unwrap()).encoded(),
            name
        );
    }
    std::fs::remove_dir_all(&directory).unwrap();

    let blobs = delete_blobs::delete_blobs(&client, "library/hello-world", "latest")
        .await
        .unwrap();
    for blob in &blobs {
        assert_eq!(
            client
                .blob_exists("library/hello-world", blob)
                .await
                .unwrap(),
            None
        );
    }
    let deleted = delete_manifest::delete_manifest(&client, "library/hello-world", "latest")
        .await
        .unwrap();
    assert_eq!(deleted, pushed);
    let error = client
        .get_manifest("library/hello-world", "latest")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    drop(registry);
}

#[tokio::test]
async fn the_quickstart_tour_leaves_the_registry_as_it_found_it() {
    let (registry, client) = registry_and_client().await;
    quickstart::tour(&client).await.unwrap();
    let names: Vec<String> = client.list_repository_names().try_collect().await.unwrap();
    assert!(names.is_empty(), "{names:?}");
    let methods: Vec<String> = registry
        .requests()
        .iter()
        .map(|r| r.method.clone())
        .collect();
    for method in ["POST", "PUT", "PATCH", "GET", "DELETE"] {
        assert!(
            methods.iter().any(|m| m == method),
            "no {method} in the tour"
        );
    }
}

#[tokio::test]
async fn list_tags_reads_anonymously() {
    let registry = Emulator::builder()
        .anonymous_pull(true)
        .start()
        .await
        .unwrap();
    let digests = push_images(&registry, "library/hello-world", 1).await;
    registry
        .tag("library/hello-world", "latest", &digests[0])
        .unwrap();
    let anonymous = ContainerRegistryClient::builder(registry.endpoint())
        .allow_http(true)
        .build()
        .unwrap();
    let mut tags = list_tags::list_tags(&anonymous, "library/hello-world", "latest")
        .await
        .unwrap();
    tags.sort();
    assert_eq!(tags, ["latest", "v1"]);
}

#[tokio::test]
async fn delete_tags_keeps_the_three_newest_tags() {
    let (registry, client) = registry_and_client().await;
    let digests = push_images(&registry, "library/hello-world", 1).await;
    for i in 2..=5 {
        registry
            .tag("library/hello-world", &format!("t{i}"), &digests[0])
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let deleted = delete_tags::delete_tags(&client).await.unwrap();
    assert_eq!(
        deleted,
        ["library/hello-world:t2", "library/hello-world:v1"]
    );
    let left: Vec<String> = client
        .list_tag_properties(
            "library/hello-world",
            acr::ArtifactTagOrder::LastUpdatedOnAscending,
        )
        .map_ok(|t| t.name)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(left, ["t3", "t4", "t5"]);
}
