//! Locks an image: `library/hello-world:v1` can no longer be overwritten or deleted.
//!
//! ```sh
//! CONTAINERREGISTRY_ENDPOINT=https://myregistry.azurecr.io \
//! CONTAINERREGISTRY_USERNAME=myregistry CONTAINERREGISTRY_PASSWORD=… \
//!     cargo run --example set_image_properties
//! ```

use acr::{ArtifactManifestProperties, ContainerRegistryClient, PropertiesUpdate};

// The tests include this file as a module and bring their own registry.
#[cfg(not(test))]
mod common;

/// Makes the manifest `tag` of `repository` read-only and undeletable.
pub(crate) async fn set_image_properties(
    client: &ContainerRegistryClient,
    repository: &str,
    tag: &str,
) -> acr::Result<ArtifactManifestProperties> {
    let lock = PropertiesUpdate::default()
        .can_write(false)
        .can_delete(false);
    let manifest = client
        .update_manifest_properties(repository, tag, &lock)
        .await?;
    println!(
        "{}: can_write={:?} can_delete={:?}",
        manifest.fully_qualified_reference(),
        manifest.can_write,
        manifest.can_delete
    );
    Ok(manifest)
}

#[cfg(not(test))]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = common::client_from_env()?;
    set_image_properties(&client, "library/hello-world", "v1").await?;
    Ok(())
}
