//! Deletes the blobs (config and layers) of an image.
//!
//! ```sh
//! CONTAINERREGISTRY_ENDPOINT=https://myregistry.azurecr.io \
//! CONTAINERREGISTRY_USERNAME=myregistry CONTAINERREGISTRY_PASSWORD=… \
//!     cargo run -p acr --example delete_blobs
//! ```

use acr::{ContainerRegistryClient, Digest};

// The tests include this file as a module and bring their own registry.
#[cfg(not(test))]
mod common;

/// Deletes every blob the manifest `tag` names, and returns their digests.
pub(crate) async fn delete_blobs(
    client: &ContainerRegistryClient,
    repository: &str,
    tag: &str,
) -> acr::Result<Vec<Digest>> {
    let image = client
        .get_manifest(repository, tag)
        .await?
        .image_manifest()?;
    let mut deleted = Vec::new();
    for blob in std::iter::once(image.config).chain(image.layers) {
        client.delete_blob(repository, &blob.digest).await?;
        println!("deleted blob {}", blob.digest);
        deleted.push(blob.digest);
    }
    Ok(deleted)
}

#[cfg(not(test))]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = common::client_from_env()?;
    delete_blobs(&client, "library/hello-world", "latest").await?;
    Ok(())
}
