//! Paged listings: a stream of items, or of pages with a continuation that resumes the
//! listing later.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::stream::{self, BoxStream, StreamExt as _, TryStreamExt as _};
use http::Method;
use url::Url;

use crate::link::{LinkFollower, next_link};
use crate::pipeline::Pipeline;
use crate::{Error, Result};

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    items: Vec<T>,
    continuation: Option<String>,
}

impl<T> Page<T> {
    /// The items of this page, in the listing's order.
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// The items, owned.
    pub fn into_items(self) -> Vec<T> {
        self.items
    }

    /// Where the listing goes on after this page, for [`Pager::resume_from`]; `None` on
    /// the last page. It is the registry's own next-page link, so it stays valid as long
    /// as the registry honours that link.
    pub fn continuation(&self) -> Option<&str> {
        self.continuation.as_deref()
    }
}

/// How a listing reads one page's body.
pub(crate) type ParsePage<T> = fn(&[u8], &Listing) -> Result<Vec<T>>;

/// What a listing requests first, and what its pages are about.
#[derive(Debug, Clone)]
pub(crate) struct Listing {
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) operation: &'static str,
    pub(crate) repository: Option<String>,
    /// The first page's URL, without the page size.
    pub(crate) first: Url,
}

/// The items of a listing, fetched a page at a time, as a [`Stream`]; or its pages, with
/// [`Pager::into_pages`].
///
/// Only one page is held at a time, whatever the length of the listing.
///
/// ```no_run
/// use futures_util::TryStreamExt as _;
/// # async fn demo(client: acr::ContainerRegistryClient) -> acr::Result<()> {
/// let mut names = client.list_repository_names().page_size(100);
/// while let Some(name) = names.try_next().await? {
///     println!("{name}");
/// }
/// # Ok(()) }
/// ```
#[must_use = "a pager does nothing until it is polled"]
pub struct Pager<T> {
    /// Input rejected before any request: the pager yields only this error.
    invalid: Option<Error>,
    listing: Listing,
    parse: ParsePage<T>,
    page_size: Option<u32>,
    resume: Option<String>,
    items: Option<BoxStream<'static, Result<T>>>,
}

impl<T> fmt::Debug for Pager<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pager")
            .field("operation", &self.listing.operation)
            .field("repository", &self.listing.repository)
            .field("page_size", &self.page_size)
            .field("resume", &self.resume)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Pager<T> {
    pub(crate) fn new(listing: Listing, parse: ParsePage<T>) -> Self {
        Self {
            invalid: None,
            listing,
            parse,
            page_size: None,
            resume: None,
            items: None,
        }
    }

    /// A pager whose listing was refused before any request.
    pub(crate) fn invalid(listing: Listing, parse: ParsePage<T>, error: Error) -> Self {
        Self {
            invalid: Some(error),
            ..Self::new(listing, parse)
        }
    }

    /// Asks for pages of at most `size` items (the registry's default otherwise; ACR
    /// allows up to 1000). Set before polling.
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size);
        self
    }

    /// Starts after the page whose [`Page::continuation`] this is, instead of at the
    /// beginning. Set before polling.
    pub fn resume_from(mut self, continuation: impl Into<String>) -> Self {
        self.resume = Some(continuation.into());
        self
    }

    /// The listing a page at a time.
    pub fn into_pages(self) -> Pages<T> {
        if let Some(error) = self.invalid {
            return Pages {
                inner: stream::once(async { Err(error) }).boxed(),
            };
        }
        let state = PageState {
            listing: self.listing,
            parse: self.parse,
            next: match self.resume {
                Some(link) => Next::Link(link),
                None => Next::First(self.page_size),
            },
            links: LinkFollower::default(),
        };
        Pages {
            inner: stream::try_unfold(state, PageState::fetch).boxed(),
        }
    }

    fn items(&mut self) -> &mut BoxStream<'static, Result<T>> {
        self.items.get_or_insert_with(|| {
            let pager = Pager {
                invalid: self.invalid.take(),
                listing: self.listing.clone(),
                parse: self.parse,
                page_size: self.page_size,
                resume: self.resume.clone(),
                items: None,
            };
            pager
                .into_pages()
                .map_ok(|page| stream::iter(page.items.into_iter().map(Ok)))
                .try_flatten()
                .boxed()
        })
    }
}

impl<T: Send + 'static> Stream for Pager<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.items().poll_next_unpin(cx)
    }
}

/// The pages of a listing, from [`Pager::into_pages`].
#[must_use = "pages do nothing until they are polled"]
pub struct Pages<T> {
    inner: BoxStream<'static, Result<Page<T>>>,
}

impl<T> fmt::Debug for Pages<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pages").finish_non_exhaustive()
    }
}

impl<T> Stream for Pages<T> {
    type Item = Result<Page<T>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

enum Next {
    First(Option<u32>),
    Link(String),
    Done,
}

struct PageState<T> {
    listing: Listing,
    parse: ParsePage<T>,
    next: Next,
    links: LinkFollower,
}

impl<T> PageState<T> {
    async fn fetch(mut self) -> Result<Option<(Page<T>, Self)>> {
        let url = match std::mem::replace(&mut self.next, Next::Done) {
            Next::Done => return Ok(None),
            Next::First(page_size) => {
                let mut url = self.listing.first.clone();
                if let Some(n) = page_size {
                    url.query_pairs_mut().append_pair("n", &n.to_string());
                }
                url
            }
            Next::Link(link) => self.links.follow(&self.listing.pipeline, &link)?,
        };
        let operation = self
            .listing
            .pipeline
            .operation(self.listing.operation, self.listing.repository.as_deref());
        let mut request = reqwest::Request::new(Method::GET, url);
        request.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        let response = operation.send(request).await?;
        if !response.status().is_success() {
            return Err(Error::from_response(response).await);
        }
        let continuation = next_link(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| Error::Transport(Box::new(e.without_url())))?;
        let items = (self.parse)(&body, &self.listing)?;
        if let Some(link) = &continuation {
            self.next = Next::Link(link.clone());
        }
        Ok(Some((
            Page {
                items,
                continuation,
            },
            self,
        )))
    }
}
