//! Pushes a small image: a layer and a config as blobs, then an OCI manifest naming them,
//! tagged `latest`.
//!
//! ```sh
//! CONTAINERREGISTRY_ENDPOINT=https://myregistry.azurecr.io \
//! CONTAINERREGISTRY_USERNAME=myregistry CONTAINERREGISTRY_PASSWORD=… \
//!     cargo run -p acr --example upload_image
//! ```

use acr::{ContainerRegistryClient, Descriptor, Digest, ImageManifest, ManifestBody};

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

    let manifest = ImageManifest {
        config: Descriptor::new(
            "application/vnd.oci.image.config.v1+json",
            config.digest,
            config.size,
        ),
        layers: vec![Descriptor::new(
            "application/vnd.oci.image.layer.v1.tar",
            layer.digest,
            layer.size,
        )],
        ..Default::default()
    };
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
