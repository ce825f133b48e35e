//! A blocking client, for programs without an async runtime.
//!
//! Each [`ContainerRegistryClient`] owns a small Tokio runtime and blocks on the async
//! client's operations, as `reqwest::blocking` does. Do not call it from async code: that
//! panics; use the async client there.
//!
//! ```no_run
//! # fn demo() -> acr::Result<()> {
//! let client = acr::ContainerRegistryClient::builder("https://myregistry.azurecr.io").build()?;
//! let client = acr::blocking::ContainerRegistryClient::new(client)?;
//! for name in client.list_repository_names() {
//!     println!("{}", name?);
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::IntoFuture as _;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt as _;

use crate::{
    ArtifactManifestOrder, ArtifactManifestProperties, ArtifactTagOrder, ArtifactTagProperties,
    BlobData, Descriptor, Digest, Error, GetManifestResult, IntoReference, ManifestBody, Pager,
    PropertiesUpdate, RepositoryProperties, Result, UploadBlobResult,
};

/// The blocking twin of [`crate::ContainerRegistryClient`]: the same operations, each
/// returning when it is done. Cheap to clone.
#[derive(Clone)]
pub struct ContainerRegistryClient {
    inner: crate::ContainerRegistryClient,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl fmt::Debug for ContainerRegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("blocking::ContainerRegistryClient")
            .field(&self.inner)
            .finish()
    }
}

/// Stores a manifest; see [`ContainerRegistryClient::set_manifest`].
#[derive(Debug)]
#[must_use = "the manifest is sent only by `send`"]
pub struct SetManifest<'a> {
    inner: crate::SetManifest<'a>,
    runtime: &'a tokio::runtime::Runtime,
}

impl SetManifest<'_> {
    /// See [`crate::SetManifest::tag`].
    pub fn tag(mut self, tag: &str) -> Self {
        self.inner = self.inner.tag(tag);
        self
    }

    /// See [`crate::SetManifest::media_type`].
    pub fn media_type(mut self, media_type: &str) -> Self {
        self.inner = self.inner.media_type(media_type);
        self
    }

    /// Sends the manifest and returns its digest.
    pub fn send(self) -> Result<Digest> {
        self.runtime.block_on(self.inner.into_future())
    }
}

/// The items of a listing, fetched a page at a time as the iteration goes.
pub struct Iter<T> {
    pager: Pager<T>,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl<T> fmt::Debug for Iter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Iter").field(&self.pager).finish()
    }
}

impl<T: Send + 'static> Iter<T> {
    /// Asks for pages of at most `size` items; set before iterating.
    pub fn page_size(mut self, size: u32) -> Self {
        self.pager = self.pager.page_size(size);
        self
    }
}

impl<T: Send + 'static> Iterator for Iter<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        self.runtime.block_on(self.pager.next())
    }
}

impl ContainerRegistryClient {
    /// Wraps an async client, with a runtime of its own.
    pub fn new(client: crate::ContainerRegistryClient) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Transport(Box::new(e)))?;
        Ok(Self {
            inner: client,
            runtime: Arc::new(runtime),
        })
    }

    /// The async client underneath.
    pub fn as_async(&self) -> &crate::ContainerRegistryClient {
        &self.inner
    }

    fn run<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn iter<T>(&self, pager: Pager<T>) -> Iter<T> {
        Iter {
            pager,
            runtime: self.runtime.clone(),
        }
    }

    /// See [`crate::ContainerRegistryClient::list_repository_names`].
    pub fn list_repository_names(&self) -> Iter<String> {
        self.iter(self.inner.list_repository_names())
    }

    /// See [`crate::ContainerRegistryClient::get_repository_properties`].
    pub fn get_repository_properties(&self, repository: &str) -> Result<RepositoryProperties> {
        self.run(self.inner.get_repository_properties(repository))
    }

    /// See [`crate::ContainerRegistryClient::update_repository_properties`].
    pub fn update_repository_properties(
        &self,
        repository: &str,
        update: &PropertiesUpdate,
    ) -> Result<RepositoryProperties> {
        self.run(self.inner.update_repository_properties(repository, update))
    }

    /// See [`crate::ContainerRegistryClient::delete_repository`].
    pub fn delete_repository(&self, repository: &str) -> Result<()> {
        self.run(self.inner.delete_repository(repository))
    }

    /// See [`crate::ContainerRegistryClient::list_tag_properties`].
    pub fn list_tag_properties(
        &self,
        repository: &str,
        order: ArtifactTagOrder,
    ) -> Iter<ArtifactTagProperties> {
        self.iter(self.inner.list_tag_properties(repository, order))
    }

    /// See [`crate::ContainerRegistryClient::get_tag_properties`].
    pub fn get_tag_properties(&self, repository: &str, tag: &str) -> Result<ArtifactTagProperties> {
        self.run(self.inner.get_tag_properties(repository, tag))
    }

    /// See [`crate::ContainerRegistryClient::update_tag_properties`].
    pub fn update_tag_properties(
        &self,
        repository: &str,
        tag: &str,
        update: &PropertiesUpdate,
    ) -> Result<ArtifactTagProperties> {
        self.run(self.inner.update_tag_properties(repository, tag, update))
    }

    /// See [`crate::ContainerRegistryClient::delete_tag`].
    pub fn delete_tag(&self, repository: &str, tag: &str) -> Result<()> {
        self.run(self.inner.delete_tag(repository, tag))
    }

    /// See [`crate::ContainerRegistryClient::list_manifest_properties`].
    pub fn list_manifest_properties(
        &self,
        repository: &str,
        order: ArtifactManifestOrder,
    ) -> Iter<ArtifactManifestProperties> {
        self.iter(self.inner.list_manifest_properties(repository, order))
    }

    /// See [`crate::ContainerRegistryClient::get_manifest_properties`].
    pub fn get_manifest_properties(
        &self,
        repository: &str,
        reference: impl IntoReference,
    ) -> Result<ArtifactManifestProperties> {
        self.run(self.inner.get_manifest_properties(repository, reference))
    }

    /// See [`crate::ContainerRegistryClient::update_manifest_properties`].
    pub fn update_manifest_properties(
        &self,
        repository: &str,
        reference: impl IntoReference,
        update: &PropertiesUpdate,
    ) -> Result<ArtifactManifestProperties> {
        self.run(
            self.inner
                .update_manifest_properties(repository, reference, update),
        )
    }

    /// See [`crate::ContainerRegistryClient::delete_manifest`].
    pub fn delete_manifest(&self, repository: &str, reference: impl IntoReference) -> Result<()> {
        self.run(self.inner.delete_manifest(repository, reference))
    }

    /// See [`crate::ContainerRegistryClient::get_manifest`].
    pub fn get_manifest(
        &self,
        repository: &str,
        reference: impl IntoReference,
    ) -> Result<GetManifestResult> {
        self.run(self.inner.get_manifest(repository, reference))
    }

    /// See [`crate::ContainerRegistryClient::set_manifest`]: the same builder, sent by
    /// [`SetManifest::send`].
    pub fn set_manifest<'a>(
        &'a self,
        repository: &'a str,
        manifest: impl Into<ManifestBody>,
    ) -> SetManifest<'a> {
        SetManifest {
            inner: self.inner.set_manifest(repository, manifest),
            runtime: &self.runtime,
        }
    }

    /// See [`crate::ContainerRegistryClient::list_referrers`].
    pub fn list_referrers(
        &self,
        repository: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Iter<Descriptor> {
        self.iter(self.inner.list_referrers(repository, digest, artifact_type))
    }

    /// See [`crate::ContainerRegistryClient::upload_blob`].
    pub fn upload_blob(
        &self,
        repository: &str,
        data: impl Into<BlobData>,
    ) -> Result<UploadBlobResult> {
        self.run(self.inner.upload_blob(repository, data).into_future())
    }

    /// Downloads a blob into `writer`, checking it against `digest`, and returns its size.
    /// On an error, what was written must not be used.
    pub fn download_blob(
        &self,
        repository: &str,
        digest: &Digest,
        writer: &mut impl Write,
    ) -> Result<u64> {
        self.run(async {
            let mut stream = self.inner.download_blob(repository, digest).await?;
            let mut size = 0;
            while let Some(piece) = stream.next().await {
                let piece = piece?;
                writer
                    .write_all(&piece)
                    .map_err(|e| Error::io("the blob could not be written", e))?;
                size += piece.len() as u64;
            }
            Ok(size)
        })
    }

    /// Downloads a blob into the file at `path`, which appears only once the content is
    /// verified; see [`crate::DownloadBlobStream::to_file`].
    pub fn download_blob_to_file(
        &self,
        repository: &str,
        digest: &Digest,
        path: impl AsRef<Path>,
    ) -> Result<u64> {
        self.run(async {
            self.inner
                .download_blob(repository, digest)
                .await?
                .to_file(path)
                .await
        })
    }

    /// See [`crate::ContainerRegistryClient::delete_blob`].
    pub fn delete_blob(&self, repository: &str, digest: &Digest) -> Result<()> {
        self.run(self.inner.delete_blob(repository, digest))
    }

    /// See [`crate::ContainerRegistryClient::blob_exists`].
    pub fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<Option<u64>> {
        self.run(self.inner.blob_exists(repository, digest))
    }
}
