//! Lists the repositories of a registry.
//!
//! ```sh
//! CONTAINERREGISTRY_ENDPOINT=https://myregistry.azurecr.io cargo run --example list_repositories
//! ```

use acr::ContainerRegistryClient;
use futures_util::TryStreamExt as _;

// The tests include this file as a module and bring their own registry.
#[cfg(not(test))]
mod common;

/// Prints the name of every repository, and returns them.
pub(crate) async fn list_repositories(
    client: &ContainerRegistryClient,
) -> acr::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut repositories = client.list_repository_names();
    while let Some(name) = repositories.try_next().await? {
        println!("{name}");
        names.push(name);
    }
    Ok(names)
}

#[cfg(not(test))]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = common::client_from_env()?;
    list_repositories(&client).await?;
    Ok(())
}
