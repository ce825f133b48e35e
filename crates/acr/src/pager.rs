//! Paged listings: a stream of items, or of pages with a continuation that resumes the
//! listing later.

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasher as _, RandomState};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use std::future::Future;

use futures_core::Stream;
use futures_core::stream::FusedStream;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, Fuse, StreamExt as _, TryStreamExt as _};
use http::Method;
use serde::de::DeserializeOwned;
use url::Url;

use crate::link::{LinkFollower, next_link};
use crate::pipeline::{BodyLimit, Operation, Pipeline};
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

/// The most bytes one page of a listing may take, 16 MiB: a page of ACR's largest size
/// (1000 items) is well under 1 MiB, and a larger answer is refused while it is read
/// ([`Error::Protocol`]) rather than held in memory.
pub const MAX_LISTING_PAGE_BYTES: u64 = 16 * 1024 * 1024;

/// How many pages in a row may come without an item before the listing is taken for one
/// that never ends.
const EMPTY_PAGES: u32 = 3;

/// The page parameters of `url`'s query, when it holds only `params` (of `last`, `n`,
/// `orderby`), each once.
pub(crate) fn query_of(url: &Url, params: &[&str]) -> Option<PageQuery> {
    let mut query = PageQuery::default();
    for (key, value) in url.query_pairs() {
        if !params.contains(&key.as_ref()) {
            return None;
        }
        let slot_taken = match key.as_ref() {
            "last" => query.last.replace(value.into_owned()).is_some(),
            "orderby" => query.orderby.replace(value.into_owned()).is_some(),
            _ => query.n.replace(value.parse().ok()?).is_some(),
        };
        if slot_taken {
            return None;
        }
    }
    Some(query)
}

/// What one page is asked with: the generated operation's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PageQuery {
    pub(crate) last: Option<String>,
    pub(crate) n: Option<u32>,
    pub(crate) orderby: Option<String>,
}

/// How a page is requested: through the generated operation, or, for a next-page link
/// that does not map onto its parameters, by the link itself.
#[derive(Debug)]
pub(crate) enum PageRequest {
    Query(PageQuery),
    Link(Url),
}

/// A page's items and its next-page link.
pub(crate) type PageOf<T> = (Vec<T>, Option<String>);

/// How a listing fetches one page.
pub(crate) type FetchPage<T> =
    fn(Arc<Listing>, PageRequest) -> BoxFuture<'static, Result<PageOf<T>>>;

/// What a listing is about, shared by its pages.
#[derive(Debug)]
pub(crate) struct Listing {
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) operation: &'static str,
    pub(crate) repository: Option<String>,
    /// The path of the first page, percent-decoded: a next-page link on the same path with
    /// only the operation's own parameters is sent through the generated operation.
    pub(crate) path: String,
    /// Whether the registry lists in byte order of names, so that each page's `last`
    /// is above the one before (repository names, which are lower case).
    pub(crate) names_grow: bool,
    /// Which of `last`, `n` and `orderby` the generated operation takes.
    pub(crate) params: &'static [&'static str],
    pub(crate) orderby: Option<&'static str>,
    /// The `Accept` of pages fetched by their link.
    pub(crate) accept: &'static str,
    /// What the listing is about beyond its repository (the subject of referrers).
    pub(crate) subject: Option<crate::Digest>,
    /// The artifact type a listing of referrers is filtered by.
    pub(crate) artifact_type: Option<String>,
}

fn page_too_large(limit: u64, declared: Option<u64>) -> Error {
    Error::Protocol(format!(
        "a page of the listing is larger than {limit} bytes{}",
        declared
            .map(|d| format!(" (declared {d})"))
            .unwrap_or_default()
    ))
}

impl Listing {
    /// Fetches one page: by `call` with the page's parameters, or by its link.
    pub(crate) async fn page<W, E, F, Fut>(
        &self,
        request: PageRequest,
        call: F,
    ) -> Result<(W, Option<String>)>
    where
        W: DeserializeOwned,
        F: FnOnce(acr_rest::Client, PageQuery) -> Fut,
        Fut: Future<Output = std::result::Result<acr_rest::ResponseValue<W>, acr_rest::Error<E>>>,
    {
        match request {
            PageRequest::Query(query) => {
                let response = self.operation().run(|client| call(client, query)).await?;
                let next = next_link(response.headers());
                Ok((response.into_inner(), next))
            }
            PageRequest::Link(url) => self.page_by_link(url).await,
        }
    }

    /// Fetches the page behind a next-page link the generated operation cannot express.
    pub(crate) async fn page_by_link<W: DeserializeOwned>(
        &self,
        url: Url,
    ) -> Result<(W, Option<String>)> {
        let (headers, body) = self.follow(&self.operation(), url).await?;
        let page = serde_json::from_slice(&body).map_err(|e| {
            Error::Protocol(format!(
                "a page of the listing is not what was asked for: {e}"
            ))
        })?;
        Ok((page, next_link(&headers)))
    }

    /// The one handwritten request of listings: a next-page link the generated operation
    /// cannot express, sent as the registry wrote it.
    pub(crate) async fn follow(
        &self,
        operation: &Operation,
        url: Url,
    ) -> Result<(http::HeaderMap, bytes::Bytes)> {
        let mut request = reqwest::Request::new(Method::GET, url);
        request.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static(self.accept),
        );
        let mut response = operation.send(request).await?;
        if !response.status().is_success() {
            return Err(Error::from_response(response).await);
        }
        let headers = std::mem::take(response.headers_mut());
        let body = response
            .bytes()
            .await
            .map_err(crate::pipeline::transport_error)?;
        Ok((headers, body))
    }

    /// The operation that fetches one page, its body read whole up to
    /// [`MAX_LISTING_PAGE_BYTES`].
    pub(crate) fn operation(&self) -> Arc<Operation> {
        let limit = BodyLimit {
            limit: MAX_LISTING_PAGE_BYTES,
            over: page_too_large,
            json: true,
        };
        self.pipeline
            .buffered_operation(self.operation, self.repository.as_deref(), limit)
    }

    /// The request for the page behind `url`: the generated operation's parameters when
    /// the link names this listing's path with no other parameters, else the link as is.
    fn request_for(&self, url: Url) -> PageRequest {
        let decoded = percent_encoding::percent_decode_str(url.path()).decode_utf8_lossy();
        if decoded != self.path {
            return PageRequest::Link(url);
        }
        match query_of(&url, self.params) {
            Some(query) => PageRequest::Query(query),
            None => PageRequest::Link(url),
        }
    }
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
    listing: Arc<Listing>,
    fetch: FetchPage<T>,
    page_size: Option<u32>,
    resume: Option<String>,
    items: Option<Fuse<BoxStream<'static, Result<T>>>>,
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
    pub(crate) fn new(listing: Listing, fetch: FetchPage<T>) -> Self {
        Self {
            invalid: None,
            listing: Arc::new(listing),
            fetch,
            page_size: None,
            resume: None,
            items: None,
        }
    }

    /// A pager whose listing was refused before any request.
    pub(crate) fn invalid(listing: Listing, fetch: FetchPage<T>, error: Error) -> Self {
        Self {
            invalid: Some(error),
            ..Self::new(listing, fetch)
        }
    }

    /// Asks for pages of at most `size` items (the registry's default otherwise; ACR
    /// allows up to 1000). Set before polling. A size of 0 is [`Error::InvalidInput`], the
    /// pager's only item.
    pub fn page_size(mut self, size: u32) -> Self {
        if size == 0 {
            self.invalid.get_or_insert_with(|| {
                Error::InvalidInput("a page size must be at least 1".into())
            });
        }
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
            fetch: self.fetch,
            next: match self.resume {
                Some(link) => Next::Link(link),
                None => Next::First(self.page_size),
            },
            links: LinkFollower::default(),
            last: None,
            lasts: HashSet::new(),
            hasher: RandomState::new(),
            empty_pages: 0,
        };
        Pages {
            inner: stream::try_unfold(state, PageState::fetch).boxed(),
        }
    }

    fn items(&mut self) -> &mut Fuse<BoxStream<'static, Result<T>>> {
        self.items.get_or_insert_with(|| {
            let pager = Pager {
                invalid: self.invalid.take(),
                listing: self.listing.clone(),
                fetch: self.fetch,
                page_size: self.page_size,
                resume: self.resume.clone(),
                items: None,
            };
            pager
                .into_pages()
                .map_ok(|page| stream::iter(page.items.into_iter().map(Ok)))
                .try_flatten()
                .boxed()
                .fuse()
        })
    }
}

impl<T: Send + 'static> Stream for Pager<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.items().poll_next_unpin(cx)
    }
}

impl<T: Send + 'static> FusedStream for Pager<T> {
    fn is_terminated(&self) -> bool {
        self.items.as_ref().is_some_and(FusedStream::is_terminated)
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
    listing: Arc<Listing>,
    fetch: FetchPage<T>,
    next: Next,
    links: LinkFollower,
    /// The `last` of the page before, which the next one must move past.
    last: Option<String>,
    /// Every `last` followed, as hashes, for listings in time order.
    lasts: HashSet<u64>,
    hasher: RandomState,
    empty_pages: u32,
}

impl<T> PageState<T> {
    async fn fetch(mut self) -> Result<Option<(Page<T>, Self)>> {
        let request = match std::mem::replace(&mut self.next, Next::Done) {
            Next::Done => return Ok(None),
            Next::First(n) => PageRequest::Query(PageQuery {
                n,
                orderby: self.listing.orderby.map(str::to_owned),
                ..PageQuery::default()
            }),
            Next::Link(link) => {
                let url = self.links.follow(&self.listing.pipeline, &link)?;
                self.listing.request_for(url)
            }
        };
        // The page's `last` and order, whether the request maps onto the operation or
        // follows a link of the registry's own making.
        let position = match &request {
            PageRequest::Query(query) => {
                query.last.clone().map(|last| (last, query.orderby.clone()))
            }
            PageRequest::Link(url) => {
                let param = |name: &str| {
                    url.query_pairs()
                        .find(|(key, _)| key == name)
                        .map(|(_, value)| value.into_owned())
                };
                param("last").map(|last| (last, param("orderby")))
            }
        };
        if let Some((last, orderby)) = &position {
            // Where names grow page by page `last` must grow; elsewhere it must be new.
            let by_name = self.listing.names_grow && orderby.as_deref().is_none_or(str::is_empty);
            let stuck = match &self.last {
                Some(before) if by_name => last <= before,
                _ => !self.lasts.insert(self.hasher.hash_one(last)),
            };
            if stuck {
                return Err(Error::Protocol(format!(
                    "the next-page link starts after {last:?}, which the listing has passed; \
                     it would never end"
                )));
            }
            self.last = Some(last.clone());
        }
        let (items, continuation) = (self.fetch)(self.listing.clone(), request).await?;
        if let Some(link) = &continuation {
            self.empty_pages = if items.is_empty() {
                self.empty_pages + 1
            } else {
                0
            };
            if self.empty_pages > EMPTY_PAGES {
                return Err(Error::Protocol(format!(
                    "{} pages in a row held no item but linked to another; the listing would \
                     never end",
                    self.empty_pages
                )));
            }
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
