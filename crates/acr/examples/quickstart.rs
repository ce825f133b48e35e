//! A tour of the client: push an image, list repositories, tags and manifests, lock it,
//! pull it back and verify it, delete it.
//!
//! ```sh
//! cargo run -p acr --example quickstart
//! ```
//!
//! Without `CONTAINERREGISTRY_ENDPOINT`, the tour runs against the project's test
//! registry, started in this process. With it, against that registry, authenticated by an
//! Azure AD service principal (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`),
//! `CONTAINERREGISTRY_USERNAME`/`CONTAINERREGISTRY_PASSWORD`, or
//! `CONTAINERREGISTRY_REFRESH_TOKEN` (what `az acr login --expose-token` prints), else
//! anonymously.

#[cfg(not(test))]
use acr::Credential;

// The tests include this file as a module and bring their own registry.
#[cfg(not(test))]
mod common;
use acr::{
    ArtifactManifestOrder, ArtifactTagOrder, ContainerRegistryClient, Descriptor, ImageManifest,
    ManifestBody, PropertiesUpdate,
};
use futures_util::TryStreamExt as _;

const REPOSITORY: &str = "quickstart/hello";

#[cfg(not(test))]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, _registry) = match std::env::var("CONTAINERREGISTRY_ENDPOINT") {
        Ok(_) => (common::client_from_env()?, None),
        Err(_) => {
            let registry = acr_emulator::Emulator::builder()
                .user("demo", "demo-password")
                .start()
                .await?;
            println!(
                "no CONTAINERREGISTRY_ENDPOINT: started a test registry at {}",
                registry.endpoint()
            );
            let client = ContainerRegistryClient::builder(registry.endpoint())
                .credential(Credential::basic("demo", "demo-password"))
                .allow_http(true)
                .build()?;
            (client, Some(registry))
        }
    };
    tour(&client).await?;
    Ok(())
}

/// The tour itself, against any registry with ACR's metadata API.
pub(crate) async fn tour(client: &ContainerRegistryClient) -> acr::Result<()> {
    println!("\n1. push an image: a layer and a config as blobs, then a manifest tagged v1");
    let layer = client
        .upload_blob(REPOSITORY, b"hello, registry\n".to_vec())
        .await?;
    println!("   layer  {} ({} bytes)", layer.digest, layer.size);
    let config = client
        .upload_blob(
            REPOSITORY,
            br#"{"architecture":"amd64","os":"linux"}"#.to_vec(),
        )
        .await?;
    println!("   config {} ({} bytes)", config.digest, config.size);
    let manifest = ImageManifest {
        config: Descriptor::new(
            "application/vnd.oci.image.config.v1+json",
            config.digest.clone(),
            config.size,
        ),
        layers: vec![Descriptor::new(
            "application/vnd.oci.image.layer.v1.tar",
            layer.digest.clone(),
            layer.size,
        )],
        ..Default::default()
    };
    let digest = client
        .set_manifest(REPOSITORY, ManifestBody::json(&manifest)?)
        .tag("v1")
        .await?;
    println!("   manifest {digest}, tagged v1");

    println!("\n2. list repositories, tags and manifests");
    let repositories: Vec<String> = client.list_repository_names().try_collect().await?;
    println!("   repositories: {repositories:?}");
    let tags: Vec<_> = client
        .list_tag_properties(REPOSITORY, ArtifactTagOrder::LastUpdatedOnDescending)
        .try_collect()
        .await?;
    for tag in &tags {
        println!("   tag {} → {}", tag.name, tag.digest);
    }
    let manifests: Vec<_> = client
        .list_manifest_properties(REPOSITORY, ArtifactManifestOrder::LastUpdatedOnDescending)
        .try_collect()
        .await?;
    for manifest in &manifests {
        println!(
            "   manifest {} {:?} {:?}",
            manifest.fully_qualified_reference(),
            manifest.architecture,
            manifest.tags
        );
    }

    println!("\n3. lock it: no overwrite, no delete");
    let lock = PropertiesUpdate::default()
        .can_write(false)
        .can_delete(false);
    let locked = client
        .update_manifest_properties(REPOSITORY, "v1", &lock)
        .await?;
    println!(
        "   can_write={:?} can_delete={:?}",
        locked.can_write, locked.can_delete
    );

    println!("\n4. pull it back and verify every byte");
    let pulled = client.get_manifest(REPOSITORY, "v1").await?;
    println!(
        "   manifest {} ({}, {} bytes)",
        pulled.digest,
        pulled.media_type,
        pulled.bytes.len()
    );
    for blob in pulled.image_manifest()?.layers {
        let mut content = Vec::new();
        let size = client
            .download_blob(REPOSITORY, &blob.digest)
            .await?
            .write_to(&mut content)
            .await?;
        println!(
            "   layer {} verified ({size} bytes): {:?}",
            blob.digest,
            String::from_utf8_lossy(&content)
        );
    }

    println!("\n5. unlock and delete");
    let unlock = PropertiesUpdate::default().can_write(true).can_delete(true);
    client
        .update_manifest_properties(REPOSITORY, "v1", &unlock)
        .await?;
    client.delete_manifest(REPOSITORY, digest.as_str()).await?;
    for blob in [&layer.digest, &config.digest] {
        client.delete_blob(REPOSITORY, blob).await?;
    }
    client.delete_repository(REPOSITORY).await?;
    match client.get_manifest(REPOSITORY, digest.as_str()).await {
        Err(acr::Error::NotFound { .. }) => println!("   gone: the manifest is not found any more"),
        other => println!("   unexpected: {other:?}"),
    }
    println!("\ndone");
    Ok(())
}
