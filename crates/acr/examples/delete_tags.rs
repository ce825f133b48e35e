//! Deletes, in every repository, all tags but the three most recently updated (the
//! manifests stay).
//!
//! ```sh
//! CONTAINERREGISTRY_ENDPOINT=https://myregistry.azurecr.io \
//! CONTAINERREGISTRY_USERNAME=myregistry CONTAINERREGISTRY_PASSWORD=… \
//!     cargo run -p acr --example delete_tags
//! ```

use acr::{ArtifactTagOrder, ContainerRegistryClient};
use futures_util::TryStreamExt as _;

// The tests include this file as a module and bring their own registry.
#[cfg(not(test))]
mod common;

/// Deletes every tag beyond the three newest of each repository, and returns them as
/// `repository:tag`.
pub(crate) async fn delete_tags(client: &ContainerRegistryClient) -> acr::Result<Vec<String>> {
    let mut deleted = Vec::new();
    let repositories: Vec<String> = client.list_repository_names().try_collect().await?;
    for repository in repositories {
        let newest_first: Vec<_> = client
            .list_tag_properties(&repository, ArtifactTagOrder::LastUpdatedOnDescending)
            .try_collect()
            .await?;
        for tag in newest_first.into_iter().skip(3) {
            client.delete_tag(&repository, &tag.name).await?;
            println!("deleted {repository}:{}", tag.name);
            deleted.push(format!("{repository}:{}", tag.name));
        }
    }
    Ok(deleted)
}

#[cfg(not(test))]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = common::client_from_env()?;
    delete_tags(&client).await?;
    Ok(())
}
