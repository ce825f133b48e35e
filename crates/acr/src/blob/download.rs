//! Ranged downloads: the blob fetched a range at a time, resumed where a connection
//! dropped, several ranges in flight when asked.

use std::fmt;
use std::future::IntoFuture;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt as _, TryStreamExt as _};
use http::StatusCode;
use http::header::CONTENT_RANGE;

use crate::names::validate_repository;
use crate::range::parse_content_range;
use crate::reference::Digest;
use crate::{ContainerRegistryClient, Error, Result};

use super::verify::Verifier;
use super::{DownloadBlobStream, Progress};

/// A download being configured; `.await` it to start it. See
/// [`ContainerRegistryClient::download_blob`].
#[must_use = "a download does nothing until it is awaited"]
pub struct DownloadBlob<'a> {
    pub(super) client: &'a ContainerRegistryClient,
    pub(super) repository: String,
    pub(super) digest: Digest,
    pub(super) chunk_size: usize,
    pub(super) concurrency: usize,
    /// Whether the caller asked for ranges; otherwise one streamed `GET`.
    pub(super) ranged: bool,
    pub(super) progress: Option<Progress>,
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
    /// Fetches the blob in ranged `GET`s of this size (at least 1) instead of one
    /// streamed `GET`; [`DEFAULT_DOWNLOAD_CHUNK_SIZE`](crate::DEFAULT_DOWNLOAD_CHUNK_SIZE)
    /// when only [`concurrency`](Self::concurrency) asks for ranges.
    pub fn chunk_size(mut self, size: usize) -> Self {
        self.chunk_size = size.max(1);
        self.ranged = true;
        self
    }

    /// How many ranges are fetched at once (1 unless set). Above 1, the blob comes in
    /// ranges of [`chunk_size`](Self::chunk_size), and up to that many chunks are held in
    /// memory to be handed out in order. At 1, unless a chunk size is set, the blob comes
    /// in one streamed `GET`, and ranges only resume a connection that dropped.
    pub fn concurrency(mut self, ranges: usize) -> Self {
        self.concurrency = ranges.max(1);
        self.ranged |= self.concurrency > 1;
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

        // One streamed GET unless ranges were asked for: a request per range costs the
        // registry and the client more than it gives on one connection.
        let first_end = if self.ranged {
            self.chunk_size as u64 - 1
        } else {
            u64::MAX - 1
        };
        let first_range = self.ranged.then_some((0, Some(first_end)));
        let response = match fetcher.get_or_unsatisfiable(first_range).await {
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

        let again = Again {
            client: self.client.clone(),
            repository: self.repository.clone(),
            digest: self.digest.clone(),
            chunk_size: self.chunk_size,
            concurrency: self.concurrency,
            ranged: self.ranged,
        };
        Ok(DownloadBlobStream {
            inner: first.chain(rest).boxed(),
            verifier: Verifier::new(hasher, total),
            pending: None,
            ended: false,
            expected: self.digest,
            received: 0,
            total,
            progress: self.progress,
            again: Some(again),
        })
    }
}

/// What it takes to download the same blob once more, for a file whose content failed
/// its digest: damage on the way is worth one more fetch, the same damage twice is not.
pub(super) struct Again {
    client: ContainerRegistryClient,
    repository: String,
    digest: Digest,
    chunk_size: usize,
    concurrency: usize,
    ranged: bool,
}

impl Again {
    pub(super) async fn start(self) -> Result<DownloadBlobStream> {
        let mut stream = DownloadBlob {
            client: &self.client,
            repository: self.repository,
            digest: self.digest,
            chunk_size: self.chunk_size,
            concurrency: self.concurrency,
            ranged: self.ranged,
            progress: None,
        }
        .start()
        .await?;
        stream.again = None;
        Ok(stream)
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
        self.get_or_unsatisfiable(Some((start, end)))
            .await
            .map_err(|(error, _)| error)
    }

    /// The answer for a range, or for the whole blob without one; on an error, also the
    /// blob's size when a 416 told it.
    async fn get_or_unsatisfiable(
        &self,
        range: Option<(u64, Option<u64>)>,
    ) -> Result<Answer, (Error, Option<u64>)> {
        let range = range.map(|(start, end)| match end {
            Some(end) => format!("bytes={start}-{end}"),
            None => format!("bytes={start}-"),
        });
        let (name, digest) = (self.repository.as_str(), self.digest.as_str());
        let operation = self.client.pipeline.operation("download_blob", Some(name));
        let outcome = operation
            .clone()
            .run(|client| async move {
                let call = client.get_blob().name(name).digest(digest);
                match range {
                    Some(range) => call.range(range).send().await,
                    None => call.send().await,
                }
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
                        return Err(crate::pipeline::transport_error(error));
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
