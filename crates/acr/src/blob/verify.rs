//! The downloaded bytes, hashed as they pass, with the verdict as the stream's last item.

use std::fmt;
use std::future::Future as _;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use futures_util::stream::{BoxStream, StreamExt as _};
use tokio::io::{AsyncSeekExt as _, AsyncWrite, AsyncWriteExt as _};

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
    /// A piece received, waiting for room in the hashing thread's queue.
    pub(super) pending: Option<Bytes>,
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
            let mut file = tokio::fs::File::create(&partial)
                .await
                .map_err(write_error)?;
            let size = match (stream.write_to(&mut file).await, again) {
                (Err(Error::DigestMismatch { .. }), Some(again)) => {
                    tracing::debug!("the blob failed its digest; fetching it once more");
                    file.set_len(0).await.map_err(write_error)?;
                    file.rewind().await.map_err(write_error)?;
                    again.start().await?.write_to(&mut file).await?
                }
                (outcome, _) => outcome?,
            };
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

/// Hashes a download's bytes. Large blobs are hashed on a blocking thread while the
/// next bytes arrive, so that the digest costs no throughput while a core is free; the
/// queue between them is bounded, so a slow hash slows the download rather than
/// buffering it.
pub(super) enum Verifier {
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
    pub(super) fn new(mut hasher: DigestHasher, total: Option<u64>) -> Self {
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
