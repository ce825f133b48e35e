//! The content operations end to end, against two registries: the project's own
//! (`acr-emulator`), and CNCF distribution (Debian's `docker-registry`, started by
//! `.ci/run`, address in `ACR_E2E_DISTRIBUTION`). Where the two disagree, distribution is
//! the reference for the OCI endpoints.

use acr::{BlobData, ContainerRegistryClient, Credential, Digest, Error, MountOutcome};
use acr_emulator::Emulator;
use bytes::Bytes;
use futures_util::TryStreamExt as _;

const MIB: usize = 1024 * 1024;

/// The distribution registry's client, or `None` outside CI when none was started.
fn distribution() -> Option<ContainerRegistryClient> {
    match std::env::var("ACR_E2E_DISTRIBUTION") {
        Ok(endpoint) => Some(
            ContainerRegistryClient::builder(endpoint)
                .allow_http(true)
                .build()
                .unwrap(),
        ),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!(
                "ACR_E2E_DISTRIBUTION is not set: .ci/run starts the distribution registry and sets it"
            )
        }
        Err(_) => {
            eprintln!(
                "ACR_E2E_DISTRIBUTION not set: skipping the distribution registry (CI runs it)"
            );
            None
        }
    }
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
    assert!(
        matches!(outcome, MountOutcome::Mounted | MountOutcome::Copied { .. }),
        "{outcome:?}"
    );
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

macro_rules! on_both_registries {
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
    };
}

on_both_registries!(
    blobs_of_several_sizes,
    streamed_sources,
    mounts,
    missing_blobs
);
