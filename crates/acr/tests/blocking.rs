//! The blocking client, from plain threads, against the project's test registry.
#![cfg(feature = "blocking")]

use acr::{ArtifactTagOrder, Credential, Digest, PropertiesUpdate};

#[test]
fn the_blocking_client_pushes_lists_pulls_and_deletes() {
    // The registry runs on a runtime of its own; the client never sees it.
    let server = tokio::runtime::Runtime::new().unwrap();
    let registry = server
        .block_on(
            acr_emulator::Emulator::builder()
                .user("admin", "s3cret")
                .start(),
        )
        .unwrap();
    let client = acr::ContainerRegistryClient::builder(registry.endpoint())
        .credential(Credential::basic("admin", "s3cret"))
        .allow_http(true)
        .build()
        .unwrap();
    let client = acr::blocking::ContainerRegistryClient::new(client).unwrap();

    let config = client.upload_blob("blocking/repo", b"{}".to_vec()).unwrap();
    let layer = client
        .upload_blob("blocking/repo", vec![7u8; 100_000])
        .unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":100000}}]}}"#,
        config.digest, layer.digest
    );
    let digest = client
        .set_manifest("blocking/repo", manifest.clone().into_bytes())
        .tag("v1")
        .send()
        .unwrap();
    assert_eq!(digest, Digest::sha256(manifest.as_bytes()));

    let names: Vec<String> = client
        .list_repository_names()
        .collect::<acr::Result<_>>()
        .unwrap();
    assert_eq!(names, ["blocking/repo"]);
    let tags: Vec<_> = client
        .list_tag_properties("blocking/repo", ArtifactTagOrder::Unordered)
        .page_size(10)
        .collect::<acr::Result<Vec<_>>>()
        .unwrap();
    assert_eq!(tags[0].digest, digest.as_str());
    let locked = client
        .update_manifest_properties(
            "blocking/repo",
            "v1",
            &PropertiesUpdate::default().can_write(false),
        )
        .unwrap();
    assert_eq!(locked.can_write, Some(false));

    let mut content = Vec::new();
    assert_eq!(
        client
            .download_blob("blocking/repo", &layer.digest, &mut content)
            .unwrap(),
        100_000
    );
    assert!(content.iter().all(|b| *b == 7));
    assert_eq!(
        client.get_manifest("blocking/repo", "v1").unwrap().bytes,
        manifest.as_bytes()
    );

    client.delete_blob("blocking/repo", &layer.digest).unwrap();
    assert_eq!(
        client.blob_exists("blocking/repo", &layer.digest).unwrap(),
        None
    );
    client.delete_repository("blocking/repo").unwrap();
    let error = client
        .get_repository_properties("blocking/repo")
        .unwrap_err();
    assert!(matches!(error, acr::Error::NotFound { .. }), "{error:?}");
    drop(registry);
}
