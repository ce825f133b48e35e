//! The request pipeline every operation goes through, generated or handwritten:
//!
//! per-call (https check, `User-Agent`, request id) → retry → per-try (authentication) →
//! logging → transport (with redirects followed by hand).
//!
//! Every operation of the spec enters through [`acr_rest::Hooks`], implemented by
//! [`Operation`]. Only requests whose URL the registry gives are written by hand and call
//! [`Operation::send`]: upload sessions (`Location`) and next-page links that do not map
//! onto a generated operation's parameters. Unsuccessful answers of both paths go through
//! one classifier, [`Error::classify`].

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http::header::{AUTHORIZATION, HeaderValue, LOCATION, USER_AGENT, WWW_AUTHENTICATE};
use http::{Method, StatusCode};
use tracing::Instrument as _;
use url::Url;

use crate::auth::{Authenticator, Grant, Issuer, TokenServiceUnreachable, challenge};
use crate::error::{read_capped, service_message};
use crate::retry::{self, Retries, RetryOptions};
use crate::{Error, Result};

const CLIENT_REQUEST_ID: &str = "x-ms-client-request-id";
const REQUEST_ID: &str = "x-ms-request-id";
const MAX_REDIRECTS: usize = 10;
const API_VERSION_HEADER: &str = "api-version";

/// Everything an operation needs from its client; shared by all operations of a client.
pub(crate) struct Pipeline {
    pub(crate) http: reqwest::Client,
    pub(crate) endpoint: Url,
    base: String,
    pub(crate) allow_http: bool,
    pub(crate) retry: RetryOptions,
    pub(crate) auth: Authenticator,
    user_agent: HeaderValue,
    /// The `api-version` of the operations that take one.
    pub(crate) api_version: String,
    /// How long a try waits for the answer's status and headers.
    pub(crate) response_timeout: Duration,
    /// Whether the registry serves ACR's metadata API, as a [`MetadataApi`].
    metadata_api: AtomicU8,
}

/// What is known of a registry's `/acr/v1` metadata API, learnt from its first answer.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq)]
enum MetadataApi {
    Unknown = 0,
    Served = 1,
    Absent = 2,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("endpoint", &self.base)
            .field("allow_http", &self.allow_http)
            .field("retry", &self.retry)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    pub(crate) fn new(
        http: reqwest::Client,
        endpoint: Url,
        allow_http: bool,
        retry: RetryOptions,
        auth: Authenticator,
        api_version: String,
        response_timeout: Duration,
    ) -> Self {
        let base = endpoint.as_str().trim_end_matches('/').to_owned();
        let user_agent =
            HeaderValue::from_static(concat!("azsdk-rust-acr/", env!("CARGO_PKG_VERSION")));
        Self {
            http,
            endpoint,
            base,
            allow_http,
            retry,
            auth,
            user_agent,
            api_version,
            response_timeout,
            metadata_api: AtomicU8::new(MetadataApi::Unknown as u8),
        }
    }

    /// An operation that authenticates against the registry. `resource` (the repository,
    /// if any) tells apart operations that need different token scopes.
    pub(crate) fn operation(
        self: &Arc<Self>,
        id: &'static str,
        resource: Option<&str>,
    ) -> Arc<Operation> {
        Arc::new(Operation::new(
            self.clone(),
            id,
            resource.map(str::to_owned),
            true,
        ))
    }

    /// The operation of one blob upload: its `POST` opens a session, which is safe to
    /// repeat (an unused session expires), so the pipeline retries it like any request.
    pub(crate) fn upload_operation(self: &Arc<Self>, repository: &str) -> Arc<Operation> {
        let mut operation = Operation::new(
            self.clone(),
            "upload_blob",
            Some(repository.to_owned()),
            true,
        );
        operation.repeatable_post = true;
        Arc::new(operation)
    }

    /// A cross-repository mount into `repository` of a blob of `from`, and the upload that
    /// copies it where the registry refuses to mount: one token covers push on the target
    /// and pull on the source, as registries that check both ask.
    pub(crate) fn mount_operation(
        self: &Arc<Self>,
        repository: &str,
        from: &str,
    ) -> Arc<Operation> {
        // Repository names hold no spaces, so the key tells every pair apart.
        let key = format!("{repository} {from}");
        let mut operation = Operation::new(self.clone(), "mount_blob", Some(key), true);
        operation.repeatable_post = true;
        operation.scope = Some(crate::auth::scopes::mount_scope(repository, from));
        Arc::new(operation)
    }

    /// An operation whose successful answers are read whole, up to `limit`, inside each
    /// try: metadata, listing pages and manifests, which are parsed only once complete.
    pub(crate) fn buffered_operation(
        self: &Arc<Self>,
        id: &'static str,
        resource: Option<&str>,
        limit: BodyLimit,
    ) -> Arc<Operation> {
        let mut operation = Operation::new(self.clone(), id, resource.map(str::to_owned), true);
        operation.body_limit = Some(limit);
        Arc::new(operation)
    }

    /// An operation of the token service itself: sent without a bearer token, and safe to
    /// repeat although it is a `POST`.
    pub(crate) fn token_operation(self: &Arc<Self>, id: &'static str) -> Operation {
        let mut operation = Operation::new(self.clone(), id, None, false);
        operation.repeatable_post = true;
        operation.body_limit = Some(METADATA_LIMIT);
        operation
    }

    /// Whether `url` is the registry itself (scheme, host and port), the only place a
    /// credential may go.
    pub(crate) fn is_registry(&self, url: &Url) -> bool {
        url.scheme() == self.endpoint.scheme()
            && url.host_str() == self.endpoint.host_str()
            && url.port_or_known_default() == self.endpoint.port_or_known_default()
    }

    fn check_scheme(&self, url: &Url) -> Result<()> {
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.allow_http => Ok(()),
            scheme => Err(Error::InvalidInput(format!(
                "refusing to send a request over {scheme}: only https is allowed (plain http \
                 must be enabled with `allow_http` on the client builder)"
            ))),
        }
    }

    /// The error for an operation this registry does not offer.
    pub(crate) fn unsupported(&self, operation: &str) -> Error {
        Error::Unsupported {
            operation: operation.to_owned(),
            registry: self.endpoint.host_str().unwrap_or_default().to_owned(),
        }
    }

    /// Remembers, from an answer of ACR's metadata API, whether the registry serves it.
    fn learn_metadata_api(&self, outcome: &Result<reqwest::Response>) {
        let state = match outcome {
            Err(Error::Unsupported { .. }) => MetadataApi::Absent,
            Ok(_) | Err(Error::NotFound { .. } | Error::Service { .. }) => MetadataApi::Served,
            Err(_) => return,
        };
        self.metadata_api.store(state as u8, Ordering::Relaxed);
    }

    /// Per-call stage, then the retry loop.
    async fn send(
        self: &Arc<Self>,
        operation: &Operation,
        mut request: reqwest::Request,
    ) -> Result<reqwest::Response> {
        self.check_scheme(request.url())?;
        // A registry found without ACR's metadata API is not asked again.
        if request.url().path().starts_with("/acr/")
            && self.metadata_api.load(Ordering::Relaxed) == MetadataApi::Absent as u8
        {
            return Err(self.unsupported(operation.id));
        }
        let headers = request.headers_mut();
        headers.insert(USER_AGENT, self.user_agent.clone());
        headers.insert(CLIENT_REQUEST_ID, operation.request_id.clone());
        // The generated code names its own version in a header; the query, set from the
        // client's version, is what the service reads, and the two must agree.
        if headers.contains_key(API_VERSION_HEADER)
            && let Ok(version) = HeaderValue::from_str(&self.api_version)
        {
            headers.insert(API_VERSION_HEADER, version);
        }

        let repeatable = match *request.method() {
            Method::POST => operation.repeatable_post,
            Method::PATCH => false,
            _ => true,
        };
        let mut retries = Retries::new(&self.retry);
        let mut timed_out = false;
        loop {
            // A body that cannot be cloned is a stream: this attempt is the only one.
            let spare = if repeatable {
                request.try_clone()
            } else {
                None
            };
            let mut outcome = self.authorized(operation, request).await;
            if let (Some(limit), Ok(response)) = (operation.body_limit, &outcome)
                && response.status().is_success()
            {
                // Inside the try, so that a body cut short is retried like a reset.
                outcome = match outcome {
                    Ok(response) => read_body(response, limit).await,
                    error => error,
                };
            }
            let asked = match &outcome {
                Ok(response) if retry::is_retryable_status(response.status()) => {
                    retry::retry_after(response.headers(), SystemTime::now())
                }
                // A registry that left one try unanswered gets one more, not the whole
                // budget: a silent server must fail well within a minute.
                Err(Error::Transport(source)) if source.is::<ResponseTimeout>() => {
                    if timed_out {
                        return outcome;
                    }
                    timed_out = true;
                    None
                }
                Err(Error::Transport(source)) if !source.is::<TokenServiceUnreachable>() => None,
                _ => return outcome,
            };
            let Some(next) = spare else {
                return outcome.map_err(settled);
            };
            let Some(delay) = retries.next_delay(asked) else {
                return outcome.map_err(settled);
            };
            tracing::debug!(
                operation = operation.id,
                retry = retries.count(),
                delay_ms = delay.as_millis() as u64,
                outcome = %match &outcome {
                    Ok(response) => response.status().to_string(),
                    Err(error) => error.to_string(),
                },
                "retrying"
            );
            drop(outcome);
            tokio::time::sleep(delay).await;
            request = next;
        }
    }

    /// Per-try stage: authentication. A scope already learned for this operation gets its
    /// token up front; otherwise the request goes out bare, and a `401` challenge names the
    /// scope. At most one challenge is answered per try, so a refused token never loops.
    async fn authorized(
        self: &Arc<Self>,
        operation: &Operation,
        mut request: reqwest::Request,
    ) -> Result<reqwest::Response> {
        if let Some(basic) = operation
            .basic
            .as_ref()
            .filter(|_| self.is_registry(request.url()))
        {
            request.headers_mut().insert(AUTHORIZATION, basic.clone());
        }
        if !operation.authenticate || !self.is_registry(request.url()) {
            return self.transmit(request).await;
        }
        // A registry that asked for Basic authentication gets it up front from then on.
        if let Some(basic) = self.auth.basic_if_asked() {
            request.headers_mut().insert(AUTHORIZATION, basic);
            return self.transmit(request).await;
        }

        if let Some(grant) = self.auth.learned(
            operation.id,
            operation.resource.as_deref(),
            operation.scope.as_deref(),
        ) {
            match self.auth.access_token(self, &grant).await {
                Ok(token) => {
                    let retry = request.try_clone();
                    let response = self.transmit(with_bearer(request, &token.token)?).await?;
                    if !self.is_challenge(&response) {
                        return Ok(response);
                    }
                    self.auth.invalidate(&grant, token.generation).await;
                    let Some(request) = retry else {
                        return Err(refused(response).await);
                    };
                    return self.answer_challenge(operation, request, response).await;
                }
                // A token service presumed at build time that issues nothing: the
                // registry's challenge names the right one.
                Err(_) if self.auth.drop_presumption(&grant) => {}
                Err(error) => return Err(error),
            }
        }

        let first = match request.try_clone() {
            Some(copy) => self.transmit(copy).await?,
            None => {
                // Never send a stream to be refused: ask with an empty body first.
                let probe = self.transmit(bodiless(&request)).await?;
                if !self.is_challenge(&probe) {
                    return self.transmit(request).await;
                }
                probe
            }
        };
        if !self.is_challenge(&first) {
            return Ok(first);
        }
        self.answer_challenge(operation, request, first).await
    }

    /// Fetches the token a challenge asks for, remembers the scope for the next request of
    /// the same operation, and sends the request once more.
    async fn answer_challenge(
        self: &Arc<Self>,
        operation: &Operation,
        request: reqwest::Request,
        challenged: reqwest::Response,
    ) -> Result<reqwest::Response> {
        let Some(challenge) = challenge::bearer(challenged.headers()) else {
            // Registries behind plain Basic authentication (distribution with htpasswd)
            // take a username and password directly.
            let Some(basic) = self.auth.answer_basic(challenged.headers()) else {
                return Ok(challenged);
            };
            drop(challenged);
            let mut request = request;
            request.headers_mut().insert(AUTHORIZATION, basic);
            let response = self.transmit(request).await?;
            if self.is_challenge(&response) {
                return Err(refused(response).await);
            }
            return Ok(response);
        };
        let grant = Grant {
            issuer: Issuer::of_realm(challenge.realm.as_deref()),
            service: challenge
                .service
                .unwrap_or_else(|| self.endpoint.host_str().unwrap_or_default().to_owned()),
            scope: challenge.scope.unwrap_or_default(),
        };
        drop(challenged);
        let token = self.auth.access_token(self, &grant).await?;
        self.auth
            .learn(operation.id, operation.resource.as_deref(), grant.clone());
        let response = self.transmit(with_bearer(request, &token.token)?).await?;
        if self.is_challenge(&response) {
            self.auth.invalidate(&grant, token.generation).await;
            return Err(refused(response).await);
        }
        Ok(response)
    }

    fn is_challenge(&self, response: &reqwest::Response) -> bool {
        response.status() == StatusCode::UNAUTHORIZED
            && self.is_registry(response.url())
            && response.headers().contains_key(WWW_AUTHENTICATE)
    }

    /// Logging stage around the transport.
    async fn transmit(&self, request: reqwest::Request) -> Result<reqwest::Response> {
        let method = request.method().clone();
        let url = loggable(request.url());
        let started = Instant::now();
        let outcome = self.transport(request).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &outcome {
            Ok(response) => {
                let request_id = response
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok());
                let span = tracing::Span::current();
                span.record("status", response.status().as_u16());
                if let Some(id) = request_id {
                    span.record("request_id", id);
                }
                tracing::debug!(%method, url, status = response.status().as_u16(), elapsed_ms, request_id, "response");
            }
            Err(error) => tracing::debug!(%method, url, elapsed_ms, %error, "request failed"),
        }
        outcome
    }

    /// Transport stage. Redirects are followed here rather than by reqwest so that the
    /// https rule applies to every hop and `Authorization` is dropped when a hop leaves the
    /// origin it was meant for: the registry (blob downloads are redirected to storage
    /// hosts), or the token service a password was sent to.
    async fn transport(&self, mut request: reqwest::Request) -> Result<reqwest::Response> {
        let origin = request.url().origin();
        for _ in 0..=MAX_REDIRECTS {
            let method = request.method().clone();
            let follow = method == Method::GET || method == Method::HEAD;
            let carried = if follow {
                Some(request.headers().clone())
            } else {
                None
            };
            let from = request.url().clone();
            let response = tokio::time::timeout(self.response_timeout, self.http.execute(request))
                .await
                .map_err(|_| Error::Transport(Box::new(ResponseTimeout(self.response_timeout))))?
                .map_err(transport_error)?;
            let (Some(mut headers), true) = (carried, is_redirect(response.status())) else {
                return Ok(response);
            };
            let Some(next) = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|location| from.join(location).ok())
            else {
                return Ok(response);
            };
            self.check_scheme(&next)?;
            if next.origin() != origin {
                headers.remove(AUTHORIZATION);
                headers.remove(http::header::COOKIE);
                headers.remove(http::header::PROXY_AUTHORIZATION);
            }
            tracing::debug!(
                status = response.status().as_u16(),
                to = loggable(&next),
                "redirect"
            );
            request = reqwest::Request::new(method, next);
            *request.headers_mut() = headers;
        }
        Err(Error::TooManyRedirects {
            limit: MAX_REDIRECTS,
        })
    }
}

/// The most of a successful body an operation reads into memory, and the error for a
/// body past it.
#[derive(Clone, Copy)]
pub(crate) struct BodyLimit {
    /// The cap, in bytes.
    pub(crate) limit: u64,
    /// The error for a body over the cap, given the cap and the declared length.
    pub(crate) over: fn(u64, Option<u64>) -> Error,
    /// Whether the body must be JSON: one that does not parse is taken for a body cut
    /// short and tried again, and is [`Error::Protocol`] when every try gave one.
    pub(crate) json: bool,
}

/// Metadata and token answers: a few KiB of JSON, read whole inside each try.
pub(crate) const METADATA_LIMIT: BodyLimit = BodyLimit {
    limit: 1024 * 1024,
    over: |limit, declared| {
        Error::Protocol(format!(
            "the registry's answer is larger than {limit} bytes{}",
            declared
                .map(|d| format!(" (declared {d})"))
                .unwrap_or_default()
        ))
    },
    json: true,
};

/// No answer (status and headers) came within the response timeout.
#[derive(Debug, thiserror::Error)]
#[error("the registry sent no answer within {0:?}")]
pub(crate) struct ResponseTimeout(Duration);

/// A body that should be JSON and is not.
#[derive(Debug, thiserror::Error)]
#[error("the registry's answer is not complete JSON: {0}")]
struct MalformedBody(serde_json::Error);

/// The error a request ends with once no try is left: a body that never parsed is the
/// registry's fault, not the network's.
fn settled(error: Error) -> Error {
    match error {
        Error::Transport(source) if source.is::<MalformedBody>() => {
            Error::Protocol(source.to_string())
        }
        other => other,
    }
}

/// Reads `response`'s body, at most `limit.limit` bytes of it, and hands back the same
/// response holding the bytes read. The cap holds while reading, not only against
/// `Content-Length`, which may be absent or wrong.
async fn read_body(mut response: reqwest::Response, limit: BodyLimit) -> Result<reqwest::Response> {
    let declared = response.content_length();
    if let Some(declared) = declared.filter(|&d| d > limit.limit) {
        return Err((limit.over)(limit.limit, Some(declared)));
    }
    // At most the limit is ever reserved, whatever the header claims.
    let mut body = bytes::BytesMut::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if (body.len() + chunk.len()) as u64 > limit.limit {
            return Err((limit.over)(limit.limit, declared));
        }
        body.extend_from_slice(&chunk);
    }
    if declared.is_some_and(|declared| declared != body.len() as u64) {
        return Err(Error::Transport(
            format!(
                "the response ended after {} of its {} bytes",
                body.len(),
                declared.unwrap_or_default()
            )
            .into(),
        ));
    }
    // An empty body is the operation's to judge (`GET /v2/` may answer with none).
    if limit.json
        && !body.is_empty()
        && let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(&body)
    {
        return Err(Error::Transport(Box::new(MalformedBody(error))));
    }
    let mut builder = http::Response::builder()
        .status(response.status())
        .version(response.version());
    builder = reqwest::ResponseBuilderExt::url(builder, response.url().clone());
    let mut rebuilt = builder
        .body(reqwest::Body::from(body.freeze()))
        .expect("status and version come from a response");
    *rebuilt.headers_mut() = std::mem::take(response.headers_mut());
    Ok(rebuilt.into())
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn with_bearer(mut request: reqwest::Request, token: &crate::Secret) -> Result<reqwest::Request> {
    let mut value = HeaderValue::try_from(format!("Bearer {}", token.expose())).map_err(|_| {
        Error::authentication("the registry issued a token that is not a valid header value")
    })?;
    value.set_sensitive(true);
    request.headers_mut().insert(AUTHORIZATION, value);
    Ok(request)
}

/// The same request with no body, to learn the challenge before sending a stream.
fn bodiless(request: &reqwest::Request) -> reqwest::Request {
    let mut probe = reqwest::Request::new(request.method().clone(), request.url().clone());
    *probe.headers_mut() = request.headers().clone();
    for name in [
        http::header::CONTENT_TYPE,
        http::header::CONTENT_LENGTH,
        http::header::CONTENT_RANGE,
    ] {
        probe.headers_mut().remove(name);
    }
    probe
}

/// The error for a challenge that a fresh token did not answer.
async fn refused(response: reqwest::Response) -> Error {
    let status = response.status().as_u16();
    let request_id = crate::error::request_id(response.headers());
    let challenge = challenge::bearer(response.headers());
    let body = read_capped(response, crate::error::MAX_ERROR_BODY).await;
    let mut message =
        service_message(&body).unwrap_or_else(|| "the registry refused the token".to_owned());
    if let Some(error) = challenge.and_then(|c| c.error) {
        message = format!("{message} ({error})");
    }
    Error::Authentication {
        message,
        status: Some(status),
        request_id,
    }
}

pub(crate) fn transport_error(error: reqwest::Error) -> Error {
    // reqwest's message includes the URL, whose query may hold an upload's `_state`.
    Error::Transport(Box::new(error.without_url()))
}

/// A URL for logs: path, and query values only where they cannot hold a secret or an
/// opaque upload state.
pub(crate) fn loggable(url: &Url) -> String {
    const SHOWN: [&str; 8] = [
        "api-version",
        "n",
        "last",
        "orderby",
        "digest",
        "mount",
        "from",
        "scope",
    ];
    let mut out = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.path()
    );
    if let Some(port) = url.port() {
        out = format!(
            "{}://{}:{port}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.path()
        );
    }
    let mut separator = '?';
    for (key, value) in url.query_pairs() {
        let value = if SHOWN.contains(&key.as_ref()) {
            value
        } else {
            "REDACTED".into()
        };
        out.push(separator);
        out.push_str(&key);
        out.push('=');
        out.push_str(&value);
        separator = '&';
    }
    out
}

/// One call of the public API: its id, span and request id, and the slot that carries a
/// pipeline error out through the generated client (whose hooks can only return
/// `reqwest::Error`s).
pub(crate) struct Operation {
    pipeline: Arc<Pipeline>,
    pub(crate) id: &'static str,
    resource: Option<String>,
    /// The token scope the operation needs, when known in advance.
    scope: Option<String>,
    authenticate: bool,
    repeatable_post: bool,
    body_limit: Option<BodyLimit>,
    basic: Option<HeaderValue>,
    request_id: HeaderValue,
    failure: Mutex<Option<Error>>,
    /// The headers of the last unsuccessful answer, which the error no longer carries.
    failed_headers: Mutex<Option<http::HeaderMap>>,
    span: tracing::Span,
}

impl fmt::Debug for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operation")
            .field("id", &self.id)
            .field("resource", &self.resource)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl Operation {
    fn new(
        pipeline: Arc<Pipeline>,
        id: &'static str,
        resource: Option<String>,
        authenticate: bool,
    ) -> Self {
        let request_id = new_request_id();
        let span = tracing::info_span!(
            "acr",
            operation = id,
            client_request_id = request_id,
            status = tracing::field::Empty,
            request_id = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        Self {
            pipeline,
            id,
            scope: crate::auth::scopes::scope_of(id, resource.as_deref()),
            resource,
            authenticate,
            repeatable_post: false,
            body_limit: None,
            basic: None,
            request_id: HeaderValue::from_str(&request_id).expect("a UUID is a valid header value"),
            failure: Mutex::new(None),
            failed_headers: Mutex::new(None),
            span,
        }
    }

    /// Adds Basic authentication (the registry's own token endpoint only).
    pub(crate) fn with_basic(mut self, username: &str, password: &crate::Secret) -> Self {
        self.basic = Some(crate::auth::basic_authorization(username, password));
        self
    }

    /// Runs a generated call through this operation's pipeline and maps its error.
    pub(crate) async fn run<T, E, F, Fut>(
        self: Arc<Self>,
        call: F,
    ) -> Result<acr_rest::ResponseValue<T>>
    where
        F: FnOnce(acr_rest::Client) -> Fut,
        Fut: Future<Output = std::result::Result<acr_rest::ResponseValue<T>, acr_rest::Error<E>>>,
    {
        let span = self.span.clone();
        let started = Instant::now();
        let client = acr_rest::Client::new_with_client(
            &self.pipeline.base,
            self.pipeline.http.clone(),
            acr_rest::Inner::new(self.clone()),
        );
        let result = call(client).instrument(span.clone()).await;
        span.record("duration_ms", started.elapsed().as_millis() as u64);
        result.map_err(|error| {
            self.take_failure()
                .unwrap_or_else(|| Error::from_rest(error))
        })
    }

    /// Sends a handwritten request through the pipeline: upload sessions, whose URL the
    /// registry gives, and next-page links that the generated operations cannot express.
    pub(crate) async fn send(&self, request: reqwest::Request) -> Result<reqwest::Response> {
        self.pipeline
            .send(self, request)
            .instrument(self.span.clone())
            .await
    }

    fn take_failure(&self) -> Option<Error> {
        lock(&self.failure).take()
    }

    /// The headers of the last unsuccessful answer to a generated call, for the few callers
    /// that act on them (the `Content-Range` of a 416).
    pub(crate) fn take_failed_headers(&self) -> Option<http::HeaderMap> {
        lock(&self.failed_headers).take()
    }
}

#[async_trait::async_trait]
impl acr_rest::Hooks for Operation {
    async fn execute(
        &self,
        _client: &reqwest::Client,
        mut request: reqwest::Request,
        _operation_id: &'static str,
    ) -> reqwest::Result<reqwest::Response> {
        literal_slashes(request.url_mut());
        let metadata = request.url().path().starts_with("/acr/");
        let outcome = match self.pipeline.send(self, request).await {
            Ok(response)
                if response.status().is_client_error() || response.status().is_server_error() =>
            {
                *lock(&self.failed_headers) = Some(response.headers().clone());
                Err(Error::from_response(response).await)
            }
            outcome => outcome,
        };
        let outcome = match outcome {
            Err(Error::Unsupported { registry, .. }) => Err(Error::Unsupported {
                operation: self.id.to_owned(),
                registry,
            }),
            outcome => outcome,
        };
        if metadata {
            self.pipeline.learn_metadata_api(&outcome);
        }
        match outcome {
            Ok(response) => Ok(response),
            Err(error) => {
                *lock(&self.failure) = Some(error);
                // The generated code only needs an error status to stop; `run` then
                // reports the error kept above instead of this placeholder.
                let mut placeholder = http::Response::new(reqwest::Body::from(""));
                *placeholder.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                Ok(placeholder.into())
            }
        }
    }
}

/// The generated code percent-encodes every path parameter, `/` included. The distribution
/// spec writes repository names with literal slashes (`/v2/library/hello/manifests/v1`),
/// which every registry accepts and some require. Only a repository name can hold a `/`
/// (names, tags and digests are checked before any request), so decoding `%2F` in the
/// path changes nothing else.
fn literal_slashes(url: &mut Url) {
    let path = url.path();
    if path.contains("%2F") || path.contains("%2f") {
        let literal = path.replace("%2F", "/").replace("%2f", "/");
        url.set_path(&literal);
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A random UUID (version 4) for `x-ms-client-request-id`.
fn new_request_id() -> String {
    let bits = fastrand::u128(..);
    let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContainerRegistryClient;
    use httpmock::Method::{PATCH, POST};
    use httpmock::MockServer;

    /// A request whose body is a stream of two chunks, which can be sent only once.
    fn streamed_patch(server: &MockServer) -> reqwest::Request {
        let chunks = ["chunk-1,", "chunk-2"].map(Ok::<_, std::io::Error>);
        let url = Url::parse(&server.url("/v2/r/blobs/uploads/u?_state=opaque")).unwrap();
        let mut request = reqwest::Request::new(Method::PATCH, url);
        *request.body_mut() = Some(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )));
        request
    }

    #[tokio::test]
    async fn a_streamed_body_goes_out_once_after_a_bodiless_probe() {
        let server = MockServer::start_async().await;
        let probe = server
            .mock_async(|when, then| {
                when.method(PATCH)
                    .path("/v2/r/blobs/uploads/u")
                    .header_missing("authorization")
                    .body("");
                then.status(401).header(
                    "www-authenticate",
                    r#"Bearer realm="x",service="reg",scope="repository:r:pull,push""#,
                );
            })
            .await;
        let unauthenticated_body = server
            .mock_async(|when, then| {
                when.method(PATCH)
                    .header_missing("authorization")
                    .body_includes("chunk");
                then.status(401).header(
                    "www-authenticate",
                    r#"Bearer service="reg",scope="repository:r:pull,push""#,
                );
            })
            .await;
        let token = server
            .mock_async(|when, then| {
                when.method(POST)
                    .path("/oauth2/token")
                    .form_urlencoded_tuple("scope", "repository:r:pull,push");
                then.status(200)
                    .json_body(serde_json::json!({"access_token": "t"}));
            })
            .await;
        let upload = server
            .mock_async(|when, then| {
                when.method(PATCH)
                    .path("/v2/r/blobs/uploads/u")
                    .query_param("_state", "opaque")
                    .header("authorization", "Bearer t")
                    .body("chunk-1,chunk-2");
                then.status(202);
            })
            .await;
        let client = ContainerRegistryClient::builder(server.base_url())
            .allow_http(true)
            .build()
            .unwrap();

        let operation = client.pipeline.operation("upload_chunk", Some("r"));
        let response = operation.send(streamed_patch(&server)).await.unwrap();

        assert_eq!(response.status(), 202);
        assert_eq!(probe.calls_async().await, 1);
        assert_eq!(token.calls_async().await, 1);
        assert_eq!(upload.calls_async().await, 1);
        assert_eq!(unauthenticated_body.calls_async().await, 0);
    }

    #[tokio::test]
    async fn a_streamed_body_is_not_replayed_after_a_retryable_failure() {
        let server = MockServer::start_async().await;
        let put = server
            .mock_async(|when, then| {
                when.method(httpmock::Method::PUT)
                    .path("/v2/r/blobs/uploads/u")
                    .body("chunk-1,chunk-2");
                then.status(503);
            })
            .await;
        // Without a token for the scope, a stream is preceded by a body-less probe.
        let probe = server
            .mock_async(|when, then| {
                when.method(httpmock::Method::PUT)
                    .path("/v2/r/blobs/uploads/u")
                    .body("");
                then.status(503);
            })
            .await;
        let client = ContainerRegistryClient::builder(server.base_url())
            .allow_http(true)
            .retry(
                RetryOptions::default()
                    .max_retries(2)
                    .initial_delay(Duration::from_millis(1)),
            )
            .build()
            .unwrap();

        let mut streamed = streamed_patch(&server);
        *streamed.method_mut() = Method::PUT;
        let operation = client.pipeline.operation("complete_upload", Some("r"));
        assert_eq!(operation.send(streamed).await.unwrap().status(), 503);
        assert_eq!((probe.calls_async().await, put.calls_async().await), (1, 1));

        // The same request with a replayable body is retried.
        let mut replayable = streamed_patch(&server);
        *replayable.method_mut() = Method::PUT;
        *replayable.body_mut() = Some(reqwest::Body::from("chunk-1,chunk-2"));
        let operation = client.pipeline.operation("complete_upload", Some("r"));
        assert_eq!(operation.send(replayable).await.unwrap().status(), 503);
        assert_eq!(
            (probe.calls_async().await, put.calls_async().await),
            (1, 1 + 3)
        );
    }

    #[test]
    fn repository_names_keep_their_slashes() {
        let mut url =
            Url::parse("https://r.example/v2/library%2Fhello%2fworld/manifests/sha256%3Aab?n=1")
                .unwrap();
        literal_slashes(&mut url);
        assert_eq!(
            url.as_str(),
            "https://r.example/v2/library/hello/world/manifests/sha256%3Aab?n=1"
        );
    }

    #[test]
    fn request_ids_are_version_4_uuids() {
        let id = new_request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(id, new_request_id());
    }

    #[test]
    fn logged_urls_hide_opaque_query_values() {
        let url = Url::parse(
            "https://r.azurecr.io:8443/v2/a/blobs/uploads/x?_state=c2VjcmV0&digest=sha256:ab&n=5",
        )
        .unwrap();
        assert_eq!(
            loggable(&url),
            "https://r.azurecr.io:8443/v2/a/blobs/uploads/x?_state=REDACTED&digest=sha256:ab&n=5"
        );
    }
}
