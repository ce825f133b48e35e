//! Deletes an image's manifest (and with it every tag pointing to it).
//!
//! ```sh
//! CONTAINERREGISTRY_ENDPOINT=https://myregistry.azurecr.io \
//! CONTAINERREGISTRY_USERNAME=myregistry CONTAINERREGISTRY_PASSWORD=… \
//!     cargo run -p acr --example delete_manifest
//! ```

use acr::{ContainerRegistryClient, Digest};

// The tests include this file as a module and bring their own registry.
#[cfg(not(test))]
mod common;

/// Deletes the manifest `tag` points to, and returns its digest.
pub(crate) async fn delete_manifest(
    client: &ContainerRegistryClient,
    repository: &str,
    tag: &str,
) -> acr::Result<Digest> {
    let manifest = client.get_manifest(repository, tag).await?;
    client
        .delete_manifest(repository, manifest.digest.as_str())
        .await?;
    println!("deleted {repository}@{}", manifest.digest);
    Ok(manifest.digest)
}

#[cfg(not(test))]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = common::client_from_env()?;
    delete_manifest(&client, "library/hello-world", "latest").await?;
    Ok(())
}
