//! Pushes a small image: a layer and a config as blobs, then an OCI manifest naming them,
//! tagged `latest`.
//!
//! ```sh
//! CONTAINERREGISTRY_ENDPOINT=https://myregistry.azurecr.io \
//! CONTAINERREGISTRY_USERNAME=myregistry CONTAINERREGISTRY_PASSWORD=… \
//!     cargo run -p acr --example upload_image
//! ```

use acr::{ContainerRegistryClient, Digest, ManifestBody};

// The tests include this file as a module and bring their own registry.
#[cfg(not(test))]
mod common;

/// Uploads the image and returns its manifest's digest.
pub(crate) async fn upload_image(
    client: &ContainerRegistryClient,
    repository: &str,
    tag: &str,
) -> acr::Result<Digest> {
    let layer = b"hello from a layer\n".to_vec();
    let layer = client.upload_blob(repository, layer).await?;
    println!("layer {} ({} bytes)", layer.digest, layer.size);

    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let config = client.upload_blob(repository, config).await?;
    println!("config {} ({} bytes)", config.digest, config.size);

    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config.digest.as_str(),
            "size": config.size,
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer.digest.as_str(),
            "size": layer.size,
        }],
    });
    let digest = client
        .set_manifest(repository, ManifestBody::json(&manifest)?)
        .tag(tag)
        .await?;
    println!("manifest {digest} tagged {tag}");
    Ok(digest)
}

#[cfg(not(test))]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = common::client_from_env()?;
    upload_image(&client, "library/hello-world", "latest").await?;
    Ok(())
}
