//! Chunked uploads: a session opened by `POST`, chunks `PATCH`ed, the last one `PUT` with
//! the digest computed on the way.

use std::fmt;
use std::future::IntoFuture;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Method, StatusCode};
use url::Url;

use crate::error::request_id;
use crate::names::validate_repository;
use crate::pipeline::Operation;
use crate::reference::{Digest, DigestHasher, docker_content_digest};
use crate::{ContainerRegistryClient, Error, Result};

use super::{BlobData, Chunks, OCTET_STREAM, Progress, read_error, unexpected};

/// What an upload produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadBlobResult {
    /// The blob's digest, computed while uploading and confirmed by the registry.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// The registry's `x-ms-request-id` for the request that completed the upload, when
    /// it sent one.
    pub request_id: Option<String>,
}

/// An upload being configured; `.await` it to run it. See
/// [`ContainerRegistryClient::upload_blob`].
#[must_use = "an upload does nothing until it is awaited"]
pub struct UploadBlob<'a> {
    pub(super) client: &'a ContainerRegistryClient,
    pub(super) repository: String,
    pub(super) data: BlobData,
    pub(super) chunk_size: usize,
    pub(super) progress: Option<Progress>,
}

impl fmt::Debug for UploadBlob<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadBlob")
            .field("repository", &self.repository)
            .field("data", &self.data)
            .field("chunk_size", &self.chunk_size)
            .finish_non_exhaustive()
    }
}

impl UploadBlob<'_> {
    /// The size of each `PATCH` ([`DEFAULT_UPLOAD_CHUNK_SIZE`](crate::DEFAULT_UPLOAD_CHUNK_SIZE) unless set; at least 1). A blob
    /// no larger goes up in a single `PUT`.
    pub fn chunk_size(mut self, size: usize) -> Self {
        self.chunk_size = size.max(1);
        self
    }

    /// Calls `progress(bytes_sent, total)` after each chunk; `total` is `None` for
    /// sources of unknown length.
    pub fn progress(mut self, progress: impl Fn(u64, Option<u64>) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    async fn run(mut self) -> Result<UploadBlobResult> {
        validate_repository(&self.repository)?;
        let operation = self
            .client
            .pipeline
            .operation("upload_blob", Some(&self.repository));
        let replayable = self.data.replayable();
        let mut attempts = 0;
        loop {
            let (mut chunks, total) = self.data.open().await.map_err(read_error)?;
            let upload = Upload {
                client: self.client,
                operation: &operation,
                repository: &self.repository,
                chunk_size: self.chunk_size,
                progress: self.progress.as_ref(),
                total,
            };
            match upload.run(&mut chunks, None).await {
                Err(error)
                    if error.is_retryable()
                        && replayable
                        && attempts < self.client.pipeline.retry.max_retries =>
                {
                    attempts += 1;
                    tracing::debug!(attempt = attempts, %error, "upload failed; starting over");
                }
                outcome => return outcome,
            }
        }
    }
}

impl<'a> IntoFuture for UploadBlob<'a> {
    type Output = Result<UploadBlobResult>;
    type IntoFuture = BoxFuture<'a, Result<UploadBlobResult>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// One upload session.
pub(super) struct Upload<'a> {
    pub(super) client: &'a ContainerRegistryClient,
    pub(super) operation: &'a Arc<Operation>,
    pub(super) repository: &'a str,
    pub(super) chunk_size: usize,
    pub(super) progress: Option<&'a Progress>,
    pub(super) total: Option<u64>,
}

impl Upload<'_> {
    /// Uploads `chunks` into a new session, or into `session` when one is open.
    pub(super) async fn run(
        &self,
        chunks: &mut Chunks,
        session: Option<Url>,
    ) -> Result<UploadBlobResult> {
        let location = match session {
            Some(location) => location,
            None => self.start().await?,
        };
        let outcome = self.send_chunks(chunks, location.clone()).await;
        if outcome.is_err() {
            self.cancel(location).await;
        }
        outcome.map_err(|(error, _)| error)
    }

    async fn start(&self) -> Result<Url> {
        let repository = self.repository;
        let response = self
            .operation
            .clone()
            .run(|client| async move { client.start_upload().name(repository).send().await })
            .await?;
        self.location(response.headers(), &self.client.pipeline.endpoint)
    }

    /// The upload's next URL from a `Location` header, relative or absolute, on the
    /// registry only: the session state in its query is as good as a credential.
    pub(super) fn location(&self, headers: &http::HeaderMap, base: &Url) -> Result<Url> {
        let value = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::Protocol("the registry's upload answer has no Location".into())
            })?;
        let url = base
            .join(value)
            .map_err(|e| Error::Protocol(format!("the upload Location is not a URL: {e}")))?;
        if !self.client.pipeline.is_registry(&url) {
            return Err(Error::Protocol(format!(
                "the upload Location points to {}, not to the registry; refusing to send the blob there",
                url.host_str().unwrap_or("no host")
            )));
        }
        Ok(url)
    }

    /// PATCHes every chunk but the last, which completes the upload in the PUT. On
    /// failure, also returns where the session was, to cancel it.
    async fn send_chunks(
        &self,
        chunks: &mut Chunks,
        mut location: Url,
    ) -> Result<UploadBlobResult, (Error, Url)> {
        let mut hasher = DigestHasher::sha256();
        let mut offset = 0u64;
        let mut chunk = chunks
            .next(self.chunk_size)
            .await
            .map_err(|e| (read_error(e), location.clone()))?;
        loop {
            // A full chunk may be the last: only the next read tells.
            let next = if chunk.len() == self.chunk_size {
                chunks
                    .next(self.chunk_size)
                    .await
                    .map_err(|e| (read_error(e), location.clone()))?
            } else {
                Bytes::new()
            };
            hasher.update(&chunk);
            let length = chunk.len() as u64;
            if next.is_empty() {
                let digest = hasher.finish();
                let outcome = self.complete(&location, &digest, chunk).await;
                if outcome.is_ok() {
                    self.report(offset + length);
                }
                return outcome
                    .map(|request_id| UploadBlobResult {
                        digest,
                        size: offset + length,
                        request_id,
                    })
                    .map_err(|e| (e, location));
            }
            location = self
                .patch(&location, offset, chunk)
                .await
                .map_err(|e| (e, location.clone()))?;
            offset += length;
            self.report(offset);
            chunk = next;
        }
    }

    fn report(&self, done: u64) {
        if let Some(progress) = self.progress {
            progress(done, self.total);
        }
    }

    async fn patch(&self, location: &Url, offset: u64, chunk: Bytes) -> Result<Url> {
        let mut request = reqwest::Request::new(Method::PATCH, location.clone());
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, OCTET_STREAM);
        headers.insert(CONTENT_LENGTH, chunk.len().into());
        let range = format!("{offset}-{}", offset + chunk.len() as u64 - 1);
        headers.insert(
            CONTENT_RANGE,
            HeaderValue::try_from(range).expect("digits and a dash"),
        );
        *request.body_mut() = Some(chunk.into());
        let response = self.operation.send(request).await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(unexpected(response, "a chunk").await);
        }
        self.location(response.headers(), location)
    }

    /// Sends the last chunk with the digest; the registry's request id on success.
    async fn complete(
        &self,
        location: &Url,
        digest: &Digest,
        last: Bytes,
    ) -> Result<Option<String>> {
        let mut url = location.clone();
        // The session's own query (`_state`) stays; the digest joins it.
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let mut request = reqwest::Request::new(Method::PUT, url);
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, OCTET_STREAM);
        headers.insert(CONTENT_LENGTH, last.len().into());
        *request.body_mut() = Some(last.into());
        let response = self.operation.send(request).await?;
        if response.status() != StatusCode::CREATED {
            return Err(unexpected(response, "the upload").await);
        }
        if let Some(announced) = docker_content_digest(response.headers())? {
            digest.verify(&announced)?;
        }
        Ok(request_id(response.headers()))
    }

    /// Abandons a failed session, so that the registry can free it; a failure here
    /// changes nothing for the caller.
    async fn cancel(&self, location: Url) {
        let request = reqwest::Request::new(Method::DELETE, location);
        if let Err(error) = self.operation.send(request).await {
            tracing::debug!(%error, "cancelling the upload session failed");
        }
    }
}
