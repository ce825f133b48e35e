//! Chunked uploads: a session opened by `POST`, chunks `PATCH`ed, the last one `PUT` with
//! the digest computed on the way.

use std::fmt;
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Method, StatusCode};
use url::Url;

use crate::error::request_id;
use crate::names::validate_repository;
use crate::pipeline::Operation;
use crate::reference::{Digest, DigestHasher, docker_content_digest};
use crate::retry::{self, Retries};
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

    /// Runs the upload. Failed chunks are resumed where the session says it stands; only a
    /// session that is gone starts the upload over, which bytes and files allow and
    /// readers and streams do not. Every wait, resume or restart, draws on one
    /// [`Retries`] of the client's policy.
    async fn run(mut self) -> Result<UploadBlobResult> {
        validate_repository(&self.repository)?;
        let operation = self.client.pipeline.upload_operation(&self.repository);
        let replayable = self.data.replayable();
        let retry = self.client.pipeline.retry.clone();
        let mut retries = Retries::new(&retry);
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
            let failure = match upload.run(&mut chunks, None, &mut retries).await {
                Ok(result) => return Ok(result),
                Err(failure) => failure,
            };
            if !(failure.restart && replayable) {
                return Err(failure.error);
            }
            let Some(delay) = retries.next_delay(failure.retry_after) else {
                return Err(failure.error);
            };
            tracing::debug!(error = %failure.error, delay_ms = delay.as_millis() as u64, "upload session lost; starting over");
            tokio::time::sleep(delay).await;
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

/// Why an upload session failed, and whether starting over could help.
pub(super) struct Failure {
    pub(super) error: Error,
    /// The wait the registry asked for, if it asked.
    retry_after: Option<Duration>,
    /// The session is gone (or never opened) after a failure worth another try.
    restart: bool,
}

impl Failure {
    fn last(error: Error) -> Self {
        Self {
            error,
            retry_after: None,
            restart: false,
        }
    }

    /// A failure that a new session may not meet.
    fn restart(error: Error, retry_after: Option<Duration>) -> Self {
        Self {
            restart: error.is_retryable(),
            error,
            retry_after,
        }
    }

    /// Whether asking the session where it stands may let the upload go on.
    fn resumable(&self) -> bool {
        self.error.is_retryable() || self.error.status() == Some(416)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::last(error)
    }
}

/// The answer to an upload request that did not go as the protocol prescribes.
async fn failure(response: reqwest::Response, what: &str) -> Failure {
    let retry_after = retry::retry_after(response.headers(), SystemTime::now());
    Failure {
        error: unexpected(response, what).await,
        retry_after,
        restart: false,
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
        retries: &mut Retries<'_>,
    ) -> Result<UploadBlobResult, Failure> {
        let location = match session {
            Some(location) => location,
            None => self
                .start()
                .await
                .map_err(|error| Failure::restart(error, None))?,
        };
        let outcome = self.send_chunks(chunks, location.clone(), retries).await;
        if let Err(failure) = &outcome
            && !failure.restart
        {
            self.cancel(location).await;
        }
        outcome
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

    /// PATCHes every chunk but the last, which completes the upload in the PUT. A chunk
    /// that fails in a way worth another try is resumed from where the session says it
    /// stands, after the wait the policy gives; the chunk in hand is the only part of the
    /// content that may be sent again, so any source can resume.
    async fn send_chunks(
        &self,
        chunks: &mut Chunks,
        mut location: Url,
        retries: &mut Retries<'_>,
    ) -> Result<UploadBlobResult, Failure> {
        let mut hasher = DigestHasher::sha256();
        let mut offset = 0u64;
        let mut chunk = chunks.next(self.chunk_size).await.map_err(read_error)?;
        loop {
            // A full chunk may be the last: only the next read tells.
            let next = if chunk.len() == self.chunk_size {
                chunks.next(self.chunk_size).await.map_err(read_error)?
            } else {
                Bytes::new()
            };
            let length = chunk.len() as u64;
            // A chunk that is not the last is hashed on another thread while it is sent;
            // the last must be hashed before its PUT names the digest.
            let (digest, hashing) = if next.is_empty() {
                hasher.update(&chunk);
                let hasher = std::mem::replace(&mut hasher, DigestHasher::sha256());
                (Some(hasher.finish()), None)
            } else {
                let mut behind = std::mem::replace(&mut hasher, DigestHasher::sha256());
                let piece = chunk.clone();
                let hashing = tokio::task::spawn_blocking(move || {
                    behind.update(&piece);
                    behind
                });
                (None, Some(hashing))
            };
            // How much of this chunk the session holds.
            let mut held = 0u64;
            loop {
                let rest = chunk.slice(held as usize..);
                let failure = match &digest {
                    Some(digest) => match self.complete(&location, digest, rest).await {
                        Ok(request_id) => {
                            self.report(offset + length);
                            return Ok(UploadBlobResult {
                                digest: digest.clone(),
                                size: offset + length,
                                request_id,
                            });
                        }
                        Err(failure) => failure,
                    },
                    None if held == length => break,
                    None => match self.patch(&location, offset + held, rest).await {
                        Ok(next_location) => {
                            location = next_location;
                            break;
                        }
                        Err(failure) => failure,
                    },
                };
                if !failure.resumable() {
                    return Err(failure);
                }
                let Some(delay) = retries.next_delay(failure.retry_after) else {
                    return Err(Failure::last(failure.error));
                };
                tracing::debug!(error = %failure.error, offset, delay_ms = delay.as_millis() as u64, "upload chunk failed; asking the session where it stands");
                tokio::time::sleep(delay).await;
                match self.status(&location).await {
                    Ok((now, received)) if (offset..=offset + length).contains(&received) => {
                        location = now;
                        held = received - offset;
                    }
                    Ok((_, received)) => {
                        return Err(Failure::last(Error::Protocol(format!(
                            "the upload session holds {received} bytes where {offset} to {} \
                             were sent",
                            offset + length
                        ))));
                    }
                    Err(Error::NotFound { .. }) => {
                        // The completing PUT may have been applied before its answer was
                        // lost: the blob itself tells.
                        if let Some(digest) = &digest
                            && matches!(
                                self.client.blob_exists(self.repository, digest).await,
                                Ok(Some(size)) if size == offset + length
                            )
                        {
                            self.report(offset + length);
                            return Ok(UploadBlobResult {
                                digest: digest.clone(),
                                size: offset + length,
                                request_id: None,
                            });
                        }
                        return Err(Failure::restart(failure.error, failure.retry_after));
                    }
                    Err(error) => return Err(Failure::restart(error, None)),
                }
            }
            if let Some(hashing) = hashing {
                hasher = hashing.await.map_err(|e| {
                    Failure::last(Error::Transport(
                        format!("the hashing thread stopped: {e}").into(),
                    ))
                })?;
            }
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

    async fn patch(&self, location: &Url, offset: u64, chunk: Bytes) -> Result<Url, Failure> {
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
            return Err(failure(response, "a chunk").await);
        }
        Ok(self.location(response.headers(), location)?)
    }

    /// Sends the last chunk with the digest; the registry's request id on success.
    async fn complete(
        &self,
        location: &Url,
        digest: &Digest,
        last: Bytes,
    ) -> Result<Option<String>, Failure> {
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
            return Err(failure(response, "the upload").await);
        }
        if let Some(announced) = docker_content_digest(response.headers())? {
            digest.verify(&announced)?;
        }
        Ok(request_id(response.headers()))
    }

    /// Where the session stands: its next URL and how many bytes it holds, from the
    /// `Range: 0-<last>` of `GET <location>`. Registries write `0-0` for an empty session
    /// too; it is read as empty, the safe side, since a byte sent twice is refused.
    async fn status(&self, location: &Url) -> Result<(Url, u64)> {
        let response = self
            .operation
            .send(reqwest::Request::new(Method::GET, location.clone()))
            .await?;
        if response.status() != StatusCode::NO_CONTENT && !response.status().is_success() {
            return Err(Error::from_response(response).await);
        }
        let now = self.location(response.headers(), location)?;
        let range = response
            .headers()
            .get("range")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Protocol("the upload status has no Range".into()))?;
        let received = crate::range::parse_upload_range(range).ok_or_else(|| {
            Error::Protocol(format!("the upload status Range {range:?} is not 0-<last>"))
        })?;
        Ok((now, received))
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
