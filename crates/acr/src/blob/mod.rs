//! Blob content: chunked uploads and ranged downloads, digest-checked as the bytes pass.
//!
//! `upload` sends sessions of chunks, `download` fetches ranges, `verify` hashes what
//! arrives and holds back the verdict to the stream's end, `mount` links blobs across
//! repositories.

mod download;
mod mount;
mod upload;
mod verify;

pub use download::DownloadBlob;
pub use mount::MountOutcome;
pub use upload::{UploadBlob, UploadBlobResult};
pub use verify::DownloadBlobStream;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_util::stream::{BoxStream, StreamExt as _};
use http::HeaderValue;
use http::header::CONTENT_LENGTH;
use tokio::io::{AsyncRead, AsyncReadExt as _};

use crate::names::validate_repository;
use crate::reference::Digest;
use crate::{ContainerRegistryClient, Error, Result};

/// The size of upload chunks unless set. Up to two chunks are held in memory (the one
/// sent and the next, read ahead to tell the last); the transfer benchmark
/// (`benches/transfer.rs`) finds larger chunks no faster up, and heavier.
pub const DEFAULT_UPLOAD_CHUNK_SIZE: usize = 4 * 1024 * 1024;

/// The size of download ranges when ranges are asked for (`concurrency` above 1) without a
/// size: the transfer benchmark finds 8 MiB ranges a quarter faster than 4 MiB ones, with
/// memory still flat well under 64 MiB. Without ranges a blob comes in one `GET`.
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
    Error::io("the blob's content could not be read", error)
}

fn write_error(error: io::Error) -> Error {
    Error::io("the blob could not be written", error)
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
            ranged: false,
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
        crate::registry::idempotent(outcome)
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
}
