//! The downloaded bytes, hashed as they pass, with the verdict as the stream's last item.

use std::fmt;
use std::future::Future as _;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use futures_util::stream::{BoxStream, StreamExt as _};
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use crate::reference::{Digest, DigestHasher};
use crate::{Error, Result};

use super::download::Again;
use super::{Progress, write_error};

/// A blob's bytes as they arrive, checked against its digest: the stream's last item is
/// an [`Error::DigestMismatch`] when the content does not hash to the digest asked for,
/// so no unverified byte passes for verified.
pub struct DownloadBlobStream {
    pub(super) inner: BoxStream<'static, Result<Bytes>>,
    pub(super) verifier: Verifier,
    /// A piece received, to be hashed (or batched for hashing) and handed out.
    pub(super) pending: Option<Bytes>,
    /// Whether the registry's stream has ended (its length checked).
    pub(super) ended: bool,
    pub(super) expected: Digest,
    pub(super) received: u64,
    pub(super) total: Option<u64>,
    pub(super) progress: Option<Progress>,
    /// How to fetch the blob once more, for [`DownloadBlobStream::to_file`].
    pub(super) again: Option<Again>,
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
    /// content. Content that fails its digest is fetched once more (a flipped byte on the
    /// way is no reason to give up); a second mismatch is [`Error::DigestMismatch`].
    /// Returns the blob's size.
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
        let mut stream = self;
        let again = stream.again.take();
        let outcome = async {
            let size = match (write_file(stream, &partial).await, again) {
                (Err(Error::DigestMismatch { .. }), Some(again)) => {
                    tracing::debug!("the blob failed its digest; fetching it once more");
                    write_file(again.start().await?, &partial).await?
                }
                (outcome, _) => outcome?,
            };
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

/// The bytes handed to the file-writing thread at a time.
const WRITE_BATCH: usize = 1024 * 1024;
/// Batches queued for the file-writing thread.
const WRITE_QUEUE: usize = 8;

/// Writes the whole of `stream` into a new file at `path`, synced to disk, and returns
/// its size. The writes go through one blocking thread of their own, a batch of pieces
/// at a time: a hand-off to the runtime's blocking pool per piece, as an async file
/// does, costs more than the write itself.
async fn write_file(mut stream: DownloadBlobStream, path: &Path) -> Result<u64> {
    let file = tokio::fs::File::create(path)
        .await
        .map_err(write_error)?
        .into_std()
        .await;
    let (queue, mut batches) = tokio::sync::mpsc::channel::<Vec<Bytes>>(WRITE_QUEUE);
    let writer = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut file = file;
        while let Some(batch) = batches.blocking_recv() {
            for piece in batch {
                file.write_all(&piece)?;
            }
        }
        file.sync_all()
    });
    let received = async {
        let mut batch = Vec::new();
        let mut batched = 0;
        while let Some(piece) = stream.next().await {
            let piece = piece?;
            batched += piece.len();
            batch.push(piece);
            if batched >= WRITE_BATCH {
                batched = 0;
                if queue.send(std::mem::take(&mut batch)).await.is_err() {
                    // The writer stopped: its error is the one to report.
                    return Ok(stream.received);
                }
            }
        }
        let _ = queue.send(batch).await;
        Ok(stream.received)
    }
    .await;
    drop(queue);
    let written = writer
        .await
        .map_err(|e| write_error(std::io::Error::other(e)))?;
    // A failed download outranks what it did to the file.
    let size = received?;
    written.map_err(write_error)?;
    Ok(size)
}

/// Hashes a download's bytes. Large blobs are hashed on a blocking thread while the
/// next bytes arrive, so that the digest costs no throughput while a core is free. Pieces
/// (as the connection hands them, tens of KiB) go to the thread in batches of at least
/// [`HASH_BATCH`] bytes, so that waking it costs nothing next to hashing; the queue is
/// bounded, so a slow hash slows the download rather than buffering it.
pub(super) enum Verifier {
    Inline(DigestHasher),
    Background {
        queue: tokio_util::sync::PollSender<Vec<Bytes>>,
        digest: tokio::sync::oneshot::Receiver<Digest>,
        batch: Vec<Bytes>,
        batched: usize,
    },
    Finishing(tokio::sync::oneshot::Receiver<Digest>),
    Done,
}

/// Below this size a thread costs more than it saves.
const BACKGROUND_HASHING_FROM: u64 = 4 * 1024 * 1024;
/// The bytes handed to the hashing thread at a time.
const HASH_BATCH: usize = 1024 * 1024;
/// Batches queued for the hashing thread: at most this many (and the one being filled)
/// wait in memory.
const HASHING_QUEUE: usize = 8;

impl Verifier {
    pub(super) fn new(mut hasher: DigestHasher, total: Option<u64>) -> Self {
        if total.is_some_and(|t| t < BACKGROUND_HASHING_FROM) {
            return Self::Inline(hasher);
        }
        let (queue, mut batches) = tokio::sync::mpsc::channel::<Vec<Bytes>>(HASHING_QUEUE);
        let (done, digest) = tokio::sync::oneshot::channel();
        tokio::task::spawn_blocking(move || {
            while let Some(batch) = batches.blocking_recv() {
                for piece in batch {
                    hasher.update(&piece);
                }
            }
            let _ = done.send(hasher.finish());
        });
        Self::Background {
            queue: tokio_util::sync::PollSender::new(queue),
            digest,
            batch: Vec::new(),
            batched: 0,
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
            // A full batch, or the last one, goes to the hashing thread before anything
            // else: waiting for room here is the backpressure.
            if let Verifier::Background {
                queue,
                batch,
                batched,
                ..
            } = &mut this.verifier
                && (*batched >= HASH_BATCH || (this.ended && !batch.is_empty()))
            {
                match queue.poll_reserve(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(())) => {
                        let full = std::mem::take(batch);
                        *batched = 0;
                        if queue.send_item(full).is_err() {
                            return this
                                .fail(Error::Transport("the hashing thread stopped".into()));
                        }
                    }
                    Poll::Ready(Err(_)) => {
                        return this.fail(Error::Transport("the hashing thread stopped".into()));
                    }
                }
            }
            if let Some(piece) = this.pending.take() {
                match &mut this.verifier {
                    Verifier::Inline(hasher) => hasher.update(&piece),
                    Verifier::Background { batch, batched, .. } => {
                        *batched += piece.len();
                        batch.push(piece.clone());
                    }
                    Verifier::Finishing(_) | Verifier::Done => return Poll::Ready(None),
                }
                return Poll::Ready(Some(Ok(piece)));
            }
            if this.ended {
                match std::mem::replace(&mut this.verifier, Verifier::Done) {
                    Verifier::Inline(hasher) => {
                        return Poll::Ready(this.expected.verify(&hasher.finish()).err().map(Err));
                    }
                    // Closing the queue lets the thread finish the digest.
                    Verifier::Background { digest, .. } => {
                        this.verifier = Verifier::Finishing(digest);
                    }
                    other => this.verifier = other,
                }
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
                    this.ended = true;
                }
            }
        }
    }
}
