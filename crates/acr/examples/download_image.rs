//! Pulls an image into a directory: its manifest, config and layers, each file written
//! only once its digest is verified.
//!
//! ```sh
//! CONTAINERREGISTRY_ENDPOINT=https://myregistry.azurecr.io cargo run -p acr --example download_image
//! ```

use std::path::{Path, PathBuf};

use acr::ContainerRegistryClient;

// The tests include this file as a module and bring their own registry.
#[cfg(not(test))]
mod common;

/// Writes `manifest.json` and one file per blob (named by its digest) into `directory`,
/// and returns the blob files.
pub(crate) async fn download_image(
    client: &ContainerRegistryClient,
    repository: &str,
    tag: &str,
    directory: &Path,
) -> acr::Result<Vec<PathBuf>> {
    let manifest = client.get_manifest(repository, tag).await?;
    tokio::fs::write(directory.join("manifest.json"), &manifest.bytes)
        .await
        .map_err(|e| acr::Error::InvalidInput(format!("writing the manifest: {e}")))?;
    let image = manifest.image_manifest()?;
    let mut files = Vec::new();
    for blob in std::iter::once(&image.config).chain(&image.layers) {
        let path = directory.join(blob.digest.encoded());
        // A blob whose content does not match its digest is an error, and leaves no file.
        let size = client
            .download_blob(repository, &blob.digest)
            .await?
            .to_file(&path)
            .await?;
        println!("{} → {} ({size} bytes)", blob.digest, path.display());
        files.push(path);
    }
    Ok(files)
}

#[cfg(not(test))]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = common::client_from_env()?;
    let directory = std::env::current_dir()?.join("hello-world");
    std::fs::create_dir_all(&directory)?;
    download_image(&client, "library/hello-world", "latest", &directory).await?;
    Ok(())
}
