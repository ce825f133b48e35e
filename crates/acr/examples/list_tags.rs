//! Lists, anonymously, the tags of `library/hello-world:latest`'s manifest on a registry
//! with anonymous pull enabled.
//!
//! ```sh
//! CONTAINERREGISTRY_ANONREGISTRY_ENDPOINT=https://myregistry.azurecr.io cargo run -p acr --example list_tags
//! ```

use acr::ContainerRegistryClient;

/// Prints and returns the tags that point where `tag` points.
pub(crate) async fn list_tags(
    client: &ContainerRegistryClient,
    repository: &str,
    tag: &str,
) -> acr::Result<Vec<String>> {
    let manifest = client.get_manifest_properties(repository, tag).await?;
    for name in &manifest.tags {
        println!("{repository}:{name}");
    }
    Ok(manifest.tags)
}

#[cfg(not(test))]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::var("CONTAINERREGISTRY_ANONREGISTRY_ENDPOINT").map_err(
        |_| "set CONTAINERREGISTRY_ANONREGISTRY_ENDPOINT to a registry with anonymous pull",
    )?;
    // No credential: anonymous access.
    let client = ContainerRegistryClient::builder(endpoint).build()?;
    list_tags(&client, "library/hello-world", "latest").await?;
    Ok(())
}
