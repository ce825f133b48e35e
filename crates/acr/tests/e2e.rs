//! The content operations end to end, against the project's own registry
//! (`acr-emulator`), and CNCF distribution (Debian's `docker-registry`, started by
//! `.ci/run`, address in `ACR_E2E_DISTRIBUTION`, a second one behind Basic authentication
//! in `ACR_E2E_DISTRIBUTION_BASIC`, and a third with token authentication in
//! `ACR_E2E_DISTRIBUTION_TOKEN`, whose tokens come from the emulator's Docker token service
//! at `ACR_E2E_TOKEN_REALM`). Where the two disagree, distribution is the reference for the
//! OCI endpoints.

#[path = "support/ci.rs"]
mod ci;

use acr::{BlobData, ContainerRegistryClient, Credential, Digest, Error, MountOutcome};
use acr_emulator::Emulator;
use bytes::Bytes;
use futures_util::TryStreamExt as _;

const MIB: usize = 1024 * 1024;

/// The distribution registry's client, or `None` outside CI when none was started.
fn distribution() -> Option<ContainerRegistryClient> {
    distribution_at("ACR_E2E_DISTRIBUTION", Credential::anonymous())
}

/// The distribution registry behind Basic authentication (`.ci/htpasswd`), with its test
/// user.
fn distribution_basic() -> Option<ContainerRegistryClient> {
    distribution_at(
        "ACR_E2E_DISTRIBUTION_BASIC",
        Credential::basic("e2e", "e2e-password"),
    )
}

/// The distribution registry with token authentication: its challenges name a Docker
/// token service elsewhere, which takes the test user's password.
fn distribution_token() -> Option<ContainerRegistryClient> {
    distribution_at(
        "ACR_E2E_DISTRIBUTION_TOKEN",
        Credential::basic("e2e", "e2e-password"),
    )
}

fn distribution_at(variable: &str, credential: Credential) -> Option<ContainerRegistryClient> {
    let endpoint = ci::registry_from_env(variable)?;
    Some(
        ContainerRegistryClient::builder(endpoint)
            .credential(credential)
            .allow_http(true)
            .build()
            .unwrap(),
    )
}

async fn emulator() -> (Emulator, ContainerRegistryClient) {
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

/// A repository name of its own per run, so that reruns against a long-lived registry
/// do not see each other's content.
fn repository(name: &str) -> String {
    format!("e2e/{name}-{:08x}", fastrand::u32(..))
}

fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect()
}

async fn blobs_of_several_sizes(client: &ContainerRegistryClient) {
    let repository = repository("blobs");
    for (i, size) in [0, 1, MIB - 1, MIB, MIB + 1, 3 * MIB + 7]
        .into_iter()
        .enumerate()
    {
        let data = content(size, i as u8);
        let uploaded = client
            .upload_blob(&repository, data.clone())
            .chunk_size(MIB)
            .await
            .unwrap();
        assert_eq!(
            (uploaded.digest.clone(), uploaded.size),
            (Digest::sha256(&data), size as u64),
            "{size}"
        );
        assert_eq!(
            client
                .blob_exists(&repository, &uploaded.digest)
                .await
                .unwrap(),
            Some(size as u64)
        );
        for concurrency in [1, 3] {
            let pieces: Vec<Bytes> = client
                .download_blob(&repository, &uploaded.digest)
                .chunk_size(MIB)
                .concurrency(concurrency)
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            assert!(
                pieces.concat() == data,
                "{size} bytes, {concurrency} ranges at once"
            );
        }
        client
            .delete_blob(&repository, &uploaded.digest)
            .await
            .unwrap();
        assert_eq!(
            client
                .blob_exists(&repository, &uploaded.digest)
                .await
                .unwrap(),
            None,
            "{size}"
        );
        client
            .delete_blob(&repository, &uploaded.digest)
            .await
            .unwrap();
    }
}

async fn streamed_sources(client: &ContainerRegistryClient) {
    let repository = repository("streams");
    let data = content(2 * MIB + 3, 9);
    let pieces: Vec<std::io::Result<Bytes>> = data
        .chunks(300_001)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let uploaded = client
        .upload_blob(
            &repository,
            BlobData::stream(futures_util::stream::iter(pieces)),
        )
        .chunk_size(MIB)
        .await
        .unwrap();
    assert_eq!(uploaded.digest, Digest::sha256(&data));
    let mut written = Vec::new();
    let stream = client
        .download_blob(&repository, &uploaded.digest)
        .await
        .unwrap();
    assert_eq!(
        stream.write_to(&mut written).await.unwrap(),
        data.len() as u64
    );
    assert!(written == data);
}

async fn mounts(client: &ContainerRegistryClient) {
    let (source, target) = (repository("mount-source"), repository("mount-target"));
    let data = content(MIB / 2, 3);
    let uploaded = client.upload_blob(&source, data.clone()).await.unwrap();
    let outcome = client
        .mount_blob(&target, &source, &uploaded.digest)
        .await
        .unwrap();
    // Every registry here mounts; the token registry does so only with a token that
    // grants pull on the source and push on the target.
    assert_eq!(outcome, MountOutcome::Mounted);
    assert_eq!(
        client.blob_exists(&target, &uploaded.digest).await.unwrap(),
        Some(data.len() as u64)
    );
}

async fn missing_blobs(client: &ContainerRegistryClient) {
    let repository = repository("missing");
    client
        .upload_blob(&repository, b"so that the repository exists".to_vec())
        .await
        .unwrap();
    let absent = Digest::sha256(b"never uploaded");
    assert_eq!(
        client.blob_exists(&repository, &absent).await.unwrap(),
        None
    );
    let error = client
        .download_blob(&repository, &absent)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
}

/// An image pushed by tag, read back by tag and by digest, then deleted by digest.
async fn manifests_by_tag_and_by_digest(client: &ContainerRegistryClient) {
    let repository = repository("manifests");
    let config = client
        .upload_blob(
            &repository,
            br#"{"architecture":"arm64","os":"linux"}"#.to_vec(),
        )
        .await
        .unwrap();
    let layer = client
        .upload_blob(&repository, content(70_000, 5))
        .await
        .unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}]}}"#,
        config.digest, config.size, layer.digest, layer.size
    );
    let digest = client
        .set_manifest(&repository, manifest.clone().into_bytes())
        .tag("v1")
        .await
        .unwrap();
    assert_eq!(digest, Digest::sha256(manifest.as_bytes()));

    for reference in ["v1", digest.as_str()] {
        let got = client.get_manifest(&repository, reference).await.unwrap();
        assert_eq!(got.digest, digest, "{reference}");
        assert_eq!(got.media_type, "application/vnd.oci.image.manifest.v1+json");
        assert_eq!(got.bytes, manifest.as_bytes(), "the exact bytes sent");
        let image = got.image_manifest().unwrap();
        assert_eq!(
            (image.config.digest.clone(), image.layers[0].digest.clone()),
            (config.digest.clone(), layer.digest.clone())
        );
    }

    // Without a tag, the reference is the digest of the bytes.
    let by_digest = manifest.replacen('{', r#"{"annotations":{"pushed":"by digest"},"#, 1);
    let second = client
        .set_manifest(&repository, by_digest.clone().into_bytes())
        .await
        .unwrap();
    assert_eq!(second, Digest::sha256(by_digest.as_bytes()));
    assert_eq!(
        client
            .get_manifest(&repository, second.as_str())
            .await
            .unwrap()
            .bytes,
        by_digest.as_bytes()
    );

    client
        .delete_manifest(&repository, digest.as_str())
        .await
        .unwrap();
    let error = client
        .get_manifest(&repository, digest.as_str())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    let error = client.get_manifest(&repository, "v1").await.unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
}

/// Referrers: the emulator has the OCI 1.1 API; distribution 2.8 has not, so there the
/// client keeps the `<alg>-<encoded>` tag index itself and reads it back.
async fn referrers(client: &ContainerRegistryClient) {
    let repository = repository("referrers");
    let config = client
        .upload_blob(&repository, b"{}".to_vec())
        .await
        .unwrap();
    let image = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[]}}"#,
        config.digest
    );
    let image_digest = client
        .set_manifest(&repository, image.clone().into_bytes())
        .tag("v1")
        .await
        .unwrap();
    assert!(
        client
            .list_referrers(&repository, &image_digest, None)
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .is_empty()
    );

    let mut pushed = Vec::new();
    for kind in [
        "application/vnd.example.sbom",
        "application/vnd.example.signature",
    ] {
        let artifact = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"{kind}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{}","size":2}},"layers":[],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{image_digest}","size":{}}}}}"#,
            config.digest,
            image.len()
        );
        pushed.push(
            client
                .set_manifest(&repository, artifact.into_bytes())
                .await
                .unwrap(),
        );
    }

    let all = client
        .list_referrers(&repository, &image_digest, None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    let mut digests: Vec<_> = all.iter().map(|d| d.digest.clone()).collect();
    digests.sort();
    pushed.sort();
    assert_eq!(digests, pushed);
    let sboms = client
        .list_referrers(
            &repository,
            &image_digest,
            Some("application/vnd.example.sbom"),
        )
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert_eq!(sboms.len(), 1);
    assert_eq!(
        sboms[0].artifact_type.as_deref(),
        Some("application/vnd.example.sbom")
    );
}

macro_rules! on_every_registry {
    ($($name:ident),* $(,)?) => {
        mod emulator_registry {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_registry, client) = super::emulator().await;
                    super::$name(&client).await;
                }
            )*
        }

        mod distribution_registry {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(client) = super::distribution() {
                        super::$name(&client).await;
                    }
                }
            )*
        }

        mod distribution_registry_with_basic_authentication {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(client) = super::distribution_basic() {
                        super::$name(&client).await;
                    }
                }
            )*
        }

        mod distribution_registry_with_token_authentication {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(client) = super::distribution_token() {
                        super::$name(&client).await;
                    }
                }
            )*
        }
    };
}

/// Distribution with token authentication: the password goes to the token service the
/// challenge names, whose tokens distribution verifies; a wrong password and an anonymous
/// push are refused there; an identity token from signing in works in the password's place.
#[tokio::test]
async fn the_token_registry_takes_tokens_from_its_realm() {
    let Some(right) = distribution_token() else {
        return;
    };
    let endpoint = right.endpoint().as_str().to_owned();
    let client = |credential: Credential| {
        ContainerRegistryClient::builder(endpoint.clone())
            .credential(credential)
            .allow_http(true)
            .build()
            .unwrap()
    };
    let repository = repository("token");
    let digest = push_tagged(&right, &repository, &["v1"]).await;

    let wrong = client(Credential::basic("e2e", "not-the-password"));
    let error = wrong.get_manifest(&repository, "v1").await.unwrap_err();
    assert!(matches!(error, Error::Authentication { .. }), "{error:?}");
    assert!(!error.to_string().contains("not-the-password"), "{error}");

    let anonymous = client(Credential::anonymous());
    let error = anonymous
        .upload_blob(&repository, b"x".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Authentication { .. }), "{error:?}");

    let identity = right
        .sign_in()
        .await
        .unwrap()
        .expect("the token service gives identity tokens");
    let signed_in = client(Credential::refresh_token(identity));
    let got = signed_in.get_manifest(&repository, "v1").await.unwrap();
    assert_eq!(got.digest, digest);
    signed_in
        .upload_blob(&repository, b"pushed with an identity token".to_vec())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_wrong_password_is_refused_by_the_basic_registry() {
    let Some(right) = distribution_basic() else {
        return;
    };
    let endpoint = right.endpoint().as_str().to_owned();
    let wrong = ContainerRegistryClient::builder(endpoint)
        .credential(Credential::basic("e2e", "not-the-password"))
        .allow_http(true)
        .build()
        .unwrap();
    let error = wrong
        .upload_blob(&repository("refused"), b"x".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Authentication { .. }), "{error:?}");
    let anonymous = ContainerRegistryClient::builder(right.endpoint().as_str())
        .allow_http(true)
        .build()
        .unwrap();
    let error = anonymous
        .upload_blob(&repository("refused"), b"x".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Authentication { .. }), "{error:?}");
}

on_every_registry!(
    blobs_of_several_sizes,
    streamed_sources,
    mounts,
    missing_blobs,
    manifests_by_tag_and_by_digest,
    referrers
);

/// Pushes an image of an empty config and no layers under each of `tags`; its digest.
async fn push_tagged(client: &ContainerRegistryClient, repository: &str, tags: &[&str]) -> Digest {
    let config = client
        .upload_blob(repository, b"{}".to_vec())
        .await
        .unwrap();
    let manifest = acr::ImageManifest {
        config: acr::Descriptor::new(
            "application/vnd.oci.image.config.v1+json",
            config.digest,
            config.size,
        ),
        ..Default::default()
    };
    let body = acr::ManifestBody::json(&manifest).unwrap();
    let mut digest = None;
    for tag in tags {
        digest = Some(
            client
                .set_manifest(repository, body.clone())
                .tag(tag)
                .await
                .unwrap(),
        );
    }
    digest.expect("at least one tag")
}

/// Distribution serves the OCI API only: the operations of ACR's metadata API are
/// `Unsupported` there, and the deletes among them leave the image in place; a manifest
/// named by a tag is still deleted, through the OCI API.
#[tokio::test]
async fn metadata_operations_on_distribution_are_unsupported_and_change_nothing() {
    for client in [distribution(), distribution_basic(), distribution_token()]
        .into_iter()
        .flatten()
    {
        let repository = "e2e/unsupported";
        let digest = push_tagged(&client, repository, &["v1"]).await;
        let outcomes = [
            client.delete_tag(repository, "v1").await.map(drop),
            client.delete_repository(repository).await.map(drop),
            client.get_tag_properties(repository, "v1").await.map(drop),
            client.get_repository_properties(repository).await.map(drop),
        ];
        for outcome in outcomes {
            assert!(
                matches!(outcome, Err(Error::Unsupported { .. })),
                "{outcome:?}"
            );
        }
        let still = client.get_manifest(repository, "v1").await.unwrap();
        assert_eq!(still.digest, digest);

        // A manifest named by its tag is found by `HEAD` and deleted by digest.
        client.delete_manifest(repository, "v1").await.unwrap();
        let gone = client.get_manifest(repository, &digest).await.unwrap_err();
        assert!(matches!(gone, Error::NotFound { .. }), "{gone:?}");
    }
}

/// The OCI listings serve every registry: repositories through the catalog where ACR's
/// metadata API is absent, and tag names through `tags/list`, on distribution (open and
/// Basic) and on the test registry alike, a page at a time, each name once.
#[tokio::test]
async fn repositories_and_tag_names_are_listed_on_every_registry() {
    let (_registry, emulator) = emulator().await;
    for client in [
        Some(emulator),
        distribution(),
        distribution_basic(),
        distribution_token(),
    ]
    .into_iter()
    .flatten()
    {
        let repository = "e2e/listed";
        push_tagged(&client, repository, &["b", "a", "c"]).await;
        let names: Vec<String> = client
            .list_repository_names()
            .page_size(1)
            .try_collect()
            .await
            .unwrap();
        assert!(
            names.iter().any(|n| n == repository),
            "{} lists {names:?}",
            client.endpoint()
        );
        let mut tags: Vec<String> = client
            .list_tag_names(repository)
            .page_size(2)
            .try_collect()
            .await
            .unwrap();
        // Each once; the order is the registry's (distribution 2.8 pages out of order).
        tags.sort();
        assert_eq!(tags, ["a", "b", "c"], "{}", client.endpoint());
    }
}
