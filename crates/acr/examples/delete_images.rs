//! Deletes, in every repository, all images but the three most recently updated.
//!
//! ```sh
//! CONTAINERREGISTRY_ENDPOINT=https://myregistry.azurecr.io \
//! CONTAINERREGISTRY_USERNAME=myregistry CONTAINERREGISTRY_PASSWORD=… \
//!     cargo run --example delete_images
//! ```

use acr::{ArtifactManifestOrder, ContainerRegistryClient, PropertiesUpdate};
use futures_util::TryStreamExt as _;

// The tests include this file as a module and bring their own registry.
#[cfg(not(test))]
mod common;

/// How many images each repository keeps.
pub(crate) const KEEP: usize = 3;

/// Deletes every manifest beyond the [`KEEP`] newest of each repository, unlocking it
/// first, and returns the references of those it deleted.
pub(crate) async fn delete_images(client: &ContainerRegistryClient) -> acr::Result<Vec<String>> {
    let mut deleted = Vec::new();
    let repositories: Vec<String> = client.list_repository_names().try_collect().await?;
    for repository in repositories {
        let newest_first: Vec<_> = client
            .list_manifest_properties(&repository, ArtifactManifestOrder::LastUpdatedOnDescending)
            .try_collect()
            .await?;
        let old = newest_first.into_iter().skip(KEEP);
        for manifest in old {
            // A locked image cannot be deleted: unlock it first.
            let unlock = PropertiesUpdate::default().can_write(true).can_delete(true);
            client
                .update_manifest_properties(&repository, &manifest.digest, &unlock)
                .await?;
            client
                .delete_manifest(&repository, &manifest.digest)
                .await?;
            println!("deleted {}", manifest.fully_qualified_reference());
            deleted.push(manifest.fully_qualified_reference());
        }
    }
    Ok(deleted)
}

#[cfg(not(test))]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = common::client_from_env()?;
    delete_images(&client).await?;
    Ok(())
}
