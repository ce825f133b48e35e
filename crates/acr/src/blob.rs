//! Blob content: chunked uploads and ranged downloads, digest-checked as the bytes pass.

use std::fmt;
use std::future::{Future as _, IntoFuture};
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt as _, TryStreamExt as _};
use http::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Method, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use url::Url;

use crate::names::validate_repository;
use crate::pipeline::Operation;
use crate::range::parse_content_range;
use crate::reference::{Digest, DigestHasher, docker_content_digest};
use crate::{ContainerRegistryClient, Error, Result};

/// The size of upload chunks unless set. Up to two chunks are held in memory (the one
/// sent and the next, read ahead to tell the last); the transfer benchmark
/// (`benches/transfer.rs`) finds larger chunks no faster up, and heavier.
pub const DEFAULT_UPLOAD_CHUNK_SIZE: usize = 4 * 1024 * 1024;

/// The size of download ranges unless set: the transfer benchmark finds 8 MiB ranges a
/// quarter faster than 4 MiB ones, with memory still flat well under 64 MiB.
pub const DEFAULT_DOWNLOAD_CHUNK_SIZE: usize = 8 * 1024 * 1024;

const OCTET_STREAM: HeaderValue = HeaderValue::from_static("application/octet-stream");

/// A callback told of a transfer's progress: bytes done, and the total when known.
type Progress = Arc<dyn Fn(u64, Option<u64>) + Send + Sync>;

/// The content of a blob to upload.
///
/// From bytes (`Bytes`, `Vec<u8>`, `&'static [u8]`), a file ([`BlobData::file`]), any
/// [`AsyncRead`] ([`BlobData::reader`]) or a stream of byte chunks
/// ([`BlobData::stream`]), of known or unknown length. Bytes and files can be read again,
/// so an upload that fails in a retryable way starts over (ACR cannot resume an upload);
/// readers and streams are read once.
pub struct BlobData(Source);

enum Source {
    Bytes(Bytes),
    File(PathBuf),
    Reader(Box<dyn AsyncRead + Send + Unpin>),
    Stream(BoxStream<'static, io::Result<Bytes>>),
    /// A reader or stream already handed to an upload.
    Taken,
}

impl BlobData {
    /// The content of the file at `path`, opened when the upload starts.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self(Source::File(path.into()))
    }

    /// The bytes `reader` yields until its end.
    pub fn reader(reader: impl AsyncRead + Send + Unpin + 'static) -> Self {
        Self(Source::Reader(Box::new(reader)))
    }

    /// The concatenation of the chunks `stream` yields; an error item fails the upload.
    pub fn stream(stream: impl Stream<Item = io::Result<Bytes>> + Send + 'static) -> Self {
        Self(Source::Stream(stream.boxed()))
    }

    fn replayable(&self) -> bool {
        matches!(self.0, Source::Bytes(_) | Source::File(_))
    }

    /// A reader from the start of the content; for a reader or stream, the one reader
    /// there can be.
    async fn open(&mut self) -> io::Result<(Chunks, Option<u64>)> {
        let taken = || io::Error::other("the upload source was already read");
        Ok(match &mut self.0 {
            Source::Bytes(bytes) => (Chunks::Bytes(bytes.clone()), Some(bytes.len() as u64)),
            Source::File(path) => {
                let file = tokio::fs::File::open(&*path).await?;
                let size = file.metadata().await?.len();
                (Chunks::Reader(Box::new(file)), Some(size))
            }
            Source::Reader(_) | Source::Stream(_) | Source::Taken => {
                match std::mem::replace(&mut self.0, Source::Taken) {
                    Source::Reader(reader) => (Chunks::Reader(reader), None),
                    Source::Stream(stream) => (Chunks::Stream(stream, BytesMut::new()), None),
                    _ => return Err(taken()),
                }
            }
        })
    }
}

impl fmt::Debug for BlobData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Source::Bytes(bytes) => write!(f, "BlobData::Bytes({} bytes)", bytes.len()),
            Source::File(path) => f.debug_tuple("BlobData::File").field(path).finish(),
            Source::Reader(_) => f.write_str("BlobData::Reader"),
            Source::Stream(_) => f.write_str("BlobData::Stream"),
            Source::Taken => f.write_str("BlobData::Taken"),
        }
    }
}

impl From<Bytes> for BlobData {
    fn from(bytes: Bytes) -> Self {
        Self(Source::Bytes(bytes))
    }
}

impl From<Vec<u8>> for BlobData {
    fn from(bytes: Vec<u8>) -> Self {
        Self(Source::Bytes(bytes.into()))
    }
}

impl From<&'static [u8]> for BlobData {
    fn from(bytes: &'static [u8]) -> Self {
        Self(Source::Bytes(Bytes::from_static(bytes)))
    }
}

/// Content cut into chunks of a given size; a shorter chunk is the last.
enum Chunks {
    Bytes(Bytes),
    Reader(Box<dyn AsyncRead + Send + Unpin>),
    Stream(BoxStream<'static, io::Result<Bytes>>, BytesMut),
}

impl Chunks {
    async fn next(&mut self, size: usize) -> io::Result<Bytes> {
        match self {
            Chunks::Bytes(bytes) => Ok(bytes.split_to(size.min(bytes.len()))),
            Chunks::Reader(reader) => {
                let mut chunk = BytesMut::with_capacity(size);
                while chunk.len() < size {
                    let mut limited = (&mut *reader).take((size - chunk.len()) as u64);
                    if limited.read_buf(&mut chunk).await? == 0 {
                        break;
                    }
                }
                Ok(chunk.freeze())
            }
            Chunks::Stream(stream, pending) => {
                while pending.len() < size {
                    match stream.next().await {
                        Some(item) => pending.extend_from_slice(&item?),
                        None => break,
                    }
                }
                Ok(pending.split_to(size.min(pending.len())).freeze())
            }
        }
    }
}

/// What an upload produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadBlobResult {
    /// The blob's digest, computed while uploading and confirmed by the registry.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
}

/// An upload being configured; `.await` it to run it. See
/// [`ContainerRegistryClient::upload_blob`].
#[must_use = "an upload does nothing until it is awaited"]
pub struct UploadBlob<'a> {
    client: &'a ContainerRegistryClient,
    repository: String,
    data: BlobData,
    chunk_size: usize,
    progress: Option<Progress>,
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
    /// The size of each `PATCH` ([`DEFAULT_UPLOAD_CHUNK_SIZE`] unless set; at least 1). A blob
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
struct Upload<'a> {
    client: &'a ContainerRegistryClient,
    operation: &'a Arc<Operation>,
    repository: &'a str,
    chunk_size: usize,
    progress: Option<&'a Progress>,
    total: Option<u64>,
}

impl Upload<'_> {
    /// Uploads `chunks` into a new session, or into `session` when one is open.
    async fn run(&self, chunks: &mut Chunks, session: Option<Url>) -> Result<UploadBlobResult> {
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
    fn location(&self, headers: &http::HeaderMap, base: &Url) -> Result<Url> {
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
                    .map(|()| UploadBlobResult {
                        digest,
                        size: offset + length,
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

    async fn complete(&self, location: &Url, digest: &Digest, last: Bytes) -> Result<()> {
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
        match docker_content_digest(response.headers())? {
            Some(announced) => digest.verify(&announced),
            None => Ok(()),
        }
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

/// The error for an answer other than the one the protocol prescribes.
async fn unexpected(response: reqwest::Response, what: &str) -> Error {
    if response.status().is_success() {
        Error::Protocol(format!(
            "the registry answered {} to {what}",
            response.status()
        ))
    } else {
        Error::from_response(response).await
    }
}

fn read_error(error: io::Error) -> Error {
    Error::InvalidInput(format!("the blob's content could not be read: {error}"))
}

/// A download being configured; `.await` it to start it. See
/// [`ContainerRegistryClient::download_blob`].
#[must_use = "a download does nothing until it is awaited"]
pub struct DownloadBlob<'a> {
    client: &'a ContainerRegistryClient,
    repository: String,
    digest: Digest,
    chunk_size: usize,
    concurrency: usize,
    progress: Option<Progress>,
}

impl fmt::Debug for DownloadBlob<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownloadBlob")
            .field("repository", &self.repository)
            .field("digest", &self.digest)
            .field("chunk_size", &self.chunk_size)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl DownloadBlob<'_> {
    /// The size of each ranged `GET` ([`DEFAULT_DOWNLOAD_CHUNK_SIZE`] unless set; at
    /// least 1).
    pub fn chunk_size(mut self, size: usize) -> Self {
        self.chunk_size = size.max(1);
        self
    }

    /// How many ranges are fetched at once (1 unless set). Above 1, up to that many
    /// chunks are held in memory to be handed out in order.
    pub fn concurrency(mut self, ranges: usize) -> Self {
        self.concurrency = ranges.max(1);
        self
    }

    /// Calls `progress(bytes_received, total)` as bytes arrive.
    pub fn progress(mut self, progress: impl Fn(u64, Option<u64>) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    async fn start(self) -> Result<DownloadBlobStream> {
        validate_repository(&self.repository)?;
        let hasher = self.digest.hasher()?;
        let fetcher = Fetcher {
            client: self.client.clone(),
            repository: self.repository.clone(),
            digest: self.digest.clone(),
        };

        let first_end = self.chunk_size as u64 - 1;
        let response = match fetcher.get_or_unsatisfiable(0, Some(first_end)).await {
            Ok(response) => Some(response),
            // An empty blob has no byte 0 to range over: `Content-Range: bytes */0`.
            Err((_, Some(0))) => None,
            Err((error, _)) => return Err(error),
        };
        // What the first answer covers, and where the rest starts when there is more.
        let (total, first, more_from): (
            Option<u64>,
            BoxStream<'static, Result<Bytes>>,
            Option<u64>,
        ) = match response {
            None => (Some(0), stream::empty().boxed(), None),
            Some(response) if response.status == StatusCode::PARTIAL_CONTENT => {
                let range = content_range(&response.headers, 0)?;
                let sent_end = range.range.map_or(first_end, |(_, end)| end);
                let more = match range.total {
                    Some(total) => (total > sent_end + 1).then_some(sent_end + 1),
                    // Unknown length: a full first chunk may have a sequel.
                    None => (sent_end == first_end).then_some(sent_end + 1),
                };
                (
                    range.total,
                    fetcher.clone().pieces(0, Some(sent_end), Some(response)),
                    more,
                )
            }
            // The whole blob: the registry ignored the range.
            Some(response) => {
                let total = response
                    .headers
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let end = total.filter(|t| *t > 0).map(|t| t - 1);
                (total, fetcher.clone().pieces(0, end, Some(response)), None)
            }
        };

        let rest: BoxStream<'static, Result<Bytes>> = match (more_from, total) {
            (None, _) => stream::empty().boxed(),
            (Some(start), None) => fetcher.clone().pieces(start, None, None),
            (Some(start), Some(total)) => {
                let chunk = self.chunk_size as u64;
                let ranges = (0..(total - start).div_ceil(chunk)).map(move |i| {
                    let from = start + i * chunk;
                    (from, (from + chunk).min(total) - 1)
                });
                if self.concurrency > 1 {
                    stream::iter(ranges)
                        .map(move |(from, to)| {
                            let pieces = fetcher.clone().pieces(from, Some(to), None);
                            async move { pieces.try_collect::<Vec<Bytes>>().await.map(stream::iter) }
                        })
                        .buffered(self.concurrency)
                        .map_ok(|pieces| pieces.map(Ok))
                        .try_flatten()
                        .boxed()
                } else {
                    stream::iter(ranges)
                        .map(move |(from, to)| fetcher.clone().pieces(from, Some(to), None))
                        .flatten()
                        .boxed()
                }
            }
        };

        Ok(DownloadBlobStream {
            inner: first.chain(rest).boxed(),
            verifier: Verifier::new(hasher, total),
            pending: None,
            expected: self.digest,
            received: 0,
            total,
            progress: self.progress,
        })
    }
}

impl<'a> IntoFuture for DownloadBlob<'a> {
    type Output = Result<DownloadBlobStream>;
    type IntoFuture = BoxFuture<'a, Result<DownloadBlobStream>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.start())
    }
}

fn content_range(headers: &http::HeaderMap, start: u64) -> Result<crate::range::ContentRange> {
    let range = headers
        .get(CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_content_range)
        .ok_or_else(|| Error::Protocol("a ranged blob answer has no valid Content-Range".into()))?;
    match range.range {
        Some((first, _)) if first == start => Ok(range),
        _ => Err(Error::Protocol(format!(
            "asked for bytes from {start}, the registry sent {range:?}"
        ))),
    }
}

/// Sends the ranged requests of one download.
#[derive(Clone)]
struct Fetcher {
    client: ContainerRegistryClient,
    repository: String,
    digest: Digest,
}

/// How many times in a row a range is asked again after its connection dropped before
/// a byte arrived.
const RESUMES: u32 = 3;

/// A successful answer to a blob `GET`, its body not yet read.
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: BoxStream<'static, reqwest::Result<Bytes>>,
}

impl Fetcher {
    async fn get(&self, start: u64, end: Option<u64>) -> Result<Answer> {
        self.get_or_unsatisfiable(start, end)
            .await
            .map_err(|(error, _)| error)
    }

    /// A range's answer; on an error, also the blob's size when a 416 told it.
    async fn get_or_unsatisfiable(
        &self,
        start: u64,
        end: Option<u64>,
    ) -> Result<Answer, (Error, Option<u64>)> {
        let range = match end {
            Some(end) => format!("bytes={start}-{end}"),
            None => format!("bytes={start}-"),
        };
        let (name, digest) = (self.repository.as_str(), self.digest.as_str());
        let operation = self.client.pipeline.operation("download_blob", Some(name));
        let outcome = operation
            .clone()
            .run(|client| async move {
                client
                    .get_blob()
                    .name(name)
                    .digest(digest)
                    .range(range)
                    .send()
                    .await
            })
            .await;
        let response = match outcome {
            Ok(response) => response,
            Err(error @ Error::Service { status: 416, .. }) => {
                let size = operation
                    .take_failed_headers()
                    .and_then(|headers| {
                        let value = headers.get(CONTENT_RANGE)?.to_str().ok()?.to_owned();
                        parse_content_range(&value)
                    })
                    .and_then(|range| range.total);
                return Err((error, size));
            }
            Err(error) => return Err((error, None)),
        };
        Ok(Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.into_inner().into_inner().boxed(),
        })
    }

    /// The bytes `start..=end` (to the blob's end when `end` is `None`), as they arrive,
    /// from `response` when it is already open; a connection that drops mid-body is
    /// resumed from the current position with a new `Range`.
    fn pieces(
        self,
        start: u64,
        end: Option<u64>,
        response: Option<Answer>,
    ) -> BoxStream<'static, Result<Bytes>> {
        struct State {
            fetcher: Fetcher,
            position: u64,
            end: Option<u64>,
            body: Option<BoxStream<'static, reqwest::Result<Bytes>>>,
            resumes: u32,
        }
        let state = State {
            fetcher: self,
            position: start,
            end,
            body: response.map(|r| r.body),
            resumes: RESUMES,
        };
        stream::try_unfold(state, |mut state| async move {
            loop {
                if state.end.is_some_and(|end| state.position > end) {
                    return Ok(None);
                }
                let body = match state.body.as_mut() {
                    Some(body) => body,
                    None => {
                        let response = match state.fetcher.get(state.position, state.end).await {
                            // Past the end of a blob of unknown length: nothing more.
                            Err(Error::Service { status: 416, .. }) if state.end.is_none() => {
                                return Ok(None);
                            }
                            outcome => outcome?,
                        };
                        match response.status {
                            StatusCode::PARTIAL_CONTENT => {
                                content_range(&response.headers, state.position)?;
                            }
                            StatusCode::OK if state.position == 0 => {}
                            status => {
                                return Err(Error::Protocol(format!(
                                    "the registry answered {status} to a ranged blob request"
                                )));
                            }
                        }
                        state.body.insert(response.body)
                    }
                };
                match body.next().await {
                    Some(Ok(piece)) => {
                        state.position += piece.len() as u64;
                        // Only failures without progress between them count.
                        state.resumes = RESUMES;
                        return Ok(Some((piece, state)));
                    }
                    // The answer ended: complete when the range is, else resumed below.
                    None if state.end.is_none_or(|end| state.position > end) => return Ok(None),
                    None | Some(Err(_)) if state.resumes > 0 => {
                        state.resumes -= 1;
                        state.body = None;
                        tracing::debug!(
                            position = state.position,
                            "blob download interrupted; resuming"
                        );
                    }
                    Some(Err(error)) => {
                        return Err(Error::Transport(Box::new(error.without_url())));
                    }
                    None => {
                        return Err(Error::Protocol(format!(
                            "the blob ended at byte {} before the range did",
                            state.position
                        )));
                    }
                }
            }
        })
        .boxed()
    }
}

/// A blob's bytes as they arrive, checked against its digest: the stream's last item is
/// an [`Error::DigestMismatch`] when the content does not hash to the digest asked for,
/// so no unverified byte passes for verified.
pub struct DownloadBlobStream {
    inner: BoxStream<'static, Result<Bytes>>,
    verifier: Verifier,
    /// A piece received, waiting for room in the hashing thread's queue.
    pending: Option<Bytes>,
    expected: Digest,
    received: u64,
    total: Option<u64>,
    progress: Option<Progress>,
}

impl fmt::Debug for DownloadBlobStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownloadBlobStream")
            .field("digest", &self.expected)
            .field("received", &self.received)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl DownloadBlobStream {
    /// The blob's size, when the registry said.
    pub fn size(&self) -> Option<u64> {
        self.total
    }

    /// The digest the content is checked against.
    pub fn digest(&self) -> &Digest {
        &self.expected
    }

    /// Writes the whole blob into `writer`, and returns its size. On an error, what was
    /// written must not be used.
    pub async fn write_to<W: AsyncWrite + Unpin>(mut self, writer: &mut W) -> Result<u64> {
        while let Some(piece) = self.next().await {
            writer.write_all(&piece?).await.map_err(write_error)?;
        }
        writer.flush().await.map_err(write_error)?;
        Ok(self.received)
    }

    /// Writes the blob to the file at `path`: into a temporary file beside it, renamed
    /// to `path` only once the digest is verified, so that `path` never holds unverified
    /// content. Returns the blob's size.
    pub async fn to_file(self, path: impl AsRef<Path>) -> Result<u64> {
        let path = path.as_ref();
        let name = path
            .file_name()
            .ok_or_else(|| Error::InvalidInput(format!("{} names no file", path.display())))?;
        let partial = path.with_file_name(format!(
            ".{}.{:016x}.partial",
            name.to_string_lossy(),
            fastrand::u64(..)
        ));
        let outcome = async {
            let mut file = tokio::fs::File::create(&partial)
                .await
                .map_err(write_error)?;
            let size = self.write_to(&mut file).await?;
            file.sync_all().await.map_err(write_error)?;
            drop(file);
            tokio::fs::rename(&partial, path)
                .await
                .map_err(write_error)?;
            Ok(size)
        }
        .await;
        if outcome.is_err() {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        outcome
    }
}

fn write_error(error: io::Error) -> Error {
    Error::InvalidInput(format!("the blob could not be written: {error}"))
}

/// Hashes a download's bytes. Large blobs are hashed on a blocking thread while the
/// next bytes arrive, so that the digest costs no throughput while a core is free; the
/// queue between them is bounded, so a slow hash slows the download rather than
/// buffering it.
enum Verifier {
    Inline(DigestHasher),
    Background {
        queue: tokio_util::sync::PollSender<Bytes>,
        digest: tokio::sync::oneshot::Receiver<Digest>,
    },
    Finishing(tokio::sync::oneshot::Receiver<Digest>),
    Done,
}

/// Below this size a thread costs more than it saves.
const BACKGROUND_HASHING_FROM: u64 = 4 * 1024 * 1024;
/// Pieces (as the connection hands them, tens of KiB) queued for the hashing thread.
const HASHING_QUEUE: usize = 64;

impl Verifier {
    fn new(mut hasher: DigestHasher, total: Option<u64>) -> Self {
        if total.is_some_and(|t| t < BACKGROUND_HASHING_FROM) {
            return Self::Inline(hasher);
        }
        let (queue, mut pieces) = tokio::sync::mpsc::channel::<Bytes>(HASHING_QUEUE);
        let (done, digest) = tokio::sync::oneshot::channel();
        tokio::task::spawn_blocking(move || {
            while let Some(piece) = pieces.blocking_recv() {
                hasher.update(&piece);
            }
            let _ = done.send(hasher.finish());
        });
        Self::Background {
            queue: tokio_util::sync::PollSender::new(queue),
            digest,
        }
    }
}

impl DownloadBlobStream {
    fn fail(&mut self, error: Error) -> Poll<Option<Result<Bytes>>> {
        self.verifier = Verifier::Done;
        self.pending = None;
        Poll::Ready(Some(Err(error)))
    }
}

impl Stream for DownloadBlobStream {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(piece) = this.pending.take() {
                match &mut this.verifier {
                    Verifier::Inline(hasher) => hasher.update(&piece),
                    Verifier::Background { queue, .. } => match queue.poll_reserve(cx) {
                        Poll::Pending => {
                            this.pending = Some(piece);
                            return Poll::Pending;
                        }
                        Poll::Ready(Ok(())) => {
                            if queue.send_item(piece.clone()).is_err() {
                                return this
                                    .fail(Error::Transport("the hashing thread stopped".into()));
                            }
                        }
                        Poll::Ready(Err(_)) => {
                            return this
                                .fail(Error::Transport("the hashing thread stopped".into()));
                        }
                    },
                    Verifier::Finishing(_) | Verifier::Done => return Poll::Ready(None),
                }
                return Poll::Ready(Some(Ok(piece)));
            }
            match &mut this.verifier {
                Verifier::Done => return Poll::Ready(None),
                Verifier::Finishing(digest) => {
                    let outcome = match Pin::new(digest).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(actual)) => this.expected.verify(&actual),
                        Poll::Ready(Err(_)) => {
                            Err(Error::Transport("the hashing thread stopped".into()))
                        }
                    };
                    this.verifier = Verifier::Done;
                    return Poll::Ready(outcome.err().map(Err));
                }
                Verifier::Inline(_) | Verifier::Background { .. } => {}
            }
            match this.inner.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(piece))) => {
                    this.received += piece.len() as u64;
                    if this.total.is_some_and(|total| this.received > total) {
                        return this.fail(Error::Protocol(
                            "the blob is longer than the registry said".into(),
                        ));
                    }
                    if let Some(progress) = &this.progress {
                        progress(this.received, this.total);
                    }
                    this.pending = Some(piece);
                }
                Poll::Ready(Some(Err(error))) => return this.fail(error),
                Poll::Ready(None) => {
                    if let Some(total) = this.total.filter(|total| *total != this.received) {
                        let error = Error::Protocol(format!(
                            "the blob ended after {} of {total} bytes",
                            this.received
                        ));
                        return this.fail(error);
                    }
                    this.verifier = match std::mem::replace(&mut this.verifier, Verifier::Done) {
                        Verifier::Inline(hasher) => {
                            return Poll::Ready(
                                this.expected.verify(&hasher.finish()).err().map(Err),
                            );
                        }
                        // Closing the queue lets the thread finish the digest.
                        Verifier::Background { digest, .. } => Verifier::Finishing(digest),
                        other => other,
                    };
                }
            }
        }
    }
}

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
    /// Uploads a blob into `repository`, and returns its digest and size.
    ///
    /// The content goes up in chunks (`PATCH` with `Content-Range`), the last of them in
    /// the completing `PUT`; a blob of one chunk costs two requests. The digest is computed
    /// while sending and compared with the registry's `Docker-Content-Digest`. A failed
    /// upload is cancelled, and started over when the failure is retryable and the
    /// content can be read again.
    ///
    /// ```no_run
    /// # async fn demo(client: acr::ContainerRegistryClient) -> acr::Result<()> {
    /// let layer = client.upload_blob("library/hello", b"hello\n".to_vec()).await?;
    /// let big = client
    ///     .upload_blob("library/hello", acr::BlobData::file("layer.tar.gz"))
    ///     .progress(|sent, total| eprintln!("{sent}/{total:?}"))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn upload_blob(&self, repository: &str, data: impl Into<BlobData>) -> UploadBlob<'_> {
        UploadBlob {
            client: self,
            repository: repository.to_owned(),
            data: data.into(),
            chunk_size: DEFAULT_UPLOAD_CHUNK_SIZE,
            progress: None,
        }
    }

    /// Downloads a blob as a stream of bytes fetched in `Range` chunks, checked against
    /// `digest` as they pass. A connection dropped mid-chunk is resumed where it stopped.
    ///
    /// ```no_run
    /// # async fn demo(client: acr::ContainerRegistryClient, digest: acr::Digest) -> acr::Result<()> {
    /// let size = client.download_blob("library/hello", &digest).await?.to_file("layer.tar.gz").await?;
    /// # Ok(()) }
    /// ```
    pub fn download_blob(&self, repository: &str, digest: &Digest) -> DownloadBlob<'_> {
        DownloadBlob {
            client: self,
            repository: repository.to_owned(),
            digest: digest.clone(),
            chunk_size: DEFAULT_DOWNLOAD_CHUNK_SIZE,
            concurrency: 1,
            progress: None,
        }
    }

    /// Deletes a blob. A blob that does not exist is already deleted: that is success.
    pub async fn delete_blob(&self, repository: &str, digest: &Digest) -> Result<()> {
        validate_repository(repository)?;
        let operation = self.pipeline.operation("delete_blob", Some(repository));
        let outcome = operation
            .run(|client| async move {
                client
                    .delete_blob()
                    .name(repository)
                    .digest(digest.as_str())
                    .send()
                    .await
            })
            .await;
        match outcome {
            Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Whether `repository` holds the blob (`HEAD`), and its size when it does.
    pub async fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<Option<u64>> {
        validate_repository(repository)?;
        let operation = self.pipeline.operation("blob_exists", Some(repository));
        let outcome = operation
            .run(|client| async move {
                client
                    .check_blob_exists()
                    .name(repository)
                    .digest(digest.as_str())
                    .send()
                    .await
            })
            .await;
        match outcome {
            Ok(response) => Ok(Some(
                response
                    .headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

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
        let operation = self.pipeline.operation("upload_blob", Some(repository));
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
        let copied = upload.run(&mut chunks, Some(location)).await?;
        digest.verify(&copied.digest)?;
        Ok(MountOutcome::Copied { size: copied.size })
    }
}
