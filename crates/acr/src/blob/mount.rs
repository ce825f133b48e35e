//! Cross-repository mounts, with a verified copy where the registry refuses one.

use std::io;

use bytes::BytesMut;
use futures_util::stream::{StreamExt as _, TryStreamExt as _};
use http::StatusCode;

use crate::names::validate_repository;
use crate::reference::Digest;
use crate::{ContainerRegistryClient, Result};

use super::upload::Upload;
use super::{Chunks, DEFAULT_UPLOAD_CHUNK_SIZE};
use crate::retry::Retries;

/// What [`ContainerRegistryClient::mount_blob`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MountOutcome {
    /// The registry linked the blob into the repository without copying it.
    Mounted,
    /// The registry refused to mount; the blob was streamed from the source repository
    /// into the target, and verified.
    Copied {
        /// The blob's size.
        size: u64,
    },
}

impl ContainerRegistryClient {
    /// Makes the blob `digest` of repository `from` part of `repository` too. Registries
    /// link it without copying (cross-repository mount); one that refuses gets the blob
    /// streamed from `from`, verified on the way.
    pub async fn mount_blob(
        &self,
        repository: &str,
        from: &str,
        digest: &Digest,
    ) -> Result<MountOutcome> {
        validate_repository(repository)?;
        validate_repository(from)?;
        let operation = self.pipeline.mount_operation(repository, from);
        let response = operation
            .clone()
            .run(|client| async move {
                client
                    .start_upload()
                    .name(repository)
                    .from(from)
                    .mount(digest.as_str())
                    .send()
                    .await
            })
            .await?;
        if response.status() == StatusCode::CREATED {
            return Ok(MountOutcome::Mounted);
        }
        let download = self.download_blob(from, digest).await?;
        let total = download.size();
        let upload = Upload {
            client: self,
            operation: &operation,
            repository,
            chunk_size: DEFAULT_UPLOAD_CHUNK_SIZE,
            progress: None,
            total,
        };
        let location = upload.location(response.headers(), &self.pipeline.endpoint)?;
        let mut chunks = Chunks::Stream(
            download
                .map_err(|e| io::Error::other(e.to_string()))
                .boxed(),
            BytesMut::new(),
        );
        let retry = self.pipeline.retry.clone();
        let copied = upload
            .run(&mut chunks, Some(location), &mut Retries::new(&retry))
            .await
            .map_err(|failure| failure.error)?;
        digest.verify(&copied.digest)?;
        Ok(MountOutcome::Copied { size: copied.size })
    }
}
